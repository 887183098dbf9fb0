# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
# ---

# %% [markdown]
# # Tutorial 2: a Stokes cell problem — the Darcy permeability of a periodic array of cylinders
#
# Slow viscous flow through a periodic porous medium obeys Darcy's law U = −(K/μ)∇p on the macroscale.
# The permeability tensor K comes from a Stokes cell problem on the fluid part Y_f of the cell (two-scale
# homogenization, e.g. Sanchez-Palencia 1980; Allaire 1989): for each direction j find a periodic velocity
# w_j and pressure π_j with
#
#   −Δw_j + ∇π_j = e_j,   div w_j = 0   in Y_f,     w_j = 0 on the solid surface,
#
# and K_ij = (1/|Y|) ∫_{Y_f} w_j · e_i (μ = 1). The pressure is fixed up to a constant: mean zero.
#
# Compared with the diffusion cell problems this needs two things from the engine, both declared, not
# programmed: a mixed (Taylor–Hood P2–P1) space with a mean-zero condition on the pressure component only
# (`mean_zero_components`), and a homogeneous Dirichlet condition on the solid (`bcs`). The fluid domain
# is the matrix phase of a gmsh cell, extracted as a submesh.
#
# Check: for a square array of cylinders of solid fraction c, Sangani & Acrivos (1982), Int. J. Multiphase
# Flow 8, 193, give K = (−½ ln c − 0.738 + c − 0.887c² + 2.039c³ + O(c⁴)) / (4π) (Hasimoto 1959 to O(c)).
#
# Run: `mpirun -n 2 python demos/stokes_permeability.py [outdir]` (about 20 s; outputs under
# `out/stokes_permeability/`).

# %%
from __future__ import annotations

import sys
from pathlib import Path

import basix.ufl
import numpy as np
import ufl

from homfx._stack import MPI, dolfinx
from homfx.averages import integrate
from homfx.cellproblem import CellProblem, solve_cell_problem
from homfx.geometry import CellMesh, disk_cell, sub_cell


# %% [markdown]
# ## The cell problem
# The solid surface is the part of the fluid mesh's boundary that is not on the outer faces of the cell.

# %%
def solid_facets(fluid: CellMesh) -> np.ndarray:
    L = fluid.lengths
    on_outer = lambda x: np.any([np.isclose(x[k], 0) | np.isclose(x[k], L[k]) for k in range(len(L))], axis=0)  # noqa: E731
    return dolfinx.mesh.locate_entities_boundary(fluid.mesh, fluid.dim - 1, lambda x: ~on_outer(x))


def stokes_cell_problem(fluid: CellMesh) -> CellProblem:
    msh, d = fluid.mesh, fluid.dim
    W = dolfinx.fem.functionspace(msh, basix.ufl.mixed_element([
        basix.ufl.element("Lagrange", msh.basix_cell(), 2, shape=(d,)),
        basix.ufl.element("Lagrange", msh.basix_cell(), 1)]))
    W0, _ = W.sub(0).collapse()
    no_slip = dolfinx.fem.dirichletbc(dolfinx.fem.Function(W0), dolfinx.fem.locate_dofs_topological(
        (W.sub(0), W0), d - 1, solid_facets(fluid)), W.sub(0))
    (w, p), (v, q) = ufl.TrialFunctions(W), ufl.TestFunctions(W)
    a = (ufl.inner(ufl.grad(w), ufl.grad(v)) - p * ufl.div(v) - q * ufl.div(w)) * ufl.dx
    rhs = {j: ufl.inner(ufl.unit_vector(j, d), v) * ufl.dx for j in range(d)}
    return CellProblem(a, rhs, name="Stokes permeability", period=fluid.lengths, bcs=[no_slip],
                       mean_zero_components=[d])  # the pressure: the scalar component after the d velocities


def permeability(R: float, h: float, comm=MPI.COMM_WORLD):
    """K (d x d) of a centred cylinder of radius R in the unit cell, and the solutions (w_j, π_j)."""
    cell = disk_cell(R, h, order=2, comm=comm)
    fluid, _ = sub_cell(cell, ["e"])
    sol = solve_cell_problem(stokes_cell_problem(fluid))  # one factorization, d solves
    d = fluid.dim
    K = np.array([[integrate(ufl.inner(sol[j].sub(0), ufl.unit_vector(i, d)) * ufl.dx) for j in range(d)]
                  for i in range(d)]) / cell.volume
    return K, sol, fluid


def sangani_acrivos(c):
    """Dilute square array of cylinders (μ = 1, unit cell), Sangani & Acrivos (1982)."""
    return (-0.5 * np.log(c) - 0.738 + c - 0.887 * c**2 + 2.039 * c**3) / (4 * np.pi)


# %%
def main(out="out/stokes_permeability", h=0.015, radii=(0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35)):
    from homfx.io import save_figure, write_json, write_xdmf
    from homfx.plotting import matplotlib_setup, screenshot

    comm = MPI.COMM_WORLD
    out = Path(out)
    rows = []
    for R in radii:
        K, sol, fluid = permeability(R, h, comm)
        c = np.pi * R**2
        rows.append([R, c, K[0, 0], K[1, 1], K[0, 1], sangani_acrivos(c)])
        if comm.rank == 0:
            print(f"R = {R:.2f}  c = {c:.4f}  K11 = {K[0, 0]:.6e}  K22 = {K[1, 1]:.6e}  K12 = {K[0, 1]:+.1e}  "
                  f"Sangani-Acrivos {rows[-1][5]:.6e}  (rel. diff {abs(K[0, 0] / rows[-1][5] - 1):.1e})",
                  flush=True)
        if R == 0.2:  # pictures and XDMF of one cell
            u1 = sol[0].sub(0).sub(0).collapse()
            u1.name = "w1_x"
            screenshot(u1, out / "w1_x.png", title="w1_x")
            write_xdmf(out / "w1_x.xdmf", fluid.mesh, [u1])
    rows = np.array(rows)
    write_json(out / "permeability.json", {"h": h, "columns": ["R", "c", "K11", "K22", "K12", "sangani_acrivos"],
                                           "rows": rows.tolist()})
    if comm.rank == 0:
        plt = matplotlib_setup()
        fig, ax = plt.subplots(figsize=(6, 4))
        cs = np.linspace(rows[0, 1], rows[-1, 1], 200)
        ax.semilogy(rows[:, 1], rows[:, 2], "ko", label="homfx (P2–P1, Stokes cell problem)")
        ax.semilogy(cs, sangani_acrivos(cs), "C1-", label="Sangani & Acrivos (1982), dilute series")
        ax.set_xlabel("solid fraction c = πR²")
        ax.set_ylabel("permeability K / L²")
        ax.legend(fontsize=8)
        save_figure(fig, out / "permeability.png", comm=MPI.COMM_SELF)
    comm.barrier()
    return rows


if __name__ == "__main__":
    main(*sys.argv[1:2])
