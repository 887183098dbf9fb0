"""homfx.forms.ParametrizedForm: one compiled form, many coefficient values; assembled vectors as cell-problem
right-hand sides."""

import numpy as np
import pytest
import ufl

from homfx._stack import MPI, dolfinx
from homfx.cellproblem import CellOperator, CellProblem
from homfx.forms import ParametrizedForm, assemble_linear, unit_vector
from homfx.geometry import periodic_box

pytestmark = pytest.mark.mpi


def _space(n=12, degree=2):
    msh = dolfinx.mesh.create_unit_square(MPI.COMM_WORLD, n, n)
    return msh, dolfinx.fem.functionspace(msh, ("Lagrange", degree))


def _fresh(L) -> np.ndarray:
    b = assemble_linear(dolfinx.fem.form(L))
    out = b.getArray().copy()
    b.destroy()
    return out


def test_slots_give_the_same_vectors_as_fresh_forms():
    """Filling the slots and assembling = compiling a new form with the values built in (round-off)."""
    msh, V = _space()
    v = ufl.TestFunction(V)
    w = dolfinx.fem.Function(V)
    e = dolfinx.fem.Constant(msh, np.zeros(2))
    L = ParametrizedForm(w * ufl.dot(e, ufl.grad(v)) * ufl.dx, w=w, e=e)
    data = [dolfinx.fem.Function(V) for _ in range(2)]
    data[0].interpolate(lambda y: np.sin(2 * np.pi * y[0]) * y[1])
    data[1].interpolate(lambda y: y[0] ** 2 - y[1])
    for f in data:
        for i in range(2):
            b = L.assemble(w=f, e=unit_vector(i, 2))
            ref = _fresh(f * v.dx(i) * ufl.dx)
            assert np.allclose(b.getArray(), ref, rtol=0, atol=1e-14 * np.abs(ref).max())
            b.destroy()
    b = L.assemble(w=1.0, e=(0.0, 1.0))  # a number fills the Function slot: int d_1 v
    ref = _fresh(v.dx(1) * ufl.dx)
    assert np.allclose(b.getArray(), ref, rtol=0, atol=1e-14)


def test_bad_slots_are_clear_errors():
    msh, V = _space(4, 1)
    v = ufl.TestFunction(V)
    w, other = dolfinx.fem.Function(V), dolfinx.fem.Function(V)
    c = dolfinx.fem.Constant(msh, 1.0)
    with pytest.raises(ValueError, match="linear form"):
        ParametrizedForm(w * ufl.TrialFunction(V) * v * ufl.dx, w=w)
    with pytest.raises(ValueError, match="slot 'u' is a Function the form does not use"):
        ParametrizedForm(w * v * ufl.dx, u=other)
    with pytest.raises(TypeError, match="must be a dolfinx Function or Constant"):
        ParametrizedForm(w * v * ufl.dx, w=np.ones(3))
    L = ParametrizedForm(c * w * v * ufl.dx, w=w, c=c)
    with pytest.raises(KeyError, match="unknown slot 'z'"):
        L.assemble(z=1.0)
    with pytest.raises(ValueError, match="shape"):
        L.assemble(c=(1.0, 2.0))
    _, W = _space(4, 2)
    with pytest.raises(ValueError, match="another space"):
        L.assemble(w=dolfinx.fem.Function(W))


def test_assembled_vectors_are_cell_problem_right_hand_sides():
    """CellOperator.solve takes an assembled vector in place of a UFL form: same solution, same
    compatibility scale; the caller's vector is left intact (periodic and non-periodic)."""
    cell = periodic_box(2, 1 / 12, order=1)
    V = dolfinx.fem.functionspace(cell.mesh, ("Lagrange", 2))
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    x = ufl.SpatialCoordinate(cell.mesh)
    f = ufl.sin(2 * np.pi * x[0]) * ufl.cos(2 * np.pi * x[1])
    a = ufl.inner(ufl.grad(u), ufl.grad(v)) * ufl.dx
    for period in (cell.lengths, None):
        op = CellOperator(CellProblem(a, {}, period=period, name="vector rhs"))
        b = assemble_linear(dolfinx.fem.form(f * v * ufl.dx))
        before = b.copy()
        s_form = op.solve({"f": f * v * ufl.dx})
        s_vec = op.solve({"f": b})
        diff = s_form["f"].x.petsc_vec.copy()
        diff.axpy(-1.0, s_vec["f"].x.petsc_vec)
        assert diff.norm() <= 1e-12 * s_form["f"].x.petsc_vec.norm()
        assert s_form.compatibility["f"] == pytest.approx(s_vec.compatibility["f"], abs=1e-16)
        before.axpy(-1.0, b)
        assert before.norm() == 0.0
        for vec in (b, before, diff):
            vec.destroy()
