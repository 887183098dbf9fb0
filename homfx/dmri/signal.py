"""Homogenized dMRI signal models R0 (4.15), R1 (4.13), R2 (4.11) (and R2full (4.3)) of Kchaou & Li,
spec bloch_torrey.md §4 (coefficients with the spec's re-derived signs, §10 errata 3, 5–9).

The models are the 2×2 ODE systems m' + A(q, t) m = 0, m(0) = (η^e, η^c), S = m^e(T_E) + m^c(T_E), with
A(q, t) of (5.2). A depends on t only through f(t) and F(t):

    A(t) = A0 + F A1 + F² A2 + F⁴ A4 + f F A5

(A1 carries G1 (4.5)–(4.6); A2 the D0 (4.4) and the (I+Z) parts of E2, G2 (4.7)–(4.10); A4 the Burnett
term; A5 the S term.) Integration is exact on each segment where f ≡ 0 (A constant: closed-form 2×2
matrix exponential) and by the 6th-order Magnus method (3-point Gauss) with step doubling to a relative
tolerance of 1e-12 on segments where A varies (pulses, OGSE lobes).

Units: System A (mm, s; units.py). Public entry points:
  * ``compute_signal(tensors, b, direction, model, cell_size, kappa, delta, Delta, ...)`` — paper units,
    what the CLI and the demo call;
  * ``signal_curve(coefficients_or_tensors, b, direction, model, epsilon, sigma0, sequence)`` — System A;
  * ``ModelSystem`` (A(t), eigenvalues, ``solve``) for one q.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from homfx.dmri.sequences import Sequence, make_sequence, unit_direction
from homfx.dmri.units import ms_to_s, paper_scaling

MODELS = ("R0", "R1", "R2", "R2full")


class UnstableModelWarning(UserWarning):
    """A(q, t) has an eigenvalue with a clearly negative real part (Remark 4.4, spec §4.4): the model
    (usually R2 at large ε²σ0|<[ψ]>_Γ|) amplifies instead of attenuating."""


# ---------------------------------------------------------------------------------------------------
# Cell coefficients contracted with the gradient direction n (spec §3, "contracted forms")


@dataclass(frozen=True)
class DirectionalCoefficients:
    """The cell quantities that enter A(q, t), contracted with the unit direction n (System A units,
    unit box = 1 mm): X_nn = Σ X_ij n_i n_j, X_nnnn = Σ X_ijkl n_i n_j n_k n_l."""

    eta_e: float
    eta_c: float
    theta_e: float
    theta_c: float
    D_e: float          # 𝔻^e_nn (3.17)
    D_c: float          # 𝔻^c_nn
    S_e: float          # S^e_nn (3.24)
    S_c: float
    B_e: float          # B^e_nnnn (3.25)
    B_c: float
    IZ_ee: float        # (I^e + Z^{e,e})_nn (3.27), (3.28)
    IZ_cc: float        # (I^c + Z^{c,c})_nn
    IZ_ce: float        # (I^c + Z^{c,e})_nn
    IZ_ec: float        # (I^e + Z^{e,c})_nn
    omega_jump: float   # <[ω]>_Γ · n
    psi_jump: float     # <[ψ]>_Γ

    def scaled(self, rho: float) -> "DirectionalCoefficients":
        """Coefficients of the cell ρY (spec §1.6): θ/ρ; 𝔻, η unchanged; S, B ρ²; I, Z, <[ω]>, <[ψ]> ρ."""
        r = float(rho)
        return DirectionalCoefficients(self.eta_e, self.eta_c, self.theta_e / r, self.theta_c / r,
                                       self.D_e, self.D_c, r**2 * self.S_e, r**2 * self.S_c,
                                       r**2 * self.B_e, r**2 * self.B_c, r * self.IZ_ee, r * self.IZ_cc,
                                       r * self.IZ_ce, r * self.IZ_ec, r * self.omega_jump, r * self.psi_jump)


def _get(tensors: dict, *keys):
    x = tensors
    path = []
    for k in keys:
        path.append(k)
        try:
            x = x[k]
        except (KeyError, TypeError, IndexError):
            raise ValueError(f"--tensors: missing key {'/'.join(path)!r}") from None
    return np.asarray(x, dtype=float)


def contract(X, n) -> float:
    """Full contraction of a d^k tensor with n ⊗ ... ⊗ n."""
    X = np.asarray(X, dtype=float)
    for _ in range(X.ndim):
        X = X @ n
    return float(X)


def coefficients_from_tensors(tensors: dict, direction) -> DirectionalCoefficients:
    """Contract a tensors dict as written by ``homfx dmri tensors`` (keys eta, theta, D, S, T, B, Z, I,
    omega_jump_mean, psi_jump_mean; unit box, D in mm²/s) with the unit direction ``direction``.
    η is normalized so that η^e + η^c = 1 (spec §0; needed for S = 1 at q = 0)."""
    n = unit_direction(direction)
    d = _get(tensors, "D", "e").shape[0]
    if n.size != d:
        raise ValueError(f"--direction has {n.size} components but the tensors are {d}-dimensional")
    eta_e, eta_c = float(_get(tensors, "eta", "e")), float(_get(tensors, "eta", "c"))
    if not (eta_e > 0 and eta_c > 0):
        raise ValueError(f"--tensors: both compartments must have positive volume fraction, got "
                         f"eta = ({eta_e}, {eta_c})")
    if abs(eta_e + eta_c - 1) > 1e-6:
        raise ValueError(f"--tensors: eta_e + eta_c = {eta_e + eta_c} (must be 1 for the unit box)")
    s = eta_e + eta_c
    eta_e, eta_c = eta_e / s, eta_c / s
    Ie, Ic = _get(tensors, "I", "e"), _get(tensors, "I", "c")
    return DirectionalCoefficients(
        eta_e=eta_e, eta_c=eta_c,
        theta_e=float(_get(tensors, "theta", "e")), theta_c=float(_get(tensors, "theta", "c")),
        D_e=contract(_get(tensors, "D", "e"), n), D_c=contract(_get(tensors, "D", "c"), n),
        S_e=contract(_get(tensors, "S", "e"), n), S_c=contract(_get(tensors, "S", "c"), n),
        B_e=contract(_get(tensors, "B", "e"), n), B_c=contract(_get(tensors, "B", "c"), n),
        IZ_ee=contract(Ie + _get(tensors, "Z", "ee"), n), IZ_cc=contract(Ic + _get(tensors, "Z", "cc"), n),
        IZ_ce=contract(Ic + _get(tensors, "Z", "ce"), n), IZ_ec=contract(Ie + _get(tensors, "Z", "ec"), n),
        omega_jump=float(_get(tensors, "omega_jump_mean") @ n),
        psi_jump=float(_get(tensors, "psi_jump_mean")))


def _as_coefficients(coefficients_or_tensors, direction) -> DirectionalCoefficients:
    if isinstance(coefficients_or_tensors, DirectionalCoefficients):
        return coefficients_or_tensors
    return coefficients_from_tensors(coefficients_or_tensors, direction)


# ---------------------------------------------------------------------------------------------------
# 2×2 matrix exponential (closed form, vectorized over a stack)


def expm2(X: np.ndarray) -> np.ndarray:
    """exp(X) for a stack (..., 2, 2) of complex 2×2 matrices: with s = tr/2, μ² = ((a−d)/2)² + bc,
    exp(X) = e^s [cosh μ I + sinh(μ)/μ (X − sI)], evaluated without overflow for stiff X."""
    X = np.asarray(X, dtype=complex)
    a, b, c, d = X[..., 0, 0], X[..., 0, 1], X[..., 1, 0], X[..., 1, 1]
    s = 0.5 * (a + d)
    mu = np.sqrt(0.25 * (a - d) ** 2 + b * c)
    mu = np.where(mu.real < 0, -mu, mu)
    small = np.abs(mu) < 0.5
    mu_s = np.where(small, mu, 0.0)
    mu_l = np.where(small, 1.0, mu)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        es = np.exp(s)
        sinhc_small = np.where(np.abs(mu_s) > 0, np.sinh(mu_s) / np.where(mu_s == 0, 1, mu_s), 1.0)
        cosh_s, sinhc_s = es * np.cosh(mu_s), es * sinhc_small
        ep, em = np.exp(s + mu_l), np.exp(s - mu_l)
        cosh_l, sinhc_l = 0.5 * (ep + em), 0.5 * (ep - em) / mu_l
    ch = np.where(small, cosh_s, cosh_l)
    sh = np.where(small, sinhc_s, sinhc_l)
    out = np.empty(X.shape, dtype=complex)
    out[..., 0, 0] = ch + sh * (a - s)
    out[..., 1, 1] = ch + sh * (d - s)
    out[..., 0, 1] = sh * b
    out[..., 1, 0] = sh * c
    return out


def _comm(X, Y):
    return X @ Y - Y @ X


_G = math.sqrt(15) / 10
_NODES = np.array([0.5 - _G, 0.5, 0.5 + _G])


def _magnus6_steps(Afun, t0: float, t1: float, nsteps: int) -> np.ndarray:
    """Propagators of y' = −A(t) y on nsteps equal steps of (t0, t1): 6th-order Magnus with 3-point
    Gauss–Legendre nodes (Blanes, Casas & Ros 2000; Hairer–Lubich–Wanner IV.7). Returns (nsteps, 2, 2)."""
    h = (t1 - t0) / nsteps
    starts = t0 + h * np.arange(nsteps)
    B1, B2, B3 = (-h * Afun(starts + c * h) for c in _NODES)
    a1 = B2
    a2 = (math.sqrt(15) / 3) * (B3 - B1)
    a3 = (10 / 3) * (B3 - 2 * B2 + B1)
    C1 = _comm(a1, a2)
    C2 = -(1 / 60) * _comm(a1, 2 * a3 + C1)
    Omega = a1 + a3 / 12 + (1 / 240) * _comm(-20 * a1 - a3 + C1, a2 + C2)
    return expm2(Omega)


def _product(steps: np.ndarray) -> np.ndarray:
    """steps[-1] @ ... @ steps[0] (time-ordered)."""
    out = np.eye(2, dtype=complex)
    for S in steps:
        out = S @ out
    return out


# ---------------------------------------------------------------------------------------------------
# The model matrix A(q, t) (5.2) for one q


@dataclass
class ModelSystem:
    """A(q, t) = A0 + F A1 + F² A2 + F⁴ A4 + f F A5 of model ``model`` for a gradient amplitude q along n,
    with the paper's ε and σ0 (System A: σ0 in mm/s, q in 1/(mm·s), t in s)."""

    model: str
    coefficients: DirectionalCoefficients
    q: float
    epsilon: float
    sigma0: float
    parts: dict = field(init=False, repr=False)

    def __post_init__(self):
        if self.model not in MODELS:
            raise ValueError(f"--model must be one of {', '.join(MODELS)}, got {self.model!r}")
        if not (np.isfinite(self.q) and self.q >= 0):
            raise ValueError(f"q must be finite and >= 0, got {self.q}")
        if not (np.isfinite(self.epsilon) and self.epsilon > 0):
            raise ValueError(f"epsilon must be positive, got {self.epsilon}")
        if not (np.isfinite(self.sigma0) and self.sigma0 >= 0):
            raise ValueError(f"sigma0 (kappa) must be >= 0, got {self.sigma0}")
        self.parts = self._build()

    def _build(self) -> dict:
        c, q, e2, s0 = self.coefficients, self.q, self.epsilon**2, self.sigma0
        z = np.zeros((2, 2), dtype=complex)
        A0, A1, A2, A4, A5 = z.copy(), z.copy(), z.copy(), z.copy(), z.copy()
        # R0 (4.15): exchange σ0θ^α and D0^α = F² q² 𝔻^α_nn (4.4)
        A0 += [[s0 * c.theta_e, -s0 * c.theta_c], [-s0 * c.theta_e, s0 * c.theta_c]]
        A2 += [[q**2 * c.D_e, 0], [0, q**2 * c.D_c]]
        if self.model in ("R1", "R2full"):
            # G1^e = −ι σ0 θ^e F q <[ω]>·n (4.5), G1^c = +ι σ0 θ^c F q <[ω]>·n (4.6);
            # entries (1,2) −ε G1^c and (2,1) −ε G1^e of (4.13)
            A1 += [[0, -self.epsilon * 1j * s0 * c.theta_c * q * c.omega_jump],
                   [self.epsilon * 1j * s0 * c.theta_e * q * c.omega_jump, 0]]
        if self.model in ("R2", "R2full"):
            # σ0² θ^α <[ψ]> parts of E2 (4.7)-(4.8) and G2 (4.9)-(4.10)
            A0 += e2 * s0**2 * c.psi_jump * np.array([[c.theta_e, -c.theta_c], [-c.theta_e, c.theta_c]])
            # F² q² σ0 (I+Z) parts: E2^e +(I^e+Z^ee), E2^c −(I^c+Z^cc),
            # −G2^c ∋ −σ0 (η^e/η^c)(I^e+Z^ec), −G2^e ∋ +σ0 (η^c/η^e)(I^c+Z^ce)
            A2 += e2 * s0 * q**2 * np.array([[c.IZ_ee, -(c.eta_e / c.eta_c) * c.IZ_ec],
                                             [(c.eta_c / c.eta_e) * c.IZ_ce, -c.IZ_cc]])
            A4 += e2 * q**4 * np.diag([c.B_e, c.B_c])        # F⁴ q⁴ B^α_nnnn
            A5 += -e2 * q**2 * np.diag([c.S_e, c.S_c])       # −f F q² S^α_nn
        return {"A0": A0, "A1": A1, "A2": A2, "A4": A4, "A5": A5}

    @property
    def is_real(self) -> bool:
        return all(np.all(M.imag == 0) for M in self.parts.values())

    def A(self, f, F) -> np.ndarray:
        """A for arrays of (f, F) values: shape (..., 2, 2)."""
        f = np.asarray(f, dtype=float)[..., None, None]
        F = np.asarray(F, dtype=float)[..., None, None]
        p = self.parts
        return p["A0"] + F * p["A1"] + F**2 * p["A2"] + F**4 * p["A4"] + f * F * p["A5"]

    def A_of_t(self, segment) -> callable:
        return lambda t: self.A(segment.f(t), segment.F(t))

    def exchange_factor(self) -> float:
        """1 + ε²σ0<[ψ]>_Γ for R2/R2full (spec §4.4: must be > 0), 1 otherwise."""
        if self.model in ("R2", "R2full"):
            return 1.0 + self.epsilon**2 * self.sigma0 * self.coefficients.psi_jump
        return 1.0

    # -- time integration ------------------------------------------------------------------------
    def segment_propagator(self, segment, t0=None, t1=None, rtol: float = 1e-12,
                           max_steps: int = 1 << 14) -> tuple[np.ndarray, int]:
        """Φ with m(t1) = Φ m(t0) on a sub-interval of one smooth segment: closed-form expm when A is
        constant there, else Magnus-6 with the number of equal steps doubled until two successive
        propagators differ by <= rtol·|Φ| (the error of the finer one is then ~rtol/63)."""
        t0 = segment.t0 if t0 is None else t0
        t1 = segment.t1 if t1 is None else t1
        if t1 <= t0:
            return np.eye(2, dtype=complex), 0
        Afun = self.A_of_t(segment)
        if segment.constant:
            return expm2(-(t1 - t0) * Afun(np.array(0.5 * (t0 + t1)))), 1
        n = 2
        prev = _product(_magnus6_steps(Afun, t0, t1, n))
        while True:
            n *= 2
            cur = _product(_magnus6_steps(Afun, t0, t1, n))
            scale = max(np.max(np.abs(cur)), 1e-300)
            if np.max(np.abs(cur - prev)) <= rtol * scale:
                return cur, n
            if n >= max_steps:
                raise RuntimeError(f"signal model {self.model}: Magnus integration on ({t0}, {t1}) did not "
                                   f"reach rtol={rtol} with {n} steps")
            prev = cur

    def solve(self, sequence: Sequence, times=None, rtol: float = 1e-12):
        """m(T_E) (complex 2-vector) from m(0) = (η^e, η^c); with ``times``, also m at those times
        (array (len(times), 2)), each inserted as an extra step boundary."""
        c = self.coefficients
        m = np.array([c.eta_e, c.eta_c], dtype=complex)
        extra = np.unique(np.asarray([] if times is None else times, dtype=float))
        out = {}
        for seg in sequence.segments():
            cuts = np.concatenate([[seg.t0], extra[(extra > seg.t0) & (extra < seg.t1)], [seg.t1]])
            for k in range(cuts.size - 1):
                Phi, _ = self.segment_propagator(seg, cuts[k], cuts[k + 1], rtol=rtol)
                m = Phi @ m
                out[float(cuts[k + 1])] = m.copy()
        if times is None:
            return m
        traj = []
        for t in np.asarray(times, dtype=float):
            if t <= 0:
                traj.append(np.array([c.eta_e, c.eta_c], dtype=complex))
            elif float(t) in out:
                traj.append(out[float(t)])
            else:
                raise ValueError(f"times: {t} is outside (0, T_E]")
        return m, np.array(traj)

    def signal(self, sequence: Sequence, rtol: float = 1e-12) -> complex:
        """S = m^e(T_E) + m^c(T_E) (M_init = 1)."""
        return complex(np.sum(self.solve(sequence, rtol=rtol)))

    # -- eigenvalues (Remark 4.4) ----------------------------------------------------------------
    def eigenvalues(self, sequence: Sequence, per_segment: int = 201, refocusing: bool = True):
        """Times t and the eigenvalues of A(q, t), shape (nt, 2), sorted by real part. Each segment is
        sampled at ``per_segment`` Chebyshev–Lobatto points (clustered at the ends, where the refocusing
        window before T_E sits), with the one-sided f at the breakpoints.
        ``refocusing=False`` drops the f F A5 term (see ``StabilityReport``)."""
        ts, lams = [], []
        for seg in sequence.segments():
            n = 2 if seg.constant else per_segment
            x = 0.5 - 0.5 * np.cos(np.pi * np.arange(n) / (n - 1))
            t = seg.t0 + (seg.t1 - seg.t0) * x
            f = seg.f(t) if refocusing else np.zeros_like(t)
            ts.append(t)
            lams.append(np.linalg.eigvals(self.A(f, seg.F(t))))
        t = np.concatenate(ts)
        lam = np.concatenate(lams)
        order = np.argsort(lam.real, axis=1)
        return t, np.take_along_axis(lam, order, axis=1)


