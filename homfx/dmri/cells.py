"""Periodic cells of the dMRI model (Kchaou & Li): Y = Y^e U Y^c U Gamma, with intra-cellular inclusions Y^c.

Conventions (spec bloch_torrey.md section 0): Y^e (extra-cellular, tag 1) touches the box and is periodic;
Y^c (the cells, tags 2 + i) is a union of inclusions strictly inside Y, so its cell problems are pure
Neumann problems with one constant per inclusion; Gamma = dY^c carries facet tags 100 + i; the normal nu
points out of Y^c into Y^e. With the measure of :func:`interface_dS` ('+' = the Y^e side),
``nu = FacetNormal(mesh)('-')``.

Builders: :func:`disk_cell` (Figs 4-7), :func:`cells4` (Fig. 8, the spec's default 4-disk geometry),
:func:`ellipse_cell`, :func:`sphere_cell` (3D) and the general :func:`dmri_cell`. Every builder validates
its input (``ValueError``) and checks the compartments of the mesh (:func:`check_compartments`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import numpy as np
import ufl

from homfx._stack import MPI
from homfx.averages import interface_measure
from homfx.geometry import CellMesh, Inclusion, inclusion_cell

#: the spec's default Fig. 8 geometry (section 6): four equal disks, radius 0.15, unit box
CELLS4_CENTERS = ((0.3, 0.3), (0.7, 0.3), (0.3, 0.7), (0.7, 0.7))
CELLS4_RADIUS = 0.15


def _half_extent(inc: Inclusion, axis: int) -> float:
    """Half-width of the inclusion along a coordinate axis (exact for disks, ellipses, spheres)."""
    if inc.dim == 2:
        a, b = inc.radii
        c, s = math.cos(inc.angle), math.sin(inc.angle)
        return math.hypot(a * c, b * s) if axis == 0 else math.hypot(a * s, b * c)
    return inc.radii[axis]


def check_inside(inclusions: Sequence[Inclusion], lengths: Sequence[float], h: float) -> None:
    """Every inclusion must lie strictly inside the box, with a gap of at least h/4 to its faces
    (spec 2.6: Y^c isolated; the paper never lets Gamma meet dY)."""
    for i, inc in enumerate(inclusions):
        if len(inc.center) != len(lengths):
            raise ValueError(f"inclusion {i}: dimension {len(inc.center)} does not match the cell ({len(lengths)})")
        for k, L in enumerate(lengths):
            ext = _half_extent(inc, k)
            gap = min(inc.center[k] - ext, L - inc.center[k] - ext)
            if gap < h / 4:
                what = "crosses" if gap < 0 else "touches (gap below h/4)"
                raise ValueError(f"inclusion {i} {what} the cell boundary along axis {k} (gap {gap:.3g}): "
                                 "intra-cellular inclusions must lie strictly inside Y")


def dmri_cell(inclusions: Sequence[Inclusion], h: float, *, order: int = 1,
              lengths: Sequence[float] | None = None, comm=None) -> CellMesh:
    """A validated dMRI cell: inclusions (phase 'c') strictly inside Y, pairwise separated (the engine's
    overlap/touch checks), Y^e connected and periodic."""
    inclusions = tuple(inclusions)
    if not inclusions:
        raise ValueError("a dMRI cell needs at least one inclusion")
    if not (isinstance(h, (int, float)) and math.isfinite(h) and h > 0):
        raise ValueError(f"h must be a positive number, got {h!r}")
    if any(inc.phase != "c" for inc in inclusions):
        raise ValueError("every inclusion of a dMRI cell is intra-cellular (phase 'c')")
    lengths = tuple(float(x) for x in (lengths or (1.0,) * inclusions[0].dim))
    for i, inc in enumerate(inclusions):
        if any(not (r > 0) for r in inc.radii):
            raise ValueError(f"inclusion {i} radius must be positive, got {inc.radii}")
    check_inside(inclusions, lengths, h)
    cell = inclusion_cell(inclusions, h, order=order, lengths=lengths, comm=comm)
    check_compartments(cell)
    return cell


def disk_cell(radius: float = 0.2, h: float = 0.02, *, center=(0.5, 0.5), order: int = 1, comm=None) -> CellMesh:
    """One disk in the unit square (Figs 4-7 of the paper; centred by default)."""
    _positive("radius", radius)
    return dmri_cell([Inclusion.disk(center, radius)], h, order=order, comm=comm)


def cells4(radius: float = CELLS4_RADIUS, h: float = 0.02, *, centers=CELLS4_CENTERS, order: int = 1,
           comm=None) -> CellMesh:
    """Fig. 8: four equal disks (spec section 6 default: radius 0.15 at (0.3|0.7, 0.3|0.7)).
    ``centers=((.25,.25),(.75,.25),(.25,.75),(.75,.75))`` with radius 0.2 is the sub-periodic alternative."""
    _positive("radius", radius)
    return dmri_cell([Inclusion.disk(c, radius) for c in centers], h, order=order, comm=comm)


def ellipse_cell(a: float, b: float, h: float = 0.02, *, angle: float = 0.0, center=(0.5, 0.5), order: int = 1,
                 comm=None) -> CellMesh:
    """One ellipse (semi-axes a, b, rotated by ``angle``) in the unit square."""
    _positive("a", a)
    _positive("b", b)
    return dmri_cell([Inclusion.ellipse(center, a, b, angle)], h, order=order, comm=comm)


def sphere_cell(radius: float, h: float, *, center=(0.5, 0.5, 0.5), order: int = 1, comm=None) -> CellMesh:
    """One sphere in the unit cube (3D)."""
    _positive("radius", radius)
    return dmri_cell([Inclusion.sphere(center, radius)], h, order=order, comm=comm)


def _positive(name, value):
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number, got {value!r}")


# ---------------------------------------------------------------------------------------------------------
# compartments: connected pieces, validation


def phase_cells(cell: CellMesh, phase: str) -> np.ndarray:
    """Local (owned and ghost) cell indices of a phase on the parent mesh."""
    return np.flatnonzero(np.isin(cell.cell_tag_array(), cell.phase_tags(phase))).astype(np.int32)


def connected_pieces(mesh, cells: np.ndarray) -> tuple[int, np.ndarray]:
    """(number of pieces, piece label of each given local cell): the connected components of the union of
    ``cells`` (cells sharing a vertex are connected; no periodic gluing). Collective; the labels are the
    same on every rank (computed from the gathered global vertex lists)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    comm = mesh.comm
    tdim = mesh.topology.dim
    mesh.topology.create_connectivity(tdim, 0)
    c2v = mesh.topology.connectivity(tdim, 0)
    l2g = mesh.topology.index_map(0).local_to_global
    n_own = mesh.topology.index_map(tdim).size_local
    cells = np.asarray(cells, dtype=np.int32)
    nv = tdim + 1  # simplices
    conn = c2v.array.reshape(-1, nv)
    verts = l2g(conn[cells].ravel().astype(np.int32)).reshape(-1, nv) if len(cells) else np.zeros((0, nv), np.int64)
    local = verts[cells < n_own].astype(np.int64)
    allv = np.concatenate(comm.allgather(local))
    if len(allv) == 0:
        return 0, np.zeros(0, dtype=np.int32)
    uniq, inv = np.unique(allv, return_inverse=True)
    inv = inv.reshape(allv.shape)
    rows = np.repeat(inv[:, 0], tdim)
    cols = inv[:, 1:].ravel()
    g = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(uniq), len(uniq)))
    n, lab = connected_components(g, directed=False)
    labels = lab[np.searchsorted(uniq, verts[:, 0])].astype(np.int32) if len(verts) else np.zeros(0, np.int32)
    return int(n), labels


