# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
# ---

# %% [markdown]
# # Waves in a periodic medium over long times: dispersion and the effective equations
#
# A wave ∂²_t u − ∇·(a(x/ε)∇u) = 0 in a periodic medium behaves, over times O(1), like the homogenized
# wave ∂²_t u⁰ − a⁰:∇²u⁰ = 0. Over long times O(ε⁻²) the microstructure makes the medium *dispersive*:
# short waves travel slower, and a pulse develops an oscillating tail behind its front. Abdulle & Pouchon
# (seed 001) derive a family of effective equations that capture this,
#
#   ∂²_t ũ − a⁰_ij ∂²_ij ũ + ε² ( a²_ijkl ∂⁴_ijkl ũ − b⁰_ij ∂²_ij ∂²_t ũ ) = 0,                       (3.2)
#
# with tensors (b⁰, a²) computed from the first- and second-order cell correctors χ_k, θ_ij (Algorithm 1).
#
# This demo
# 1. computes the tensors of the paper's cell a(y) = (1 − ½cos 2πy₂) I with the FE cascade (one
#    factorization for all cell problems) and compares them with the exact values;
# 2. compares the dispersion curves of Bloch waves with those of u⁰ and of the effective equations;
# 3. shows the correctors (pyvista, off-screen);
# 4. runs the FE fine-scale solver (P2, leapfrog, MPI) on a long 1-D line over T = 3ε⁻² and compares the
#    fine solution u^ε with u⁰ and with the effective solution ū (exact Fourier solver): ū follows the
#    dispersive tail, u⁰ does not;
# 5. shows the same effect in 2-D (the paper's E2 cut at t = 300, Fourier solver).
#
# Run: `mpirun -n 2 python demos/wave_dispersion.py [outdir]` (about 20 s on an idle 2-core machine).
# Output: `out/wave_demo/`.

# %%
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import ufl

from homfx._stack import MPI
from homfx.io import save_figure, write_json
from homfx.plotting import matplotlib_setup, screenshot
from homfx.wave import bloch
from homfx.wave import experiments as E
from homfx.wave import tensors as T
from homfx.wave.cell import solve_cascade
from homfx.wave.cells import paper_cell
from homfx.wave.fine import FineWaveSolver, box_mesh
from homfx.wave.fourier import FourierWaveSolver, PeriodicBox, WaveModel, gaussian_hat, spectral_field

comm = MPI.COMM_WORLD
out = Path(sys.argv[1] if len(sys.argv) > 1 else "out/wave_demo")
plt = matplotlib_setup()
t_demo = time.perf_counter()


def say(*a):
    if comm.rank == 0:
        print(*a, flush=True)


# %% [markdown]
# ## 1. The tensors of the paper's cell
# The cascade solves χ_k (2.12a) and θ_ij (2.12b) on a periodic P2 mesh of Y = (−½,½)²; a⁰, ⟨χχ⟩ and ā²
# follow from cell averages, and Algorithm 1 gives r*, b⁰ = ⟨χχ⟩ + r*I and a² = ā² + r*·sym(a⁰⊗I).

# %%
wc = paper_cell(2, 48, comm=comm)
cas = solve_cascade(wc, degree=2)
tens = cas.tensors()
eff = T.algorithm1(tens["a0"], tens["B"], tens["a2_bar"])
ref = T.reference_T1()
rows = [("a0_11", eff.a0[0, 0], ref["a0"][0, 0]), ("a0_22", eff.a0[1, 1], ref["a0"][1, 1]),
        ("r*", eff.r_star, ref["r_star"]), ("b0_11", eff.b0[0, 0], ref["b0"][0, 0]),
        ("b0_22", eff.b0[1, 1], ref["b0"][1, 1])]
