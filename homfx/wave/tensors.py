"""Effective tensors of the long-time wave equation (Abdulle & Pouchon, seed 001; spec shared/spec/wave.md).

Pure numpy algebra (no dolfinx import at module level), shapes: a⁰, b⁰, B = <χχ> are (d, d); ā², a², C are
full (d, d, d, d) arrays. Index conventions follow the spec (§0, §4.6-§4.10):

- ``sym4(c)``                  S⁴, the full symmetrization (1.6) (average over the 24 index permutations).
- ``minor_sym(c)``             c̄_ijkl = ¼(c_ijkl + c_jikl + c_ijlk + c_jilk)        [App. A].
- ``matrix_of(c)``             M(c)_mn = z_m z_n c̄_{ℓ(m)ℓ(n)}, pairs (11,22,33,12,13,23), z ∈ {1,2}  [(A.3)].
- ``tensor_of_matrix(M, d)``   the inverse map: the minor+major symmetric tensor with M(c) = M.
- ``a0_delta_tensor(a0)``      minor_sym({a⁰_jk δ_il}); ``A0_matrix(a0)`` = M of it [Lemma 4.2, §9 item 8].
- ``r_star(a2bar, a0)``        max{0, −λ_min(M(ā²))/λ_min(A⁰)}                      [Lemma 4.2, Alg. 1 step 5].
- ``algorithm1(a0, B, a2bar)`` Algorithm 1 steps 5-7 → ``EffectiveTensors`` (b⁰ = B + r*I, a² = ā² + r* A⁰-tensor).
- ``family_member(a0, B, a2bar, R)``  the R-family (4.6) for any SPD R (Fig. 2: R = diag(r1, r2)).
- ``dispersion_tensor(a0, B, a2bar)`` C = S⁴(ā² − a⁰⊗B), the RHS of (3.4) = Bloch 4th-order coefficient (5.8).
- ``constraint_defect(a0, b0, a2, C)``  max |S⁴(a² − a⁰⊗b⁰) − C|, i.e. (3.4).
- ``admissibility(b0, a2, a0=, C=)`` → ``Admissibility`` report of (3.1)(i),(ii) [+ (3.4)];
  ``require_admissible(...)`` raises ``ValueError`` with the reason for a user-chosen inadmissible pair.
- ``dls_member(a0, C)``        a Dohnal-Lamacz-Schweizer-type member b⁰ = E = γI, a² = F = S⁴(γI⊗a⁰) + C (5.4).
- ``symbol(c, k)``             c_ijkl k_i k_j k_k k_l; ``quartic_min(c)`` its minimum over unit η.
- 1-D / laminate closed forms: ``family_1d``, ``laminate_scalars_two_phase``, ``laminate_scalars_smooth``,
  ``laminate_tensors`` (a⁰, B, ā² of a = ã(y_d) I in d = 1, 2, 3), reference cases ``reference_T1/T2/T3``,
  ``reference_1d_smooth``, ``reference_1d_two_phase``.
- ``effective_tensors(cell, a, degree)`` (FE; imports homfx.wave.cell): cascade + algebra in one call.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

# ----------------------------------------------------------------------------------------------------------
# index sets and symmetrizations


def num_pairs(d: int) -> int:
    """N(d) = d(d+1)/2."""
    return d * (d + 1) // 2


def sym_pairs(d: int) -> list[tuple[int, int]]:
    """ℓ(m): diagonal first, then the strict upper triangle row by row (§4.8, §9 item 7)."""
    return [(i, i) for i in range(d)] + [(i, j) for i in range(d) for j in range(i + 1, d)]


def pair_weights(d: int) -> np.ndarray:
    """z_m = 1 (diagonal pair), 2 (off-diagonal pair) [(A.3)]."""
    return np.array([1.0 if i == j else 2.0 for i, j in sym_pairs(d)])


def J_indices(d: int) -> list[tuple[int, int, int, int]]:
    """Distinct entries of a minor+major symmetric tensor, ν-order p ≤ q (|J| = 1, 6, 21)."""
    P = sym_pairs(d)
    return [P[p] + P[q] for p in range(len(P)) for q in range(p, len(P))]


def I_indices(d: int) -> list[tuple[int, ...]]:
    """Distinct entries of a fully symmetric 4-tensor (|I| = C(d+3, 4) = 1, 5, 15)."""
    return list(itertools.combinations_with_replacement(range(d), 4))


def sym4(c: np.ndarray) -> np.ndarray:
    """Full symmetrization S⁴ (average over all 24 permutations of the indices) [(1.6)]."""
    c = np.asarray(c, dtype=float)
    return sum(np.transpose(c, p) for p in itertools.permutations(range(4))) / 24.0


def sym2(b: np.ndarray) -> np.ndarray:
    b = np.asarray(b, dtype=float)
    return 0.5 * (b + b.T)


def minor_sym(c: np.ndarray) -> np.ndarray:
    """c̄_ijkl = ¼(c_ijkl + c_jikl + c_ijlk + c_jilk) [App. A]."""
    c = np.asarray(c, dtype=float)
    return 0.25 * (c + c.transpose(1, 0, 2, 3) + c.transpose(0, 1, 3, 2) + c.transpose(1, 0, 3, 2))


def major_sym_defect(c: np.ndarray) -> float:
    """max |c_ijkl − c_lkji| (major symmetry, §9 item 1)."""
    c = np.asarray(c, dtype=float)
    return float(np.max(np.abs(c - c.transpose(3, 2, 1, 0)))) if c.size else 0.0


def outer(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(a⊗b)_ijkl = a_ij b_kl."""
    return np.einsum("ij,kl->ijkl", a, b)