def touches_boundary(cell: CellMesh, cells: np.ndarray) -> bool:
    """Whether any of the given cells has a geometry node on the box boundary. Collective."""
    x = cell.mesh.geometry.x
    dofs = cell.mesh.geometry.dofmaps[0][np.asarray(cells, dtype=np.int32)].ravel()
    pts = x[dofs, : cell.dim]
    tol = 1e-10 * max(cell.lengths)
    L = np.asarray(cell.lengths)
    hit = bool(np.any((np.abs(pts) < tol) | (np.abs(pts - L) < tol))) if len(pts) else False
    return bool(cell.comm.allreduce(hit, op=MPI.LOR))


def check_compartments(cell: CellMesh) -> None:
    """ValueError unless Y^e is one connected, periodic piece touching every face and every piece of
    Y^c lies strictly inside Y (isolated cells, pure Neumann problems)."""
    for p in ("e", "c"):
        if p not in cell.phases:
            raise ValueError(f"a dMRI cell needs the phases 'e' and 'c'; this one has {sorted(cell.phases)}")
    x = cell.mesh.geometry.x[:, : cell.dim]
    lo, hi = np.empty(cell.dim), np.empty(cell.dim)
    cell.comm.Allreduce(x.min(axis=0) if len(x) else np.full(cell.dim, np.inf), lo, op=MPI.MIN)
    cell.comm.Allreduce(x.max(axis=0) if len(x) else np.full(cell.dim, -np.inf), hi, op=MPI.MAX)
    L = np.asarray(cell.lengths)
    if np.max(np.abs(lo)) > 1e-10 * L.max() or np.max(np.abs(hi - L)) > 1e-10 * L.max():
        raise ValueError(f"the mesh spans {lo.tolist()}..{hi.tolist()}, not the cell [0, L] with L = {L.tolist()}")
    n_e, _ = connected_pieces(cell.mesh, phase_cells(cell, "e"))
    if n_e != 1:
        raise ValueError(f"the extra-cellular compartment Y^e is not connected: it has {n_e} pieces "
                         "(inclusions enclose part of it)")
    if touches_boundary(cell, phase_cells(cell, "c")):
        raise ValueError("the intra-cellular compartment Y^c touches the cell boundary: each cell (inclusion) "
                         "must lie strictly inside Y")
    n_c, _ = connected_pieces(cell.mesh, phase_cells(cell, "c"))
    if n_c != len(cell.phase_tags("c")):
        raise ValueError(f"Y^c has {n_c} connected pieces but {len(cell.phase_tags('c'))} inclusion tags: every "
                         "inclusion must be one connected cell (mean zero is imposed per inclusion)")
    if not cell.interface_tags():
        raise ValueError("the cell has no tagged membrane Gamma (interface facets); build it with "
                         "homfx.dmri.cells (inclusion_cell)")
    # Y^e periodic: it must meet every outer face (then the periodic restriction glues it)
    for k in range(cell.dim):
        for side in (0, 1):
            tag = 1 + 2 * k + side
            n = cell.comm.allreduce(len(cell.facet_tags.find(tag)), op=MPI.SUM)
            if n == 0:
                raise ValueError(f"Y^e does not reach the face {tag} of the cell: it cannot be periodic")


