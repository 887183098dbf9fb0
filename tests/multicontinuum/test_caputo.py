"""Caputo time stepping (homfx.multicontinuum.caputo): spec §2 and acceptance criterion A1 (ODE level)."""

import math

import numpy as np
import pytest

from homfx.multicontinuum.caputo import (CaputoScheme, SOEKernel, check_alpha, check_alphas, l1_weights,
                                         solve_dense, sunwu_weights, time_steps)

NTS = (20, 40, 80, 160, 320)

# spec §6 A1: |y^{N_t} − 1| of the prototype for D^α y + y = f, y = t³ (printed to 3 digits)
A1_TABLE = {
    1.1: (5.20e-4, 1.06e-4, 1.99e-5, 3.22e-6, 3.37e-7),
    1.5: (7.58e-3, 2.88e-3, 1.07e-3, 3.90e-4, 1.41e-4),
    1.9: (4.69e-2, 2.21e-2, 1.04e-2, 4.86e-3, 2.27e-3),
}


def scalar_error(alpha, nt, *, with_v0=False, history="exact"):
    """D^α y + y = f on (0, 1], exact y = t³ (+ t with y'(0) = 1); returns |y^{N_t} − y(1)|."""
    if with_v0:
        f = lambda t: np.array([6 * t ** (3 - alpha) / math.gamma(4 - alpha) + t + t ** 3])  # noqa: E731
        y = solve_dense([1.0], [alpha], 1.0, 0.0, 1.0, f, tau=1 / nt, T=1.0, history=history)
        return abs(y[0] - 2.0)
    f = lambda t: np.array([6 * t ** (3 - alpha) / math.gamma(4 - alpha) + t ** 3])  # noqa: E731
    y = solve_dense([1.0], [alpha], 1.0, 0.0, None if alpha < 1 else 0.0, f, tau=1 / nt, T=1.0, history=history)
    return abs(y[0] - 1.0)


def rates(errs):
    errs = np.asarray(errs)
    return np.log2(errs[:-1] / errs[1:])


@pytest.mark.parametrize("alpha", [1.1, 1.5, 1.9])
def test_sunwu_scalar_matches_spec_A1(alpha):
    errs = [scalar_error(alpha, nt) for nt in NTS]
    # the spec's values are printed to 3 significant digits: ours must round to exactly those
    assert [float(f"{e:.2e}") for e in errs] == list(A1_TABLE[alpha])
    last = rates(errs)[-1]
    if alpha == 1.1:
        assert last >= 1.9  # pre-asymptotic super-convergence (spec A1)
    else:
        assert abs(last - (3 - alpha)) <= 0.1, (alpha, last)


@pytest.mark.parametrize("alpha", [1.1, 1.5, 1.9])
def test_sunwu_initial_velocity_term(alpha):
    """y = t + t³, y'(0) = v0 = 1: the scheme is exact for the linear part, errors identical (spec A1)."""
    for nt in (20, 80):
        assert abs(scalar_error(alpha, nt, with_v0=True) - scalar_error(alpha, nt)) <= 1e-12


@pytest.mark.parametrize("alpha", [0.3, 0.5, 0.8])
def test_l1_scalar_order_two_minus_alpha(alpha):
    """L1 + implicit elliptic part (spec §2.6): temporal order 2 − α (last pair within ±0.1)."""
    errs = [scalar_error(alpha, nt) for nt in NTS]
    r = rates(errs)
    assert np.all(np.diff(errs) < 0)
    assert abs(r[-1] - (2 - alpha)) <= 0.1, r


def test_mixed_orders_uncoupled_equal_single_runs():
    """Two uncoupled equations with different α (M_1 = diag(1,0), M_2 = diag(0,1)) equal two single runs."""
    a1, a2, nt = 1.1, 1.9, 40
    f = lambda t, a: 6 * t ** (3 - a) / math.gamma(4 - a) + t ** 3  # noqa: E731
    y = solve_dense([np.diag([1.0, 0.0]), np.diag([0.0, 1.0])], [a1, a2], np.eye(2), np.zeros(2), np.zeros(2),
                    lambda t: np.array([f(t, a1), f(t, a2)]), tau=1 / nt, T=1.0)
    y1 = solve_dense([1.0], [a1], 1.0, 0.0, 0.0, lambda t: np.array([f(t, a1)]), tau=1 / nt, T=1.0)
    y2 = solve_dense([1.0], [a2], 1.0, 0.0, 0.0, lambda t: np.array([f(t, a2)]), tau=1 / nt, T=1.0)
    np.testing.assert_allclose(y, [y1[0], y2[0]], rtol=1e-13, atol=0)


def spec_sunwu_reference(Ms, alphas, K, F, u0, v0, nt, tau):
    """Literal matrix form of spec §2.3/§2.4 (history h^n = a_{n−1}v0 + Σ_{k=1}^{n−1}(a_{n−k−1} − a_{n−k}) w^k)."""
    cs = [tau ** (1 - a) / math.gamma(3 - a) for a in alphas]
    aks = [np.arange(1, nt + 2) ** (2 - a) - np.arange(nt + 1) ** (2 - a) for a in alphas]
    A = 0.5 * K + sum(c / tau * M for c, M in zip(cs, Ms))
    u, W = u0.copy(), []
    for n in range(1, nt + 1):
        rhs = F((n - 0.5) * tau) - 0.5 * K @ u
        for c, M, ak in zip(cs, Ms, aks):
            h = ak[n - 1] * v0 + sum((ak[n - k - 1] - ak[n - k]) * W[k - 1] for k in range(1, n))
            rhs = rhs + M @ ((c / tau) * u + c * h)
        un = np.linalg.solve(A, rhs)
        W.append((un - u) / tau)
        u = un
    return u


