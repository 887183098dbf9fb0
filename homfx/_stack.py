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
