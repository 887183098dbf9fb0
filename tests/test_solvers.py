"""Solver failures are errors that name the problem and PETSc's reason; factor once, solve many."""

import numpy as np
import pytest
import ufl

from homfx._stack import MPI, PETSc, dolfinx
from homfx.solvers import LinearSolver, MeanZeroSolver, SolverError


def _laplace(n=16, mass=0.0):
    msh = dolfinx.mesh.create_unit_square(MPI.COMM_WORLD, n, n)
    V = dolfinx.fem.functionspace(msh, ("Lagrange", 1))
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    A = dolfinx.fem.petsc.assemble_matrix(dolfinx.fem.form((ufl.inner(ufl.grad(u), ufl.grad(v)) + mass * u * v) * ufl.dx))
    A.assemble()
    b = dolfinx.fem.petsc.assemble_vector(dolfinx.fem.form(ufl.sin(3 * ufl.SpatialCoordinate(msh)[0]) * v * ufl.dx))
    b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
    return V, A, b


def test_singular_factorization_names_problem():
    V, A, b = _laplace()
    A.zeroEntries()
    A.assemble()
    with pytest.raises(SolverError, match=r"my cell problem: .*(MUMPS|reason|failed)"):
        LinearSolver(A, "my cell problem").solve(b)


def test_iteration_limit_reports_reason():
    V, A, b = _laplace(32, mass=1.0)
    s = LinearSolver(A, "tiny budget", method="cg", max_it=2, rtol=1e-14,
                     options={"pc_type": "none"})
    with pytest.raises(SolverError, match=r"tiny budget: cg solve did not converge: DIVERGED_MAX_IT \(-3\) after 2 iterations"):
        s.solve(b)


def test_factor_once_solve_many():
    V, A, b = _laplace(mass=1.0)
    s = LinearSolver(A, "reuse")
    xs = [s.solve(b * k).copy() for k in (1.0, 2.0, -3.0)]
    assert len(s.timings.solves) == 3 and s.timings.setup > 0
    assert np.allclose(xs[1].getArray(), 2 * xs[0].getArray(), atol=1e-13)
    assert np.allclose(xs[2].getArray(), -3 * xs[0].getArray(), atol=1e-13)


def test_unknown_method():
    V, A, b = _laplace()
    with pytest.raises(ValueError, match="unknown solver method"):
        LinearSolver(A, "x", method="qr")


@pytest.mark.mpi
@pytest.mark.parametrize("method", ["lu", "cg"])
def test_mean_zero_neumann_exact_mean_and_residual(method):
    """Pure Neumann Laplacian: the mean constraint is exact (weighted), the residual of the projected
    problem vanishes, the same in serial and in parallel."""
    V, A, b = _laplace()
    c = dolfinx.fem.petsc.assemble_vector(dolfinx.fem.form(ufl.TestFunction(V) * ufl.dx))
    c.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
    ones = c.duplicate()
    ones.set(1.0)
    s = MeanZeroSolver(A, [c], "neumann", method=method, indicators=[ones])
    x = s.solve(b)
    assert abs(c.dot(x)) < 1e-12
    r = b.duplicate()
    A.mult(x, r)
    r.axpy(-1.0, b)
    r.axpy(ones.dot(b) / ones.dot(c), c)  # the projected right-hand side b - <b> c
    assert r.norm() < 1e-8 * b.norm()
    assert s.compatibility(b)[0] > 1e-3  # sin(3x) has a nonzero mean: reported


@pytest.mark.mpi
def test_factor_options_reach_mumps():
    """Options for the factorization (read by MUMPS at set-up, not by KSPSetFromOptions) take effect: the
    ordering MUMPS reports (INFOG(7)) is the one asked for, and the solution does not depend on it."""
    V, A, b = _laplace(mass=1.0)
    used, sols = {}, {}
    for ordering in (0, 2):  # AMD, AMF: not the default choice (METIS / automatic)
        s = LinearSolver(A, f"ordering {ordering}", options={"mat_mumps_icntl_7": ordering})
        used[ordering] = s.ksp.getPC().getFactorMatrix().getMumpsInfog(7)
        sols[ordering] = s.solve(b)
    assert used == {0: 0, 2: 2}
    assert (sols[0] - sols[2]).norm() <= 1e-12 * sols[0].norm()
