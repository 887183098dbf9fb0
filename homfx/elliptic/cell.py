"""UFL cell problem of elliptic homogenization: the first-order correctors chi_j."""

from __future__ import annotations

from typing import Callable, Mapping

import numpy as np
import ufl

from homfx._stack import dolfinx
from homfx.cellproblem import CellProblem
from homfx.geometry import CellMesh

Coefficient = float | np.ndarray | Mapping[str, float | np.ndarray] | Callable | ufl.core.expr.Expr


def _check_spd(name, value, d):
    v = np.asarray(value, dtype=float)
    if v.ndim == 0:
        if not np.isfinite(v) or v <= 0:
            raise ValueError(f"coefficient {name} must be positive, got {float(v)}")
        return v
    if v.shape != (d, d):
        raise ValueError(f"coefficient {name} must be a scalar or a {d}x{d} matrix, got shape {v.shape}")
    if not np.allclose(v, v.T) or np.linalg.eigvalsh(v).min() <= 0:
        raise ValueError(f"coefficient {name} must be symmetric positive definite, got {v.tolist()}")
    return v


def coefficient_field(cell: CellMesh, a: Coefficient):
    """A UFL coefficient on ``cell.mesh`` from: a number, a d x d matrix, a dict phase -> number or
    matrix (piecewise constant, DG0), a callable ``x -> UFL expression`` or a UFL expression."""
    msh, d = cell.mesh, cell.dim
    if isinstance(a, ufl.core.expr.Expr):
        return a
    if callable(a) and not isinstance(a, Mapping):
        return a(ufl.SpatialCoordinate(msh))
    if not isinstance(a, Mapping):
        return dolfinx.fem.Constant(msh, _check_spd("a", a, d))
    unknown = set(a) - set(cell.phases)
    if unknown:
        raise ValueError(f"coefficient given for unknown phases {sorted(unknown)}; the cell has {sorted(cell.phases)}")
    missing = set(cell.phases) - set(a)
    if missing:
        raise ValueError(f"no coefficient given for phases {sorted(missing)}")
    vals = {p: _check_spd(p, v, d) for p, v in a.items()}
    tensor = any(v.ndim == 2 for v in vals.values())
    shape = (d, d) if tensor else ()
    Q = dolfinx.fem.functionspace(msh, ("DG", 0, shape) if shape else ("DG", 0))
    f = dolfinx.fem.Function(Q, name="a")
    arr = f.x.array.reshape(-1, d * d) if tensor else f.x.array.reshape(-1, 1)
    cta = cell.cell_tag_array()
    for p, v in vals.items():
        vv = (v * np.eye(d) if v.ndim == 0 else v) if tensor else v
        mask = np.isin(cta, cell.phase_tags(p))
        dofs = Q.dofmap.list[np.flatnonzero(mask)].ravel()
        arr[dofs] = np.ravel(vv)
    f.x.scatter_forward()
    return f


def corrector_problem(cell: CellMesh, a, degree: int = 1) -> CellProblem:
    """-div(a (e_j + grad chi_j)) = 0, chi_j periodic with zero mean, j = 1..d. ``a`` is a UFL coefficient
    (see :func:`coefficient_field`)."""
    d = cell.dim
    V = dolfinx.fem.functionspace(cell.mesh, ("Lagrange", degree))
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    dx = ufl.Measure("dx", domain=cell.mesh)
    flux = (lambda g: a * g)
    e = [ufl.unit_vector(j, d) for j in range(d)]
    return CellProblem(a=ufl.inner(flux(ufl.grad(u)), ufl.grad(v)) * dx,
                       rhs={j: -ufl.inner(flux(e[j]), ufl.grad(v)) * dx for j in range(d)},
                       name="elliptic corrector", period=cell.lengths)
