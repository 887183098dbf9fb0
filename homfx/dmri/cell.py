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
    volume: float  # |Y^alpha|_h
    gamma: float  # |Gamma|_h
    groups: list = field(default_factory=list)  # mean-zero groups: submesh cell arrays, or True (one piece)
    piece_theta: list = field(default_factory=list)  # c: [(cell tag, facet tag, theta_k)]

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
    """Submesh, space and measures of compartment ``name`` ('e' or 'c'). Collective."""
    if name not in SIGN:
        raise ValueError(f"compartment must be 'e' or 'c', got {name!r}")
    if degree not in (1, 2):
        raise ValueError(f"degree must be 1 or 2, got {degree!r}")
    D = check_diffusivity(f"D{name}", D)
    sub, emap = sub_cell(cell, [name])
    V = dolfinx.fem.functionspace(sub.mesh, ("Lagrange", degree))
    dx = ufl.Measure("dx", domain=cell.mesh, subdomain_data=cell.cell_tags)
    dS = interface_dS(cell)
    tags = cell.phase_tags(name)
    comp = Compartment(name, D, cell, sub, emap, V, dx, tags, dS, 0.0, 0.0)
    # |Y^a|_h = sum_a int phi_a and |Gamma|_h = sum_a int_Gamma phi_a: the same quadrature as the right-hand
    # sides, so that the psi sources are compatible to round-off also on curved (P2) cells
    v = ufl.TestFunction(V)
    comp.volume = _vector_sum(comp, v * dx(tags))
    comp.gamma = _vector_sum(comp, comp.trace(v) * dS(cell.interface_tags()))
    if name == "e":
        comp.groups = True
    else:
        sub_tags = sub.cell_tag_array()
        comp.groups = [np.flatnonzero(sub_tags == t).astype(np.int32) for t in tags]
        for i, t in sorted(cell.interfaces.items()):
            ct = INCLUSION_TAG0 + i
            vol_k = _vector_sum(comp, v * dx(ct))
            gam_k = _vector_sum(comp, comp.trace(v) * dS(t))
            comp.piece_theta.append((ct, t, gam_k / vol_k))
        th = np.array([p[2] for p in comp.piece_theta])
        spread = float(np.max(np.abs(th - comp.theta)) / comp.theta)
        if spread > THETA_TOL:
            raise ValueError(
                "the inclusions have different surface-to-volume ratios |Gamma_k|/|Y^c_k| = "
                f"{np.round(th, 4).tolist()}: the single intra-cellular compartment model needs equal ratios "
                "(spec 2.6; e.g. identical disks)")
    return comp


def _vector_sum(comp: Compartment, L) -> float:
    """sum over the owned DOFs of the assembled linear form L (= L(1) for a Lagrange space)."""
    b = dolfinx.fem.petsc.assemble_vector(dolfinx.fem.form(L, entity_maps=[comp.emap]))
    b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
    val = b.sum()
    b.destroy()
    return float(val)


# ---------------------------------------------------------------------------------------------------------
# UFL declarations


def _trial_test(comp: Compartment):
    return ufl.TrialFunction(comp.V), ufl.TestFunction(comp.V)


def operator_form(comp: Compartment) -> ufl.Form:
    """a(u, v) = int_{Y^alpha} D grad u . grad v (parent-mesh dx, submesh arguments)."""
    u, v = _trial_test(comp)
    return comp.D * ufl.inner(ufl.grad(u), ufl.grad(v)) * comp.dxa()


def omega_rhs(comp: Compartment) -> dict:
    """(3.18): -int D d_i v, i = 0..d-1 (G = D e_i, no Gamma data; compatible).

    The rhs builders return {key: [terms]}: the sum is the right-hand side, the terms set the scale of the
    compatibility check (spec 2.6: defect relative to the l1 norm of the contributions)."""
    v = ufl.TestFunction(comp.V)
    return {("omega", i): [-comp.D * v.dx(i) * comp.dxa()] for i in range(comp.dim)}


