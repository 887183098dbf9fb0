"""Fine-scale Bloch–Torrey reference (homfx.dmri.fine; spec bloch_torrey.md §1, AC6, AC7; issue 4).

Units in these tests: µm, ms (System B): D in µm²/ms, κ in µm/ms, b in ms/µm², eps = cell side in µm.
Paper values: D_e = 3, D_c = 1.7 µm²/ms, κ = 5e-5 m/s = 0.05 µm/ms, δ = 5 ms.
"""

import math

import numpy as np
import pytest
import scipy.linalg as sla

from homfx._stack import MPI, PETSc
from homfx.dmri import cells, fine
from homfx.dmri.sequences import PGSE, CosOGSE, DoublePGSE
from homfx.periodic import periodic_restriction

DE, DC, KAPPA, EPS = 3.0, 1.7, 0.05, 10.0


@pytest.fixture(scope="module")
def disk():
    """A coarse disk cell (R = 0.3, h = 0.1) and its reference problem."""
    cell = cells.disk_cell(0.3, 0.1)
    return fine.ReferenceProblem(cell, DE, DC, KAPPA, eps=EPS)


def restricted_interval_signal(W, D, q, seq, modes=60):
    """PGSE signal of a 1-D interval of width W with reflecting ends, gradient normal to the walls: the
    Neumann eigenfunctions (cosines) diagonalize the diffusion, the position operator x couples them,
    and the ODE for the coefficients is integrated exactly with expm on each interval of constant f."""
    k = np.arange(modes)
    lam = D * (k * np.pi / W) ** 2
    xg, wg = np.polynomial.legendre.leggauss(400)
    x, w = (xg + 1) * W / 2, wg * W / 2
    phi = np.where(k[:, None] == 0, 1 / np.sqrt(W), np.sqrt(2 / W) * np.cos(np.outer(k, x) * np.pi / W))
    X = (phi * x * w) @ phi.T
    c = np.zeros(modes, complex)
    c[0] = np.sqrt(W)  # m(0) = 1
    for s in seq.segments():
        f = float(s.f(np.array([(s.t0 + s.t1) / 2]))[0])
        c = sla.expm(-(np.diag(lam) + 1j * f * q * X) * (s.t1 - s.t0)) @ c
    return c[0] / np.sqrt(W)


# ---------------------------------------------------------------------------------------------------------
# structure: block layout, periodic restriction, interface


@pytest.mark.mpi
def test_block_layout_equals_per_block_reductions(disk):
    """P^T A P of the monolithic [Re_e, Re_c, Im_e, Im_c] system equals, block by block, the reduction
    P_i^T A_ij P_j with the scalar restrictions of each block space (the layout assumption of the
    list-of-spaces periodic restriction); checked for the stiffness+membrane and the i*C blocks."""
    p = disk
    R = p.restriction
    nb = len(p.block_spaces)
    rstart = R.P.getOwnershipRangeColumn()[0]
    iss = [PETSc.IS().createGeneral((rstart + np.flatnonzero(p.block_id == b)).astype(PETSc.IntType),
                                    comm=p.comm) for b in range(nb)]
    scalar = [periodic_restriction(V, p.cell.lengths) for V in p.block_spaces]
    import dolfinx.fem.petsc

    checked = 0
    for name in ("K", "J", "C1"):
        full_red = R.reduce(p.full[name])
        for i in range(nb):
            for j in range(nb):
                sub = full_red.createSubMatrix(iss[i], iss[j])
                form = p.block_forms[name][i][j]
                scale = max(full_red.norm(PETSc.NormType.FROBENIUS), 1e-300)
                if form is None:
                    assert sub.norm(PETSc.NormType.FROBENIUS) <= 1e-14 * scale
                    continue
                Aij = dolfinx.fem.petsc.assemble_matrix(form)
                Aij.assemble()
                ref = scalar[i].P.transposeMatMult(Aij.matMult(scalar[j].P))
                diff = sub.copy()
                diff.axpy(-1.0, ref, structure=PETSc.Mat.Structure.DIFFERENT_NONZERO_PATTERN)
                assert diff.norm(PETSc.NormType.FROBENIUS) <= 1e-13 * scale, (name, i, j)
                checked += 1
    assert checked >= 12  # K: 4 diagonal blocks; J: 8 blocks (e/c couplings of Re and Im); C1: 4