rows += [("a2_" + "".join(str(i + 1) for i in k), eff.a2[k], v) for k, v in ref["a2"].items()]
say(f"cascade: {cas.dofs} DOFs, one factorization; compatibility defect {cas.max_compatibility():.1e}")
say(f"{'quantity':>10} {'FE (P2, 48²)':>16} {'exact':>16} {'rel. dev.':>10}")
for name, v, e in rows:
    say(f"{name:>10} {v:16.10f} {e:16.10f} {abs(v - e) / abs(e):10.1e}")
say(f"dispersion tensor: C_1111 = {eff.C[0, 0, 0, 0]:.6f}, C_2222 = {eff.C[1, 1, 1, 1]:.6f}  (C <= 0: "
    "short waves are slower)")
write_json(out / "tensors.json", eff.to_json())

# %% [markdown]
# ## 2. Dispersion curves: Bloch waves against the effective equations
# A plane wave e^{i(kx − ωt)} in the periodic medium is a Bloch wave: ω²(k) = μ(εk)/ε², with μ(κ) the lowest
# eigenvalue of −(∂ + iκ)·a(∂ + iκ) on the cell (computed here by Fourier–Galerkin, `homfx.wave.bloch`,
# independent of the FE cascade). An effective equation (3.2) has ω² = (a⁰k² + ε²a²k⁴)/(1 + ε²b⁰k²). In
# the variable κ = εk both are independent of ε. The phase velocity ω/k of u⁰ is constant; that of ū bends
# down with the Bloch curve; its error is O(κ⁴) against O(κ²) for u⁰ (every member of the 1-D family (4.3)
# does as well).

# %%
s1 = T.laminate_scalars_smooth(T.paper_a_tilde)  # the 1-D cell a(y) = 1 − ½cos 2πy (also used in §4)
eff1 = T.algorithm1(*T.laminate_tensors(s1, 1))
op = bloch.bloch_operator(lambda y: T.paper_a_tilde(y[0])[:, None, None], 1, P=12)
kap = np.geomspace(0.05, np.pi, 60)  # up to the edge of the first Brillouin zone
c_bloch = bloch.bloch_phase_velocity(op, [1.0], kap)
a0_1 = float(eff1.a0[0, 0])
members = {"u⁰ (homogenized)": (0.0, 0.0), "ū (Algorithm 1, Lamacz)": (float(eff1.b0[0, 0]), 0.0),
           "family (4.3), γ = 0.05": T.family_1d(a0_1, s1.V, 0.05)}
c_model = {name: bloch.model_phase_velocity(a0_1, b0, a2, [1.0], kap) for name, (b0, a2) in members.items()}
for name, c in c_model.items():
    err = abs(c - c_bloch) / c_bloch
    slope = np.polyfit(np.log(kap[:15]), np.log(err[:15]), 1)[0]
    say(f"{name:>28}: phase-velocity error {err[0]:.1e} at εk = {kap[0]:.2f}, {err[-1]:.1e} at εk = π; "
        f"slope {slope:.2f}")
if comm.rank == 0:
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    ax1.plot(kap, c_bloch, "k-", lw=2, label="Bloch (exact)")
    for (name, c), st in zip(c_model.items(), ("C0--", "C1-", "C2:")):
        ax1.plot(kap, c, st, label=name)
        ax2.loglog(kap, abs(c - c_bloch) / c_bloch, st, label=name)
    ax1.set_xlabel("εk")
    ax1.set_ylabel("phase velocity ω/k")
    ax1.set_title("a(y) = 1 − ½cos 2πy")
    ax1.legend(fontsize=8)
    ax2.loglog(kap[:20], 0.5 * (kap[:20] / kap[0]) ** 2 * abs(c_model["u⁰ (homogenized)"][0] - c_bloch[0])
               / c_bloch[0], "0.6", lw=0.8, label="slope 2, 4")
    ax2.loglog(kap[:20], 0.5 * (kap[:20] / kap[0]) ** 4 * abs(c_model["ū (Algorithm 1, Lamacz)"][0] - c_bloch[0])
               / c_bloch[0], "0.6", lw=0.8)
    ax2.set_xlabel("εk")
    ax2.set_ylabel("relative error of ω/k")
    ax2.legend(fontsize=8)
    save_figure(fig, out / "dispersion_curves.png", comm=MPI.COMM_SELF)
