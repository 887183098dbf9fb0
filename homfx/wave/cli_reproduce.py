"""``homfx wave reproduce E0|EF2|E1|E1_scaling|E2|1D``: the paper's Section-6 experiments with their
acceptance checks (spec wave.md §6, §7), JSON + PNG figures under the output directory.

Typical wall times on the 2-core reference machine (idle; about 3x longer when shared):
E0 (P1 1024², the paper's run) several minutes; EF2 3 s; E1 30 s; E1_scaling 5 min; E2 (h = 0.1) 30-90 s,
(h = 0.05) about 4x E2 at h = 0.1; 1D 20 s.
"""

from __future__ import annotations

import argparse
import time

CHOICES = ("E0", "EF2", "E1", "E1_scaling", "E2", "1D")


def add_parsers(sub):
    p = sub.add_parser("reproduce", help="run an experiment of the paper's Section 6 (E0, EF2, E1, E2, ...)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("experiment", choices=CHOICES, help="which experiment")
    p.add_argument("-o", "--outdir", default="out/wave", help="output directory (JSON + PNG)")
    p.add_argument("--degree", type=int, default=1, choices=[1, 2, 3], help="E0: element degree (paper: 1)")
    p.add_argument("--n", type=int, default=1024, help="E0: cells per direction of the cell mesh (paper: 1024)")
    p.add_argument("--h", type=float, default=0.1, help="E2: grid spacing (<= 0.1; 0.05 is the calibration)")
    p.add_argument("--t", type=float, default=300.0, help="E2: time")
    p.add_argument("--dt-sample", type=float, default=1.0, help="E1: sampling interval of the error curves")
    p.add_argument("--eps", type=float, default=None, help="E1 / 1D: epsilon (default 0.1 / 0.2)")
    p.set_defaults(func=run)


def _validate(args):
    if args.n < 4:
        raise ValueError(f"--n must be >= 4, got {args.n}")
    if not (0 < args.h <= 0.1):
        raise ValueError(f"--h must be in (0, 0.1] (AC-13 needs h <= 0.1), got {args.h}")
    if not args.dt_sample > 0:
        raise ValueError(f"--dt-sample must be positive, got {args.dt_sample}")
    if args.eps is not None and not args.eps > 0:
        raise ValueError(f"--eps must be > 0, got {args.eps}")
    if args.eps is not None and abs(4.0 / args.eps - round(4.0 / args.eps)) > 1e-9:
        raise ValueError(f"--eps {args.eps}: the box (-2, 2) must hold an integer number of periods (4/eps integer)")
    if not args.t > 0:
        raise ValueError(f"--t must be positive, got {args.t}")


def run(args: argparse.Namespace) -> int:
    from homfx._stack import MPI
    from homfx.wave import experiments as E

    _validate(args)
    comm = MPI.COMM_WORLD
    t0 = time.perf_counter()
    name = args.experiment
    if name == "E0":
        res = E.e0(degree=args.degree, n=args.n, comm=comm)
    elif name == "EF2":
        res = E.ef2()
    elif name == "E1":
        res = E.e1(eps=args.eps or 0.1, dt_sample=args.dt_sample)
    elif name == "E1_scaling":
        res = E.e1_scaling(dt_sample=args.dt_sample)
    elif name == "E2":
        res = E.e2(h=args.h, t=args.t)
    else:
        res = E.long_time_1d(eps=args.eps or 0.2, comm=comm)
    res.seconds = time.perf_counter() - t0
    paths = res.write(args.outdir, comm=comm)
    if comm.rank == 0:
        for c in res.checks:
            print(f"  [{'ok' if c.passed else 'FAIL'}] {c.name}: {c.value:.6g} {c.op} {c.bound:g}  ({c.note})")
        print(f"{name}: {'all checks passed' if res.passed else f'{len(res.failed())} check(s) FAILED'} "
              f"in {res.seconds:.1f} s -> {', '.join(str(p) for p in paths)}")
    return 0 if res.passed else 1
