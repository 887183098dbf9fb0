"""Linear solvers: factor once, solve many; mean-zero (pure Neumann) solves without pinning a node.

- :class:`LinearSolver` factors one operator with MUMPS LU (or sets up CG/GMRES + GAMG) and solves any
  number of right-hand sides. A failure raises :class:`SolverError` naming the problem and PETSc's
  converged reason.
- :class:`MeanZeroSolver` solves ``A x = b`` subject to ``c_g^T x = 0`` for each constraint group g
  (``c_g`` = the assembled ``\\int_{Y_g} v dx``). ``method="lu"`` uses explicit Lagrange multipliers (an exact
  weighted constraint; an incompatible RHS is projected automatically), ``method="cg"`` attaches the
  kernel as a PETSc nullspace, projects the RHS with c_g and shifts the solution to zero mean.
  In both cases the compatibility defect of every RHS is measured and returned.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from homfx._stack import MPI, PETSc

_counter = itertools.count()

_REASONS = {v: k for k, v in vars(PETSc.KSP.ConvergedReason).items() if isinstance(v, int)}


class SolverError(RuntimeError):
    """A linear solve failed; the message names the problem and PETSc's reason."""


def _reason_name(reason: int) -> str:
    return _REASONS.get(reason, str(reason))


@dataclass
class SolverTimings:
    setup: float = 0.0  # symbolic + numeric factorization (or preconditioner set-up)
    solves: list = field(default_factory=list)


class LinearSolver:
    """Factor (or set up) ``A`` once; ``solve(b)`` for as many right-hand sides as needed.

    ``method``: ``"lu"`` (MUMPS), ``"cg"`` (CG + GAMG), ``"gmres"`` (GMRES + GAMG) or ``"ilu-gmres"``.
    ``options`` are extra PETSc options under this solver's prefix (also settable from the command line
    with ``-<prefix>...``; the prefix is ``homfx_<name>_<n>_``). ``pc_matrix``: build the preconditioner
    (e.g. the LU) from this matrix instead of ``A`` (a lagged factorization for a slowly varying ``A``).
    When the values of ``A`` change, the next ``solve`` refactors (same pattern: numeric phase only).
    """

    def __init__(self, A: "PETSc.Mat", name: str, *, method: str = "lu", rtol: float = 1e-12,
                 atol: float = 1e-50, max_it: int = 2000, nullspace: "PETSc.NullSpace | None" = None,
                 options: dict | None = None, pc_matrix: "PETSc.Mat | None" = None):
        if method not in ("lu", "cg", "gmres", "ilu-gmres"):
            raise ValueError(f"unknown solver method {method!r}: use 'lu', 'cg', 'gmres' or 'ilu-gmres'")
        self.name, self.method, self.A = name, method, A
        self.timings = SolverTimings()
        safe = "".join(ch if ch.isalnum() else "_" for ch in name)
        self.prefix = f"homfx_{safe}_{next(_counter)}_"
        opts = PETSc.Options()
        base = {"lu": {"ksp_type": "preonly", "pc_type": "lu", "pc_factor_mat_solver_type": "mumps"},
                "cg": {"ksp_type": "cg", "pc_type": "gamg"},
                "gmres": {"ksp_type": "gmres", "pc_type": "gamg"},
                "ilu-gmres": {"ksp_type": "gmres", "pc_type": "bjacobi"}}[method]
        base.update(options or {})
        for k, v in base.items():
            opts[self.prefix + k] = v
        ksp = PETSc.KSP().create(A.comm)
        ksp.setOptionsPrefix(self.prefix)
        ksp.setOperators(A, pc_matrix)  # the preconditioner is built from pc_matrix when given (else A)
        self.pc_matrix = pc_matrix
        if nullspace is not None:
            A.setNullSpace(nullspace)
            if method != "lu":
                A.setNearNullSpace(nullspace)
        ksp.setTolerances(rtol=rtol, atol=atol, max_it=max_it)
        ksp.setFromOptions()
        self.ksp = ksp
        t0 = time.perf_counter()
        try:
            ksp.setUp()  # factor options (mat_mumps_*) are read here, so the options stay set until now
        except PETSc.Error as e:
            raise SolverError(f"{name}: set-up of the {method} solver failed: {e}; PC reason "
                              f"{ksp.getPC().getFailedReason()}") from e
        finally:
            for k in base:
                del opts[self.prefix + k]
        self._check_factor()
        self.timings.setup = time.perf_counter() - t0

    def _check_factor(self):
        if self.method != "lu":
            return
        F = self.ksp.getPC().getFactorMatrix()
        info = F.getMumpsInfog(1)
        if info < 0:
            raise SolverError(f"{self.name}: MUMPS factorization failed, INFOG(1)={info}, INFOG(2)="
                              f"{F.getMumpsInfog(2)} (singular or out of memory?)")

    def solve(self, b: "PETSc.Vec", x: "PETSc.Vec | None" = None) -> "PETSc.Vec":
        x = self.A.createVecRight() if x is None else x
        t0 = time.perf_counter()
        self.ksp.solve(b, x)
        self.timings.solves.append(time.perf_counter() - t0)
        reason = self.ksp.getConvergedReason()
        if reason < 0:
            raise SolverError(
                f"{self.name}: {self.method} solve did not converge: {_reason_name(reason)} ({reason}) after "
                f"{self.ksp.getIterationNumber()} iterations, residual {self.ksp.getResidualNorm():.3e}; "
                f"PC failed reason {self.ksp.getPC().getFailedReason()}")
        return x

    @property
    def iterations(self) -> int:
        return self.ksp.getIterationNumber()

    def destroy(self):
        self.ksp.destroy()


