"""Fine-scale reference ("Ref") for diffusion MRI in a periodic medium with permeable membranes.

Solves the transformed periodic Bloch–Torrey problem (5.1) of Kchaou & Li (2023) on the physical cell
Y_eps = eps*Y (spec ``bloch_torrey.md`` §1). The unknown is the transformed magnetization
M~ = M exp(i q F(t) n.x), Y_eps-periodic, with one continuous P1 field per compartment (e, c) on its own
submesh; the two fields are coupled across the membrane Gamma by kappa [M][v] (an exact jump, not a smeared
coefficient). Weak form (spec §1.4), written on the unit cell Y after x = eps*y and division by eps^d:

    M U' + A(t) U = 0,
    A(t) = eps^-2 K_D + sigma0 J + i eps^-1 q F(t) C_n + q^2 F(t)^2 M_D,   sigma0 = kappa/eps,

with K_D, M_D the D-weighted stiffness and mass, C_n = D (N - N^T), N_ab = int phi_a n.grad(phi_b), and J the
membrane matrix [[G, -G], [-G, G]], G_ab = int_Gamma phi_b phi_a. The complex system is solved as the real
(Re, Im) block system on the block spaces [V_e, V_c, V_e, V_c]:

    [[Ar, -Ai], [Ai, Ar]],  Ar = eps^-2 K_D + sigma0 J + q^2 F^2 M_D,  Ai = eps^-1 q F C_n.

Periodicity: the outer faces are glued by ``homfx.periodic.periodic_restriction`` on the list of block
spaces (monolithic block layout); every matrix is reduced once as P^T B P.

Time stepping (spec §1.8): s-stage Radau IIA (L-stable, stiffly accurate; s = 3 has order 5) with uniform
steps on every smooth segment of the sequence f(t) (between its breakpoints). One stage system
(delta_ij M + h a_ij A(t_n + c_j h)) Y_j = M y_n per step, y_{n+1} = Y_s. Where f = 0 (the gap between the
pulses) F is constant, the stage matrix is the same for every step, and it is factored once and reused
(cached per distinct operator). During the pulses A changes every step; the one pulse matrix is updated in
place (same sparsity pattern) and refactored.

Signal (spec §1.5): S = (1/|Y|) sum_alpha int_{Y^alpha} u^alpha(T_E) dy, with U(0) = 1; the compartment
signals S_alpha = (1/|Y|) int_{Y^alpha} u^alpha, so S = S_e + S_c and S_alpha(0) = eta^alpha.

Units: any consistent system (lengths of eps, time, D in length^2/time, kappa in length/time,
q in 1/(length time)). The cell mesh is the unit cell Y (lengths of order 1); the physical period is eps*Y.
"""

from __future__ import annotations

import hashlib
import io as _io
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import ufl

from homfx._stack import MPI, PETSc, dolfinx
from homfx.averages import ordered_interface_entities, phase_interface_facets
from homfx.dmri.sequences import Sequence, unit_direction
from homfx.forms import assemble_linear
from homfx.periodic import periodic_restriction
from homfx.solvers import LinearSolver

# ---------------------------------------------------------------------------------------------------------
# Radau IIA tableaus (Hairer & Wanner, Table IV.5.5); s = 3 as printed in spec §1.8

_S6 = math.sqrt(6.0)
RADAU_IIA = {
    1: (np.array([[1.0]]), np.array([1.0])),
    2: (np.array([[5 / 12, -1 / 12], [3 / 4, 1 / 4]]), np.array([1 / 3, 1.0])),
    3: (np.array([[(88 - 7 * _S6) / 360, (296 - 169 * _S6) / 1800, (-2 + 3 * _S6) / 225],
                  [(296 + 169 * _S6) / 1800, (88 + 7 * _S6) / 360, (-2 - 3 * _S6) / 225],
                  [(16 - _S6) / 36, (16 + _S6) / 36, 1 / 9]]),
        np.array([(4 - _S6) / 10, (4 + _S6) / 10, 1.0])),
}
RADAU_ORDER = {1: 1, 2: 3, 3: 5}


# ---------------------------------------------------------------------------------------------------------
# time grid


@dataclass(frozen=True)
class TimeGrid:
    """Uniform steps on every smooth segment of the sequence (between its breakpoints), at most ``dt``
    long where f != 0 (pulses) and at most ``dt_gap`` where f = 0 (F constant)."""

    steps: tuple[tuple[float, float, int], ...]  # (t0, h, segment index) per step

    @staticmethod
    def build(sequence: Sequence, dt: float, dt_gap: float | None = None) -> "TimeGrid":
        dt_gap = dt if dt_gap is None else dt_gap
        for name, v in (("dt", dt), ("dt_gap", dt_gap)):
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ValueError(f"--{name.replace('_', '-')} must be a positive time step, got {v!r}")
        segs = sequence.segments()
        pulses = [s.t1 - s.t0 for s in segs if not s.constant and s.t1 > s.t0]
        if pulses and dt > min(pulses) * (1 + 1e-12):
            raise ValueError(f"--dt {dt:g} is larger than a gradient pulse (shortest pulse {min(pulses):g}): "
                             "the time steps must resolve every pulse")
        steps = []
        for k, s in enumerate(segs):
            if s.t1 <= s.t0:
                continue
            n = max(1, int(math.ceil((s.t1 - s.t0) / (dt_gap if s.constant else dt) - 1e-9)))
            h = (s.t1 - s.t0) / n
            steps.extend((s.t0 + i * h, h, k) for i in range(n))
        return TimeGrid(tuple(steps))

    def __len__(self):
        return len(self.steps)


