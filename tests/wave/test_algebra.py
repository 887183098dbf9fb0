"""Appendix A, Algorithm 1, the family E and its admissibility: pure algebra against the spec's closed forms
(§4.8-§4.12). Exact input data (laminate closed forms) → outputs compared with the spec tables."""

import itertools

import numpy as np
import pytest

from homfx.wave import tensors as T

rng = np.random.default_rng(1)


def random_major_symmetric(d):
    c = rng.normal(size=(d,) * 4)
    return 0.5 * (c + c.transpose(3, 2, 1, 0))


def random_spd(d, shift=0.5):
    X = rng.normal(size=(d, d))
    return X @ X.T + shift * np.eye(d)


# ---------------------------------------------------------------------------------------------- index sets
def test_index_set_sizes():
    for d, N, J, I in ((1, 1, 1, 1), (2, 3, 6, 5), (3, 6, 21, 15)):
        assert T.num_pairs(d) == N
        assert len(T.J_indices(d)) == J == N * (N + 1) // 2
        assert len(T.I_indices(d)) == I
    assert T.sym_pairs(3) == [(0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2)]
    assert T.pair_weights(3).tolist() == [1, 1, 1, 2, 2, 2]


def test_sym4_identities():
    c = rng.normal(size=(3,) * 4)
    s = T.sym4(c)
    for p in itertools.permutations(range(4)):
        assert np.allclose(s, s.transpose(p), atol=1e-15)
    assert np.allclose(T.sym4(s), s, atol=1e-15)
    k = rng.normal(size=3)  # only S⁴ acts in a constant-coefficient operator (1.6)
    assert T.symbol(c, k) == pytest.approx(T.symbol(s, k), rel=1e-13)


# ---------------------------------------------------------------------------------------------- App. A
@pytest.mark.parametrize("d", [1, 2, 3])
def test_matrix_quadratic_form_and_round_trip(d):
    """cξ:ξ = ν(ξ)ᵀM(c)ν(ξ) for symmetric ξ (A.3); tensor_of_matrix inverts M on minor+major symmetric c."""
    c = random_major_symmetric(d)
    M = T.matrix_of(c)
    assert np.allclose(M, M.T)
    for _ in range(5):
        X = rng.normal(size=(d, d))
        xi = X + X.T
        assert np.einsum("ijkl,ij,kl->", c, xi, xi) == pytest.approx(T.nu(xi) @ M @ T.nu(xi), rel=1e-12)
    back = T.tensor_of_matrix(M)
    assert np.allclose(back, T.minor_sym(c), atol=1e-14)
    assert np.allclose(T.matrix_of(back), M, atol=1e-14)
    assert T.major_sym_defect(back) < 1e-15
    S = rng.normal(size=(T.num_pairs(d),) * 2)
    S = S + S.T
    assert np.allclose(T.matrix_of(T.tensor_of_matrix(S)), S, atol=1e-14)


def test_matrix_explicit_entries():
    """The displayed 2-D and 3-D matrices of App. A, weights z ∈ {1, 2}."""
    c2 = T.minor_sym(random_major_symmetric(2))
    M = T.matrix_of(c2)
    ref = [[c2[0, 0, 0, 0], c2[0, 0, 1, 1], 2 * c2[0, 0, 0, 1]],
           [c2[0, 0, 1, 1], c2[1, 1, 1, 1], 2 * c2[1, 1, 0, 1]],
           [2 * c2[0, 0, 0, 1], 2 * c2[1, 1, 0, 1], 4 * c2[0, 1, 0, 1]]]
    assert np.allclose(M, ref, atol=1e-15)
    c3 = T.minor_sym(random_major_symmetric(3))
    M3 = T.matrix_of(c3)
    assert M3[0, 5] == pytest.approx(2 * c3[0, 0, 1, 2])
    assert M3[3, 4] == pytest.approx(4 * c3[0, 1, 0, 2])
    assert M3[5, 5] == pytest.approx(4 * c3[1, 2, 1, 2])
    assert M3[2, 3] == pytest.approx(2 * c3[2, 2, 0, 1])


