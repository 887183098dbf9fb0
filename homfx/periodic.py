"""Periodic constraints without dolfinx_mpc: the periodic restriction P (full DOFs -> periodic DOFs).

P is a PETSc matrix with one row per owned full DOF and one 1 per row, in the column of the periodic
("reduced") DOF the full DOF is glued to. A periodic problem is solved as ``P^T A P x = P^T b`` and
prolonged with ``u = P x``. The DOFs on the top faces x_k = o_k + L_k (slaves) are glued to their images at
x_k = o_k, found by matching DOF coordinates across ranks (a KD-tree over the gathered candidates). All top
coordinates are moved at once, so edges and corners collapse onto one master in one step.

Works for scalar, blocked (vector) and mixed-element spaces, spaces on submeshes, and lists of spaces laid
out as dolfinx's monolithic block matrices (``assemble_matrix(forms, kind=None)``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy.spatial import cKDTree

from homfx._stack import MPI, PETSc, dolfinx


@dataclass
class PeriodicRestriction:
    """The matrix P and its layout. ``P.getSizes() == ((n_full_local, N_full), (n_red_local, N_red))``."""

    P: "PETSc.Mat"
    spaces: tuple
    num_reduced: int  # global number of periodic DOFs
    num_full: int

    def restrict(self, b: "PETSc.Vec") -> "PETSc.Vec":
        """P^T b (b must be ghost-accumulated)."""
        out = self.P.createVecRight()
        self.P.multTranspose(b, out)
        return out

    def prolong(self, x: "PETSc.Vec", out: "PETSc.Vec | None" = None) -> "PETSc.Vec":
        out = self.P.createVecLeft() if out is None else out
        self.P.mult(x, out)
        return out

    def reduce(self, A: "PETSc.Mat", result: "PETSc.Mat | None" = None) -> "PETSc.Mat":
        """P^T A P (reuses the symbolic product when ``result`` is given)."""
        return A.PtAP(self.P, result=result) if result is not None else A.PtAP(self.P)

    def multiplicity(self) -> np.ndarray:
        """Number of full DOFs glued to each owned reduced DOF (P^T 1): 1 inside, 2 on faces, 4 / 8 at
        corners. Useful to check the structure."""
        one = self.P.createVecLeft()
        one.set(1.0)
        return self.restrict(one).getArray().copy()


def _scalar_dof_table(V):
    """Coordinates (n, 3), component id (n,) and local unrolled index (n,) of every owned scalar DOF."""
    bs = V.dofmap.index_map_bs
    n_own = V.dofmap.index_map.size_local
    if bs > 1 or V.num_sub_spaces == 0:
        x = V.tabulate_dof_coordinates()[:n_own]
        coords = np.repeat(x, bs, axis=0)
        comp = np.tile(np.arange(bs), n_own)
        return coords, comp, np.arange(n_own * bs, dtype=np.int64)
    coords, comps, idxs = [], [], []
    ncomp = 0
    for i in range(V.num_sub_spaces):
        Vi, dofs = V.sub(i).collapse()
        dofs = np.asarray(dofs[0] if isinstance(dofs, list) else dofs, dtype=np.int64)
        c, k, j = _scalar_dof_table(Vi)
        coords.append(c)
        comps.append(k + ncomp)
        idxs.append(dofs[j])
        ncomp += int(k.max(initial=-1)) + 1
    idx = np.concatenate(idxs)
    own = idx < n_own  # mixed spaces are unblocked at the top level
    return np.concatenate(coords)[own], np.concatenate(comps)[own], idx[own]


def periodic_restriction(spaces, lengths: Sequence[float], *, origin: Sequence[float] | None = None,
                         axes: Sequence[int] | None = None, tol: float = 1e-8) -> PeriodicRestriction:
    """Build P for one space or for a list of spaces in dolfinx's monolithic block layout.

    ``lengths`` are the periods L_k, ``origin`` the lower corner (default 0), ``axes`` the periodic
    directions (default all). ``tol`` is relative to max(L). Raises on all ranks if a slave DOF has no
    master (a mesh that is not periodic-conforming).
    """
    single = not isinstance(spaces, (list, tuple))
    spaces = (spaces,) if single else tuple(spaces)
    comm = spaces[0].mesh.comm
    gdim = spaces[0].mesh.geometry.dim
    L = np.zeros(3)
    L[: len(lengths)] = lengths
    o = np.zeros(3)
    if origin is not None:
        o[: len(origin)] = origin
    axes = tuple(range(len(lengths))) if axes is None else tuple(axes)
    if any(a >= gdim for a in axes):
        raise ValueError(f"periodic axes {axes} exceed the mesh dimension {gdim}")
    atol = tol * float(L.max())

    # per block: owned scalar DOFs, slaves, images
    blocks = []
    n_rows_local = 0
    for b, V in enumerate(spaces):
        x, comp, idx = _scalar_dof_table(V)
        order = np.argsort(idx)
        x, comp, idx = x[order], comp[order], idx[order]
        n_local = V.dofmap.index_map.size_local * V.dofmap.index_map_bs
        if len(idx) != n_local or np.any(idx != np.arange(n_local)):
            raise RuntimeError(f"block {b}: could not enumerate the owned DOFs of the space")
        img = x.copy()
        slave = np.zeros(len(x), dtype=bool)
        for k in axes:
            top = np.abs(x[:, k] - (o[k] + L[k])) < atol
            img[top, k] = o[k]
            slave |= top
        on_bottom = np.zeros(len(x), dtype=bool)
        for k in axes:
            on_bottom |= np.abs(x[:, k] - o[k]) < atol
        blocks.append(dict(x=x, comp=comp, img=img, slave=slave, cand=on_bottom & ~slave))
        n_rows_local += n_local

    # reduced numbering: owned non-slaves, block by block on each rank
    n_red_local = int(sum(np.count_nonzero(~bl["slave"]) for bl in blocks))
    red_off = comm.exscan(n_red_local) or 0
    N_red = comm.allreduce(n_red_local)
    N_full = comm.allreduce(n_rows_local)
    pos = red_off
    cand_pts, cand_red = [], []
    for b, bl in enumerate(blocks):
        red = np.full(len(bl["x"]), -1, dtype=np.int64)
        ns = ~bl["slave"]
        red[ns] = pos + np.arange(np.count_nonzero(ns))
        pos += np.count_nonzero(ns)
        bl["red"] = red
        sel = bl["cand"]
        cand_pts.append(_key(bl["x"][sel], b, bl["comp"][sel], L))
        cand_red.append(red[sel])
    cand_pts = np.concatenate(cand_pts) if cand_pts else np.zeros((0, 5))
    cand_red = np.concatenate(cand_red)
    all_pts = np.concatenate(comm.allgather(cand_pts))
    all_red = np.concatenate(comm.allgather(cand_red))

    worst = 0.0
    for b, bl in enumerate(blocks):
        s = bl["slave"]
        if np.any(s):
            if len(all_pts) == 0:
                worst = np.inf
                continue
            dist, j = cKDTree(all_pts).query(_key(bl["img"][s], b, bl["comp"][s], L))
            worst = max(worst, float(dist.max()))
            bl["red"][s] = all_red[j]
    worst = comm.allreduce(worst, op=MPI.MAX)
    if worst > atol:
        raise RuntimeError(f"periodic restriction: a DOF on a top face has no periodic image "
                           f"(distance {worst:.3g} > tol {atol:.3g}); the mesh is not periodic-conforming "
                           "(did the mesh builder call gmsh setPeriodic?)")

    cols = np.concatenate([bl["red"] for bl in blocks]).astype(PETSc.IntType)
    P = PETSc.Mat().createAIJ(((n_rows_local, N_full), (n_red_local, N_red)),
                              csr=(np.arange(n_rows_local + 1, dtype=PETSc.IntType), cols,
                                   np.ones(n_rows_local)), comm=comm)
    P.assemble()
    return PeriodicRestriction(P, spaces, N_red, N_full)


def _key(x, block, comp, L):
    """Coordinates augmented by (block, component), far apart so only like DOFs can match."""
    far = 1e3 * float(L.max())
    return np.column_stack([x, np.full(len(x), far * block), far * np.asarray(comp)])
