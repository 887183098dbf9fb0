"""The dMRI cell problems (Kchaou & Li, (3.18)-(3.23); spec bloch_torrey.md section 2) as UFL declarations.

Each compartment alpha in {e, c} lives on its own submesh Y^alpha (homfx.geometry.sub_cell), with a P_k
Lagrange space V^alpha. All forms are integrated over the PARENT mesh (dx restricted to the tags of alpha,
dS over Gamma with '+' = the Y^e side on every facet) and passed the EntityMap of the submesh. The fixed
normal nu points out of Y^c; s_e = +1, s_c = -1. The weak forms (spec 2.0, 2.1-2.4) need no normals:

    a(u, v)       = int D grad u . grad v                                  (one operator per compartment)
    omega_i (3.18): a(w, v) = -int D d_i v
    chi_ij  (3.21): a(w, v) = -int D omega_j d_i v                           (Gamma flux built in, spec 2.2)
    phi_ij  (3.22): a(w, v) =  int (D d_i omega_j + D delta_ij - DD_ij) v
    psi     (3.23, sign CORRECTED, spec 2.4 / errata 1): a(w, v) = s theta int v - s int_Gamma v

Y^e is periodic (one constant in the kernel); Y^c is a union of isolated inclusions: pure Neumann, mean
zero on each inclusion (spec 2.6; Fig. 8: per cell). For the psi^c source each inclusion k uses its own
discrete theta_k = |Gamma_k|_h / |Y^c_k|_h, which makes every right-hand side compatible to round-off; the
theta_k must agree (equal surface-to-volume ratios, spec 2.6) or a ValueError is raised.
Every right-hand side is checked against the corrected compatibility condition (A.1): the defect
|sum of the reduced RHS over a kernel piece| / (sum of the l1 norms of its contributions) must be
<= 1e-10, else a CompatibilityError naming the problem (the maxima are reported per problem family).

The right-hand sides are assembled from three UFL linear forms compiled once per compartment, with a
coefficient slot w and a direction slot e (:class:`CompartmentIntegrals`: int w v, int d_i w v, int w d_i v;
homfx.forms.ParametrizedForm): omega_i = -D n_i, chi_ij = -D N_i^T omega_j, phi_ij = D N_i omega_j + c_ij 1.
The same vectors give the tensor averages as dot products (effective.py), so no matrix is assembled for them.

All cell problems of one compartment share ONE factorization (:class:`SharedFactorization`): omega and psi
are solved first, then chi and phi (which need omega and DD) with the same factors.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import ufl

from homfx._stack import PETSc, dolfinx
from homfx.cellproblem import CellOperator, CellProblem, CellSolution
from homfx.forms import ParametrizedForm, assemble_linear, unit_vector
from homfx.dmri.cells import check_compartments, interface_dS
from homfx.geometry import INCLUSION_TAG0, CellMesh, sub_cell

SIGN = {"e": 1.0, "c": -1.0}
COMPATIBILITY_TOL = 1e-10
THETA_TOL = 1e-2  # relative spread of the per-inclusion surface-to-volume ratios allowed (O(h^2) mesh noise)


class CompatibilityError(ValueError):
    """A cell problem right-hand side violates the (corrected) compatibility condition (A.1)."""


def check_diffusivity(name: str, D) -> float:
    if not (isinstance(D, (int, float, np.floating)) and math.isfinite(D) and D > 0):
        raise ValueError(f"{name} must be a positive diffusivity (mm^2/s), got {D!r}")
    return float(D)


@dataclass
class Compartment:
    """One compartment alpha: its submesh and space, the parent-mesh measures, geometry constants."""

    name: str  # "e" or "c"
    D: float
    cell: CellMesh  # the parent cell
    sub: CellMesh  # the submesh Y^alpha
    emap: object  # dolfinx EntityMap sub -> parent
    V: object  # P_degree on the submesh
    dx: ufl.Measure  # parent dx restricted to alpha: use self.dx(self.tags)
    tags: tuple
    dS: ufl.Measure  # parent dS over Gamma, '+' = Y^e side
    volume: float = 0.0  # |Y^alpha|_h
    gamma: float = 0.0  # |Gamma|_h
    groups: list = field(default_factory=list)  # mean-zero groups: submesh cell arrays, or True (one piece)
    integrals: "CompartmentIntegrals | None" = None

    @property
    def sign(self) -> float:
        return SIGN[self.name]

    @property
    def side(self) -> str:
        return "+" if self.name == "e" else "-"

    @property
    def theta(self) -> float:
        return self.gamma / self.volume

    @property
    def dim(self) -> int:
        return self.cell.dim

    def trace(self, f):
        """The trace on Gamma of a function of this compartment."""
        return f(self.side)

    def dxa(self):
        return self.dx(self.tags)


def make_compartment(cell: CellMesh, name: str, D: float, degree: int = 1) -> Compartment:
    """Submesh, space, measures and integrals of compartment ``name`` ('e' or 'c'). Collective."""
    if name not in SIGN:
        raise ValueError(f"compartment must be 'e' or 'c', got {name!r}")
    if degree not in (1, 2):
        raise ValueError(f"degree must be 1 or 2, got {degree!r}")
    D = check_diffusivity(f"D{name}", D)
    sub, emap = sub_cell(cell, [name])
    V = dolfinx.fem.functionspace(sub.mesh, ("Lagrange", degree))
    dx = ufl.Measure("dx", domain=cell.mesh, subdomain_data=cell.cell_tags)
    comp = Compartment(name, D, cell, sub, emap, V, dx, cell.phase_tags(name), interface_dS(cell))
    if name == "e":
        comp.groups = True
    else:
        sub_tags = sub.cell_tag_array()
        comp.groups = [np.flatnonzero(sub_tags == t).astype(np.int32) for t in comp.tags]
    comp.integrals = ig = CompartmentIntegrals(comp)
    # |Y^a|_h = sum_a int phi_a and |Gamma|_h = sum_a int_Gamma phi_a: the same quadrature as the right-hand
    # sides, so that the psi sources are compatible to round-off also on curved (P2) cells
    comp.volume, comp.gamma = ig.one.sum(), ig.gamma.sum()
    if name == "c":
        th = np.array([p.theta for p in ig.pieces])
        spread = float(np.max(np.abs(th - comp.theta)) / comp.theta)
        if spread > THETA_TOL:
            raise ValueError(
                "the inclusions have different surface-to-volume ratios |Gamma_k|/|Y^c_k| = "
                f"{np.round(th, 4).tolist()}: the single intra-cellular compartment model needs equal ratios "
                "(spec 2.6; e.g. identical disks)")
    return comp


# ---------------------------------------------------------------------------------------------------------
# UFL declarations


def _trial_test(comp: Compartment):
    return ufl.TrialFunction(comp.V), ufl.TestFunction(comp.V)


def operator_form(comp: Compartment) -> ufl.Form:
    """a(u, v) = int_{Y^alpha} D grad u . grad v (parent-mesh dx, submesh arguments)."""
    u, v = _trial_test(comp)
    return comp.D * ufl.inner(ufl.grad(u), ufl.grad(v)) * comp.dxa()


@dataclass
class Piece:
    """One mean-zero piece of the compartment (Y^e, or one inclusion Y^c_k): theta_k = |Gamma_k|/|Y_k| and
    the vectors int_{Y_k} phi_a, int_{Gamma_k} phi_a."""

    theta: float
    one: object
    gamma: object


class CompartmentIntegrals:
    """Exact discrete integrals over Y^alpha as assembled vectors (rows: the test functions phi_a of V^alpha;
    spec 8.6). Three UFL linear forms, compiled once with a coefficient slot w and a direction slot e, give
    every right-hand side of the cell problems and every average in the tensors::

        mass(w)       = int w phi_a          (= M w)
        d_trial(i, w) = int d_i w phi_a      (= N_i w)
        d_test(i, w)  = int w d_i phi_a      (= N_i^T w)

    with ``one`` = int phi_a, ``gamma`` = int_Gamma phi_a, ``n[i]`` = int d_i phi_a, and ``pieces`` (one per
    mean-zero group: Y^e, or each inclusion of Y^c). Integrals of functions are then dot products:
    int w u = M w . u, int d_i u = n_i . u, int_Gamma u = gamma . u."""

    def __init__(self, comp: Compartment):
        v = ufl.TestFunction(comp.V)
        d, em, dxa = comp.dim, [comp.emap], comp.dxa()
        w = dolfinx.fem.Function(comp.V)
        e = dolfinx.fem.Constant(comp.cell.mesh, np.zeros(d))
        self.dim = d
        self._mass = ParametrizedForm(w * v * dxa, entity_maps=em, w=w)
        self._d_trial = ParametrizedForm(ufl.dot(e, ufl.grad(w)) * v * dxa, entity_maps=em, w=w, e=e)
        self._d_test = ParametrizedForm(w * ufl.dot(e, ufl.grad(v)) * dxa, entity_maps=em, w=w, e=e)
        self.one = self.mass(1.0)
        self.gamma = _assemble(comp.trace(v) * comp.dS(comp.cell.interface_tags()), em)
        self.n = [self.d_test(i, 1.0) for i in range(d)]
        if comp.name == "e":
            self.pieces = [Piece(self.gamma.sum() / self.one.sum(), self.one, self.gamma)]
        else:  # each inclusion k: its own discrete theta_k, which makes psi^c compatible to round-off
            self.pieces = []
            for i, ft in sorted(comp.cell.interfaces.items()):
                one_k = _assemble(v * comp.dx(INCLUSION_TAG0 + i), em)
                gam_k = _assemble(comp.trace(v) * comp.dS(ft), em)
                self.pieces.append(Piece(gam_k.sum() / one_k.sum(), one_k, gam_k))

    def mass(self, w) -> "PETSc.Vec":
        return self._mass.assemble(w=w)

    def d_trial(self, i: int, w) -> "PETSc.Vec":
        return self._d_trial.assemble(w=w, e=unit_vector(i, self.dim))

    def d_test(self, i: int, w) -> "PETSc.Vec":
        return self._d_test.assemble(w=w, e=unit_vector(i, self.dim))

    def dmean(self, i: int, u) -> float:
        """int d_i u."""
        return dot(self.n[i], u)

    def gamma_int(self, u) -> float:
        """int_Gamma u."""
        return dot(self.gamma, u)


def _assemble(L, entity_maps) -> "PETSc.Vec":
    return assemble_linear(dolfinx.fem.form(L, entity_maps=entity_maps))


def _vec(u):
    return u.x.petsc_vec if hasattr(u, "x") else u


def dot(b, u) -> float:
    """b . u over the owned entries (b an assembled vector, u a Function or vector): an exact discrete integral."""
    return float(_vec(b).dot(_vec(u)))


def lincomb(*terms) -> "PETSc.Vec":
    """sum_k c_k b_k for (c_k, b_k) pairs: a new vector."""
    (c0, b0), rest = terms[0], terms[1:]
    out = b0.copy()
    out.scale(c0)
    for c, b in rest:
        out.axpy(c, b)
    return out


# Right-hand sides (spec 2.1-2.4): {key: vector} or {key: (vector, compatibility scale)}; the scale is the
# size of the source's contributions (spec 2.6: defect relative to the l1 norm of the contributions).


def omega_rhs(comp: Compartment) -> dict:
    """(3.18): -int D d_i v = -D n_i (G = D e_i, no Gamma data; compatible)."""
    return {("omega", i): lincomb((-comp.D, n)) for i, n in enumerate(comp.integrals.n)}


def psi_rhs(comp: Compartment) -> dict:
    """(3.23) corrected: s theta int v - s int_Gamma v (spec 2.4), per piece k with its own theta_k."""
    s = comp.sign
    terms = [t for p in comp.integrals.pieces for t in ((s * p.theta, p.one), (-s, p.gamma))]
    scale = sum(abs(c) * b.norm(PETSc.NormType.NORM_1) for c, b in terms)
    return {"psi": (lincomb(*terms), scale)}


def chi_rhs(comp: Compartment, Nt_omega) -> dict:
    """(3.21): -int D omega_j d_i v = -D N_i^T omega_j (the Gamma term of (3.21) is built in; spec 2.2)."""
    d = comp.dim
    return {("chi", i, j): lincomb((-comp.D, Nt_omega[i][j])) for i in range(d) for j in range(d)}


def phi_rhs(comp: Compartment, N_omega, DD: np.ndarray) -> dict:
    """(3.22): int (D d_i omega_j + D delta_ij - DD_ij) v = D N_i omega_j + (D delta_ij - DD_ij) one, with
    DD = the homogenized tensor (3.17) of this mesh. The compatibility scale is the size of each
    contribution (D d_i omega_j, D, DD_ij), so that an identically vanishing source (phi^c for isolated
    inclusions) is measured against D |Y^c|, not 0."""
    d, D, one = comp.dim, comp.D, comp.integrals.one
    norm1 = lambda b: b.norm(PETSc.NormType.NORM_1)  # noqa: E731
    out = {}
    for i in range(d):
        for j in range(d):
            c = D * (i == j) - float(DD[i, j])
            scale = D * norm1(N_omega[i][j]) + (D + abs(float(DD[i, j]))) * norm1(one)
            out[("phi", i, j)] = (lincomb((D, N_omega[i][j]), (c, one)), scale)
    return out


@dataclass
class DmriCellProblem(CellProblem):
    """A CellProblem with, per right-hand side, the size of its contributions (the compatibility scale)."""

    terms: dict = field(default_factory=dict)


def cell_problem(comp: Compartment, a: ufl.Form, rhs_terms: dict, name: str) -> DmriCellProblem:
    """The engine declaration: periodic for Y^e, pure Neumann with mean zero per inclusion for Y^c.
    ``rhs_terms``: key -> vector, (vector, scale), or a list of UFL terms (their sum is the form; each
    term's size enters the scale)."""
    rhs, terms = {}, {}
    for k, t in rhs_terms.items():
        if isinstance(t, tuple):  # (vector or form, compatibility scale)
            rhs[k], terms[k] = t[0], [t[1]]
        elif isinstance(t, list):  # UFL terms: the sum is the form
            rhs[k], terms[k] = sum(t[1:], t[0]), t
        else:
            rhs[k] = t
    return DmriCellProblem(a=a, rhs=rhs,
                           name=f"dmri {name} [{comp.name}]",
                           period=comp.cell.lengths if comp.name == "e" else None,
                           mean_zero=comp.groups, entity_maps=[comp.emap], terms=terms)


# ---------------------------------------------------------------------------------------------------------
# one factorization per compartment


class SharedFactorization:
    """The engine's :class:`homfx.cellproblem.CellOperator` (assembled, reduced and factored once) with the
    dMRI compatibility check: solves the right-hand sides of any CellProblem declared with the same bilinear
    form object (staged solves: omega and psi, then chi and phi), checking the corrected (A.1) first."""

    def __init__(self, problem: CellProblem, method: str = "lu"):
        self.a = problem.a
        self.op = CellOperator(problem, method=method)
        self.V = self.op.V
        self.setup_seconds = sum(self.op.timings[k] for k in ("jit", "assemble", "periodic", "factor"))
        self.num_factorizations = 1

    @property
    def dofs(self) -> int:
        return self.op.dofs

    def compatibility(self, b_red, terms=(), entity_maps=None) -> list:
        """Corrected (A.1), discrete: |n_g^T b| / (sum of the sizes of the terms), per kernel piece g (the
        terms' sizes, because a right-hand side can vanish identically, e.g. phi^c). A term is a number
        (its size) or a UFL form (assembled, l1 norm)."""
        scale = None
        if terms:
            scale = 0.0
            for t in terms:
                if isinstance(t, (int, float)):
                    scale += float(t)
                else:
                    bt, s_t = self.op.assemble_rhs(t, entity_maps)
                    scale += s_t
                    bt.destroy()
        return self.op.compatibility(b_red, scale)

    def solve(self, problem: CellProblem) -> CellSolution:
        """Solve every right-hand side of ``problem`` with the kept factorization; check (A.1) first."""
        if problem.a is not self.a:
            raise ValueError(f"{problem.name}: declared with another bilinear form than the factored one")
        t0 = time.perf_counter()
        em = problem.entity_maps or None  # rhs may couple to the other compartment (appendix N)
        terms = getattr(problem, "terms", {})
        sols, compat = {}, {}
        for k, L in problem.rhs.items():
            b_red, scale = self.op.assemble_rhs(L, em)
            compat[k] = self.op.compatibility(b_red, scale)
            if k in terms and max(compat[k], default=0.0) > COMPATIBILITY_TOL:
                # relative to ||b||_1 a right-hand side that vanishes identically (phi^c) is noise over
                # noise: measure it against the sizes of its terms instead
                compat[k] = self.compatibility(b_red, terms[k], em)
            if max(compat[k], default=0.0) > COMPATIBILITY_TOL:
                raise CompatibilityError(
                    f"{problem.name}[{k}]: right-hand side incompatible with the pure-Neumann kernel "
                    f"(corrected (A.1)): defect per piece {np.array(compat[k]).tolist()} > {COMPATIBILITY_TOL}")
            sols[k] = self.op.solve_vector(b_red, name=_fname(k))
            b_red.destroy()
        return CellSolution(sols, compat, self.dofs, {"solve": time.perf_counter() - t0})


def _fname(key) -> str:
    if isinstance(key, tuple):
        return key[0] + "".join(str(i + 1) for i in key[1:])
    return str(key)


def _destroy_vectors(rhs: dict) -> None:
    for b in rhs.values():
        if isinstance(b, PETSc.Vec):
            b.destroy()


# ---------------------------------------------------------------------------------------------------------
# tensor building blocks


def interface_mass(ca: Compartment, cb: Compartment):
    """G^{ab}: int_Gamma u_b v_a (rows: test functions of ``ca``, columns: trial functions of ``cb``)."""
    u = ufl.TrialFunction(cb.V)
    v = ufl.TestFunction(ca.V)
    em = [ca.emap] if ca is cb else [ca.emap, cb.emap]
    form = cb.trace(u) * ca.trace(v) * ca.dS(ca.cell.interface_tags())
    G = dolfinx.fem.petsc.assemble_matrix(dolfinx.fem.form(form, entity_maps=em))
    G.assemble()
    return G


def bilinear(w, A, u) -> float:
    """w^T A u for a matrix A (e.g. int_Gamma w u with A = interface_mass)."""
    y = A.createVecLeft()
    A.mult(_vec(u), y)
    val = float(y.dot(_vec(w)))
    y.destroy()
    return val


def diffusion_tensor(comp: Compartment, omega) -> np.ndarray:
    """(3.17): DD_ij = <D (d_i omega_j + delta_ij)>_{Y^alpha}."""
    d, ig = comp.dim, comp.integrals
    return np.array([[comp.D * ((i == j) + ig.dmean(i, omega[j]) / comp.volume) for j in range(d)]
                     for i in range(d)])


# ---------------------------------------------------------------------------------------------------------
# driver


@dataclass
class Correctors:
    """All cell solutions of one compartment (dolfinx Functions on the submesh), and the vectors
    M omega_j, N_i omega_j, N_i^T omega_j (CompartmentIntegrals) that the right-hand sides of chi, phi and the
    tensor averages share."""

    comp: Compartment
    omega: list  # [i]
    chi: list  # [i][j]
    phi: list  # [i][j]
    psi: object
    DD: np.ndarray
    M_omega: list  # [j]: int omega_j phi_a
    N_omega: list  # [i][j]: int d_i omega_j phi_a
    Nt_omega: list  # [i][j]: int omega_j d_i phi_a
    compatibility: dict  # family -> max defect over keys and pieces
    dofs: int
    factor: SharedFactorization

    @property
    def integrals(self) -> CompartmentIntegrals:
        return self.comp.integrals

    def X(self, j, k):
        """X_jk = chi_jk + phi_jk as a PETSc vector (only the sum enters the tensors)."""
        x = self.chi[j][k].x.petsc_vec.copy()
        x.axpy(1.0, self.phi[j][k].x.petsc_vec)
        return x


def solve_correctors(comp: Compartment, method: str = "lu") -> Correctors:
    """omega, psi, then chi, phi of one compartment, with one factorization. Collective."""
    d, ig = comp.dim, comp.integrals
    a = operator_form(comp)
    p1 = cell_problem(comp, a, {**omega_rhs(comp), **psi_rhs(comp)}, "omega+psi")
    fac = SharedFactorization(p1, method=method)
    s1 = fac.solve(p1)
    _destroy_vectors(p1.rhs)
    omega = [s1[("omega", i)] for i in range(d)]
    M_omega = [ig.mass(w) for w in omega]
    N_omega = [[ig.d_trial(i, w) for w in omega] for i in range(d)]
    Nt_omega = [[ig.d_test(i, w) for w in omega] for i in range(d)]
    DD = diffusion_tensor(comp, omega)
    p2 = cell_problem(comp, a, {**chi_rhs(comp, Nt_omega), **phi_rhs(comp, N_omega, DD)}, "chi+phi")
    s2 = fac.solve(p2)
    _destroy_vectors(p2.rhs)
    compat = {}
    for sol in (s1, s2):
        for k, v in sol.compatibility.items():
            fam = k[0] if isinstance(k, tuple) else k
            compat[fam] = max(compat.get(fam, 0.0), max(v) if v else 0.0)
    chi = [[s2[("chi", i, j)] for j in range(d)] for i in range(d)]
    phi = [[s2[("phi", i, j)] for j in range(d)] for i in range(d)]
    for f in omega + [s1["psi"]]:
        f.name = f"{f.name}_{comp.name}"
    return Correctors(comp, omega, chi, phi, s1["psi"], DD, M_omega, N_omega, Nt_omega, compat, fac.dofs, fac)


def make_compartments(cell: CellMesh, De: float, Dc: float, degree: int = 1) -> dict:
    """{'e': Compartment, 'c': Compartment} after validating the cell and the diffusivities."""
    De = check_diffusivity("De", De)
    Dc = check_diffusivity("Dc", Dc)
    check_compartments(cell)
    order = cell.mesh.geometry.cmaps[0].degree
    if degree == 2 and order == 1:
        import warnings

        warnings.warn("P2 on a straight-sided (order 1) mesh: the polygonal Gamma limits the accuracy to O(h^2); "
                      "build the cell with order=2", stacklevel=2)
    return {"e": make_compartment(cell, "e", De, degree), "c": make_compartment(cell, "c", Dc, degree)}
