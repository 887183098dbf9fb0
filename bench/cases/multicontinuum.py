"""Multicontinuum (issue 7): the coarse online solve time divided by the fine solve time, at the paper's
settings (Table 2 = E1.1b, H = 1/20 and 1/40; spec §5). Target <= 1/50. The offline stage is reported."""

import json
import resource

from homfx._stack import MPI
from homfx.multicontinuum.reproduce import reproduce

res = reproduce(2, Ms=(20, 40))
fine = res["timings"]["fine_total"]
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
if MPI.COMM_WORLD.rank == 0:
    for M, g in res["grids"].items():
        t = g["timings"]
        print(json.dumps({"case": "multicontinuum", "metric": f"coarse online / fine solve (Table 2, H = 1/{M})",
                          "value": t["online"] / fine, "target": "<= 0.02",
                          "note": f"online {t['online']:.3f} s, offline {t['offline']:.2f} s, fine {fine:.1f} s, "
                                  f"peak {peak:.0f} MiB"}))
