"""``homfx mc reproduce --table N --H 1/20 [1/40]``: reproduce the paper's Tables 1–6 (spec §5, A5).
``homfx mc coefficients --medium crossed --H 1/20``: the offline stage alone (per-block Ĉ, Q, D, f_j)."""

from __future__ import annotations

import argparse


def add_parsers(sub):
    p = sub.add_parser("reproduce", help="reproduce Tables 1-6 of the paper (errors e1, e2 vs time)",
                       description="Fine reference + offline cell problems + online coarse model for one of the "
                                   "paper's Tables 1-6; writes JSON (per-time errors, paper values, timings) "
                                   "and a figure of error vs time.")
    p.add_argument("--table", type=int, required=True, help="table number 1..6 (E1.1a, E1.1b, E1.1c, E1.2, "
                                                             "E2.1, E2.2)")
    p.add_argument("--H", nargs="+", default=["1/20", "1/40"], help="coarse mesh size(s), e.g. 1/20 1/40")
    p.add_argument("--layers", type=int, default=None, help="oversampling layers (default ceil(-2 ln H))")
    p.add_argument("--cell-bc", choices=["natural", "dirichlet_interior"], default="natural")
    p.add_argument("--boundary-blocks", choices=["unclipped", "clipped"], default="unclipped")
    p.add_argument("--extension", choices=["periodic", "reflect"], default="periodic",
                   help="medium outside the domain for unclipped patches")
    p.add_argument("--mass", choices=["consistent", "lumped"], default="consistent")
    p.add_argument("--history", choices=["exact", "soe"], default="exact", help="Caputo history sum")
    p.add_argument("--contrast", type=float, default=None, help="kappa(Omega_2)/kappa(Omega_1) (paper 1e4)")
    p.add_argument("--nf", type=int, default=None, help="fine squares per side (paper 400; smaller = quick run, "
                                                        "no paper comparison)")
    p.add_argument("--tau", type=float, default=None, help="time step (paper 0.02)")
    p.add_argument("--T", type=float, default=None, help="final time (paper 1)")
    p.add_argument("-o", "--output", default=None, help="JSON file (default out/mc/table<N>.json)")
    p.add_argument("--figure", default=None, help="figure file (default: the JSON path with .png)")
    p.set_defaults(func=run)

    c = sub.add_parser("coefficients", help="offline stage: constraint cell problems -> C, Q, D per block",
                       description="Solve the constraint cell problems of every coarse block (distributed over "
                                   "the MPI ranks, equal patches solved once) and write the coefficients.")
    c.add_argument("--medium", choices=["crossed", "layered"], default="crossed")
    c.add_argument("--nf", type=int, default=400, help="fine squares per side")
    c.add_argument("--contrast", type=float, default=1e4)
    c.add_argument("--H", default="1/20", help="coarse mesh size 1/M")
    c.add_argument("--layers", type=int, default=None, help="oversampling layers (default ceil(-2 ln H))")
    c.add_argument("--cell-bc", choices=["natural", "dirichlet_interior"], default="natural")
    c.add_argument("--boundary-blocks", choices=["unclipped", "clipped"], default="unclipped")
    c.add_argument("--extension", choices=["periodic", "reflect"], default="periodic")
    c.add_argument("-o", "--output", default=None, help="JSON file (default out/mc/coefficients.json)")
    c.set_defaults(func=run_coefficients)


def run_coefficients(args: argparse.Namespace) -> int:
    from homfx._stack import MPI
    from homfx.io import write_json
    from homfx.multicontinuum.cell import CellOptions, compute_coefficients
    from homfx.multicontinuum.fine import gaussian
    from homfx.multicontinuum.media import Medium
    from homfx.multicontinuum.reproduce import parse_H

    M = parse_H(args.H)
    if args.layers is not None and args.layers < 0:
        raise ValueError(f"--layers: the number of oversampling layers must be >= 0, got {args.layers}")
    medium = Medium(args.medium, nf=args.nf, contrast=args.contrast)
    coef = compute_coefficients(medium, M, CellOptions(layers=args.layers, cell_bc=args.cell_bc,
                                                       boundary_blocks=args.boundary_blocks,
                                                       extension=args.extension))
    out = args.output or "out/mc/coefficients.json"
    write_json(out, {"medium": args.medium, "nf": args.nf, "contrast": args.contrast, "M": M,
                     "summary": coef.summary(), "C": coef.C, "Cp": coef.Cp, "Q": coef.Q, "D": coef.D,
                     "volume_fractions": coef.volume_fractions, "source_gaussian": coef.source(gaussian),
                     "index_conventions": "block b = by*M + bx; C[b,j,i], Cp[b,p,j,i], Q[b,j,i], D[b,j,i,n,m]"})
    if MPI.COMM_WORLD.rank == 0:
        r = coef.record(0)
        print(f"H = 1/{M}, l = {coef.layers}: {coef.timings['unique_solves']} distinct cell problem(s), "
              f"{coef.timings['offline_total']:.2f} s\nC = {r.C.tolist()}\nQ = {r.Q.tolist()}\n"
              f"D_22 = {r.D[1, 1].tolist()}\n-> {out}")
    return 0


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from homfx._stack import MPI
    from homfx.io import write_json
    from homfx.multicontinuum.cell import CellOptions
    from homfx.multicontinuum.reproduce import (ReproductionSetup, format_table, parse_H, plot, plot_averages,
                                                reproduce)

    if args.table not in range(1, 7):
        raise ValueError(f"--table: choose 1..6, got {args.table}")
    Ms = [parse_H(h) for h in args.H]
    if args.layers is not None and args.layers < 0:
        raise ValueError(f"--layers: the number of oversampling layers must be >= 0, got {args.layers}")
    fine = {}
    if args.contrast is not None:
        if not args.contrast > 0:
            raise ValueError(f"--contrast: must be positive, got {args.contrast}")
        fine["contrast"] = args.contrast
    for name in ("nf", "tau", "T"):
        v = getattr(args, name)
        if v is not None:
            if not v > 0:
                raise ValueError(f"--{name}: must be positive, got {v}")
            fine[name] = v
    setup = ReproductionSetup(CellOptions(layers=args.layers, cell_bc=args.cell_bc,
                                          boundary_blocks=args.boundary_blocks, extension=args.extension),
                              mass=args.mass, history=args.history, fine=fine)
    res = reproduce(args.table, Ms, setup)
    out = Path(args.output or f"out/mc/table{args.table}.json")
    write_json(out, res)
    fig = plot(res, args.figure or out.with_suffix(".png"))
    maps = [plot_averages(res, M, out.with_name(f"{out.stem}_averages_H{M}.png")) for M, g in res["grids"].items()
            if g["averages"]]
    if MPI.COMM_WORLD.rank == 0:
        print(format_table(res))
        print(f"-> {out}, {fig}, {', '.join(map(str, maps))}")
    return 0
