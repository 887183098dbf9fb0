"""Fine-scale wave solvers for ∂²_t u − ∇·(a(x/ε)∇u) = 0 on a periodic box, over long times T = O(ε⁻²)
(spec wave.md §1, §5.4, §8.8).

* :class:`FineWaveSolver` — FEniCSx P1/P2 finite elements on Ω = Π(−L_i, L_i), periodic through
  :func:`homfx.periodic.periodic_restriction`, energy-conserving time stepping:
  - ``scheme="leapfrog"`` (explicit central differences, §1.4) with a lumped (P1) or consistent mass.
    The CFL condition Δt ≤ 2/√λ_max(M⁻¹K) is checked (λ_max by power iteration) and a violation raises.
    The discrete energy ½ v^{n+½}ᵀ M v^{n+½} + ½ u^{n+1}ᵀ K u^n is conserved to round-off.
  - ``scheme="newmark"`` (average acceleration β = ¼, γ = ½): implicit, unconditionally stable,
    conserves ½ vᵀMv + ½ uᵀKu to round-off; (M + ¼Δt²K) is factored once.
  Runs under MPI, shows progress (homfx.progress) and checkpoints atomically so an interrupted run resumes
  where it stopped and gives the identical result.
* :class:`LayeredSpectralSolver` — exact-in-time pseudo-spectral reference for layered media
  a(y) = ã(y₂)I (§1.5): FFT in x₁, then for each k₁ an eigen-decomposition of
  L_{k₁} = Dᵀ diag(ã) D + k₁² diag(ã) (D = spectral differentiation in x₂). Plain numpy, used for E1.
"""

from __future__ import annotations

import io as _io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from homfx._stack import MPI, PETSc, dolfinx, sync_garbage
from homfx.forms import assemble_linear
from homfx.io import atomic_write_bytes, json_default
from homfx.progress import progress
from homfx.wave.fourier import PeriodicBox


# ---------------------------------------------------------------------------------------------- checks
sync_petsc_garbage = sync_garbage  # kept name; see homfx._stack.sync_garbage


def check_eps(eps: float) -> float:
    if not np.isfinite(eps) or eps <= 0:
        raise ValueError(f"eps must be > 0 (the period of the fine-scale coefficient), got {eps}")
    return float(eps)


def check_box_periodic(half_lengths: Sequence[float], eps: float, period: Sequence[float] | float = 1.0,
                       tol: float = 1e-9) -> None:
    """a(x/ε) is Ω-periodic iff every side 2L_i is an integer multiple of ε·period_i (spec §1.1)."""
    per = np.broadcast_to(np.asarray(period, dtype=float), (len(half_lengths),))
    for i, (L, p) in enumerate(zip(half_lengths, per)):
        m = 2 * L / (eps * p)
        if abs(m - round(m)) > tol * max(1.0, m) or round(m) < 1:
            raise ValueError(f"non-periodic coefficient: side 2L_{i + 1} = {2 * L:g} is not an integer multiple "
                             f"of eps*period = {eps * p:g} ({m:.6g} cells), so a(x/eps) is not periodic on the box")


def box_mesh(comm, half_lengths: Sequence[float], n: Sequence[int], *, diagonal: str = "right"):
    """Structured simplex mesh of Π(−L_i, L_i) with n_i cells per axis (matching nodes on opposite faces)."""
    L = [float(v) for v in half_lengths]
    n = [int(v) for v in n]
    if len(L) != len(n) or not 1 <= len(L) <= 3:
        raise ValueError("half_lengths and n must have 1 to 3 equal-length entries")
    if any(v < 1 for v in n):
        raise ValueError(f"n must be >= 1 cell per axis, got {n}")
    dm = dolfinx.mesh
    if len(L) == 1:
        return dm.create_interval(comm, n[0], [-L[0], L[0]])
    if len(L) == 2:
        return dm.create_rectangle(comm, [[-L[0], -L[1]], [L[0], L[1]]], n, dm.CellType.triangle,
                                   diagonal=getattr(dm.DiagonalType, diagonal))
    return dm.create_box(comm, [[-v for v in L], L], n, dm.CellType.tetrahedron)


