"""Fine-scale solver of the time-fractional diffusion-wave equation (spec §1–§2; paper (1)-(5), (33)-(34)).

    Σ_p ψ_p D_t^{α_p} u − ∇·(κ∇u) = f  in Ω × (0, T],  u(0) = u0,  u'(0) = v0 (α > 1),
    u = 0 (Example 1, ``bc="dirichlet"``) or κ∂u/∂n = 0 (Example 2, ``bc="neumann"``) on ∂Ω.

P1 on the nf×nf two-triangle grid; K = ∫κ∇N_a·∇N_b, M_p = ∫ψ_p N_a N_b (consistent), F = M I_h f,
u^0 = I_h u0 (spec §1.4). Time stepping: Sun–Wu (1 < α_p < 2, order 3 − α) or L1 (0 < α_p < 1, order 2 − α),
see :mod:`homfx.multicontinuum.caputo`; one factorization of the constant operator A for all steps.

Two layers:

* :class:`CaputoStepper` — the time stepper for *any* assembled PETSc matrices (per-order mass matrices
  M_p, stiffness K) with optional homogeneous Dirichlet rows. The coarse multicontinuum model uses it with
  its coupled (M^H_p, K^H) system.
* :func:`solve_fine` — the paper's fine reference: medium, source, initial data, BCs from a
  :class:`FineProblem`, output: continuum averages per coarse block (spec §4.4) at every time step.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import ufl

from homfx._stack import MPI, PETSc, dolfinx
from homfx.forms import assemble_linear
from homfx.multicontinuum.caputo import HISTORIES, CaputoScheme, march
from homfx.multicontinuum.media import Medium, fine_mesh, medium_fields
from homfx.progress import progress
from homfx.solvers import LinearSolver

# ------------------------------------------------------------------------------------- generic stepper


def _local(x, n: int, name: str) -> np.ndarray:
    """Owned part of a PETSc Vec / dolfinx Function, or a NumPy array of the owned size."""
    if x is None:
        return None
    if isinstance(x, dolfinx.fem.Function):
        x = x.x.array[:n]
    elif isinstance(x, PETSc.Vec):
        x = x.getArray(readonly=True)
    x = np.array(x, dtype=float, copy=True).ravel()
    if x.size != n:
        raise ValueError(f"{name}: expected {n} local (owned) entries, got {x.size}")
    return x


class CaputoStepper:
    """Σ_p M_p D_t^{α_p} u + K u = F(t) for assembled PETSc matrices; factor A once, step N_t = T/τ times.

    ``masses``: one PETSc matrix per order (``alphas`` of the same length; the single-order case is one
    pair). All orders in (1, 2) → Sun–Wu; all in (0, 1) → L1. ``dirichlet``: local indices (into the owned
    part of the vectors) of rows with u = 0 (homogeneous Dirichlet; eliminated symmetrically).
    ``history``: ``"exact"`` (default, O(n) per step) or ``"soe"`` (sum of exponentials, tolerance ``soe_tol``).
    """

    def __init__(self, masses: Sequence["PETSc.Mat"], alphas, K: "PETSc.Mat", *, tau: float, T: float,
                 dirichlet=None, history: str = "exact", soe_tol: float = 1e-10, name: str = "caputo",
                 method: str = "lu"):
        if np.isscalar(alphas):
            alphas = (alphas,)
        self.scheme = CaputoScheme.create(alphas, tau, T)
        if len(masses) != len(self.scheme.alphas):
            raise ValueError(f"masses: one mass matrix per order needed, got {len(masses)} for "
                             f"{len(self.scheme.alphas)} orders")
        if history not in HISTORIES:
            raise ValueError(f"history must be one of {HISTORIES}, got {history!r}")
        self.history, self.soe_tol, self.name = history, soe_tol, name
        self.masses, self.K = list(masses), K
        self.comm = K.comm
        t0 = time.perf_counter()
        A = K.copy()
        A.scale(self.scheme.stiffness_coefficient)
        for c, Mp in zip(self.scheme.mass_coefficients, self.masses):
            A.axpy(float(c), Mp, structure=PETSc.Mat.Structure.DIFFERENT_NONZERO_PATTERN)
        self.n_local = A.getLocalSize()[0]
        self.dirichlet = (np.zeros(0, dtype=np.int64) if dirichlet is None
                          else np.unique(np.asarray(dirichlet, dtype=np.int64)))
        if self.dirichlet.size and (self.dirichlet.min() < 0 or self.dirichlet.max() >= self.n_local):
            raise ValueError(f"dirichlet: local row indices must lie in [0, {self.n_local})")
        rstart = A.getOwnershipRange()[0]
        A.zeroRowsColumns((self.dirichlet + rstart).astype(PETSc.IntType), diag=1.0)
        self.A = A
        self.solver = LinearSolver(A, f"{name} (A = sum_p sigma_p M_p + k K)", method=method)
        self.timings = {"operator": time.perf_counter() - t0, "factorization": self.solver.timings.setup}
        self._x, self._y = A.createVecRight(), A.createVecLeft()

    # --- the Ops protocol of caputo.march on owned NumPy arrays
    def _apply(self, mat, x):
        self._x.setArray(x)
        mat.mult(self._x, self._y)
        return self._y.getArray(readonly=True).copy()

    def mass(self, p, x):
        return self._apply(self.masses[p], x)

    def stiffness(self, x):
        return self._apply(self.K, x)

    def solve(self, rhs):
        self._y.setArray(rhs)
        self.solver.solve(self._y, self._x)
        return self._x.getArray(readonly=True).copy()

    def constrain(self, x):
        x[self.dirichlet] = 0.0
        return x

    def run(self, u0, v0=None, source=None, *, callback=None, show_progress: bool = True,
            desc: str | None = None) -> np.ndarray:
        """Step from u0 (v0: initial velocity, Sun–Wu only) to T; returns the owned part of u^{N_t}.

        ``source``: None, a constant right-hand side (PETSc Vec or owned array: the *assembled* F), or a
        callable ``F(t)`` returning one (evaluated at t_{n−1/2} for Sun–Wu, t_n for L1).
        ``callback(n, t_n, u_owned)`` for n = 0..N_t. Dirichlet entries of u0, v0, F are set to 0.
        """
        n = self.n_local
        src = source
        if source is not None and not callable(source):
            src = _local(source, n, "source")
        elif callable(source):
            src = lambda t: _local(source(t), n, "source(t)")  # noqa: E731
        steps = None
        if show_progress:
            steps = lambda it: progress(it, total=self.scheme.n_steps, desc=desc or self.name,  # noqa: E731
                                        comm=self.comm)
        t0 = time.perf_counter()
        u = march(self.scheme, self, _local(u0, n, "u0"), _local(v0, n, "v0"), src, history=self.history,
                  soe_tol=self.soe_tol, callback=callback, steps=steps)
        self.timings["stepping"] = time.perf_counter() - t0
        return u

    def destroy(self):
        self.solver.destroy()
        self.A.destroy()


# ------------------------------------------------------------------------------------- fine problem


def gaussian(x, amplitude: float = 1.0):
    """The paper's source exp(−40|x − (0.5, 0.5)|²) (spec §5.1), times ``amplitude``."""
    return amplitude * np.exp(-40.0 * ((x[0] - 0.5) ** 2 + (x[1] - 0.5) ** 2))