def fill_symmetric(values: dict, d: int) -> np.ndarray:
    """Full array from the J(d) entries of a minor+major symmetric tensor (keys: index 4-tuples)."""
    c = np.zeros((d,) * 4)
    for (i, j, k, l), v in values.items():
        for a, b in ((i, j), (j, i)):
            for e, f in ((k, l), (l, k)):
                c[a, b, e, f] = v
                c[e, f, a, b] = v
    return c


def _shape4(c, name="c") -> np.ndarray:
    c = np.asarray(c, dtype=float)
    if c.ndim != 4 or len(set(c.shape)) != 1 or c.shape[0] not in (1, 2, 3):
        raise ValueError(f"{name} must be a d x d x d x d array with d in 1..3, got shape {c.shape}")
    return c


def _shape2(b, name="b", d=None) -> np.ndarray:
    b = np.asarray(b, dtype=float)
    if b.ndim != 2 or b.shape[0] != b.shape[1] or (d is not None and b.shape[0] != d):
        want = f"{d}x{d}" if d else "square"
        raise ValueError(f"{name} must be a {want} matrix, got shape {b.shape}")
    return b


# ----------------------------------------------------------------------------------------------------------
# Appendix A: the matrix of a 4th-order tensor


def matrix_of(c: np.ndarray, *, check_major: bool = True, tol: float = 1e-12) -> np.ndarray:
    """M(c) [(A.3)]: minor-symmetrize, then M_mn = z_m z_n c̄_{ℓ(m)ℓ(n)}. cξ:ξ = ν(ξ)ᵀ M ν(ξ) for ξ ∈ Sym².

    ``check_major``: raise ValueError unless c_ijkl = c_lkji (Lemma A.1 is for major-symmetric tensors)."""
    c = _shape4(c)
    d = c.shape[0]
    if check_major:
        defect = major_sym_defect(c)
        if defect > tol * max(1.0, float(np.max(np.abs(c)))):
            raise ValueError(f"matrix_of: the tensor is not major-symmetric (max |c_ijkl - c_lkji| = {defect:.3e})")
    cb = minor_sym(c)
    P, z = sym_pairs(d), pair_weights(d)
    M = np.array([[z[m] * z[n] * cb[P[m] + P[n]] for n in range(len(P))] for m in range(len(P))])
    return 0.5 * (M + M.T)