# ---------------------------------------------------------------------------------------------- results
@dataclass
class FineResult:
    """Samples of a fine-scale run. ``energy`` is the scheme's conserved discrete energy at each sample,
    ``observations`` what ``observe(t, u)`` returned at each sample."""

    times: list = field(default_factory=list)
    steps: list = field(default_factory=list)
    energy: list = field(default_factory=list)
    observations: list = field(default_factory=list)
    dt: float = 0.0
    n_steps: int = 0
    resumed_from: int = 0
    seconds: float = 0.0
    cfl_dt: float | None = None

    def to_json(self) -> dict:
        return dict(times=self.times, steps=self.steps, energy=self.energy, observations=self.observations,
                    dt=self.dt, n_steps=self.n_steps, resumed_from=self.resumed_from, seconds=self.seconds,
                    cfl_dt=self.cfl_dt)


# ---------------------------------------------------------------------------------------------- FE solver
class FineWaveSolver:
    """P1/P2 FE for ∂²_t u − ∇·(a(x/ε)∇u) = 0 on the periodic box Π(−L_i, L_i) (spec §8.8).

    ``coefficient(y)`` returns a UFL scalar or d×d matrix of the cell variable y (period ``period`` per
    axis, default 1); the solver uses a(x/ε). The mesh must be periodic-conforming on the box (use
    :func:`box_mesh`). The operators are assembled, reduced (PᵀAP) and, where needed, factored once.
    """

    def __init__(self, mesh, coefficient: Callable, eps: float, half_lengths: Sequence[float], *,
                 degree: int = 1, mass: str = "lumped", period: Sequence[float] | float = 1.0,
                 quadrature_degree: int | None = None, name: str = "fine wave"):
        import ufl
        from homfx.periodic import periodic_restriction

        self.eps = check_eps(eps)
        sync_petsc_garbage(mesh.comm)
        self.L = [float(v) for v in half_lengths]
        d = mesh.geometry.dim
        if len(self.L) != d:
            raise ValueError(f"half_lengths has {len(self.L)} entries for a {d}-D mesh")
        check_box_periodic(self.L, self.eps, period)
        if degree not in (1, 2, 3):
            raise ValueError(f"degree must be 1, 2 or 3, got {degree}")
        if mass not in ("lumped", "consistent"):
            raise ValueError(f"mass must be 'lumped' or 'consistent', got {mass!r}")
        if mass == "lumped" and degree != 1:
            raise ValueError("mass='lumped' needs degree=1 (row-sum lumping of P2 on simplices is singular); "
                             "use mass='consistent'")
        self.mesh, self.comm, self.degree, self.mass_kind, self.name = mesh, mesh.comm, degree, mass, name
        self.V = dolfinx.fem.functionspace(mesh, ("Lagrange", degree))
        self._u_fun = dolfinx.fem.Function(self.V, name="u")
        self._work = dolfinx.fem.Function(self.V, name="work")
        # create the PETSc wrappers now, on all ranks at the same point (they are collective)
        self._u_fun.x.petsc_vec, self._work.x.petsc_vec
        qd = quadrature_degree if quadrature_degree is not None else 2 * degree + 4  # spec §8.5
        self.dx = ufl.Measure("dx", domain=mesh, metadata={"quadrature_degree": qd})
        x = ufl.SpatialCoordinate(mesh)
        self.a_expr = coefficient(x / self.eps)
        u, v = ufl.TrialFunction(self.V), ufl.TestFunction(self.V)
        flux = self.a_expr * ufl.grad(u) if len(self.a_expr.ufl_shape) == 0 else ufl.dot(self.a_expr, ufl.grad(u))
        t0 = time.perf_counter()
        self.pr = periodic_restriction(self.V, [2 * L for L in self.L], origin=[-L for L in self.L])
        self._check_coefficient_periodic()
        K = dolfinx.fem.petsc.assemble_matrix(dolfinx.fem.form(ufl.inner(flux, ufl.grad(v)) * self.dx))
        K.assemble()
        self.K = self.pr.reduce(K)
        K.destroy()
        if mass == "lumped":
            m = assemble_linear(dolfinx.fem.form(v * self.dx))
            self.m = self.pr.restrict(m)  # row sums of P^T M P (P 1 = 1)
            m.destroy()
            if self.m.min()[1] <= 0:
                raise ValueError("lumped mass has non-positive entries; refine the mesh or use consistent mass")
            self.M = None
        else:
            M = dolfinx.fem.petsc.assemble_matrix(dolfinx.fem.form(u * v * self.dx))
            M.assemble()
            self.M = self.pr.reduce(M)
            M.destroy()
            from homfx.solvers import LinearSolver

            self.Msolver = LinearSolver(self.M, f"{name} mass", method="lu")
        self.setup_seconds = time.perf_counter() - t0
        self.num_dofs = self.pr.num_reduced
        self._lam_max = None
        self._mult = self.pr.multiplicity()

    def destroy(self) -> None:
        """Destroy the PETSc objects (collective; dolfinx recommends explicit destruction)."""
        for obj in (self.K, self.M, getattr(self, "m", None), self.pr.P, getattr(self, "final_state", None)):
            if obj is not None:
                obj.destroy()
        if self.M is not None:
            self.Msolver.destroy()

    @property
    def u(self) -> "dolfinx.fem.Function":
        """The FE function handed to ``observe(t, u)`` (always this object): forms built on it once can be
        re-assembled at every sample without recompilation."""
        return self._u_fun

    # -- helpers
    def _check_coefficient_periodic(self, rtol: float = 1e-8):
        """Interpolate each coefficient component into V and check that the values on glued DOFs agree."""
        shape = self.a_expr.ufl_shape
        comps = [self.a_expr] if len(shape) == 0 else [self.a_expr[i, j] for i in range(shape[0])
                                                         for j in range(shape[1])]
        f = self._work
        mult = self.pr.multiplicity()
        worst, scale = 0.0, 0.0
        for c in comps:
            f.interpolate(dolfinx.fem.Expression(c, self.V.element.interpolation_points))
            f.x.scatter_forward()
            r = self.pr.restrict(f.x.petsc_vec)
            r.getArray()[:] /= mult
            back = self.pr.prolong(r)
            n = len(back.getArray())
            worst = max(worst, float(np.abs(back.getArray() - f.x.array[:n]).max(initial=0.0)))
            scale = max(scale, float(np.abs(f.x.array[:n]).max(initial=0.0)))
            r.destroy()
            back.destroy()
        worst = self.comm.allreduce(worst, op=MPI.MAX)
        scale = self.comm.allreduce(scale, op=MPI.MAX)
        if worst > rtol * max(scale, 1e-300):
            raise ValueError(f"non-periodic coefficient: a(x/eps) differs by {worst:.3e} between opposite faces "
                             f"of the box (|a| ~ {scale:.3e})")

    def _apply_Minv(self, b: "PETSc.Vec", out: "PETSc.Vec"):
        if self.M is None:
            out.pointwiseDivide(b, self.m)
        else:
            self.Msolver.solve(b, out)

    def _mass_dot(self, x: "PETSc.Vec", y: "PETSc.Vec", tmp: "PETSc.Vec") -> float:
        if self.M is None:
            tmp.pointwiseMult(x, self.m)
        else:
            self.M.mult(x, tmp)
        return tmp.dot(y)

    def interpolate(self, g: Callable | None) -> "PETSc.Vec":
        """Reduced vector of a callable g(x) (x of shape (3, n)); glued DOFs are averaged."""
        r = self.K.createVecRight()
        if g is None:
            r.set(0.0)
            return r
        f = self._work
        f.interpolate(g)
        f.x.scatter_forward()
        self.pr.P.multTranspose(f.x.petsc_vec, r)
        r.getArray()[:] /= self._mult
        return r

    def function(self, u_red: "PETSc.Vec") -> "dolfinx.fem.Function":
        """The FE function (full space) of a reduced vector (a shared object, overwritten on each call)."""
        self.pr.prolong(u_red, self._u_fun.x.petsc_vec)
        self._u_fun.x.scatter_forward()
        return self._u_fun

    def max_eigenvalue(self, *, rtol: float = 1e-7, max_it: int = 2000, seed: int = 1) -> float:
        """λ_max(M⁻¹K) by the power method (Rayleigh quotient; converges from below)."""
        if self._lam_max is not None:
            return self._lam_max
        # start vector: a pseudo-random function of the DOF coordinates (independent of the partition, so
        # serial and parallel runs give the same estimate)
        x = self.interpolate(lambda p: (np.sin(12.9898 * p[0] + 78.233 * p[1] + 37.719 * p[2] + seed)
                                        * 43758.5453) % 1.0 - 0.5)
        y, tmp = self.K.createVecRight(), self.K.createVecRight()
        lam_old = 0.0
        for it in range(max_it):
            self.K.mult(x, tmp)
            self._apply_Minv(tmp, y)
            nrm = np.sqrt(self._mass_dot(y, y, tmp))
            y.scale(1.0 / nrm)
            self.K.mult(y, tmp)
            lam = tmp.dot(y) / self._mass_dot(y, y, x)  # Rayleigh quotient, x used as scratch
            x, y = y, x
            if it > 10 and abs(lam - lam_old) <= rtol * lam:
                break
            lam_old = lam
        for v in (x, y, tmp):
            v.destroy()
        self._lam_max = float(lam)
        return self._lam_max

    def cfl_dt(self) -> float:
        """Largest stable leapfrog step 2/√λ_max(M⁻¹K) (spec §1.4)."""
        return 2.0 / np.sqrt(self.max_eigenvalue())

    def check_cfl(self, dt: float, safety: float = 0.98) -> float:
        """Raise ValueError if leapfrog with step dt violates the CFL condition (with a safety factor for
        the power-method estimate)."""
        dt_max = self.cfl_dt()
        if dt > safety * dt_max:
            raise ValueError(f"CFL violation: dt = {dt:.4g} > {safety} * 2/sqrt(lambda_max(M^-1 K)) = "
                             f"{safety * dt_max:.4g} for leapfrog ({self.num_dofs} DOFs, lambda_max = "
                             f"{self.max_eigenvalue():.4g}); reduce dt or use scheme='newmark'")
        return dt_max

    # -- time stepping
    def run(self, T: float, dt: float, g0: Callable, g1: Callable | None = None, *,
            scheme: str = "leapfrog", samples: Sequence[float] | None = None,
            observe: Callable | None = None, checkpoint: str | Path | None = None,
            checkpoint_every: int = 1000, desc: str | None = None) -> FineResult:
        """Integrate to time T with step ≤ dt (dt is reduced so that T is a whole number of steps).

        ``samples`` (default: 0 and T) are rounded to the step grid; at each, the conserved energy is
        recorded and ``observe(t, u_function)`` is called (its return value must be JSON-serializable).
        With ``checkpoint`` the state is written atomically every ``checkpoint_every`` steps and at the end;
        if the file exists, the run resumes from it (it must come from the same set-up).
        """
        if scheme not in ("leapfrog", "newmark"):
            raise ValueError(f"scheme must be 'leapfrog' or 'newmark', got {scheme!r}")
        if not T > 0:
            raise ValueError(f"T must be positive, got {T}")
        if not dt > 0:
            raise ValueError(f"dt must be positive, got {dt}")
        n_steps = int(np.ceil(T / dt - 1e-9))
        dt = T / n_steps
        res = FineResult(dt=dt, n_steps=n_steps)
        if scheme == "leapfrog":
            res.cfl_dt = self.check_cfl(dt)
        samples = [0.0, T] if samples is None else list(samples)
        if any(s < -1e-12 or s > T * (1 + 1e-12) for s in samples):
            raise ValueError(f"samples must lie in [0, T = {T}]")
        sample_steps = sorted(set(int(round(s / dt)) for s in samples))
        stepper = _Leapfrog(self, dt) if scheme == "leapfrog" else _Newmark(self, dt)
        fp = dict(scheme=scheme, dt=dt, eps=self.eps, half_lengths=self.L, degree=self.degree,
                  mass=self.mass_kind, dofs=self.num_dofs, ranks=self.comm.size)
        n0 = 0
        ck = None if checkpoint is None else Path(checkpoint)
        if ck is not None:
            loaded = _load_checkpoint(ck, fp, stepper, self.comm)
            if loaded is not None:
                n0, saved = loaded
                for key in ("times", "steps", "energy", "observations"):
                    getattr(res, key).extend(saved[key])
                res.resumed_from = n0
        if n0 == 0:
            stepper.start(self.interpolate(g0), self.interpolate(g1))
        t_start = time.perf_counter()

        def record(n):
            res.times.append(n * dt)
            res.steps.append(n)
            res.energy.append(stepper.energy())
            if observe is not None:
                res.observations.append(observe(n * dt, self.function(stepper.u)))

        if n0 == 0 and 0 in sample_steps:
            record(0)
        bar = progress(total=n_steps, desc=desc or self.name, comm=self.comm, initial=n0)
        last = n0
        for n in range(n0 + 1, n_steps + 1):
            stepper.step()
            if n in sample_steps:
                record(n)
            if ck is not None and (n % checkpoint_every == 0 or n == n_steps):
                _save_checkpoint(ck, fp, n, stepper, res, self.comm)
            if n - last >= 200 or n == n_steps:
                bar.update(n - last)
                last = n
        bar.close()
        res.seconds = time.perf_counter() - t_start
        if getattr(self, "final_state", None) is not None:
            self.final_state.destroy()
        self.final_state = stepper.u.copy()
        stepper.destroy()
        return res


