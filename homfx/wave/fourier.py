"""Exact-in-time Fourier solver for the homogenized and the effective (dispersive) wave equations on a
periodic box (spec wave.md §5.2; paper (6.3)).

The effective equation (3.2),

    ∂²_t u − a⁰_ij ∂²_ij u + ε² ( a²_ijkl ∂⁴_ijkl u − b⁰_ij ∂²_ij ∂²_t u ) = f,

becomes, for each Fourier mode k, the oscillator ``m(k) û'' + σ(k) û = f̂`` with
``m(k) = 1 + ε² b⁰kk`` and ``σ(k) = a⁰kk + ε² a²(kkkk)``, so ``ω(k)² = s(k) = σ/m`` (dispersion relation
(6.3)). Every mode is integrated exactly in time; the only errors are spatial truncation and
periodization. The homogenized equation (1.2) is the case ε = 0 (or b⁰ = 0, a² = 0).

Grids: Ω = Π_i (−L_i, L_i) with N_i points x_i = −L_i + n h_i, h_i = 2L_i/N_i, and k_i = 2π fftfreq(N_i, h_i).
Works in d = 1, 2, 3. The computation is plain numpy and identical on every MPI rank.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np


# ---------------------------------------------------------------------------------------------- grid
@dataclass(frozen=True)
class PeriodicBox:
    """The periodic box Ω = Π_i (−L_i, L_i) sampled with N_i points per axis."""

    half_lengths: tuple
    n: tuple

    def __post_init__(self):
        L = tuple(float(v) for v in np.atleast_1d(self.half_lengths))
        n = tuple(int(v) for v in np.atleast_1d(self.n))
        if len(L) != len(n) or not 1 <= len(L) <= 3:
            raise ValueError(f"half_lengths {L} and n {n}: need 1 to 3 axes of equal count")
        if any(v <= 0 for v in L):
            raise ValueError(f"half_lengths must be positive, got {L}")
        if any(v < 2 for v in n):
            raise ValueError(f"n must be >= 2 points per axis, got {n}")
        object.__setattr__(self, "half_lengths", L)
        object.__setattr__(self, "n", n)

    @classmethod
    def with_spacing(cls, half_lengths: Sequence[float], h: float) -> "PeriodicBox":
        """Box with N_i = round(2L_i/h) points (spacing h_i = 2L_i/N_i ≈ h)."""
        if h <= 0:
            raise ValueError(f"h must be positive, got {h}")
        L = np.atleast_1d(np.asarray(half_lengths, dtype=float))
        return cls(tuple(L), tuple(int(max(2, round(2 * v / h))) for v in L))

    @property
    def dim(self) -> int:
        return len(self.n)

    @property
    def h(self) -> tuple:
        return tuple(2 * L / n for L, n in zip(self.half_lengths, self.n))

    @property
    def volume(self) -> float:
        return float(np.prod([2 * L for L in self.half_lengths]))

    def axis_points(self, i: int) -> np.ndarray:
        return -self.half_lengths[i] + self.h[i] * np.arange(self.n[i])

    def axis_wavenumbers(self, i: int) -> np.ndarray:
        return 2 * np.pi * np.fft.fftfreq(self.n[i], d=self.h[i])

    def grid(self) -> list[np.ndarray]:
        """Coordinates x_i on the full grid (``indexing='ij'``)."""
        return np.meshgrid(*[self.axis_points(i) for i in range(self.dim)], indexing="ij")

    def rfft_wavenumbers(self) -> list[np.ndarray]:
        """Broadcastable k_i arrays in the layout of ``numpy.fft.rfftn`` (last axis halved)."""
        ks = [self.axis_wavenumbers(i) for i in range(self.dim - 1)]
        ks.append(2 * np.pi * np.fft.rfftfreq(self.n[-1], d=self.h[-1]))
        return [k.reshape([-1 if j == i else 1 for j in range(self.dim)]) for i, k in enumerate(ks)]

    def rfft_weights(self) -> np.ndarray:
        """Parseval weights of the rfftn layout: ∫_Ω |u|² = |Ω|/N² Σ w |û|² (N = total points)."""
        nl = self.n[-1]
        w = np.full(nl // 2 + 1, 2.0)
        w[0] = 1.0
        if nl % 2 == 0:
            w[-1] = 1.0
        return w.reshape([1] * (self.dim - 1) + [-1])

    def sample(self, g: Callable | np.ndarray) -> np.ndarray:
        """Sample a callable ``g(*x)`` on the grid (or check the shape of an array)."""
        if callable(g):
            out = np.asarray(g(*self.grid()), dtype=float)
            return np.broadcast_to(out, self.n).copy()
        arr = np.asarray(g, dtype=float)
        if arr.shape != self.n:
            raise ValueError(f"data of shape {arr.shape} does not match the grid {self.n}")
        return arr


# ---------------------------------------------------------------------------------------------- model
def quadratic_form(T: np.ndarray, k: Sequence[np.ndarray]) -> np.ndarray:
    """T_ij k_i k_j for broadcastable wavenumber arrays k_i."""
    d = len(k)
    return sum(T[i, j] * k[i] * k[j] for i in range(d) for j in range(d))


def quartic_form(T: np.ndarray, k: Sequence[np.ndarray]) -> np.ndarray:
    """T_ijkl k_i k_j k_k k_l over the full d⁴ array (= S⁴(T) acting; spec §8.9 pitfall 4)."""
    d = len(k)
    out = 0.0
    for i in range(d):
        for j in range(d):
            for m in range(d):
                for n in range(d):
                    c = T[i, j, m, n]
                    if c != 0.0:
                        out = out + c * k[i] * k[j] * k[m] * k[n]
    return out


@dataclass(frozen=True)
class WaveModel:
    """Constant tensors of an effective equation (3.2): a⁰ (d×d), b⁰ (d×d), a² (d⁴), and ε ≥ 0.

    ``WaveModel.homogenized(a0)`` is (1.2). The symbol is ``s(k) = σ(k)/m(k)``.
    """

    a0: np.ndarray
    b0: np.ndarray | None = None
    a2: np.ndarray | None = None
    eps: float = 0.0
    name: str = "effective"

    def __post_init__(self):
        a0 = np.atleast_2d(np.asarray(self.a0, dtype=float))
        d = a0.shape[0]
        if a0.shape != (d, d) or not 1 <= d <= 3:
            raise ValueError(f"a0 must be a d×d matrix with d in 1..3, got shape {a0.shape}")
        if not np.allclose(a0, a0.T, rtol=0, atol=1e-12 * np.abs(a0).max()):
            raise ValueError(f"a0 must be symmetric, got {a0.tolist()}")
        if np.linalg.eigvalsh(a0).min() <= 0:
            raise ValueError(f"a0 must be positive definite, got {a0.tolist()}")
        b0 = np.zeros((d, d)) if self.b0 is None else np.asarray(self.b0, dtype=float).reshape(d, d)
        a2 = np.zeros((d,) * 4) if self.a2 is None else np.asarray(self.a2, dtype=float).reshape((d,) * 4)
        if not np.isfinite(self.eps) or self.eps < 0:
            raise ValueError(f"eps must be >= 0 for the effective equation, got {self.eps}")
        if not np.allclose(b0, b0.T, rtol=0, atol=1e-14 + 1e-12 * np.abs(b0).max()):
            raise ValueError(f"b0 must be symmetric (3.1)(i), got {b0.tolist()}")
        if np.linalg.eigvalsh(b0).min() < -1e-14 * max(1.0, np.abs(b0).max()):
            raise ValueError(f"inadmissible b0: not positive semidefinite (3.1)(i), eigenvalues "
                             f"{np.linalg.eigvalsh(b0).tolist()}")
        object.__setattr__(self, "a0", a0)
        object.__setattr__(self, "b0", b0)
        object.__setattr__(self, "a2", a2)
        object.__setattr__(self, "eps", float(self.eps))

    @classmethod
    def homogenized(cls, a0) -> "WaveModel":
        return cls(a0=a0, eps=0.0, name="homogenized")

    @property
    def dim(self) -> int:
        return self.a0.shape[0]

    def stiffness(self, k) -> np.ndarray:
        """σ(k) = a⁰kk + ε² a²(kkkk)."""
        return quadratic_form(self.a0, k) + self.eps**2 * quartic_form(self.a2, k)

    def mass(self, k) -> np.ndarray:
        """m(k) = 1 + ε² b⁰kk."""
        return 1.0 + self.eps**2 * quadratic_form(self.b0, k)

    def symbol(self, k, *, tol: float = 1e-14) -> np.ndarray:
        """ω² = s(k) (6.3), checked ≥ −tol·max|s| and clipped to 0 (spec §5.2). Raises ValueError for an
        inadmissible (b⁰, a²) whose symbol is negative on the given wavenumbers."""
        s = np.asarray(self.stiffness(k) / self.mass(k), dtype=float)
        s = np.broadcast_to(s, np.broadcast_shapes(*[np.shape(v) for v in k])).copy()
        smax = float(np.abs(s).max(initial=0.0))
        neg = s < -tol * smax
        if np.any(neg):
            idx = np.unravel_index(np.argmin(s), s.shape)
            kk = [float(np.broadcast_to(v, s.shape)[idx]) for v in k]
            raise ValueError(f"inadmissible (b0, a2) for {self.name}: the symbol s(k) = {s[idx]:.3e} < 0 at "
                             f"k = {kk} (the pair violates (3.1); the equation is ill-posed)")
        np.maximum(s, 0.0, out=s)
        return s


# ---------------------------------------------------------------------------------------------- solver
def _sinc_t(omega: np.ndarray, t: float) -> np.ndarray:
    """sin(ωt)/ω with the limit t at ω = 0."""
    out = np.full(omega.shape, float(t))
    nz = omega > 0
    out[nz] = np.sin(omega[nz] * t) / omega[nz]
    return out


def _one_minus_cos_over_omega2(omega: np.ndarray, t: float) -> np.ndarray:
    """(1 − cos ωt)/ω² with the limit t²/2 at ω = 0 (exact Duhamel integral of a constant source)."""
    out = np.full(omega.shape, 0.5 * float(t) ** 2)
    nz = omega > 0
    out[nz] = 2 * np.sin(0.5 * omega[nz] * t) ** 2 / omega[nz] ** 2
    return out


@dataclass
class FourierState:
    """û and ∂_t û in the rfftn layout at time t."""

    t: float
    u_hat: np.ndarray
    v_hat: np.ndarray


@dataclass
class FourierWaveSolver:
    """Exact-in-time solution of (3.2) (or (1.2)) on a periodic box; spec §5.2.

    ``solve(t, g0, g1, f)`` returns u(t) on the grid. Data may be arrays on the grid or callables
    ``g(*x)``. ``f`` may be an array (time-independent source, integrated exactly) or a callable
    ``f(t, *x)`` (Duhamel integral by ``n_quad``-point Gauss–Legendre quadrature on ``quad_intervals``
    sub-intervals).
    """

    box: PeriodicBox
    model: WaveModel
    k: list = field(init=False, repr=False)
    sigma: np.ndarray = field(init=False, repr=False)
    m: np.ndarray = field(init=False, repr=False)
    omega: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        if self.box.dim != self.model.dim:
            raise ValueError(f"box dimension {self.box.dim} != tensor dimension {self.model.dim}")
        self.k = self.box.rfft_wavenumbers()
        self.sigma = np.broadcast_to(self.model.stiffness(self.k), self._shape).copy()
        self.m = np.broadcast_to(self.model.mass(self.k), self._shape).copy()
        self.omega = np.sqrt(self.model.symbol(self.k))

    @property
    def _shape(self):
        return tuple(self.box.n[:-1]) + (self.box.n[-1] // 2 + 1,)

    # transforms
    def forward(self, g) -> np.ndarray:
        return np.fft.rfftn(self.box.sample(g))

    def inverse(self, g_hat: np.ndarray) -> np.ndarray:
        return np.fft.irfftn(g_hat, s=self.box.n, axes=tuple(range(self.box.dim)))

    # time evolution
    def evolve(self, t: float, g0_hat: np.ndarray, g1_hat: np.ndarray | None = None,
               f=None, *, n_quad: int = 8, quad_intervals: int | None = None) -> FourierState:
        """û(t), ∂_tû(t) from the data transforms (per mode exact; spec §5.2)."""
        w = self.omega
        c, s = np.cos(w * t), np.sin(w * t)
        u = g0_hat * c
        v = -g0_hat * w * s
        if g1_hat is not None:
            u = u + g1_hat * _sinc_t(w, t)
            v = v + g1_hat * c
        if f is not None:
            fu, fv = self._duhamel(t, f, n_quad, quad_intervals)
            u, v = u + fu, v + fv
        return FourierState(float(t), u, v)

    def _duhamel(self, t, f, n_quad, quad_intervals):
        """∫₀ᵗ sin(ω(t−τ))/ω f̂(τ)/m dτ and its time derivative ∫₀ᵗ cos(ω(t−τ)) f̂(τ)/m dτ."""
        w = self.omega
        if not callable(f):
            fh = self.forward(f) / self.m
            return fh * _one_minus_cos_over_omega2(w, t), fh * _sinc_t(w, t)
        if t == 0:
            return 0.0, 0.0
        nint = quad_intervals or max(1, int(np.ceil(float(w.max()) * t / (2 * np.pi) / 2)))
        xg, wg = np.polynomial.legendre.leggauss(n_quad)
        edges = np.linspace(0.0, t, nint + 1)
        fu = np.zeros(self._shape, dtype=complex)
        fv = np.zeros(self._shape, dtype=complex)
        for a, b in zip(edges[:-1], edges[1:]):
            for xi, wi in zip(xg, wg):
                tau = 0.5 * (a + b) + 0.5 * (b - a) * xi
                fh = np.fft.rfftn(np.broadcast_to(np.asarray(f(tau, *self.box.grid()), float), self.box.n))
                fh = fh / self.m * (0.5 * (b - a) * wi)
                fu += _sinc_t(w, t - tau) * fh
                fv += np.cos(w * (t - tau)) * fh
        return fu, fv

    def solve(self, t: float, g0, g1=None, f=None, **kw) -> np.ndarray:
        """u(t) on the grid."""
        g1h = None if g1 is None else self.forward(g1)
        return self.inverse(self.evolve(t, self.forward(g0), g1h, f, **kw).u_hat)

    def solve_many(self, times: Sequence[float], g0, g1=None) -> np.ndarray:
        """u(t_j) for several times (f = 0), shape (len(times),) + grid."""
        g0h = self.forward(g0)
        g1h = None if g1 is None else self.forward(g1)
        return np.stack([self.inverse(self.evolve(t, g0h, g1h).u_hat) for t in times])

    # invariants
    def energy(self, state: FourierState) -> float:
        """E = ‖∂_tu‖²_H + A(u, u) = Σ_k [m(k)|v̂|² + σ(k)|û|²] |Ω|/N² (Parseval; spec §3.5, AC-10)."""
        w = self.box.rfft_weights()
        N = float(np.prod(self.box.n))
        e = w * (self.m * np.abs(state.v_hat) ** 2 + self.sigma * np.abs(state.u_hat) ** 2)
        return float(e.sum() * self.box.volume / N**2)


# ---------------------------------------------------------------------------------------------- cuts
def spectral_field(box: PeriodicBox, model: WaveModel, g_hat: Callable, t: float, *,
                   points: Sequence[np.ndarray | None], chunk: int = 64) -> np.ndarray:
    """u(t) at a product of grid-point subsets, from an analytic data transform (E2, spec §5.2).

    ``u(x) = |Ω|⁻¹ Σ_k ĝ(k) cos(√s(k) t) e^{ik·x}`` over the full box wavenumber grid (g¹ = f = 0). ``ĝ`` is
    the continuous Fourier transform ``∫ g(x) e^{−ik·x} dx`` (a callable of the wavenumber arrays).
    ``points[i]`` are integer indices of grid points along axis i (``None`` = all). Memory is bounded by
    processing the first axis in chunks: the last axes are summed by FFTs, the first by a small matrix
    product. Works for d = 1, 2, 3.
    """
    d = box.dim
    if model.dim != d or len(points) != d:
        raise ValueError("points must give one index set per axis of the box")
    idx = [np.arange(box.n[i]) if p is None else np.asarray(p, dtype=int) for i, p in enumerate(points)]
    for i, p in enumerate(idx):
        if p.size == 0 or p.min() < 0 or p.max() >= box.n[i]:
            raise ValueError(f"points[{i}] must be grid indices in [0, {box.n[i]})")
    ks = [box.axis_wavenumbers(i) for i in range(d)]
    x0 = np.array([box.axis_points(i)[0] for i in range(d)])
    out = np.zeros([len(p) for p in idx], dtype=complex)
    k_rest = np.meshgrid(*ks[1:], indexing="ij") if d > 1 else []
    for start in range(0, box.n[0], chunk):
        k1 = ks[0][start:start + chunk]
        kk = [k1.reshape((-1,) + (1,) * (d - 1))] + [kr[None] for kr in k_rest]
        s = model.symbol(kk)
        c = g_hat(*kk) * np.cos(np.sqrt(s) * t)
        # shift to the box origin: e^{ik·x} = e^{ik·x0} e^{ik·(x − x0)}
        for i in range(1, d):
            c = c * np.exp(1j * kk[i] * x0[i])
        for i in range(1, d):  # sum over the remaining axes by inverse FFTs, keep the requested points
            c = np.fft.ifft(c, axis=i) * box.n[i]
            c = np.take(c, idx[i], axis=i)
        E = np.exp(1j * np.outer(box.axis_points(0)[idx[0]], k1))
        out += np.tensordot(E, c, axes=(1, 0))
    return np.real(out) / box.volume


def gaussian_hat(width2: float, dim: int) -> Callable:
    """Continuous FT of g(x) = exp(−|x|²/width2): (π width2)^{d/2} exp(−width2 |k|²/4)."""
    def g_hat(*k):
        return (np.pi * width2) ** (dim / 2) * np.exp(-0.25 * width2 * sum(v * v for v in k))
    return g_hat
