"""Figures: pyvista off-screen screenshots of FE fields (gathered from all ranks to rank 0) and
matplotlib defaults. Every writer is atomic and collective (call it on all ranks)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from homfx._stack import MPI, dolfinx, rank0_section




def _p1(u):
    """Interpolate to a P1 (or vector P1) space on the same mesh for plotting."""
    V = u.function_space
    el = V.ufl_element()
    if el.degree == 1 and el.family_name in ("P", "Lagrange", "Q"):
        return u
    shape = V.value_shape
    W = dolfinx.fem.functionspace(V.mesh, ("Lagrange", 1, shape) if shape else ("Lagrange", 1))
    w = dolfinx.fem.Function(W, name=u.name)
    w.interpolate(u)
    return w


def gather_grid(u):
    """A pyvista UnstructuredGrid of ``u`` (P1 point data ``u.name``) on rank 0; None on other ranks."""
    import pyvista

    u = _p1(u)
    V = u.function_space
    msh = V.mesh
    tdim = msh.topology.dim
    n_own = msh.topology.index_map(tdim).size_local
    topo, types, x = dolfinx.plot.vtk_mesh(V, entities=np.arange(n_own, dtype=np.int32))
    bs = V.dofmap.index_map_bs
    vals = u.x.array.reshape(-1, bs)[: len(x)].copy()
    parts = msh.comm.gather((topo, types, x, vals), root=0)
    if msh.comm.rank != 0:
        return None
    grids = []
    for topo, types, x, vals in parts:
        g = pyvista.UnstructuredGrid(topo, types, x)
        g.point_data[u.name or "u"] = vals[:, 0] if bs == 1 else vals
        grids.append(g)
    grid = grids[0] if len(grids) == 1 else grids[0].merge(grids[1:])
    return grid


def screenshot(u, path, *, title: str | None = None, cmap: str = "viridis", size=(700, 600),
               show_edges: bool = False, warp: float | None = None, comm=None) -> Path:
    """Off-screen pyvista picture of a scalar field (2D: top view; 3D: clipped iso view). Collective."""
    import pyvista

    from homfx.io import atomic_write_bytes

    comm = u.function_space.mesh.comm if comm is None else comm
    grid = gather_grid(u)
    path = Path(path)
    with rank0_section(comm):
        if comm.rank == 0:
            pyvista.OFF_SCREEN = True
            name = u.name or "u"
            p = pyvista.Plotter(off_screen=True, window_size=size)
            gdim = u.function_space.mesh.geometry.dim
            if gdim == 3:
                grid = grid.clip(normal=(1, 1, 0), origin=grid.center)
            elif warp:
                grid = grid.warp_by_scalar(name, factor=warp)
            p.add_mesh(grid, scalars=name, cmap=cmap, show_edges=show_edges,
                       scalar_bar_args={"title": title or name, "vertical": True})
            if gdim == 2 and not warp:
                p.view_xy()
            else:
                p.view_isometric()
            p.camera.zoom(1.25)
            tmp = path.with_name(f".tmp-{path.name}")
            path.parent.mkdir(parents=True, exist_ok=True)
            p.screenshot(str(tmp))
            p.close()
            atomic_write_bytes(path, tmp.read_bytes())
            tmp.unlink()
    return path


def matplotlib_setup():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"figure.dpi": 110, "savefig.bbox": "tight", "axes.grid": True, "grid.alpha": 0.3})
    return plt


__all__ = ["gather_grid", "screenshot", "matplotlib_setup", "MPI"]