class _Leapfrog:
    """U^{n+1} = 2U^n − U^{n−1} − Δt² M⁻¹K U^n; U¹ = U⁰ + ΔtG¹ − ½Δt² M⁻¹K U⁰ (spec §1.4). ``u`` is the
    current U^n, ``u_prev`` U^{n−1}."""

    names = ("u", "u_prev")

    def __init__(self, s: FineWaveSolver, dt: float):
        self.s, self.dt = s, dt
        self.u, self.u_prev = s.K.createVecRight(), s.K.createVecRight()
        self.tmp, self.acc = s.K.createVecRight(), s.K.createVecRight()

    def start(self, u0, g1):
        """u = U⁰ and the fictitious U⁻¹ = U⁰ − ΔtG¹ − ½Δt² M⁻¹K U⁰, so that the first regular step gives
        U¹ = U⁰ + ΔtG¹ − ½Δt² M⁻¹K U⁰ (spec §1.4)."""
        self.u.setArray(u0.getArray())
        self.s.K.mult(u0, self.tmp)
        self.s._apply_Minv(self.tmp, self.acc)
        self.u_prev.setArray(u0.getArray() - self.dt * g1.getArray() - 0.5 * self.dt**2 * self.acc.getArray())

    def step(self):
        self.s.K.mult(self.u, self.tmp)
        self.s._apply_Minv(self.tmp, self.acc)
        # u_new = 2u - u_prev - dt^2 acc, stored in u_prev, then swap
        self.u_prev.aypx(-1.0, self.u)          # u_prev <- u - u_prev
        self.u_prev.axpy(1.0, self.u)           # u_prev <- 2u - u_prev
        self.u_prev.axpy(-self.dt**2, self.acc)
        self.u, self.u_prev = self.u_prev, self.u

    def energy(self) -> float:
        """½ v^{n−½}ᵀ M v^{n−½} + ½ U^nᵀ K U^{n−1}, v^{n−½} = (U^n − U^{n−1})/Δt (conserved exactly)."""
        v = self.acc
        v.waxpy(-1.0, self.u_prev, self.u)
        v.scale(1.0 / self.dt)
        kin = self.s._mass_dot(v, v, self.tmp)
        self.s.K.mult(self.u_prev, self.tmp)
        return 0.5 * kin + 0.5 * self.tmp.dot(self.u)

    def arrays(self):
        return {"u": self.u, "u_prev": self.u_prev}

    def destroy(self):
        for v in (self.u, self.u_prev, self.tmp, self.acc):
            v.destroy()


