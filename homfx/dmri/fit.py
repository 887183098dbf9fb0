"""ADC / AK fit of a signal curve (spec bloch_torrey.md §5; paper Sec. 6, Jensen et al. [16]):

    S(b) ≈ S0 exp(−ADC·b + AK·(ADC·b)²/6)

by linear least squares on ln S = c0 + c1 b + c2 b², so ADC = −c1 and AK = 6 c2 / c1². Units: b in s/mm²
gives ADC in mm²/s; AK is dimensionless. By default c0 is free (the paper does not say); ``fix_S0=True``
fixes c0 = 0 (S(0) = 1). The b-range of the fit is an input (default: all b given); spec §5 proposes
b ∈ {0, 250, ..., 3000} s/mm² — an assumption, not the paper's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_B_VALUES = np.arange(0.0, 3000.0 + 1e-9, 250.0)  # spec §5 default (assumption)


@dataclass(frozen=True)
class KurtosisFit:
    ADC: float          # mm²/s (for b in s/mm²)
    AK: float           # dimensionless
    S0: float
    b_min: float
    b_max: float
    n_points: int
    residual: float     # RMS of the ln S residual

    def model(self, b) -> np.ndarray:
        b = np.asarray(b, dtype=float)
        return self.S0 * np.exp(-self.ADC * b + self.AK * (self.ADC * b) ** 2 / 6)

    def to_json(self) -> dict:
        return {"ADC_mm2_per_s": self.ADC, "AK": self.AK, "S0": self.S0, "b_min": self.b_min,
                "b_max": self.b_max, "n_points": self.n_points, "residual": self.residual}


def fit_adc_ak(b, signal, b_range=None, fix_S0: bool = False) -> KurtosisFit:
    """Fit ADC and AK to S(b). ``b_range=(b_min, b_max)`` selects the points used (inclusive)."""
    b = np.asarray(b, dtype=float).ravel()
    S = np.asarray(signal)
    if np.iscomplexobj(S):
        S = S.real
    S = S.astype(float).ravel()
    if b.size != S.size:
        raise ValueError(f"b and signal must have the same length, got {b.size} and {S.size}")
    if not np.all(np.isfinite(b)) or np.any(b < 0):
        raise ValueError(f"--b: b-values must be finite and >= 0, got {b.tolist()}")
    if b_range is not None:
        lo, hi = float(b_range[0]), float(b_range[1])
        if not (0 <= lo < hi):
            raise ValueError(f"b_range must satisfy 0 <= b_min < b_max, got {b_range}")
        keep = (b >= lo) & (b <= hi)
        b, S = b[keep], S[keep]
    if not np.all(np.isfinite(S)) or np.any(S <= 0):
        raise ValueError("signal must be positive (and finite) over the fitted b-range to take ln S")
    need = 2 if fix_S0 else 3
    if np.unique(b).size < need:
        raise ValueError(f"the fit needs at least {need} distinct b-values in the range, got {np.unique(b).size}")
    y = np.log(S)
    scale = float(np.max(b))  # fit in x = b/scale for conditioning
    x = b / scale
    cols = [x, x**2] if fix_S0 else [np.ones_like(x), x, x**2]
    V = np.stack(cols, axis=1)
    coef, *_ = np.linalg.lstsq(V, y, rcond=None)
    if fix_S0:
        c0, c1, c2 = 0.0, coef[0], coef[1]
    else:
        c0, c1, c2 = coef
    c1, c2 = c1 / scale, c2 / scale**2
    if c1 >= 0:
        raise ValueError(f"fitted ADC = {-c1:.4g} is not positive: the signal does not decay over the b-range")
    res = float(np.sqrt(np.mean((V @ coef - y) ** 2)))
    return KurtosisFit(ADC=float(-c1), AK=float(6 * c2 / c1**2), S0=float(np.exp(c0)),
                       b_min=float(b.min()), b_max=float(b.max()), n_points=int(b.size), residual=res)
