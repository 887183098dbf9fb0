"""The effective (homogenized) tensor A* and classical bounds."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import ufl

from homfx.averages import integrate
from homfx.cellproblem import solve_cell_problem
from homfx.elliptic.cell import coefficient_field, corrector_problem
from homfx.geometry import CellMesh, sub_cell


@dataclass
class EllipticResult:
    A_eff: np.ndarray
    volume_fractions: dict
    dofs: int
    seconds: float
    compatibility_defect: float
    correctors: dict = field(repr=False, default_factory=dict)

    def to_json(self) -> dict:
        return {"A_eff": self.A_eff.tolist(), "volume_fractions": self.volume_fractions,
                "dofs": int(self.dofs), "seconds": float(self.seconds),
                "compatibility_defect": float(self.compatibility_defect)}


def effective_tensor(cell: CellMesh, a, *, degree: int = 1, method: str = "lu") -> EllipticResult:
    """A*_ij = (1/|Y|) int e_i . a (e_j + grad chi_j). Phases whose (scalar) coefficient is 0 are
    insulating: they are removed and the correctors live on the rest (a perforated domain)."""
    t0 = time.perf_counter()
    vf = cell.volume_fractions()
    work = cell
    if isinstance(a, dict):
        zero = [p for p, v in a.items() if np.ndim(v) == 0 and float(v) == 0.0]
        if zero:
            keep = [p for p in cell.phases if p not in zero]
            if not keep:
                raise ValueError("every phase has coefficient 0")
            work, _ = sub_cell(cell, keep)
            a = {p: v for p, v in a.items() if p in keep}
    coef = coefficient_field(work, a)
    prob = corrector_problem(work, coef, degree)
    sol = solve_cell_problem(prob, method=method)
    d = cell.dim
    dx = ufl.Measure("dx", domain=work.mesh)
    A = np.zeros((d, d))
    for j in range(d):
        flux = coef * (ufl.unit_vector(j, d) + ufl.grad(sol[j]))
        for i in range(d):
            A[i, j] = integrate(ufl.inner(flux, ufl.unit_vector(i, d)) * dx) / cell.volume
    return EllipticResult(A, vf, sol.dofs, time.perf_counter() - t0, sol.max_compatibility_defect, sol.solutions)


def voigt_reuss_bounds(fractions, values):
    """(harmonic, arithmetic) means of scalar phase coefficients: the Reuss and Voigt bounds."""
    f = np.asarray(fractions, float)
    a = np.asarray(values, float)
    return 1.0 / np.sum(f / a), float(np.sum(f * a))


def hashin_shtrikman_bounds(f1, a1, a2, d):
    """Hashin-Shtrikman bounds for an isotropic two-phase composite, a1 <= a2, f1 = fraction of phase 1."""
    if not 0 <= a1 <= a2:
        raise ValueError(f"hashin_shtrikman_bounds needs 0 <= a1 <= a2, got a1={a1}, a2={a2}")
    f2 = 1.0 - f1
    if a1 == 0:  # an insulating phase: the lower bound degenerates to 0
        lo = 0.0
    else:
        lo = a1 + f2 / (1.0 / (a2 - a1) + f1 / (d * a1)) if a2 != a1 else a1
    hi = a2 + f1 / (1.0 / (a1 - a2) + f2 / (d * a2)) if a2 != a1 else a2
    return lo, hi
