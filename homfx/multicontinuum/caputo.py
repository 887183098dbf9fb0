"""Time stepping of Caputo fractional derivatives (pure NumPy/SciPy; no dolfinx).

The semi-discrete problems of this package have the form (spec §1.2, §2.4; paper (33))

    Σ_p M_p D_t^{α_p} u + K u = F(t),      u(0) = u0,  u'(0) = v0 (only for α > 1),

with per-continuum mass matrices M_p (one order α_p each; the single-order case is one pair (M, α)).

Both schemes used here are the L1 formula for a Caputo derivative of order γ ∈ (0, 1) of a sequence V^k on
the uniform grid t_k = kτ,

    D^γ V (t_n) ≈ μ Σ_{k=1}^{n} a_{n−k} (V^k − V^{k−1}),   a_j = (j+1)^{1−γ} − j^{1−γ},  μ = τ^{−γ}/Γ(2−γ),

split into the new term a_0 (V^n − V^{n−1}) and the *history* H^n = Σ_{k=1}^{n−1} a_{n−k} dV^k, dV^k = V^k − V^{k−1}:

* **Sun–Wu (1 < α < 2)**, paper (4)-(5): γ = α − 1 applied to the half-step velocities V^k = w^k =
  (u^k − u^{k−1})/τ, V^0 = v0, at t_{n−1/2}, with the Crank–Nicolson average of K u. μ = c_α = τ^{1−α}/Γ(3−α).
  Abel summation shows μ[w^n − w^{n−1} + H^n] is exactly the bracket of paper (4):
  c_α [a_0 w^n − Σ_{k=1}^{n−1}(a_{n−k−1} − a_{n−k}) w^k − a_{n−1} v0]. Linear system per step (spec §2.3/§2.4):

      (Σ_p σ_p M_p + ½K) u^n = Σ_p M_p [σ_p u^{n−1} + c_p (w^{n−1} − H_p^n)] − ½K u^{n−1} + F(t_{n−1/2}),  σ_p = c_p/τ.

  Temporal order 3 − α (Sun & Wu 2006).
* **L1 (0 < α < 1)**, spec §2.6: γ = α applied to V^k = u^k at t_n, elliptic part implicit at t_n:

      (Σ_p μ_p M_p + K) u^n = Σ_p μ_p M_p (u^{n−1} − H_p^n) + F(t_n).           Temporal order 2 − α.

The history sum is O(n) per step (:class:`ExactHistory`: one (n−1)-term weighted sum of the stored dV^k per
order, spec §2.5), or O(N_exp) with the sum-of-exponentials option (:class:`SOEHistory`): the weights are
a_j = (1−γ)∫_j^{j+1} s^{−γ} ds and s^{−γ} ≈ Σ_l ω_l e^{−λ_l s} on [1, N_t] (Gauss–Jacobi on [0, 1/N_t],
Gauss–Legendre on dyadic intervals of the Laplace-transform integral, as in the fast L1 method of Jiang,
Zhang, Zhang & Zhang, CiCP 21 (2017)), so a_j ≈ Σ_l θ_l e^{−λ_l j} and H^n = Σ_l θ_l S_l^n with the exact
recursion S_l^n = e^{−λ_l}(S_l^{n−1} + dV^{n−1}). The perturbation is bounded by the SOE tolerance.

:func:`march` runs either scheme for any linear algebra given as an ``ops`` object (mass/stiffness products
and the factored solve on local NumPy arrays); :class:`DenseOps` is the small dense version used for the
ODE tests, ``homfx.multicontinuum.fine.CaputoStepper`` the PETSc/MPI one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Protocol, Sequence

import numpy as np
import scipy.linalg as sla
from scipy.special import gamma as _Gamma
from scipy.special import roots_jacobi, roots_legendre

SUN_WU = "sun-wu"
L1 = "l1"
HISTORIES = ("exact", "soe")


# --------------------------------------------------------------------------------------------- validation


def check_alpha(alpha, name: str = "alpha") -> float:
    """A Caputo order in (0, 1) ∪ (1, 2); anything else is a ValueError naming ``name``."""
    try:
        a = float(alpha)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: the fractional order must be a number in (0, 1) or (1, 2), got {alpha!r}")
    if not (0.0 < a < 2.0) or a == 1.0 or not math.isfinite(a):
        raise ValueError(f"{name}: the fractional order must lie in (0, 1) (L1 scheme) or (1, 2) (Sun-Wu "
                         f"scheme), got {alpha!r}")
    return a


def check_alphas(alphas) -> tuple[tuple[float, ...], str]:
    """Orders per mass matrix; all in (1, 2) (Sun–Wu) or all in (0, 1) (L1). Returns (alphas, kind)."""
    if np.isscalar(alphas):
        alphas = (alphas,)
    alphas = tuple(check_alpha(a, f"alpha[{p}]" if len(alphas) > 1 else "alpha") for p, a in enumerate(alphas))
    if not alphas:
        raise ValueError("alpha: at least one fractional order is needed")
    above = [a > 1.0 for a in alphas]
    if any(above) and not all(above):
        raise ValueError(f"alpha: mixed orders must all lie in (1, 2) or all in (0, 1) (one time grid for the "
                         f"Sun-Wu half steps or the L1 full steps), got {alphas}")
    return alphas, (SUN_WU if above[0] else L1)


def time_steps(T: float, tau: float) -> int:
    """N_t = T/τ; a time step that does not divide T is a ValueError naming ``tau``."""
    T, tau = float(T), float(tau)
    if not (T > 0 and math.isfinite(T)):
        raise ValueError(f"T: the final time must be positive, got {T}")
    if not (tau > 0 and math.isfinite(tau)):
        raise ValueError(f"tau: the time step must be positive, got {tau}")
    n = round(T / tau)
    if n < 1 or abs(n * tau - T) > 1e-9 * T:
        raise ValueError(f"tau: the time step {tau} does not divide T = {T} (T/tau = {T / tau:.6g})")
    return int(n)


# --------------------------------------------------------------------------------------------- weights


def l1_weights(gamma: float, n: int) -> np.ndarray:
    """a_j = (j+1)^{1−γ} − j^{1−γ}, j = 0..n (a_0 = 1, positive, decreasing)."""
    j = np.arange(1, n + 1, dtype=float)
    b = 1.0 - gamma  # j^b ((1 + 1/j)^b − 1) without cancellation for large j
    return np.concatenate([[1.0], j ** b * np.expm1(b * np.log1p(1.0 / j))])


def sunwu_weights(alpha: float, n: int) -> np.ndarray:
    """Paper (4): a_k = (k+1)^{2−α} − k^{2−α}, k = 0..n."""
    return l1_weights(alpha - 1.0, n)


@dataclass(frozen=True)
class CaputoScheme:
    """The time grid and per-order constants of the Sun–Wu (1<α<2) or L1 (0<α<1) scheme."""

    alphas: tuple[float, ...]
    tau: float
    n_steps: int
    kind: str

    @classmethod
    def create(cls, alphas, tau: float, T: float) -> "CaputoScheme":
        alphas, kind = check_alphas(alphas)
        return cls(alphas, float(tau), time_steps(T, tau), kind)

    @property
    def gammas(self) -> tuple[float, ...]:
        """Order of the L1 formula: α − 1 (Sun–Wu, acting on u') or α (L1, acting on u)."""
        return tuple(a - 1.0 if self.kind == SUN_WU else a for a in self.alphas)

    @property
    def mu(self) -> np.ndarray:
        """μ_p = τ^{−γ}/Γ(2−γ); for Sun–Wu this is c_α = τ^{1−α}/Γ(3−α) of paper (4)."""
        return np.array([self.tau ** (-g) / _Gamma(2.0 - g) for g in self.gammas])

    @property
    def mass_coefficients(self) -> np.ndarray:
        """Coefficients of M_p in the constant operator A: σ_p = c_p/τ (Sun–Wu) or μ_p (L1)."""
        return self.mu / self.tau if self.kind == SUN_WU else self.mu

    @property
    def stiffness_coefficient(self) -> float:
        """Coefficient of K in A: ½ (Crank–Nicolson, Sun–Wu) or 1 (implicit at t_n, L1)."""
        return 0.5 if self.kind == SUN_WU else 1.0

    def source_time(self, n: int) -> float:
        """Time at which F is evaluated in step n: t_{n−1/2} (Sun–Wu) or t_n (L1)."""
        return (n - 0.5) * self.tau if self.kind == SUN_WU else n * self.tau

    @property
    def times(self) -> np.ndarray:
        return self.tau * np.arange(self.n_steps + 1)


# --------------------------------------------------------------------------------------------- SOE kernel


def soe_power(beta: float, smax: float, tol: float = 1e-10, nodes: int = 0):
    """Sum of exponentials s^{−β} ≈ Σ_l ω_l e^{−λ_l s} on s ∈ [1, smax], relative error ≤ tol.

    From s^{−β} = (1/Γ(β)) ∫_0^∞ x^{β−1} e^{−sx} dx: Gauss–Jacobi on [0, 1/smax], Gauss–Legendre on the
    dyadic intervals [2^i/smax, 2^{i+1}/smax] up to x ≈ ln(1/tol) + 5; nodes whose term is below the
    tolerance on the whole interval are dropped. The node count per interval is increased until the
    relative error, checked on a dense grid of [1, smax], is ≤ tol. Returns (λ, ω).
    """
    if not (0.0 < beta < 1.0):
        raise ValueError(f"beta: the SOE exponent must lie in (0, 1), got {beta}")
    if not (1e-15 <= tol < 1e-2):
        raise ValueError(f"soe_tol: the SOE tolerance must lie in [1e-15, 1e-2), got {tol}")
    smax = max(float(smax), 2.0)
    s = np.unique(np.concatenate([np.geomspace(1.0, smax, 3000), np.linspace(1.0, smax, 1000)]))
    exact = s ** (-beta)
    x0, X = 1.0 / smax, math.log(1.0 / tol) + 5.0
    q = nodes or 4
    while True:
        t, wj = roots_jacobi(q, 0.0, beta - 1.0)  # weight (1+t)^{β−1} on [−1, 1]
        lam = [x0 * (1.0 + t) / 2.0]
        om = [(x0 / 2.0) ** beta * wj]
        tl, wl = roots_legendre(q)
        a = x0
        while a < X:
            xs = a * (1.5 + 0.5 * tl)  # [a, 2a]
            lam.append(xs)
            om.append(0.5 * a * wl * xs ** (beta - 1.0))
            a *= 2.0
        lam, om = np.concatenate(lam), np.concatenate(om) / _Gamma(beta)
        keep = om * np.exp(-lam) > 1e-3 * tol * smax ** (-beta) / lam.size  # negligible on all of [1, smax]
        lam, om = lam[keep], om[keep]
        err = np.max(np.abs(np.exp(-np.outer(s, lam)) @ om - exact) / exact)
        if err <= 0.5 * tol or nodes:
            return lam, om
        if q >= 64:
            raise RuntimeError(f"soe_power: tolerance {tol} not reached for beta={beta} (error {err:.2e})")
        q += 1  # the error drops by ~30x per node and interval


@dataclass(frozen=True)
class SOEKernel:
    """a_j ≈ Σ_l θ_l e^{−λ_l j} for 1 ≤ j ≤ n_steps − 1 (the history weights of one order γ)."""

    gamma: float
    lam: np.ndarray
    theta: np.ndarray

    @classmethod
    def create(cls, gamma: float, n_steps: int, tol: float = 1e-10) -> "SOEKernel":
        lam, om = soe_power(gamma, max(n_steps, 2), tol)
        # a_j = (1−γ) ∫_j^{j+1} s^{−γ} ds, integrated exactly for every exponential
        theta = (1.0 - gamma) * om * (-np.expm1(-lam)) / lam
        return cls(gamma, lam, theta)

    def weights(self, j: np.ndarray) -> np.ndarray:
        return np.exp(-np.outer(np.asarray(j, float), self.lam)) @ self.theta

    @property
    def size(self) -> int:
        return self.lam.size


# --------------------------------------------------------------------------------------------- histories


class ExactHistory:
    """H_p^n = Σ_{k=1}^{n−1} a^{(p)}_{n−k} dV^k for all orders p; stores dV^k (shared by the orders)."""

    def __init__(self, gammas: Sequence[float], n_steps: int, ndof: int):
        self.a = np.array([l1_weights(g, n_steps) for g in gammas])  # (P, n_steps+1)
        self.dV = np.empty((max(n_steps - 1, 0), ndof))  # the last increment is never needed
        self.count = 0

    def push(self, dV: np.ndarray):
        if self.count < self.dV.shape[0]:
            self.dV[self.count] = dV
        self.count += 1

    def values(self) -> np.ndarray:
        """(P, ndof) history of the next step n = count + 1."""
        n = self.count + 1
        if n == 1:
            return np.zeros((self.a.shape[0], self.dV.shape[1]))
        coef = self.a[:, n - 1:0:-1]  # a_{n−k}, k = 1..n−1
        return coef @ self.dV[: n - 1]  # one BLAS product (spec §2.5)


class SOEHistory:
    """Fast history: H_p^n ≈ Σ_l θ_l S_l^n, S_l^n = e^{−λ_l}(S_l^{n−1} + dV^{n−1}); O(N_exp) per step."""

    def __init__(self, gammas: Sequence[float], n_steps: int, ndof: int, tol: float = 1e-10):
        self.kernels = [SOEKernel.create(g, n_steps, tol) for g in gammas]
        self.S = [np.zeros((k.size, ndof)) for k in self.kernels]
        self.decay = [np.exp(-k.lam)[:, None] for k in self.kernels]
        self.count = 0

    def push(self, dV: np.ndarray):
        for S, d in zip(self.S, self.decay):
            S += dV[None, :]
            S *= d
        self.count += 1

    def values(self) -> np.ndarray:
        return np.array([k.theta @ S for k, S in zip(self.kernels, self.S)])


def make_history(history: str, gammas, n_steps: int, ndof: int, soe_tol: float = 1e-10):
    if history == "exact":
        return ExactHistory(gammas, n_steps, ndof)
    if history == "soe":
        return SOEHistory(gammas, n_steps, ndof, soe_tol)
    raise ValueError(f"history must be one of {HISTORIES}, got {history!r}")


# --------------------------------------------------------------------------------------------- stepping


class Ops(Protocol):
    """Linear algebra on local (owned) NumPy arrays; ``solve`` applies the factored A = Σ m_p M_p + k K."""

    def mass(self, p: int, x: np.ndarray) -> np.ndarray: ...
    def stiffness(self, x: np.ndarray) -> np.ndarray: ...
    def solve(self, rhs: np.ndarray) -> np.ndarray: ...
    def constrain(self, x: np.ndarray) -> np.ndarray: ...  # zero the Dirichlet entries (in place)


Source = Callable[[float], np.ndarray]


def march(scheme: CaputoScheme, ops: Ops, u0: np.ndarray, v0: np.ndarray | None, source: Source | np.ndarray | None,
          *, history: str = "exact", soe_tol: float = 1e-10, callback=None, steps=None) -> np.ndarray:
    """Run all ``scheme.n_steps`` steps from u0 (and v0, Sun–Wu only); returns u^{N_t}.

    ``source``: a constant vector F, or F(t) evaluated at ``scheme.source_time(n)``, or None (= 0).
    ``callback(n, t_n, u^n)`` is called for n = 0..N_t. ``steps`` wraps ``range(1, N_t+1)`` (progress bar).
    """
    u = ops.constrain(np.array(u0, dtype=float, copy=True))
    ndof = u.size
    if scheme.kind == L1 and v0 is not None and np.any(v0):
        raise ValueError("v0: the L1 scheme (0 < alpha < 1) takes no initial velocity")
    w_prev = np.zeros(ndof) if v0 is None else ops.constrain(np.array(v0, dtype=float, copy=True))
    hist = make_history(history, scheme.gammas, scheme.n_steps, ndof, soe_tol)
    mu, sig, kk = scheme.mu, scheme.mass_coefficients, scheme.stiffness_coefficient
    F_const = None if callable(source) else (np.zeros(ndof) if source is None else np.asarray(source, float))
    if callback is not None:
        callback(0, 0.0, u)
    it = range(1, scheme.n_steps + 1) if steps is None else steps(range(1, scheme.n_steps + 1))
    for n in it:
        F = F_const if F_const is not None else np.asarray(source(scheme.source_time(n)), float)
        H = hist.values()
        rhs = F.copy()
        if scheme.kind == SUN_WU:
            rhs -= kk * ops.stiffness(u)
            for p in range(len(scheme.alphas)):
                rhs += ops.mass(p, sig[p] * u + mu[p] * (w_prev - H[p]))
        else:
            for p in range(len(scheme.alphas)):
                rhs += ops.mass(p, mu[p] * (u - H[p]))
        u_new = ops.solve(ops.constrain(rhs))
        if scheme.kind == SUN_WU:
            w = (u_new - u) / scheme.tau
            hist.push(w - w_prev)
            w_prev = w
        else:
            hist.push(u_new - u)
        u = u_new
        if callback is not None:
            callback(n, n * scheme.tau, u)
    return u


@dataclass
class DenseOps:
    """Small dense (or SciPy sparse) systems in one process: the ODE / scalar tests and prototypes."""

    masses: Sequence[np.ndarray]
    K: np.ndarray
    scheme: CaputoScheme
    dirichlet: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))

    def __post_init__(self):
        self.masses = [np.atleast_2d(np.asarray(m, float)) for m in self.masses]
        self.K = np.atleast_2d(np.asarray(self.K, float))
        if len(self.masses) != len(self.scheme.alphas):
            raise ValueError(f"masses: one mass matrix per order needed, got {len(self.masses)} for "
                             f"{len(self.scheme.alphas)} orders")
        A = self.scheme.stiffness_coefficient * self.K
        for c, m in zip(self.scheme.mass_coefficients, self.masses):
            A = A + c * m
        A = A.copy()
        A[self.dirichlet, :] = 0.0
        A[:, self.dirichlet] = 0.0
        A[self.dirichlet, self.dirichlet] = 1.0
        self.lu = sla.lu_factor(A)

    def mass(self, p, x):
        return self.masses[p] @ x

    def stiffness(self, x):
        return self.K @ x

    def solve(self, rhs):
        return sla.lu_solve(self.lu, rhs)

    def constrain(self, x):
        x[self.dirichlet] = 0.0
        return x


