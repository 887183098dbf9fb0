"""``homfx elliptic``: the effective tensor of a periodic cell."""

from __future__ import annotations

import argparse

from homfx.io import write_json


def add_parser(sub):
    p = sub.add_parser("elliptic", help="effective tensor A* of -div(a(y) grad u)",
                       description="Effective tensor A* of a periodic cell (first-order correctors).")
    p.add_argument("--cell", choices=["disk", "sphere", "laminate", "checkerboard"], default="disk")
    p.add_argument("--radius", type=float, default=0.3, help="inclusion radius (disk, sphere)")
    p.add_argument("--contrast", type=float, default=10.0,
                   help="inclusion (or second phase) coefficient; the matrix has 1. 0 = insulating (perforated)")
    p.add_argument("--h", type=float, default=0.02, help="mesh size (laminate/checkerboard: 1/n)")
    p.add_argument("--degree", type=int, default=1, choices=[1, 2, 3])
    p.add_argument("--solver", choices=["lu", "cg"], default="lu")
    p.add_argument("-o", "--output", required=True, help="JSON file to write")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import time

    from homfx import geometry as g

    t0 = time.perf_counter()
    from homfx.elliptic import effective_tensor

    if args.contrast < 0:
        raise ValueError(f"--contrast must be >= 0 (0 = insulating inclusion), got {args.contrast}")
    if args.h <= 0:
        raise ValueError(f"--h must be positive, got {args.h}")
    order = 2 if args.degree > 1 else 1
    if args.cell in ("disk", "sphere"):
        d = 2 if args.cell == "disk" else 3
        inc = g.Inclusion.disk((0.5, 0.5), args.radius) if d == 2 else g.Inclusion.sphere((0.5,) * 3, args.radius)
        if args.radius <= 0:
            raise ValueError(f"--radius must be positive, got {args.radius}")
        cell = g.inclusion_cell([inc], args.h, order=order)
        coef = {"e": 1.0, "c": args.contrast}
    else:
        n = int(round(1 / args.h))
        if args.contrast == 0:
            raise ValueError("--contrast 0 is only meaningful for inclusions (disk, sphere)")
        if args.cell == "laminate":
            cell = g.laminate_cell(2, n + n % 2, phase_names=("e", "c"))
        else:
            cell = g.checkerboard_cell(n + n % 2, phase_names=("e", "c"))
        coef = {"e": 1.0, "c": args.contrast}
    res = effective_tensor(cell, coef, degree=args.degree, method=args.solver)
    res.seconds = time.perf_counter() - t0  # meshing included
    write_json(args.output, res.to_json())
    from homfx._stack import MPI

    if MPI.COMM_WORLD.rank == 0:
        print(f"A_eff = {res.A_eff.tolist()}  ({res.dofs} DOFs, {res.seconds:.2f} s) -> {args.output}")
    return 0