@dataclass(frozen=True)
class StabilityReport:
    """Eigenvalue summary of A(q, t) over the sequence (Remark 4.4, spec §4.4, AC13). Real parts in 1/s.

    ``min_small``/``max_large``: of the full A(q, t) (the paper's Fig. 9 quantity). ``min_small_secular``:
    of A without the refocusing term −ε² f F q² S (4.7)-(4.8). That term is a total derivative
    (f F = d(F²/2)/dt); alone it multiplies m^α by exp(ε² q² S^α_nn F²/2) <= 1, which returns to 1 at T_E,
    so the negative eigenvalues it causes while F decreases are refocusing, not instability (spec §4.4)."""

    min_small: float
    max_large: float
    max_imag: float
    min_small_secular: float
    max_large_secular: float
    exchange_factor: float  # 1 + ε²σ0<[ψ]>_Γ (R2)
    stable: bool

    @property
    def paper_nonnegative(self) -> bool:
        """AC13: min_t λ_small >= −1e-3 · max_t λ_large (tiny negative values near T_E allowed)."""
        return self.min_small >= -NEGATIVE_EIGENVALUE_RTOL * abs(self.max_large)


# Tolerance for negative eigenvalues relative to the largest one (AC13).
NEGATIVE_EIGENVALUE_RTOL = 1e-3


