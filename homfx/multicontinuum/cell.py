"""Constraint cell problems of the multicontinuum method on oversampled patches (spec §3, paper (22)-(23)).

For a coarse block ω (side H = 1/M) the oversampled patch R⁺ is ω plus ``layers`` rings of blocks. On the
fine P1 space of R⁺ (the fine squares of the medium, two triangles each, SW-NE diagonal) we solve the
saddle-point system (spec §3.7)

    [ K   Bᵀ ] [ Φ ]   [ 0 ]        K = ∫ κ ∇N_a·∇N_c (UFL form)
    [ B   0  ] [ Λ ] = [ G ]        B[g=(b,j), a] = (1/|ψ_j^b|) ∫_{R^b} ψ_j^b N_a   (explicit constraint rows)

with one LU factorization and N + N·d right-hand sides: the columns of G are the average constraints (22)
(φ_i has mean δ_ij over continuum j of every block b) and the gradient constraints (23) (φ_i^m reproduces
the continuum-i block means of x_m − c_mi). The default boundary condition on ∂R⁺ is natural and the
patches are never clipped at ∂Ω (the medium is extended periodically): spec §3.6 / §8 decisions 7 and 8.

The effective coefficients of the block (spec §4.2) are integrals over ω only, divided by |ω|:
Ĉ_ji = ∫_ω φ_iφ_j, Ĉ_jip = ∫_ω ψ_p φ_iφ_j, Q_ji = ∫_ω κ∇φ_i·∇φ_j, D^{mn}_ji = ∫_ω κ∇φ_i^m·∇φ_j^n.

Blocks are distributed round-robin over the ranks; every patch is a serial mesh on COMM_SELF. Blocks whose
patch has the same material pattern (relative to the block origin) share one solve (periodic media: one
solve per (medium, H)); the source f_j = (1/|ω|)∫_ω f φ_j is evaluated at each block's own position by
translating the representative's weights.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import scipy.sparse as sp
import ufl

from homfx._stack import MPI, PETSc, dolfinx
from homfx.progress import progress
from homfx.solvers import LinearSolver, saddle_point_matrix, to_scipy

D = 2  # space dimension of the paper's experiments


def default_layers(H: float) -> int:
    """Oversampling layers l = ⌈−2 ln H⌉ (paper, ref. [24]): 6 for H = 1/20, 8 for H = 1/40."""
    return math.ceil(-2.0 * math.log(H))


# --------------------------------------------------------------------------------------------- geometry


@dataclass(frozen=True)
class CoarseGrid:
    """M×M coarse blocks on the unit square, aligned with the nf×nf fine squares (nf/M per block side)."""

    M: int
    nf: int

    def __post_init__(self):
        if self.M <= 0 or self.nf <= 0:
            raise ValueError(f"H: the coarse grid needs M >= 1 blocks (H = 1/M), got M = {self.M}")
        if self.nf % self.M:
            raise ValueError(f"H = 1/{self.M} does not divide the domain into whole fine cells "
                             f"(fine grid {self.nf}x{self.nf}): choose M dividing {self.nf}")

    @property
    def H(self) -> float:
        return 1.0 / self.M

    @property
    def h(self) -> float:
        return 1.0 / self.nf

    @property
    def cpb(self) -> int:
        """Fine squares per block side."""
        return self.nf // self.M

    @property
    def n_blocks(self) -> int:
        return self.M * self.M

    def block_of(self, b: int) -> tuple[int, int]:
        """(bx, by) of block b = by*M + bx."""
        return b % self.M, b // self.M


@dataclass(frozen=True)
class Patch:
    """Oversampled region R⁺ of block (bx, by): blocks [x0, x0+nx) × [y0, y0+ny) (block units)."""

    bx: int
    by: int
    x0: int
    y0: int
    nx: int
    ny: int

    @property
    def target(self) -> int:
        """Local index of the target block ω inside the patch (row-major, x fastest)."""
        return (self.by - self.y0) * self.nx + (self.bx - self.x0)


def make_patch(grid: CoarseGrid, bx: int, by: int, layers: int, boundary_blocks: str = "unclipped") -> Patch:
    """R⁺ of block (bx, by): the (2l+1)² patch centred at ω (``unclipped``, default) or its part inside Ω."""
    if layers < 0:
        raise ValueError(f"layers: the number of oversampling layers must be >= 0, got {layers}")
    if boundary_blocks == "unclipped":
        return Patch(bx, by, bx - layers, by - layers, 2 * layers + 1, 2 * layers + 1)
    if boundary_blocks == "clipped":
        x0, y0 = max(0, bx - layers), max(0, by - layers)
        x1, y1 = min(grid.M, bx + layers + 1), min(grid.M, by + layers + 1)
        return Patch(bx, by, x0, y0, x1 - x0, y1 - y0)
    raise ValueError(f"boundary_blocks must be 'unclipped' or 'clipped', got {boundary_blocks!r}")


EXTENSIONS = ("periodic", "reflect")


def fold_index(i: np.ndarray, nf: int, extension: str = "periodic") -> np.ndarray:
    """Fine-square index inside [0, nf) of square i of the medium extended beyond Ω (spec §3.6): periodic
    (i mod nf; the paper's media) or even reflection across ∂Ω (general media; squares mirror squares)."""
    i = np.asarray(i)
    if extension == "periodic":
        return np.mod(i, nf)
    if extension == "reflect":
        j = np.mod(i, 2 * nf)
        return np.where(j < nf, j, 2 * nf - 1 - j)
    raise ValueError(f"extension must be one of {EXTENSIONS}, got {extension!r}")


def continuum_of_squares(medium, ix: np.ndarray, iy: np.ndarray, extension: str = "periodic") -> np.ndarray:
    """0-based continuum id of fine squares (ix, iy), the medium extended outside Ω by ``extension``."""
    nf = medium.nf
    return np.asarray(medium.continuum(fold_index(ix, nf, extension), fold_index(iy, nf, extension)),
                      dtype=np.int32)


def domain_pattern(medium) -> np.ndarray:
    """The nf × nf array [iy, ix] of continuum ids of all fine squares of Ω."""
    IX, IY = np.meshgrid(np.arange(medium.nf), np.arange(medium.nf))
    return continuum_of_squares(medium, IX, IY)


def patch_pattern(medium, grid: CoarseGrid, patch: Patch, pattern: np.ndarray | None = None,
                  extension: str = "periodic") -> np.ndarray:
    """The (ny·cpb) × (nx·cpb) array of continuum ids of the fine squares of the patch (``pattern``: the
    precomputed :func:`domain_pattern`, extended by ``extension``)."""
    pattern = domain_pattern(medium) if pattern is None else pattern
    c, nf = grid.cpb, medium.nf
    ix = fold_index(np.arange(patch.x0 * c, (patch.x0 + patch.nx) * c), nf, extension)
    iy = fold_index(np.arange(patch.y0 * c, (patch.y0 + patch.ny) * c), nf, extension)
    return pattern[np.ix_(iy, ix)]


# --------------------------------------------------------------------------------------------- options


CELL_BCS = ("natural", "dirichlet_interior")


@dataclass(frozen=True)
class CellOptions:
    """Choices of spec §3.6 (defaults reproduce the paper) and the cache of equal patches (§7.3)."""

    layers: int | None = None  # None: ⌈−2 ln H⌉
    cell_bc: str = "natural"  # or "dirichlet_interior": φ = 0 on ∂R⁺ \ ∂Ω
    boundary_blocks: str = "unclipped"  # or "clipped"
    extension: str = "periodic"  # medium outside Ω for unclipped patches, or "reflect" (untested recon §3.6)
    cache: bool = True  # reuse the solve of blocks with the same patch pattern

    def __post_init__(self):
        if self.layers is not None and self.layers < 0:
            raise ValueError(f"layers: the number of oversampling layers must be >= 0, got {self.layers}")
        if self.cell_bc not in CELL_BCS:
            raise ValueError(f"cell_bc must be one of {CELL_BCS}, got {self.cell_bc!r}")
        if self.boundary_blocks not in ("unclipped", "clipped"):
            raise ValueError(f"boundary_blocks must be 'unclipped' or 'clipped', got {self.boundary_blocks!r}")
        if self.extension not in EXTENSIONS:
            raise ValueError(f"extension must be one of {EXTENSIONS}, got {self.extension!r}")

    def n_layers(self, grid: CoarseGrid) -> int:
        return default_layers(grid.H) if self.layers is None else self.layers


# --------------------------------------------------------------------------------------------- results


@dataclass
class BlockResult:
    """Everything one cell solve gives for its target block ω (translation invariant: coordinates are relative
    to ω's lower-left corner). ``phi`` columns: φ_1..φ_N, then φ_i^m at N + d·i + m."""

    C: np.ndarray  # (N, N)      Ĉ[j, i]
    Cp: np.ndarray  # (N, N, N)  Ĉ_p[p, j, i]
    Q: np.ndarray  # (N, N)      Q[j, i]
    D: np.ndarray  # (N, N, d, d) D[j, i, n, m]
    volume_fractions: np.ndarray  # (N,) |ω∩Ω_j|/|ω|
    centroids: np.ndarray  # (N, d) c_mj relative to ω's corner
    coords: np.ndarray  # (n_ω, d) fine vertices of ω relative to its corner
    mass_phi: np.ndarray  # (n_ω, N) rows of M_ω Φ_j at those vertices (source weights, §4.2)
    phi: np.ndarray  # (n_ω, N + N d) cell solutions at those vertices (downscaling, §4.5)
    constraint_residual: float  # ‖BΦ − G‖∞
    partition_of_unity: float  # max |Σ_i φ_i − 1| on R⁺ (meaningful for the natural BC)
    dofs: int
    constraints: int
    seconds: float

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("C", "Cp", "Q", "D", "volume_fractions", "centroids",
                                               "constraint_residual", "partition_of_unity", "dofs",
                                               "constraints", "seconds")}