def psi_rhs(comp: Compartment) -> dict:
    """(3.23) corrected: s theta int v - s int_Gamma v (spec 2.4). For Y^c each inclusion k uses theta_k."""
    v = ufl.TestFunction(comp.V)
    s = comp.sign
    if comp.name == "e":
        th = dolfinx.fem.Constant(comp.cell.mesh, comp.theta)
        return {"psi": [s * th * v * comp.dxa(), -s * comp.trace(v) * comp.dS(comp.cell.interface_tags())]}
    terms = []
    for ct, ft, th_k in comp.piece_theta:
        th = dolfinx.fem.Constant(comp.cell.mesh, th_k)
        terms += [s * th * v * comp.dx(ct), -s * comp.trace(v) * comp.dS(ft)]
    return {"psi": terms}


def chi_rhs(comp: Compartment, omega) -> dict:
    """(3.21): -int D omega_j d_i v (the Gamma term of (3.21) is built in; spec 2.2 pitfall)."""
    v = ufl.TestFunction(comp.V)
    d = comp.dim
    return {("chi", i, j): [-comp.D * omega[j] * v.dx(i) * comp.dxa()] for i in range(d) for j in range(d)}


def phi_rhs(comp: Compartment, omega, DD: np.ndarray) -> dict:
    """(3.22): int (D d_i omega_j + D delta_ij - DD_ij) v, DD = the homogenized tensor (3.17) of this mesh.
    The compatibility scale uses the size of each contribution (D d_i omega_j, D, DD_ij), so that an
    identically vanishing source (phi^c for isolated inclusions) is measured against D |Y^c|, not 0."""
    v = ufl.TestFunction(comp.V)
    d = comp.dim
    out = {}
    for i in range(d):
        for j in range(d):
            c = dolfinx.fem.Constant(comp.cell.mesh, comp.D * (i == j) - float(DD[i, j]))
            L = (comp.D * omega[j].dx(i) + c) * v * comp.dxa()
            scale = [comp.D * omega[j].dx(i) * v * comp.dxa(), comp.D * v * comp.dxa(),
                     dolfinx.fem.Constant(comp.cell.mesh, abs(float(DD[i, j]))) * v * comp.dxa()]
            out[("phi", i, j)] = (L, scale)
    return out


@dataclass
class DmriCellProblem(CellProblem):
    """A CellProblem whose right-hand sides are also kept as lists of terms (for the compatibility scale)."""

    terms: dict = field(default_factory=dict)


def cell_problem(comp: Compartment, a: ufl.Form, rhs_terms: dict, name: str) -> DmriCellProblem:
    """The engine declaration: periodic for Y^e, pure Neumann with mean zero per inclusion for Y^c."""
    rhs, terms = {}, {}
    for k, t in rhs_terms.items():
        if isinstance(t, tuple):  # (form, scale terms)
            rhs[k], terms[k] = t
        else:  # list of terms: the sum is the form
            rhs[k], terms[k] = sum(t[1:], t[0]), t
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
        """Corrected (A.1), discrete: |n_g^T b| / (sum over the terms of ||b_term||_1), per kernel piece g
        (the terms' sizes, because a right-hand side can vanish identically, e.g. phi^c)."""
        scale = None
        if terms:
            scale = 0.0
            for t in terms:
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


# ---------------------------------------------------------------------------------------------------------
# matrices for the tensor formulas (exact discrete integrals as vector products)


@dataclass
class CompartmentMatrices:
    """M_ab = int phi_b phi_a, N_i[a, b] = int phi_a d_i phi_b (over Y^alpha), the constant 1 and
    g_a = int_Gamma phi_a. Rows are test functions. All on the (unreduced) space V^alpha."""

    M: object
    N: list
    one: object  # dolfinx Function = 1
    g: object

    def inner(self, w, u, A=None) -> float:
        """w^T A u (A = M by default): e.g. inner(w, u) = int w u."""
        A = self.M if A is None else A
        y = A.createVecLeft()
        A.mult(_vec(u), y)
        return float(y.dot(_vec(w)))

    def dmean(self, i, u) -> float:
        """int d_i u."""
        return self.inner(self.one, u, self.N[i])

    def gamma_int(self, u) -> float:
        """int_Gamma u."""
        return float(self.g.dot(_vec(u)))


def _vec(u):
    return u.x.petsc_vec if hasattr(u, "x") else u