BCS = ("dirichlet", "neumann")


@dataclass(frozen=True)
class FineProblem:
    """One fine reference computation (defaults: spec §9; presets :data:`PRESETS`).

    ``alpha``: one order, or one per continuum (α₁ for Ω₁ = low κ, α₂ for Ω₂ = high κ), paper (33).
    ``u0``: ``"zero"``, ``"gaussian"`` (0.5·exp(−40r²), Example 2) or a callable x ↦ values.
    ``v0``: ``"zero"`` or a callable (Sun–Wu only). ``source``: ``"gaussian"``, ``"zero"`` or a callable
    x ↦ values (time-independent), or x, t ↦ values when ``source_depends_on_time``.
    """

    medium: Medium = field(default_factory=Medium)
    alpha: float | tuple = 1.5
    tau: float = 0.02
    T: float = 1.0
    bc: str = "dirichlet"
    u0: object = "zero"
    v0: object = "zero"
    source: object = "gaussian"
    source_depends_on_time: bool = False
    history: str = "exact"
    soe_tol: float = 1e-10

    def __post_init__(self):
        if self.bc not in BCS:
            raise ValueError(f"bc: must be one of {BCS}, got {self.bc!r}")
        if self.history not in HISTORIES:
            raise ValueError(f"history: must be one of {HISTORIES}, got {self.history!r}")
        self.scheme  # validates alpha, tau, T

    @property
    def alphas(self) -> tuple[float, ...]:
        """Order per continuum (length N)."""
        a = (self.alpha,) * self.medium.n_continua if np.isscalar(self.alpha) else tuple(self.alpha)
        if len(a) != self.medium.n_continua:
            raise ValueError(f"alpha: give one order or one per continuum ({self.medium.n_continua}), got {a}")
        return a

    @property
    def scheme(self) -> CaputoScheme:
        return CaputoScheme.create(self.alphas, self.tau, self.T)

    @property
    def single_order(self) -> bool:
        return len(set(self.alphas)) == 1


