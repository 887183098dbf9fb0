"""Lowest Bloch eigenvalue μ(κ) of −(∇+iκ)·(a(∇+iκ)ψ) = μψ on the unit cell, by Fourier-Galerkin [spec §3.3, AC-8].

Independent of the FE cascade: ψ = Σ_p c_p e^{2πip·y} with |p_i| ≤ P, H_qp = (2πq+κ)ᵀ â_{q−p} (2πp+κ) where â
are the Fourier coefficients of a (FFT of samples; exact for trigonometric polynomials of degree < N/2).
Then μ(κη) = a⁰ηη κ² + C(η) κ⁴ + O(κ⁶) (§3.3 [R][V]), which checks a⁰ and the dispersion tensor C.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np


@dataclass
class BlochOperator:
    """Fourier-Galerkin data of a coefficient: modes p (M, d) and â_{q−p} (M, M, d, d)."""

    modes: np.ndarray
    a_hat: np.ndarray

    def hamiltonian(self, kappa) -> np.ndarray:
        k = 2 * np.pi * self.modes + np.asarray(kappa, dtype=float)  # (M, d)
        return np.einsum("qi,qpij,pj->qp", k, self.a_hat, k)

    def lowest(self, kappa) -> float:
        H = self.hamiltonian(kappa)
        return float(np.linalg.eigvalsh(0.5 * (H + H.conj().T))[0])


def bloch_operator(a_numpy, d: int, *, P: int = 10, N: int | None = None) -> BlochOperator:
    """``a_numpy(y)``: y of shape (d, m) → (m, d, d). P: modes |p_i| ≤ P; N samples per direction (≥ 4P+2)."""
    if d not in (1, 2, 3):
        raise ValueError(f"d must be 1, 2 or 3, got {d}")
    N = N or 4 * P + 4
    if N < 4 * P + 1:
        raise ValueError(f"N = {N} samples per direction alias the modes |p| <= 2P = {2 * P}")
    g = np.arange(N) / N
    Y = np.stack(np.meshgrid(*([g] * d), indexing="ij")).reshape(d, -1)
    vals = np.asarray(a_numpy(Y), dtype=float).reshape((N,) * d + (d, d))
    ahat = np.fft.fftn(vals, axes=tuple(range(d))) / N ** d
    modes = np.array(list(itertools.product(range(-P, P + 1), repeat=d)))
    diff = (modes[:, None, :] - modes[None, :, :]) % N  # q − p
    idx = tuple(diff[..., i] for i in range(d))
    return BlochOperator(modes, ahat[idx])


def dispersion_fit(op: BlochOperator, eta, kappas=(0.1, 0.2, 0.3, 0.4)) -> dict:
    """μ(κη)/κ² for the given κ and a cubic fit in κ² (AC-8): coefficients c0 ≈ a⁰ηη, c1 ≈ C(η)."""
    eta = np.asarray(eta, dtype=float)
    eta = eta / np.linalg.norm(eta)
    ks = np.asarray(kappas, dtype=float)
    q = np.array([op.lowest(k * eta) / k ** 2 for k in ks])
    deg = min(3, len(ks) - 1)
    coef = np.polynomial.polynomial.polyfit(ks ** 2, q, deg)
    return {"kappa": ks, "mu_over_k2": q, "a0_fit": float(coef[0]), "C_fit": float(coef[1]) if deg else np.nan}


def bloch_phase_velocity(op: BlochOperator, eta, kappas) -> np.ndarray:
    """Phase velocity ω/k of the lowest Bloch band along the direction η, in the variable κ = εk:
    ω²(k) = μ(εkη)/ε², so ω/k = √μ(κη)/κ for every ε."""
    eta = np.asarray(eta, dtype=float) / np.linalg.norm(eta)
    return np.array([np.sqrt(max(op.lowest(k * eta), 0.0)) / k for k in np.asarray(kappas, dtype=float)])


def model_phase_velocity(a0, b0, a2, eta, kappas) -> np.ndarray:
    """ω/k of an effective equation (3.2) along η in κ = εk: ω²/k² = (a⁰ηη + a²ηηηη κ²)/(1 + b⁰ηη κ²)
    (u⁰: b⁰ = a² = 0)."""
    eta = np.asarray(eta, dtype=float) / np.linalg.norm(eta)
    d = eta.size
    a0 = np.asarray(a0, dtype=float).reshape(d, d)
    b0 = np.asarray(b0, dtype=float).reshape(d, d)
    a2 = np.asarray(a2, dtype=float).reshape((d,) * 4)
    k2 = np.asarray(kappas, dtype=float) ** 2
    return np.sqrt((_along(a0, eta) + _along(a2, eta) * k2) / (1.0 + _along(b0, eta) * k2))


def _along(T: np.ndarray, eta: np.ndarray) -> float:
    """T_{ij..} η_i η_j ..: the full contraction with η."""
    for _ in range(T.ndim):
        T = T @ eta
    return float(T)
