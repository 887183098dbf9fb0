"""The cell cascade χ → θ → κ → ρ on the engine: one factorization, compatibility, normalization,
invariants (AC-7), ρ-solvability ⇔ (3.4), periodicity check, serial == MPI."""

import numpy as np
import pytest
import ufl

from homfx._stack import MPI
from homfx.wave import cells
from homfx.wave import tensors as T
from homfx.wave.cell import solve_cascade


@pytest.fixture(scope="module")
def t4_kappa():
    """Generic anisotropic T4 coefficient, P2, levels χ, θ, κ (n = 12)."""
    wc = cells.t4_cell(12)
    cas = solve_cascade(wc, degree=2, levels=3)
    return wc, cas, cas.tensors()


@pytest.mark.mpi
def test_one_factorization_and_compatibility(t4_kappa):
    wc, cas, tens = t4_kappa
    op = cas.operator
    assert op.num_factorizations == 1
    assert op.num_solves == 2 + 3 + 4  # d χ, N(d) θ, C(d+2,3) κ with one factorization
    assert set(cas.compatibility) == {"chi", "theta", "kappa"}
    # AC-7: the RHS mean of every θ and κ problem is ≤ 1e−12·‖RHS‖ (a⁰ from the same discrete χ, same quadrature)
    assert cas.max_compatibility("theta") < 1e-12
    assert cas.max_compatibility("kappa") < 1e-12
    assert cas.max_compatibility("chi") < 1e-12


@pytest.mark.mpi
def test_normalization_and_a0(t4_kappa):
    wc, cas, tens = t4_kappa
    assert np.abs(tens["chi_mean"]).max() < 1e-14  # zero-mean χ (mandatory, §4.7)
    assert np.abs(tens["theta_mean"]).max() < 1e-14
    a0 = tens["a0"]
    assert np.abs(a0 - a0.T).max() < 1e-12  # AC-7
    assert np.abs(tens["a0_quadrature"] - a0).max() < 1e-13  # Expression quadrature == form quadrature
    # energy form ⟨(e_i+∇χ_i)ᵀa(e_j+∇χ_j)⟩ equals (2.8) for the Galerkin χ_h
    from homfx.averages import integrate

    A, chi, d = cas.a, cas.chi, 2
    e = [ufl.unit_vector(i, d) for i in range(d)]
    en = np.array([[integrate(ufl.dot(e[i] + ufl.grad(chi[i]), ufl.dot(A, e[j] + ufl.grad(chi[j]))) * cas.dx)
                    for j in range(d)] for i in range(d)])
    assert np.abs(en - a0).max() < 1e-12
    assert np.all(np.linalg.eigvalsh(a0) > 0)
    assert tens["a2_bar"].shape == (2, 2, 2, 2)
    assert T.major_sym_defect(tens["a2_bar"]) < 1e-16
    assert np.abs(tens["a2_bar"] - T.minor_sym(tens["a2_bar"])).max() < 1e-16


@pytest.mark.mpi
def test_kappa_route_dispersion_tensor(t4_kappa):
    """C from (2.15)+(5.8) with κ equals C = S⁴(ā² − a⁰⊗B) from θ (AC-7 optional; §4.4)."""
    wc, cas, tens = t4_kappa
    C = T.dispersion_tensor(tens["a0"], tens["B"], tens["a2_bar"])
    assert np.abs(tens["C_kappa"] - C).max() < 1e-8 * np.abs(C).max()


def test_C_invariant_under_chi_shift(t4_kappa):
    """AC-7: shifting χ by constants before θ leaves C invariant (≤ 1e−10 rel) but changes ā², B and r*."""
    wc, cas, tens = t4_kappa
    shifted = solve_cascade(wc, degree=2, levels=2, chi_shift=[0.3, -0.2])
    ts = shifted.tensors()
    assert np.allclose(ts["chi_mean"], [0.3, -0.2], atol=1e-13)  # the shift is applied
    C0 = T.dispersion_tensor(tens["a0"], tens["B"], tens["a2_bar"])
    C1 = T.dispersion_tensor(ts["a0"], ts["B"], ts["a2_bar"])
    assert np.abs(C1 - C0).max() < 1e-10 * np.abs(C0).max()
    assert np.abs(ts["a2_bar"] - tens["a2_bar"]).max() > 1e-3  # ā² is NOT invariant (§4.7)
    assert abs(T.r_star(ts["a2_bar"], ts["a0"]) - T.r_star(tens["a2_bar"], tens["a0"])) > 1e-4
    assert shifted.max_compatibility("theta") < 1e-12  # compatibility holds for any normalization


