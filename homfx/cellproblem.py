"""Cell problems: a UFL bilinear form, named right-hand sides, and constraints.

A cell problem is declared, not programmed::

    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    prob = CellProblem(a=inner(A * grad(u), grad(v)) * dx,
                       rhs={j: -inner(A * e[j], grad(v)) * dx for j in range(d)},
                       period=cell.lengths, name="first-order corrector")
    sol = solve_cell_problem(prob)          # one factorization, d solves
    chi = sol.solutions                     # {j: dolfinx.fem.Function}

Constraints: ``period`` (periodic in all directions of the cell, or ``None`` for none; ``periodic_axes``
selects some), ``bcs`` (homogeneous Dirichlet conditions, e.g. no-slip on the solid of a Stokes cell),
``mean_zero`` (``True``: int_Y u = 0 on V's whole mesh, one condition per vector component; a list of
local cell-index arrays: int_{Y_g} u = 0 per group g, e.g. per isolated inclusion; ``False``:
the operator is not singular). For vector and mixed spaces every scalar component is constrained, or
only those listed in ``mean_zero_components`` (e.g. the pressure of a periodic Stokes problem).
The engine assembles A once, forms P^T A P, factors once, and solves every
right-hand side with that factorization. The compatibility of every right-hand side with the kernel
(int_{Y_g} f = 0 for a pure-Neumann operator) is measured and returned.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Hashable, Mapping, Sequence

import numpy as np
import ufl

from homfx._stack import MPI, PETSc, dolfinx
from homfx.forms import assemble_linear
from homfx.periodic import PeriodicRestriction, periodic_restriction
from homfx.solvers import LinearSolver, MeanZeroSolver


@dataclass
class CellProblem:
    """Declaration of a linear cell problem ``a(u, v) = L_k(v)`` for each key k of ``rhs``. Each L_k is a UFL
    linear form, a compiled dolfinx Form, or an assembled vector (e.g. from a
    :class:`homfx.forms.ParametrizedForm`, for many right-hand sides of one shape)."""

    a: ufl.Form
    rhs: Mapping[Hashable, "ufl.Form | dolfinx.fem.Form | PETSc.Vec"]
    name: str = "cell problem"
    period: Sequence[float] | None = (1.0, 1.0)
    periodic_axes: Sequence[int] | None = None
    mean_zero: bool | Sequence[np.ndarray] = True
    entity_maps: Sequence | None = None
    origin: Sequence[float] | None = None
    mean_zero_components: Sequence[int] | None = None  # scalar components constrained (default: all)
    bcs: Sequence = ()  # homogeneous dolfinx DirichletBCs (e.g. no-slip on a solid in a Stokes cell problem)

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


def _scalar_components(V, v, W=None):
    """[(UFL scalar test expression, fn(cells) -> local DOF indices of V)] for every scalar component of V:
    one for a scalar space, bs for a blocked space, recursively per sub-space for a mixed element."""
    W = V if W is None else W  # W: the (sub)space whose dofmap maps into V's numbering
    bs = W.dofmap.index_map_bs if W is V else 1
    if W is V and bs > 1:
        return [(v[c], lambda cells, c=c: V.dofmap.list[cells].ravel() * bs + c) for c in range(bs)]
    if W.num_sub_spaces == 0:
        return [(v, lambda cells, W=W: W.dofmap.list[cells].ravel())]
    out = []
    parts = ufl.split(v) if W is V else [v[i] for i in range(W.num_sub_spaces)]
    for i in range(W.num_sub_spaces):
        out += _scalar_components(V, parts[i], W.sub(i))
    return out


def _group_measures(V, groups, components=None):
    """(constraint forms, indicator functions) per group and scalar component (all, or the listed ones)."""
    msh = V.mesh
    tdim = msh.topology.dim
    n_own = msh.topology.index_map(tdim).size_local
    comps = _scalar_components(V, ufl.TestFunction(V))
    if components is not None:
        bad = [c for c in components if not 0 <= c < len(comps)]
        if bad:
            raise ValueError(f"mean_zero_components {bad} out of range: the space has {len(comps)} scalar components")
        comps = [comps[c] for c in components]
    forms, inds = [], []
    if groups is True:
        imap = msh.topology.index_map(tdim)
        groups = [np.arange(imap.size_local + imap.num_ghosts, dtype=np.int32)]
    for gi, cells in enumerate(groups):
        cells = np.asarray(cells, dtype=np.int32)
        dx_g = ufl.Measure("dx", domain=msh, subdomain_data=[(gi, np.sort(cells[cells < n_own]))])
        for vc, dofs_of in comps:
            # indicator: 1 on every DOF of this component in a group cell, on any rank
            f = dolfinx.fem.Function(V)
            if len(cells):
                f.x.array[dofs_of(cells)] = 1.0
            f.x.scatter_reverse(dolfinx.la.InsertMode.add)
            f.x.array[:] = (f.x.array > 0).astype(float)
            f.x.scatter_forward()
            forms.append(vc * dx_g(gi))
            inds.append(f)
    return forms, inds


class CellOperator:
    """The factored operator of a cell problem: assembled once, reduced with P, constrained, factored once.

    ``solve(rhs)`` then solves any right-hand sides against the same factors, also ones that are only known
    later (cascades: the second-order correctors need the first-order ones)::

        op = CellOperator(CellProblem(a, {}, period=cell.lengths))
        omega = op.solve({i: L_omega[i] for i in range(d)})
        chi = op.solve({(i, j): L_chi(omega[j], i) for i in range(d) for j in range(d)})
    """

    def __init__(self, problem: CellProblem, *, method: str = "lu", options: dict | None = None):
        t0 = time.perf_counter()
        self.name = problem.name
        self.V = problem.space
        self.entity_maps = list(problem.entity_maps) if problem.entity_maps else None
        a_form = dolfinx.fem.form(problem.a, entity_maps=self.entity_maps)
        self.timings = {"jit": time.perf_counter() - t0}

        t0 = time.perf_counter()
        self.bcs = _check_homogeneous(problem.bcs, self.V, self.name)
        A = dolfinx.fem.petsc.assemble_matrix(a_form, bcs=self.bcs)  # BC rows/columns: identity
        A.assemble()
        self.timings["assemble"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        self.R: PeriodicRestriction | None = None
        if problem.period is not None:
            self.R = periodic_restriction(self.V, problem.period, axes=problem.periodic_axes,
                                          origin=problem.origin)
            if self.bcs:
                _check_periodic_bcs(self.R, self.bcs, self.V, self.name)
            self.A = self.R.reduce(A)
            A.destroy()
        else:
            self.A = A
        self.timings["periodic"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        self.mean_zero = problem.mean_zero is not False and problem.mean_zero is not None
        if self.mean_zero:
            forms, inds = _group_measures(self.V, problem.mean_zero, problem.mean_zero_components)
            cs, ns = [], []
            for f, ind in zip(forms, inds):
                c = assemble_linear(dolfinx.fem.form(f))
                n = ind.x.petsc_vec.copy()
                if self.R is not None:
                    c, n = self.R.restrict(c), self.R.restrict(n)
                    n.setArray((n.getArray(readonly=True) > 0).astype(float))
                cs.append(c)
                ns.append(n)
            self.solver = MeanZeroSolver(self.A, cs, self.name, method=method, indicators=ns, options=options)
        else:
            self.solver = LinearSolver(self.A, self.name, method=method, options=options)
        self.timings["factor"] = time.perf_counter() - t0
        self.timings["solve"] = 0.0
        self.timings["rhs_jit"] = 0.0
        self._x = self.A.createVecRight()

    @property
    def dofs(self) -> int:
        """Number of unknowns actually solved for (periodic DOFs)."""
        return self.A.getSize()[0]

    def assemble_rhs(self, L, entity_maps=None) -> tuple["PETSc.Vec", float]:
        """(P^T b, ||b||_1) for a linear form (UFL or compiled; ghost contributions accumulated) or an
        assembled vector b (not modified). The norm is of b before periodic gluing: the scale for the
        compatibility defect (a right-hand side that only vanishes after gluing would otherwise be measured
        as noise over noise). ``entity_maps`` overrides the operator's (a right-hand side may couple to
        another submesh)."""
        if isinstance(L, PETSc.Vec):  # e.g. from homfx.forms.ParametrizedForm: copied only to change or return it
            b = L.copy() if self.bcs or self.R is None else L
        else:
            t0 = time.perf_counter()
            em = self.entity_maps if entity_maps is None else list(entity_maps)
            Lf = L if isinstance(L, dolfinx.fem.Form) else dolfinx.fem.form(L, entity_maps=em)
            self.timings["rhs_jit"] += time.perf_counter() - t0
            b = assemble_linear(Lf)
        if self.bcs:
            dolfinx.fem.petsc.set_bc(b, self.bcs)  # homogeneous: b = 0 on the constrained DOFs
        scale = b.norm(PETSc.NormType.NORM_1)
        if self.R is None:
            return b, scale
        b_red = self.R.restrict(b)
        if b is not L:
            b.destroy()
        return b_red, scale

    def compatibility(self, b_red, scale: float | None = None) -> list[float]:
        """Defect |int_{Y_g} f| / scale of the kernel condition per constraint group (empty when the operator
        is invertible)."""
        return self.solver.compatibility(b_red, scale) if self.mean_zero else []

    def solve_vector(self, b_red, name: str = "u") -> "dolfinx.fem.Function":
        """Solve with an already reduced right-hand side; returns the prolonged Function."""
        t0 = time.perf_counter()
        self.solver.solve(b_red, self._x)
        u = dolfinx.fem.Function(self.V, name=name)
        if self.R is not None:
            self.R.prolong(self._x, u.x.petsc_vec)
        else:
            self._x.copy(u.x.petsc_vec)
        u.x.scatter_forward()
        self.timings["solve"] += time.perf_counter() - t0
        return u

    def solve(self, rhs: Mapping[Hashable, "ufl.Form | dolfinx.fem.Form | PETSc.Vec"]) -> CellSolution:
        """Solve every right-hand side of ``rhs`` with the existing factorization."""
        sols, compat = {}, {}
        for k, L in rhs.items():
            b, scale = self.assemble_rhs(L)
            compat[k] = self.compatibility(b, scale)
            sols[k] = self.solve_vector(b, name=f"{self.name}[{k}]")
            b.destroy()
        return CellSolution(sols, compat, self.dofs, dict(self.timings))


def _check_homogeneous(bcs, V, name: str) -> list:
    """The bcs as a list; ValueError unless each is a DirichletBC on V (or a sub-space) with value 0."""
    bcs = list(bcs or ())
    for bc in bcs:
        if not isinstance(bc, dolfinx.fem.DirichletBC):
            raise TypeError(f"{name}: bcs must be dolfinx.fem.DirichletBC objects, got {type(bc).__name__}")
        vals = dolfinx.fem.Function(V).x.array  # zeros; the bc writes its values into it
        try:
            bc.set(vals)
        except Exception as e:  # noqa: BLE001 - a bc on another space
            raise ValueError(f"{name}: a Dirichlet condition is not defined on the cell problem's space: {e}")
        big = V.mesh.comm.allreduce(float(np.abs(vals).max(initial=0.0)), op=MPI.MAX)
        if big > 0.0:
            raise ValueError(f"{name}: only homogeneous Dirichlet conditions are supported (a value {big:g} "
                             "was given); lift non-zero data into the right-hand side")
    return bcs


def _check_periodic_bcs(R: PeriodicRestriction, bcs, V, name: str) -> None:
    """Periodic images of a constrained DOF must be constrained too (else gluing mixes a fixed and a free
    value): per reduced DOF, the number of constrained full DOFs is 0 or all of them."""
    constrained = dolfinx.fem.Function(V)
    for bc in bcs:
        constrained.x.array[bc.dof_indices()[0]] = 1.0
    counts = R.restrict(constrained.x.petsc_vec).getArray()
    mixed = int(np.count_nonzero((counts > 0) & (np.abs(counts - R.multiplicity()) > 0.5)))
    mixed = V.mesh.comm.allreduce(mixed, op=MPI.SUM)
    if mixed:
        raise ValueError(f"{name}: {mixed} periodic DOFs are constrained on one side of the cell but not on "
                         "the other: the Dirichlet set must be periodic")


def solve_cell_problem(problem: CellProblem, *, method: str = "lu", options: dict | None = None) -> CellSolution:
    """Assemble, reduce with P, factor once and solve every right-hand side of ``problem``."""
    return CellOperator(problem, method=method, options=options).solve(problem.rhs)
