"""Wave (issue 7): the fine-scale solver's time per leapfrog step divided by one matvec of its stiffness
operator (the scheme's floor), and the exact-in-time Fourier solver of the effective equation against the
fine solver over the same time span. 2D, a(y) smooth and 1-periodic, eps = 0.1, P1 lumped."""

import json
import resource
import time

import numpy as np
import ufl

from homfx._stack import MPI
from homfx.wave.fine import FineWaveSolver, box_mesh
from homfx.wave.fourier import FourierWaveSolver, PeriodicBox, WaveModel

eps, L, n, T = 0.1, (1.0, 1.0), 240, 2.0


def coefficient(y):
    return 1.5 + 0.5 * ufl.sin(2 * np.pi * y[0]) * ufl.sin(2 * np.pi * y[1])


def g0(x):
    return np.exp(-(x[0] ** 2 + x[1] ** 2) / 0.1)


solver = FineWaveSolver(box_mesh(MPI.COMM_WORLD, L, (n, n)), coefficient, eps, L)
dt = 0.9 * solver.cfl_dt()
res = solver.run(T, dt, g0)
per_step = res.seconds / res.n_steps
K = solver.K
x, y = K.createVecs()
x.set(1.0)
reps = 200
t0 = time.perf_counter()
for _ in range(reps):
    K.mult(x, y)
matvec = (time.perf_counter() - t0) / reps

box = PeriodicBox(L, (256, 256))
t0 = time.perf_counter()
u = FourierWaveSolver(box, WaveModel(np.eye(2) * 1.4, np.zeros((2, 2)), np.zeros((2,) * 4), eps)).solve(
    T, lambda x0, x1: np.exp(-(x0 ** 2 + x1 ** 2) / 0.1))
t_fourier = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
if MPI.COMM_WORLD.rank == 0:
    print(json.dumps({"case": "wave", "metric": f"fine time per step / one matvec ({solver.num_dofs} DOFs)",
                      "value": per_step / matvec, "target": None,
                      "note": f"{res.n_steps} steps, {per_step * 1e3:.2f} ms/step, matvec {matvec * 1e3:.3f} ms, "
                              f"peak {peak:.0f} MiB"}))
    print(json.dumps({"case": "wave", "metric": f"Fourier effective solve / fine solve (T = {T})",
                      "value": t_fourier / res.seconds, "target": None,
                      "note": f"Fourier {t_fourier * 1e3:.1f} ms on 256^2, fine {res.seconds:.2f} s"}))