def tensor_of_matrix(M: np.ndarray, d: int | None = None) -> np.ndarray:
    """Inverse of :func:`matrix_of` on minor+major symmetric tensors: c̄_{ℓ(m)ℓ(n)} = M_mn/(z_m z_n)."""
    M = np.asarray(M, dtype=float)
    if d is None:
        d = {1: 1, 3: 2, 6: 3}.get(M.shape[0], 0)
    if M.shape != (num_pairs(d), num_pairs(d)) or d == 0:
        raise ValueError(f"M must be N(d) x N(d) with N = 1, 3, 6, got shape {M.shape}")
    if not np.allclose(M, M.T, rtol=0, atol=1e-14 * max(1.0, np.abs(M).max())):
        raise ValueError("M must be symmetric")
    P, z = sym_pairs(d), pair_weights(d)
    vals = {P[m] + P[n]: M[m, n] / (z[m] * z[n]) for m in range(len(P)) for n in range(m, len(P))}
    return fill_symmetric(vals, d)


def nu(xi: np.ndarray) -> np.ndarray:
    """ν(ξ)_m = ξ_{ℓ(m)} for ξ ∈ Sym² [App. A]."""
    xi = np.asarray(xi, dtype=float)
    return np.array([xi[p] for p in sym_pairs(xi.shape[0])])


def a0_delta_tensor(a0: np.ndarray) -> np.ndarray:
    """minor_sym({a⁰_jk δ_il}) = ¼(a⁰_jkδ_il + a⁰_ikδ_jl + a⁰_jlδ_ik + a⁰_ilδ_jk) [Lemma 4.2, Alg. 1 step 7]."""
    a0 = _shape2(a0, "a0")
    I = np.eye(a0.shape[0])
    return minor_sym(np.einsum("jk,il->ijkl", a0, I))


def R_tensor(a0: np.ndarray, R: np.ndarray) -> np.ndarray:
    """minor_sym({a⁰_jk R_il}) (the R-family shift, (4.6))."""
    return minor_sym(np.einsum("jk,il->ijkl", _shape2(a0, "a0"), _shape2(R, "R")))


def A0_matrix(a0: np.ndarray) -> np.ndarray:
    """A⁰ = M({a⁰_jk δ_il}) (minor-symmetrized, §9 item 8)."""
    return matrix_of(a0_delta_tensor(a0))


def lambda_min(M: np.ndarray) -> float:
    return float(np.linalg.eigvalsh(M)[0])


def r_star(a2bar: np.ndarray, a0: np.ndarray, *, clamp: float = 1e-12) -> float:
    """r* = max{0, −λ_min(A²)/λ_min(A⁰)} [Lemma 4.2]. |λ_min(A²)| < clamp·max(|A²|, |A⁰|) counts as 0 (1-D, §4.10)."""
    A2, A0 = matrix_of(a2bar), A0_matrix(a0)
    lam2 = lambda_min(A2)
    scale = max(float(np.abs(A2).max()), float(np.abs(A0).max()), 1e-300)
    if abs(lam2) < clamp * scale or lam2 >= 0:
        return 0.0
    lam0 = lambda_min(A0)
    if lam0 <= 0:
        raise ValueError(f"a0 must be positive definite (λ_min(A⁰) = {lam0:.3e})")
    return -lam2 / lam0


# ----------------------------------------------------------------------------------------------------------
# members of the family E


@dataclass
class EffectiveTensors:
    """(a⁰, b⁰, a²) of an effective equation (3.2), with the data it was built from."""

    a0: np.ndarray
    b0: np.ndarray
    a2: np.ndarray
    a2_bar: np.ndarray | None = None
    B: np.ndarray | None = None  # <χ_i χ_j>
    C: np.ndarray | None = None  # dispersion tensor S⁴(ā² − a⁰⊗B)
    r_star: float | None = None
    R: np.ndarray | None = None
    spec_A2: np.ndarray | None = None
    spec_A0: np.ndarray | None = None
    lambda_min_Ma2: float | None = None
    extra: dict = field(default_factory=dict)

    @property
    def d(self) -> int:
        return self.a0.shape[0]

    def to_json(self) -> dict:
        out = {"a0": self.a0.tolist(), "b0": self.b0.tolist(), "a2": self.a2.tolist()}
        for k in ("a2_bar", "B", "C", "R", "spec_A2", "spec_A0"):
            v = getattr(self, k)
            if v is not None:
                out[k] = np.asarray(v).tolist()
        for k in ("r_star", "lambda_min_Ma2"):
            v = getattr(self, k)
            if v is not None:
                out[k] = float(v)
        out.update(self.extra)
        return out