# Experiments of spec §5.3 (the fine part): medium, BC, orders, initial value.
PRESETS = {
    "E1.1a": dict(kind="crossed", bc="dirichlet", alpha=1.1, u0="zero"),
    "E1.1b": dict(kind="crossed", bc="dirichlet", alpha=1.5, u0="zero"),
    "E1.1c": dict(kind="crossed", bc="dirichlet", alpha=1.9, u0="zero"),
    "E1.2": dict(kind="crossed", bc="dirichlet", alpha=(1.1, 1.9), u0="zero"),
    "E2.1": dict(kind="layered", bc="neumann", alpha=1.2, u0="gaussian"),
    "E2.2": dict(kind="layered", bc="neumann", alpha=(1.1, 1.9), u0="gaussian"),
}


def preset(name: str, **overrides) -> FineProblem:
    """The fine problem of experiment ``name`` (E1.1a … E2.2); ``overrides``: medium fields or FineProblem fields."""
    if name not in PRESETS:
        raise ValueError(f"experiment: unknown {name!r}, choose from {sorted(PRESETS)}")
    p = dict(PRESETS[name])
    med = {"kind": p.pop("kind")}
    med.update({k: overrides.pop(k) for k in list(overrides) if k in Medium.__dataclass_fields__})
    p.update(overrides)
    return FineProblem(medium=Medium(**med), **p)


class FineDiscretization:
    """Mesh, P1 space, medium fields and the assembled K, M_p (per continuum) and M = Σ_p M_p."""

    def __init__(self, medium: Medium, comm=None):
        comm = MPI.COMM_WORLD if comm is None else comm
        t0 = time.perf_counter()
        self.medium, self.comm = medium, comm
        self.mesh = fine_mesh(comm, medium.nf)
        self.V = dolfinx.fem.functionspace(self.mesh, ("Lagrange", 1))
        self.fields = medium_fields(self.mesh, medium)
        u, v = ufl.TrialFunction(self.V), ufl.TestFunction(self.V)
        self.K = self._mat(self.fields.kappa * ufl.inner(ufl.grad(u), ufl.grad(v)) * ufl.dx)
        self.masses = [self._mat(psi * u * v * ufl.dx) for psi in self.fields.psi]
        self.M = self._mat(u * v * ufl.dx)
        self.n_local = self.V.dofmap.index_map.size_local
        self.timings = {"assembly": time.perf_counter() - t0}

    @staticmethod
    def _mat(a):
        A = dolfinx.fem.petsc.assemble_matrix(dolfinx.fem.form(a))
        A.assemble()
        return A

    def boundary_dofs(self) -> np.ndarray:
        """Owned P1 dofs on ∂Ω (local indices)."""
        tdim = self.mesh.topology.dim
        self.mesh.topology.create_connectivity(tdim - 1, tdim)
        facets = dolfinx.mesh.exterior_facet_indices(self.mesh.topology)
        dofs = dolfinx.fem.locate_dofs_topological(self.V, tdim - 1, facets)
        return dofs[dofs < self.n_local]

    def interpolate(self, f) -> np.ndarray:
        """Owned values of I_h f (f: x ↦ values)."""
        g = dolfinx.fem.Function(self.V)
        g.interpolate(f)
        return g.x.array[: self.n_local].copy()

    def apply(self, A, x: np.ndarray) -> np.ndarray:
        xv, yv = A.createVecRight(), A.createVecLeft()
        xv.setArray(x)
        A.mult(xv, yv)
        out = yv.getArray(readonly=True).copy()
        xv.destroy(), yv.destroy()
        return out

    def function(self, owned: np.ndarray, name: str = "u") -> "dolfinx.fem.Function":
        """A P1 Function with the given owned values (ghosts updated)."""
        f = dolfinx.fem.Function(self.V, name=name)
        f.x.array[: self.n_local] = owned
        f.x.scatter_forward()
        return f

    def stepper(self, alphas, *, tau, T, bc="dirichlet", history="exact", soe_tol=1e-10, name="fine"):
        """A :class:`CaputoStepper` for this discretization: one mass matrix if all α_p are equal."""
        alphas = tuple(alphas) if not np.isscalar(alphas) else (alphas,) * self.medium.n_continua
        if len(set(alphas)) == 1:
            masses, orders = [self.M], (alphas[0],)
        else:
            masses, orders = self.masses, alphas
        return CaputoStepper(masses, orders, self.K, tau=tau, T=T, history=history, soe_tol=soe_tol, name=name,
                             dirichlet=self.boundary_dofs() if bc == "dirichlet" else None)