def sequence_fingerprint(sequence: Sequence) -> list:
    """Breakpoints and F at a few interior points of every segment (identifies a run's sequence)."""
    out = [type(sequence).__name__]
    for s in sequence.segments():
        t = s.t0 + (s.t1 - s.t0) * np.array([0.0, 0.25, 0.5, 0.75, 1.0])
        out.append([float(s.t0), float(s.t1), bool(s.constant)] + [float(v) for v in np.atleast_1d(s.F(t))])
    return out


def max_abs_F(sequence: Sequence, samples: int = 65) -> float:
    return max(float(np.max(np.abs(np.atleast_1d(s.F(np.linspace(s.t0, s.t1, samples))))))
               for s in sequence.segments())


# ---------------------------------------------------------------------------------------------------------
# the discrete problem


def _global_count(comm, n) -> int:
    return int(comm.allreduce(int(n), op=MPI.SUM))


def mesh_size(msh) -> float:
    """Largest cell diameter of the mesh (global)."""
    n = msh.topology.index_map(msh.topology.dim).size_local
    x = msh.geometry.x[msh.geometry.dofmaps[0][:n]]  # (cells, nodes, 3)
    k = x.shape[1]
    hloc = max((np.linalg.norm(x[:, i] - x[:, j], axis=1).max(initial=0.0)
                for i in range(k) for j in range(i + 1, k)), default=0.0)
    return float(msh.comm.allreduce(hloc, op=MPI.MAX))


@dataclass
class SignalResult:
    """Signal of one fine-scale run. ``signal`` and ``compartments`` are complex (Im ~ round-off for PGSE)."""

    signal: complex
    compartments: dict  # {"e": complex, "c": complex}
    q: float
    direction: tuple
    b: float
    steps: int
    factorizations: int
    seconds: float
    resumed_from_step: int = 0
    times: np.ndarray = field(default_factory=lambda: np.zeros(0))
    norms: np.ndarray = field(default_factory=lambda: np.zeros(0))  # ||U(t)||_M at step ends
    krylov_iterations: int = 0  # GMRES iterations of the pulse steps (refactor_every > 1)

    def to_json(self) -> dict:
        return {"signal": self.signal.real, "signal_imag": self.signal.imag,
                "signal_compartments": {k: v.real for k, v in self.compartments.items()},
                "q": self.q, "b": self.b, "direction": list(self.direction), "steps": self.steps,
                "factorizations": self.factorizations, "krylov_iterations": self.krylov_iterations,
                "seconds": self.seconds,
                "resumed_from_step": self.resumed_from_step}


