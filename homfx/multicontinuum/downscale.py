"""Downscaling: a fine-scale field from the coarse solution, spec §4.5 (paper (21)).

On every block ω:  u_ms(x) = Σ_i φ_i^(ω)(x) U_i(x) + Σ_{i,m} φ_i^{m,(ω)}(x) ∂_m U_i(x),   x ∈ ω,
with U_i the coarse P1 function and ∂_m U_i its (piecewise constant) gradient. The field is discontinuous
across block edges, so it is returned in the discontinuous P1 space of the fine mesh (exact representation:
each fine triangle lies in one block and in one coarse triangle, because both meshes use the SW-NE
diagonal). ``zero_order=True`` keeps only Σ_i φ_i U_i. Works on a distributed fine mesh (cell-local dofs).
"""

from __future__ import annotations

import numpy as np

from homfx._stack import dolfinx
from homfx.multicontinuum.cell import D, Coefficients
from homfx.multicontinuum.coarse import CoarseModel


def _phi_lattice(rec, grid) -> np.ndarray:
    """Cell solutions of a block record on its (cpb+1)² vertex lattice: array [iy, ix, k]."""
    c = grid.cpb
    lat = np.rint(rec.coords / grid.h).astype(np.int64)
    out = np.full((c + 1, c + 1, rec.phi.shape[1]), np.nan)
    out[lat[:, 1], lat[:, 0]] = rec.phi
    if np.isnan(out).any():
        raise RuntimeError("downscaling: the stored cell solutions do not cover the block's vertex lattice")
    return out


def coarse_value_and_gradient(nodal: np.ndarray, M: int, x: np.ndarray, lower: np.ndarray, block: np.ndarray):
    """P1 value and gradient of the coarse field at points x (n, 2) of known block and coarse triangle.

    ``nodal`` [iy, ix, i]; ``lower``: the point lies in the triangle below the SW-NE diagonal (s ≥ t)."""
    H = 1.0 / M
    bx, by = block % M, block // M
    s = x[:, 0] / H - bx
    t = x[:, 1] / H - by
    a = nodal[by, bx]  # (n, N) corner values: a SW, b SE, c NE, d NW
    b = nodal[by, bx + 1]
    c = nodal[by + 1, bx + 1]
    d = nodal[by + 1, bx]
    lw = lower[:, None]
    gs = np.where(lw, b - a, c - d)  # ∂U/∂s
    gt = np.where(lw, c - b, d - a)  # ∂U/∂t
    val = a + gs * s[:, None] + gt * t[:, None]
    grad = np.stack([gs / H, gt / H], axis=-1)  # (n, N, d)
    return val, grad


def downscale(coef: Coefficients, model: CoarseModel, U: np.ndarray, fine_mesh, *, zero_order: bool = False,
              name: str = "u_ms"):
    """The downscaled field u_ms (DG1 function on ``fine_mesh``) of the coarse dof vector ``U``."""
    grid, N = coef.grid, coef.n_continua
    M, h = grid.M, grid.h
    V = dolfinx.fem.functionspace(fine_mesh, ("DG", 1))
    tdim = fine_mesh.topology.dim
    imap = fine_mesh.topology.index_map(tdim)
    cells = np.arange(imap.size_local + imap.num_ghosts, dtype=np.int32)
    mid = dolfinx.mesh.compute_midpoints(fine_mesh, tdim, cells)[:, :D]
    block = np.floor(mid[:, 1] * M).astype(np.int64).clip(0, M - 1) * M + \
        np.floor(mid[:, 0] * M).astype(np.int64).clip(0, M - 1)
    origin = np.column_stack([block % M, block // M]) / M
    sm = (mid - origin) * M
    lower = sm[:, 0] >= sm[:, 1]

    dofs = V.dofmap.list[cells]  # (ncells, 3)
    xyz = V.tabulate_dof_coordinates()[:, :D]
    nodal = model.nodal(U)
    out = dolfinx.fem.Function(V, name=name)
    lattices = {}
    reps = coef.representative[block]
    for k in range(dofs.shape[1]):
        dk = dofs[:, k]
        x = xyz[dk]
        val, grad = coarse_value_and_gradient(nodal, M, x, lower, block)
        lat = np.rint((x - origin) / h).astype(np.int64)
        phi = np.empty((len(cells), N + N * D))
        for r in np.unique(reps):
            if r not in lattices:
                lattices[r] = _phi_lattice(coef.records[r], grid)
            sel = reps == r
            phi[sel] = lattices[r][lat[sel, 1], lat[sel, 0]]
        u = np.sum(phi[:, :N] * val, axis=1)
        if not zero_order:
            u += np.sum(phi[:, N:].reshape(-1, N, D) * grad, axis=(1, 2))
        out.x.array[dk] = u
    return out