class _Newmark:
    """Average acceleration (β = ¼, γ = ½): (M + ¼Δt²K) a^{n+1} = −K(u^n + Δt v^n + ¼Δt² a^n)."""

    names = ("u", "v", "a")

    def __init__(self, s: FineWaveSolver, dt: float):
        from homfx.solvers import LinearSolver

        self.s, self.dt = s, dt
        S = s.K.copy()
        S.scale(0.25 * dt**2)
        if s.M is None:
            S.setDiagonal(s.m, addv=PETSc.InsertMode.ADD)
        else:
            S.axpy(1.0, s.M)
        self.S = S
        self.solver = LinearSolver(S, f"{s.name} newmark", method="lu")
        self.u, self.v, self.a = (s.K.createVecRight() for _ in range(3))
        self.tmp, self.pred, self.a_new = (s.K.createVecRight() for _ in range(3))

    def start(self, u0, g1):
        self.u.setArray(u0.getArray())
        self.v.setArray(g1.getArray())
        self.s.K.mult(self.u, self.tmp)
        self.tmp.scale(-1.0)
        self.s._apply_Minv(self.tmp, self.a)

    def step(self):
        dt = self.dt
        self.pred.setArray(self.u.getArray() + dt * self.v.getArray() + 0.25 * dt**2 * self.a.getArray())
        self.s.K.mult(self.pred, self.tmp)
        self.tmp.scale(-1.0)
        a_new = self.solver.solve(self.tmp, self.a_new)
        self.v.getArray()[:] += 0.5 * dt * (self.a.getArray() + a_new.getArray())
        self.u.setArray(self.pred.getArray() + 0.25 * dt**2 * a_new.getArray())
        self.a.setArray(a_new.getArray())

    def energy(self) -> float:
        """½ vᵀMv + ½ uᵀKu (conserved exactly by the average-acceleration scheme)."""
        kin = self.s._mass_dot(self.v, self.v, self.tmp)
        self.s.K.mult(self.u, self.tmp)
        return 0.5 * kin + 0.5 * self.tmp.dot(self.u)

    def arrays(self):
        return {"u": self.u, "v": self.v, "a": self.a}

    def destroy(self):
        self.solver.destroy()
        self.S.destroy()
        for v in (self.u, self.v, self.a, self.tmp, self.pred, self.a_new):
            v.destroy()


