"""Linear forms compiled once and assembled for many coefficient values.

A cascade of cell problems has many right-hand sides of the same shape: chi_ij = -int D omega_j d_i v for
every (i, j) differs only in the data omega_j and the direction e_i. Creating one dolfinx Form per
right-hand side costs a JIT-cache lookup and the C++ form set-up each time (several ms). A
:class:`ParametrizedForm` declares the shape once in UFL, with a :class:`dolfinx.fem.Function` and/or
:class:`dolfinx.fem.Constant` as *slots*, and assembles it for any values put into the slots::

    w, e = dolfinx.fem.Function(V), dolfinx.fem.Constant(msh, (0.0, 0.0))
    L = ParametrizedForm(-D * w * ufl.dot(e, ufl.grad(v)) * dx, w=w, e=e)
    b = L.assemble(w=omega[j], e=unit(i))     # a new PETSc Vec, ghost contributions accumulated

The vectors it returns are plain assembled right-hand sides (before any periodic gluing): they can be
passed to :meth:`homfx.cellproblem.CellOperator.solve` in place of a UFL form, and dotted with
solution vectors to evaluate exact discrete integrals (int w d_i u = w . N_i u).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import ufl

from homfx._stack import PETSc, dolfinx


def unit_vector(i: int, dim: int) -> np.ndarray:
    """e_i in R^dim (a value for a vector Constant slot)."""
    e = np.zeros(dim)
    e[i] = 1.0
    return e


def assemble_linear(form) -> "PETSc.Vec":
    """Assemble a compiled linear form into a new ghosted PETSc vector, ghost contributions accumulated."""
    b = dolfinx.fem.petsc.assemble_vector(form)
    b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
    return b


class ParametrizedForm:
    """A linear UFL form compiled once; its Function and Constant slots are filled per :meth:`assemble`."""

    def __init__(self, L: ufl.Form, *, entity_maps: Sequence | None = None, **slots):
        if len(L.arguments()) != 1:
            raise ValueError(f"ParametrizedForm needs a linear form (one argument), got {len(L.arguments())}")
        coeffs, consts = set(L.coefficients()), set(L.constants())
        for name, s in slots.items():
            if isinstance(s, dolfinx.fem.Function):
                if s not in coeffs:
                    raise ValueError(f"slot {name!r} is a Function the form does not use")
            elif isinstance(s, dolfinx.fem.Constant):
                if s not in consts:
                    raise ValueError(f"slot {name!r} is a Constant the form does not use")
            else:
                raise TypeError(f"slot {name!r} must be a dolfinx Function or Constant, got {type(s).__name__}")
        self.slots = dict(slots)
        self.form = dolfinx.fem.form(L, entity_maps=list(entity_maps) if entity_maps else None)

    def set(self, **values) -> None:
        """Put values into slots: a Function slot takes a Function on the same space or a number (filled);
        a Constant slot takes anything of its shape."""
        for name, val in values.items():
            if name not in self.slots:
                raise KeyError(f"unknown slot {name!r}; the slots are {sorted(self.slots)}")
            s = self.slots[name]
            if isinstance(s, dolfinx.fem.Function):
                if isinstance(val, dolfinx.fem.Function):
                    if val.x.array.shape != s.x.array.shape:
                        raise ValueError(f"slot {name!r}: the Function is on another space")
                    s.x.array[:] = val.x.array
                else:
                    s.x.array[:] = float(val)
            else:
                v = np.asarray(val, dtype=s.value.dtype)
                if v.shape != np.shape(s.value):
                    raise ValueError(f"slot {name!r}: value of shape {v.shape}, the Constant has {np.shape(s.value)}")
                s.value = v

    def assemble(self, **values) -> "PETSc.Vec":
        """Set the slots and assemble: a new vector (the caller destroys it)."""
        self.set(**values)
        return assemble_linear(self.form)
