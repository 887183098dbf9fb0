"""``homfx wave tensors``: a⁰, b⁰, ā², C, r*, a² of a periodic cell by the FE cascade + Algorithm 1."""

from __future__ import annotations

import argparse
import time

import numpy as np


def add_parsers(sub):
    p = sub.add_parser("tensors", help="effective tensors a0, b0, a2 (Algorithm 1) of a periodic cell",
                       description="Cell cascade (chi, theta) on a structured periodic mesh, then a0 (2.8), "
                                   "a2_bar (Alg. 1 step 4), the dispersion tensor C (3.4), r* and (b0, a2) of "
                                   "Algorithm 1 (Abdulle & Pouchon).")
    p.add_argument("--cell", choices=["paper", "laminate", "t4"], default="paper",
                   help="paper: a = (1 - 0.5 cos 2 pi y_d) I; laminate: a1 / a2 in equal halves (layers normal "
                        "to e_d); t4: the spec's generic anisotropic 2-D test")
    p.add_argument("--dim", type=int, default=2, choices=[1, 2, 3], help="space dimension d (default 2)")
    p.add_argument("--degree", type=int, default=2, choices=[1, 2, 3], help="Lagrange degree (default 2)")
    p.add_argument("--n", type=int, default=64, help="cells per side of the unit cell (default 64)")
    p.add_argument("--a1", type=float, default=1.0, help="laminate: coefficient of the first half")
    p.add_argument("--a2", type=float, default=4.0, help="laminate: coefficient of the second half")
    p.add_argument("--solver", choices=["lu", "cg"], default="lu")
    p.add_argument("-o", "--output", required=True, help="JSON file to write")
    p.set_defaults(func=run)


def compute(cell: str, dim: int, degree: int, n: int, a1: float = 1.0, a2: float = 4.0, solver: str = "lu",
            comm=None) -> dict:
    """Everything the command writes (a dict of plain lists/floats)."""
    from homfx.wave import tensors as T
    from homfx.wave.cell import solve_cascade
    from homfx.wave.cells import make_cell

    if n < 1:
        raise ValueError(f"--n must be a positive integer, got {n}")
    t0 = time.perf_counter()
    wc = make_cell(cell, dim, n, a1=a1, a2=a2, comm=comm)
    cas = solve_cascade(wc, degree=degree, levels=2, method=solver)
    tens = cas.tensors()
    eff = T.algorithm1(tens["a0"], tens["B"], tens["a2_bar"])
    seconds = time.perf_counter() - t0
    out = {"a0": eff.a0, "b0": eff.b0, "a2_bar": eff.a2_bar, "C": eff.C, "r_star": eff.r_star, "a2": eff.a2,
           "dofs": cas.dofs, "seconds": seconds,
           "B": eff.B, "spec_A2": eff.spec_A2, "spec_A0": eff.spec_A0, "lambda_min_Ma2": eff.lambda_min_Ma2,
           "constraint_defect": T.constraint_defect(eff.a0, eff.b0, eff.a2, eff.C),
           "max_compatibility_defect": cas.max_compatibility(), "timings": cas.timings,
           "cell": wc.name, "dim": dim, "degree": degree, "n": n}
    if wc.laminate is not None:  # closed form of a = ã(y_d) I (exact reference)
        a0x, Bx, a2bx = T.laminate_tensors(wc.laminate, dim)
        ex = T.algorithm1(a0x, Bx, a2bx)
        out["exact"] = {"a0": ex.a0, "b0": ex.b0, "a2_bar": ex.a2_bar, "C": ex.C, "r_star": ex.r_star, "a2": ex.a2}
        out["max_rel_error_vs_exact"] = {
            k: float(np.max(np.abs(np.asarray(out[k]) - np.asarray(ex_v))) / max(np.max(np.abs(ex_v)), 1e-300))
            for k, ex_v in out["exact"].items()}
    return {k: (np.asarray(v).tolist() if isinstance(v, np.ndarray) else v) for k, v in out.items()}


def run(args: argparse.Namespace) -> int:
    from homfx._stack import MPI
    from homfx.io import write_json

    res = compute(args.cell, args.dim, args.degree, args.n, args.a1, args.a2, args.solver)
    write_json(args.output, res)
    if MPI.COMM_WORLD.rank == 0:
        print(f"a0 = {np.round(res['a0'], 10).tolist()}, r* = {res['r_star']:.10g}, "
              f"b0 = {np.round(res['b0'], 10).tolist()}  ({res['dofs']} DOFs, {res['seconds']:.2f} s) -> {args.output}")
    return 0