def interface_dS(cell: CellMesh):
    """dS over Gamma (every interface tag separately addressable), '+' = the Y^e side on every facet."""
    return interface_measure(cell, plus_phase="e")


def interface_normal(cell: CellMesh):
    """nu, the unit normal on Gamma pointing out of Y^c (use with :func:`interface_dS`)."""
    return ufl.FacetNormal(cell.mesh)("-")


def scale_cell(cell: CellMesh, rho: float) -> CellMesh:
    """The cell scaled by rho (Y -> rho Y), IN PLACE on the same mesh (spec 1.6 / AC5: the same mesh, not a
    regenerated one). Returns the CellMesh with the scaled lengths and inclusions."""
    _positive("rho", rho)
    cell.mesh.geometry.x[:] *= rho
    incs = tuple(dataclasses.replace(i, center=tuple(rho * c for c in i.center),
                                     radii=tuple(rho * r for r in i.radii)) for i in cell.inclusions)
    return dataclasses.replace(cell, lengths=tuple(rho * L for L in cell.lengths), inclusions=incs,
                               h=None if cell.h is None else rho * cell.h)


def cell_from_name(name: str, *, radius: float | None, h: float, order: int = 1, comm=None) -> CellMesh:
    """CLI helper: ``disk`` (centred disk), ``cells4`` (Fig. 8), ``sphere`` (3D)."""
    if name == "disk":
        return disk_cell(0.2 if radius is None else radius, h, order=order, comm=comm)
    if name == "cells4":
        return cells4(CELLS4_RADIUS if radius is None else radius, h, order=order, comm=comm)
    if name == "sphere":
        return sphere_cell(0.3 if radius is None else radius, h, order=order, comm=comm)
    raise ValueError(f"--cell must be one of disk, cells4, sphere; got {name!r}")