def test_matrix_rejects_non_major_symmetric():
    c = rng.normal(size=(2,) * 4)
    with pytest.raises(ValueError, match="major-symmetric"):
        T.matrix_of(c)


def test_lemma_A1_positivity_equivalence():
    """c ⪰ 0 on Sym² ⇔ M(c) ⪰ 0: sample ξ for a PD and an indefinite tensor."""
    d = 3
    Mpd = random_spd(6)
    c = T.tensor_of_matrix(Mpd)
    for _ in range(50):
        X = rng.normal(size=(d, d))
        assert np.einsum("ijkl,ij,kl->", c, X + X.T, X + X.T) > 0
    Mind = Mpd - (np.linalg.eigvalsh(Mpd)[0] + 1.0) * np.eye(6)
    c = T.tensor_of_matrix(Mind)
    w, v = np.linalg.eigh(Mind)
    P, z = T.sym_pairs(d), T.pair_weights(d)
    xi = np.zeros((d, d))
    for m, (i, j) in enumerate(P):  # ν(ξ) = v[:, 0]
        xi[i, j] = xi[j, i] = v[m, 0]
    assert np.einsum("ijkl,ij,kl->", c, xi, xi) == pytest.approx(w[0], rel=1e-10) and w[0] < 0


def test_A0_closed_form_and_lemma_41():
    a0 = np.array([[1.3, 0.2], [0.2, 0.7]])
    A0 = T.A0_matrix(a0)
    ref = [[a0[0, 0], 0, a0[0, 1]], [0, a0[1, 1], a0[0, 1]], [a0[0, 1], a0[0, 1], a0[0, 0] + a0[1, 1]]]
    assert np.allclose(A0, ref, atol=1e-15)  # §4.8 d = 2 closed form
    assert np.allclose(np.linalg.eigvalsh(T.A0_matrix(np.diag([1.0, 0.5]))), [0.5, 1.0, 1.5])
    for d in (2, 3):  # Lemma 4.1: a⁰_jk R_il is PD on Sym² for SPD A, R
        assert np.linalg.eigvalsh(T.matrix_of(T.R_tensor(random_spd(d), random_spd(d))))[0] > 0


def test_weights_matter_for_r_star():
    """Pitfall 2: Mandel weights √2 give a different spectrum than z ∈ {1, 2}; ours reproduce the paper's."""
    ref = T.reference_T1()
    M = T.matrix_of(ref["a2_bar"])
    assert np.allclose(np.linalg.eigvalsh(M), [-0.0054909, 0.0020973, 0.0034550], atol=5e-8)
    D = np.diag([1, 1, 1 / np.sqrt(2)])
    mandel = D @ M @ D
    assert not np.allclose(np.linalg.eigvalsh(mandel), [-0.0054909, 0.0020973, 0.0034550], atol=1e-5)
    c = random_major_symmetric(2)  # generic data: the smallest eigenvalue (→ r*) moves too
    Mg = T.matrix_of(c)
    assert abs(np.linalg.eigvalsh(D @ Mg @ D)[0] - np.linalg.eigvalsh(Mg)[0]) > 1e-3