# ---------------------------------------------------------------------------------------------- checkpoints
def _save_checkpoint(path: Path, fp: dict, n: int, stepper, res: FineResult, comm) -> None:
    """Gather the state vectors (global reduced order) and write them atomically on rank 0."""
    gathered = {k: comm.gather(v.getArray().copy(), root=0) for k, v in stepper.arrays().items()}
    if comm.rank == 0:
        meta = dict(fingerprint=fp, step=n, times=res.times, steps=res.steps, energy=res.energy,
                    observations=res.observations)
        buf = _io.BytesIO()
        np.savez(buf, meta=np.array(json.dumps(meta, default=json_default)),
                 **{k: np.concatenate(v) for k, v in gathered.items()})
        atomic_write_bytes(path, buf.getvalue())
    comm.barrier()


def _load_checkpoint(path: Path, fp: dict, stepper, comm):
    """Restore the state if ``path`` exists; returns (step, saved samples) or None."""
    exists = comm.bcast(path.exists() if comm.rank == 0 else None, root=0)
    if not exists:
        return None
    data, meta = None, None
    if comm.rank == 0:
        with np.load(path) as z:
            meta = json.loads(str(z["meta"]))
            data = {k: z[k] for k in z.files if k != "meta"}
    meta = comm.bcast(meta, root=0)
    want = json.loads(json.dumps(fp))
    if meta["fingerprint"] != want:
        raise ValueError(f"checkpoint {path} belongs to a different run ({meta['fingerprint']} != {want}); "
                         "delete it or choose another checkpoint path")
    data = comm.bcast(data, root=0)
    for k, v in stepper.arrays().items():
        lo, hi = v.getOwnershipRange()
        v.getArray()[:] = data[k][lo:hi]
    return int(meta["step"]), meta


