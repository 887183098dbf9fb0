"""The periodic restriction P and the mean-zero engine: structure, manufactured solutions and orders."""

import basix.ufl
import numpy as np
import pytest
import ufl

from homfx._stack import MPI, PETSc, dolfinx
from homfx.averages import integrate
from homfx.cellproblem import CellProblem, solve_cell_problem
from homfx.geometry import periodic_box, structured_cell
from homfx.periodic import periodic_restriction

pi = np.pi


def _exact(x, d):
    """A smooth periodic, mean-zero field and -Laplace of it."""
    u = ufl.sin(2 * pi * x[0]) * ufl.cos(2 * pi * x[1])
    if d == 3:
        u = u * ufl.cos(2 * pi * x[2])
    return u, 4 * pi**2 * d * u


def _errors(uh, u_ex):
    msh = uh.function_space.mesh
    dx = ufl.Measure("dx", domain=msh, metadata={"quadrature_degree": 8})
    e = uh - u_ex
    return np.sqrt(integrate(e**2 * dx)), np.sqrt(integrate(ufl.inner(ufl.grad(e), ufl.grad(e)) * dx))


def _mms_scalar(d, degree, h, method="lu"):
    cell = periodic_box(d, h, order=degree)
    V = dolfinx.fem.functionspace(cell.mesh, ("Lagrange", degree))
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    x = ufl.SpatialCoordinate(cell.mesh)
    u_ex, f = _exact(x, d)
    prob = CellProblem(ufl.inner(ufl.grad(u), ufl.grad(v)) * ufl.dx, {"f": f * v * ufl.dx},
                       name="mms", period=cell.lengths)
    sol = solve_cell_problem(prob, method=method)
    return _errors(sol["f"], u_ex), sol


def _rates(errs, hs):
    return [np.log(errs[i] / errs[i + 1]) / np.log(hs[i] / hs[i + 1]) for i in range(len(errs) - 1)]


@pytest.mark.mpi
def test_structure_2d_and_3d():
    """P^T 1 counts the copies of each periodic DOF: 1 inside, 2 on faces, 4 on 3D edges / 2D corners, 8 at
    the 3D corner. Exactly one corner master in total."""
    for d, h in ((2, 0.125), (3, 0.25)):
        cell = periodic_box(d, h)
        V = dolfinx.fem.functionspace(cell.mesh, ("Lagrange", 1))
        R = periodic_restriction(V, cell.lengths)
        m = R.multiplicity()
        counts = {k: MPI.COMM_WORLD.allreduce(int(np.sum(m == k))) for k in (1, 2, 4, 8)}
        assert counts[2**d] == 1
        assert sum(k * c for k, c in counts.items()) == R.num_full
        assert sum(counts.values()) == R.num_reduced


@pytest.mark.parametrize("degree,hs,l2_rate,h1_rate", [(1, (1 / 8, 1 / 16, 1 / 32), 2, 1),
                                                       (2, (1 / 8, 1 / 16, 1 / 32), 3, 2)])
def test_manufactured_2d_orders(degree, hs, l2_rate, h1_rate):
    errs = [_mms_scalar(2, degree, h)[0] for h in hs]
    r0 = _rates([e[0] for e in errs], hs)
    r1 = _rates([e[1] for e in errs], hs)
    assert min(r0) > l2_rate - 0.2, r0
    assert min(r1) > h1_rate - 0.15, r1


@pytest.mark.parametrize("degree,hs,l2_rate", [(1, (1 / 6, 1 / 12), 2), (2, (1 / 4, 1 / 8), 3)])
def test_manufactured_3d_orders(degree, hs, l2_rate):
    errs = [_mms_scalar(3, degree, h)[0] for h in hs]
    r0 = _rates([e[0] for e in errs], hs)
    assert min(r0) > l2_rate - 0.35, r0


@pytest.mark.mpi
def test_iterative_path_matches_direct():
    (e_lu, _), s_lu = _mms_scalar(2, 2, 1 / 16, "lu")
    (e_cg, _), s_cg = _mms_scalar(2, 2, 1 / 16, "cg")
    diff = s_lu["f"].x.array - s_cg["f"].x.array
    assert np.max(np.abs(diff)) < 1e-8
    assert abs(e_lu - e_cg) < 1e-9 * max(e_lu, 1e-30) + 1e-12


@pytest.mark.mpi
def test_compatibility_is_measured_and_mean_is_zero():
    """An incompatible source (mean 1) is projected: the solution is that of f - <f>, with zero mean, and
    the defect is reported (= 1 / ||f||_1-ish, clearly nonzero)."""
    cell = periodic_box(2, 1 / 16, order=2)
    V = dolfinx.fem.functionspace(cell.mesh, ("Lagrange", 2))
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    x = ufl.SpatialCoordinate(cell.mesh)
    u_ex, f = _exact(x, 2)
    prob = CellProblem(ufl.inner(ufl.grad(u), ufl.grad(v)) * ufl.dx,
                       {"ok": f * v * ufl.dx, "shifted": (f + 1.0) * v * ufl.dx}, period=cell.lengths)
    sol = solve_cell_problem(prob)
    assert max(sol.compatibility["ok"]) < 1e-12
    assert max(sol.compatibility["shifted"]) > 1e-3
    for k in ("ok", "shifted"):
        assert abs(integrate(sol[k] * ufl.dx)) < 1e-12
        assert _errors(sol[k], u_ex)[0] < 1e-3