def dispersion_tensor(a0: np.ndarray, B: np.ndarray, a2bar: np.ndarray) -> np.ndarray:
    """C = S⁴(ā² − a⁰⊗B) = RHS of (3.4) = the Bloch 4th-order coefficient (5.8) (§4.6)."""
    return sym4(_shape4(a2bar, "a2bar") - outer(_shape2(a0, "a0"), _shape2(B, "B")))


def family_member(a0, B, a2bar, R) -> EffectiveTensors:
    """R-family (4.6): a² = ā² + minor_sym(a⁰_jk R_il), b⁰ = B + R, for a symmetric R (SPD for well-posedness)."""
    a0, B, a2bar = _shape2(a0, "a0"), _shape2(B, "B"), _shape4(a2bar, "a2bar")
    d = a0.shape[0]
    R = _shape2(np.asarray(R, dtype=float) * (np.eye(d) if np.ndim(R) == 0 else 1.0), "R", d)
    if not np.allclose(R, R.T, atol=1e-14 * max(1.0, np.abs(R).max())):
        raise ValueError(f"R must be symmetric, got {R.tolist()}")
    a2 = a2bar + R_tensor(a0, R)
    M2 = matrix_of(a2bar)
    return EffectiveTensors(a0=a0, b0=B + R, a2=a2, a2_bar=a2bar, B=B, C=dispersion_tensor(a0, B, a2bar), R=R,
                            spec_A2=np.linalg.eigvalsh(M2), spec_A0=np.linalg.eigvalsh(A0_matrix(a0)),
                            lambda_min_Ma2=lambda_min(matrix_of(a2)))


def algorithm1(a0, B, a2bar, *, clamp: float = 1e-12) -> EffectiveTensors:
    """Algorithm 1, steps 5-7: r* from M(ā²) and A⁰, b⁰ = B + r*I, a² = ā² + r* minor_sym(a⁰_jkδ_il)."""
    a0 = _shape2(a0, "a0")
    rs = r_star(a2bar, a0, clamp=clamp)
    out = family_member(a0, B, a2bar, rs * np.eye(a0.shape[0]))
    out.r_star = rs
    return out


def constraint_defect(a0, b0, a2, C) -> float:
    """max |S⁴(a² − a⁰⊗b⁰) − C| [(3.4)]."""
    return float(np.max(np.abs(sym4(_shape4(a2, "a2") - outer(_shape2(a0, "a0"), _shape2(b0, "b0"))) - C)))


def symbol(c: np.ndarray, k: np.ndarray) -> np.ndarray:
    """c(kkkk) = c_ijkl k_i k_j k_k k_l for k of shape (d,) or (n, d)."""
    k = np.asarray(k, dtype=float)
    return np.einsum("ijkl,...i,...j,...k,...l->...", c, k, k, k, k)


def unit_directions(d: int, n: int = 2000) -> np.ndarray:
    """Deterministic near-uniform unit vectors (half sphere suffices for even forms)."""
    if d == 1:
        return np.ones((1, 1))
    if d == 2:
        t = np.linspace(0.0, np.pi, n, endpoint=False)
        return np.column_stack([np.cos(t), np.sin(t)])
    i = np.arange(n) + 0.5
    z = i / n  # upper half sphere (Fibonacci)
    phi = np.pi * (1 + 5 ** 0.5) * i
    r = np.sqrt(1 - z ** 2)
    return np.column_stack([r * np.cos(phi), r * np.sin(phi), z])


