"""Sequences (spec §1.2): f, F = ∫f, b exact vs closed forms and vs quadrature; q <-> b; units (§1.6–1.7);
bad input."""

import math

import numpy as np
import pytest
from scipy.integrate import quad

from homfx.dmri import units
from homfx.dmri.sequences import (PGSE, CosOGSE, DoublePGSE, PiecewiseWaveform, make_sequence,
                                  unit_direction)


def quad_F(seq, power=2, g=None):
    """∫ F^power by adaptive quadrature on each smooth segment (independent of the exact formulas)."""
    total = 0.0
    for s in seq.segments():
        fun = (lambda t: float(s.F(np.array(t))) ** power) if g is None else (lambda t: g(s, t))
        total += quad(fun, s.t0, s.t1, epsabs=0, epsrel=1e-13, limit=200)[0]
    return total


def all_sequences():
    return [PGSE(5e-3, 15e-3), PGSE(5e-3, 5e-3), DoublePGSE(5e-3, 10e-3, 3e-3), DoublePGSE(4e-3, 4e-3, 0.0),
            CosOGSE(10e-3, 20e-3, 2), CosOGSE(8e-3, 8e-3, 1.5),
            PiecewiseWaveform.from_linear([0, 1, 4, 5, 10, 11, 14, 15], [0, 1, 1, 0, 0, -1, -1, 0])]


@pytest.mark.parametrize("delta,Delta", [(5e-3, 15e-3), (5e-3, 25e-3), (5e-3, 5e-3), (2.0, 7.5)])
def test_pgse_b_closed_form_and_quadrature(delta, Delta):
    seq = PGSE(delta, Delta)
    q = 3.7
    b = seq.b_from_q(q)
    assert b == pytest.approx(q**2 * delta**2 * (Delta - delta / 3), rel=1e-14)      # spec §1.2
    assert seq.integral_F2() == pytest.approx(quad_F(seq), rel=1e-12)
    assert seq.echo_time == pytest.approx(Delta + delta, rel=1e-15)
    expected_bp = [0, delta, Delta, Delta + delta] if Delta > delta else [0, delta, 2 * delta]
    np.testing.assert_allclose(seq.breakpoints, expected_bp, rtol=1e-15)


def test_pgse_profiles():
    d, D = 5.0, 15.0
    seq = PGSE(d, D)
    t = np.array([0.0, 2.0, 5.0, 10.0, 15.0, 17.0, 20.0, 21.0])
    np.testing.assert_array_equal(seq.f(t), [0, 1, 1, 0, 0, -1, -1, 0])         # left-continuous (0 < t <= δ)
    np.testing.assert_allclose(seq.F(t), [0, 2, 5, 5, 5, 3, 0, 0], atol=1e-14)   # spec §1.2 F


@pytest.mark.parametrize("seq", all_sequences(), ids=lambda s: type(s).__name__)
def test_exact_integrals_vs_quadrature(seq):
    assert seq.integral_F2() == pytest.approx(quad_F(seq, 2), rel=1e-11)
    assert seq.integral_F4() == pytest.approx(quad_F(seq, 4), rel=1e-11)
    # F = ∫f (independent check by quadrature of f on each segment) and F(T_E) = 0 (2.1)
    F_end = 0.0
    for s in seq.segments():
        F_end += quad(lambda t: float(s.f(np.array(t))), s.t0, s.t1, epsabs=1e-15, limit=200)[0]
        assert float(s.F(np.array(s.t1))) == pytest.approx(F_end, abs=1e-12 * seq.echo_time)
    assert abs(F_end) < 1e-12 * seq.echo_time
    # F continuous across breakpoints
    segs = seq.segments()
    for a, b in zip(segs[:-1], segs[1:]):
        assert float(a.F(np.array(a.t1))) == pytest.approx(float(b.F(np.array(b.t0))), abs=1e-13)


