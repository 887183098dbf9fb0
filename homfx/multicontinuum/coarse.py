"""The coarse multicontinuum model (online stage), spec §4.1, §4.3, and the error measure §4.4.

Unknowns U = (U_1..U_N), P1 on the M×M two-triangle coarse mesh (same SW-NE diagonal as the fine mesh),
block-wise constant (DG0) coefficients from :mod:`homfx.multicontinuum.cell`. Weak form (paper (32)/(39)):

    Σ_p Σ_{j,i} ∫ Ĉ_jip D_t^{α_p} U_i V_j + Σ_{j,i} ∫ D^{mn}_ji ∂_m U_i ∂_n V_j + Σ_{j,i} ∫ Q_ji U_i V_j
        = Σ_j ∫ f_j V_j ,

stepped with the same Sun-Wu (1 < α < 2) or L1 (0 < α < 1) scheme as the fine problem (one LU of the constant
matrix). The problem is tiny (≤ N·1681 unknowns): it is assembled and solved on COMM_SELF, identically on
every rank.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import ufl

from homfx._stack import MPI, PETSc, dolfinx
from homfx.multicontinuum.caputo import CaputoScheme, check_alphas, march
from homfx.multicontinuum.cell import D, CoarseGrid, Coefficients
from homfx.solvers import to_scipy as _scipy
from homfx.solvers import LinearSolver

BCS = ("dirichlet", "neumann")


def continuum_orders(alphas, n_continua: int) -> tuple[float, ...]:
    """One Caputo order per continuum (a scalar applies to all), validated by :mod:`caputo`."""
    a = (alphas,) * n_continua if np.isscalar(alphas) else tuple(alphas)
    if len(a) != n_continua:
        raise ValueError(f"alpha: give one order per continuum ({n_continua}), got {len(a)}")
    return check_alphas(a)[0]


def order_groups(alphas: Sequence[float]) -> list[tuple[float, list[int]]]:
    """Continua grouped by equal order: [(α, [p, ...]), ...] in order of first appearance."""
    groups: dict[float, list[int]] = {}
    for p, a in enumerate(alphas):
        groups.setdefault(a, []).append(p)
    return list(groups.items())


@dataclass
class CoarseModel:
    """Assembled coarse operators (serial PETSc matrices on COMM_SELF) and helpers."""

    grid: CoarseGrid
    n_continua: int
    mesh: object
    W: object  # blocked P1 space, component i = U_{i+1}
    K: "PETSc.Mat"  # K_D + K_Q
    masses: list  # [(α, PETSc.Mat)] one per distinct order (Σ_{p in group} Ĉ_p)
    F: np.ndarray  # Σ_j ∫ f_j V_j
    bc_dofs: np.ndarray  # Dirichlet dofs (all components on ∂Ω), empty for Neumann
    block_average: np.ndarray  # (nb*N, ndofs) dense-free sparse operator: Ū_i(K) = row (K*N+i) · U
    vertex_lattice: np.ndarray  # (n_nodes, 2) integer (ix, iy) of every coarse node
    load_operator: object  # sparse (ndofs, nb*N): F = load_operator @ f_j per block (flattened)
    timings: dict = field(default_factory=dict)

    def load(self, fj: np.ndarray) -> np.ndarray:
        """Σ_j ∫ f_j V_j for per-block values f_j (nb, N)."""
        return self.load_operator @ np.asarray(fj, float).reshape(-1)

    @property
    def ndofs(self) -> int:
        return self.W.dofmap.index_map.size_local * self.n_continua

    def interpolate_initial(self, u0: Callable | None) -> np.ndarray:
        """U_i(x_v, 0) = u0(x_v) at every coarse vertex, for every continuum (spec §4.3)."""
        U = np.zeros(self.ndofs)
        if u0 is not None:
            x = self.W.tabulate_dof_coordinates()[:, :D]
            vals = np.asarray(u0(x.T), dtype=float)
            for i in range(self.n_continua):
                U[i::self.n_continua] = vals
        U[self.bc_dofs] = 0.0
        return U

    def block_means(self, U: np.ndarray) -> np.ndarray:
        """Ū_i(K) = (1/|K|) ∫_K U_i (exact for P1), shape (nb, N)."""
        return (self.block_average @ U).reshape(self.grid.n_blocks, self.n_continua)

    def nodal(self, U: np.ndarray) -> np.ndarray:
        """U as an (M+1, M+1, N) array indexed [iy, ix, i]."""
        M, N = self.grid.M, self.n_continua
        out = np.empty((M + 1, M + 1, N))
        lat = self.vertex_lattice
        out[lat[:, 1], lat[:, 0], :] = U.reshape(-1, N)
        return out


MASSES = ("consistent", "lumped")


def assemble_coarse(coef: Coefficients, alphas: Sequence[float], source: np.ndarray | None = None,
                    bc: str = "dirichlet", mass: str = "consistent") -> CoarseModel:
    """Assemble the coarse operators of §4.3 from per-block coefficients; ``source`` = f_j per block (nb, N).

    ``mass="lumped"`` replaces Ĉ by diag(volume fractions) (the "porosity" simplification; not the paper's
    model, spec §4.2 — for comparison only)."""
    t0 = time.perf_counter()
    if bc not in BCS:
        raise ValueError(f"bc must be one of {BCS}, got {bc!r}")
    if mass not in MASSES:
        raise ValueError(f"mass must be one of {MASSES}, got {mass!r}")
    grid, N = coef.grid, coef.n_continua
    alphas = continuum_orders(alphas, N)
    M = grid.M
    if np.isnan(coef.C).any():
        raise ValueError("coefficients: some blocks have no coefficients (compute_coefficients with blocks=?)")
    cm = dolfinx.mesh.create_unit_square(MPI.COMM_SELF, M, M, dolfinx.mesh.CellType.triangle,
                                         diagonal=dolfinx.mesh.DiagonalType.right)
    tdim = cm.topology.dim
    nc = cm.topology.index_map(tdim).size_local
    cells = np.arange(nc, dtype=np.int32)
    mid = dolfinx.mesh.compute_midpoints(cm, tdim, cells)
    cblk = (np.floor(mid[:, 1] * M).astype(int) * M + np.floor(mid[:, 0] * M).astype(int))

    W = dolfinx.fem.functionspace(cm, ("Lagrange", 1, (N,)))

    def dg0(per_block: np.ndarray):
        """A DG0 vector function carrying the flattened per-block array (nb, k) on every coarse cell."""
        per_block = per_block.reshape(grid.n_blocks, -1)
        k = per_block.shape[1]
        Q = dolfinx.fem.functionspace(cm, ("DG", 0, (k,)))
        f = dolfinx.fem.Function(Q)
        dofs = Q.dofmap.list[:, 0]
        arr = f.x.array.reshape(-1, k)
        arr[dofs] = per_block[cblk]
        return f

    C, Cp = coef.C, coef.Cp
    if mass == "lumped":
        eye = np.eye(N)
        C = coef.volume_fractions[:, :, None] * eye[None]
        Cp = coef.volume_fractions[:, :, None, None] * (eye[:, :, None] * eye[:, None, :])[None]
    Cf, Qf, Df = dg0(C), dg0(coef.Q), dg0(coef.D)
    U, V = ufl.TrialFunction(W), ufl.TestFunction(W)
    ij = lambda j, i: j * N + i  # noqa: E731
    ijnm = lambda j, i, n, m: ((j * N + i) * D + n) * D + m  # noqa: E731
    aK = sum(sum(Df[ijnm(j, i, n, m)] * U[i].dx(m) * V[j].dx(n) for n in range(D) for m in range(D))
             + Qf[ij(j, i)] * U[i] * V[j] for j in range(N) for i in range(N)) * ufl.dx

    def mass_form(cfun):
        return sum(cfun[ij(j, i)] * U[i] * V[j] for j in range(N) for i in range(N)) * ufl.dx

    groups = order_groups(alphas)
    if len(groups) == 1:
        mass_forms = [(groups[0][0], mass_form(Cf))]
    else:  # mixed orders (39): Σ_{p in group} Ĉ_p for each distinct α
        mass_forms = [(a, mass_form(dg0(Cp[:, ps].sum(axis=1)))) for a, ps in groups]

    def mat(form):
        A = dolfinx.fem.petsc.assemble_matrix(dolfinx.fem.form(form))
        A.assemble()
        return A

    K = mat(aK)
    masses = [(a, mat(f)) for a, f in mass_forms]
    # load operator: F = L f with f the per-block f_j flattened as (block, j) -> exact for DG0 × P1
    import scipy.sparse as sp

    QN = dolfinx.fem.functionspace(cm, ("DG", 0, (N,)))
    q = ufl.TrialFunction(QN)
    Lc = _scipy(mat(sum(q[j] * V[j] for j in range(N)) * ufl.dx))  # (ndofs, cells*N), DG0 dof d*N + j
    cell_of_q = np.empty(nc, dtype=np.int64)
    cell_of_q[QN.dofmap.list[:, 0]] = cells
    col_block = (cblk[cell_of_q][:, None] * N + np.arange(N)[None, :]).ravel()  # qdof*N + j -> block*N + j
    agg = sp.csr_matrix((np.ones(nc * N), (np.arange(nc * N), col_block)), shape=(nc * N, grid.n_blocks * N))
    load = (Lc @ agg).tocsr()
    F = np.zeros(load.shape[0]) if source is None else load @ np.asarray(source, float).reshape(-1)

    if bc == "dirichlet":
        cm.topology.create_connectivity(tdim - 1, tdim)
        facets = dolfinx.mesh.exterior_facet_indices(cm.topology)
        nodes = dolfinx.fem.locate_dofs_topological(W, tdim - 1, facets)  # block (node) indices
        bc_dofs = (nodes[:, None] * N + np.arange(N)).ravel()
    else:
        bc_dofs = np.zeros(0, dtype=np.int64)

    # exact block means: per-cell integrals of each component, summed over the two triangles of a block
    Q0 = dolfinx.fem.functionspace(cm, ("DG", 0))
    w = ufl.TestFunction(Q0)
    import scipy.sparse as sp

    rows = []
    for i in range(N):
        Ai = _scipy(mat(U[i] * w * ufl.dx))  # (cells, ndofs)
        cell_of_dof = np.empty(nc, dtype=np.int64)
        cell_of_dof[Q0.dofmap.list[:, 0]] = cells
        S = sp.csr_matrix((np.ones(nc), (cblk[cell_of_dof], np.arange(nc))), shape=(grid.n_blocks, nc))
        rows.append(S @ Ai / grid.H ** 2)
    avg = sp.vstack(rows).tocsr()  # row i*nb + K
    perm = (np.arange(grid.n_blocks)[:, None] + grid.n_blocks * np.arange(N)[None, :]).ravel()
    avg = avg[perm]  # row K*N + i
    xyz = W.tabulate_dof_coordinates()[:, :D]
    lattice = np.rint(xyz * M).astype(np.int64)
    return CoarseModel(grid, N, cm, W, K, masses, F, bc_dofs, avg, lattice, load,
                       {"assemble": time.perf_counter() - t0})


# --------------------------------------------------------------------------------------------- error (40)


def relative_errors(coarse_means: np.ndarray, fine_means: np.ndarray) -> np.ndarray:
    """e^{(i)} = sqrt(Σ_K |Ū_i − ū_i|² / Σ_K |ū_i|²) in %, per continuum (paper (40)); inputs (nb, N)."""
    num = np.sum((coarse_means - fine_means) ** 2, axis=0)
    den = np.sum(fine_means ** 2, axis=0)
    if np.any(den == 0):
        raise ValueError("relative error undefined: the reference block averages vanish in a continuum")
    return 100.0 * np.sqrt(num / den)


# --------------------------------------------------------------------------------------------- time stepping


class CoarseOps:
    """The :class:`homfx.multicontinuum.caputo.Ops` of the coarse model: SciPy products, one MUMPS LU of
    A = Σ_p σ_p M_p^H + k K^H (serial), Dirichlet dofs eliminated by identity rows."""

    def __init__(self, model: CoarseModel, scheme: CaputoScheme):
        import scipy.sparse as sp

        if len(model.masses) != len(scheme.alphas) or any(
                abs(a - b) > 0 for (a, _), b in zip(model.masses, scheme.alphas)):
            raise ValueError(f"alpha: the scheme's orders {scheme.alphas} differ from the coarse model's "
                             f"{[a for a, _ in model.masses]}")
        self.M = [_scipy(Mp) for _, Mp in model.masses]
        self.K = _scipy(model.K)
        self.fixed = model.bc_dofs
        A = scheme.stiffness_coefficient * self.K
        for c, Mp in zip(scheme.mass_coefficients, self.M):
            A = A + c * Mp
        keep = np.ones(A.shape[0])
        keep[self.fixed] = 0.0
        A = (sp.diags(keep) @ A @ sp.diags(keep) + sp.diags(1.0 - keep)).tocsr()
        A.sort_indices()
        self.A = PETSc.Mat().createAIJ(A.shape, csr=(A.indptr.astype(PETSc.IntType),
                                                     A.indices.astype(PETSc.IntType), A.data),
                                       comm=MPI.COMM_SELF)
        self.A.assemble()
        self.solver = LinearSolver(self.A, "multicontinuum coarse model", method="lu")
        self._b, self._x = self.A.createVecRight(), self.A.createVecRight()

    def mass(self, p, x):
        return self.M[p] @ x

    def stiffness(self, x):
        return self.K @ x

    def solve(self, rhs):
        self._b.setArray(rhs)
        self.solver.solve(self._b, self._x)
        return self._x.getArray().copy()

    def constrain(self, x):
        x[self.fixed] = 0.0
        return x

    def destroy(self):
        self.solver.destroy()
        self.A.destroy()


@dataclass
class CoarseRun:
    """Coarse solutions at the requested steps and their exact block means Ū_i(K, t_n)."""

    times: np.ndarray  # (n_out,)
    steps: list
    U: dict  # step -> dof vector
    block_means: dict  # step -> (nb, N)
    seconds: float
    factor_seconds: float


def solve_coarse(model: CoarseModel, *, tau: float, T: float, u0: Callable | None = None,
                 output_steps: Sequence[int] | None = None, history: str = "exact",
                 source: Callable[[float], np.ndarray] | None = None) -> CoarseRun:
    """March the coarse model (zero initial velocity, §4.3) and keep U at ``output_steps`` (default: all).

    ``source``: optional time-dependent f_j, t ↦ (nb, N) per-block values (e.g. ``lambda t:
    coef.source(lambda x: f(x, t))``), evaluated at the scheme's source times (t_{n−1/2} for Sun–Wu);
    default: the time-independent load assembled in ``model``."""
    t0 = time.perf_counter()
    orders = [a for a, _ in model.masses]
    scheme = CaputoScheme.create(orders, tau, T)
    ops = CoarseOps(model, scheme)
    t_factor = ops.solver.timings.setup
    keep = set(range(scheme.n_steps + 1) if output_steps is None else output_steps)
    U, means = {}, {}

    def record(n, t, u):
        if n in keep:
            U[n] = u.copy()
            means[n] = model.block_means(u)

    load = model.F if source is None else (lambda t: model.load(source(t)))
    march(scheme, ops, model.interpolate_initial(u0), None, load, history=history, callback=record)
    ops.destroy()
    steps = sorted(U)
    return CoarseRun(np.array(steps) * scheme.tau, steps, U, means, time.perf_counter() - t0, t_factor)