comm.barrier()

# %% [markdown]
# ## 3. The correctors
# χ₁ ≡ 0 for this layered cell; χ₂, θ₁₁ and θ₂₂ depend on y₂ only. The pictures are gathered from all MPI
# ranks and rendered off-screen (pyvista).

# %%
pics = {"chi_2": cas.chi[1], "theta_11": cas.theta[(0, 0)], "theta_22": cas.theta[(1, 1)]}
for name, f in pics.items():
    f.name = name
    screenshot(f, out / f"{name}.png", title=name)
say("corrector pictures:", ", ".join(str(out / f"{n}.png") for n in pics))

# %% [markdown]
# ## 4. Long time in 1-D: fine-scale FE versus u⁰ and ū
# a(y) = 1 − ½cos(2πy), ε = 0.25, g⁰ = exp(−x²/0.2) (mean removed), on a line long enough that the two
# half-pulses do not wrap around. The fine solution uses P2 elements with 8 cells per period and leapfrog
# at 0.8 × the CFL step (the CFL limit is checked; progress is shown; the run checkpoints so that it can be
# resumed). This resolution keeps the demo short: leapfrog's phase error is then a few per cent of the
# dispersive phase shift (spec §1.4). In 1-D, Algorithm 1 gives Lamacz's equation: b⁰ = ⟨χ²⟩, a² = 0.
# Besides the dispersive tail, u^ε carries the small ε-scale ripples of the first-order corrector
# εχ(x/ε)∂ₓū, which no effective equation contains (its part of the O(ε) error, spec §3.8).

# %%
eps, T_end = 0.25, 3 / 0.25**2  # T = 3 ε⁻² = 48
L = round((np.sqrt(eff1.a0[0, 0]) * T_end + 6) / eps) * eps  # an integer number of periods
gmean = np.sqrt(np.pi * 0.2) / (2 * L)
fine = FineWaveSolver(box_mesh(comm, [L], [int(round(2 * L / eps)) * 8]),
                      lambda y: 1 - 0.5 * ufl.cos(2 * ufl.pi * y[0]), eps, [L], degree=2, mass="consistent")
dt_cfl = fine.cfl_dt()  # collective: never inside a rank-0-only branch
say(f"fine FE: {fine.num_dofs} DOFs, CFL step {dt_cfl:.2e}")
res = fine.run(T_end, 0.8 * dt_cfl, lambda x: np.exp(-x[0] ** 2 / 0.2) - gmean, samples=[0.0, T_end],
               checkpoint=out / f"fine_1d.np{comm.size}.ckpt.npz", checkpoint_every=1000, desc="fine 1-D")
say(f"{res.n_steps} leapfrog steps in {res.seconds:.1f} s"
    + (f" (resumed from the checkpoint at step {res.resumed_from})" if res.resumed_from else "")
    + "; energy drift "
    f"{abs(res.energy[-1] - res.energy[0]) / res.energy[0]:.1e}")