def quartic_min(c: np.ndarray, *, n: int | None = None) -> tuple[float, np.ndarray]:
    """min over unit η of c(ηηηη), with the minimizer: a dense direction grid refined by local optimization."""
    from scipy.optimize import minimize

    c = sym4(_shape4(c))
    d = c.shape[0]
    if d == 1:
        return float(c[0, 0, 0, 0]), np.ones(1)
    eta = unit_directions(d, n or (4000 if d == 2 else 20000))
    vals = symbol(c, eta)
    best = np.argsort(vals)[:5]
    res_v, res_x = float(vals[best[0]]), eta[best[0]]

    def f(x):
        return symbol(c, x) / float(x @ x) ** 2

    for b in best:
        r = minimize(f, eta[b], method="BFGS", options={"gtol": 1e-14})
        if r.fun < res_v:
            res_v, res_x = float(r.fun), r.x / np.linalg.norm(r.x)
    return res_v, res_x


@dataclass
class Admissibility:
    """Report of (3.1) (and (3.4) when a⁰ and C are given) for a pair (b⁰, a²)."""

    ok: bool
    reasons: list[str]
    b0_min_eig: float
    a2_major_defect: float
    a2_quartic_min: float
    lambda_min_Ma2: float
    constraint_defect: float | None = None

    def __str__(self):
        return "admissible" if self.ok else "inadmissible: " + "; ".join(self.reasons)


def admissibility(b0, a2, *, a0=None, C=None, tol: float = 1e-10) -> Admissibility:
    """Check (3.1)(i) b⁰ symmetric PSD, (3.1)(ii) a² major-symmetric with a²(ηηηη) ≥ 0, and (3.4) if a⁰, C given.

    Tolerances are relative to the largest entry of the tensor concerned (of C, a⁰⊗b⁰ and a² for (3.4))."""
    a2 = _shape4(a2, "a2")
    d = a2.shape[0]
    b0 = _shape2(b0, "b0", d)
    reasons = []
    sb = max(float(np.abs(b0).max()), 1e-300)
    sa = max(float(np.abs(a2).max()), 1e-300)
    if np.max(np.abs(b0 - b0.T)) > tol * sb:
        reasons.append(f"(3.1)(i) b0 is not symmetric (max |b0 - b0^T| = {np.max(np.abs(b0 - b0.T)):.3e})")
    bmin = float(np.linalg.eigvalsh(sym2(b0))[0])
    if bmin < -tol * sb:
        reasons.append(f"(3.1)(i) b0 is not positive semidefinite (smallest eigenvalue {bmin:.6e})")
    mdef = major_sym_defect(a2)
    if mdef > tol * sa:
        reasons.append(f"(3.1)(ii) a2 lacks major symmetry a2_ijkl = a2_lkji (max defect {mdef:.3e})")
    qmin, eta = quartic_min(a2)
    if qmin < -tol * sa:
        reasons.append(f"(3.1)(ii) a2(ηηηη) < 0: min over unit η is {qmin:.6e} at η = {np.round(eta, 6).tolist()}"
                       " (the effective equation would be ill-posed)")
    lam = lambda_min(matrix_of(minor_sym(a2) if mdef <= tol * sa else 0.5 * (a2 + a2.transpose(3, 2, 1, 0))))
    cdef = None
    if a0 is not None and C is not None:
        a0 = _shape2(a0, "a0", d)
        cdef = constraint_defect(a0, b0, a2, C)
        scale = max(float(np.abs(C).max()), float(np.abs(outer(a0, b0)).max()), sa, 1e-300)
        if cdef > tol * scale:
            reasons.append(f"(3.4) S4(a2 - a0⊗b0) != C (max defect {cdef:.3e}): the pair is not in the family E")
    return Admissibility(not reasons, reasons, bmin, mdef, qmin, lam, cdef)


def require_admissible(b0, a2, *, a0=None, C=None, tol: float = 1e-10, what: str = "(b0, a2)") -> Admissibility:
    """:func:`admissibility`, raising ``ValueError`` naming the violated condition for an inadmissible pair."""
    rep = admissibility(b0, a2, a0=a0, C=C, tol=tol)
    if not rep.ok:
        raise ValueError(f"{what} is inadmissible: " + "; ".join(rep.reasons))
    return rep