def _column_matrix(vecs: Sequence["PETSc.Vec"], comm) -> "PETSc.Mat":
    """An (n x m) AIJ matrix with the given vectors as columns; the m columns are owned by rank 0."""
    m = len(vecs)
    n_local, n_global = vecs[0].getLocalSize(), vecs[0].getSize()
    m_local = m if comm.rank == 0 else 0
    vals = np.column_stack([v.getArray(readonly=True) for v in vecs]) if n_local else np.zeros((0, m))
    indptr = np.arange(0, n_local * m + 1, m, dtype=PETSc.IntType)
    cols = np.tile(np.arange(m, dtype=PETSc.IntType), n_local)
    C = PETSc.Mat().createAIJ(((n_local, n_global), (m_local, m)), csr=(indptr, cols, vals.ravel()), comm=comm)
    C.assemble()
    return C


class MeanZeroSolver:
    """Solve ``A x = b`` with ``c_g^T x = 0`` for each group g, ``A`` singular with kernel spanned by the
    indicator vectors ``n_g`` (one constant per connected piece). Factor once, solve many.

    ``constraints``: the vectors c_g (e.g. P^T of the assembled ``v*dx`` over the group).
    ``indicators``: the kernel vectors n_g (1 on the group's DOFs); needed for ``method="cg"`` and for the
    compatibility report (defaults to ``c_g != 0``, which is only right for P1).
    """

    def __init__(self, A: "PETSc.Mat", constraints: Sequence["PETSc.Vec"], name: str, *, method: str = "lu",
                 indicators: Sequence["PETSc.Vec"] | None = None, rtol: float = 1e-12, options=None):
        self.name, self.method, self.A = name, method, A
        self.comm = A.comm
        self.c = list(constraints)
        if not self.c:
            raise ValueError(f"{name}: MeanZeroSolver needs at least one constraint")
        if indicators is None:
            indicators = []
            for c in self.c:
                n = c.duplicate()
                n.setArray((np.abs(c.getArray(readonly=True)) > 0).astype(float))
                indicators.append(n)
        self.n = list(indicators)
        self._cn = [c.dot(n) for c, n in zip(self.c, self.n)]
        if method == "lu":
            C = _column_matrix(self.c, self.comm)
            CT = C.transpose(PETSc.Mat())
            Knest = PETSc.Mat().createNest([[A, C], [CT, None]], comm=self.comm)
            self._is_u, self._is_l = Knest.getNestISs()[0]
            self.K = Knest.convert("aij", PETSc.Mat())
            self.solver = LinearSolver(self.K, name, method="lu", options=options)
            self._rhs = self.K.createVecRight()
            self._sol = self.K.createVecRight()
        else:
            basis = []
            for n in self.n:
                v = n.copy()
                v.normalize()
                basis.append(v)
            ns = PETSc.NullSpace().create(constant=False, vectors=basis, comm=self.comm)
            self.solver = LinearSolver(A, name, method=method, rtol=rtol, nullspace=ns, options=options)

    @property
    def timings(self) -> SolverTimings:
        return self.solver.timings

    def compatibility(self, b: "PETSc.Vec", scale: float | None = None) -> list[float]:
        """|n_g^T b| / scale per group (default scale: sum|b|): 0 for a compatible right-hand side."""
        scale = max(b.norm(PETSc.NormType.NORM_1) if scale is None else scale, 1e-300)
        return [abs(n.dot(b)) / scale for n in self.n]

    def solve(self, b: "PETSc.Vec", x: "PETSc.Vec | None" = None) -> "PETSc.Vec":
        x = self.A.createVecRight() if x is None else x
        if self.method == "lu":
            sub = self._rhs.getSubVector(self._is_u)
            b.copy(sub)
            self._rhs.restoreSubVector(self._is_u, sub)
            lam = self._rhs.getSubVector(self._is_l)
            lam.set(0.0)
            self._rhs.restoreSubVector(self._is_l, lam)
            self.solver.solve(self._rhs, self._sol)
            sub = self._sol.getSubVector(self._is_u)
            sub.copy(x)
            self._sol.restoreSubVector(self._is_u, sub)
        else:
            bb = b.copy()
            for c, n, cn in zip(self.c, self.n, self._cn):
                bb.axpy(-n.dot(bb) / cn, c)  # replace f by f - <f> (notes: c-projection)
            self.solver.solve(bb, x)
            bb.destroy()
        for c, n, cn in zip(self.c, self.n, self._cn):
            x.axpy(-c.dot(x) / cn, n)  # integral-mean shift (exact already for "lu")
        return x


def to_scipy(A: "PETSc.Mat"):
    """A serial assembled PETSc AIJ matrix as SciPy CSR."""
    import scipy.sparse as sp

    ia, ja, a = A.getValuesCSR()
    return sp.csr_matrix((a, ja, ia), shape=A.getSize())


def saddle_point_matrix(K, B) -> "PETSc.Mat":
    """[[K, B^T], [B, 0]] from SciPy matrices as a serial (COMM_SELF) PETSc AIJ matrix, with the zero block
    kept explicit for MUMPS. For explicit constraint rows B on local (per-rank) problems."""
    import scipy.sparse as sp

    nc = B.shape[0]
    A = sp.bmat([[K, B.T], [B, sp.csr_matrix((nc, nc))]], format="csr")
    A.sort_indices()
    M = PETSc.Mat().createAIJ(A.shape, csr=(A.indptr.astype(PETSc.IntType), A.indices.astype(PETSc.IntType),
                                            A.data), comm=MPI.COMM_SELF)
    M.assemble()
    return M
