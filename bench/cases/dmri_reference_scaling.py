"""Fine Bloch-Torrey (issue 7): wall time of one reference signal on >= 200k DOFs (R = 0.4, h = 0.0033,
real (Re, Im) x 2 compartments; implicit Euler steps so one run stays short), per b-value in a sweep (the
symbolic analysis is shared by all runs of a ReferenceProblem), for both ways of solving the pulse steps:
an LU per step (``refactor_every=1``) and GMRES preconditioned by a lagged LU (``refactor_every=8``).
bench.py runs it twice with np = 1 and twice with np = 2, interleaved, and reports the speed-up of the
fastest mode at each np (the classic definition: best serial time / parallel time)."""

import json
import resource
import time

from homfx._stack import MPI
from homfx.dmri import fine
from homfx.dmri.cells import disk_cell
from homfx.dmri.sequences import PGSE

MODES = {"lu": 1, "lagged": 8}  # refactor_every
MODE_NAMES = {"lu": "LU every pulse step", "lagged": f"lagged LU + GMRES, refactor_every={MODES['lagged']}"}
seq = PGSE(5e-3, 25e-3)
prob = fine.ReferenceProblem(disk_cell(0.4, 0.0033), 3e-3, 1.7e-3, 5e-2, eps=1e-2)
kw = dict(q=float(seq.q_from_b(2000.0)), direction=(0, 1), sequence=seq, dt=1e-3, stages=1, show_progress=False)
walls, results = {}, {}
for mode, k in MODES.items():
    prob.signal(**kw, refactor_every=k)  # warm-up: JIT, and MUMPS' (sequential) symbolic analysis
    walls[mode] = float("inf")
    for _ in range(2):  # best of two here, and of two launches per np (bench.py): the least disturbed
        MPI.COMM_WORLD.barrier()
        t0 = time.perf_counter()
        results[mode] = prob.signal(**kw, refactor_every=k)
        MPI.COMM_WORLD.barrier()
        walls[mode] = min(walls[mode], time.perf_counter() - t0)
# a reference for the state of the host: the same MUMPS work alone, right after the timed runs (one
# numeric refactorization + solve of the kept pulse system, its values nudged so that PETSc refactors),
# best of three. On a shared 2-vCPU host both ratios move with the load of the other tenants.
entry = prob.stage_systems[(1, False)]["pulse"]
rhs, x = entry.K.createVecRight(), entry.K.createVecRight()
rhs.set(1.0)
t_mumps = float("inf")
for _ in range(3):
    entry.K.scale(1.0 + 1e-15)
    MPI.COMM_WORLD.barrier()
    t0 = time.perf_counter()
    entry.solver.solve(rhs, x)
    MPI.COMM_WORLD.barrier()
    t_mumps = min(t_mumps, time.perf_counter() - t0)
if MPI.COMM_WORLD.rank == 0:
    print(json.dumps({"case": "dmri_reference", "metric": "mumps_time", "value": t_mumps,
                      "np": MPI.COMM_WORLD.size, "dofs": prob.num_dofs}))
    print(json.dumps({"case": "dmri_reference", "metric": "speedup_time", "value": walls,
                      "np": MPI.COMM_WORLD.size, "dofs": prob.num_dofs, "mode_names": MODE_NAMES,
                      "signal": {m: r.signal.real for m, r in results.items()},
                      "factorizations": {m: r.factorizations for m, r in results.items()},
                      "krylov_iterations": results["lagged"].krylov_iterations,
                      "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