def compartment_matrices(comp: Compartment) -> CompartmentMatrices:
    u, v = _trial_test(comp)
    em = [comp.emap]
    dxa = comp.dxa()

    forms = [dolfinx.fem.form(f, entity_maps=em) for f in [u * v * dxa] + [u.dx(i) * v * dxa for i in range(comp.dim)]]
    pattern = dolfinx.fem.petsc.create_matrix(forms[0])  # one sparsity pattern for all (same space pair)

    def mat(form):
        A = pattern.duplicate()
        A.zeroEntries()
        dolfinx.fem.petsc.assemble_matrix(A, form)
        A.assemble()
        return A

    M, *N = [mat(f) for f in forms]
    pattern.destroy()
    one = dolfinx.fem.Function(comp.V)
    one.x.array[:] = 1.0
    g = dolfinx.fem.petsc.assemble_vector(dolfinx.fem.form(
        comp.trace(v) * comp.dS(comp.cell.interface_tags()), entity_maps=em))
    g.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
    return CompartmentMatrices(M, N, one, g)  # keep the Function: its petsc_vec borrows its array


def interface_mass(ca: Compartment, cb: Compartment):
    """G^{ab}: int_Gamma u_b v_a (rows: test functions of ``ca``, columns: trial functions of ``cb``)."""
    u = ufl.TrialFunction(cb.V)
    v = ufl.TestFunction(ca.V)
    em = [ca.emap] if ca is cb else [ca.emap, cb.emap]
    form = cb.trace(u) * ca.trace(v) * ca.dS(ca.cell.interface_tags())
    G = dolfinx.fem.petsc.assemble_matrix(dolfinx.fem.form(form, entity_maps=em))
    G.assemble()
    return G


def diffusion_tensor(comp: Compartment, mats: CompartmentMatrices, omega) -> np.ndarray:
    """(3.17): DD_ij = <D (d_i omega_j + delta_ij)>_{Y^alpha}."""
    d = comp.dim
    return np.array([[comp.D * ((i == j) + mats.dmean(i, omega[j]) / comp.volume) for j in range(d)]
                     for i in range(d)])


# ---------------------------------------------------------------------------------------------------------
# driver


@dataclass
class Correctors:
    """All cell solutions of one compartment (dolfinx Functions on the submesh)."""

    comp: Compartment
    omega: list  # [i]
    chi: list  # [i][j]
    phi: list  # [i][j]
    psi: object
    DD: np.ndarray
    mats: CompartmentMatrices
    compatibility: dict  # family -> max defect over keys and pieces
    dofs: int
    factor: SharedFactorization

    def X(self, j, k):
        """X_jk = chi_jk + phi_jk as a PETSc vector (only the sum enters the tensors)."""
        x = self.chi[j][k].x.petsc_vec.copy()
        x.axpy(1.0, self.phi[j][k].x.petsc_vec)
        return x


def solve_correctors(comp: Compartment, method: str = "lu") -> Correctors:
    """omega, psi, then chi, phi of one compartment, with one factorization. Collective."""
    d = comp.dim
    a = operator_form(comp)
    p1 = cell_problem(comp, a, {**omega_rhs(comp), **psi_rhs(comp)}, "omega+psi")
    fac = SharedFactorization(p1, method=method)
    s1 = fac.solve(p1)
    omega = [s1[("omega", i)] for i in range(d)]
    mats = compartment_matrices(comp)
    DD = diffusion_tensor(comp, mats, omega)
    p2 = cell_problem(comp, a, {**chi_rhs(comp, omega), **phi_rhs(comp, omega, DD)}, "chi+phi")
    s2 = fac.solve(p2)
    compat = {}
    for sol in (s1, s2):
        for k, v in sol.compatibility.items():
            fam = k[0] if isinstance(k, tuple) else k
            compat[fam] = max(compat.get(fam, 0.0), max(v) if v else 0.0)
    chi = [[s2[("chi", i, j)] for j in range(d)] for i in range(d)]
    phi = [[s2[("phi", i, j)] for j in range(d)] for i in range(d)]
    for f in omega + [s1["psi"]]:
        f.name = f"{f.name}_{comp.name}"
    return Correctors(comp, omega, chi, phi, s1["psi"], DD, mats, compat, fac.dofs, fac)


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