def test_geometry_of_the_discrete_problem(disk):
    """|Y^e| + |Y^c| = |Y| (the weights), Gamma found, the periodic gluing reduces every top-face DOF."""
    p = disk
    vol = sum(p.compartment_volumes.values())
    assert abs(vol - 1.0) < 1e-12
    assert abs(p.compartment_volumes["c"] - math.pi * 0.3 ** 2) < 2e-2  # polygonal disk, h = 0.1
    assert p.num_interface_facets > 10
    mult = p.restriction.multiplicity()
    assert p.comm.allreduce(int(np.sum(mult == 4)), op=MPI.SUM) == 2  # one corner per Re/Im e-block


# ---------------------------------------------------------------------------------------------------------
# AC6: conservation, passivity, realness; closed forms


@pytest.mark.parametrize("kappa", [0.0, 0.05, 5.0])
def test_q0_signal_is_one_for_any_kappa(kappa):
    """AC6 / issue: at q = 0 the signal stays 1 to 1e-12 for any kappa (mass conservation across Gamma)."""
    cell = cells.disk_cell(0.3, 0.1)
    p = fine.ReferenceProblem(cell, DE, DC, kappa, eps=EPS)
    r = p.signal(q=0.0, direction=(0, 1), sequence=PGSE(5.0, 15.0), dt=1.0, show_progress=False)
    assert abs(r.signal - 1.0) < 1e-12
    assert r.factorizations == 1  # q = 0: one operator for the whole run


def test_exchange_conserves_mass_and_equilibrates(disk):
    """q = 0 with M = 1 in the cells and 0 outside: the total mass eta^c is conserved to 1e-12 while the
    membrane exchange drives the state to the uniform equilibrium (S_c -> (eta^c)^2); a wrong sign of
    the membrane term would blow up instead."""
    p = disk
    eta_c = p.compartment_volumes["c"] / p.cell_volume
    seq = PGSE(5.0, 15.0)
    r = p.signal(q=0.0, direction=(0, 1), sequence=seq, dt=1.0, show_progress=False,
                 initial={"e": 0.0, "c": 1.0})
    assert abs(r.signal - eta_c) < 1e-12
    assert np.all(np.diff(r.norms) <= 1e-14)
    r_long = p.signal(q=0.0, direction=(0, 1), sequence=PGSE(5.0, 1000.0), dt=1.0, dt_gap=50.0,
                      show_progress=False, initial={"e": 0.0, "c": 1.0})
    assert abs(r_long.compartments["c"] - eta_c ** 2) < 1e-6
    assert abs(r_long.signal - eta_c) < 1e-12


@pytest.mark.parametrize("seq", [PGSE(5.0, 15.0), DoublePGSE(5.0, 10.0, 2.0), CosOGSE(10.0, 15.0, 1)],
                         ids=["pgse", "double-pgse", "cos-ogse"])
def test_free_diffusion_box_is_exp_minus_bD(seq):
    """AC6: a box without inclusion gives S = exp(-b D_e) to 1e-9, with |Im S| <= 1e-10 — for PGSE and
    for any other sequence (double PGSE, cosine OGSE with its sinusoidal F(t))."""
    from homfx.geometry import structured_cell

    cell = structured_cell(2, 8)
    p = fine.ReferenceProblem(cell, DE, DC, KAPPA, eps=EPS)
    assert p.compartments == ["e"]
    for b in (0.5, 2.0):
        r = p.signal(q=float(seq.q_from_b(b)), direction=(1, 1), sequence=seq, dt=5.0 / 40,
                     show_progress=False)
        assert abs(r.signal.real - math.exp(-b * DE)) < 1e-9
        assert abs(r.signal.imag) < 1e-10


@pytest.mark.parametrize("seq", [PGSE(5.0, 15.0), DoublePGSE(5.0, 10.0, 2.0), CosOGSE(10.0, 15.0, 1)],
                         ids=["pgse", "double-pgse", "cos-ogse"])
def test_signal_real_passive_and_bounded(disk, seq):
    """AC6: |Im S_Ref| <= 1e-10 (PGSE, and the other sequences with f(T_E - t) = -f(t)), ||U(t)||_M
    non-increasing, 0 < S < 1, S = S_e + S_c."""
    r = disk.signal(q=float(seq.q_from_b(2.0)), direction=(0.6, 0.8), sequence=seq, dt=5.0 / 20,
                    show_progress=False)
    assert abs(r.signal.imag) < 1e-10
    assert 0 < r.signal.real < 1
    assert np.all(np.diff(r.norms) <= 1e-13 * r.norms[0])
    assert abs(r.compartments["e"] + r.compartments["c"] - r.signal) < 1e-15


