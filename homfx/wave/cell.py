"""The cell-problem cascade χ_k → θ_ij → κ_ijk → ρ_ijkl of the long-time wave equation [P (2.12a-d); spec §4].

Every level is a :class:`homfx.cellproblem.CellProblem` declaration (a few lines of UFL) with the SAME
operator ``(a∇u, ∇w)_Y`` on W_per(Y). The engine's ``solve_cell_problem`` assembles and factors per call,
and the right-hand sides of level n+1 depend on the solutions of level n, so the cascade is solved by a
:class:`FactoredCellOperator` built once from the engine's pieces (``periodic_restriction`` +
``MeanZeroSolver``): one assembly, one P^T A P, ONE factorization for all levels and all right-hand sides.
Every right-hand side's compatibility (mean of the RHS, |n^T b|/|b|_1) is measured and reported.

Normalization: zero-mean χ and θ (⟨χ_k⟩ = 0 is mandatory, §4.7); ``chi_shift`` adds constants to χ before the
θ level (to test the normalization (in)dependence, AC-7).

Tensor integrals (a⁰, ⟨χχ⟩, ā², κ-route C) are evaluated from ONE compiled ``dolfinx.fem.Expression`` at the
quadrature points of the cascade's measure (degree 2p+4 by default, §8.5), i.e. with exactly the quadrature
of the right-hand sides, so the θ problems are discretely compatible to round-off (§2.3, §4.3).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

import numpy as np
import ufl

from homfx._stack import MPI, PETSc, dolfinx
from homfx.cellproblem import CellProblem, _group_measures
from homfx.periodic import periodic_restriction
from homfx.solvers import MeanZeroSolver


def _sorted_key(*idx):
    return tuple(sorted(idx))


def distinct_permutations(idx):
    return sorted(set(itertools.permutations(idx)))


class FactoredCellOperator:
    """``(a∇u, ∇w)_Y`` on the periodic, mean-zero space: assembled, reduced and factored once; solves any
    :class:`CellProblem` whose bilinear form is this operator (any number of right-hand sides, any level)."""

    def __init__(self, a_form: ufl.Form, period, *, name: str = "wave cell operator", method: str = "lu"):
        t0 = time.perf_counter()
        self.ufl_a = a_form
        self.V = a_form.arguments()[1].ufl_function_space()
        self.name = name
        A = dolfinx.fem.petsc.assemble_matrix(dolfinx.fem.form(a_form))
        A.assemble()
        self.R = periodic_restriction(self.V, period)
        self.A = self.R.reduce(A)
        A.destroy()
        forms, inds = _group_measures(self.V, True)
        cs, ns = [], []
        for f, ind in zip(forms, inds):
            c = dolfinx.fem.petsc.assemble_vector(dolfinx.fem.form(f))
            c.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
            n = self.R.restrict(ind.x.petsc_vec)
            n.setArray((n.getArray(readonly=True) > 0).astype(float))
            cs.append(self.R.restrict(c))
            ns.append(n)
        self.solver = MeanZeroSolver(self.A, cs, name, method=method, indicators=ns)
        self.dofs = self.A.getSize()[0]
        self.setup_seconds = time.perf_counter() - t0
        self.num_factorizations = 1
        self.num_solves = 0

    def solve(self, problem: CellProblem) -> tuple[dict, dict]:
        """Solve every right-hand side of ``problem`` with the existing factorization.
        Returns ({key: Function}, {key: compatibility defect |mean RHS| relative to |RHS|_1})."""
        if problem.a is not self.ufl_a:
            raise ValueError(f"{problem.name}: the cell problem's operator is not the factored operator")
        sols, compat = {}, {}
        x = self.A.createVecRight()
        for key, L in problem.rhs.items():
            b = dolfinx.fem.petsc.assemble_vector(dolfinx.fem.form(L))
            b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
            b_red = self.R.restrict(b)
            # |mean of the RHS| relative to |b|_1 of the unrestricted vector (a RHS that vanishes only after
            # periodic gluing, e.g. χ_1 of a laminate in y_2, would otherwise report noise/noise)
            scale = max(b.norm(PETSc.NormType.NORM_1), 1e-300)
            compat[key] = float(self.solver.compatibility(b_red)[0] * b_red.norm(PETSc.NormType.NORM_1) / scale)
            self.solver.solve(b_red, x)
            u = dolfinx.fem.Function(self.V, name=f"{problem.name}{list(key) if isinstance(key, tuple) else key}")
            self.R.prolong(x, u.x.petsc_vec)
            u.x.scatter_forward()
            sols[key] = u
            b.destroy()
            b_red.destroy()
            self.num_solves += 1
        x.destroy()
        return sols, compat


@dataclass
class Cascade:
    """Solutions of the cascade and the quantities built from them (all MPI-global)."""

    mesh: object
    a: object  # UFL d×d coefficient
    degree: int
    dx: object
    volume: float
    chi: list
    theta: dict
    a0: np.ndarray
    kappa: dict = field(default_factory=dict)
    rho: dict = field(default_factory=dict)
    compatibility: dict = field(default_factory=dict)  # level -> {key: defect}
    dofs: int = 0
    timings: dict = field(default_factory=dict)
    operator: FactoredCellOperator | None = None
    chi_shift: np.ndarray | None = None

    @property
    def d(self) -> int:
        return self.mesh.geometry.dim

    def max_compatibility(self, level: str | None = None) -> float:
        lv = [level] if level else list(self.compatibility)
        return max((v for k in lv for v in self.compatibility.get(k, {}).values()), default=0.0)

    # -- tensor integrals ----------------------------------------------------------------------------------
    def tensors(self) -> dict:
        """a⁰ (2.8), B = ⟨χ_iχ_j⟩, ā² (Alg. 1 step 4), θ means, and the integrals of the κ-route."""
        d = self.d
        vals = quadrature_means(self, include_kappa=bool(self.kappa))
        A, chi, gth = vals["A"], vals["chi"], vals["grad_theta"]  # callables of the quadrature data
        B = np.array([[vals.mean(chi[i] * chi[j]) for j in range(d)] for i in range(d)])
        a2bar = np.zeros((d,) * 4)
        for (i, j, k, l) in _J(d):
            # ¼⟨a(χ_i e_j + χ_j e_i)·(χ_l e_k + χ_k e_l)⟩ − ⟨a∇θ_ij·∇θ_kl⟩
            first = 0.25 * vals.mean(A[j, k] * chi[i] * chi[l] + A[j, l] * chi[i] * chi[k]
                                     + A[i, k] * chi[j] * chi[l] + A[i, l] * chi[j] * chi[k])
            gij, gkl = gth[_sorted_key(i, j)], gth[_sorted_key(k, l)]
            second = vals.mean(sum(gij[m] * A[m, n] * gkl[n] for m in range(d) for n in range(d)))
            v = first - second
            for p, q in ((i, j), (j, i)):
                for r, s in ((k, l), (l, k)):
                    a2bar[p, q, r, s] = v
                    a2bar[r, s, p, q] = v
        a0_quad = np.array([[vals.mean(A[i, j] + sum(A[i, m] * vals["grad_chi"][j][m] for m in range(d)))
                             for j in range(d)] for i in range(d)])
        theta_mean = {k: vals.mean(v) for k, v in vals["theta"].items()}
        out = {"a0": self.a0, "a0_quadrature": a0_quad, "B": B, "a2_bar": a2bar, "theta_mean": theta_mean,
               "chi_mean": np.array([vals.mean(c) for c in chi])}
        if self.kappa:
            out["C_kappa"] = self._C_kappa(vals, theta_mean)
        return out

    def _C_kappa(self, vals, theta_mean) -> np.ndarray:
        """C_ijkl = S⁴{−⟨e_iᵀa∇κ_jkl⟩ − ⟨a_ij θ_kl⟩ + a⁰_ij⟨θ_kl⟩} (2.15) + (5.8) (§4.4)."""
        from homfx.wave.tensors import sym4

        d = self.d
        A, th, gk = vals["A"], vals["theta"], vals["grad_kappa"]
        T = np.zeros((d,) * 4)
        for i, j, k, l in itertools.product(range(d), repeat=4):
            g = gk[_sorted_key(j, k, l)]
            T[i, j, k, l] = (-vals.mean(sum(A[i, m] * g[m] for m in range(d)))
                             - vals.mean(A[i, j] * th[_sorted_key(k, l)]) + self.a0[i, j] * theta_mean[_sorted_key(k, l)])
        return sym4(T)


def _J(d):
    from homfx.wave.tensors import J_indices

    return J_indices(d)


class _QuadratureData(dict):
    """Values at the quadrature points (owned cells) with the weights w·|det J|; ``mean`` = MPI-global ⟨·⟩_Y."""

    def __init__(self, comm, weights, volume):
        super().__init__()
        self.comm, self.w, self.volume = comm, weights, volume

    def mean(self, values) -> float:
        return self.comm.allreduce(float(np.sum(self.w * values)), op=MPI.SUM) / self.volume


def quadrature_means(cas: Cascade, *, include_kappa: bool = False, chunk: int = 200_000) -> _QuadratureData:
    """Evaluate a, χ, ∇χ, θ, ∇θ (and ∇κ) at the quadrature points of ``cas.dx`` with ONE compiled Expression."""
    import basix

    msh, d = cas.mesh, cas.d
    qdeg = cas.dx.metadata()["quadrature_degree"]
    ct = getattr(basix.CellType, msh.topology.cell_name())
    X, wref = basix.make_quadrature(ct, qdeg)
    keys2 = sorted(cas.theta)
    keys3 = sorted(cas.kappa) if include_kappa else []
    comps = [cas.a[i, j] for i in range(d) for j in range(d)]
    comps += [c for c in cas.chi]
    comps += [ufl.grad(c)[m] for c in cas.chi for m in range(d)]
    comps += [cas.theta[k] for k in keys2]
    comps += [ufl.grad(cas.theta[k])[m] for k in keys2 for m in range(d)]
    comps += [ufl.grad(cas.kappa[k])[m] for k in keys3 for m in range(d)]
    comps += [abs(ufl.JacobianDeterminant(msh))]
    E = dolfinx.fem.Expression(ufl.as_vector(comps), X)
    n_own = msh.topology.index_map(msh.topology.dim).size_local
    parts = []
    for start in range(0, n_own, chunk):
        cells = np.arange(start, min(n_own, start + chunk), dtype=np.int32)
        parts.append(E.eval(msh, cells).reshape(len(cells), len(X), len(comps)))
    V = np.concatenate(parts, axis=0) if parts else np.zeros((0, len(X), len(comps)))
    V = V.reshape(-1, len(comps))
    w = (np.tile(wref, n_own) * V[:, -1]) if n_own else np.zeros(0)
    data = _QuadratureData(msh.comm, w, cas.volume)
    col = iter(range(len(comps)))
    data["A"] = np.empty((d, d), dtype=object)
    for i in range(d):
        for j in range(d):
            data["A"][i, j] = V[:, next(col)]
    data["chi"] = [V[:, next(col)] for _ in range(d)]
    data["grad_chi"] = [[V[:, next(col)] for _ in range(d)] for _ in range(d)]
    data["theta"] = {k: V[:, next(col)] for k in keys2}
    data["grad_theta"] = {k: [V[:, next(col)] for _ in range(d)] for k in keys2}
    data["grad_kappa"] = {k: [V[:, next(col)] for _ in range(d)] for k in keys3}
    return data


# --------------------------------------------------------------------------------------------------------------
# the cascade


def as_matrix_coefficient(a, d: int):
    return a * ufl.Identity(d) if len(ufl.shape(a)) == 0 else a


def solve_cascade(cell, a=None, *, degree: int = 2, levels: int = 2, quadrature_degree: int | None = None,
                  method: str = "lu", chi_shift=None, member=None) -> Cascade:
    """Solve the cascade up to ``levels`` (1: χ, 2: +θ, 3: +κ, 4: +ρ) with ONE factorization.

    ``cell``: a CellMesh or a :class:`homfx.wave.cells.WaveCell` (then ``a`` defaults to its coefficient).
    ``a``: UFL coefficient, scalar or d×d, on the cell mesh. ``chi_shift``: constants added to χ before θ.
    ``member``: (b⁰, a²) as an ``EffectiveTensors`` (or a tuple), needed for ρ (level 4): the ρ problems are
    compatible iff (b⁰, a²) satisfies (3.4) (§4.5); their defects are in ``compatibility['rho']``."""
    from homfx.wave.cells import WaveCell

    if isinstance(cell, WaveCell):
        a = cell.a if a is None else a
        cell = cell.cell
    if a is None:
        raise ValueError("solve_cascade: the coefficient a is required")
    if degree not in (1, 2, 3):
        raise ValueError(f"--degree must be 1, 2 or 3, got {degree}")
    if levels not in (1, 2, 3, 4):
        raise ValueError(f"levels must be 1..4, got {levels}")
    if levels == 4 and member is None:
        raise ValueError("levels=4 (ρ) needs the effective member (b0, a2)")
    t = {}
    t0 = time.perf_counter()
    msh, d = cell.mesh, cell.dim
    A = as_matrix_coefficient(a, d)
    V = dolfinx.fem.functionspace(msh, ("Lagrange", degree))
    qdeg = quadrature_degree or 2 * degree + 4
    dx = ufl.Measure("dx", domain=msh, metadata={"quadrature_degree": qdeg})
    u, w = ufl.TrialFunction(V), ufl.TestFunction(V)
    a_form = ufl.inner(ufl.dot(A, ufl.grad(u)), ufl.grad(w)) * dx
    op = FactoredCellOperator(a_form, cell.lengths, name=f"wave cascade P{degree}", method=method)
    t["operator"] = time.perf_counter() - t0
    vol = float(np.prod(cell.lengths))

    def const(v):
        return dolfinx.fem.Constant(msh, PETSc.ScalarType(v))

    E = [const(np.eye(d)[k]) for k in range(d)]  # unit vectors as Constants: one compiled form per structure

    # (2.12a): (a∇χ_k, ∇w) = −(a e_k, ∇w)
    t0 = time.perf_counter()
    chi_prob = CellProblem(a_form, {k: -ufl.inner(ufl.dot(A, E[k]), ufl.grad(w)) * dx for k in range(d)},
                           name="chi", period=cell.lengths)
    chi_sol, compat_chi = op.solve(chi_prob)
    chi = [chi_sol[k] for k in range(d)]
    compat = {"chi": compat_chi}
    t["chi"] = time.perf_counter() - t0

    # (2.8) a⁰_ij = ⟨a_ij + e_iᵀa∇χ_j⟩, same quadrature as the θ right-hand sides
    a0 = np.zeros((d, d))
    for i in range(d):
        for j in range(d):
            f = dolfinx.fem.form((ufl.dot(E[i], ufl.dot(A, E[j])) + ufl.dot(E[i], ufl.dot(A, ufl.grad(chi[j])))) * dx)
            a0[i, j] = msh.comm.allreduce(dolfinx.fem.assemble_scalar(f), op=MPI.SUM) / vol
    shift = np.zeros(d) if chi_shift is None else np.asarray(chi_shift, dtype=float).reshape(d)
    if np.any(shift):
        for k in range(d):
            chi[k].x.array[:] += shift[k]
    cas = Cascade(msh, A, degree, dx, vol, chi, {}, a0, compatibility=compat, operator=op,
                  chi_shift=shift if np.any(shift) else None)
    if levels >= 2:
        t0 = time.perf_counter()
        cas.theta, compat["theta"] = op.solve(theta_problem(a_form, A, chi, a0, E, dx, w, cell.lengths, const))
        t["theta"] = time.perf_counter() - t0
    if levels >= 3:
        t0 = time.perf_counter()
        cas.kappa, compat["kappa"] = op.solve(kappa_problem(a_form, A, chi, cas.theta, a0, E, dx, w, cell.lengths,
                                                            const))
        t["kappa"] = time.perf_counter() - t0
    if levels >= 4:
        t0 = time.perf_counter()
        b0, a2 = (member.b0, member.a2) if hasattr(member, "b0") else member
        cas.rho, compat["rho"] = op.solve(rho_problem(a_form, A, cas.theta, cas.kappa, a0, np.asarray(b0),
                                                      np.asarray(a2), E, dx, w, cell.lengths, const))
        t["rho"] = time.perf_counter() - t0
    t["setup"] = op.setup_seconds
    cas.timings, cas.dofs = t, op.dofs
    return cas


def theta_problem(a_form, A, chi, a0, E, dx, w, period, const) -> CellProblem:
    """(2.12b), Algorithm 1 step 3, for i ≤ j:
    (a∇θ_ij,∇w) = −½(a(χ_ie_j + χ_je_i),∇w) + ½(e_iᵀa∇χ_j + e_jᵀa∇χ_i, w) + (a_ij − a⁰_ij, w)."""
    d = len(chi)
    rhs = {}
    for i in range(d):
        for j in range(i, d):
            flux = 0.5 * (chi[i] * ufl.dot(A, E[j]) + chi[j] * ufl.dot(A, E[i]))
            src = (0.5 * (ufl.dot(E[i], ufl.dot(A, ufl.grad(chi[j]))) + ufl.dot(E[j], ufl.dot(A, ufl.grad(chi[i]))))
                   + ufl.dot(E[i], ufl.dot(A, E[j])) - const(a0[i, j]))
            rhs[(i, j)] = (-ufl.inner(flux, ufl.grad(w)) + src * w) * dx
    return CellProblem(a_form, rhs, name="theta", period=period)


def kappa_problem(a_form, A, chi, theta, a0, E, dx, w, period, const) -> CellProblem:
    """(2.12c), i ≤ j ≤ k: (a∇κ_ijk,∇w) = S³{−(a e_i θ_jk,∇w) + (e_iᵀa∇θ_jk + a_ij χ_k − a⁰_ij χ_k, w)}."""
    d = len(chi)
    rhs = {}
    for idx in itertools.combinations_with_replacement(range(d), 3):
        perms = distinct_permutations(idx)
        L = 0
        for p, q, r in perms:
            th = theta[_sorted_key(q, r)]
            L += (-th * ufl.inner(ufl.dot(A, E[p]), ufl.grad(w))
                  + (ufl.dot(E[p], ufl.dot(A, ufl.grad(th))) + ufl.dot(E[p], ufl.dot(A, E[q])) * chi[r]
                     - const(a0[p, q]) * chi[r]) * w)
        rhs[idx] = (L / len(perms)) * dx
    return CellProblem(a_form, rhs, name="kappa", period=period)


def rho_problem(a_form, A, theta, kappa, a0, b0, a2, E, dx, w, period, const) -> CellProblem:
    """(2.12d), i ≤ j ≤ k ≤ l: (a∇ρ,∇w) = S⁴{−(a e_i κ_jkl,∇w) + (e_iᵀa∇κ_jkl + a_ij θ_kl, w)
    + (a²_ijkl − a⁰_ij θ_kl − a⁰_ij b⁰_kl, w)}; compatible iff (3.4) (§4.5)."""
    from homfx.wave.tensors import outer, sym4

    d = a0.shape[0]
    K = sym4(a2 - outer(a0, b0))
    rhs = {}
    for idx in itertools.combinations_with_replacement(range(d), 4):
        perms = distinct_permutations(idx)
        L = 0
        for p, q, r, s in perms:
            ka, th = kappa[_sorted_key(q, r, s)], theta[_sorted_key(r, s)]
            L += (-ka * ufl.inner(ufl.dot(A, E[p]), ufl.grad(w))
                  + (ufl.dot(E[p], ufl.dot(A, ufl.grad(ka))) + ufl.dot(E[p], ufl.dot(A, E[q])) * th
                     - const(a0[p, q]) * th) * w)
        rhs[idx] = (L / len(perms) + const(K[idx]) * w) * dx
    return CellProblem(a_form, rhs, name="rho", period=period)