def stability(system: ModelSystem, sequence: Sequence, per_segment: int = 201) -> StabilityReport:
    """The model is flagged unstable when 1 + ε²σ0<[ψ]>_Γ <= 0 (then A has a negative eigenvalue whenever
    F = 0, spec §4.4) or when A without the refocusing term has min_t Re λ < −1e-3 · max_t Re λ (e.g. the
    Burnett term ε² F⁴ q⁴ B_nnnn < 0 outweighing F² q² 𝔻_nn at large b)."""
    _, lam = system.eigenvalues(sequence, per_segment)
    _, lam_sec = system.eigenvalues(sequence, per_segment, refocusing=False)
    min_sec, max_sec = float(np.min(lam_sec[:, 0].real)), float(np.max(lam_sec[:, 1].real))
    factor = system.exchange_factor()
    stable = factor > 0 and min_sec >= -NEGATIVE_EIGENVALUE_RTOL * abs(max_sec)
    return StabilityReport(float(np.min(lam[:, 0].real)), float(np.max(lam[:, 1].real)),
                           float(np.max(np.abs(lam.imag))), min_sec, max_sec, factor, bool(stable))


def warn_if_unstable(system: ModelSystem, report: StabilityReport, b: float | None = None) -> None:
    """``warnings.warn(UnstableModelWarning)`` when ``report`` is not stable."""
    if not report.stable:
        where = "" if b is None else f" at b = {b:g}"
        warnings.warn(f"model {system.model}{where} is unstable: 1 + eps^2 sigma0 <[psi]> = "
                      f"{report.exchange_factor:.4g}, min_t Re(lambda_small) = {report.min_small_secular:.4g} "
                      f"1/s (without the refocusing term; {report.min_small:.4g} with it), "
                      f"max_t Re(lambda_large) = {report.max_large:.4g} 1/s (Remark 4.4)",
                      UnstableModelWarning, stacklevel=3)