# ---------------------------------------------------------------------------------------------- references
def test_T1_algorithm1_from_closed_forms():
    """T1 (§4.12): laminate closed forms (spectral 1-D quadrature) → every exact entry of the table."""
    s = T.laminate_scalars_smooth(T.paper_a_tilde)
    a0, B, a2bar = T.laminate_tensors(s, 2)
    ref = T.reference_T1()
    assert np.allclose(a0, ref["a0"], rtol=1e-14)
    assert np.allclose(B, ref["B"], rtol=1e-13, atol=0)
    assert np.allclose(a2bar, ref["a2_bar"], rtol=1e-12, atol=1e-17)
    eff = T.algorithm1(a0, B, a2bar)
    assert eff.r_star == pytest.approx(ref["r_star"], rel=1e-13)
    assert np.allclose(eff.spec_A2, ref["spec_A2"], rtol=1e-12)
    assert np.allclose(eff.spec_A0, [3 ** 0.5 / 2, 1, 1 + 3 ** 0.5 / 2], rtol=1e-14)
    assert np.allclose(eff.b0, ref["b0"], rtol=1e-13, atol=1e-18)
    for k, v in ref["a2"].items():
        assert eff.a2[k] == pytest.approx(v, rel=1e-12)
    assert eff.a2[0, 0, 0, 1] == 0 and eff.a2[1, 1, 0, 1] == 0
    assert eff.C[0, 0, 0, 0] == pytest.approx(ref["C1111"], rel=1e-12)
    assert eff.C[1, 1, 1, 1] == pytest.approx(ref["C2222"], rel=1e-12)
    assert 6 * eff.C[0, 0, 1, 1] == pytest.approx(ref["k1k1k2k2"], rel=1e-12)
    cmax, eta = T.quartic_min(-eff.C)  # C ≤ 0, max over unit η = −1.546e−5 near the diagonal
    assert -cmax == pytest.approx(ref["C_max_unit"], rel=1e-3)
    assert abs(abs(eta[0]) - abs(eta[1])) < 0.2
    assert eff.lambda_min_Ma2 > 0  # Lemma 4.2 (strictly PD here)


def test_T1_paper_printed_values():
    """Like with like (§9 item 17): our algebra applied to the paper's printed ā² reproduces its printed r*, b⁰
    and a² to the printed digits."""
    p = T.reference_T1_paper()
    a2bar = T.fill_symmetric({**p["a2_bar"], (1, 1, 1, 1): 0.0, (0, 0, 0, 1): 0.0, (1, 1, 0, 1): 0.0}, 2)
    a0 = np.diag([1.0, 3 ** 0.5 / 2])
    rs = T.r_star(a2bar, a0)
    assert np.allclose(np.linalg.eigvalsh(T.matrix_of(a2bar)), p["spec_A2"], atol=2e-7)
    assert rs == pytest.approx(p["r_star"], rel=2e-6)
    eff = T.algorithm1(a0, np.diag([0.0, 0.0037047243058979540]), a2bar)
    for k, v in p["a2"].items():
        assert eff.a2[k] == pytest.approx(v, rel=2e-6)
    for (i, j), v in p["b0"].items():
        assert eff.b0[i, j] == pytest.approx(v, rel=2e-6)


def test_T2_exact_fractions():
    s = T.laminate_scalars_two_phase(1.0, 10.0, 0.5)
    a0, B, a2bar = T.laminate_tensors(s, 2)
    ref = T.reference_T2()
    assert np.allclose(a0, ref["a0"], rtol=1e-15)
    assert np.allclose(B, ref["B"], rtol=1e-15)
    for k, v in ref["a2_bar"].items():
        assert a2bar[k] == pytest.approx(v, rel=1e-14, abs=1e-18)
    eff = T.algorithm1(a0, B, a2bar)
    assert np.allclose(eff.spec_A2, ref["spec_A2"], rtol=2e-7)
    assert eff.r_star == pytest.approx(ref["r_star"], rel=1e-14)
    assert np.allclose(eff.b0, ref["b0"], rtol=1e-14)
    for k, v in ref["a2"].items():
        assert eff.a2[k] == pytest.approx(v, rel=1e-14)
    assert eff.C[0, 0, 0, 0] == pytest.approx(ref["C1111"], rel=1e-14)
    assert eff.C[1, 1, 1, 1] == pytest.approx(ref["C2222"], rel=1e-14)