@pytest.mark.mpi
def test_blocked_vector_space_order():
    """Vector (bs = 2) periodic Laplacian: one constant per component in the kernel, optimal P1 order."""
    errs, hs = [], (1 / 8, 1 / 16, 1 / 32)
    for h in hs:
        cell = periodic_box(2, h)
        V = dolfinx.fem.functionspace(cell.mesh, ("Lagrange", 1, (2,)))
        u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
        x = ufl.SpatialCoordinate(cell.mesh)
        s, _ = _exact(x, 2)
        u_ex = ufl.as_vector([s, ufl.cos(2 * pi * x[0]) * ufl.sin(2 * pi * x[1])])
        prob = CellProblem(ufl.inner(ufl.grad(u), ufl.grad(v)) * ufl.dx,
                           {0: ufl.inner(8 * pi**2 * u_ex, v) * ufl.dx}, period=cell.lengths)
        sol = solve_cell_problem(prob)
        for c in range(2):
            assert abs(integrate(sol[0][c] * ufl.dx)) < 1e-12
        errs.append(_errors(sol[0], u_ex)[0])
    assert min(_rates(errs, hs)) > 1.8


def _helmholtz_pair(msh):
    """Decoupled -div grad u + u = f on a P2 and a P1 field."""
    x = ufl.SpatialCoordinate(msh)
    s, _ = _exact(x, 2)
    return s, (8 * pi**2 + 1) * s


def _mixed_p2_p1(msh):
    """A mixed-element (not blocked) P2 x P1 space."""
    el = basix.ufl.mixed_element([basix.ufl.element("Lagrange", msh.basix_cell(), 2),
                                  basix.ufl.element("Lagrange", msh.basix_cell(), 1)])
    return dolfinx.fem.functionspace(msh, el)


@pytest.mark.mpi
def test_mixed_element_space():
    """P on a mixed P2 x P1 space (sub-space collapse): both fields converge to the periodic solution."""
    cell = periodic_box(2, 1 / 16)
    W = _mixed_p2_p1(cell.mesh)
    (u, p), (v, q) = ufl.TrialFunctions(W), ufl.TestFunctions(W)
    s, f = _helmholtz_pair(cell.mesh)
    a = (ufl.inner(ufl.grad(u), ufl.grad(v)) + u * v + ufl.inner(ufl.grad(p), ufl.grad(q)) + p * q) * ufl.dx
    prob = CellProblem(a, {0: f * (v + q) * ufl.dx}, period=cell.lengths, mean_zero=False)
    w = solve_cell_problem(prob)[0]
    e_u = _errors(w.sub(0), s)[0]
    e_p = _errors(w.sub(1), s)[0]
    assert e_u < 2e-3 and e_p < 5e-2
    # the slave DOFs of both fields were glued (Neumann data alone would also give a periodic solution)
    R = periodic_restriction(W, cell.lengths)
    assert R.num_reduced < R.num_full


@pytest.mark.mpi
def test_mixed_space_mean_zero_per_component():
    """Mixed P2 x P1: a pure-Neumann field (mean-zero constrained) and a Helmholtz field (unconstrained,
    selected with mean_zero_components=[0]); each equals its scalar periodic solve."""
    cell = periodic_box(2, 1 / 12)
    W = _mixed_p2_p1(cell.mesh)
    (u, p), (v, q) = ufl.TrialFunctions(W), ufl.TestFunctions(W)
    s, f = _helmholtz_pair(cell.mesh)
    g = 8 * pi**2 * s  # -Laplace s, mean zero
    a = (ufl.inner(ufl.grad(u), ufl.grad(v)) + ufl.inner(ufl.grad(p), ufl.grad(q)) + p * q) * ufl.dx
    sol = solve_cell_problem(CellProblem(a, {0: (g * v + f * q) * ufl.dx}, period=cell.lengths,
                                         mean_zero_components=[0]))
    w = sol[0]
    assert len(sol.compatibility[0]) == 1 and sol.compatibility[0][0] < 1e-12
    V2 = dolfinx.fem.functionspace(cell.mesh, ("Lagrange", 2))
    u2, v2 = ufl.TrialFunction(V2), ufl.TestFunction(V2)
    ref_u = solve_cell_problem(CellProblem(ufl.inner(ufl.grad(u2), ufl.grad(v2)) * ufl.dx, {0: g * v2 * ufl.dx},
                                           period=cell.lengths))[0]
    V1 = dolfinx.fem.functionspace(cell.mesh, ("Lagrange", 1))
    u1, v1 = ufl.TrialFunction(V1), ufl.TestFunction(V1)
    ref_p = solve_cell_problem(CellProblem((ufl.inner(ufl.grad(u1), ufl.grad(v1)) + u1 * v1) * ufl.dx,
                                           {0: f * v1 * ufl.dx}, period=cell.lengths, mean_zero=False))[0]
    dx = ufl.dx(domain=cell.mesh)
    assert abs(integrate(w.sub(0) * dx)) < 1e-12
    assert np.sqrt(integrate((w.sub(0) - ref_u) ** 2 * dx)) < 1e-10
    assert np.sqrt(integrate((w.sub(1) - ref_p) ** 2 * dx)) < 1e-10
    with pytest.raises(ValueError, match="mean_zero_components"):
        solve_cell_problem(CellProblem(a, {0: (g * v + f * q) * ufl.dx}, period=cell.lengths,
                                       mean_zero_components=[2]))