def test_double_pgse_and_ogse_closed_forms():
    d, D, tm = 5e-3, 12e-3, 4e-3
    dp = DoublePGSE(d, D, tm)
    assert dp.integral_F2() == pytest.approx(2 * PGSE(d, D).integral_F2(), rel=1e-13)
    assert dp.b_from_q(2.0) == pytest.approx(dp.b_closed_form(2.0), rel=1e-13)
    assert dp.echo_time == pytest.approx(2 * (D + d) + tm, rel=1e-15)
    og = CosOGSE(10e-3, 25e-3, 3)
    assert og.b_from_q(5.0) == pytest.approx(25 * 10e-3**3 / (4 * math.pi**2 * 9), rel=1e-13)
    # f = F' (finite differences inside the first lobe)
    t = np.linspace(1e-3, 9e-3, 7)
    h = 1e-8
    np.testing.assert_allclose((og.F(t + h) - og.F(t - h)) / (2 * h), og.f(t), atol=1e-6)
    assert [s.constant for s in og.segments()] == [False, True, False]


def test_q_b_round_trip_and_spec_worked_example():
    # spec §1.7: δ = 5 ms, Δ = 15 ms, b = 850 s/mm² -> q = 0.0504975 1/(µm·ms) = 50497.5 1/(mm·s)
    seq_s = PGSE(units.ms_to_s(5.0), units.ms_to_s(15.0))
    q = float(seq_s.q_from_b(850.0))
    assert q == pytest.approx(50497.5, rel=1e-6)
    assert units.q_mm_s_to_um_ms(q) == pytest.approx(0.0504975, rel=1e-6)
    seq_ms = PGSE(5.0, 15.0)   # System B: ms, b in ms/µm²
    assert float(seq_ms.q_from_b(units.b_s_per_mm2_to_ms_per_um2(850.0))) == pytest.approx(0.0504975, rel=1e-6)
    b = np.array([0.0, 100.0, 850.0, 3000.0])
    np.testing.assert_allclose(seq_s.b_from_q(seq_s.q_from_b(b)), b, rtol=1e-14)


def test_units_paper_scaling():
    sc = units.paper_scaling(10.0, 5e-5)      # spec §1.6: 10 µm box, κ = 5e-5 -> ε = 1e-2, σ0 = 5e-3 m/s
    assert sc.epsilon == pytest.approx(1e-2, rel=1e-15)
    assert sc.sigma0_m_per_s == pytest.approx(5e-3, rel=1e-14)
    assert sc.sigma0 == pytest.approx(5.0, rel=1e-14)  # mm/s
    sc = units.paper_scaling(2.0, 6e-4)       # Fig. 8: 2 µm box -> ε = 2e-3, σ0 = 0.3 m/s
    assert sc.epsilon == pytest.approx(2e-3) and sc.sigma0_m_per_s == pytest.approx(0.3)
    assert units.D_mm2_s_to_um2_ms(3e-3) == pytest.approx(3.0)
    assert units.m_per_s_to_mm_per_s(2e-2) == pytest.approx(20.0)


@pytest.mark.parametrize("make,match", [
    (lambda: PGSE(5.0, 4.0), "Delta"),
    (lambda: PGSE(0.0, 4.0), "delta"),
    (lambda: PGSE(-1.0, 4.0), "delta"),
    (lambda: DoublePGSE(1.0, 2.0, -1.0), "mixing"),
    (lambda: CosOGSE(5.0, 10.0, 0.3), "periods"),
    (lambda: CosOGSE(5.0, 4.0, 1), "Delta"),
    (lambda: PiecewiseWaveform.from_constants([0, 1, 1, 2], [1, 0, -1]), "increasing"),
    (lambda: PiecewiseWaveform.from_constants([0, 1, 2], [1, -0.5]), "F\\(T_E\\)"),
    (lambda: PGSE(5.0, 15.0).q_from_b([0, -1.0]), "b"),
    (lambda: unit_direction([0.0, 0.0]), "direction"),
    (lambda: make_sequence("spiral", 1, 2), "sequence"),
])
def test_bad_input(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_unit_direction():
    np.testing.assert_allclose(unit_direction([0, 3.0]), [0, 1])
    np.testing.assert_allclose(unit_direction([1, 1]), [2**-0.5, 2**-0.5], rtol=1e-15)