@dataclass
class LocalCellSolution:
    """The full cell solution on R⁺ (for plots and tests); ``functions`` = dolfinx P1 functions."""

    mesh: object
    V: object
    Phi: np.ndarray  # (n_V, N + N d)
    functions: dict  # name -> Function ("phi_1", "phi_1^1", ...)
    kappa: object  # DG0 function
    continuum: object  # DG0 function (1-based continuum id)
    result: BlockResult


# --------------------------------------------------------------------------------------------- one block


def _dg0(Q, values_per_cell: np.ndarray):
    f = dolfinx.fem.Function(Q)
    f.x.array[Q.dofmap.list[:, 0]] = values_per_cell
    return f


def solve_block(medium, grid: CoarseGrid, bx: int, by: int, options: CellOptions = CellOptions(),
                keep_functions: bool = False):
    """Solve both kinds of constraint cell problems of block (bx, by) on COMM_SELF.

    Returns a :class:`BlockResult` (or a :class:`LocalCellSolution` with ``keep_functions=True``)."""
    t_start = time.perf_counter()
    N = medium.n_continua
    kappa_of = np.asarray(medium.kappa, dtype=float)
    if len(kappa_of) != N or not np.all(kappa_of > 0):
        raise ValueError(f"contrast: the conductivities of the {N} continua must be positive, got {kappa_of}")
    layers = options.n_layers(grid)
    patch = make_patch(grid, bx, by, layers, options.boundary_blocks)
    h, H, cpb = grid.h, grid.H, grid.cpb

    lo = np.array([patch.x0 * H, patch.y0 * H])
    hi = np.array([(patch.x0 + patch.nx) * H, (patch.y0 + patch.ny) * H])
    msh = dolfinx.mesh.create_rectangle(MPI.COMM_SELF, [lo, hi], [patch.nx * cpb, patch.ny * cpb],
                                        dolfinx.mesh.CellType.triangle,
                                        diagonal=dolfinx.mesh.DiagonalType.right)
    tdim = msh.topology.dim
    nc = msh.topology.index_map(tdim).size_local
    cells = np.arange(nc, dtype=np.int32)
    mid = dolfinx.mesh.compute_midpoints(msh, tdim, cells)
    # global fine-square indices from centroids (cell numbering is not lexicographic)
    ix = np.floor(mid[:, 0] / h).astype(np.int64)
    iy = np.floor(mid[:, 1] / h).astype(np.int64)
    cont = continuum_of_squares(medium, ix, iy, options.extension)
    if cont.min() < 0 or cont.max() >= N:
        raise ValueError(f"medium: continuum ids must lie in 0..{N - 1}, got {cont.min()}..{cont.max()}")
    blk = (iy // cpb - patch.y0) * patch.nx + (ix // cpb - patch.x0)
    b0 = patch.target

    V = dolfinx.fem.functionspace(msh, ("Lagrange", 1))
    Q0 = dolfinx.fem.functionspace(msh, ("DG", 0))
    kappa = _dg0(Q0, kappa_of[cont])
    psi = [_dg0(Q0, (cont == p).astype(float)) for p in range(N)]
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    q, w = ufl.TrialFunction(Q0), ufl.TestFunction(Q0)
    x = ufl.SpatialCoordinate(msh)

    def mat(form):
        A = dolfinx.fem.petsc.assemble_matrix(dolfinx.fem.form(form))
        A.assemble()
        S = to_scipy(A)
        A.destroy()
        return S

    def vec(form):
        b = dolfinx.fem.petsc.assemble_vector(dolfinx.fem.form(form))
        arr = b.getArray().copy()
        b.destroy()
        return arr

    # --- the form and the explicit constraint rows (spec §3.7)
    K = mat(kappa * ufl.inner(ufl.grad(u), ufl.grad(v)) * ufl.dx)
    Bm = mat(q * v * ufl.dx)  # (n_V x cells): ∫_T N_a (DG0 dof order)
    area = vec(w * ufl.dx)
    moment = [vec(x[m] * w * ufl.dx) for m in range(D)]
    dof_cell = np.empty(nc, dtype=np.int64)
    dof_cell[Q0.dofmap.list[:, 0]] = cells  # DG0 dof -> cell
    group = (blk * N + cont)[dof_cell]
    n_groups = patch.nx * patch.ny * N
    S = sp.csr_matrix((np.ones(nc), (group, np.arange(nc))), shape=(n_groups, nc))
    vol = S @ area
    valid = vol > 1e-14 * h * h  # a continuum absent from a block: its constraint is dropped (§3.2)
    safe = np.where(valid, vol, 1.0)
    B = (sp.diags(1.0 / safe) @ (S @ Bm.T).tocsr())[valid]
    centre = np.column_stack([(S @ moment[m]) / safe for m in range(D)])[valid]
    gid = np.flatnonzero(valid)
    jg, bg = gid % N, gid // N
    target_vol = vol[b0 * N: b0 * N + N]
    if np.any(target_vol <= 1e-14 * h * h):
        missing = [j + 1 for j in range(N) if target_vol[j] <= 1e-14 * h * h]
        raise ValueError(f"medium: continuum {missing} is absent from block ({bx}, {by}); U_j is undefined there")
    c_mj = np.array([centre[(bg == b0) & (jg == j)][0] for j in range(N)])  # centroid of Ω_j ∩ ω

    n_rhs = N + N * D
    G = np.zeros((len(gid), n_rhs))
    for i in range(N):
        G[:, i] = jg == i
        for m in range(D):
            G[:, N + D * i + m] = np.where(jg == i, centre[:, m] - c_mj[i, m], 0.0)

    if options.cell_bc == "dirichlet_interior":
        K, B = _dirichlet_interior(V, msh, K, B)

    # --- one factorization, N + N d solves
    A = saddle_point_matrix(K, B)
    solver = LinearSolver(A, f"multicontinuum cell problem, block ({bx}, {by})", method="lu")
    nV = K.shape[0]
    rhs, sol = A.createVecRight(), A.createVecRight()
    Phi = np.empty((nV, n_rhs))
    for k in range(n_rhs):
        r = np.zeros(A.getSize()[0])
        r[nV:] = G[:, k]
        rhs.setArray(r)
        solver.solve(rhs, sol)
        Phi[:, k] = sol.getArray()[:nV]
    solver.destroy()
    A.destroy()
    rhs.destroy()
    sol.destroy()

    residual = float(np.max(np.abs(B @ Phi - G))) if len(gid) else 0.0
    pou = float(np.max(np.abs(Phi[:, :N].sum(axis=1) - 1.0)))

    # --- coefficients: integrals over the target block ω only (§4.2)
    target_cells = np.sort(cells[blk == b0]).astype(np.int32)
    dxw = ufl.Measure("dx", domain=msh, subdomain_data=[(1, target_cells)])
    Kw = mat(kappa * ufl.inner(ufl.grad(u), ufl.grad(v)) * dxw(1))
    Mw = mat(u * v * dxw(1))
    Mwp = [mat(psi[p] * u * v * dxw(1)) for p in range(N)]
    omega = H * H
    ph, phm = Phi[:, :N], Phi[:, N:].reshape(nV, N, D)
    C = ph.T @ (Mw @ ph) / omega
    Cp = np.array([ph.T @ (Mp @ ph) for Mp in Mwp]) / omega
    Qx = ph.T @ (Kw @ ph) / omega
    Kphm = (Kw @ Phi[:, N:]).reshape(nV, N, D)
    Dx = np.einsum("ajn,aim->jinm", phm, Kphm) / omega  # D[j, i, n, m] = ∫_ω κ∇φ_i^m·∇φ_j^n / |ω|

    wdofs = np.unique(V.dofmap.list[target_cells].ravel())
    origin = np.array([bx * H, by * H])
    xyz = V.tabulate_dof_coordinates()[:, :D]
    result = BlockResult(
        C=C, Cp=Cp, Q=Qx, D=Dx, volume_fractions=target_vol / omega, centroids=c_mj - origin,
        coords=xyz[wdofs] - origin, mass_phi=(Mw @ ph)[wdofs], phi=Phi[wdofs].copy(),
        constraint_residual=residual, partition_of_unity=pou, dofs=nV, constraints=len(gid),
        seconds=time.perf_counter() - t_start)
    if not keep_functions:
        return result
    funcs = {}
    names = [f"phi_{i + 1}" for i in range(N)] + [f"phi_{i + 1}^{m + 1}" for i in range(N) for m in range(D)]
    for k, name in enumerate(names):
        f = dolfinx.fem.Function(V, name=name)
        f.x.array[:] = Phi[:, k]
        funcs[name] = f
    cont_f = _dg0(Q0, cont + 1.0)
    cont_f.name = "continuum"
    kappa.name = "kappa"
    return LocalCellSolution(msh, V, Phi, funcs, kappa, cont_f, result)


def _dirichlet_interior(V, msh, K: sp.csr_matrix, B: sp.csr_matrix):
    """φ = 0 on ∂R⁺ \\ ∂Ω (option of §3.6): identity rows/columns in K, zero columns in B."""
    xyz = V.tabulate_dof_coordinates()[:, :D]
    lo, hi = xyz.min(axis=0), xyz.max(axis=0)
    tol = 1e-10
    on_patch = np.any((np.abs(xyz - lo) < tol) | (np.abs(xyz - hi) < tol), axis=1)
    inside = np.all((xyz > -tol) & (xyz < 1 + tol), axis=1)
    on_omega = inside & np.any((np.abs(xyz) < tol) | (np.abs(xyz - 1) < tol), axis=1)
    fixed = np.flatnonzero(on_patch & ~on_omega)
    keep = np.ones(K.shape[0])
    keep[fixed] = 0.0
    Dk = sp.diags(keep)
    K = (Dk @ K @ Dk + sp.diags(1.0 - keep)).tocsr()
    B = (B @ Dk).tocsr()
    return K, B


# --------------------------------------------------------------------------------------------- all blocks


@dataclass
class Coefficients:
    """Per-block effective coefficients of the coarse model (block b = by*M + bx), spec §4.2."""

    grid: CoarseGrid
    options: CellOptions
    layers: int
    C: np.ndarray  # (nb, N, N)
    Cp: np.ndarray  # (nb, N, N, N)  [b, p, j, i]
    Q: np.ndarray  # (nb, N, N)
    D: np.ndarray  # (nb, N, N, d, d) [b, j, i, n, m]
    volume_fractions: np.ndarray  # (nb, N)
    representative: np.ndarray  # (nb,) index into ``records``
    records: list  # unique BlockResult's
    timings: dict = field(default_factory=dict)

    @property
    def n_continua(self) -> int:
        return self.C.shape[1]

    def record(self, b: int) -> BlockResult:
        return self.records[self.representative[b]]

    def block_origin(self, b: int) -> np.ndarray:
        bx, by = self.grid.block_of(b)
        return np.array([bx, by], dtype=float) * self.grid.H

    def source(self, f: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """f_j(ω) = (1/|ω|) ∫_ω f φ_j with f interpolated in fine P1 (spec §4.2); returns (nb, N).

        ``f(x)`` takes x of shape (d, n) (like dolfinx interpolation) and returns n values."""
        out = np.empty((self.grid.n_blocks, self.n_continua))
        omega = self.grid.H ** 2
        for b in range(self.grid.n_blocks):
            rec = self.record(b)
            xa = rec.coords + self.block_origin(b)
            out[b] = np.asarray(f(xa.T), dtype=float) @ rec.mass_phi / omega
        return out

    def summary(self) -> dict:
        """Coefficients of the first block and the spread over blocks (JSON-friendly)."""
        r = self.records[self.representative[0]]
        return {"M": self.grid.M, "layers": self.layers, "cell_bc": self.options.cell_bc,
                "boundary_blocks": self.options.boundary_blocks, "unique_cell_solves": len(self.records),
                "block0": r.as_dict(),
                "spread": {k: float(np.ptp(getattr(self, k), axis=0).max()) for k in ("C", "Q", "D")},
                "timings": self.timings}


def pattern_key(medium, grid: CoarseGrid, patch: Patch, options: CellOptions,
                pattern: np.ndarray | None = None) -> str:
    """Cache key: equal keys ⇒ identical cell problems up to a translation (spec §7.3)."""
    pat = patch_pattern(medium, grid, patch, pattern, options.extension)
    h = hashlib.sha1(np.ascontiguousarray(pat).tobytes())
    h.update(np.array([patch.nx, patch.ny, patch.bx - patch.x0, patch.by - patch.y0], np.int64).tobytes())
    h.update(np.asarray(medium.kappa, dtype=float).tobytes())
    touches = patch.x0 <= 0 or patch.y0 <= 0 or patch.x0 + patch.nx >= grid.M or patch.y0 + patch.ny >= grid.M
    if options.cell_bc == "dirichlet_interior" and touches:
        h.update(np.array([patch.x0, patch.y0], np.int64).tobytes())  # where ∂Ω cuts the patch matters
    return h.hexdigest()


def compute_coefficients(medium, M: int, options: CellOptions = CellOptions(), comm=None,
                         blocks: Sequence[int] | None = None) -> Coefficients:
    """Solve the cell problems of all blocks (or of ``blocks``; the others reuse equal patterns) and gather the
    per-block coefficients on every rank. Unique patterns are distributed round-robin over the ranks of
    ``comm`` (default COMM_WORLD); each solve is serial (COMM_SELF)."""
    comm = MPI.COMM_WORLD if comm is None else comm
    t0 = time.perf_counter()
    grid = CoarseGrid(M, medium.nf)
    layers = options.n_layers(grid)
    todo = range(grid.n_blocks) if blocks is None else list(blocks)
    keys: dict[str, int] = {}
    rep_block: list[int] = []
    representative = np.full(grid.n_blocks, -1, dtype=np.int64)
    pattern = domain_pattern(medium) if options.cache else None
    for b in todo:
        bx, by = grid.block_of(b)
        patch = make_patch(grid, bx, by, layers, options.boundary_blocks)
        key = pattern_key(medium, grid, patch, options, pattern) if options.cache else f"block{b}"
        if key not in keys:
            keys[key] = len(rep_block)
            rep_block.append(b)
        representative[b] = keys[key]
    t_keys = time.perf_counter() - t0

    mine = [k for k in range(len(rep_block)) if k % comm.size == comm.rank]
    local = {}
    t1 = time.perf_counter()
    for k in progress(mine, desc=f"cell problems H=1/{M}", comm=comm):
        bx, by = grid.block_of(rep_block[k])
        local[k] = solve_block(medium, grid, bx, by, options)
    t_solve = time.perf_counter() - t1
    gathered = comm.allgather(local)
    records = [None] * len(rep_block)
    for part in gathered:
        for k, r in part.items():
            records[k] = r
    N = records[0].C.shape[0]
    nb = grid.n_blocks
    C, Cp = np.full((nb, N, N), np.nan), np.full((nb, N, N, N), np.nan)
    Qx, Dx = np.full((nb, N, N), np.nan), np.full((nb, N, N, D, D), np.nan)
    vf = np.full((nb, N), np.nan)
    for b in range(nb):
        if representative[b] < 0:
            continue
        r = records[representative[b]]
        C[b], Cp[b], Qx[b], Dx[b], vf[b] = r.C, r.Cp, r.Q, r.D, r.volume_fractions
    timings = {"keys": t_keys, "cell_solves_local": t_solve,
               "cell_solves_max_rank": comm.allreduce(t_solve, op=MPI.MAX),
               "unique_solves": len(rep_block), "offline_total": None}
    timings["offline_total"] = comm.allreduce(time.perf_counter() - t0, op=MPI.MAX)
    return Coefficients(grid, options, layers, C, Cp, Qx, Dx, vf, representative, records, timings)