# ---------------------------------------------------------------------------------------------------
# Signal curves


@dataclass
class SignalResult:
    """S(b) of one model. Units: b s/mm², q 1/(mm·s), eigenvalues 1/s, sigma0 mm/s."""

    model: str
    b: np.ndarray
    q: np.ndarray
    signal: np.ndarray              # complex
    eigenvalues_min: np.ndarray     # min_t Re λ_small(A(q, t)) per b [1/s]
    eigenvalues_max: np.ndarray     # max_t Re λ_large per b [1/s]
    stable: np.ndarray              # bool per b
    epsilon: float
    sigma0: float
    direction: np.ndarray
    sequence: Sequence

    def to_json(self) -> dict:
        return {"model": self.model, "b": self.b, "signal": self.signal.real,
                "signal_imag": self.signal.imag, "q": self.q,
                "eigenvalues_min": self.eigenvalues_min, "eigenvalues_max": self.eigenvalues_max,
                "stable": [bool(s) for s in self.stable],
                "epsilon": self.epsilon, "sigma0_mm_per_s": self.sigma0,
                "direction": self.direction, "echo_time_s": self.sequence.echo_time,
                "units": {"b": "s/mm^2", "q": "1/(mm s)", "eigenvalues": "1/s", "sigma0": "mm/s"}}


