"""Output helpers: every file is written atomically (temp file + rename, on rank 0), so an interrupted
run never leaves a corrupt or half-written result."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

from homfx._stack import MPI, rank0_section


def json_default(o):
    """``json.dumps(default=...)`` for numpy arrays and scalars."""
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def atomic_write_bytes(path, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_json(path, data: dict, comm=None) -> Path:
    """Write ``data`` as JSON atomically on rank 0 of ``comm`` (default COMM_WORLD); collective."""
    comm = MPI.COMM_WORLD if comm is None else comm
    path = Path(path)
    with rank0_section(comm):
        if comm.rank == 0:
            atomic_write_bytes(path, (json.dumps(data, indent=2, default=json_default) + "\n").encode())
    return path


def save_figure(fig, path, comm=None, **kw) -> Path:
    """Save a matplotlib figure atomically on rank 0; collective."""
    comm = MPI.COMM_WORLD if comm is None else comm
    path = Path(path)
    with rank0_section(comm):
        if comm.rank == 0:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
            os.close(fd)
            try:
                fig.savefig(tmp, **kw)
                os.replace(tmp, path)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
    return path


def write_xdmf(path, mesh, functions=(), comm=None) -> Path:
    """Write a mesh and functions (P1-interpolable) to XDMF: written under a temporary name, then renamed
    (both the .xdmf and its .h5) so that readers never see a partial file."""
    from homfx._stack import dolfinx

    comm = mesh.comm if comm is None else comm
    path = Path(path).with_suffix(".xdmf")
    tmp = path.with_name(f".tmp-{path.name}")
    if comm.rank == 0:
        path.parent.mkdir(parents=True, exist_ok=True)
    comm.barrier()
    with dolfinx.io.XDMFFile(comm, str(tmp), "w") as f:
        f.write_mesh(mesh)
        deg = mesh.geometry.cmaps[0].degree  # XDMF needs functions of the geometry's degree
        for u in functions:
            el = u.function_space.ufl_element()
            if el.degree != deg or el.family_name not in ("P", "Q", "Lagrange"):
                shape = u.function_space.value_shape
                V1 = dolfinx.fem.functionspace(mesh, ("Lagrange", deg, shape) if shape else ("Lagrange", deg))
                w = dolfinx.fem.Function(V1, name=u.name)
                w.interpolate(u)
                u = w
            f.write_function(u)
    comm.barrier()
    if comm.rank == 0:
        os.replace(tmp.with_suffix(".h5"), path.with_suffix(".h5"))
        text = tmp.read_text().replace(tmp.with_suffix(".h5").name, path.with_suffix(".h5").name)
        atomic_write_bytes(path, text.encode())
        tmp.unlink()
    comm.barrier()
    return path
