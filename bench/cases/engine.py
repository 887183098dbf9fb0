"""Engine overhead: all cell problems of one operator through homfx (assembly, P^T A P, mean constraint,
one factorization, d solves, prolongation) divided by one bare MUMPS factorization plus d solves of the
same reduced operator. P2 elliptic correctors, >= 50k DOFs. JIT is excluded (forms compiled first) and
reported separately. Both sides are the best of REPEATS runs."""

import json
import resource
import time

import ufl

from homfx._stack import MPI, PETSc, dolfinx
from homfx.cellproblem import solve_cell_problem
from homfx.elliptic import coefficient_field, corrector_problem
from homfx.geometry import disk_cell
from homfx.periodic import periodic_restriction
from homfx.solvers import LinearSolver

REPEATS = 3
cell = disk_cell(0.3, 0.008, order=2)
coef = coefficient_field(cell, {"e": 1.0, "c": 10.0})
prob = corrector_problem(cell, coef, degree=2)
t0 = time.perf_counter()
solve_cell_problem(prob)  # warm-up: JIT
jit = time.perf_counter() - t0
t_homfx = float("inf")
for _ in range(REPEATS):  # best of REPEATS, both sides: the least disturbed by the rest of the machine
    prob = corrector_problem(cell, coef, degree=2)
    t0 = time.perf_counter()
    sol = solve_cell_problem(prob)
    t_homfx = min(t_homfx, time.perf_counter() - t0)

# bare: factor the same (pinned, non-singular) reduced operator once and solve d right-hand sides
V = prob.space
A = dolfinx.fem.petsc.assemble_matrix(dolfinx.fem.form(prob.a))
A.assemble()
R = periodic_restriction(V, cell.lengths)
Ar = R.reduce(A)
Ar.zeroRowsColumns([0] if Ar.getOwnershipRange()[0] == 0 else [], diag=1.0)
bs = []
for k in prob.rhs:
    b = dolfinx.fem.petsc.assemble_vector(dolfinx.fem.form(prob.rhs[k]))
    b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
    bs.append(R.restrict(b))
t_bare = float("inf")
for _ in range(REPEATS):
    t0 = time.perf_counter()
    s = LinearSolver(Ar, "bare")
    for b in bs:
        s.solve(b)
    t_bare = min(t_bare, time.perf_counter() - t0)
    s.destroy()
if MPI.COMM_WORLD.rank == 0:
    print(json.dumps({"case": "engine", "metric": f"cell problems / (factor + {len(bs)} solves), "
                      f"{sol.dofs} DOFs", "value": t_homfx / t_bare, "target": "<= 1.5",
                      "note": f"homfx {t_homfx:.2f} s, bare {t_bare:.2f} s, first run incl. JIT (cold cache) "
                              f"{jit:.2f} s, peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"}))