def signal_curve(coefficients_or_tensors, b_values, direction=(0.0, 1.0), model: str = "R2", *,
                 epsilon: float, sigma0: float, sequence: Sequence, rtol: float = 1e-12,
                 check_stability: bool = True) -> SignalResult:
    """S(b) of ``model`` in System A: b in s/mm², σ0 in mm/s, sequence times in s, tensors on the unit box
    (mm). Warns ``UnstableModelWarning`` where A(q, t) has a clearly negative eigenvalue."""
    if model not in MODELS:
        raise ValueError(f"--model must be one of {', '.join(MODELS)}, got {model!r}")
    n = unit_direction(direction)
    coef = _as_coefficients(coefficients_or_tensors, n)
    b = np.atleast_1d(np.asarray(b_values, dtype=float))
    qs = sequence.q_from_b(b)
    sig = np.empty(b.size, dtype=complex)
    lmin, lmax, stab = np.empty(b.size), np.empty(b.size), np.empty(b.size, dtype=bool)
    for k, q in enumerate(qs):
        system = ModelSystem(model, coef, float(q), epsilon, sigma0)
        sig[k] = system.signal(sequence, rtol=rtol)
        rep = stability(system, sequence)
        lmin[k], lmax[k], stab[k] = rep.min_small, rep.max_large, rep.stable
        if check_stability:
            warn_if_unstable(system, rep, float(b[k]))
    return SignalResult(model, b, qs, sig, lmin, lmax, stab, float(epsilon), float(sigma0), n, sequence)


