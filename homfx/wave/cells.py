"""Periodic cells and coefficients for the wave cascade: the paper's cell, laminates, smooth anisotropic cells.

A :class:`WaveCell` bundles the structured periodic mesh (n cells per side of Y = [0, 1]^d, a translate of
the paper's (−½, ½)^d; every tensor is translation invariant), the UFL coefficient ``a`` (scalar or d×d),
optionally a numpy version of a(y) (for the Bloch check) and the laminate closed-form data.

- ``paper_cell(d, n)``:  a = (1 − ½cos(2πy_d)) I   [P Sec. 6; (6.1); T1 (d = 2), 1D-S (d = 1), T3 (d = 3)].
- ``laminate(d, n, a1, a2, fraction)``: ã = a1 on a layer of width ``fraction`` normal to e_d, a2 elsewhere,
  given per phase (DG0) on an interface-aligned mesh [T2, 1D-PC].
- ``t4_cell(n)``: the generic anisotropic 2-D coefficient of §4.12 (T4).
- ``smooth_cell(d, n, a_ufl, a_np)``: any coefficient as a UFL expression of x.
- ``wave_cell(cell, a)``: any periodic CellMesh (e.g. a gmsh inclusion cell) with a coefficient per phase or as
  a formula.
- ``check_periodic(cell, a)``: a(x) vs a(x + L_k e_k) on the faces; ``ValueError`` if not periodic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import ufl

from homfx._stack import MPI, dolfinx
from homfx.geometry import CellMesh, MATRIX_TAG, laminate_cell, outer_face_tag, structured_cell
from homfx.wave.tensors import LaminateScalars, laminate_scalars_smooth, laminate_scalars_two_phase, paper_a_tilde


@dataclass
class WaveCell:
    cell: CellMesh
    a: object  # UFL expression: scalar or d x d
    name: str
    a_numpy: Callable | None = None  # y (d, m) -> (m, d, d)
    laminate: LaminateScalars | None = None  # closed-form data when a = ã(y_d) I

    @property
    def dim(self) -> int:
        return self.cell.dim


def interval_cell(n: int, *, phase_of=None, phase_names=("e", "c"), comm=None) -> CellMesh:
    """1-D periodic cell [0, 1] with n cells (structured_cell covers d = 2, 3)."""
    comm = MPI.COMM_WORLD if comm is None else comm
    if not (isinstance(n, (int, np.integer)) and n >= 1):
        raise ValueError(f"n must be a positive integer, got {n!r}")
    msh = dolfinx.mesh.create_interval(comm, n, [0.0, 1.0], ghost_mode=dolfinx.mesh.GhostMode.shared_facet)
    imap = msh.topology.index_map(1)
    cells = np.arange(imap.size_local + imap.num_ghosts, dtype=np.int32)
    mid = dolfinx.mesh.compute_midpoints(msh, 1, cells).T
    idx = np.zeros(len(cells), dtype=np.int32) if phase_of is None else np.asarray(phase_of(mid), dtype=np.int32)
    ct = dolfinx.mesh.meshtags(msh, 1, cells, idx + MATRIX_TAG)
    msh.topology.create_connectivity(0, 1)
    fac, vals = [], []
    for side in (0, 1):
        f = dolfinx.mesh.locate_entities_boundary(msh, 0, lambda x, s=side: np.isclose(x[0], s))
        fac.append(f)
        vals.append(np.full(len(f), outer_face_tag(0, side), dtype=np.int32))
    fac, vals = np.concatenate(fac), np.concatenate(vals)
    order = np.argsort(fac)
    ft = dolfinx.mesh.meshtags(msh, 0, fac[order].astype(np.int32), vals[order])
    phases = {name: (MATRIX_TAG + i,) for i, name in enumerate(phase_names)}
    return CellMesh(msh, ct, ft, (1.0,), phases, {}, (), 1.0 / n)


def unit_cell(d: int, n: int, *, comm=None, phase_of=None, phase_names=("e", "c"), cell_type=None) -> CellMesh:
    """Structured periodic [0, 1]^d with n cells per side (simplices; ``cell_type`` "quadrilateral" /
    "hexahedron" for tensor-product cells)."""
    if d == 1:
        return interval_cell(n, phase_of=phase_of, phase_names=phase_names, comm=comm)
    if d not in (2, 3):
        raise ValueError(f"d must be 1, 2 or 3, got {d}")
    return structured_cell(d, n, phase_of=phase_of, phase_names=phase_names, comm=comm, cell_type=cell_type)


def _identity_times(s, d):
    return s * ufl.Identity(d)


def paper_cell(d: int = 2, n: int = 32, *, comm=None, cell_type=None) -> WaveCell:
    """a(y) = (1 − ½cos(2πy_d)) I [P Sec. 6] (layer normal e_d)."""
    cell = unit_cell(d, n, comm=comm, cell_type=cell_type)
    x = ufl.SpatialCoordinate(cell.mesh)
    a = _identity_times(1 - 0.5 * ufl.cos(2 * ufl.pi * x[d - 1]), d)

    def a_np(y, d=d):
        return paper_a_tilde(y[d - 1])[:, None, None] * np.eye(d)

    return WaveCell(cell, a, f"paper d={d}", a_np, laminate_scalars_smooth(paper_a_tilde))


def laminate(d: int = 2, n: int = 32, a1: float = 1.0, a2: float = 4.0, *, fraction: float = 0.5,
             comm=None) -> WaveCell:
    """Two-phase laminate: ã = a1 for y_d < fraction, a2 elsewhere (DG0, interface-aligned mesh)."""
    from homfx.elliptic.cell import coefficient_field

    for name, v in (("a1", a1), ("a2", a2)):
        if not (np.isfinite(v) and v > 0):
            raise ValueError(f"--{name} must be a positive number, got {v}")
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    if not np.isclose(fraction * n, round(fraction * n)):
        raise ValueError(f"--n {n}: the layer interface y_d = {fraction} must be a mesh plane (fraction*n integer)")
    if d == 1:
        cell = interval_cell(n, phase_of=lambda x: (x[0] >= fraction).astype(int), phase_names=("a1", "a2"),
                             comm=comm)
    else:
        cell = laminate_cell(d, n, (fraction, 1 - fraction), axis=d - 1, phase_names=("a1", "a2"), comm=comm)
    s = coefficient_field(cell, {"a1": float(a1), "a2": float(a2)})
    a = _identity_times(s, d)

    def a_np(y, d=d):
        return np.where(y[d - 1] % 1.0 < fraction, a1, a2)[:, None, None] * np.eye(d)

    return WaveCell(cell, a, f"laminate d={d} a1={a1} a2={a2} fraction={fraction}", a_np,
                    laminate_scalars_two_phase(a1, a2, fraction))


def t4_coefficient_np(y):
    """§4.12 (T4): a11 = 1 + ½sin(2πy1)cos(2πy2), a22 = 1.5 + ½cos(2πy1), a12 = ¼sin(2π(y1+y2))."""
    s = 2 * np.pi
    a11 = 1 + 0.5 * np.sin(s * y[0]) * np.cos(s * y[1])
    a22 = 1.5 + 0.5 * np.cos(s * y[0])
    a12 = 0.25 * np.sin(s * (y[0] + y[1]))
    return np.stack([np.stack([a11, a12], -1), np.stack([a12, a22], -1)], -2)


def t4_cell(n: int = 32, *, comm=None) -> WaveCell:
    cell = unit_cell(2, n, comm=comm)
    x = ufl.SpatialCoordinate(cell.mesh)
    s = 2 * ufl.pi
    a11 = 1 + 0.5 * ufl.sin(s * x[0]) * ufl.cos(s * x[1])
    a22 = 1.5 + 0.5 * ufl.cos(s * x[0])
    a12 = 0.25 * ufl.sin(s * (x[0] + x[1]))
    return WaveCell(cell, ufl.as_matrix([[a11, a12], [a12, a22]]), "T4", t4_coefficient_np)


def smooth_cell(d: int, n: int, a_of_x: Callable, a_numpy: Callable | None = None, *, name="custom",
                comm=None, check: bool = True) -> WaveCell:
    """Any coefficient given as ``a_of_x(x) -> UFL`` (scalar or d×d); checked for periodicity."""
    cell = unit_cell(d, n, comm=comm)
    a = a_of_x(ufl.SpatialCoordinate(cell.mesh))
    if len(ufl.shape(a)) == 0:
        a = _identity_times(a, d)
    if check:
        check_periodic(cell, a)
    return WaveCell(cell, a, name, a_numpy)


def wave_cell(cell: CellMesh, a, *, name: str = "custom", a_numpy: Callable | None = None) -> WaveCell:
    """Any periodic cell mesh (structured, or gmsh ``homfx.geometry.inclusion_cell``) with a coefficient given
    as a number, a d×d matrix, a dict phase -> value (DG0, periodic by construction), a callable
    ``x -> UFL`` or a UFL expression. Formulas are checked for periodicity (``ValueError``)."""
    from homfx.elliptic.cell import coefficient_field

    if isinstance(a, dict):
        bad = {p: v for p, v in a.items() if not np.all(np.isfinite(v))}
        if bad:
            raise ValueError(f"coefficient: non-finite values for phases {sorted(bad)}")
    coef = coefficient_field(cell, a)
    if len(ufl.shape(coef)) == 0:
        coef = _identity_times(coef, cell.dim)
    check_periodic(cell, coef)
    return WaveCell(cell, coef, name, a_numpy)


def make_cell(kind: str, d: int, n: int, *, a1: float = 1.0, a2: float = 4.0, comm=None) -> WaveCell:
    """The CLI's cells: ``paper`` or ``laminate`` (equal halves)."""
    if not (isinstance(n, (int, np.integer)) and n >= 1):
        raise ValueError(f"--n must be a positive integer, got {n!r}")
    if kind == "paper":
        wc = paper_cell(d, n, comm=comm)
    elif kind == "laminate":
        if n % 2:
            raise ValueError(f"--n {n}: the laminate of equal halves needs an even n (interface-aligned mesh)")
        wc = laminate(d, n, a1, a2, comm=comm)
    elif kind == "t4":
        if d != 2:
            raise ValueError("--cell t4 is two-dimensional (--dim 2)")
        wc = t4_cell(n, comm=comm)
    else:
        raise ValueError(f"--cell must be 'paper', 'laminate' or 't4', got {kind!r}")
    check_periodic(wc.cell, wc.a)
    return wc