@pytest.mark.parametrize("rho", [1e-2, 10.0])
def test_scaling_invariance_of_the_reference(rho):
    """AC5 for S_Ref (spec §1.6): scaling the coordinates of the same mesh by rho with eps -> eps/rho and
    the physical kappa fixed (sigma0 -> rho sigma0) leaves the physical cell, hence S_Ref, unchanged
    (< 1e-9 relative)."""
    seq = PGSE(5.0, 15.0)
    kw = dict(q=float(seq.q_from_b(2.0)), direction=(0, 1), sequence=seq, dt=5.0 / 10, show_progress=False)
    cell = cells.disk_cell(0.3, 0.1)
    s1 = fine.ReferenceProblem(cell, DE, DC, KAPPA, eps=EPS).signal(**kw)
    scaled = cells.scale_cell(cell, rho)  # the same mesh, coordinates scaled in place
    s2 = fine.ReferenceProblem(scaled, DE, DC, KAPPA, eps=EPS / rho).signal(**kw)
    assert abs(s2.signal - s1.signal) < 1e-9 * abs(s1.signal)
    assert abs(s2.compartments["c"] - s1.compartments["c"]) < 1e-9 * abs(s1.signal)


# ---------------------------------------------------------------------------------------------------------
# kappa = 0: restricted diffusion of a slab (independent cosine-series solution)


def test_impermeable_slab_matches_cosine_series():
    """kappa = 0 decouples the compartments: the strip of width 0.5 L (c) and its complement (e) are two
    intervals with reflecting walls. Their signals (normalized by eta) match the cosine-eigenfunction
    series with the P1 error O(h^2): halving h divides the error by 4 +- 0.5, and the Richardson
    extrapolation of the two meshes agrees with the series to 1e-5."""
    seq = PGSE(5.0, 15.0)
    q = float(seq.q_from_b(2.0))
    W = 0.5 * EPS
    exact = {"c": restricted_interval_signal(W, DC, q, seq), "e": restricted_interval_signal(W, DE, q, seq)}
    sig = {}
    for n in (40, 80):
        cell = fine.slab_cell(0.5, n, lengths=(1.0, 4.0 / n))  # y-invariant solution: a thin periodic strip
        p = fine.ReferenceProblem(cell, DE, DC, 0.0, eps=EPS)
        r = p.signal(q=q, direction=(1, 0), sequence=seq, dt=5.0 / 40, show_progress=False)
        sig[n] = {a: r.compartments[a] / (p.compartment_volumes[a] / p.cell_volume) for a in "ec"}
    for a in "ec":
        e40, e80 = abs(sig[40][a] - exact[a]), abs(sig[80][a] - exact[a])
        assert e80 < 2e-3 * abs(exact[a])
        assert 3.5 < e40 / e80 < 4.5, (a, e40, e80)
        rich = (4 * sig[80][a] - sig[40][a]) / 3
        assert abs(rich - exact[a]) < 1e-5, (a, rich, exact[a])


# ---------------------------------------------------------------------------------------------------------
# time integration (spec §1.8, AC7)


def test_time_integration_orders_and_step_halving(disk):
    """Radau IIA with steps aligned to the breakpoints: 3 stages converge at order 5, 1 stage (implicit
    Euler) at order 1; AC7: at dt = delta/40 halving the step changes S by <= 1e-10."""
    seq = PGSE(5.0, 15.0)
    q = float(seq.q_from_b(3.0))

    def S(n, stages):
        return disk.signal(q=q, direction=(0, 1), sequence=seq, dt=5.0 / n, stages=stages,
                           show_progress=False).signal.real

    ref = S(64, 3)
    err = [abs(S(n, 3) - ref) for n in (4, 8)]
    order5 = math.log2(err[0] / err[1])
    assert 4.3 < order5 < 5.7, err
    e1 = [abs(S(n, 1) - ref) for n in (16, 32)]
    order1 = math.log2(e1[0] / e1[1])
    assert 0.8 < order1 < 1.4, e1
    assert abs(S(40, 3) - S(80, 3)) <= 1e-10


def test_factorizations_are_cached_per_operator(disk):
    """Between the pulses F is constant: one factorization for the whole gap; the pulses refactor once
    per step; Delta = delta (no gap) needs only the pulse steps."""
    seq = PGSE(5.0, 15.0)
    r = disk.signal(q=float(seq.q_from_b(1.0)), direction=(0, 1), sequence=seq, dt=1.0, dt_gap=0.5,
                    show_progress=False)
    assert r.steps == 5 + 20 + 5
    assert r.factorizations == 5 + 1 + 5
    seq0 = PGSE(5.0, 5.0)
    r0 = disk.signal(q=float(seq0.q_from_b(1.0)), direction=(0, 1), sequence=seq0, dt=1.0,
                     show_progress=False)
    assert r0.steps == r0.factorizations == 10


