"""The cell-problem cascade χ_k → θ_ij → κ_ijk → ρ_ijkl of the long-time wave equation [P (2.12a-d); spec §4].

Every level is a :class:`homfx.cellproblem.CellProblem` declaration (a few lines of UFL) with the SAME
operator ``(a∇u, ∇w)_Y`` on W_per(Y). The right-hand sides of level n+1 depend on the solutions of level
n, so the cascade is solved by a
:class:`FactoredCellOperator` (the engine's ``CellOperator``): one assembly, one P^T A P, ONE
factorization for all levels and all right-hand sides.
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
from homfx.cellproblem import CellOperator, CellProblem


def _sorted_key(*idx):
    return tuple(sorted(idx))


def distinct_permutations(idx):
    return sorted(set(itertools.permutations(idx)))


class FactoredCellOperator:
    """``(a∇u, ∇w)_Y`` on the periodic, mean-zero space, factored once (the engine's
    :class:`homfx.cellproblem.CellOperator`); solves any :class:`CellProblem` whose bilinear form is this
    operator (any number of right-hand sides, any level), and counts the solves."""

    def __init__(self, a_form: ufl.Form, period, *, name: str = "wave cell operator", method: str = "lu"):
        self.ufl_a = a_form
        self.op = CellOperator(CellProblem(a_form, {}, name=name, period=period), method=method)
        self.name, self.V, self.dofs = name, self.op.V, self.op.dofs
        self.setup_seconds = sum(self.op.timings[k] for k in ("jit", "assemble", "periodic", "factor"))
        self.num_factorizations = 1
        self.num_solves = 0

    def solve(self, problem: CellProblem) -> tuple[dict, dict]:
        """Solve every right-hand side of ``problem`` with the existing factorization.
        Returns ({key: Function}, {key: compatibility defect |mean RHS| relative to |RHS|_1})."""
        if problem.a is not self.ufl_a:
            raise ValueError(f"{problem.name}: the cell problem's operator is not the factored operator")
        sol = self.op.solve(problem.rhs)
        self.num_solves += len(problem.rhs)
        return sol.solutions, {k: float(v[0]) for k, v in sol.compatibility.items()}


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
        """a⁰ (2.8, also re-evaluated at the quadrature points as a check), B = ⟨χ_iχ_j⟩, ā² (Alg. 1 step 4),
        ⟨χ⟩, ⟨θ⟩ and, with κ, the κ-route dispersion tensor C (§4.4)."""
        from homfx.wave.tensors import sym4

        S = quadrature_sums(self)
        vol = self.volume
        F = S["F"] / vol  # ⟨a_jk χ_i χ_l⟩ at index ijkl
        first = 0.25 * (F + F.transpose(0, 1, 3, 2) + F.transpose(1, 0, 2, 3) + F.transpose(1, 0, 3, 2))
        out = {"a0": self.a0, "a0_quadrature": S["a0"] / vol, "B": S["B"] / vol, "a2_bar": first - S["GAG"] / vol,
               "theta_mean": S["theta"] / vol, "chi_mean": S["chi"] / vol}
        if self.kappa:
            T = -S["AGk"] / vol - S["AT"] / vol + np.einsum("ij,kl->ijkl", self.a0, out["theta_mean"])
            out["C_kappa"] = sym4(T)
        return out


def _full_index(d, keys):
    """Column of the sorted key of every full index tuple (row-major over {0..d-1}^r)."""
    pos = {k: n for n, k in enumerate(keys)}
    return np.array([pos[_sorted_key(*idx)] for idx in itertools.product(range(d), repeat=len(keys[0]))])


def _wdot(w, X, Y):
    """Σ_q w_q X[q, a, m] Y[q, b, m] → (a, b), as one BLAS product."""
    q, a, m = X.shape
    b = Y.shape[1]
    Xw = (X * w[:, None, None]).transpose(1, 0, 2).reshape(a, q * m)
    return Xw @ Y.transpose(1, 0, 2).reshape(b, q * m).T


def quadrature_sums(cas: Cascade, *, chunk: int = 4096) -> dict:
    """MPI-global integrals over Y for the tensors, from a, χ, ∇χ, θ, ∇θ (∇κ) evaluated at the quadrature points
    of ``cas.dx`` by ONE compiled Expression, cell chunk by cell chunk (bounded memory)."""
    import basix

    msh, d = cas.mesh, cas.d
    qdeg = cas.dx.metadata()["quadrature_degree"]
    ct = getattr(basix.CellType, msh.topology.cell_name())
    X, wref = basix.make_quadrature(ct, qdeg)
    k2 = sorted(cas.theta)
    k3 = sorted(cas.kappa)
    comps = [cas.a[i, j] for i in range(d) for j in range(d)]
    comps += list(cas.chi)
    comps += [ufl.grad(c)[m] for c in cas.chi for m in range(d)]
    comps += [cas.theta[k] for k in k2]
    comps += [ufl.grad(cas.theta[k])[m] for k in k2 for m in range(d)]
    comps += [ufl.grad(cas.kappa[k])[m] for k in k3 for m in range(d)]
    comps += [abs(ufl.JacobianDeterminant(msh))]
    E = dolfinx.fem.Expression(ufl.as_vector(comps), X)
    n_own = msh.topology.index_map(msh.topology.dim).size_local
    i2 = _full_index(d, k2) if k2 else None
    i3 = _full_index(d, k3) if k3 else None
    S = {"F": np.zeros((d * d, d * d)), "GAG": np.zeros((d * d, d * d)), "a0": np.zeros((d, d)),
         "B": np.zeros((d, d)), "chi": np.zeros(d), "theta": np.zeros(d * d), "AGk": np.zeros((d, d ** 3)),
         "AT": np.zeros((d * d, d * d))}
    for start in range(0, n_own, chunk):
        cells = np.arange(start, min(n_own, start + chunk), dtype=np.int32)
        V = E.eval(msh, cells).reshape(-1, len(comps))
        w = np.tile(wref, len(cells)) * V[:, -1]
        nq = len(w)
        o = 0
        A = V[:, o:o + d * d].reshape(nq, d, d); o += d * d
        chi = V[:, o:o + d]; o += d
        gchi = V[:, o:o + d * d].reshape(nq, d, d); o += d * d  # [q, j, m] = ∂_m χ_j
        cc = np.einsum("qi,ql->qil", chi, chi).reshape(nq, d * d, 1)
        S["F"] += _wdot(w, cc, A.reshape(nq, d * d, 1))  # (il, jk): ⟨a_jk χ_i χ_l⟩
        S["a0"] += np.einsum("q,qij->ij", w, A) + _wdot(w, A, gchi)
        S["B"] += _wdot(w, chi[:, :, None], chi[:, :, None])
        S["chi"] += w @ chi
        if k2:
            th = V[:, o:o + len(k2)][:, i2]; o += len(k2)
            gth = V[:, o:o + len(k2) * d].reshape(nq, len(k2), d)[:, i2]; o += len(k2) * d  # (q, ij, m)
            Ag = np.einsum("qmn,qbn->qbm", A, gth)  # (q, kl, m) = (a∇θ_kl)_m
            S["GAG"] += _wdot(w, gth, Ag)
            S["theta"] += w @ th
            S["AT"] += _wdot(w, A.reshape(nq, d * d, 1), th[:, :, None])
        if k3:
            gk = V[:, o:o + len(k3) * d].reshape(nq, len(k3), d)[:, i3]; o += len(k3) * d
            S["AGk"] += _wdot(w, A, gk)  # (i, jkl): ⟨e_iᵀ a ∇κ_jkl⟩
    S = {k: msh.comm.allreduce(v, op=MPI.SUM) for k, v in S.items()}
    S["F"] = S["F"].reshape(d, d, d, d).transpose(0, 2, 3, 1)  # (i, l, j, k) → (i, j, k, l)
    S["GAG"] = S["GAG"].reshape((d,) * 4)
    S["theta"] = S["theta"].reshape(d, d)
    S["AT"] = S["AT"].reshape((d,) * 4)
    S["AGk"] = S["AGk"].reshape((d,) * 4)
    return S


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