def test_sunwu_equals_literal_spec_formula():
    """march (Abel-summed history) == the literal spec formula: coupled SPD system, 2 orders, v0 ≠ 0."""
    rng = np.random.default_rng(1)
    n = 6
    B = rng.standard_normal((n, n))
    K = B @ B.T + n * np.eye(n)
    C1, C2 = rng.standard_normal((n, n)), rng.standard_normal((n, n))
    M1, M2 = C1 @ C1.T + np.eye(n), C2 @ C2.T + np.eye(n)
    u0, v0, f0 = rng.standard_normal(n), rng.standard_normal(n), rng.standard_normal(n)
    F = lambda t: f0 * math.cos(3 * t)  # noqa: E731
    nt, alphas = 25, (1.2, 1.7)
    ref = spec_sunwu_reference([M1, M2], alphas, K, F, u0, v0, nt, 1 / nt)
    got = solve_dense([M1, M2], alphas, K, u0, v0, F, tau=1 / nt, T=1.0)
    np.testing.assert_allclose(got, ref, rtol=1e-11, atol=1e-12 * np.abs(ref).max())
    soe = solve_dense([M1, M2], alphas, K, u0, v0, F, tau=1 / nt, T=1.0, history="soe", soe_tol=1e-12)
    np.testing.assert_allclose(soe, ref, rtol=1e-9, atol=1e-10 * np.abs(ref).max())


def test_dirichlet_rows_stay_zero():
    rng = np.random.default_rng(2)
    B = rng.standard_normal((5, 5))
    K = B @ B.T + np.eye(5)
    u = solve_dense([np.eye(5)], [1.5], K, np.ones(5), np.ones(5), np.ones(5), tau=0.1, T=1.0, dirichlet=[0, 3])
    assert u[0] == 0.0 and u[3] == 0.0 and np.all(u[[1, 2, 4]] != 0)


# --------------------------------------------------------------------------------------------- weights, SOE


def test_weights():
    a = sunwu_weights(1.5, 50)
    assert a[0] == 1.0 and np.all(a > 0) and np.all(np.diff(a) < 0)
    j = np.arange(51.0)
    np.testing.assert_allclose(a, (j + 1) ** 0.5 - j ** 0.5, rtol=1e-14)
    # the stable form agrees with the paper's definition and stays accurate for large j
    b = l1_weights(0.3, 10 ** 6)
    assert abs(b[-1] / (0.7 * (10 ** 6 + 0.5) ** -0.3) - 1) < 1e-10
    s = CaputoScheme.create(1.5, 0.02, 1.0)
    assert s.n_steps == 50 and s.kind == "sun-wu"
    assert math.isclose(s.mu[0], 0.02 ** -0.5 / math.gamma(1.5), rel_tol=1e-14)  # c_α, paper (4)
    assert math.isclose(s.mass_coefficients[0], s.mu[0] / 0.02, rel_tol=1e-14)  # σ_α = c_α/τ
    assert CaputoScheme.create(0.4, 0.1, 1.0).kind == "l1"


@pytest.mark.parametrize("gamma", [0.1, 0.5, 0.9])
@pytest.mark.parametrize("n", [50, 10 ** 5])
def test_soe_kernel_accuracy(gamma, n):
    k = SOEKernel.create(gamma, n, tol=1e-10)
    j = np.arange(1, n)
    ex = l1_weights(gamma, n)[1:n]
    assert np.max(np.abs(k.weights(j) / ex - 1)) <= 1e-10
    assert k.size < 200  # O(log(1/ε)·log N) exponentials, not O(N)


@pytest.mark.parametrize("alpha", [1.5, 0.5])
def test_soe_history_agrees_with_direct(alpha):
    """Long run (N_t = 2000): fast SOE history == direct O(n) history to the SOE tolerance."""
    nt = 2000
    v0 = 0.0 if alpha > 1 else None
    f = lambda t: np.array([6 * t ** (3 - alpha) / math.gamma(4 - alpha) + t ** 3])  # noqa: E731
    ex = solve_dense([1.0], [alpha], 1.0, 0.0, v0, f, tau=1 / nt, T=1.0)
    soe = solve_dense([1.0], [alpha], 1.0, 0.0, v0, f, tau=1 / nt, T=1.0, history="soe", soe_tol=1e-10)
    assert abs(soe[0] - ex[0]) <= 1e-9


# --------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("alpha", [0.0, 1.0, 2.0, -0.5, 2.5, float("nan"), "x"])
def test_bad_alpha(alpha):
    with pytest.raises(ValueError, match="alpha"):
        check_alpha(alpha)


def test_mixed_regimes_rejected():
    with pytest.raises(ValueError, match="alpha"):
        check_alphas((0.5, 1.5))


@pytest.mark.parametrize("T, tau", [(1.0, 0.03), (1.0, 0.0), (1.0, -0.1), (1.0, 2.0)])
def test_bad_time_step(T, tau):
    with pytest.raises(ValueError, match="tau"):
        time_steps(T, tau)


def test_l1_rejects_initial_velocity():
    with pytest.raises(ValueError, match="v0"):
        solve_dense([1.0], [0.5], 1.0, 0.0, 1.0, None, tau=0.1, T=1.0)