def test_rho_solvable_iff_member(t4_kappa):
    """§4.5: the ρ problems are compatible iff (b⁰, a²) satisfies (3.4): Algorithm 1 and an R-family member
    are; a pair with a perturbed b⁰ is not (the defect is reported, not hidden)."""
    wc, cas, tens = t4_kappa
    eff = T.algorithm1(tens["a0"], tens["B"], tens["a2_bar"])
    R = T.family_member(tens["a0"], tens["B"], tens["a2_bar"], np.diag([0.01, 0.02]))
    for member in (eff, R):
        c = solve_cascade(wc, degree=2, levels=4, member=member)
        assert c.operator.num_factorizations == 1 and c.operator.num_solves == 2 + 3 + 4 + 5
        assert c.max_compatibility("rho") < 1e-12
    bad = solve_cascade(wc, degree=2, levels=4, member=(1.1 * eff.b0, eff.a2))
    assert bad.max_compatibility("rho") > 1e-3


def test_non_periodic_coefficient_rejected():
    with pytest.raises(ValueError, match="not periodic"):
        cells.smooth_cell(2, 4, lambda x: 1 + 0.5 * x[0])
    with pytest.raises(ValueError, match="not periodic"):
        cells.smooth_cell(2, 4, lambda x: (1.5 + ufl.sin(2 * ufl.pi * x[1] / 0.9)) * ufl.Identity(2))
    wc = cells.smooth_cell(2, 4, lambda x: 1.5 + ufl.sin(2 * ufl.pi * (x[0] + 2 * x[1])))
    assert cells.check_periodic(wc.cell, wc.a) < 1e-12
    with pytest.raises(ValueError, match="not periodic"):
        cells.smooth_cell(1, 8, lambda x: 2 + x[0] ** 2)


def test_bad_input():
    wc = cells.paper_cell(2, 4)
    with pytest.raises(ValueError, match="degree"):
        solve_cascade(wc, degree=5)
    with pytest.raises(ValueError, match="member"):
        solve_cascade(wc, levels=4)
    with pytest.raises(ValueError, match="a1"):
        cells.laminate(2, 8, a1=-1.0)
    with pytest.raises(ValueError, match="mesh plane"):
        cells.laminate(2, 7)


def test_3d_P1_laminate_first_order_exact():
    """d = 3, P1: χ of a two-phase laminate is piecewise linear, so a⁰ and B = ⟨χχ⟩ are exact."""
    wc = cells.laminate(3, 4, 1.0, 10.0)
    cas = solve_cascade(wc, degree=1, levels=2)
    t = cas.tensors()
    a0x, Bx, _ = T.laminate_tensors(wc.laminate, 3)
    assert np.abs(t["a0"] - a0x).max() < 1e-10 * 5.5
    assert np.abs(t["B"] - Bx).max() < 1e-10 * Bx.max()
    assert cas.max_compatibility() < 1e-12
    assert cas.operator.num_solves == 3 + 6


@pytest.mark.mpi
def test_serial_equals_parallel():
    """T4, P2, n = 10: a⁰, B, ā², r* on COMM_WORLD equal those on COMM_SELF (rank 0) to 1e−10."""
    def run(comm):
        wc = cells.t4_cell(10, comm=comm)
        cas = solve_cascade(wc, degree=2, levels=3)
        t = cas.tensors()
        eff = T.algorithm1(t["a0"], t["B"], t["a2_bar"])
        return {"a0": t["a0"], "B": t["B"], "a2_bar": t["a2_bar"], "C_kappa": t["C_kappa"],
                "r_star": eff.r_star, "dofs": cas.dofs}

    world = run(MPI.COMM_WORLD)
    ref = run(MPI.COMM_SELF) if MPI.COMM_WORLD.rank == 0 else None
    ref = MPI.COMM_WORLD.bcast(ref, root=0)
    assert world["dofs"] == ref["dofs"] == 400  # 2·10 × 2·10 periodic P2 DOFs
    for k in ("a0", "B", "a2_bar", "C_kappa", "r_star"):
        scale = max(np.abs(ref[k]).max(), 1e-300)
        assert np.abs(np.asarray(world[k]) - ref[k]).max() < 1e-10 * scale, k