@pytest.mark.mpi
def test_lagged_lu_gmres_pulses_match_exact_lu(disk):
    """refactor_every = k: the pulse stage systems are solved by GMRES (rtol 1e-13) preconditioned with the
    LU of an operator up to k - 1 steps old; the signal equals the one-LU-per-step signal to 1e-12 with
    about 1/k of the pulse factorizations (serial and MPI)."""
    seq = PGSE(5.0, 15.0)
    kw = dict(q=float(seq.q_from_b(3.0)), direction=(0, 1), sequence=seq, dt=0.25, show_progress=False)
    exact = disk.signal(**kw)
    lagged = disk.signal(**kw, refactor_every=8)
    assert abs(lagged.signal - exact.signal) < 1e-12
    assert exact.factorizations == 20 + 20 + 1
    assert lagged.factorizations == (1 + (40 - 1) // 8) + 1  # first LU + one every 8 pulse steps; the gap
    assert lagged.krylov_iterations > 0
    with pytest.raises(ValueError, match="refactor-every"):
        disk.signal(**kw, refactor_every=0)


# ---------------------------------------------------------------------------------------------------------
# MPI: serial == parallel, ensembles


@pytest.mark.mpi
def test_serial_equals_parallel():
    """The signal on COMM_WORLD equals the one on COMM_SELF (rank 0) to solver tolerance."""
    seq = PGSE(5.0, 15.0)
    kw = dict(q=float(seq.q_from_b(2.0)), direction=(0, 1), sequence=seq, dt=5.0 / 10, show_progress=False)
    world = fine.ReferenceProblem(cells.disk_cell(0.3, 0.1), DE, DC, KAPPA, eps=EPS).signal(**kw)
    ok = True
    if MPI.COMM_WORLD.rank == 0:
        cell = cells.disk_cell(0.3, 0.1, comm=MPI.COMM_SELF)
        serial = fine.ReferenceProblem(cell, DE, DC, KAPPA, eps=EPS).signal(**kw)
        ok = abs(world.signal - serial.signal) < 1e-12 and all(
            abs(world.compartments[a] - serial.compartments[a]) < 1e-12 for a in "ec")
    assert MPI.COMM_WORLD.bcast(ok, root=0)


@pytest.mark.mpi
def test_ensemble_splits_items_over_subcommunicators():
    """A list of b-values is split over min(size, n) sub-communicators; the gathered results equal
    independent single solves (computed here on COMM_SELF)."""
    seq = PGSE(5.0, 15.0)
    bs = [0.5, 1.5, 3.0]
    items = [(float(seq.q_from_b(b)), (0, 1)) for b in bs]
    params = dict(De=DE, Dc=DC, kappa=KAPPA, eps=EPS)
    ens = fine.run_ensemble(lambda comm: cells.disk_cell(0.3, 0.1, comm=comm), params, items, seq,
                            dt=5.0 / 10, show_progress=False)
    assert ens.groups == min(MPI.COMM_WORLD.size, len(bs))
    assert [round(r.b, 12) for r in ens.results] == [round(b, 12) for b in bs]
    p = fine.ReferenceProblem(cells.disk_cell(0.3, 0.1, comm=MPI.COMM_SELF), **params)
    for (q, n), r in zip(items, ens.results):
        single = p.signal(q=q, direction=n, sequence=seq, dt=5.0 / 10, show_progress=False)
        assert abs(single.signal - r.signal) < 1e-12


# ---------------------------------------------------------------------------------------------------------
# checkpoint / resume


class _Interrupt(Exception):
    pass


@pytest.mark.mpi
def test_interrupted_run_resumes_from_checkpoint(disk, outdir):
    """A run stopped after 17 steps resumes from its atomic checkpoint and ends with the same signal as
    an uninterrupted run; a finished run is returned from the checkpoint without stepping."""
    from pathlib import Path

    seq = PGSE(5.0, 15.0)
    kw = dict(q=float(seq.q_from_b(2.0)), direction=(0, 1), sequence=seq, dt=5.0 / 10, show_progress=False)
    full = disk.signal(**kw)
    ck = Path(outdir) / "resume.npz"

    def stop(step, t):
        if step == 17:
            raise _Interrupt

    with pytest.raises(_Interrupt):
        disk.signal(**kw, checkpoint=ck, checkpoint_every=0.0, callback=stop)
    assert ck.exists()
    resumed = disk.signal(**kw, checkpoint=ck, checkpoint_every=0.0)
    assert resumed.resumed_from_step == 17
    assert abs(resumed.signal - full.signal) < 1e-13
    again = disk.signal(**kw, checkpoint=ck)
    assert again.factorizations == 0 and again.signal == resumed.signal
    other = dict(kw, q=kw["q"] * 1.01)
    with pytest.raises(ValueError, match="different run"):
        disk.signal(**other, checkpoint=ck)


# ---------------------------------------------------------------------------------------------------------
# bad input


def test_bad_input_raises_value_error(disk):
    seq = PGSE(5.0, 15.0)
    q = float(seq.q_from_b(1.0))
    with pytest.raises(ValueError, match="larger than a gradient pulse"):
        disk.signal(q=q, direction=(0, 1), sequence=seq, dt=6.0, show_progress=False)
    with pytest.raises(ValueError, match="kappa"):
        fine.ReferenceProblem(disk.cell, DE, DC, -1e-3, eps=EPS)
    with pytest.raises(ValueError, match="direction"):
        disk.signal(q=q, direction=(0, 0), sequence=seq, dt=1.0, show_progress=False)
    with pytest.raises(ValueError, match="not resolved by the mesh"):  # a 1 mm cell with h = 0.1 of it
        fine.ReferenceProblem(disk.cell, DE, DC, KAPPA, eps=1000.0).signal(
            q=q, direction=(0, 1), sequence=seq, dt=1.0, show_progress=False)
    with pytest.raises(ValueError, match="eps"):
        fine.ReferenceProblem(disk.cell, DE, DC, KAPPA, eps=0.0)
    with pytest.raises(ValueError, match="width"):
        fine.slab_cell(1.2, 10)
    with pytest.raises(ValueError, match="mesh lines"):
        fine.slab_cell(0.5, 10)


@pytest.mark.mpi
def test_symbolic_analysis_is_shared_by_the_runs_of_a_problem():
    """Every stage matrix of a problem has one pattern: MUMPS' symbolic analysis is done once per stage
    system (gap, pulse) for all runs (b-values); each run still refactors numerically what it counts, and
    gives the same signal as a fresh problem. release_solvers() frees them (the next run analyses again)."""
    cell = cells.disk_cell(0.3, 0.1)
    seq = PGSE(5.0, 15.0)
    kw = dict(direction=(0, 1), sequence=seq, dt=1.0, show_progress=False)
    qs = [float(seq.q_from_b(b)) for b in (0.5, 1.0, 2.0)]
    PETSc.Log.begin()
    sym, num = PETSc.Log.Event("MatLUFactorSym"), PETSc.Log.Event("MatLUFactorNum")
    count = lambda ev: ev.getPerfInfo()["count"]  # noqa: E731
    p = fine.ReferenceProblem(cell, DE, DC, 5e-3, eps=EPS)
    s0, n0 = count(sym), count(num)
    runs = [p.signal(q=q, **kw) for q in qs]
    assert count(sym) - s0 == 2  # gap + pulse, once for three runs
    assert count(num) - n0 == sum(r.factorizations for r in runs) == 3 * (5 + 1 + 5)
    fresh = fine.ReferenceProblem(cell, DE, DC, 5e-3, eps=EPS).signal(q=qs[1], **kw)
    assert abs(runs[1].signal - fresh.signal) < 1e-14
    p.release_solvers()
    s1 = count(sym)
    again = p.signal(q=qs[1], **kw)
    assert count(sym) - s1 == 2 and abs(again.signal - fresh.signal) < 1e-14

    def stop(step, t):  # an interrupted run (a failure, Ctrl-C) frees the kept systems; the next run is exact
        if step == 7:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        p.signal(q=qs[0], callback=stop, **kw)
    assert p.stage_systems == {}
    assert abs(p.signal(q=qs[1], **kw).signal - fresh.signal) < 1e-14
    # rescaled problems (same mesh, other kappa) share the systems; releasing from any one frees them for all
    other = p.rescaled(kappa=1e-2)
    s2 = count(sym)
    r_other = other.signal(q=qs[1], **kw)
    assert count(sym) - s2 == 0
    assert abs(r_other.signal - fine.ReferenceProblem(cell, DE, DC, 1e-2, eps=EPS).signal(q=qs[1], **kw).signal) < 1e-14
    other.release_solvers()
    assert p.stage_systems == {}
    assert abs(p.signal(q=qs[1], **kw).signal - fresh.signal) < 1e-14