def test_T3_3d_laminate():
    s = T.laminate_scalars_smooth(T.paper_a_tilde)
    a0, B, a2bar = T.laminate_tensors(s, 3)
    ref = T.reference_T3()
    eff = T.algorithm1(a0, B, a2bar)
    assert eff.spec_A2[0] == pytest.approx(ref["lambda_min_A2"], rel=1e-12)
    assert eff.r_star == pytest.approx(ref["r_star"], rel=1e-12)
    assert np.allclose(eff.b0, ref["b0"], rtol=1e-8)
    for k, v in ref["a2"].items():
        assert eff.a2[k] == pytest.approx(v, rel=1e-8)
    others = [k for k in T.J_indices(3) if k not in ref["a2"]]
    assert max(abs(eff.a2[k]) for k in others) < 1e-16
    M = T.matrix_of(a2bar)  # zero pattern of the 6x6 M (AC-5)
    assert np.allclose(M[3:, :3], 0) and M[3, 3] == pytest.approx(0, abs=1e-16)
    assert M[4, 4] == pytest.approx(s.W, rel=1e-12) and M[5, 5] == pytest.approx(s.W, rel=1e-12)


def test_1d_closed_forms_and_algorithm1():
    """§4.11: 1D-S and 1D-PC exact values; Algorithm 1 in 1-D gives ā² = 0, r* = 0, a² = 0 (Lamacz)."""
    s = T.laminate_scalars_smooth(T.paper_a_tilde)
    a0, B, a2bar = T.laminate_tensors(s, 1)
    ref = T.reference_1d_smooth()
    assert a0[0, 0] == pytest.approx(ref["a0"], rel=1e-15)
    assert B[0, 0] == pytest.approx(ref["b0"], rel=1e-13)
    eff = T.algorithm1(a0, B, a2bar)
    assert eff.r_star == 0 and np.all(eff.a2 == 0) and eff.b0[0, 0] == B[0, 0]
    assert eff.C[0, 0, 0, 0] == pytest.approx(ref["C"], rel=1e-13)
    pc = T.reference_1d_two_phase(1, 10, 0.5)
    assert pc["a0"] == pytest.approx(20 / 11, rel=1e-15)
    assert pc["b0"] == pytest.approx(27 / 1936, rel=1e-15)
    assert pc["C"] == pytest.approx(-135 / 5324, rel=1e-15)
    # tiny negative round-off in ā² is clamped (pitfall 10)
    assert T.r_star(np.full((1,) * 4, -1e-19), a0) == 0.0
    # the 1-D family (4.3): every γ satisfies (3.4)
    for g in (0.0, 0.1, -0.3):
        b0, a2 = T.family_1d(a0[0, 0], B[0, 0], g)
        assert a2 - a0[0, 0] * b0 == pytest.approx(-a0[0, 0] * B[0, 0], rel=1e-13)


def test_two_phase_laminate_general_fraction_matches_smooth_route():
    """The two-phase closed forms for φ ≠ ½ agree with the generic 1-D quadrature route (smoothed check)."""
    s = T.laminate_scalars_two_phase(2.0, 5.0, 0.25)
    n = 2 ** 16  # piecewise constant: FFT route converges like 1/n
    s2 = T.laminate_scalars_smooth(lambda y: np.where((y + 0.5 / n) % 1.0 < 0.25, 2.0, 5.0), n)
    for f in ("h", "m", "V", "W", "P", "Q"):
        assert getattr(s2, f) == pytest.approx(getattr(s, f), rel=2e-3), f


# ---------------------------------------------------------------------------------------------- the family
@pytest.mark.parametrize("d", [2, 3])
def test_family_constraint_and_admissibility(d):
    """(3.4) holds for Algorithm 1 and every R-family member (AC-7); Algorithm 1 is admissible with
    λ_min(M(a²)) ≥ 0; a small R is not."""
    s = T.laminate_scalars_smooth(T.paper_a_tilde)
    a0, B, a2bar = T.laminate_tensors(s, d)
    C = T.dispersion_tensor(a0, B, a2bar)
    eff = T.algorithm1(a0, B, a2bar)
    assert T.constraint_defect(eff.a0, eff.b0, eff.a2, C) < 1e-12 * np.abs(C).max()
    assert eff.lambda_min_Ma2 >= -1e-12
    rep = T.admissibility(eff.b0, eff.a2, a0=a0, C=C)
    assert rep.ok, str(rep)
    for R in (random_spd(d, 0.01) * 1e-3, np.diag(np.linspace(0.001, 0.01, d))):
        m = T.family_member(a0, B, a2bar, R)
        assert T.constraint_defect(m.a0, m.b0, m.a2, C) < 1e-12 * np.abs(C).max()
    small = T.family_member(a0, B, a2bar, 0.1 * eff.r_star)
    assert small.lambda_min_Ma2 < 0


