"""Progress bars for long runs: tqdm on rank 0, silent elsewhere and when HOMFX_PROGRESS=0."""

from __future__ import annotations

import os
import sys

from homfx._stack import MPI


def progress(iterable=None, *, total=None, desc=None, comm=None, **kw):
    comm = MPI.COMM_WORLD if comm is None else comm
    disable = comm.rank != 0 or os.environ.get("HOMFX_PROGRESS", "1") == "0"
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, disable=disable, file=sys.stderr, dynamic_ncols=True,
                mininterval=0.5, **kw)
