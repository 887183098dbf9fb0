# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
# ---

# %% [markdown]
# # Tutorial: adding a new cell problem in a few lines of UFL
#
# homfx solves *cell problems*: periodic (and/or mean-zero) linear problems on the unit cell Y with one
# operator and many right-hand sides. This tutorial adds one that is in none of the three papers:
# the effective thermal conductivity of a composite whose inclusions carry a **thin, highly conducting
# coating**. A coating of thickness t and conductivity a_s with a_s t = beta fixed, t -> 0, acts as a
# *surface conductivity* on the interface Gamma. The cell problem for the correctors chi_j becomes
#
#   int_Y a (e_j + grad chi_j) . grad v dy + int_Gamma beta P_t(e_j + grad chi_j) . P_t grad v ds = 0,
#
# with P_t = I - n n^T the tangential projection, chi_j periodic with zero mean, and
#
#   A*_ij = (1/|Y|) [ int_Y e_i . a (e_j + grad chi_j) dy + int_Gamma beta P_t e_i . P_t (e_j + grad chi_j) ds ].
#
# Everything below that is specific to this problem is the UFL in `coated_cell_problem` and
# `effective_conductivity`; meshing, periodicity, the mean-zero constraint, the single MUMPS
# factorization for both right-hand sides and the MPI reductions come from the engine.
#
# Run: `mpirun -n 2 python demos/extend_cell_problem.py` (figures and XDMF under `out/extend_cell_problem/`).

# %%
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import ufl

from homfx._stack import MPI, dolfinx
from homfx.averages import integrate, interface_measure, phase_interface_measure
from homfx.cellproblem import CellProblem, solve_cell_problem
from homfx.elliptic import coefficient_field
from homfx.geometry import Inclusion, inclusion_cell, structured_cell


# %% [markdown]
# ## The cell problem: bulk term + surface term
# `dS` is an interface measure whose '+' side is fixed (the engine orders every facet, on any
# partition). For a continuous field the tangential gradient is the same on both sides.

# %%
def tangential(w, n):
    return w - ufl.inner(w, n) * n


def coated_cell_problem(cell, a, beta, dS, degree=1) -> CellProblem:
    V = dolfinx.fem.functionspace(cell.mesh, ("Lagrange", degree))
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    n = ufl.FacetNormal(cell.mesh)("+")
    d = cell.dim
    e = [ufl.unit_vector(j, d) for j in range(d)]
    gt = lambda w: tangential(ufl.grad(w)("+"), n)  # noqa: E731
    bilinear = a * ufl.inner(ufl.grad(u), ufl.grad(v)) * ufl.dx + beta * ufl.inner(gt(u), gt(v)) * dS
    rhs = {j: -(a * ufl.inner(e[j], ufl.grad(v)) * ufl.dx + beta * ufl.inner(tangential(e[j], n), gt(v)) * dS)
           for j in range(d)}
    return CellProblem(bilinear, rhs, name="coated-inclusion corrector", period=cell.lengths)


def effective_conductivity(cell, phases: dict, beta: float, dS, degree=1):
    """A* and the correctors for phase conductivities ``phases`` and surface conductivity ``beta``."""
    a = coefficient_field(cell, phases)
    sol = solve_cell_problem(coated_cell_problem(cell, a, beta, dS, degree))
    d = cell.dim
    n = ufl.FacetNormal(cell.mesh)("+")
    A = np.zeros((d, d))
    for j in range(d):
        g = ufl.unit_vector(j, d) + ufl.grad(sol[j])
        for i in range(d):
            ei = ufl.unit_vector(i, d)
            A[i, j] = (integrate(ufl.inner(a * g, ei) * ufl.dx)
                       + integrate(beta * ufl.inner(tangential(g("+"), n), tangential(ei, n)) * dS)) / cell.volume
    return A, sol


# %% [markdown]
# ## Check 1: a laminate with coated interfaces (exact)
# Layers normal to e1 with interfaces at y1 = 1/4 and 3/4 (inside the cell, so they are not on the
# periodic seam). Across the layers nothing changes (A*_11 = harmonic mean); along them each interface
# adds beta per unit length: A*_22 = arithmetic mean + 2 beta. P1 is exact here.

