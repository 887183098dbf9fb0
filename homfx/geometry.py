"""Periodic unit cells: gmsh builders with tagged compartments, interfaces and outer faces.

A cell is Y = [0, L_1] x ... x [0, L_d] (unit by default). Inclusions (disks and ellipses in 2D, spheres
in 3D) may sit inside the cell or cross its boundary, in which case they are wrapped periodically. The mesh
is made periodic-conforming with gmsh ``setPeriodic`` on rank 0 and distributed by dolfinx.

Tag conventions (``CellMesh.tags`` holds the names):
- cells: the matrix (extra-cellular phase ``"e"``) is 1, inclusion ``i`` is ``2 + i``;
  ``CellMesh.phases`` maps a phase name (``"e"``, ``"c"`` or any user name) to its cell tags;
- facets: the outer faces are ``1 + 2*axis + side`` (x0=1, x1=2, y0=3, y1=4, z0=5, z1=6), the interface
  of inclusion ``i`` is ``INTERFACE_TAG0 + i``.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from homfx._stack import MPI, dolfinx

MATRIX_TAG = 1
INCLUSION_TAG0 = 2
INTERFACE_TAG0 = 100


def outer_face_tag(axis: int, side: int) -> int:
    """Facet tag of the outer face x_axis = side * L_axis (side 0 or 1)."""
    return 1 + 2 * axis + side


@dataclass(frozen=True)
class Inclusion:
    """A disk (2D), an ellipse (2D, semi-axes ``radii`` rotated by ``angle``) or a sphere (3D)."""

    center: tuple[float, ...]
    radii: tuple[float, ...]
    angle: float = 0.0
    phase: str = "c"

    @staticmethod
    def disk(center, radius, phase="c"):
        return Inclusion(tuple(map(float, center)), (float(radius), float(radius)), 0.0, phase)

    @staticmethod
    def ellipse(center, a, b, angle=0.0, phase="c"):
        return Inclusion(tuple(map(float, center)), (float(a), float(b)), float(angle), phase)

    @staticmethod
    def sphere(center, radius, phase="c"):
        return Inclusion(tuple(map(float, center)), (float(radius),) * 3, 0.0, phase)

    @property
    def dim(self) -> int:
        return len(self.center)

    @property
    def min_radius(self) -> float:
        return min(self.radii)

    @property
    def max_radius(self) -> float:
        return max(self.radii)

    def boundary_points(self, n: int = 256) -> np.ndarray:
        """Points on the inclusion boundary (used for the overlap checks of non-circular shapes)."""
        if self.dim == 2:
            t = np.linspace(0, 2 * np.pi, n, endpoint=False)
            c, s = math.cos(self.angle), math.sin(self.angle)
            x, y = self.radii[0] * np.cos(t), self.radii[1] * np.sin(t)
            return np.column_stack([c * x - s * y, s * x + c * y]) + np.asarray(self.center)
        k = int(np.sqrt(n))
        th, ph = np.meshgrid(np.linspace(0, np.pi, k), np.linspace(0, 2 * np.pi, k, endpoint=False))
        pts = np.column_stack([np.sin(th.ravel()) * np.cos(ph.ravel()),
                               np.sin(th.ravel()) * np.sin(ph.ravel()), np.cos(th.ravel())])
        return pts * np.asarray(self.radii) + np.asarray(self.center)

    def contains(self, pts: np.ndarray) -> np.ndarray:
        """Whether points (n, d) lie inside this (unwrapped) inclusion."""
        d = np.asarray(pts)[:, : self.dim] - np.asarray(self.center)
        if self.dim == 2:
            c, s = math.cos(self.angle), math.sin(self.angle)
            u, v = c * d[:, 0] + s * d[:, 1], -s * d[:, 0] + c * d[:, 1]
            return (u / self.radii[0]) ** 2 + (v / self.radii[1]) ** 2 < 1.0
        return np.sum((d / np.asarray(self.radii)) ** 2, axis=1) < 1.0


@dataclass
class CellMesh:
    """A periodic cell mesh with its tags. ``phases`` maps phase name -> cell tags."""

    mesh: "dolfinx.mesh.Mesh"
    cell_tags: "dolfinx.mesh.MeshTags"
    facet_tags: "dolfinx.mesh.MeshTags"
    lengths: tuple[float, ...]
    phases: dict[str, tuple[int, ...]]
    interfaces: dict[int, int] = field(default_factory=dict)  # inclusion index -> facet tag
    inclusions: tuple[Inclusion, ...] = ()
    h: float | None = None

    @property
    def dim(self) -> int:
        return self.mesh.geometry.dim

    @property
    def comm(self):
        return self.mesh.comm

    @property
    def volume(self) -> float:
        return float(np.prod(self.lengths))

    def phase_tags(self, phase: str) -> tuple[int, ...]:
        if phase not in self.phases:
            raise KeyError(f"unknown phase {phase!r}; this cell has phases {sorted(self.phases)}")
        return self.phases[phase]

    def interface_tags(self, phase: str | None = None) -> tuple[int, ...]:
        """Facet tags of the interfaces of all inclusions (or of those of one phase)."""
        return tuple(t for i, t in sorted(self.interfaces.items())
                     if phase is None or self.inclusions[i].phase == phase)

    def cell_tag_array(self) -> np.ndarray:
        """Tag of every local cell (owned and ghost); -1 where untagged."""
        tdim = self.mesh.topology.dim
        imap = self.mesh.topology.index_map(tdim)
        out = np.full(imap.size_local + imap.num_ghosts, -1, dtype=np.int32)
        out[self.cell_tags.indices] = self.cell_tags.values
        return out

    def volume_fractions(self) -> dict[str, float]:
        """|Y^alpha| / |Y| for every phase (computed from the mesh)."""
        from homfx.averages import integrate
        import ufl

        dx = ufl.Measure("dx", domain=self.mesh, subdomain_data=self.cell_tags)
        one = dolfinx.fem.Constant(self.mesh, 1.0)
        return {p: integrate(one * dx(tags)) / self.volume for p, tags in self.phases.items()}


# ---------------------------------------------------------------------------------------------------------
# validation


def _check_positive(name, value):
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number, got {value!r}")


def periodic_images(inc: Inclusion, lengths: Sequence[float]) -> list[tuple[float, ...]]:
    """Centres of the periodic copies of ``inc`` whose bounding box meets the cell."""
    out = []
    r = inc.max_radius
    for shift in itertools.product((-1, 0, 1), repeat=inc.dim):
        c = tuple(inc.center[k] + shift[k] * lengths[k] for k in range(inc.dim))
        if all(c[k] + r > 0 and c[k] - r < lengths[k] for k in range(inc.dim)):
            out.append(c)
    return out


def validate_inclusions(inclusions: Sequence[Inclusion], lengths: Sequence[float], h: float,
                        min_gap: float | None = None) -> None:
    """Raise ValueError for inclusions that overlap or touch (periodically), leave the cell, or that
    the mesh size ``h`` cannot resolve."""
    d = len(lengths)
    _check_positive("h", h)
    for i, inc in enumerate(inclusions):
        if inc.dim != d:
            raise ValueError(f"inclusion {i} has dimension {inc.dim}, the cell has {d}")
        for r in inc.radii:
            _check_positive(f"inclusion {i} radius", r)
        if 2 * inc.max_radius >= min(lengths):
            raise ValueError(f"inclusion {i} (radius {inc.max_radius}) overlaps its own periodic copy: "
                             f"its diameter must be < the cell size {min(lengths)}")
        if h > inc.min_radius / 2:
            raise ValueError(f"mesh size h={h} is too coarse to resolve inclusion {i} "
                             f"(smallest radius {inc.min_radius}); use h <= {inc.min_radius / 2:g}")
    gap = h / 4 if min_gap is None else min_gap
    L = np.asarray(lengths, dtype=float)
    for (i, a), (j, b) in itertools.combinations(enumerate(inclusions), 2):
        # distance between b and the nearest periodic image of a
        delta = np.asarray(b.center) - np.asarray(a.center)
        delta -= L * np.round(delta / L)
        dist = float(np.linalg.norm(delta))
        if a.radii[0] == a.radii[-1] == a.min_radius and b.radii[0] == b.radii[-1] == b.min_radius:
            sep = dist - a.min_radius - b.min_radius
        else:  # ellipses: sampled boundary distance (conservative to O(r/n^2))
            pa = a.boundary_points() - np.asarray(a.center)
            pb = b.boundary_points() - np.asarray(b.center) + delta
            inside = Inclusion(tuple(np.zeros(d)), a.radii, a.angle).contains(pb).any() or \
                Inclusion(tuple(delta), b.radii, b.angle).contains(pa).any()
            from scipy.spatial import cKDTree
            sep = -1.0 if inside else float(cKDTree(pa).query(pb)[0].min())
        if sep < gap:
            what = "overlap" if sep < 0 else "touch (gap below the mesh resolution h/4)"
            raise ValueError(f"inclusions {i} and {j} {what}: separation {sep:.3g} "
                             f"(periodic distance of the centres {dist:.3g})")


# ---------------------------------------------------------------------------------------------------------
# gmsh builders


def _gmsh():
    import gmsh

    if not gmsh.isInitialized():
        gmsh.initialize(interruptible=False)
    gmsh.option.setNumber("General.Terminal", 0)
    return gmsh


def _set_periodic_faces(gmsh, lengths):
    """setPeriodic on every pair of opposite outer faces (gdim-1 entities), master at x_k = 0."""
    d = len(lengths)
    eps = 1e-7 * max(lengths)
    box = [0.0] * 3 + list(lengths) + [0.0] * (3 - d)
    for k in range(d):
        lo, hi = list(box[:3]), list(box[3:])
        lo_m = [lo[i] - eps for i in range(3)]
        hi_m = [hi[i] + eps for i in range(3)]
        hi_m[k] = lo[k] + eps  # face x_k = 0
        masters = gmsh.model.getEntitiesInBoundingBox(*lo_m, *hi_m, d - 1)
        lo_s = [lo[i] - eps for i in range(3)]
        lo_s[k] = hi[k] - eps  # face x_k = L_k
        slaves = gmsh.model.getEntitiesInBoundingBox(*lo_s, *hi_m[:k], hi[k] + eps, *hi_m[k + 1:], d - 1)

        def key(tag):
            bb = gmsh.model.getBoundingBox(d - 1, tag)
            c = [(bb[i] + bb[i + 3]) / 2 for i in range(3)]
            return tuple(round(c[i] / eps) for i in range(3) if i != k)

        m_sorted = sorted((t for _, t in masters), key=key)
        s_sorted = sorted((t for _, t in slaves), key=key)
        if [key(t) for t in m_sorted] != [key(t) for t in s_sorted]:
            raise RuntimeError(f"periodic faces normal to axis {k} do not match; is the geometry periodic?")
        T = np.eye(4)
        T[k, 3] = lengths[k]
        gmsh.model.mesh.setPeriodic(d - 1, s_sorted, m_sorted, T.ravel().tolist())


def _tag_outer_faces(gmsh, lengths):
    d = len(lengths)
    eps = 1e-7 * max(lengths)
    for k in range(d):
        for side in (0, 1):
            lo = [-eps] * 3
            hi = [lengths[i] + eps if i < d else eps for i in range(3)]
            lo[k] = side * lengths[k] - eps
            hi[k] = side * lengths[k] + eps
            ents = [t for _, t in gmsh.model.getEntitiesInBoundingBox(*lo, *hi, d - 1)]
            tag = outer_face_tag(k, side)
            gmsh.model.addPhysicalGroup(d - 1, ents, tag, name=f"x{k}_{side}")


def _size_options(gmsh, h, order):
    gmsh.option.setNumber("Mesh.CharacteristicLengthMin", h)
    gmsh.option.setNumber("Mesh.CharacteristicLengthMax", h)
    gmsh.option.setNumber("Mesh.CharacteristicLengthFromPoints", 0)
    gmsh.option.setNumber("Mesh.CharacteristicLengthFromCurvature", 0)
    gmsh.option.setNumber("Mesh.CharacteristicLengthExtendFromBoundary", 0)
    gmsh.option.setNumber("Mesh.ElementOrder", 1)
    gmsh.option.setNumber("Mesh.HighOrderOptimize", 0)
    gmsh.option.setNumber("Mesh.Algorithm", 6)
    gmsh.option.setNumber("Mesh.Algorithm3D", 1)


def _mesh_on_rank0(comm, d, build):
    """Run ``build(gmsh)`` on rank 0 only, turn gmsh errors into one collective RuntimeError, and
    distribute the mesh (shared-facet ghosting, needed for interface integrals)."""
    gmsh = _gmsh()
    err = None
    if comm.rank == 0:
        try:
            build(gmsh)
        except Exception as e:  # noqa: BLE001  -- re-raised collectively below
            err = f"{type(e).__name__}: {e}"
    err = comm.bcast(err, root=0)
    if err is not None:
        gmsh.clear()
        raise RuntimeError(f"gmsh failed to mesh the cell: {err}")
    out = _to_dolfinx(gmsh, comm, d)
    gmsh.clear()
    return out


def _outer_facet_tags(msh, lengths):
    """MeshTags of the boundary facets on the outer faces x_k = 0, L_k (tag 1 + 2k + side)."""
    tdim = msh.topology.dim
    msh.topology.create_connectivity(tdim - 1, tdim)
    fac, vals = [], []
    for k in range(len(lengths)):
        for side in (0, 1):
            f = dolfinx.mesh.locate_entities_boundary(
                msh, tdim - 1, lambda x, k=k, side=side: np.isclose(x[k], side * lengths[k]))
            fac.append(f)
            vals.append(np.full(len(f), outer_face_tag(k, side), dtype=np.int32))
    fac, vals = np.concatenate(fac), np.concatenate(vals)
    fac, first = np.unique(fac, return_index=True)  # facets on two faces (none for simplices) keep one tag
    return dolfinx.mesh.meshtags(msh, tdim - 1, fac.astype(np.int32), vals[first])


def _to_dolfinx(gmsh, comm, d):
    from dolfinx.io import gmsh as dgmsh

    part = dolfinx.mesh.create_cell_partitioner(dolfinx.mesh.GhostMode.shared_facet, 2)
    md = dgmsh.model_to_mesh(gmsh.model, comm, 0, gdim=d, partitioner=part)
    return md.mesh, md.cell_tags, md.facet_tags


def inclusion_cell(inclusions: Sequence[Inclusion], h: float, *, lengths: Sequence[float] | None = None,
                   order: int = 1, comm=None, matrix_phase: str = "e",
                   size_field: Callable[[float, float, float], float] | None = None) -> CellMesh:
    """Mesh a periodic cell with inclusions (periodically wrapped when they cross the boundary).

    ``order=2`` gives quadratic (curved) geometry, needed for P2 accuracy on curved interfaces.
    ``size_field(x, y, z) -> h_local`` optionally grades the mesh (``h`` is then the upper bound).
    """
    comm = MPI.COMM_WORLD if comm is None else comm
    inclusions = tuple(inclusions)
    if not inclusions:
        raise ValueError("inclusion_cell needs at least one inclusion (use structured_cell for a plain box)")
    d = inclusions[0].dim
    lengths = tuple(float(x) for x in (lengths or (1.0,) * d))
    if len(lengths) != d or d not in (2, 3):
        raise ValueError(f"lengths {lengths} do not match the inclusion dimension {d} (2 or 3)")
    if order not in (1, 2):
        raise ValueError(f"order must be 1 or 2, got {order}")
    if d == 3 and any(inc.radii[0] != inc.radii[1] or inc.radii[1] != inc.radii[2] for inc in inclusions):
        raise ValueError("3D inclusions must be spheres")
    validate_inclusions(inclusions, lengths, h)

    msh, ct, ft = _mesh_on_rank0(comm, d, lambda g: _build_inclusion_model(g, inclusions, lengths, h, order,
                                                                           size_field))
    phases: dict[str, list[int]] = {matrix_phase: [MATRIX_TAG]}
    for i, inc in enumerate(inclusions):
        phases.setdefault(inc.phase, []).append(INCLUSION_TAG0 + i)
    return CellMesh(msh, ct, ft, lengths, {k: tuple(v) for k, v in phases.items()},
                    {i: INTERFACE_TAG0 + i for i in range(len(inclusions))}, inclusions, h)


def _build_inclusion_model(gmsh, inclusions, lengths, h, order, size_field):
    d = len(lengths)
    gmsh.model.add("cell")
    occ = gmsh.model.occ
    box = occ.addRectangle(0, 0, 0, *lengths) if d == 2 else occ.addBox(0, 0, 0, *lengths)
    tools, owner = [], []
    if not inclusions:  # a plain periodic box
        occ.synchronize()
        gmsh.model.addPhysicalGroup(d, [box], MATRIX_TAG, name="e")
        _tag_outer_faces(gmsh, lengths)
        _set_periodic_faces(gmsh, lengths)
        _size_options(gmsh, h, order)
        gmsh.model.mesh.generate(d)
        if order == 2:
            gmsh.model.mesh.setOrder(2)
        return
    for i, inc in enumerate(inclusions):
        for c in periodic_images(inc, lengths):
            if d == 2:
                tag = occ.addDisk(c[0], c[1], 0, inc.radii[0], inc.radii[1])
                if inc.angle:
                    occ.rotate([(2, tag)], c[0], c[1], 0, 0, 0, 1, inc.angle)
            else:
                tag = occ.addSphere(*c, inc.radii[0])
            tools.append((d, tag))
            owner.append(i)
    _, children = occ.fragment([(d, box)], tools)
    occ.synchronize()
    in_box = {t for _, t in children[0]}
    inc_pieces: dict[int, set[int]] = {}
    for k, ch in enumerate(children[1:]):
        inc_pieces.setdefault(owner[k], set()).update(t for _, t in ch if t in {*in_box})
    matrix = in_box - set().union(*inc_pieces.values())
    outside = [(d, t) for _, t in gmsh.model.getEntities(d) if t not in in_box]
    if outside:
        occ.remove(outside, recursive=True)
        occ.synchronize()
    if not matrix:
        raise ValueError("the inclusions fill the whole cell; there is no matrix phase")
    gmsh.model.addPhysicalGroup(d, sorted(matrix), MATRIX_TAG, name="e")
    for i, pieces in sorted(inc_pieces.items()):
        gmsh.model.addPhysicalGroup(d, sorted(pieces), INCLUSION_TAG0 + i, name=f"inclusion{i}")
    _tag_outer_faces(gmsh, lengths)
    # interfaces: boundary of the inclusion pieces that is not on the outer box
    outer = set()
    for k in range(d):
        for side in (0, 1):
            outer.update(gmsh.model.getEntitiesForPhysicalGroup(d - 1, outer_face_tag(k, side)))
    for i, pieces in sorted(inc_pieces.items()):
        bnd = gmsh.model.getBoundary([(d, t) for t in pieces], combined=False, oriented=False)
        faces = sorted({abs(t) for _, t in bnd} - outer)
        gmsh.model.addPhysicalGroup(d - 1, faces, INTERFACE_TAG0 + i, name=f"interface{i}")
    _set_periodic_faces(gmsh, lengths)
    _size_options(gmsh, h, order)
    if size_field is not None:
        gmsh.model.mesh.setSizeCallback(lambda dim, tag, x, y, z, lc: min(h, float(size_field(x, y, z))))
    gmsh.model.mesh.generate(d)
    if order == 2:
        gmsh.model.mesh.setOrder(2)


def periodic_box(d: int, h: float, *, lengths: Sequence[float] | None = None, order: int = 1,
                 comm=None) -> CellMesh:
    """An unstructured, periodic-conforming gmsh mesh of the box (no inclusions)."""
    comm = MPI.COMM_WORLD if comm is None else comm
    if d not in (2, 3):
        raise ValueError(f"d must be 2 or 3, got {d}")
    lengths = tuple(float(x) for x in (lengths or (1.0,) * d))
    _check_positive("h", h)
    if h > min(lengths) / 2:
        raise ValueError(f"mesh size h={h} is too coarse for a cell of size {min(lengths)}")
    msh, ct, ft = _mesh_on_rank0(comm, d, lambda g: _build_inclusion_model(g, (), lengths, h, order, None))
    return CellMesh(msh, ct, ft, lengths, {"e": (MATRIX_TAG,)}, {}, (), h)


def structured_cell(d: int, n: int, *, phase_of: Callable[[np.ndarray], np.ndarray] | None = None,
                    phase_names: Sequence[str] = ("e", "c"), lengths: Sequence[float] | None = None,
                    comm=None, cell_type: str | None = None) -> CellMesh:
    """A structured (and therefore periodic-conforming) cell, n cells per unit length.

    ``phase_of(x)`` maps cell midpoints (3, m) to integer phase indices into ``phase_names``; the phase
    boundaries must be aligned with the mesh (laminates and checkerboards with suitable n).
    """
    comm = MPI.COMM_WORLD if comm is None else comm
    lengths = tuple(float(x) for x in (lengths or (1.0,) * d))
    if not (isinstance(n, (int, np.integer)) and n >= 1):
        raise ValueError(f"n must be a positive integer, got {n!r}")
    counts = [max(1, int(round(n * L))) for L in lengths]
    gm = dolfinx.mesh.GhostMode.shared_facet
    if d == 2:
        ct_ = dolfinx.mesh.CellType.triangle if cell_type in (None, "triangle") else dolfinx.mesh.CellType.quadrilateral
        msh = dolfinx.mesh.create_rectangle(comm, [[0, 0], list(lengths)], counts, ct_, ghost_mode=gm,
                                            diagonal=dolfinx.mesh.DiagonalType.crossed if cell_type == "crossed" else dolfinx.mesh.DiagonalType.right)
    elif d == 3:
        ct_ = dolfinx.mesh.CellType.tetrahedron if cell_type in (None, "tetrahedron") else dolfinx.mesh.CellType.hexahedron
        msh = dolfinx.mesh.create_box(comm, [[0, 0, 0], list(lengths)], counts, ct_, ghost_mode=gm)
    else:
        raise ValueError(f"d must be 2 or 3, got {d}")
    tdim = msh.topology.dim
    imap = msh.topology.index_map(tdim)
    ncells = imap.size_local + imap.num_ghosts
    cells = np.arange(ncells, dtype=np.int32)
    mid = dolfinx.mesh.compute_midpoints(msh, tdim, cells).T
    idx = np.zeros(ncells, dtype=np.int32) if phase_of is None else np.asarray(phase_of(mid), dtype=np.int32)
    if idx.min(initial=0) < 0 or idx.max(initial=0) >= len(phase_names):
        raise ValueError(f"phase_of returned indices outside 0..{len(phase_names) - 1}")
    ct = dolfinx.mesh.meshtags(msh, tdim, cells, idx + MATRIX_TAG)
    ft = _outer_facet_tags(msh, lengths)
    phases = {name: (MATRIX_TAG + i,) for i, name in enumerate(phase_names)}
    return CellMesh(msh, ct, ft, lengths, phases, {}, (), 1.0 / n)


def laminate_cell(d: int, n: int, fractions: Sequence[float] = (0.5, 0.5), *, axis: int = 0,
                  phase_names: Sequence[str] | None = None, comm=None) -> CellMesh:
    """Layered cell: phase k occupies a slab of width fractions[k] normal to e_axis.

    The layer boundaries must fall on mesh planes (fractions * n integers)."""
    fr = np.asarray(fractions, dtype=float)
    if np.any(fr <= 0) or not np.isclose(fr.sum(), 1.0):
        raise ValueError(f"fractions must be positive and sum to 1, got {list(fractions)}")
    if not np.allclose(fr * n, np.round(fr * n)):
        raise ValueError(f"layer widths {list(fractions)} are not multiples of 1/n = 1/{n}: "
                         "the mesh would not be interface-aligned")
    edges = np.cumsum(fr)[:-1]
    names = tuple(phase_names or [f"phase{k}" for k in range(len(fr))])
    return structured_cell(d, n, phase_of=lambda x: np.searchsorted(edges, x[axis], side="right"),
                           phase_names=names, comm=comm)


def checkerboard_cell(n: int, *, comm=None, phase_names: Sequence[str] = ("a1", "a2")) -> CellMesh:
    """2D checkerboard: phase a1 on [0,1/2)^2 and [1/2,1)^2, phase a2 elsewhere (n even)."""
    if n % 2:
        raise ValueError(f"checkerboard needs an even n, got {n}")
    return structured_cell(2, n, phase_of=lambda x: ((x[0] >= 0.5) ^ (x[1] >= 0.5)).astype(int),
                           phase_names=phase_names, comm=comm, cell_type="crossed")


def disk_cell(radius: float, h: float, *, center=(0.5, 0.5), order: int = 1, comm=None) -> CellMesh:
    """The paper cell: one disk of the given radius (centred by default)."""
    return inclusion_cell([Inclusion.disk(center, radius)], h, order=order, comm=comm)


def sub_cell(cell: CellMesh, phases: Sequence[str]):
    """The submesh of the given phases, as a CellMesh (cell tags carried over; facet tags: the outer
    faces only) plus the EntityMap to the parent (for mixed-domain forms)."""
    tags = tuple(t for p in phases for t in cell.phase_tags(p))
    tdim = cell.mesh.topology.dim
    cells = np.flatnonzero(np.isin(cell.cell_tag_array(), tags)).astype(np.int32)
    sub, emap, _, _ = dolfinx.mesh.create_submesh(cell.mesh, tdim, cells)
    imap = sub.topology.index_map(tdim)
    sub_cells = np.arange(imap.size_local + imap.num_ghosts, dtype=np.int32)
    parent = emap.sub_topology_to_topology(sub_cells, inverse=False)
    ct = dolfinx.mesh.meshtags(sub, tdim, sub_cells, cell.cell_tag_array()[parent])
    ft = _outer_facet_tags(sub, cell.lengths)
    ph = {p: cell.phase_tags(p) for p in phases}
    keep = {i: t for i, t in cell.interfaces.items()}
    return CellMesh(sub, ct, ft, cell.lengths, ph, keep, cell.inclusions, cell.h), emap


def rotate_cell_90(cell: CellMesh, axes: tuple[int, int] = (0, 1)) -> CellMesh:
    """A copy-free rotation of the cell mesh by +90 degrees in the (axes) plane about the cell centre
    (x -> R (x - c) + c). Only for cells with equal side lengths in that plane. Modifies the mesh in place
    and returns the cell; the tensor of the rotated cell is R A R^T."""
    i, j = axes
    if not np.isclose(cell.lengths[i], cell.lengths[j]):
        raise ValueError("rotate_cell_90 needs equal cell lengths in the rotation plane")
    x = cell.mesh.geometry.x
    c = cell.lengths[i] / 2
    xi, xj = x[:, i] - c, x[:, j] - c
    x[:, i], x[:, j] = -xj + c, xi + c
    return cell
