"""Import the FEniCSx stack in the right order.

The PyPI wheel ``dolfinx-solver-real`` must be imported before dolfinx/petsc4py (its README). In the
official dolfinx Docker image or a conda install the module does not exist and nothing needs doing.
"""

try:  # noqa: SIM105
    import dolfinx_solver  # noqa: F401
except ImportError:  # official image / conda: dolfinx is importable directly
    pass

from mpi4py import MPI  # noqa: E402
from petsc4py import PETSc  # noqa: E402

import dolfinx  # noqa: E402
import dolfinx.fem  # noqa: E402
import dolfinx.fem.petsc  # noqa: E402
import dolfinx.mesh  # noqa: E402

__all__ = ["MPI", "PETSc", "dolfinx"]


def sync_garbage(comm) -> None:
    """Collect Python garbage and PETSc's delayed-destroy garbage on all ranks of ``comm`` (collective).

    Python's GC runs when a rank has allocated enough objects, so after rank-0-only work (a plot) the ranks
    may have released different dolfinx/PETSc objects; their C++ destructors free PETSc objects (and, with
    the last one, PETSc's inner communicator) on one rank only, and the next collective creation deadlocks.
    Collecting on every rank at the same point re-synchronizes them."""
    import gc

    if comm.size == 1:
        return
    gc.collect()
    PETSc.garbage_cleanup(comm)


class rank0_section:
    """``with rank0_section(comm): if comm.rank == 0: ...`` — rank-asymmetric work (plots, file writes)
    without desynchronizing PETSc: Python's GC is paused inside, and all ranks collect together on exit
    (the ``with`` statement itself must run on every rank)."""

    def __init__(self, comm):
        self.comm = comm

    def __enter__(self):
        import gc

        sync_garbage(self.comm)
        self._was_enabled = gc.isenabled()
        gc.disable()
        return self

    def __exit__(self, *exc):
        import gc

        if self._was_enabled:
            gc.enable()
        self.comm.barrier()
        sync_garbage(self.comm)
        return False