class ReferenceProblem:
    """The discrete two-compartment Bloch–Torrey operator on one cell mesh (unit cell Y, period eps*Y).

    ``cell``: a :class:`homfx.geometry.CellMesh` with phases ``"e"`` (connected to the box faces) and
    optionally ``"c"``; a cell without any c cell is a one-compartment problem. ``De``, ``Dc``: diffusivities,
    ``kappa``: the physical membrane permeability kappa_eps (>= 0), ``eps``: the physical period (the cell
    Y is scaled by eps). All in one consistent unit system.
    """

    def __init__(self, cell, De: float, Dc: float, kappa: float, *, eps: float = 1.0):
        for name, v in (("De", De), ("Dc", Dc), ("eps", eps)):
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be a positive number, got {v!r}")
        if not (isinstance(kappa, (int, float)) and math.isfinite(kappa) and kappa >= 0):
            raise ValueError(f"kappa (membrane permeability) must be >= 0, got {kappa!r}")
        t0 = time.perf_counter()
        self.cell, self.De, self.Dc, self.kappa, self.eps = cell, float(De), float(Dc), float(kappa), float(eps)
        self.comm = cell.comm
        self.stage_systems: dict = {}  # (stages, lagged) -> {"gap"|"pulse": _StageSystem}, kept across runs
        msh = cell.mesh
        self.dim = msh.geometry.dim
        tdim = msh.topology.dim
        cta = cell.cell_tag_array()
        n_own = msh.topology.index_map(tdim).size_local
        e_tags = tuple(cell.phase_tags("e"))
        c_tags = tuple(cell.phases.get("c", ()))
        self.compartments = ["e"]
        if c_tags and _global_count(self.comm, np.isin(cta[:n_own], c_tags).sum()) > 0:
            self.compartments.append("c")
        if _global_count(self.comm, np.isin(cta[:n_own], e_tags).sum()) == 0:
            raise ValueError("the cell has no extra-cellular ('e') cells")
        tags = {"e": e_tags, "c": c_tags}
        self.h = mesh_size(msh)

        # one submesh and P1 space per compartment
        self.spaces, self.entity_maps = {}, []
        for a in self.compartments:
            cells = np.flatnonzero(np.isin(cta, tags[a])).astype(np.int32)
            sub, emap, _, _ = dolfinx.mesh.create_submesh(msh, tdim, cells)
            self.spaces[a] = dolfinx.fem.functionspace(sub, ("Lagrange", 1))
            self.entity_maps.append(emap)
        nc = len(self.compartments)
        # block layout: [Re_e, Re_c, Im_e, Im_c] (or [Re_e, Im_e])
        self.block_spaces = [self.spaces[a] for a in self.compartments] * 2
        self.block_names = [f"{p}_{a}" for p in ("re", "im") for a in self.compartments]
        W = ufl.MixedFunctionSpace(*self.block_spaces)
        U, V = ufl.TrialFunctions(W), ufl.TestFunctions(W)
        comps = list(enumerate(self.compartments))
        uR, uI = {a: U[i] for i, a in comps}, {a: U[nc + i] for i, a in comps}
        vR, vI = {a: V[i] for i, a in comps}, {a: V[nc + i] for i, a in comps}
        dx = ufl.Measure("dx", domain=msh, subdomain_data=cell.cell_tags)
        D = {"e": self.De, "c": self.Dc}
        dxa = {a: dx(tags[a]) for a in self.compartments}

        def both(bil):  # the same real bilinear form on the Re and the Im blocks
            return sum(bil(uR[a], vR[a], a) + bil(uI[a], vI[a], a) for a in self.compartments)

        forms = {
            "M": both(lambda u, v, a: u * v * dxa[a]),
            "K": both(lambda u, v, a: D[a] * ufl.inner(ufl.grad(u), ufl.grad(v)) * dxa[a]),
            "MD": both(lambda u, v, a: D[a] * u * v * dxa[a]),
        }
        for k in range(self.dim):  # real form of i*C_k: rows Re: -C_k u_I, rows Im: +C_k u_R
            forms[f"C{k}"] = sum(
                D[a] * (-(vR[a] * uI[a].dx(k) - uI[a] * vR[a].dx(k)) + (vI[a] * uR[a].dx(k) - uR[a] * vI[a].dx(k)))
                * dxa[a] for a in self.compartments)
        self.num_interface_facets = 0
        if nc == 2:
            # owned e|c facets, ordered so that '+' is the e cell (notes_interface_dolfinx011 §3, P2)
            ents = ordered_interface_entities(msh, cta, phase_interface_facets(cell, "e", "c"), e_tags)
            self.num_interface_facets = _global_count(self.comm, len(ents) // 4)
            dS = ufl.Measure("dS", domain=msh, subdomain_data=[(1, ents)])
            jump = lambda u: u["e"]("+") - u["c"]("-")  # noqa: E731  [u] = u^e - u^c, '+' = e side
            forms["J"] = (jump(uR) * jump(vR) + jump(uI) * jump(vI)) * dS(1)
            if self.num_interface_facets == 0:
                raise ValueError("no interface facets between the 'e' and 'c' cells were found")
        self._measures = dxa
        self.block_forms = {}
        for name, f in forms.items():
            self.block_forms[name] = dolfinx.fem.form(ufl.extract_blocks(f), entity_maps=self.entity_maps)

        self.restriction = periodic_restriction(self.block_spaces, cell.lengths)
        self.full = {name: self._assemble(bf) for name, bf in self.block_forms.items()}
        red = {name: self.restriction.reduce(A) for name, A in self.full.items()}
        self.reduced = _common_pattern(red)
        self.num_dofs = self.restriction.num_reduced  # real unknowns (Re and Im)
        self._reduced_layout()
        self.setup_seconds = time.perf_counter() - t0

    def rescaled(self, *, eps: float | None = None, kappa: float | None = None) -> "ReferenceProblem":
        """The same discrete problem (mesh, matrices) for another period eps and/or permeability kappa."""
        import copy

        out = copy.copy(self)
        if eps is not None:
            if not (isinstance(eps, (int, float)) and math.isfinite(eps) and eps > 0):
                raise ValueError(f"eps must be a positive number, got {eps!r}")
            out.eps = float(eps)
        if kappa is not None:
            if not (isinstance(kappa, (int, float)) and math.isfinite(kappa) and kappa >= 0):
                raise ValueError(f"kappa (membrane permeability) must be >= 0, got {kappa!r}")
            out.kappa = float(kappa)
        return out

    # -- assembly helpers -------------------------------------------------------------------------------

    def _assemble(self, bforms):
        A = dolfinx.fem.petsc.assemble_matrix(bforms, kind=None)
        A.assemble()
        return A

    def _block_vector(self, per_block: list) -> "PETSc.Vec":
        """A full (unreduced) vector in the monolithic block layout from per-block owned arrays."""
        x = self.restriction.P.createVecLeft()
        x.setArray(np.concatenate(per_block) if per_block else np.zeros(0))
        return x

    def _reduced_layout(self):
        """Block id and (mean) coordinates of every owned reduced DOF, the initial state and the signal
        weights (all reduced)."""
        R = self.restriction
        owned = [V.dofmap.index_map.size_local for V in self.block_spaces]
        mult = R.restrict(self._block_vector([np.ones(n) for n in owned])).getArray().copy()
        bid = R.restrict(self._block_vector([np.full(n, float(b)) for b, n in enumerate(owned)])).getArray()
        self.block_id = np.rint(bid / mult).astype(np.int64)
        # coordinates of the master (the full DOF not on a top face x_k = L_k) of every reduced DOF
        L = np.asarray(self.cell.lengths, dtype=float)
        xs = [V.tabulate_dof_coordinates()[:n, : self.dim] for V, n in zip(self.block_spaces, owned)]
        master = [np.all(np.abs(x - L) > 1e-8 * L.max(), axis=1) for x in xs]
        coords = [R.restrict(self._block_vector([x[:, k] * m for x, m in zip(xs, master)])).getArray()
                  for k in range(self.dim)]
        self.reduced_coords = np.column_stack(coords)
        nc = len(self.compartments)
        # weights w_b = P^T (int phi dx over the compartment) for every block b
        v = [ufl.TestFunction(V) for V in self.block_spaces]
        self.weights = {}
        for b, (name, V) in enumerate(zip(self.block_names, self.block_spaces)):
            a = self.compartments[b % nc]
            vecs = []
            for bb, Vb in enumerate(self.block_spaces):
                if bb == b:
                    form = dolfinx.fem.form(v[b] * self._measures[a], entity_maps=self.entity_maps)
                    w = assemble_linear(form)
                    vecs.append(w.getArray()[: owned[bb]].copy())
                    w.destroy()
                else:
                    vecs.append(np.zeros(owned[bb]))
            self.weights[name] = R.restrict(self._block_vector(vecs))
        self.compartment_volumes = {a: self.weights[f"re_{a}"].sum() for a in self.compartments}
        self.cell_volume = float(np.prod(self.cell.lengths))

    def initial_state(self, values: dict | None = None) -> "PETSc.Vec":
        """U(0) = values[alpha] (real, default 1 = M_init) on every DOF of compartment alpha."""
        values = {} if values is None else dict(values)
        unknown = set(values) - set(self.compartments)
        if unknown:
            raise ValueError(f"initial: unknown compartments {sorted(unknown)} (have {self.compartments})")
        nc = len(self.compartments)
        per_block = np.array([float(values.get(a, 1.0)) for a in self.compartments] + [0.0] * nc)
        x = self.reduced["M"].createVecRight()
        x.setArray(per_block[self.block_id])
        return x

    def operator_parts(self, q: float, n: np.ndarray):
        """(A0, A1, A2) with A(t) = A0 + F(t) A1 + F(t)^2 A2 (real block form, reduced, common pattern)."""
        R = self.reduced
        A0 = R["K"].copy()
        A0.scale(self.eps ** -2)
        if "J" in R:
            A0.axpy(self.kappa / self.eps, R["J"], structure=PETSc.Mat.Structure.SAME_NONZERO_PATTERN)
        A1 = R["M"].duplicate(copy=False)
        A1.zeroEntries()
        for k in range(self.dim):
            if n[k] != 0.0:
                A1.axpy(q * n[k] / self.eps, R[f"C{k}"], structure=PETSc.Mat.Structure.SAME_NONZERO_PATTERN)
        A2 = R["MD"].copy()
        A2.scale(q * q)
        return A0, A1, A2

    def signals_of(self, y: "PETSc.Vec") -> tuple[complex, dict]:
        """(S, {alpha: S_alpha}) of a reduced state (spec §1.5)."""
        comp = {a: complex(self.weights[f"re_{a}"].dot(y), self.weights[f"im_{a}"].dot(y)) / self.cell_volume
                for a in self.compartments}
        return sum(comp.values()), comp

    def mass_norm(self, y: "PETSc.Vec", work: "PETSc.Vec | None" = None) -> float:
        work = self.reduced["M"].createVecLeft() if work is None else work
        self.reduced["M"].mult(y, work)
        return math.sqrt(max(y.dot(work), 0.0))

    def phase_per_element(self, q: float, sequence: Sequence) -> float:
        """Largest phase change of exp(i q F x.n) across one element of the physical mesh: q max|F| eps h."""
        return q * max_abs_F(sequence) * self.eps * self.h

    # -- time stepping ----------------------------------------------------------------------------------

    def signal(self, *, q: float, direction, sequence: Sequence, dt: float,
               dt_gap: float | None = None, stages: int = 3, checkpoint: str | Path | None = None,
               checkpoint_dir: str | Path | None = None, checkpoint_every: float = 60.0,
               callback: Callable[[int, float], None] | None = None,
               show_progress: bool = True, max_phase_per_element: float = 1.0,
               initial: dict | None = None, refactor_every: int = 1) -> SignalResult:
        """Integrate M U' + A(t) U = 0 from U(0) = 1 to T_E; return the signal.

        ``dt``: largest step in the pulses (must not exceed a pulse), ``dt_gap``: where f = 0 (default dt).
        ``stages``: Radau IIA stages (1: implicit Euler, 2: order 3, 3: order 5).
        ``checkpoint``: a file; the state is saved there (atomically) every ``checkpoint_every`` seconds
        and at the end; a run with the same parameters resumes from it (or returns the stored result).
        ``checkpoint_dir``: the same with the file name made from the hash of the run's parameters.
        ``callback(step, t)`` is called after every step (e.g. to stop a run in tests).
        ``initial``: {compartment: constant} initial magnetization (default 1 everywhere, M_init = 1).
        ``refactor_every``: 1 = one LU per pulse step (default); k > 1 = GMRES (rtol 1e-13) on the pulse
        stage system preconditioned by the LU of a pulse operator at most k - 1 steps old (about 2x faster
        for k ~ 8; the signal changes by ~1e-13).
        """
        t_start = time.perf_counter()
        n, grid = self.validate_run(q=q, direction=direction, sequence=sequence, dt=dt, dt_gap=dt_gap,
                                    stages=stages, max_phase_per_element=max_phase_per_element,
                                    refactor_every=refactor_every)
        b = q * q * sequence.integral_F2()
        key = self._run_key(q, n, sequence, grid, stages, initial)
        if checkpoint is None and checkpoint_dir is not None:
            checkpoint = Path(checkpoint_dir) / f"ref-{key}.npz"
        ckpt = _Checkpoint(checkpoint, key, self) if checkpoint is not None else None

        y = self.initial_state(initial)
        start, times, norms = 0, [0.0], [self.mass_norm(y)]
        if ckpt is not None:
            state = ckpt.load()
            if state is not None and state.get("done"):
                s = complex(*state["signal"])
                comp = {a: complex(*v) for a, v in state["compartments"].items()}
                return SignalResult(s, comp, q, tuple(n), b, len(grid), 0, time.perf_counter() - t_start,
                                    len(grid), np.asarray(state["times"]), np.asarray(state["norms"]))
            if state is not None:
                start = int(state["step"])
                y.setArray(state["y"])
                times, norms = list(state["times"]), list(state["norms"])

        A_rk, c_rk = RADAU_IIA[stages]
        parts = self.operator_parts(q, n)
        segments = sequence.segments()
        work = y.duplicate()
        last_save = time.perf_counter()
        bar = None
        if show_progress:
            from homfx.progress import progress
            bar = progress(total=len(grid), desc=f"Ref q={q:.4g}", initial=start)
        stepper = _RadauStepper(self, parts, A_rk, c_rk, refactor_every=refactor_every)
        try:
            for k in range(start, len(grid)):
                t0, h, iseg = grid.steps[k]
                seg = segments[iseg]
                if q > 0.0:
                    Fs = [float(seg.F(t0 + c * h)) for c in c_rk]
                    stepper.step(y, h, Fs, constant=seg.constant)
                else:  # A does not depend on F: one operator per step size
                    stepper.step(y, h, [0.0] * len(c_rk), constant=True)
                times.append(t0 + h)
                norms.append(self.mass_norm(y, work))
                if bar is not None:
                    bar.update(1)
                if ckpt is not None and k + 1 < len(grid):
                    due = self.comm.bcast(time.perf_counter() - last_save >= checkpoint_every, root=0)
                    if due:
                        ckpt.save(dict(step=k + 1, y=y, times=times, norms=norms))
                        last_save = time.perf_counter()
                if callback is not None:
                    callback(k + 1, t0 + h)
        except BaseException:
            self.release_solvers()  # a failed or interrupted run leaves no half-updated factorization
            raise
        finally:
            if bar is not None:
                bar.close()
            stepper.destroy()
        s, comp = self.signals_of(y)
        if ckpt is not None:
            ckpt.save(dict(done=True, signal=[s.real, s.imag],
                           compartments={a: [v.real, v.imag] for a, v in comp.items()},
                           times=times, norms=norms))
        return SignalResult(s, comp, q, tuple(float(v) for v in n), b, len(grid), stepper.factorizations,
                            time.perf_counter() - t_start, start, np.asarray(times), np.asarray(norms),
                            stepper.krylov_iterations)

    def release_solvers(self) -> None:
        """Free the kept stage systems and their factorizations (collective; the next run rebuilds them).
        Problems made by :meth:`rescaled` share them (same mesh and pattern): this frees them for all."""
        for pool in self.stage_systems.values():
            for entry in pool.values():
                entry.destroy()
        self.stage_systems.clear()  # in place: the rescaled copies hold the same dict

    def validate_run(self, *, q, direction, sequence, dt, dt_gap=None, stages=3,
                     max_phase_per_element: float = 1.0, refactor_every: int = 1):
        """Check a run's input (ValueError naming the parameter); returns (unit direction, time grid)."""
        n = _unit_direction(direction, self.dim)
        q_ok(q)
        if not (isinstance(refactor_every, (int, np.integer)) and refactor_every >= 1):
            raise ValueError(f"--refactor-every must be an integer >= 1, got {refactor_every!r}")
        if stages not in RADAU_IIA:
            raise ValueError(f"--stages must be 1, 2 or 3 (Radau IIA), got {stages}")
        phase = self.phase_per_element(q, sequence)
        if phase > max_phase_per_element:
            raise ValueError(
                f"eps = {self.eps:g}: the cell is not resolved by the mesh at this gradient strength: the "
                f"phase q*max|F|*eps*h = {phase:.3g} rad per element exceeds {max_phase_per_element:g} "
                f"(mesh size h = {self.h:.3g} of the unit cell); use a finer mesh or a smaller cell")
        return n, TimeGrid.build(sequence, dt, dt_gap)

    def _run_key(self, q, n, sequence, grid, stages, initial) -> str:
        data = dict(De=self.De, Dc=self.Dc, kappa=self.kappa, eps=self.eps, q=q, n=[float(v) for v in n],
                    sequence=sequence_fingerprint(sequence), steps=len(grid), h=[s[1] for s in grid.steps[:1]],
                    stages=stages, initial=sorted((initial or {}).items()), dofs=self.num_dofs,
                    lengths=list(self.cell.lengths),
                    volumes={a: round(float(v), 9) for a, v in self.compartment_volumes.items()})
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def _unit_direction(direction, dim) -> np.ndarray:
    n = unit_direction(direction)  # ValueError for a zero or non-finite vector
    if n.shape != (dim,):
        raise ValueError(f"--direction must have {dim} components, got {list(np.ravel(direction))}")
    return n


def _common_pattern(mats: dict) -> dict:
    """Copies of the reduced matrices that all share the union sparsity pattern (so that linear
    combinations use SAME_NONZERO_PATTERN and every stage matrix has one fixed pattern)."""
    it = iter(mats.values())
    U = next(it).copy()
    for A in it:
        U.axpy(1.0, A, structure=PETSc.Mat.Structure.DIFFERENT_NONZERO_PATTERN)
    out = {}
    for name, A in mats.items():
        B = U.duplicate(copy=False)
        B.zeroEntries()
        B.axpy(1.0, A, structure=PETSc.Mat.Structure.SUBSET_NONZERO_PATTERN)
        out[name] = B
    U.destroy()
    return out


@dataclass
class _StageSystem:
    """A stage matrix K (all stage systems of one Radau scheme share its sparsity pattern) and its solver;
    ``loaded``: the (h, F) whose values K holds in the current run (None: reload before use)."""

    blocks: list
    nest: object
    K: object
    solver: LinearSolver
    loaded: tuple | None = None

    def destroy(self):
        self.solver.destroy()
        if getattr(self.solver, "pc_matrix", None) is not None:
            self.solver.pc_matrix.destroy()
        if self.nest is not None:
            self.nest.destroy()
            self.K.destroy()
        for row in self.blocks:
            for B in row:
                B.destroy()


class _RadauStepper:
    """One Radau IIA step: (delta_ij M + h a_ij A(t_j)) Y_j = M y_n, y_{n+1} = Y_s.

    The s x s block stage matrix is a MatNest of reduced blocks converted to AIJ. Two stage systems are
    kept (``prob.stage_systems``, across runs): "gap" holds the constant-F operator of a gap (loaded and
    factored once while (h, F) stays the same), "pulse" is updated in place every pulse step and refactored
    (``refactor_every = 1``), or, with ``refactor_every = k > 1``, solved by GMRES (relative residual
    1e-13) preconditioned with the LU of the pulse operator of up to k - 1 steps before (spec §1.8: "the LU
    of a nearby step as preconditioner"), refactored every k steps. All stage matrices have one pattern, so
    MUMPS' symbolic analysis (sequential, ~1 s at 200k DOFs) is done once per system and ReferenceProblem;
    every run (b-value) then pays only the numeric factorizations it counts in ``factorizations``."""

    def __init__(self, prob: ReferenceProblem, parts, A_rk, c_rk, refactor_every: int = 1):
        self.prob, self.parts, self.A_rk, self.c_rk = prob, parts, A_rk, c_rk
        self.s = len(c_rk)
        self.refactor_every = int(refactor_every)
        self._since_factor = 0
        self.krylov_iterations = 0
        self.M = prob.reduced["M"]
        self.pool = prob.stage_systems.setdefault((self.s, self.refactor_every > 1), {})
        for entry in self.pool.values():  # values of another run (other q, direction): reload on first use
            entry.loaded = None
        self.factorizations = 0
        self._rhs = self._sol = self._iss = None
        self._work = None
        self._My = self.M.createVecLeft()

    def _blocks(self, h, Fs, blocks=None):
        s = self.s
        A0, A1, A2 = self.parts
        same = PETSc.Mat.Structure.SAME_NONZERO_PATTERN
        if self._work is None:  # A(t_j) = A0 + F_j A1 + F_j^2 A2, one work matrix per stage, kept
            self._work = [A0.duplicate(copy=False) for _ in range(s)]
        Aj = self._work
        for A, F in zip(Aj, Fs):
            A0.copy(A, structure=same)
            A.axpy(F, A1, structure=same)
            A.axpy(F * F, A2, structure=same)
        if blocks is None:
            blocks = [[self.M.duplicate(copy=False) for _ in range(s)] for _ in range(s)]
        for i in range(s):
            for j in range(s):
                B = blocks[i][j]
                B.zeroEntries()
                if i == j:
                    B.axpy(1.0, self.M, structure=same)
                B.axpy(h * self.A_rk[i, j], Aj[j], structure=same)
        return blocks

    def _new_system(self, h, Fs, name, lagged=False) -> _StageSystem:
        blocks = self._blocks(h, Fs)
        if self.s == 1:
            K = blocks[0][0]
            nest = None
        else:
            nest = PETSc.Mat().createNest(blocks, comm=self.M.comm)
            K = nest.convert("aij", PETSc.Mat())
        if lagged:  # GMRES on K, preconditioned by the LU of a copy of K refreshed every k steps
            P = K.copy()
            solver = LinearSolver(K, name, method="gmres", rtol=1e-13, max_it=200, pc_matrix=P,
                                  options={"pc_type": "lu", "pc_factor_mat_solver_type": "mumps",
                                           "ksp_gmres_restart": 60,
                                           "ksp_initial_guess_nonzero": True})  # x = y_n (or last Y)
        else:
            solver = LinearSolver(K, name, method="lu")
        return _StageSystem(blocks, nest, K, solver)

    def _load(self, entry: _StageSystem, h, Fs):
        """New values into K (same pattern): the next solve refactors numerically."""
        self._blocks(h, Fs, entry.blocks)
        if entry.nest is not None:
            entry.nest.convert("aij", entry.K)  # MAT_REUSE_MATRIX: same pattern, new values

    def _entry(self, role, h, Fs, name, lagged=False) -> tuple[_StageSystem, bool]:
        """(the system of this role holding the values of (h, Fs), whether it was created or reloaded)."""
        key = (round(h, 15), tuple(round(F, 15) for F in Fs))
        entry = self.pool.get(role)
        if entry is None:
            entry = self.pool[role] = self._new_system(h, Fs, name, lagged)
        elif entry.loaded == key:
            return entry, False
        else:
            self._load(entry, h, Fs)
        entry.loaded = key
        return entry, True

    def _system(self, h, Fs, constant) -> _StageSystem:
        if constant:
            entry, fresh = self._entry("gap", h, Fs, "Bloch-Torrey stage system (gap)")
            self.factorizations += fresh
            return entry
        if self.refactor_every == 1:
            entry, _ = self._entry("pulse", h, Fs, "Bloch-Torrey stage system (pulse)")
            entry.loaded = None  # F changes every pulse step
            self.factorizations += 1
            return entry
        first = self.pool.get("pulse") is None or self.pool["pulse"].loaded is None
        entry, _ = self._entry("pulse", h, Fs, "Bloch-Torrey stage system (pulse)", lagged=True)
        self._since_factor = 0 if first else self._since_factor + 1
        if first or self._since_factor >= self.refactor_every:  # refresh the preconditioner's LU
            entry.K.copy(entry.solver.pc_matrix, structure=PETSc.Mat.Structure.SAME_NONZERO_PATTERN)
            self.factorizations += 1
            self._since_factor = 0
        return entry

    def step(self, y, h, Fs, constant):
        entry = self._system(h, Fs, constant)
        solver = entry.solver
        self.M.mult(y, self._My)
        if self.s == 1:
            solver.solve(self._My, y)
            if solver.method != "lu":
                self.krylov_iterations += solver.iterations
            return
        if self._rhs is None:
            self._rhs, self._sol = entry.K.createVecRight(), entry.K.createVecRight()
            self._iss = entry.nest.getNestISs()[0]
        for i in range(self.s):
            sub = self._rhs.getSubVector(self._iss[i])
            self._My.copy(sub)
            self._rhs.restoreSubVector(self._iss[i], sub)
        solver.solve(self._rhs, self._sol)
        if solver.method != "lu":
            self.krylov_iterations += solver.iterations
        sub = self._sol.getSubVector(self._iss[self.s - 1])
        sub.copy(y)
        self._sol.restoreSubVector(self._iss[self.s - 1], sub)

    def destroy(self):
        for v in [self._My, self._rhs, self._sol] + (self._work or []):
            if v is not None:
                v.destroy()


# ---------------------------------------------------------------------------------------------------------
# cells


def slab_cell(width: float, n: int, *, lengths=(1.0, 1.0), comm=None):
    """A strip compartment 'c' of width ``width``*L_1 normal to e1, centred in the cell, in a structured
    mesh with ``n`` cells per unit length; 'e' is the rest (connected through the periodic faces x_1 = 0, L_1).
    The interfaces x_1 = L_1 (1 -+ width)/2 must fall on mesh lines, with >= 2 cells across each layer."""
    from homfx.geometry import structured_cell

    if not (isinstance(width, (int, float)) and 0 < width < 1):
        raise ValueError(f"--width must lie in (0, 1) (fraction of the cell), got {width!r}")
    if not (isinstance(n, (int, np.integer)) and n >= 1):
        raise ValueError(f"n must be a positive integer, got {n!r}")
    L1 = float(lengths[0])
    edge = n * L1 * (1 - width) / 2
    if abs(edge - round(edge)) > 1e-9:
        raise ValueError(f"slab: the interfaces at x1 = {L1 * (1 - width) / 2:g}, {L1 * (1 + width) / 2:g} do "
                         f"not fall on the mesh lines of a mesh with {n} cells per unit length")
    if n * L1 * width < 2 - 1e-9 or 2 * edge < 2 - 1e-9:
        raise ValueError(f"slab: the mesh (h = {1 / n:g}) does not resolve the layers (width {width:g}): "
                         "use at least 2 cells across each layer")
    lo, hi = L1 * (1 - width) / 2, L1 * (1 + width) / 2
    return structured_cell(len(lengths), n, lengths=lengths, comm=comm, phase_names=("e", "c"),
                           phase_of=lambda x: ((x[0] > lo) & (x[0] < hi)).astype(np.int32))


# ---------------------------------------------------------------------------------------------------------
# checkpoints


class _Checkpoint:
    """An atomic .npz checkpoint of one run (key = hash of the parameters). The state is stored with the
    (block, mean coordinates) of every reduced DOF, so a run resumes on any partition of the same mesh."""

    def __init__(self, path, key: str, prob: ReferenceProblem):
        self.path, self.key, self.prob, self.comm = Path(path), key, prob, prob.comm

    def _gather(self, local: np.ndarray):
        parts = self.comm.gather(local, root=0)
        return np.concatenate(parts) if self.comm.rank == 0 else None

    def save(self, state: dict):
        from homfx.io import atomic_write_bytes

        p = self.prob
        payload = {"key": self.key}
        if "y" in state:
            payload["y"] = self._gather(state["y"].getArray().copy())
            payload["dof_keys"] = self._gather(np.column_stack([p.block_id, p.reduced_coords]))
        meta = {k: v for k, v in state.items() if k != "y"}
        if self.comm.rank == 0:
            buf = _io.BytesIO()
            np.savez(buf, meta=np.array(json.dumps(meta, default=float)),
                     **{k: v for k, v in payload.items() if k != "key"}, key=np.array(self.key))
            atomic_write_bytes(self.path, buf.getvalue())
        self.comm.barrier()

    def load(self):
        """The stored state (with ``y`` matched to this partition), or None if there is none."""
        data = None
        if self.comm.rank == 0 and self.path.exists():
            with np.load(self.path) as z:
                data = {k: z[k] for k in z.files}
        data = self.comm.bcast(data, root=0)
        if data is None:
            return None
        if str(data["key"]) != self.key:
            raise ValueError(f"checkpoint {self.path} belongs to a different run (parameters or mesh differ); "
                             "remove it or use another checkpoint path")
        state = json.loads(str(data["meta"]))
        if "y" in data:
            from scipy.spatial import cKDTree

            p = self.prob
            mine = np.column_stack([p.block_id, p.reduced_coords])
            scale = 1e3 * max(p.cell.lengths)
            keyf = lambda k: np.column_stack([k[:, 0] * scale, k[:, 1:]])  # noqa: E731
            dist, j = cKDTree(keyf(data["dof_keys"])).query(keyf(mine))
            worst = self.comm.allreduce(float(dist.max(initial=0.0)), op=MPI.MAX)
            if worst > 1e-9 * max(p.cell.lengths):
                raise ValueError(f"checkpoint {self.path}: its DOFs do not match this mesh")
            state["y"] = data["y"][j]
        return state


# ---------------------------------------------------------------------------------------------------------
# ensembles: b-values / directions / scalings split over MPI sub-communicators


@dataclass(frozen=True)
class RefItem:
    """One reference run of an ensemble: gradient q along ``direction``; optionally its own period eps
    and permeability kappa (the ensemble's defaults otherwise; the mesh is shared)."""

    q: float
    direction: tuple = (0.0, 1.0)
    eps: float | None = None
    kappa: float | None = None


@dataclass
class EnsembleResult:
    results: list  # SignalResult per item, in input order
    dofs: int
    groups: int
    seconds: float
    setup_seconds: float


def split_comm(comm, n_items: int):
    """(sub-communicator, group index, number of groups): min(size, n_items) groups of ranks."""
    groups = max(1, min(comm.size, n_items))
    color = comm.rank * groups // comm.size
    return comm.Split(color, comm.rank), color, groups


def run_ensemble(make_cell: Callable, params: dict, items: list, sequence: Sequence, *, dt: float,
                 dt_gap: float | None = None, stages: int = 3, comm=None,
                 checkpoint_dir: str | Path | None = None, checkpoint_every: float = 60.0,
                 show_progress: bool = True, refactor_every: int = 1) -> EnsembleResult:
    """Signals for a list of items (:class:`RefItem` or (q, direction) pairs). The ranks of ``comm`` are
    split into min(size, len(items)) groups; each group meshes the cell on its sub-communicator
    (``make_cell(subcomm)``, deterministic, so every group has the same mesh) and solves items
    group, group + groups, ...; the results are gathered on every rank. ``params``: De, Dc, kappa, eps
    of :class:`ReferenceProblem` (defaults of the items)."""
    comm = MPI.COMM_WORLD if comm is None else comm
    t0 = time.perf_counter()
    items = [it if isinstance(it, RefItem) else RefItem(float(it[0]), tuple(it[1])) for it in items]
    if not items:
        raise ValueError("run_ensemble: no items")
    for it in items:  # validate on every rank before any collective work
        q_ok(it.q)
    sub, color, groups = split_comm(comm, len(items))
    base = ReferenceProblem(make_cell(sub), **params)
    for it in items:  # every group checks every item (same mesh): all raise together, none hangs
        base.rescaled(eps=it.eps, kappa=it.kappa).validate_run(
            q=it.q, direction=it.direction, sequence=sequence, dt=dt, dt_gap=dt_gap, stages=stages,
            refactor_every=refactor_every)
    mine = {}
    for i in range(color, len(items), groups):
        it = items[i]
        prob = base.rescaled(eps=it.eps, kappa=it.kappa)
        res = prob.signal(q=it.q, direction=it.direction, sequence=sequence, dt=dt, dt_gap=dt_gap,
                          stages=stages, checkpoint_dir=checkpoint_dir, checkpoint_every=checkpoint_every,
                          show_progress=show_progress and color == 0, refactor_every=refactor_every)
        res.times = res.norms = np.zeros(0)
        mine[i] = res
    base.release_solvers()  # collective on sub, before it is freed (the rescaled problems share them)
    gathered = comm.allgather(mine if sub.rank == 0 else {})
    sub.Free()
    allres = {}
    for d in gathered:
        allres.update(d)
    return EnsembleResult([allres[i] for i in range(len(items))], base.num_dofs, groups,
                          time.perf_counter() - t0, base.setup_seconds)


def q_ok(q) -> float:
    if not (isinstance(q, (int, float)) and math.isfinite(q) and q >= 0):
        raise ValueError(f"q must be a finite number >= 0, got {q!r}")
    return float(q)