# ---------------------------------------------------------------------------------------------- layered
def spectral_derivative_matrix(n: int, h: float) -> np.ndarray:
    """Real skew-symmetric circulant pseudo-spectral first-derivative matrix (Nyquist mode set to 0)."""
    k = 2 * np.pi * np.fft.fftfreq(n, d=h)
    if n % 2 == 0:
        k[n // 2] = 0.0
    col = np.real(np.fft.ifft(1j * k * np.fft.fft(np.eye(n)[:, 0])))
    idx = (np.arange(n)[:, None] - np.arange(n)[None, :]) % n
    return col[idx]


@dataclass
class LayeredSpectralSolver:
    """Exact-in-time pseudo-spectral solution of ∂²_t u = ∇·(ã(x₂/ε)∇u) on a periodic 2-D box (spec §1.5).

    ``a_tilde`` is a numpy function of y₂ with period 1. For each x₁-wavenumber k₁ (rfft),
    L = Dᵀ diag(ã) D + k₁² diag(ã) = V Λ Vᵀ and û(t) = V cos(√Λ t) Vᵀ ĝ⁰ (g¹ = 0).
    """

    box: PeriodicBox
    a_tilde: Callable
    eps: float

    def __post_init__(self):
        self.eps = check_eps(self.eps)
        if self.box.dim != 2:
            raise ValueError("LayeredSpectralSolver needs a 2-D box (layers normal to x2)")
        check_box_periodic(self.box.half_lengths[1:], self.eps)
        y = np.linspace(-0.5, 0.5, 257)
        if not np.allclose(self.a_tilde(y), self.a_tilde(y + 1.0), rtol=1e-10, atol=1e-12):
            raise ValueError("non-periodic coefficient: a_tilde(y + 1) != a_tilde(y)")
        x2 = self.box.axis_points(1)
        self.a = np.asarray(self.a_tilde(x2 / self.eps), dtype=float)
        if self.a.min() <= 0:
            raise ValueError("a_tilde must be positive")
        D = spectral_derivative_matrix(self.box.n[1], self.box.h[1])
        self.K2 = D.T @ (self.a[:, None] * D)
        self.k1 = 2 * np.pi * np.fft.rfftfreq(self.box.n[0], d=self.box.h[0])

    def modes(self, g0, times: Sequence[float], *, leapfrog_dt: float | None = None,
              desc: str = "layered reference"):
        """Yield (j, k₁, Û(k₁, x₂, t)) with Û of shape (n₂, len(times)) — the x₁-rfft of u(t).

        ``leapfrog_dt``: instead of the exact time evolution, the result of pseudo-spectral leapfrog with
        this step (the paper's scheme, §1.3-1.4), in closed form: with U¹ = U⁰ − ½Δt²LU⁰ (g¹ = 0), leapfrog
        gives U^n = V cos(nθ) Vᵀg⁰ exactly, cos θ = 1 − ½Δt²λ. ``times`` must then be multiples of Δt.
        The CFL condition Δt²λ_max ≤ 4 is checked."""
        G = np.fft.rfft(self.box.sample(g0), axis=0)
        t = np.asarray(times, dtype=float)
        if leapfrog_dt is not None:
            steps = t / leapfrog_dt
            if np.abs(steps - np.round(steps)).max() > 1e-6:
                raise ValueError(f"times must be multiples of leapfrog_dt = {leapfrog_dt}")
        for j in progress(range(len(self.k1)), total=len(self.k1), desc=desc, comm=MPI.COMM_SELF):
            lam, V = np.linalg.eigh(self.K2 + np.diag(self.k1[j] ** 2 * self.a))
            lam = np.maximum(lam, 0.0)
            if leapfrog_dt is None:
                w = np.sqrt(lam)
            else:
                arg = 1.0 - 0.5 * leapfrog_dt**2 * lam
                if arg.min() < -1.0:
                    raise ValueError(f"CFL violation: leapfrog_dt = {leapfrog_dt} > 2/sqrt(lambda_max) = "
                                     f"{2 / np.sqrt(lam.max()):.4g}")
                w = np.arccos(arg) / leapfrog_dt  # cos(n θ) = cos(w t_n)
            c = V.T @ G[j]
            yield j, self.k1[j], V @ (np.cos(np.outer(w, t)) * c[:, None])

    def solve(self, t: float, g0) -> np.ndarray:
        """u(t) on the full grid."""
        U = np.zeros((len(self.k1), self.box.n[1]), dtype=complex)
        for j, _, Uj in self.modes(g0, [t]):
            U[j] = Uj[:, 0]
        return np.fft.irfft(U, n=self.box.n[0], axis=0)