def dls_member(a0, C, *, gamma: float | None = None) -> EffectiveTensors:
    """A Dohnal-Lamacz-Schweizer-type member [P Sec. 5, (5.4)]: b⁰ = E = γI and a² = F = S⁴(γI⊗a⁰) + C,
    fully symmetric, so that −C∂⁴ = E∂²a⁰∂² − F∂⁴ holds exactly. γ defaults to the smallest value with
    F(ηηηη) ≥ 0 for all η: γ* = max_η (−C(η))/(|η|² a⁰ηη). The paper does not print DLS's own choice of
    (E, F) (spec §3.7 item 3 [GAP]); any pair with (5.4) and (3.1) is a member."""
    a0, C = _shape2(a0, "a0"), sym4(_shape4(C, "C"))
    d = a0.shape[0]
    if gamma is None:
        eta = unit_directions(d, 4000 if d == 2 else 20000)
        ratio = -symbol(C, eta) / np.einsum("ni,ij,nj->n", eta, a0, eta)
        gamma = max(float(ratio.max()), 0.0)
        # refine: the minimum of F over unit η must be ≥ 0
        for _ in range(20):
            F = sym4(outer(np.eye(d), a0)) * gamma + C
            qmin, _ = quartic_min(F)
            if qmin >= -1e-14 * max(1.0, np.abs(F).max()):
                break
            gamma += -qmin / float(np.linalg.eigvalsh(a0)[0])
    if gamma < 0:
        raise ValueError(f"gamma must be >= 0, got {gamma}")
    E = gamma * np.eye(d)
    F = sym4(outer(E, a0)) + C
    return EffectiveTensors(a0=a0, b0=E, a2=F, C=C, lambda_min_Ma2=lambda_min(matrix_of(F)),
                            extra={"gamma": float(gamma), "member": "DLS-type (E = gamma I)"})


# ----------------------------------------------------------------------------------------------------------
# 1-D and laminate closed forms (§2.4, §4.11, §4.12)


def family_1d(a0: float, chi_var: float, gamma: float = 0.0) -> tuple[float, float]:
    """1-D family (4.3): b⁰ = Var(χ) + γ², a² = a⁰γ² with γ = <χ> (γ = 0: Lamacz's member)."""
    return chi_var + gamma ** 2, a0 * gamma ** 2


@dataclass
class LaminateScalars:
    """1-D quantities of ã(y) that determine every tensor of a = ã(y_d) I (layer normal e_d):
    a⁰_dd = h = <1/ã>⁻¹, a⁰_ii = m = <ã> (i < d), V = <χ²>, W = <ãχ²>, P = <ã θ'²>, Q = <ã θ' θ_dd'>
    where θ = θ_ii (i < d) solves −(ãθ')' = ã − m and θ_dd' = −χ."""

    h: float
    m: float
    V: float
    W: float
    P: float
    Q: float


def laminate_scalars_two_phase(alpha: float, beta: float, phi: float = 0.5) -> LaminateScalars:
    """Exact values for ã = α on a layer of volume fraction φ, β elsewhere (§4.11 1D-PC, §4.12 T2)."""
    for name, v in (("alpha", alpha), ("beta", beta)):
        if not v > 0:
            raise ValueError(f"{name} must be positive, got {v}")
    if not 0 < phi < 1:
        raise ValueError(f"phi must be in (0, 1), got {phi}")
    h = 1.0 / (phi / alpha + (1 - phi) / beta)
    m = phi * alpha + (1 - phi) * beta
    A = phi * (1 - phi) * (beta - alpha) / (phi * beta + (1 - phi) * alpha)
    B = phi * (1 - phi) * (alpha - beta)
    V = A * A / 12
    return LaminateScalars(h=h, m=m, V=V, W=m * V, P=B * B / (12 * h), Q=A * B / 12)


