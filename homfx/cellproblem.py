"""Cell problems: a UFL bilinear form, named right-hand sides, and constraints.

A cell problem is declared, not programmed::

    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    prob = CellProblem(a=inner(A * grad(u), grad(v)) * dx,
                       rhs={j: -inner(A * e[j], grad(v)) * dx for j in range(d)},
                       period=cell.lengths, name="first-order corrector")
    sol = solve_cell_problem(prob)          # one factorization, d solves
    chi = sol.solutions                     # {j: dolfinx.fem.Function}

Constraints: ``period`` (periodic in all directions of the cell, or ``None`` for none; ``periodic_axes``
selects some), ``mean_zero`` (``True``: int_Y u = 0 on V's whole mesh, one condition per vector component;
a list of local cell-index arrays: int_{Y_g} u = 0 per group g, e.g. per isolated inclusion; ``False``:
the operator is not singular). The engine assembles A once, forms P^T A P, factors once, and solves every
right-hand side with that factorization. The compatibility of every right-hand side with the kernel
(int_{Y_g} f = 0 for a pure-Neumann operator) is measured and returned.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Hashable, Mapping, Sequence

import numpy as np
import ufl

from homfx._stack import PETSc, dolfinx
from homfx.periodic import PeriodicRestriction, periodic_restriction
from homfx.solvers import LinearSolver, MeanZeroSolver


@dataclass
class CellProblem:
    """Declaration of a linear cell problem ``a(u, v) = L_k(v)`` for each key k of ``rhs``."""

    a: ufl.Form
    rhs: Mapping[Hashable, ufl.Form]
    name: str = "cell problem"
    period: Sequence[float] | None = (1.0, 1.0)
    periodic_axes: Sequence[int] | None = None
    mean_zero: bool | Sequence[np.ndarray] = True
    entity_maps: Sequence | None = None
    origin: Sequence[float] | None = None

    @property
    def space(self):
        return self.a.arguments()[1].ufl_function_space()


@dataclass
class CellSolution:
    solutions: dict
    compatibility: dict  # key -> [defect per constraint group]
    dofs: int  # number of unknowns actually solved for (periodic DOFs)
    timings: dict = field(default_factory=dict)

    def __getitem__(self, key):
        return self.solutions[key]

    @property
    def max_compatibility_defect(self) -> float:
        return max((max(v) for v in self.compatibility.values() if v), default=0.0)


def _group_measures(V, groups):
    """(constraint forms, indicator functions) per group and vector component."""
    msh = V.mesh
    tdim = msh.topology.dim
    n_own = msh.topology.index_map(tdim).size_local
    bs = V.dofmap.index_map_bs
    if V.num_sub_spaces and bs == 1:
        raise NotImplementedError("mean_zero on mixed-element spaces: give the constraint per sub-problem")
    v = ufl.TestFunction(V)
    forms, inds = [], []
    if groups is True:
        imap = msh.topology.index_map(tdim)
        groups = [np.arange(imap.size_local + imap.num_ghosts, dtype=np.int32)]
    for gi, cells in enumerate(groups):
        cells = np.asarray(cells, dtype=np.int32)
        dx_g = ufl.Measure("dx", domain=msh, subdomain_data=[(gi, np.sort(cells[cells < n_own]))])
        # indicator: 1 on every DOF of a group cell, on any rank
        ind = dolfinx.fem.Function(V)
        dofs = V.dofmap.list[cells].ravel() if len(cells) else np.zeros(0, dtype=np.int32)
        for comp in range(bs):
            arr = np.zeros_like(ind.x.array)
            arr[dofs * bs + comp] = 1.0
            f = dolfinx.fem.Function(V)
            f.x.array[:] = arr
            f.x.scatter_reverse(dolfinx.la.InsertMode.add)
            f.x.array[:] = (f.x.array > 0).astype(float)
            f.x.scatter_forward()
            vc = v if bs == 1 else v[comp]
            forms.append(vc * dx_g(gi))
            inds.append(f)
    return forms, inds


def solve_cell_problem(problem: CellProblem, *, method: str = "lu", options: dict | None = None) -> CellSolution:
    """Assemble, reduce with P, factor once and solve every right-hand side of ``problem``."""
    t = {}
    t0 = time.perf_counter()
    V = problem.space
    em = list(problem.entity_maps) if problem.entity_maps else None
    a_form = dolfinx.fem.form(problem.a, entity_maps=em)
    keys = list(problem.rhs)
    L_forms = [dolfinx.fem.form(problem.rhs[k], entity_maps=em) for k in keys]
    t["jit"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    A = dolfinx.fem.petsc.assemble_matrix(a_form)
    A.assemble()
    t["assemble"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    R: PeriodicRestriction | None = None
    if problem.period is not None:
        R = periodic_restriction(V, problem.period, axes=problem.periodic_axes, origin=problem.origin)
        A_red = R.reduce(A)
    else:
        A_red = A
    t["periodic"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    if problem.mean_zero is not False and problem.mean_zero is not None:
        forms, inds = _group_measures(V, problem.mean_zero)
        cs, ns = [], []
        for f, ind in zip(forms, inds):
            c = dolfinx.fem.petsc.assemble_vector(dolfinx.fem.form(f))
            c.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
            n = ind.x.petsc_vec.copy()
            if R is not None:
                c, n_red = R.restrict(c), R.restrict(n)
                n_red.setArray((n_red.getArray(readonly=True) > 0).astype(float))
                n = n_red
            cs.append(c)
            ns.append(n)
        solver = MeanZeroSolver(A_red, cs, problem.name, method=method, indicators=ns, options=options)
    else:
        solver = LinearSolver(A_red, problem.name, method=method, options=options)
    t["factor"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    sols, compat = {}, {}
    x = A_red.createVecRight()
    for k, Lf in zip(keys, L_forms):
        b = dolfinx.fem.petsc.assemble_vector(Lf)
        b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        b_red = R.restrict(b) if R is not None else b
        if isinstance(solver, MeanZeroSolver):
            compat[k] = solver.compatibility(b_red)
        else:
            compat[k] = []
        solver.solve(b_red, x)
        u = dolfinx.fem.Function(V, name=f"{problem.name}[{k}]")
        if R is not None:
            R.prolong(x, u.x.petsc_vec)
        else:
            x.copy(u.x.petsc_vec)
        u.x.scatter_forward()
        sols[k] = u
        if b_red is not b:
            b_red.destroy()
        b.destroy()
    t["solve"] = time.perf_counter() - t0
    return CellSolution(sols, compat, A_red.getSize()[0], t)
