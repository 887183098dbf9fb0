"""Homogeneous Dirichlet conditions in cell problems (CellProblem.bcs): a Stokes permeability cell problem
in a few lines, checked against Poiseuille flow, and clear errors for what the engine does not support."""

import basix.ufl
import numpy as np
import pytest
import ufl

from homfx._stack import MPI, dolfinx
from homfx.averages import integrate
from homfx.cellproblem import CellProblem, solve_cell_problem

pytestmark = pytest.mark.mpi


def _channel(n=8):
    """Y = [0,1]^2, walls y = 0 and y = 1 (facets), periodic in x."""
    msh = dolfinx.mesh.create_unit_square(MPI.COMM_WORLD, n, n)
    fdim = msh.topology.dim - 1
    walls = dolfinx.mesh.locate_entities_boundary(msh, fdim, lambda x: np.isclose(x[1], 0) | np.isclose(x[1], 1))
    return msh, walls


def _no_slip(W, facets):
    W0, _ = W.sub(0).collapse()
    zero = dolfinx.fem.Function(W0)
    dofs = dolfinx.fem.locate_dofs_topological((W.sub(0), W0), W.mesh.topology.dim - 1, facets)
    return dolfinx.fem.dirichletbc(zero, dofs, W.sub(0))


def _stokes_permeability(msh, walls):
    """-Δw_j + ∇π_j = e_j, div w_j = 0, w_j = 0 on the walls, periodic in x, mean-zero π_j (Taylor-Hood)."""
    el = basix.ufl.mixed_element([basix.ufl.element("Lagrange", msh.basix_cell(), 2, shape=(2,)),
                                  basix.ufl.element("Lagrange", msh.basix_cell(), 1)])
    W = dolfinx.fem.functionspace(msh, el)
    (w, p), (v, q) = ufl.TrialFunctions(W), ufl.TestFunctions(W)
    a = (ufl.inner(ufl.grad(w), ufl.grad(v)) - p * ufl.div(v) - q * ufl.div(w)) * ufl.dx
    e = [ufl.as_vector((1.0, 0.0)), ufl.as_vector((0.0, 1.0))]
    prob = CellProblem(a, {j: ufl.inner(e[j], v) * ufl.dx for j in range(2)}, period=(1.0, 1.0),
                       periodic_axes=[0], bcs=[_no_slip(W, walls)], mean_zero_components=[2],
                       name="Stokes permeability")
    sol = solve_cell_problem(prob)
    K = np.array([[integrate(ufl.inner(sol[j].sub(0), e[i]) * ufl.dx) for j in range(2)] for i in range(2)])
    return sol, K


def test_stokes_channel_is_poiseuille():
    """Plane Poiseuille flow: w_1 = y(1 - y)/2, K_11 = 1/12 (exact for P2 velocities), K_22 = 0 (the walls
    block the flow and π_2 = y - 1/2 balances the force)."""
    msh, walls = _channel()
    sol, K = _stokes_permeability(msh, walls)
    assert abs(K[0, 0] - 1 / 12) < 1e-12
    assert np.abs(K - np.diag(np.diag(K))).max() < 1e-13 and abs(K[1, 1]) < 1e-13
    x = ufl.SpatialCoordinate(msh)
    dx = ufl.dx(domain=msh)
    w1 = sol[0].sub(0)
    assert integrate((w1[0] - x[1] * (1 - x[1]) / 2) ** 2 * dx) < 1e-24
    assert integrate((sol[1].sub(1) - (x[1] - 0.5)) ** 2 * dx) < 1e-22
    assert max(sol.compatibility[0]) < 1e-12


def test_scalar_dirichlet_in_a_periodic_strip():
    """-Δu = 1, u = 0 on y = 0, 1, periodic in x, no mean constraint: u = y(1 - y)/2 (P2 exact)."""
    msh, walls = _channel(6)
    V = dolfinx.fem.functionspace(msh, ("Lagrange", 2))
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    bc = dolfinx.fem.dirichletbc(0.0, dolfinx.fem.locate_dofs_topological(V, 1, walls), V)
    sol = solve_cell_problem(CellProblem(ufl.inner(ufl.grad(u), ufl.grad(v)) * ufl.dx, {0: v * ufl.dx},
                                         period=(1.0, 1.0), periodic_axes=[0], mean_zero=False, bcs=[bc]))
    y = ufl.SpatialCoordinate(msh)[1]
    assert integrate((sol[0] - y * (1 - y) / 2) ** 2 * ufl.dx(domain=msh)) < 1e-26


def test_unsupported_dirichlet_data_are_clear_errors():
    msh, walls = _channel(4)
    V = dolfinx.fem.functionspace(msh, ("Lagrange", 1))
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    a = ufl.inner(ufl.grad(u), ufl.grad(v)) * ufl.dx
    dofs = dolfinx.fem.locate_dofs_topological(V, 1, walls)
    with pytest.raises(ValueError, match="only homogeneous Dirichlet"):
        solve_cell_problem(CellProblem(a, {0: v * ufl.dx}, period=(1.0, 1.0), periodic_axes=[0],
                                       mean_zero=False, bcs=[dolfinx.fem.dirichletbc(2.0, dofs, V)]))
    left = dolfinx.mesh.locate_entities_boundary(msh, 1, lambda x: np.isclose(x[0], 0))
    bc = dolfinx.fem.dirichletbc(0.0, dolfinx.fem.locate_dofs_topological(V, 1, left), V)
    with pytest.raises(ValueError, match="must be periodic"):
        solve_cell_problem(CellProblem(a, {0: v * ufl.dx}, period=(1.0, 1.0), mean_zero=False, bcs=[bc]))
    with pytest.raises(TypeError, match="DirichletBC"):
        solve_cell_problem(CellProblem(a, {0: v * ufl.dx}, period=(1.0, 1.0), mean_zero=False, bcs=[dofs]))


def _demo():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "demos" / "stokes_permeability.py"
    spec = importlib.util.spec_from_file_location("stokes_permeability", path)
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    return demo


def test_stokes_permeability_of_a_cylinder_array():
    """demos/stokes_permeability.py: K of a square array of cylinders, R = 0.1 (c = 0.031): isotropic,
    symmetric, and equal to the dilute series of Sangani & Acrivos (1982) within the precision of its
    printed constants (-0.738 to 3 decimals: ~5e-4 relative)."""
    demo = _demo()
    K, sol, _ = demo.permeability(0.1, 0.02)
    ref = demo.sangani_acrivos(np.pi * 0.1**2)
    assert abs(K[0, 0] / ref - 1) < 5e-4
    assert abs(K[1, 1] / K[0, 0] - 1) < 1e-5 and abs(K[0, 1]) < 1e-6 * K[0, 0]
    assert max(max(v) for v in sol.compatibility.values()) < 1e-10


def test_stokes_demo_writes_outputs(outdir):
    import json
    from pathlib import Path

    outdir = Path(outdir)
    rows = _demo().main(outdir, h=0.04, radii=(0.1, 0.2))
    for f in ("permeability.json", "permeability.png", "w1_x.png", "w1_x.xdmf", "w1_x.h5"):
        assert (outdir / f).stat().st_size > 0
    data = json.loads((outdir / "permeability.json").read_text())
    assert np.allclose(data["rows"], rows) and rows[1, 2] < rows[0, 2]  # a larger solid: less permeable