# ----------------------------------------------------------------------------------------------------------
# periodicity check


def _reference_facet_midpoints(msh) -> np.ndarray:
    import basix

    ct = getattr(basix.CellType, msh.topology.cell_name())
    geo = basix.geometry(ct)
    tdim = msh.topology.dim
    facets = basix.topology(ct)[tdim - 1]
    return np.array([geo[f].mean(axis=0) for f in facets])


def face_values(cell: CellMesh, expr, axis: int, side: int):
    """(coordinates (m, d), values (m, ...)) of ``expr`` at the midpoints of the owned facets of the outer face
    (axis, side), evaluated from the adjacent cell."""
    msh = cell.mesh
    tdim = msh.topology.dim
    msh.topology.create_connectivity(tdim - 1, tdim)
    msh.topology.create_connectivity(tdim, tdim - 1)
    f2c, c2f = msh.topology.connectivity(tdim - 1, tdim), msh.topology.connectivity(tdim, tdim - 1)
    n_own = msh.topology.index_map(tdim - 1).size_local
    facets = cell.facet_tags.find(outer_face_tag(axis, side))
    facets = facets[facets < n_own]
    X = _reference_facet_midpoints(msh)
    x = ufl.SpatialCoordinate(msh)
    flat = ufl.as_vector([x[i] for i in range(cell.dim)] + [e for e in _flatten(expr)])
    E = dolfinx.fem.Expression(flat, X)
    cells = np.array([f2c.links(f)[0] for f in facets], dtype=np.int32)
    lf = np.array([int(np.flatnonzero(c2f.links(c) == f)[0]) for c, f in zip(cells, facets)], dtype=np.int64)
    if len(cells) == 0:
        return np.zeros((0, cell.dim)), np.zeros((0, len(flat) - cell.dim))
    vals = E.eval(msh, cells)  # (m, num_points, size)
    vals = vals.reshape(len(cells), len(X), -1)[np.arange(len(cells)), lf]
    return vals[:, : cell.dim], vals[:, cell.dim:]


