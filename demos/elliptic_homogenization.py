# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
# ---

# %% [markdown]
# # Classical elliptic homogenization with homfx
#
# For -div(a(x/eps) grad u) = f with a periodic coefficient a(y), the homogenized tensor is
#
#   A*_ij = (1/|Y|) int_Y e_i . a(y) (e_j + grad chi_j) dy,
#
# where the first-order correctors chi_j are periodic, have zero mean, and solve
# -div(a (e_j + grad chi_j)) = 0 in Y. homfx declares this cell problem in UFL
# (`homfx.elliptic.corrector_problem`), imposes periodicity through its own restriction P (no
# dolfinx_mpc), removes the constants with a mean constraint, and solves both right-hand sides with one
# MUMPS factorization.
#
# Run: `mpirun -n 2 python demos/elliptic_homogenization.py` (or `make demo`). Output: `out/elliptic/`.

# %%
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from homfx._stack import MPI
from homfx.elliptic import effective_tensor, hashin_shtrikman_bounds, voigt_reuss_bounds
from homfx.geometry import Inclusion, checkerboard_cell, disk_cell, inclusion_cell, laminate_cell
from homfx.io import save_figure, write_json, write_xdmf
from homfx.plotting import matplotlib_setup, screenshot

comm = MPI.COMM_WORLD
out = Path(sys.argv[1] if len(sys.argv) > 1 else "out/elliptic")
say = print if comm.rank == 0 else (lambda *a, **k: None)
plt = matplotlib_setup()

# %% [markdown]
# ## 1. Laminates: the exact answer
# Layers normal to e1: A* = diag(harmonic mean, arithmetic mean). On a mesh aligned with the layers,
# the P1 correctors are exact, so homfx reproduces this to round-off.

# %%
lam = effective_tensor(laminate_cell(2, 8, phase_names=("a", "b")), {"a": 1.0, "b": 4.0}).A_eff
harm, arith = voigt_reuss_bounds([0.5, 0.5], [1.0, 4.0])
say(f"laminate: A* = {np.round(lam, 12).tolist()}, expected diag({harm}, {arith})")

# %% [markdown]
# ## 2. Checkerboard: Keller-Dykhne
# In 2D the checkerboard with phases a1, a2 has A* = sqrt(a1 a2) I exactly. The corners are singular,
# so the convergence is slow, but monotone.

# %%
cb = []
for n in (8, 16, 32, 64):
    A = effective_tensor(checkerboard_cell(n), {"a1": 1.0, "a2": 4.0}).A_eff
    cb.append((n, A[0, 0], abs(A[0, 0] - 2.0)))
    say(f"checkerboard n = {n:3d}: A*_11 = {A[0, 0]:.6f}, error {cb[-1][2]:.2e}")

# %% [markdown]
# ## 3. A disk in a square: A* against the contrast, with bounds
# The disk cell is isotropic by symmetry. Its A* must lie within the Hashin-Shtrikman bounds (and so
# within Voigt-Reuss). A contrast of 0 is an insulating hole (a perforated domain).

# %%
cell = disk_cell(0.3, 0.025, order=2)
f_c = cell.volume_fractions()["c"]
contrasts = np.array([0.0, 0.01, 0.1, 0.3, 1.0, 3.0, 10.0, 100.0])
Astar = []
for k in contrasts:
    res = effective_tensor(cell, {"e": 1.0, "c": float(k)}, degree=2)
    Astar.append(res.A_eff[0, 0])
    if k == 10.0:
        correctors = res.correctors
Astar = np.array(Astar)
hs = np.array([hashin_shtrikman_bounds(1 - f_c, 1.0, k, 2) if k >= 1 else
               hashin_shtrikman_bounds(f_c, k, 1.0, 2) for k in contrasts])
for k, a in zip(contrasts, Astar):
    say(f"contrast {k:7.2f}: A*_11 = {a:.8f}")

fig, ax = plt.subplots(figsize=(5.5, 4))
ax.loglog(contrasts[1:], Astar[1:], "o-", label="homfx A*")
ax.fill_between(contrasts[1:], hs[1:, 0], hs[1:, 1], alpha=0.25, label="Hashin-Shtrikman bounds")
ax.axhline(Astar[0], color="k", ls=":", label="insulating hole (contrast 0)")
ax.set_xlabel("inclusion / matrix conductivity")
ax.set_ylabel("A*_11")
ax.set_title(f"disk R = 0.3 (f = {f_c:.3f})")
ax.legend()
save_figure(fig, out / "disk_contrast.png")

# %% [markdown]
# ## 4. The correctors
# chi_1 for contrast 10: the field that the inclusion adds to the linear potential y_1.

# %%
correctors[0].name = "chi_1"
correctors[1].name = "chi_2"
screenshot(correctors[0], out / "chi1_disk.png", title="chi_1")
write_xdmf(out / "correctors_disk.xdmf", cell.mesh, correctors.values())

# %% [markdown]
# ## 5. Any layout: inclusions crossing the boundary
# Inclusions are wrapped periodically. The tensor of an anisotropic layout is symmetric positive
# definite and not diagonal.

# %%
layout = [Inclusion.ellipse((0.9, 0.3), 0.25, 0.1, 0.5), Inclusion.disk((0.4, 0.75), 0.15)]
res = effective_tensor(inclusion_cell(layout, 0.02, order=2), {"e": 1.0, "c": 20.0}, degree=2)
say(f"wrapped layout: A* = {np.round(res.A_eff, 6).tolist()}, eigenvalues {np.linalg.eigvalsh(res.A_eff)}")
res.correctors[0].name = "chi_1"
screenshot(res.correctors[0], out / "chi1_layout.png", title="chi_1")

write_json(out / "elliptic.json", {"laminate": lam, "checkerboard": cb, "contrasts": contrasts,
                                   "disk_A11": Astar, "hashin_shtrikman": hs, "layout_A": res.A_eff})
say(f"wrote {out}/")
