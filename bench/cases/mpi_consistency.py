"""A* of a wrapped two-inclusion layout (P2, curved) on the current number of ranks; bench.py compares
the runs with np = 1, 2, 3 (foundation issue: the same A* to 1e-10)."""

import json

from homfx._stack import MPI
from homfx.elliptic import effective_tensor
from homfx.geometry import Inclusion, inclusion_cell

incs = [Inclusion.disk((0.95, 0.5), 0.22), Inclusion.ellipse((0.35, 0.25), 0.2, 0.1, 0.6)]
res = effective_tensor(inclusion_cell(incs, 0.02, order=2), {"e": 1.0, "c": 7.0}, degree=2)
if MPI.COMM_WORLD.rank == 0:
    print(json.dumps({"case": "mpi_consistency", "metric": "A_eff", "value": res.A_eff.tolist(),
                      "np": MPI.COMM_WORLD.size}))