# %%
def laminate_check(beta=0.3, a1=1.0, a2=4.0, n=8, comm=MPI.COMM_WORLD):
    cell = structured_cell(2, n, phase_of=lambda x: ((x[0] > 0.25) & (x[0] < 0.75)).astype(int),
                           phase_names=("a", "b"), comm=comm)
    dS = phase_interface_measure(cell, "a", "b")
    A, _ = effective_conductivity(cell, {"a": a1, "b": a2}, beta, dS)
    exact = np.diag([1 / (0.5 / a1 + 0.5 / a2), 0.5 * (a1 + a2) + 2 * beta])
    return A, exact


# %% [markdown]
# ## Check 2: a coated disk and Maxwell-Garnett
# For a disk of radius R the surface term acts, on the dipole field, like a core of conductivity
# a_c + beta / R (the flux jump across Gamma is beta/R^2 times the potential). For a dilute disk
# Maxwell-Garnett then predicts A* = a_m (1 + 2 f r / (1 - f r)), r = (a_eq - a_m)/(a_eq + a_m), up to
# O(f^4) lattice and multipole corrections.

# %%
def maxwell_garnett(f, a_m, a_eq):
    r = (a_eq - a_m) / (a_eq + a_m)
    return a_m * (1 + 2 * f * r / (1 - f * r))


def coated_disk(R=0.1, h=0.02, a_m=1.0, a_c=2.0, betas=(0.0, 0.05, 0.1, 0.2, 0.4), degree=2,
                comm=MPI.COMM_WORLD):
    cell = inclusion_cell([Inclusion.disk((0.5, 0.5), R)], h, order=2, comm=comm)
    dS = interface_measure(cell, "e")
    rows, last = [], None
    f = cell.volume_fractions()["c"]
    for beta in betas:
        A, sol = effective_conductivity(cell, {"e": a_m, "c": a_c}, beta, dS, degree)
        rows.append((beta, A[0, 0], A[1, 1], maxwell_garnett(f, a_m, a_c + beta / R)))
        last = sol
    return cell, np.array(rows), last


# %%
def main(out="out/extend_cell_problem", h=0.02):
    comm = MPI.COMM_WORLD
    out = Path(out)
    A, exact = laminate_check()
    if comm.rank == 0:
        print("laminate with coated interfaces:\n A* =", A.tolist(), "\n exact =", exact.tolist())
    cell, rows, sol = coated_disk(h=h)
    if comm.rank == 0:
        print(" beta      A*_11          A*_22          Maxwell-Garnett(a_c + beta/R)")
        for r in rows:
            print(f" {r[0]:5.2f}  {r[1]:.10f}  {r[2]:.10f}  {r[3]:.10f}")
    from homfx.io import save_figure, write_json, write_xdmf
    from homfx.plotting import matplotlib_setup, screenshot

    plt = matplotlib_setup()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(rows[:, 0], rows[:, 1], "o-", label="homfx A*_11")
    ax.plot(rows[:, 0], rows[:, 3], "k--", label="Maxwell-Garnett, a_c + beta/R")
    ax.set_xlabel("surface conductivity beta")
    ax.set_ylabel("effective conductivity")
    ax.set_title("disk R = 0.1 with a thin conducting coating")
    ax.legend()
    save_figure(fig, out / "coated_disk.png")
    sol[0].name = "chi_1"
    screenshot(sol[0], out / "chi1_coated.png", title="chi_1 (beta = 0.4)")
    write_xdmf(out / "chi1_coated.xdmf", cell.mesh, [sol[0]])
    write_json(out / "coated_disk.json", {"beta": rows[:, 0], "A11": rows[:, 1], "A22": rows[:, 2],
                                          "maxwell_garnett": rows[:, 3], "laminate_A": A,
                                          "laminate_exact": exact})
    return rows


if __name__ == "__main__":
    main(*sys.argv[1:2])