class BlockAverager:
    """Continuum averages per coarse block, spec §4.4: ū_i(K) = (1/|K∩Ω_i|) ∫_{K∩Ω_i} u_h (exact for P1).

    Blocks of an M×M coarse grid, index b = by·M + bx (bx along x₁). ``means(u)`` → (M², N) on every rank.
    """

    def __init__(self, disc: FineDiscretization, M: int):
        nf = disc.medium.nf
        if not isinstance(M, (int, np.integer)) or M < 1 or nf % M:
            raise ValueError(f"H: H = 1/{M} must divide the fine grid {nf}x{nf} into whole fine cells")
        self.M, self.N, self.comm = int(M), disc.medium.n_continua, disc.comm
        Q = disc.fields.Q
        q, v = ufl.TestFunction(Q), ufl.TrialFunction(disc.V)
        self.B = dolfinx.fem.petsc.assemble_matrix(dolfinx.fem.form(q * v * ufl.dx))  # ∫_cell N_a
        self.B.assemble()
        n_cells = disc.mesh.topology.index_map(2).size_local
        n_q = Q.dofmap.index_map.size_local
        dofs = Q.dofmap.list[:n_cells, 0]
        if dofs.size and dofs.max() >= n_q:
            raise RuntimeError("BlockAverager: a DG0 dof of an owned cell is not owned")
        cpb = nf // self.M
        f = disc.fields
        grp_cell = ((f.iy[:n_cells] // cpb) * self.M + f.ix[:n_cells] // cpb) * self.N + f.continuum[:n_cells]
        self.group = np.zeros(n_q, dtype=np.int64)
        self.group[dofs] = grp_cell
        area = assemble_linear(dolfinx.fem.form(q * ufl.dx))
        self.volume = self._sum(area.getArray(readonly=True))  # |K ∩ Ω_i|
        self._x, self._y = self.B.createVecRight(), self.B.createVecLeft()

    def _sum(self, per_dof: np.ndarray) -> np.ndarray:
        loc = np.bincount(self.group, weights=per_dof, minlength=self.M * self.M * self.N)
        return self.comm.allreduce(loc, op=MPI.SUM).reshape(self.M * self.M, self.N)

    def means(self, u_owned: np.ndarray) -> np.ndarray:
        """(M², N) block/continuum means (NaN where a continuum is absent from a block)."""
        self._x.setArray(u_owned)
        self.B.mult(self._x, self._y)
        s = self._sum(self._y.getArray(readonly=True))
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.volume > 0, s / np.where(self.volume > 0, self.volume, 1.0), np.nan)

    def volume_fractions(self) -> np.ndarray:
        """(M², N): |K∩Ω_i|/|K|."""
        return self.volume / self.volume.sum(axis=1, keepdims=True)


@dataclass
class FineResult:
    """Output of :func:`solve_fine` (identical on every rank).

    ``block_means[M]``: (N_t+1, M², N) continuum averages ū_i(K, t_n) (spec §4.4), block b = by·M + bx;
    ``times``: t_n = nτ, n = 0..N_t; ``max_u``: max_x u_h(t_n); ``fields``: owned-value arrays u^n for the
    requested ``save_steps`` (turn into Functions with ``disc.function``); ``timings`` in seconds.
    """

    problem: FineProblem
    times: np.ndarray
    block_means: dict
    max_u: np.ndarray
    fields: dict
    timings: dict
    disc: FineDiscretization | None = None

    def at(self, t: float) -> int:
        """Step index of time t (must be on the grid)."""
        n = int(round(t / self.problem.tau))
        if abs(n * self.problem.tau - t) > 1e-9 or not 0 <= n < self.times.size:
            raise ValueError(f"t: {t} is not a time step of this run")
        return n


def _initial(spec, disc: FineDiscretization, name: str):
    if isinstance(spec, str):
        if spec == "zero":
            return np.zeros(disc.n_local)
        if spec == "gaussian" and name == "u0":
            return disc.interpolate(lambda x: gaussian(x, 0.5))
        raise ValueError(f"{name}: unknown initial data {spec!r} (use 'zero'{', gaussian' if name == 'u0' else ''}"
                         " or a callable)")
    return disc.interpolate(spec)


def solve_fine(problem: FineProblem, *, comm=None, block_grids: Sequence[int] = (20, 40), save_steps=(),
               disc: FineDiscretization | None = None, show_progress: bool = True) -> FineResult:
    """The fine reference solution of ``problem``; averages on every coarse grid of ``block_grids``."""
    comm = MPI.COMM_WORLD if comm is None else comm
    t0 = time.perf_counter()
    disc = FineDiscretization(problem.medium, comm) if disc is None else disc
    averagers = {M: BlockAverager(disc, M) for M in block_grids}
    stepper = disc.stepper(problem.alphas, tau=problem.tau, T=problem.T, bc=problem.bc, history=problem.history,
                           soe_tol=problem.soe_tol, name="fine")
    u0 = _initial(problem.u0, disc, "u0")
    v0 = None if (isinstance(problem.v0, str) and problem.v0 == "zero") else _initial(problem.v0, disc, "v0")
    if isinstance(problem.source, str):
        if problem.source not in ("gaussian", "zero"):
            raise ValueError(f"source: unknown {problem.source!r} (use 'gaussian', 'zero' or a callable)")
        source = None if problem.source == "zero" else disc.apply(disc.M, disc.interpolate(gaussian))  # F = M f_h
    elif problem.source_depends_on_time:
        source = lambda t: disc.apply(disc.M, disc.interpolate(lambda x: problem.source(x, t)))  # noqa: E731
    else:
        source = disc.apply(disc.M, disc.interpolate(problem.source))
    nt = problem.scheme.n_steps
    means = {M: np.empty((nt + 1, M * M, disc.medium.n_continua)) for M in block_grids}
    max_u = np.empty(nt + 1)
    fields = {}
    save = set(int(s) for s in save_steps)

    def record(n, t, u):
        for M, avg in averagers.items():
            means[M][n] = avg.means(u)
        max_u[n] = comm.allreduce(u.max() if u.size else -np.inf, op=MPI.MAX)
        if n in save:
            fields[n] = u.copy()

    t1 = time.perf_counter()
    stepper.run(u0, v0, source, callback=record, show_progress=show_progress, desc="fine solve")
    timings = dict(disc.timings)
    timings.update(stepper.timings)
    timings["setup"] = t1 - t0
    timings["total"] = time.perf_counter() - t0
    stepper.destroy()
    return FineResult(problem, problem.scheme.times, means, max_u, fields, timings, disc)


# ------------------------------------------------------------------------------------- command line


def add_parsers(sub):
    """``homfx mc fine`` (register "homfx.multicontinuum.fine" in homfx/multicontinuum/cli.py) or
    ``python -m homfx.multicontinuum.fine``: one fine reference solve, JSON summary (+ optional XDMF)."""
    p = sub.add_parser("fine", help="fine reference solve of one experiment (spec §5.3), JSON summary",
                       description="Fine P1 + Sun-Wu/L1 solve of the time-fractional diffusion-wave equation "
                                   "for one preset; writes max u_h(t), the block/continuum means (spec §4.4) "
                                   "and timings as JSON.")
    p.add_argument("--experiment", default="E1.1b", help=f"one of {', '.join(PRESETS)} (default E1.1b)")
    p.add_argument("--alpha", type=float, nargs="+", default=None,
                   help="order (one value) or one per continuum (Omega_1 low, Omega_2 high); default: preset")
    p.add_argument("--nf", type=int, default=400, help="fine squares per side (paper 400)")
    p.add_argument("--tau", type=float, default=0.02, help="time step (paper 0.02)")
    p.add_argument("--T", type=float, default=1.0, help="final time (paper 1)")
    p.add_argument("--contrast", type=float, default=1e4, help="kappa(Omega_2)/kappa(Omega_1) (paper 1e4)")
    p.add_argument("--history", choices=HISTORIES, default="exact", help="Caputo history sum (exact | soe)")
    p.add_argument("--H", type=int, nargs="*", default=[20, 40], help="coarse grids M (H = 1/M) for block means")
    p.add_argument("--xdmf", action="store_true", help="also write u_h at t = 0.1, 0.5, T (XDMF)")
    p.add_argument("-o", "--output", default=None, help="JSON file (default out/mc/fine_<experiment>.json)")
    p.set_defaults(func=run_cli)


def run_cli(args) -> int:
    from pathlib import Path

    from homfx.io import write_json, write_xdmf

    over = dict(nf=args.nf, tau=args.tau, T=args.T, contrast=args.contrast, history=args.history)
    if args.alpha is not None:
        over["alpha"] = args.alpha[0] if len(args.alpha) == 1 else tuple(args.alpha)
    problem = preset(args.experiment, **over)  # bad input: ValueError naming the parameter
    nt = problem.scheme.n_steps
    save = sorted({s for s in (round(0.1 / problem.tau), round(0.5 / problem.tau), nt) if 0 < s <= nt})
    res = solve_fine(problem, block_grids=tuple(args.H), save_steps=save if args.xdmf else ())
    out = Path(args.output or f"out/mc/fine_{args.experiment}.json")
    data = {"experiment": args.experiment, "alpha": list(problem.alphas), "nf": args.nf, "tau": args.tau,
            "T": args.T, "bc": problem.bc, "u0": problem.u0, "history": args.history,
            "contrast": problem.medium.contrast, "kind": problem.medium.kind, "times": res.times,
            "max_u": res.max_u, "timings": res.timings, "ranks": res.disc.comm.size,
            "block_means": {f"1/{M}": res.block_means[M] for M in args.H},
            "block_means_layout": "[n][b][i]: time step n, block b = by*M + bx, continuum i (0 = low kappa)"}
    write_json(out, data)
    if args.xdmf:
        write_xdmf(out.with_suffix(".xdmf"), res.disc.mesh,
                   [res.disc.function(res.fields[s], f"u_t{s * problem.tau:.2f}") for s in save])
    if res.disc.comm.rank == 0:
        print(f"fine {args.experiment}: max u_h(T) = {res.max_u[-1]:.6f}, {res.timings['total']:.1f} s "
              f"(assembly {res.timings['assembly']:.1f} s, factorization {res.timings['factorization']:.1f} s, "
              f"{nt} steps {res.timings['stepping']:.1f} s) -> {out}")
    return 0


if __name__ == "__main__":
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m homfx.multicontinuum.fine")
    add_parsers(parser.add_subparsers(dest="cmd", required=True))
    a = parser.parse_args(["fine", *sys.argv[1:]])
    try:
        sys.exit(a.func(a))
    except ValueError as e:
        print(f"homfx: error: {e}", file=sys.stderr)
        sys.exit(2)
