"""``homfx dmri tensors``: the homogenized coefficients of a dMRI cell (Kchaou & Li, Section 3) as JSON.

Diffusivities in mm^2/s; lengths in units of the cell Y = [0,1]^d. Example::

    homfx dmri tensors --cell disk --radius 0.3 --h 0.02 --De 3e-3 --Dc 1.7e-3 -o t.json
"""

from __future__ import annotations

import argparse


def add_parsers(sub):
    p = sub.add_parser("tensors", help="homogenized tensors of a dMRI cell (eta, theta, D, S, T, B, Z, I, ...)",
                       description="Solve the cell problems omega (3.18), chi (3.21), phi (3.22), psi (3.23, sign "
                       "corrected) in Y^e and Y^c and write the homogenized coefficients (3.8)-(3.10), "
                       "(3.17), (3.24)-(3.28) as JSON. Tensors are for the unit cell Y = [0,1]^d.")
    p.add_argument("--cell", choices=["disk", "cells4", "sphere"], default="disk",
                   help="disk: one centred disk (Figs 4-7); cells4: four equal disks (Fig. 8, spec default "
                        "radius 0.15 at (0.3|0.7, 0.3|0.7)); sphere: one centred sphere (3D)")
    p.add_argument("--radius", type=float, default=None,
                   help="inclusion radius in cell units (default 0.2 disk, 0.15 cells4, 0.3 sphere)")
    p.add_argument("--h", type=float, default=None, help="mesh size in cell units (default 0.02; sphere: 0.1)")
    p.add_argument("--degree", type=int, default=1, choices=[1, 2],
                   help="Lagrange degree (2 uses a quadratic, curved geometry)")
    p.add_argument("--De", type=float, default=3e-3, help="extra-cellular diffusivity [mm^2/s]")
    p.add_argument("--Dc", type=float, default=1.7e-3, help="intra-cellular diffusivity [mm^2/s]")
    p.add_argument("-o", "--output", required=True, help="JSON file to write")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from homfx._stack import MPI
    from homfx.dmri.cells import cell_from_name
    from homfx.dmri.effective import compute_tensors
    from homfx.io import write_json

    for name in ("De", "Dc"):
        val = getattr(args, name)
        if not val > 0:
            raise ValueError(f"--{name} must be a positive diffusivity in mm^2/s, got {val}")
    if args.h is None:
        args.h = 0.1 if args.cell == "sphere" else 0.02
    if not args.h > 0:
        raise ValueError(f"--h must be positive, got {args.h}")
    if args.radius is not None and not args.radius > 0:
        raise ValueError(f"--radius must be positive, got {args.radius}")
    try:
        cell = cell_from_name(args.cell, radius=args.radius, h=args.h, order=args.degree)
    except ValueError as e:
        raise ValueError(f"--cell {args.cell} --radius {args.radius} --h {args.h}: {e}") from e
    import sys
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = compute_tensors(cell, args.De, args.Dc, degree=args.degree, keep_correctors=False)
    if MPI.COMM_WORLD.rank == 0:
        for w in {str(w.message) for w in caught if issubclass(w.category, UserWarning)}:
            print(f"homfx: warning: {w}", file=sys.stderr)
    write_json(args.output, res.to_json())
    if MPI.COMM_WORLD.rank == 0:
        d = res.dim
        print(f"dmri tensors ({args.cell}, h={args.h}, P{args.degree}, {sum(res.dofs.values())} DOFs, "
              f"{res.seconds:.2f} s) -> {args.output}")
        print(f"  eta^c = {res.eta['c']:.6g}, theta^e = {res.theta['e']:.6g}, theta^c = {res.theta['c']:.6g}")
        print(f"  D^e/De (nn, n=e_{d}) = {res.D['e'][d - 1, d - 1] / args.De:.6g}, "
              f"<[psi]>_Gamma = {res.psi_jump_mean:.6g} s/mm")
        print("  compatibility (corrected (A.1)), max defect per compartment and problem: "
              + "; ".join(f"{a}: " + ", ".join(f"{k} {v:.1e}" for k, v in c.items())
                          for a, c in res.compatibility.items())
              + f"  (all <= 1e-10: {res.max_compatibility_defect <= 1e-10})")
    return 0