def sequence_in_seconds(sequence="pgse", delta: float | None = None, Delta: float | None = None,
                        mixing: float = 0.0, periods: float = 1) -> Sequence:
    """The sequence in seconds from paper units: ``sequence`` "pgse" | "dpgse" | "ogse" with delta, Delta,
    mixing in ms (periods = OGSE N), or a ``Sequence`` object already in seconds (returned as is)."""
    if isinstance(sequence, Sequence):
        return sequence
    for name, val in (("delta", delta), ("Delta", Delta)):
        if val is None or not (np.isfinite(val) and val > 0):
            raise ValueError(f"--{name} must be a positive duration (ms), got {val}")
    if Delta < delta:
        raise ValueError(f"--Delta must be >= --delta (ms), got Delta={Delta}, delta={delta}")
    return make_sequence(sequence, ms_to_s(delta), ms_to_s(Delta), ms_to_s(mixing), periods)


def compute_signal(tensors, b_values, direction=(0.0, 1.0), model: str = "R2", *, cell_size: float,
                   kappa: float, delta: float | None = None, Delta: float | None = None, sequence="pgse",
                   mixing: float = 0.0, periods: float = 1, rtol: float = 1e-12,
                   check_stability: bool = True) -> SignalResult:
    """S(b) of model R0/R1/R2/R2full in the paper's units, from a tensors dict of ``homfx dmri tensors``.

    b in s/mm², direction any non-zero vector (normalized), cell_size in µm (physical side of Y),
    kappa in m/s, delta/Delta/mixing in ms, sequence "pgse" | "dpgse" | "ogse" (periods = OGSE N) or a
    ``Sequence`` in seconds (e.g. ``PiecewiseWaveform``). ε = cell size / 1 mm and σ0 = κ/ε (spec §1.6).
    Returns a ``SignalResult`` (``.signal`` complex; the PGSE signal of R0/R2 is real)."""
    scal = paper_scaling(cell_size, kappa)
    seq = sequence_in_seconds(sequence, delta, Delta, mixing, periods)
    return signal_curve(tensors, b_values, direction, model, epsilon=scal.epsilon, sigma0=scal.sigma0,
                        sequence=seq, rtol=rtol, check_stability=check_stability)