def test_inadmissible_pairs_raise_with_reason():
    s = T.laminate_scalars_smooth(T.paper_a_tilde)
    a0, B, a2bar = T.laminate_tensors(s, 2)
    C = T.dispersion_tensor(a0, B, a2bar)
    eff = T.algorithm1(a0, B, a2bar)
    # Santosa-Symes: b⁰ = 0, a² = C ≤ 0 satisfies (3.4) but is ill-posed (§3.7 item 5)
    with pytest.raises(ValueError, match=r"\(3.1\)\(ii\).*ill-posed"):
        T.require_admissible(np.zeros((2, 2)), C, a0=a0, C=C)
    with pytest.raises(ValueError, match=r"\(3.1\)\(i\).*not symmetric"):
        T.require_admissible(eff.b0 + np.array([[0, 1e-3], [0, 0]]), eff.a2)
    with pytest.raises(ValueError, match=r"\(3.1\)\(i\).*positive semidefinite"):
        T.require_admissible(-eff.b0, eff.a2)
    a2_bad = eff.a2.copy()
    a2_bad[0, 0, 0, 1] += 1e-3
    with pytest.raises(ValueError, match="major symmetry"):
        T.require_admissible(eff.b0, a2_bad)
    with pytest.raises(ValueError, match=r"\(3.4\)"):
        T.require_admissible(2 * eff.b0, eff.a2, a0=a0, C=C)  # well-posed but not in E
    assert T.admissibility(2 * eff.b0, eff.a2).ok  # (3.1) alone holds
    # weaker than the matrix criterion: a member with λ_min(M(a²)) < 0 but a²(ηηηη) ≥ 0 is still admissible
    r = np.linspace(0, eff.r_star, 30)
    ok = [T.admissibility(*(lambda m: (m.b0, m.a2))(T.family_member(a0, B, a2bar, x)), a0=a0, C=C).ok for x in r]
    lam = [T.family_member(a0, B, a2bar, x).lambda_min_Ma2 for x in r]
    assert any(o and l < 0 for o, l in zip(ok, lam))


@pytest.mark.parametrize("d", [2, 3])
def test_dls_member(d):
    """DLS-type member: (5.4) ⇔ (3.4) holds, F fully symmetric and F(ηηηη) ≥ 0, E = γI PSD."""
    s = T.laminate_scalars_smooth(T.paper_a_tilde)
    a0, B, a2bar = T.laminate_tensors(s, d)
    C = T.dispersion_tensor(a0, B, a2bar)
    m = T.dls_member(a0, C)
    rep = T.admissibility(m.b0, m.a2, a0=a0, C=C)
    assert rep.ok, str(rep)
    assert rep.a2_quartic_min == pytest.approx(0, abs=1e-10 * np.abs(C).max())  # γ is the smallest
    assert np.allclose(T.sym4(m.a2), m.a2)
    k = rng.normal(size=d)  # symbol identity −C(k) = (kᵀEk)(kᵀa⁰k) − F(k)
    assert -T.symbol(C, k) == pytest.approx((k @ m.b0 @ k) * (k @ a0 @ k) - T.symbol(m.a2, k), rel=1e-12)
    with pytest.raises(ValueError, match="inadmissible"):
        mm = T.dls_member(a0, C, gamma=0.5 * m.extra["gamma"])
        T.require_admissible(mm.b0, mm.a2, a0=a0, C=C)
