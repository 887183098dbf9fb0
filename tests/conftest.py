"""Shared test set-up. Tests marked ``mpi`` also run under ``mpirun -n 2`` (see the Makefile); under
mpirun only those run. Tests marked ``slow`` are reproductions, excluded by default."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HOMFX_PROGRESS", "0")

import pytest  # noqa: E402

from homfx._stack import MPI  # noqa: E402


def pytest_configure(config):
    # under mpirun every rank needs its own pytest base temp directory (they would race otherwise)
    if MPI.COMM_WORLD.size > 1 and not config.option.basetemp:
        import tempfile

        tag = MPI.COMM_WORLD.bcast(next(tempfile._get_candidate_names()), root=0)
        config.option.basetemp = os.path.join(tempfile.gettempdir(), f"homfx-pytest-{tag}-rank{MPI.COMM_WORLD.rank}")


@pytest.fixture
def comm():
    return MPI.COMM_WORLD


@pytest.fixture
def outdir(tmp_path_factory):
    """A directory shared by all ranks (rank 0 creates it, broadcast)."""
    path = str(tmp_path_factory.mktemp("out")) if MPI.COMM_WORLD.rank == 0 else None
    return MPI.COMM_WORLD.bcast(path, root=0)