def eigenvalue_curves(tensors, b: float, direction=(0.0, 1.0), model: str = "R2", *, cell_size: float,
                      kappa: float, delta: float | None = None, Delta: float | None = None, sequence="pgse",
                      mixing: float = 0.0, periods: float = 1,
                      per_segment: int = 201) -> tuple[np.ndarray, np.ndarray]:
    """The two eigenvalues of A(q, t) over the sequence (Remark 4.4, the paper's Fig. 9), paper units in
    (as ``compute_signal``). Returns t [ms] and λ [1/ms], shape (nt, 2), sorted by real part."""
    scal = paper_scaling(cell_size, kappa)
    seq = sequence_in_seconds(sequence, delta, Delta, mixing, periods)
    n = unit_direction(direction)
    q = float(seq.q_from_b(float(b)))
    system = ModelSystem(model, _as_coefficients(tensors, n), q, scal.epsilon, scal.sigma0)
    t, lam = system.eigenvalues(seq, per_segment)
    return t / ms_to_s(1.0), lam * ms_to_s(1.0)


def single_compartment_signal(D_nn: float, b_values) -> np.ndarray:
    """The single-compartment (κ = 0, first-order) model S = exp(−b 𝔻_nn) (b s/mm², 𝔻 mm²/s)."""
    return np.exp(-np.asarray(b_values, dtype=float) * D_nn)


