"""Diffusion-encoding sequences: the time profile f(t) of the gradient, F(t) = ∫_0^t f, and the b-value
b = q² ∫_0^{T_E} F(t)² dt (spec bloch_torrey.md §1.2, paper (2.1), (2.4), (2.5)).

Every sequence is unit-agnostic: times in one unit (the signal code uses seconds), then b has units
time·q². A sequence is a list of smooth ``Segment`` s between its breakpoints; f may jump at a breakpoint
and F has kinks there, so time integrators must align their steps with ``breakpoints``. A segment on
which f ≡ 0 is flagged ``constant`` (F, and so the model matrix A(q, t), is constant on it).

Provided: ``PGSE`` (the paper's), ``DoublePGSE``, ``CosOGSE`` and the general ``PiecewiseWaveform``
(piecewise polynomial f, e.g. piecewise constant or trapezoidal). F and ∫F², ∫F⁴ are exact
(polynomial arithmetic / closed forms).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from numpy.polynomial import polynomial as P


@dataclass(frozen=True)
class Segment:
    """One smooth piece (t0, t1) of a sequence: f and F evaluated with this piece's formula (so the
    one-sided values at the breakpoints are available), ``constant`` when f ≡ 0 here."""

    t0: float
    t1: float
    f: Callable[[np.ndarray], np.ndarray]
    F: Callable[[np.ndarray], np.ndarray]
    constant: bool


def unit_direction(direction) -> np.ndarray:
    """The gradient direction n as a unit vector; ValueError for a zero or non-finite vector."""
    n = np.asarray(direction, dtype=float).ravel()
    if n.size == 0 or not np.all(np.isfinite(n)):
        raise ValueError(f"--direction must be a finite vector, got {direction!r}")
    norm = float(np.linalg.norm(n))
    if norm == 0.0:
        raise ValueError(f"--direction must not be the zero vector, got {direction!r}")
    return n / norm


def _check_b(b) -> np.ndarray:
    b = np.asarray(b, dtype=float)
    if not np.all(np.isfinite(b)) or np.any(b < 0):
        raise ValueError(f"--b: b-values must be finite and >= 0, got {b.tolist()}")
    return b


def _check_positive(name: str, value: float) -> float:
    value = float(value)
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"--{name} must be a positive duration, got {value}")
    return value


class Sequence:
    """Base class: subclasses provide ``segments()``, ``integral_F2()`` and ``integral_F4()``."""

    def segments(self) -> list[Segment]:
        raise NotImplementedError

    def integral_F2(self) -> float:
        """∫_0^{T_E} F² dt, exact."""
        raise NotImplementedError

    def integral_F4(self) -> float:
        """∫_0^{T_E} F⁴ dt, exact (enters R2 through the Burnett term)."""
        raise NotImplementedError

    @property
    def echo_time(self) -> float:
        return self.segments()[-1].t1

    @property
    def breakpoints(self) -> np.ndarray:
        """Sorted times where f may jump (including 0 and T_E)."""
        segs = self.segments()
        return np.array([segs[0].t0] + [s.t1 for s in segs])

    def _evaluate(self, t, which: str) -> np.ndarray:
        t = np.asarray(t, dtype=float)
        out = np.zeros_like(t)
        for s in self.segments():  # left-continuous: the piece (t0, t1] owns t1 (spec §1.2: 0 < t <= δ)
            mask = (t > s.t0) & (t <= s.t1)
            if np.any(mask):
                out[mask] = getattr(s, which)(t[mask])
        return out

    def f(self, t) -> np.ndarray:
        """Gradient time profile f(t) (left-continuous at the breakpoints, 0 outside (0, T_E])."""
        return self._evaluate(t, "f")

    def F(self, t) -> np.ndarray:
        """F(t) = ∫_0^t f(s) ds (continuous; 0 outside (0, T_E])."""
        return self._evaluate(t, "F")

    def b_from_q(self, q) -> np.ndarray:
        """b = q² ∫F² (paper (2.4))."""
        q = np.asarray(q, dtype=float)
        if np.any(q < 0) or not np.all(np.isfinite(q)):
            raise ValueError(f"q must be finite and >= 0 (the direction carries the sign), got {q.tolist()}")
        return q**2 * self.integral_F2()

    def q_from_b(self, b) -> np.ndarray:
        """q = sqrt(b / ∫F²) (paper (2.5)); ValueError for b < 0."""
        b = _check_b(b)
        return np.sqrt(b / self.integral_F2())


class PiecewiseWaveform(Sequence):
    """A general piecewise-polynomial f: ``times`` t_0 = 0 < t_1 < ... < t_K = T_E and for piece k a
    coefficient list c_k (lowest degree first) with f(t) = Σ_j c_kj (t − t_k)^j on (t_k, t_{k+1}].
    F(T_E) = 0 is required (paper (2.1)), so that the transformed magnetization refocuses."""

    def __init__(self, times, coefficients):
        times = np.asarray(times, dtype=float)
        if times.ndim != 1 or times.size < 2 or not np.all(np.isfinite(times)):
            raise ValueError("waveform: times must be a finite 1-D list with at least 2 entries")
        if times[0] != 0.0:
            raise ValueError(f"waveform: the first time must be 0, got {times[0]}")
        if np.any(np.diff(times) <= 0):
            raise ValueError(f"waveform: times must be strictly increasing (non-positive durations), got "
                             f"{times.tolist()}")
        if len(coefficients) != times.size - 1:
            raise ValueError(f"waveform: {times.size - 1} pieces need {times.size - 1} coefficient lists, "
                             f"got {len(coefficients)}")
        self.times = times
        self.coefficients = [np.atleast_1d(np.asarray(c, dtype=float)) for c in coefficients]
        # F on piece k in local time s: F_k(s) = F(t_k) + ∫_0^s f_k
        self._Fcoef = []
        F0 = 0.0
        for k, c in enumerate(self.coefficients):
            Fc = P.polyint(c)
            Fc[0] += F0
            self._Fcoef.append(Fc)
            F0 = float(P.polyval(times[k + 1] - times[k], Fc))
        scale = max(float(np.max(np.abs(P.polyval(np.linspace(0, times[k + 1] - times[k], 5), Fc))))
                    for k, Fc in enumerate(self._Fcoef))
        scale = max(scale, max(abs(float(c[0])) for c in self.coefficients) * times[-1], 1e-300)
        if abs(F0) > 1e-12 * scale:
            raise ValueError(f"waveform: F(T_E) = ∫f dt must vanish (paper (2.1)), got {F0:.3e}")
        self._segments = [self._segment(k) for k in range(len(self.coefficients))]

    def _segment(self, k: int) -> Segment:
        t0, t1 = float(self.times[k]), float(self.times[k + 1])
        c, Fc = self.coefficients[k], self._Fcoef[k]
        return Segment(t0, t1,
                       f=lambda t, c=c, t0=t0: P.polyval(np.asarray(t, dtype=float) - t0, c),
                       F=lambda t, Fc=Fc, t0=t0: P.polyval(np.asarray(t, dtype=float) - t0, Fc),
                       constant=bool(np.all(c == 0.0)))

    @classmethod
    def from_constants(cls, times, values) -> "PiecewiseWaveform":
        """Piecewise-constant f = values[k] on (times[k], times[k+1]]."""
        return cls(times, [[v] for v in values])

    @classmethod
    def from_linear(cls, times, knot_values) -> "PiecewiseWaveform":
        """Continuous piecewise-linear f through (times[k], knot_values[k]) (e.g. trapezoidal pulses)."""
        times = np.asarray(times, dtype=float)
        v = np.asarray(knot_values, dtype=float)
        if v.size != times.size:
            raise ValueError("waveform: one knot value per time is needed")
        dt = np.diff(times)
        if np.any(dt <= 0):
            raise ValueError(f"waveform: times must be strictly increasing, got {times.tolist()}")
        return cls(times, [[v[k], (v[k + 1] - v[k]) / dt[k]] for k in range(dt.size)])

    def segments(self) -> list[Segment]:
        return self._segments

    def _integral_Fpow(self, p: int) -> float:
        total = 0.0
        for k, Fc in enumerate(self._Fcoef):
            Fp = P.polypow(Fc, p)
            total += float(P.polyval(self.times[k + 1] - self.times[k], P.polyint(Fp)))
        return total

    def integral_F2(self) -> float:
        return self._integral_Fpow(2)

    def integral_F4(self) -> float:
        return self._integral_Fpow(4)


def _pgse_pieces(delta: float, Delta: float, t0: float = 0.0):
    """(times, values) of one PGSE pair starting at t0: +1 on (t0, t0+δ], 0, −1 on (t0+Δ, t0+Δ+δ]."""
    times = [t0, t0 + delta]
    values = [1.0]
    if Delta > delta:
        times.append(t0 + Delta)
        values.append(0.0)
    times.append(t0 + Delta + delta)
    values.append(-1.0)
    return times, values


def _check_pulse_timing(delta, Delta) -> tuple[float, float]:
    """(delta, Delta) as floats: both > 0 and Delta >= delta (ValueError naming the option)."""
    delta = _check_positive("delta", delta)
    Delta = _check_positive("Delta", Delta)
    if Delta < delta:
        raise ValueError(f"--Delta must be >= --delta (pulse spacing >= pulse duration), got "
                         f"Delta={Delta}, delta={delta}")
    return delta, Delta


class PGSE(PiecewiseWaveform):
    """Pulsed gradient spin echo (paper Sec. 5, spec §1.2): f = +1 on (0, δ], −1 on (Δ, Δ+δ], else 0;
    T_E = Δ + δ, b = q² δ² (Δ − δ/3). Δ = δ (no gap) is allowed."""

    def __init__(self, delta: float, Delta: float):
        delta, Delta = _check_pulse_timing(delta, Delta)
        self.delta, self.Delta = delta, Delta
        times, values = _pgse_pieces(delta, Delta)
        super().__init__(times, [[v] for v in values])

    def b_closed_form(self, q) -> np.ndarray:
        """b = q² δ² (Δ − δ/3) (spec §1.2)."""
        return np.asarray(q, dtype=float)**2 * self.delta**2 * (self.Delta - self.delta / 3)


class DoublePGSE(PiecewiseWaveform):
    """Two identical PGSE pairs (δ, Δ) along the same direction, separated by a mixing time t_m
    (time from the end of the 2nd pulse to the start of the 3rd, >= 0).
    T_E = 2(Δ + δ) + t_m, b = 2 q² δ² (Δ − δ/3) (F returns to 0 between the pairs)."""

    def __init__(self, delta: float, Delta: float, mixing: float = 0.0):
        delta, Delta = _check_pulse_timing(delta, Delta)
        mixing = float(mixing)
        if not (np.isfinite(mixing) and mixing >= 0):
            raise ValueError(f"--mixing must be >= 0, got {mixing}")
        self.delta, self.Delta, self.mixing = delta, Delta, mixing
        t1, v1 = _pgse_pieces(delta, Delta)
        start2 = Delta + delta + mixing
        t2, v2 = _pgse_pieces(delta, Delta, start2)
        if mixing > 0:
            times, values = t1 + t2, v1 + [0.0] + v2
        else:
            times, values = t1 + t2[1:], v1 + v2
        super().__init__(times, [[v] for v in values])

    def b_closed_form(self, q) -> np.ndarray:
        return 2 * np.asarray(q, dtype=float)**2 * self.delta**2 * (self.Delta - self.delta / 3)


class CosOGSE(Sequence):
    """Cosine oscillating gradient spin echo: two lobes of duration δ with N periods each,
    f = cos(2πN t/δ) on (0, δ], 0 on (δ, Δ], −cos(2πN (t−Δ)/δ) on (Δ, Δ+δ] (the refocusing pulse
    inverts the second lobe). F = (δ/2πN) sin(2πN t/δ) on the first lobe, 0 in the gap,
    −(δ/2πN) sin(2πN (t−Δ)/δ) on the second; b = q² δ³ / (4π² N²). 2N must be an integer (F(δ) = 0)."""

    def __init__(self, delta: float, Delta: float, periods: float = 1):
        delta, Delta = _check_pulse_timing(delta, Delta)
        periods = float(periods)
        if not (periods > 0 and abs(2 * periods - round(2 * periods)) < 1e-12):
            raise ValueError(f"--periods must be a positive multiple of 1/2, got {periods}")
        self.delta, self.Delta, self.periods = delta, Delta, periods
        w = 2 * math.pi * periods / delta
        a = 1.0 / w
        segs = [Segment(0.0, delta, f=lambda t: np.cos(w * np.asarray(t, dtype=float)),
                        F=lambda t: a * np.sin(w * np.asarray(t, dtype=float)), constant=False)]
        if Delta > delta:
            segs.append(Segment(delta, Delta, f=lambda t: np.zeros_like(np.asarray(t, dtype=float)),
                                F=lambda t: np.zeros_like(np.asarray(t, dtype=float)), constant=True))
        segs.append(Segment(Delta, Delta + delta, f=lambda t: -np.cos(w * (np.asarray(t, dtype=float) - Delta)),
                            F=lambda t: -a * np.sin(w * (np.asarray(t, dtype=float) - Delta)), constant=False))
        self._segments = segs
        self._a = a

    def segments(self) -> list[Segment]:
        return self._segments

    def integral_F2(self) -> float:
        # 2 lobes × a² ∫_0^δ sin² = 2 a² δ/2 (whole periods or half periods)
        return self._a**2 * self.delta

    def integral_F4(self) -> float:
        # 2 lobes × a⁴ ∫_0^δ sin⁴ = 2 a⁴ (3δ/8)
        return 0.75 * self._a**4 * self.delta

    def b_closed_form(self, q) -> np.ndarray:
        return np.asarray(q, dtype=float)**2 * self.delta**3 / (4 * math.pi**2 * self.periods**2)


def make_sequence(kind: str, delta: float, Delta: float, mixing: float = 0.0, periods: float = 1) -> Sequence:
    """Factory used by the CLI: ``kind`` in {"pgse", "dpgse", "ogse"}; times in one unit."""
    kind = kind.lower()
    if kind == "pgse":
        return PGSE(delta, Delta)
    if kind == "dpgse":
        return DoublePGSE(delta, Delta, mixing)
    if kind == "ogse":
        return CosOGSE(delta, Delta, periods)
    raise ValueError(f"--sequence must be one of pgse, dpgse, ogse, got {kind!r}")
