"""Serial == parallel. Marked ``mpi``: `make test` also runs these under `mpirun -n 2`, where each test
computes on COMM_WORLD and, on rank 0, the same thing on COMM_SELF, and compares."""

import numpy as np
import pytest
import ufl

from homfx._stack import MPI, dolfinx
from homfx.averages import integrate, interface_measure
from homfx.elliptic import effective_tensor
from homfx.geometry import Inclusion, inclusion_cell, laminate_cell

pytestmark = pytest.mark.mpi

WORLD = MPI.COMM_WORLD


def _on_world_and_self(fn):
    """fn(comm) on COMM_WORLD (all ranks) and on COMM_SELF (rank 0 only); returns both on rank 0."""
    par = fn(WORLD)
    ser = fn(MPI.COMM_SELF) if WORLD.rank == 0 else None
    return WORLD.bcast((par, ser), root=0)


def test_effective_tensor_serial_equals_parallel():
    incs = [Inclusion.disk((0.95, 0.5), 0.22), Inclusion.ellipse((0.35, 0.25), 0.2, 0.1, 0.6)]

    def run(comm):
        return effective_tensor(inclusion_cell(incs, 0.03, order=2, comm=comm), {"e": 1.0, "c": 7.0},
                                degree=2).A_eff

    par, ser = _on_world_and_self(run)
    assert np.max(np.abs(par - ser)) < 1e-10 * np.abs(ser).max()


def test_perforated_and_3d_serial_equals_parallel():
    def run(comm):
        a = effective_tensor(inclusion_cell([Inclusion.disk((0.5, 0.5), 0.3)], 0.05, comm=comm),
                             {"e": 1.0, "c": 0.0}).A_eff
        b = effective_tensor(laminate_cell(3, 4, (0.25, 0.75), comm=comm), {"phase0": 2.0, "phase1": 0.5}).A_eff
        return a, b

    (pa, pb), (sa, sb) = _on_world_and_self(run)
    assert np.max(np.abs(pa - sa)) < 1e-10 * np.abs(sa).max()
    assert np.max(np.abs(pb - sb)) < 1e-10 * np.abs(sb).max()


def test_iterative_solver_serial_equals_parallel():
    def run(comm):
        cell = inclusion_cell([Inclusion.disk((0.5, 0.5), 0.25)], 0.04, comm=comm)
        return effective_tensor(cell, {"e": 1.0, "c": 3.0}, method="cg").A_eff

    par, ser = _on_world_and_self(run)
    assert np.max(np.abs(par - ser)) < 1e-9 * np.abs(ser).max()


def test_interface_sides_independent_of_partition():
    """int_Gamma (u('+') - u('-'))^2 with '+' on the matrix: u = DG0 phase indicator -> |Gamma| exactly,
    on every partition (a wrong '+'/'-' choice would silently give ~0 or a partition-dependent value)."""

    def run(comm):
        cell = inclusion_cell([Inclusion.disk((0.5, 0.5), 0.3)], 0.05, comm=comm)
        Q = dolfinx.fem.functionspace(cell.mesh, ("DG", 0))
        ind = dolfinx.fem.Function(Q)
        cta = cell.cell_tag_array()
        ind.x.array[Q.dofmap.list[np.isin(cta, cell.phase_tags("e"))].ravel()] = 1.0
        ind.x.scatter_forward()
        dS = interface_measure(cell, "e")
        plus = integrate(ind("+") * dS)
        minus = integrate(ind("-") * dS)
        n = ufl.FacetNormal(cell.mesh)
        x = ufl.SpatialCoordinate(cell.mesh)
        r = x - ufl.as_vector([0.5, 0.5])
        # the normal out of the inclusion is n('-'): int nu . r/|r| = |Gamma|
        flux = integrate(ufl.inner(n("-"), r("-")) / ufl.sqrt(ufl.inner(r("-"), r("-"))) * dS)
        return plus, minus, flux

    (pp, pm, pf), (sp, sm, sf) = _on_world_and_self(run)
    assert abs(pm) < 1e-14 and abs(sm) < 1e-14
    assert abs(pp - sp) < 1e-12 and abs(pf - pp) < 5e-3 * pp  # polygonal normals: O(h^2)
    assert abs(pp - 2 * np.pi * 0.3) < 5e-3