# ---------------------------------------------------------------------------------------------------
# Reference tensors (for tests, docs and quick runs without the cell solver)

# Spec §3.2 [VERIFIED prototype, centered disk, unit box, D_e = 3e-3, D_c = 1.7e-3 mm²/s, h = 0.005]:
# R: (η^c, θ^e, θ^c, 𝔻^e_22/D_e, S^e_22, B^e_2222/D_e, I^e_22, Z^ee_22, Z^ec_22, Z^ce_22, <[ψ]>_Γ)
SPEC_DISK_TABLE = {
    0.2: (0.12565, 1.43719, 10.0008, 0.888381, -0.0019100, -0.0045031, -0.015040, 0.005046, -0.029508,
          0.24089, -66.087),
    0.4: (0.50264, 5.05321, 5.0001, 0.647657, -0.0042228, -0.0173665, -0.052792, 0.022546, -0.241995,
          0.17058, -84.181),
}


def spec_reference_tensors(R: float, D_e: float = 3e-3) -> dict:
    """A tensors dict (format of ``homfx dmri tensors``, d = 2) for the centered disk of radius R = 0.2 or
    0.4 from the spec's §3.2 table; the c side from the closed forms (𝔻^c = 0, S^c = −R²/4, I^c = 3R/4,
    Z^{cc} = −3R/4, B^c = 0). The square symmetry is imposed: 2-tensors ∝ Id, B isotropic (B_nnnn the
    same for every n), T = 𝔻 ⊗ S − B. The table was computed with D_e = 3e-3, D_c = 1.7e-3 mm²/s."""
    if R not in SPEC_DISK_TABLE:
        raise ValueError(f"R must be one of {sorted(SPEC_DISK_TABLE)}, got {R}")
    eta_c, th_e, th_c, dr, S_e, B_e, I_e, Z_ee, Z_ec, Z_ce, psi = SPEC_DISK_TABLE[R]
    I2 = np.eye(2)
    iso4 = (np.einsum("ij,kl->ijkl", I2, I2) + np.einsum("ik,jl->ijkl", I2, I2)
            + np.einsum("il,jk->ijkl", I2, I2)) / 3
    D = {"e": dr * D_e * I2, "c": 0 * I2}
    S = {"e": S_e * I2, "c": -R**2 / 4 * I2}
    B = {"e": B_e * D_e * iso4, "c": 0 * iso4}
    T = {a: np.einsum("ij,kl->ijkl", D[a], S[a]) - B[a] for a in "ec"}
    tolist = lambda d: {k: v.tolist() for k, v in d.items()}  # noqa: E731
    return {"eta": {"e": 1 - eta_c, "c": eta_c}, "theta": {"e": th_e, "c": th_c},
            "D": tolist(D), "S": tolist(S), "T": tolist(T), "B": tolist(B),
            "Z": tolist({"ee": Z_ee * I2, "ec": Z_ec * I2, "ce": Z_ce * I2, "cc": -0.75 * R * I2}),
            "I": tolist({"e": I_e * I2, "c": 0.75 * R * I2}),
            "omega_jump_mean": [0.0, 0.0], "psi_jump_mean": psi}


__all__ = ["MODELS", "UnstableModelWarning", "DirectionalCoefficients", "coefficients_from_tensors",
           "ModelSystem", "StabilityReport", "stability", "SignalResult", "signal_curve", "compute_signal",
           "single_compartment_signal", "eigenvalue_curves", "expm2", "spec_reference_tensors"]
