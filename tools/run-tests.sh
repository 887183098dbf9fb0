#!/usr/bin/env bash
# The test command of the README (`make test`): the default suite serially, then the tests marked `mpi`
# under `mpirun -n 2`. Both always run; the exit status is non-zero if either fails (or finds no tests).
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
py=".venv/bin/python"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" HOMFX_PROGRESS=0 MPLBACKEND=Agg PYVISTA_OFF_SCREEN=true
start=$(date +%s)
echo "== serial: pytest (not slow) =="
timeout 1500 "$py" -m pytest -q -m "not slow" "$@"
serial=$?
echo "== parallel: mpirun -n 2 pytest -m mpi =="
timeout 900 .venv/bin/mpirun -n 2 "$py" -m pytest -q -m "mpi and not slow" "$@"
parallel=$?
echo "== make test: serial exit $serial, mpirun -n 2 exit $parallel, $(( $(date +%s) - start )) s =="
[ "$serial" -eq 0 ] && [ "$parallel" -eq 0 ]
