"""Integrals and means over compartments and interfaces, MPI-reduced.

Interface sides: dolfinx picks '+' and '-' arbitrarily per facet (and per partition!). The measures made
by :func:`interface_measure` order every facet so that '+' is the cell of the given phase. With '+' on the
matrix side, ``ufl.FacetNormal(mesh)('+')`` points from the matrix into the inclusion, so the normal
pointing out of the inclusion is ``nu = n('-')``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import ufl

from homfx._stack import MPI, dolfinx


def integrate(expr_measure, entity_maps=None) -> float:
    """The global value of a UFL functional (expression times measure)."""
    form = dolfinx.fem.form(expr_measure, entity_maps=entity_maps)
    comm = form.mesh.comm
    return comm.allreduce(dolfinx.fem.assemble_scalar(form), op=MPI.SUM)


def measure_size(measure, entity_maps=None) -> float:
    """|Y^alpha| or |Gamma| for a (restricted) measure."""
    one = dolfinx.fem.Constant(measure.ufl_domain().ufl_cargo(), 1.0)
    if measure.integral_type() == "interior_facet":
        return integrate(one("+") * measure, entity_maps)
    return integrate(one * measure, entity_maps)


def volume_mean(expr, measure, entity_maps=None) -> float:
    """<expr>_{Y^alpha} = int expr dx_alpha / |Y^alpha|."""
    return integrate(expr * measure, entity_maps) / measure_size(measure, entity_maps)


def interface_mean(expr, dS, entity_maps=None) -> float:
    """<expr>_Gamma = int_Gamma expr ds / |Gamma| (expr must already carry its '+'/'-' restrictions)."""
    return integrate(expr * dS, entity_maps) / measure_size(dS, entity_maps)


def ordered_interface_entities(mesh, cell_tag_array: np.ndarray, facets: np.ndarray,
                               plus_tags: Sequence[int]) -> np.ndarray:
    """Interior-facet integration entities (cell0, lf0, cell1, lf1) for the owned ``facets``, ordered so
    that cell0 ('+') carries a tag in ``plus_tags``. Raises if a facet does not have exactly one such side."""
    tdim = mesh.topology.dim
    mesh.topology.create_connectivity(tdim - 1, tdim)
    mesh.topology.create_connectivity(tdim, tdim - 1)
    ents = dolfinx.fem.compute_integration_domains(
        dolfinx.fem.IntegralType.interior_facet, mesh.topology, np.asarray(facets, dtype=np.int32))
    ents = np.asarray(ents).reshape(-1, 4).copy()
    plus0 = np.isin(cell_tag_array[ents[:, 0]], plus_tags)
    plus1 = np.isin(cell_tag_array[ents[:, 2]], plus_tags)
    bad = comm_any(mesh.comm, np.any(plus0 == plus1))
    if bad:
        raise ValueError("interface facets must separate the '+' phase from another phase "
                         "(a facet has both or neither side in the '+' phase)")
    ents[~plus0] = ents[~plus0][:, [2, 3, 0, 1]]
    return ents.ravel()


def comm_any(comm, flag) -> bool:
    return bool(comm.allreduce(bool(flag), op=MPI.LOR))


def interface_measure(cell, plus_phase: str = "e", interface_tags: Sequence[int] | None = None):
    """dS over the cell's interfaces (all, or the given facet tags), with '+' on ``plus_phase``.

    The measure is already restricted to those interfaces (a bare ``dS`` would mean every interior facet);
    for one interface pass ``interface_tags=[tag]``."""
    tags = cell.interface_tags() if interface_tags is None else tuple(interface_tags)
    cta = cell.cell_tag_array()
    plus = cell.phase_tags(plus_phase)
    data = []
    n_own = cell.mesh.topology.index_map(cell.mesh.topology.dim - 1).size_local
    for t in tags:
        f = cell.facet_tags.find(t)
        f = f[f < n_own]
        data.append((t, ordered_interface_entities(cell.mesh, cta, f, plus)))
    return ufl.Measure("dS", domain=cell.mesh, subdomain_data=data)(tags)


def phase_interface_facets(cell, phase_a: str, phase_b: str) -> np.ndarray:
    """Owned interior facets with one cell in ``phase_a`` and the other in ``phase_b`` (works for any
    cell, e.g. structured laminates that carry no interface facet tags). The periodic seam is a mesh
    boundary, so interfaces lying on it are not found (shift the cell so interfaces are interior)."""
    msh = cell.mesh
    tdim = msh.topology.dim
    msh.topology.create_connectivity(tdim - 1, tdim)
    f2c = msh.topology.connectivity(tdim - 1, tdim)
    n_own = msh.topology.index_map(tdim - 1).size_local
    cta = cell.cell_tag_array()
    ta, tb = cell.phase_tags(phase_a), cell.phase_tags(phase_b)
    off, links = f2c.offsets, f2c.array
    two = np.flatnonzero(np.diff(off[: n_own + 1]) == 2)
    c0, c1 = cta[links[off[two]]], cta[links[off[two] + 1]]
    hit = (np.isin(c0, ta) & np.isin(c1, tb)) | (np.isin(c0, tb) & np.isin(c1, ta))
    return two[hit].astype(np.int32)


def phase_interface_measure(cell, plus_phase: str, minus_phase: str):
    """dS over the facets between two phases, '+' on ``plus_phase`` (already restricted to them)."""
    f = phase_interface_facets(cell, plus_phase, minus_phase)
    ents = ordered_interface_entities(cell.mesh, cell.cell_tag_array(), f, cell.phase_tags(plus_phase))
    return ufl.Measure("dS", domain=cell.mesh, subdomain_data=[(0, ents)])(0)


def cell_measure(cell):
    """dx on the cell mesh with its cell tags (use dx(cell.phase_tags('e')) for a phase)."""
    return ufl.Measure("dx", domain=cell.mesh, subdomain_data=cell.cell_tags)