# gather the FE values (DOF coordinates and values) on rank 0
u = fine.function(fine.final_state)
n_own = fine.V.dofmap.index_map.size_local
xs = comm.gather(fine.V.tabulate_dof_coordinates()[:n_own, 0], root=0)
us = comm.gather(u.x.array[:n_own].copy(), root=0)
box = PeriodicBox.with_spacing((L,), 0.01)
g = lambda x: np.exp(-x**2 / 0.2) - gmean  # noqa: E731
u0 = FourierWaveSolver(box, WaveModel.homogenized(eff1.a0)).solve(T_end, g)
ubar = FourierWaveSolver(box, WaveModel(eff1.a0, eff1.b0, eff1.a2, eps)).solve(T_end, g)
if comm.rank == 0:
    xf, uf = np.concatenate(xs), np.concatenate(us)
    order = np.argsort(xf)
    xf, uf = xf[order], uf[order]
    x = box.axis_points(0)
    front = np.sqrt(eff1.a0[0, 0]) * T_end
    fig, axs = plt.subplots(2, 1, figsize=(8, 6))
    for ax, (a, b) in zip(axs, ((-L, L), (front - 6, front + 2))):
        sel = (xf >= a) & (xf <= b)
        ax.plot(xf[sel], uf[sel], "k-", lw=1.3, label="u^ε (fine FE, P2)")
        sel = (x >= a) & (x <= b)
        ax.plot(x[sel], u0[sel], "C0--", lw=1.2, label="u⁰ (homogenized)")
        ax.plot(x[sel], ubar[sel], "C1-", lw=1.0, label="ū (effective, Algorithm 1)")
        ax.set_xlim(a, b)
    axs[0].set_title(f"1-D, ε = {eps}, t = {T_end:g} = 3ε⁻²")
    axs[1].set_xlabel("x (zoom on the right-going front: the dispersive tail)")
    axs[0].legend(fontsize=8)
    save_figure(fig, out / "long_time_1d.png", comm=MPI.COMM_SELF)
    uf_on_grid = np.interp(x, xf, uf)
    nrm = np.linalg.norm(uf_on_grid)
    say(f"at t = {T_end:g}: ||u^eps - u0||/||u^eps|| = {np.linalg.norm(uf_on_grid - u0) / nrm:.3f}, "
        f"||u^eps - ubar||/||u^eps|| = {np.linalg.norm(uf_on_grid - ubar) / nrm:.3f}")
comm.barrier()

# %% [markdown]
# ## 5. The same in 2-D: the paper's E2 at t = 300
# The Gaussian pulse in the 2-D paper medium, at t = 3ε⁻² = 300, on the truncated box Π(−L_i, L_i),
# L_i = √a⁰_ii t + 4, from the analytic Fourier transform of g⁰ (exact in time). Cut along x₂ = 0 near
# the front: ū (and the other members ũ_r, R = rI) show the oscillatory tail; u⁰ does not.

# %%
h, t2 = 0.1, 300.0
effx = E.paper_tensors("exact")
L2 = tuple(float(np.sqrt(effx.a0[i, i]) * t2 + 4) for i in range(2))
box2 = PeriodicBox.with_spacing(L2, h)
x1 = box2.axis_points(0)
win = np.flatnonzero((x1 > 294) & (x1 < 302))
j2 = int(np.argmin(abs(box2.axis_points(1))))
ghat = gaussian_hat(0.2, 2)
if comm.rank == 0:  # plain numpy: computed once, on rank 0
    cut0 = spectral_field(box2, WaveModel.homogenized(effx.a0), ghat, t2, points=[win, [j2]])[:, 0]
    cutb = spectral_field(box2, E.wave_model(effx, 0.1), ghat, t2, points=[win, [j2]])[:, 0]
    cut6 = spectral_field(box2, E.wave_model(E.r_family(effx, 6 * effx.r_star), 0.1), ghat, t2,
                          points=[win, [j2]])[:, 0]
    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.plot(x1[win], cut0, "C0--", label="u⁰")
    ax.plot(x1[win], cutb, "k-", lw=1.4, label="ū = ũ_{r*}")
    ax.plot(x1[win], cut6, "C2-", lw=0.8, label="ũ_r, r = 6r*")
    ax.set_xlabel("x₁ (cut x₂ = 0)")
    ax.set_title("2-D, ε = 0.1, t = 300: the front of the pulse")
    ax.legend(fontsize=8)
    save_figure(fig, out / "e2_cut.png", comm=MPI.COMM_SELF)
comm.barrier()
say(f"demo done in {time.perf_counter() - t_demo:.0f} s; outputs in {out}/")