def laminate_scalars_smooth(a_tilde, n: int = 4096) -> LaminateScalars:
    """Spectrally accurate values for a smooth 1-periodic ã (callable on numpy arrays): FFT antiderivatives
    on n equispaced points of [0, 1)."""
    y = np.arange(n) / n
    at = np.asarray(a_tilde(y), dtype=float) * np.ones(n)
    if np.any(at <= 0):
        raise ValueError("a_tilde must be positive")
    k = np.fft.fftfreq(n, d=1.0 / n)

    def antider(f):  # zero-mean periodic antiderivative of a zero-mean f
        fh = np.fft.fft(f)
        gh = np.zeros_like(fh)
        nz = k != 0
        gh[nz] = fh[nz] / (2j * np.pi * k[nz])
        return np.real(np.fft.ifft(gh))

    h = 1.0 / np.mean(1.0 / at)
    m = float(np.mean(at))
    chi = antider(h / at - 1.0)
    G = antider(at - m)  # ãθ' = c − G
    c = np.mean(G / at) / np.mean(1.0 / at)
    dth = (c - G) / at
    return LaminateScalars(h=h, m=m, V=float(np.mean(chi ** 2)), W=float(np.mean(at * chi ** 2)),
                           P=float(np.mean(at * dth ** 2)), Q=float(np.mean(at * dth * (-chi))))


