"""Classical elliptic homogenization: the effective tensor A* of -div(a(y) grad u) for periodic a.

A*_ij = (1/|Y|) int_Y e_i . a (e_j + grad chi_j) dy, with the first-order correctors chi_j, periodic and
mean-zero, solving -div(a (e_j + grad chi_j)) = 0 in Y (one factorization for the d right-hand sides).
"""

from homfx.elliptic.cell import coefficient_field, corrector_problem
from homfx.elliptic.effective import EllipticResult, effective_tensor, hashin_shtrikman_bounds, voigt_reuss_bounds

__all__ = ["coefficient_field", "corrector_problem", "EllipticResult", "effective_tensor",
           "voigt_reuss_bounds", "hashin_shtrikman_bounds"]