@pytest.mark.mpi
def test_block_layout_matches_single_space_solves():
    """P for a list of spaces follows dolfinx's monolithic block layout (assemble_matrix(kind=None))."""
    from homfx.solvers import LinearSolver

    cell = periodic_box(2, 1 / 12)
    V2 = dolfinx.fem.functionspace(cell.mesh, ("Lagrange", 2))
    V1 = dolfinx.fem.functionspace(cell.mesh, ("Lagrange", 1))
    W = ufl.MixedFunctionSpace(V2, V1)
    u, p = ufl.TrialFunctions(W)
    v, q = ufl.TestFunctions(W)
    s, f = _helmholtz_pair(cell.mesh)
    a = (ufl.inner(ufl.grad(u), ufl.grad(v)) + u * v + ufl.inner(ufl.grad(p), ufl.grad(q)) + p * q
         + 0.3 * u * q) * ufl.dx  # a one-way coupling, so the off-diagonal block is exercised
    L = f * v * ufl.dx + f * q * ufl.dx
    a_f = dolfinx.fem.form(ufl.extract_blocks(a))
    L_f = dolfinx.fem.form(ufl.extract_blocks(L))
    A = dolfinx.fem.petsc.assemble_matrix(a_f)
    A.assemble()
    b = dolfinx.fem.petsc.assemble_vector(L_f, kind=PETSc.Vec.Type.MPI)
    b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
    R = periodic_restriction([V2, V1], cell.lengths)
    x = LinearSolver(R.reduce(A), "block").solve(R.restrict(b))
    xf = dolfinx.fem.petsc.create_vector(dolfinx.fem.extract_function_spaces(a_f, 1))
    R.prolong(x, xf)
    xf.ghostUpdate(addv=PETSc.InsertMode.INSERT, mode=PETSc.ScatterMode.FORWARD)
    uh, ph = dolfinx.fem.Function(V2), dolfinx.fem.Function(V1)
    dolfinx.fem.petsc.assign(xf, [uh, ph])
    # single-space reference solves
    u2, v2 = ufl.TrialFunction(V2), ufl.TestFunction(V2)
    ref_u = solve_cell_problem(CellProblem((ufl.inner(ufl.grad(u2), ufl.grad(v2)) + u2 * v2) * ufl.dx,
                                           {0: f * v2 * ufl.dx}, period=cell.lengths, mean_zero=False))[0]
    u1, v1 = ufl.TrialFunction(V1), ufl.TestFunction(V1)
    ref_p = solve_cell_problem(CellProblem((ufl.inner(ufl.grad(u1), ufl.grad(v1)) + u1 * v1) * ufl.dx,
                                           {0: (f - 0.3 * ref_u) * v1 * ufl.dx}, period=cell.lengths,
                                           mean_zero=False))[0]
    assert np.max(np.abs(uh.x.array - ref_u.x.array)) < 1e-10
    assert np.max(np.abs(ph.x.array - ref_p.x.array)) < 1e-10


@pytest.mark.mpi
def test_non_periodic_mesh_is_rejected():
    """A mesh whose opposite faces do not carry matching nodes: P raises on all ranks."""
    msh = dolfinx.mesh.create_unit_square(MPI.COMM_WORLD, 7, 7)
    x = msh.geometry.x
    top = np.isclose(x[:, 0], 1.0) & (x[:, 1] > 1e-9) & (x[:, 1] < 1 - 1e-9)
    x[top, 1] += 0.01  # shift the nodes on x = 1 only
    V = dolfinx.fem.functionspace(msh, ("Lagrange", 1))
    with pytest.raises(RuntimeError, match="not periodic-conforming"):
        periodic_restriction(V, (1.0, 1.0))


def test_structured_cells_are_periodic():
    for d in (2, 3):
        cell = structured_cell(d, 4)
        V = dolfinx.fem.functionspace(cell.mesh, ("Lagrange", 2))
        R = periodic_restriction(V, cell.lengths)
        assert R.num_reduced == (8**d)  # P2 on n = 4: 2n nodes per direction once periodic