def laminate_tensors(s: LaminateScalars, d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(a⁰, B = <χχ>, ā²) of a = ã(y_d) I in dimension d (zero-mean χ; χ_i = 0 for i < d, θ_id = 0,
    θ_ii' (i < d) all equal, θ_dd' = −χ_d): ā²_iijj = −P, ā²_iidd = −Q, ā²_idid = W/4 (i, j < d), ā²_dddd = 0."""
    if d not in (1, 2, 3):
        raise ValueError(f"d must be 1, 2 or 3, got {d}")
    n = d - 1
    a0 = np.diag([s.m] * n + [s.h])
    B = np.zeros((d, d))
    B[n, n] = s.V
    vals = {}
    for i in range(n):
        for j in range(n):
            vals[(i, i, j, j)] = -s.P
        vals[(i, i, n, n)] = -s.Q
        vals[(i, n, i, n)] = s.W / 4
    vals[(n, n, n, n)] = 0.0
    return a0, B, fill_symmetric(vals, d)


def paper_a_tilde(y):
    """ã(y) = 1 − ½cos(2πy) [P Sec. 6, §9 item 5]."""
    return 1.0 - 0.5 * np.cos(2 * np.pi * np.asarray(y))


def reference_T1() -> dict:
    """Exact values of §4.12 (T1): closed forms with c = (2 − √3)/(8π²)."""
    c = (2 - 3 ** 0.5) / (8 * np.pi ** 2)
    chi2, achi2 = 0.0037047243058979540, 0.0034550237170137670
    rs = c * (1 + 5 ** 0.5) / 3 ** 0.5
    a2bar = fill_symmetric({(0, 0, 0, 0): -c, (1, 1, 1, 1): 0.0, (0, 1, 0, 1): achi2 / 4, (0, 0, 1, 1): c,
                            (0, 0, 0, 1): 0.0, (1, 1, 0, 1): 0.0}, 2)
    return {"c": c, "a0": np.diag([1.0, 3 ** 0.5 / 2]), "B": np.diag([0.0, chi2]), "a2_bar": a2bar,
            "r_star": rs, "spec_A2": np.sort([c * (-1 - 5 ** 0.5) / 2, c * (-1 + 5 ** 0.5) / 2, achi2]),
            "b0": np.diag([rs, chi2 + rs]),
            "a2": {(0, 0, 0, 0): 0.0029468286729693, (1, 1, 1, 1): 0.0054909863023966,
                   (0, 1, 0, 1): 0.0038216137147552, (0, 0, 1, 1): 0.0033936161666412},
            "C1111": -0.0033936161666412, "C2222": -0.0032083853629253, "k1k1k2k2": 0.0065375317443983,
            "C_max_unit": -1.546e-5}


def reference_T1_paper() -> dict:
    """The values printed in the paper (P1, 1024²) [P Sec. 6]; compare like with like (§9 item 17)."""
    return {"a2_bar": {(0, 0, 0, 0): -0.00339360, (0, 1, 0, 1): 0.00086375, (0, 0, 1, 1): 0.00339360},
            "spec_A2": [-0.0054909, 0.0020973, 0.0034550], "r_star": 0.006340411,
            "b0": {(0, 0): 0.00634041, (1, 1): 0.01004512},
            "a2": {(0, 0, 0, 0): 0.00294681, (1, 1, 1, 1): 0.00549097, (0, 1, 0, 1): 0.0038215948,
                   (0, 0, 1, 1): 0.0033935973}}


def reference_T2() -> dict:
    """§4.12 (T2): two-phase laminate α = 1, β = 10, φ = ½ (exact fractions)."""
    return {"a0": np.diag([5.5, 20 / 11]), "B": np.diag([0.0, 27 / 1936]),
            "a2_bar": {(0, 0, 0, 0): -297 / 1280, (0, 0, 1, 1): 27 / 352, (0, 1, 0, 1): 27 / 1408,
                       (1, 1, 1, 1): 0.0},
            "spec_A2": [-0.2550955, 0.02306425, 0.07670455], "r_star": 0.14030252679440908,
            "b0": np.diag([0.14030252679440908, 0.1542488077861446]),
            "a2": {(0, 0, 0, 0): 0.5396326473692499, (1, 1, 1, 1): 0.255095503262562,
                   (0, 0, 1, 1): 0.07670454545454546, (0, 1, 0, 1): 0.27586598652158933},
            "C1111": -0.23203125, "C2222": -0.025356874530428248}


def reference_T3() -> dict:
    """§4.12 (T3): 3-D laminate ã(y₃) = 1 − ½cos(2πy₃)."""
    c = (2 - 3 ** 0.5) / (8 * np.pi ** 2)
    rs = 2 * c * (1 + 3 ** 0.5) / 3 ** 0.5
    return {"c": c, "a0": np.diag([1.0, 1.0, 3 ** 0.5 / 2]), "r_star": rs, "lambda_min_A2": -c * (1 + 3 ** 0.5),
            "b0": np.diag([rs, rs, 0.0144105670]),
            "a2": {(0, 0, 0, 0): 0.0073122266, (1, 1, 1, 1): 0.0073122266, (2, 2, 2, 2): 0.0092715318,
                   (0, 0, 1, 1): -c, (0, 0, 2, 2): c, (1, 1, 2, 2): c, (0, 1, 0, 1): rs / 2,
                   (0, 2, 0, 2): 0.0058580996, (1, 2, 1, 2): 0.0058580996}}


def reference_1d_smooth() -> dict:
    """§4.11 1D-S: a = 1 − ½cos(2πy)."""
    return {"a0": 0.8660254037844386, "b0": 0.003704724305897954, "C": -0.003208385362925300}


def reference_1d_two_phase(alpha=1.0, beta=10.0, phi=0.5) -> dict:
    """§4.11 1D-PC: a⁰ harmonic mean, b⁰ = A²/12, C = −a⁰A²/12."""
    s = laminate_scalars_two_phase(alpha, beta, phi)
    return {"a0": s.h, "b0": s.V, "C": -s.h * s.V}


# ----------------------------------------------------------------------------------------------------------
# FE route (cascade on the engine)


def effective_tensors(cell, a, *, degree: int = 2, quadrature_degree: int | None = None, method: str = "lu",
                      chi_shift=None) -> EffectiveTensors:
    """Algorithm 1 end to end on a cell mesh: χ, θ by the FE cascade (homfx.wave.cell), then a⁰, B, ā² and
    steps 5-7. ``a``: a UFL coefficient (scalar or d×d) on ``cell.mesh``."""
    from homfx.wave.cell import solve_cascade

    cas = solve_cascade(cell, a, degree=degree, levels=2, quadrature_degree=quadrature_degree, method=method,
                        chi_shift=chi_shift)
    tens = cas.tensors()
    out = algorithm1(tens["a0"], tens["B"], tens["a2_bar"])
    out.extra.update({"dofs": cas.dofs, "compatibility": cas.max_compatibility(), "timings": cas.timings})
    return out