def test_gmsh_disk_cell_matches_elliptic_and_is_dispersive():
    """A gmsh inclusion cell with a per-phase coefficient: a⁰ equals the elliptic engine's A* (same χ problem),
    the θ level is compatible, C ≤ 0 (Conca-Orive-Vanninathan) and Algorithm 1 is admissible; the centred disk's
    square symmetry gives a⁰₁₁ = a⁰₂₂ and C₁₁₁₁ = C₂₂₂₂ up to the mesh asymmetry."""
    from homfx.elliptic import effective_tensor
    from homfx.geometry import Inclusion, inclusion_cell

    cell = inclusion_cell([Inclusion.disk((0.5, 0.5), 0.3)], 0.08)
    coef = {"e": 1.0, "c": 5.0}
    wc = cells.wave_cell(cell, coef)
    cas = solve_cascade(wc, degree=1, levels=2)
    t = cas.tensors()
    ell = effective_tensor(cell, coef, degree=1)
    assert np.abs(t["a0"] - ell.A_eff).max() < 1e-10
    assert cas.max_compatibility() < 1e-12
    eff = T.algorithm1(t["a0"], t["B"], t["a2_bar"])
    qmax = -T.quartic_min(-eff.C)[0]
    assert qmax < 0  # C negative definite here
    assert T.admissibility(eff.b0, eff.a2, a0=eff.a0, C=eff.C).ok
    assert abs(eff.a0[0, 0] - eff.a0[1, 1]) < 1e-2 * eff.a0[0, 0]
    assert abs(eff.C[0, 0, 0, 0] - eff.C[1, 1, 1, 1]) < 5e-2 * abs(eff.C[0, 0, 0, 0])


def test_quadrature_degree_plus_4_changes_nothing():
    """§8.5: raising the quadrature degree from 2p+4 to 2p+8 changes the tensors by ≤ 1e−10 rel (T1, P2)."""
    wc = cells.paper_cell(2, 12)
    res = []
    for q in (None, 12):
        t = solve_cascade(wc, degree=2, quadrature_degree=q).tensors()
        res.append(T.algorithm1(t["a0"], t["B"], t["a2_bar"]))
    for k in ("a0", "B", "a2_bar", "b0", "a2", "C"):
        x, y = getattr(res[0], k), getattr(res[1], k)
        assert np.abs(x - y).max() <= 1e-10 * np.abs(y).max(), k
    assert abs(res[0].r_star - res[1].r_star) <= 1e-10 * res[1].r_star


@pytest.mark.mpi
def test_1d_full_cascade():
    """d = 1: χ, θ, κ, ρ with one factorization; θ' = −χ (§4.11) so ā² ≈ 0, the κ-route C equals −a⁰⟨χ²⟩, and
    ρ is solvable for Lamacz's member (b⁰ = ⟨χ²⟩, a² = ā²_h ≈ 0) but not for b⁰ = 2⟨χ²⟩."""
    wc = cells.paper_cell(1, 32)
    cas = solve_cascade(wc, degree=2, levels=3)
    t = cas.tensors()
    eff = T.algorithm1(t["a0"], t["B"], t["a2_bar"])
    assert eff.r_star == 0 and abs(t["a2_bar"][0, 0, 0, 0]) < 1e-5 * t["B"][0, 0]  # O(h⁴): 2e−8 at N = 32
    assert t["C_kappa"][0, 0, 0, 0] == pytest.approx(eff.C[0, 0, 0, 0], rel=1e-8)
    assert t["C_kappa"][0, 0, 0, 0] == pytest.approx(T.reference_1d_smooth()["C"], rel=5e-5)  # 1.5e−5 at N = 32
    ok = solve_cascade(wc, degree=2, levels=4, member=eff)
    assert ok.operator.num_solves == 4 and ok.max_compatibility("rho") < 1e-12
    bad = solve_cascade(wc, degree=2, levels=4, member=(2 * eff.b0, eff.a2))
    assert bad.max_compatibility("rho") > 1e-2
