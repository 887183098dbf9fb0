"""The heterogeneous media of the paper (spec §5.2, paper Figs 2 and 9) on a structured fine grid.

The unit square is divided into nf×nf fine squares (ix, iy), each split into two triangles along the SW–NE
diagonal (spec §1.4; ``DiagonalType.right``). A square belongs to the high-conductivity continuum Ω₂ iff it
lies in a channel, ``chan(i) := (i mod period) ∈ [offset, offset+width)``:

* ``crossed`` (Example 1): ``chan(ix) or chan(iy)`` — a connected grid of channels (period 1/40, width 1/200
  for the defaults nf = 400, period = 10, width = 2, offset = 4); |Ω₁| = 0.64, |Ω₂| = 0.36.
* ``layered`` (Example 2): ``chan(ix)`` — vertical layers; |Ω₁| = 0.8, |Ω₂| = 0.2.

Continua are 0-based in code: 0 = Ω₁ (low κ = kappa_high/contrast, default 1e-4), 1 = Ω₂ (high κ, default 1).
κ and the indicators ψ_p are DG0 functions, constant on each fine square (both of its triangles).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from homfx._stack import MPI, dolfinx

KINDS = ("crossed", "layered")
LOW, HIGH = 0, 1  # continuum indices: Ω₁ (low conductivity), Ω₂ (high conductivity)


@dataclass(frozen=True)
class Medium:
    """Periodic channel medium on an nf×nf fine grid of the unit square (all lengths in fine cells)."""

    kind: str = "crossed"
    nf: int = 400
    period: int = 10
    width: int = 2
    offset: int = 4
    kappa_high: float = 1.0
    contrast: float = 1.0e4  # η = κ(Ω₂)/κ(Ω₁)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind: the medium must be one of {KINDS}, got {self.kind!r}")
        for name in ("nf", "period", "width", "offset"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or v < (0 if name == "offset" else 1):
                raise ValueError(f"{name}: must be a {'non-negative' if name == 'offset' else 'positive'} "
                                 f"integer (fine cells), got {v!r}")
        if self.offset + self.width > self.period:
            raise ValueError(f"width: the channel [offset, offset+width) = [{self.offset}, "
                             f"{self.offset + self.width}) does not fit into the period {self.period}")
        if not (isinstance(self.contrast, (int, float, np.floating)) and math.isfinite(self.contrast)
                and self.contrast > 0):
            raise ValueError(f"contrast: the conductivity contrast must be positive and finite, got {self.contrast!r}")
        if not (math.isfinite(self.kappa_high) and self.kappa_high > 0):
            raise ValueError(f"kappa_high: the conductivity must be positive, got {self.kappa_high!r}")

    n_continua = 2

    @property
    def h(self) -> float:
        return 1.0 / self.nf

    @property
    def kappa(self) -> tuple[float, float]:
        """κ per continuum (0-based): (κ of Ω₁, κ of Ω₂) = (kappa_high/contrast, kappa_high)."""
        return (self.kappa_high / self.contrast, self.kappa_high)

    def channel(self, i) -> np.ndarray:
        r = np.mod(np.asarray(i), self.period)
        return (r >= self.offset) & (r < self.offset + self.width)

    def continuum(self, ix, iy) -> np.ndarray:
        """0-based continuum of fine squares (ix, iy) (any integers: the pattern is periodic)."""
        high = self.channel(ix) | self.channel(iy) if self.kind == "crossed" else self.channel(ix)
        return high.astype(np.int32)

    def volume_fractions(self) -> np.ndarray:
        """|Ω_p| / |Ω| over the whole grid (exact count of squares)."""
        i = np.arange(self.nf)
        c = self.continuum(*np.meshgrid(i, i))
        return np.bincount(c.ravel(), minlength=2) / c.size


def fine_mesh(comm, nf: int) -> "dolfinx.mesh.Mesh":
    """Unit square, nf×nf squares split along the SW–NE diagonal (spec §1.4)."""
    return dolfinx.mesh.create_unit_square(comm, nf, nf, dolfinx.mesh.CellType.triangle,
                                           diagonal=dolfinx.mesh.DiagonalType.right)


def cell_squares(msh, h: float) -> tuple[np.ndarray, np.ndarray]:
    """Global fine-square indices (ix, iy) of every local cell (owned + ghost), from the centroids
    (cell numbering is not lexicographic; centroids lie strictly inside their squares)."""
    imap = msh.topology.index_map(msh.topology.dim)
    n = imap.size_local + imap.num_ghosts
    mid = dolfinx.mesh.compute_midpoints(msh, msh.topology.dim, np.arange(n, dtype=np.int32))
    return np.floor(mid[:, 0] / h).astype(np.int64), np.floor(mid[:, 1] / h).astype(np.int64)


def dg0_function(Q, values_per_cell: np.ndarray, name: str | None = None):
    """DG0 function with the given value on every local cell (owned + ghost)."""
    f = dolfinx.fem.Function(Q, name=name)
    f.x.array[Q.dofmap.list[:, 0]] = values_per_cell
    return f


@dataclass
class MediumFields:
    """The medium on a mesh: DG0 space, per-cell continuum ids, κ and the indicators ψ_p."""

    Q: object
    ix: np.ndarray
    iy: np.ndarray
    continuum: np.ndarray  # per local cell (owned + ghost), 0-based
    kappa: object  # DG0 Function
    psi: list  # DG0 Functions, one per continuum


def medium_fields(msh, medium: Medium) -> MediumFields:
    """κ and ψ_p on a mesh whose vertices lie on the fine grid (spacing 1/nf)."""
    Q = dolfinx.fem.functionspace(msh, ("DG", 0))
    ix, iy = cell_squares(msh, medium.h)
    cont = medium.continuum(ix, iy)
    kappa = dg0_function(Q, np.asarray(medium.kappa)[cont], "kappa")
    psi = [dg0_function(Q, (cont == p).astype(float), f"psi{p + 1}") for p in range(medium.n_continua)]
    return MediumFields(Q, ix, iy, cont, kappa, psi)


def volume_fractions_on(msh, fields: MediumFields, comm=None) -> np.ndarray:
    """|Ω_p|/|Ω| integrated on the mesh (owned cells, all ranks) — a check of the DG0 indicators."""
    import ufl

    comm = msh.comm if comm is None else comm
    vals = [dolfinx.fem.assemble_scalar(dolfinx.fem.form(p * ufl.dx(domain=msh))) for p in fields.psi]
    vals = np.array(comm.allreduce(np.array(vals), op=MPI.SUM))
    return vals / vals.sum()
