"""homfx: periodic and multicontinuum homogenization with FEniCSx (dolfinx 0.11).

The core is small: :mod:`homfx.geometry` (periodic gmsh cells), :mod:`homfx.periodic` (the periodic
restriction P without dolfinx_mpc), :mod:`homfx.solvers` (factor once, solve many), :mod:`homfx.averages`
(volume and interface means) and :mod:`homfx.cellproblem` (a cell problem = UFL forms + constraints).
Applications live in :mod:`homfx.elliptic`, :mod:`homfx.dmri`, :mod:`homfx.wave` and
:mod:`homfx.multicontinuum`.
"""

from homfx import _stack  # noqa: F401  (imports dolfinx_solver first)

__version__ = "0.1.0"