def _flatten(expr):
    sh = ufl.shape(expr)
    if len(sh) == 0:
        return [expr]
    if len(sh) == 1:
        return [expr[i] for i in range(sh[0])]
    return [expr[i, j] for i in range(sh[0]) for j in range(sh[1])]


def check_periodic(cell: CellMesh, a, *, tol: float = 1e-10) -> float:
    """max over k of |a(y + L_k e_k) − a(y)| / max|a| at the facet midpoints of the face y_k = 0 (evaluated as
    UFL with y ↦ y + L_k e_k substituted). A coefficient given per phase (DG0) is periodic by construction
    (it is the periodic extension of its values on Y). Raises ``ValueError`` for a non-periodic formula
    (collective)."""
    comm = cell.mesh.comm
    x = ufl.SpatialCoordinate(cell.mesh)
    worst, where = 0.0, None
    for k in range(cell.dim):
        shift = ufl.as_vector([cell.lengths[k] if i == k else 0.0 for i in range(cell.dim)])
        a_shift = ufl.replace(a, {x: x + shift})
        diff = ufl.as_vector(_flatten(a_shift - a) + _flatten(a))
        pts, vals = face_values(cell, diff, k, 0)
        if comm.allreduce(len(pts), op=MPI.SUM) == 0:
            raise ValueError(f"periodicity check: the cell has no facets tagged as the face y_{k + 1} = 0 "
                             f"(tag {outer_face_tag(k, 0)})")
        m = len(_flatten(a))
        dev = np.abs(vals[:, :m]).max(axis=1) if len(vals) else np.zeros(0)
        scale = comm.allreduce(float(np.abs(vals[:, m:]).max()) if len(vals) else 0.0, op=MPI.MAX)
        loc = (float(dev.max()), pts[int(np.argmax(dev))].tolist()) if len(dev) else (0.0, None)
        for val, pt in comm.allgather(loc):
            if val / max(scale, 1e-300) > worst:
                worst, where = val / max(scale, 1e-300), (k, pt)
    if worst > tol:
        k, pt = where
        raise ValueError(f"the coefficient a(y) is not periodic: |a(y + e_{k + 1}) - a(y)| / max|a| = {worst:.3e} "
                         f"at y = {np.round(pt, 6).tolist()} (face y_{k + 1} = 0); homogenization needs a Y-periodic a")
    return worst