def solve_dense(masses, alphas, K, u0, v0=None, source=None, *, tau: float, T: float, history: str = "exact",
                soe_tol: float = 1e-10, dirichlet=None, callback=None) -> np.ndarray:
    """Σ_p M_p D^{α_p} u + K u = F for small dense matrices; returns u(T). (Tests, prototypes.)"""
    scheme = CaputoScheme.create(alphas, tau, T)
    ops = DenseOps(masses, K, scheme, np.zeros(0, int) if dirichlet is None else np.asarray(dirichlet, int))
    return march(scheme, ops, np.atleast_1d(np.asarray(u0, float)),
                 None if v0 is None else np.atleast_1d(np.asarray(v0, float)),
                 source if (source is None or callable(source)) else np.atleast_1d(np.asarray(source, float)),
                 history=history, soe_tol=soe_tol, callback=callback)


def caputo_of_power(k: float, alpha: float, t):
    """D_t^α t^k = Γ(k+1)/Γ(k+1−α) t^{k−α} (k > ⌈α⌉ − 1 or k = 0 → 0 for integer k < ⌈α⌉)."""
    if float(k).is_integer() and k < math.ceil(alpha):
        return 0.0 * np.asarray(t, float)
    return _Gamma(k + 1.0) / _Gamma(k + 1.0 - alpha) * np.asarray(t, float) ** (k - alpha)
