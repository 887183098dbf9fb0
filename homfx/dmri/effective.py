"""Homogenized coefficients of the second-order dMRI model (Kchaou & Li, (3.8)-(3.10), (3.17), (3.24)-(3.28);
spec bloch_torrey.md section 3). Units: D in the unit the diffusivities are given in (mm^2/s for the CLI),
lengths in cell units (the unit box Y = [0,1]^d): omega ~ L, X = chi + phi ~ L^2, psi ~ L/D,
S ~ L^2, DD ~ D, T, B ~ D L^2, I, Z ~ L, <[psi]>_Gamma ~ L/D.

    eta^a = |Y^a|/|Y|,  theta^a = |Gamma|/|Y^a|,  theta = |Gamma|/|Y|                      (3.8)-(3.10)
    DD^a_ij  = <D (d_i omega_j + delta_ij)>_{Y^a}                                        (3.17)
    S^a_ij   = -<omega_i omega_j>_{Y^a}                                                   (3.24)
    T^a_ijkl = <-D d_i X_jk omega_l + D X_jk d_i omega_l>_{Y^a} - delta_ij <D omega_k omega_l>_{Y^a}   (3.26)
    B^a_ijkl = -T^a_ijkl + DD^a_ij S^a_kl   (Burnett; stored fully symmetrized, B_raw unsymmetrized)   (3.25)
    Z^{ab}_ij = s_a theta^a (<omega^b_i omega^a_j>_Gamma - <X^b_ij>_Gamma)                (3.27, errata 5)
    I^a_ij   = <-D d_j psi omega_i + D psi d_j omega_i>_{Y^a} + s_a theta^a S^a_ij        (3.28)
    <[omega]>_Gamma = <omega^e>_Gamma - <omega^c>_Gamma,  <[psi]>_Gamma = <psi^e>_Gamma - <psi^c>_Gamma

All averages are exact discrete integrals on the mesh and space of the cell problems (spec 8.6): dot
products with the vectors of homfx.dmri.cell.CompartmentIntegrals, and the interface mass matrix for Z.
"""

from __future__ import annotations

import itertools
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from homfx.dmri.cell import Correctors, bilinear, dot, interface_mass, make_compartments, solve_correctors
from homfx.geometry import CellMesh

PHASES = ("e", "c")
JSON_KEYS = ("eta", "theta", "D", "S", "T", "B", "Z", "I", "omega_jump_mean", "psi_jump_mean", "dofs", "seconds")


def symmetrize4(B: np.ndarray) -> np.ndarray:
    """The full symmetrization of a 4-tensor (mean over the 24 index permutations)."""
    return sum(np.transpose(B, p) for p in itertools.permutations(range(4))) / 24.0


def contract(X: np.ndarray, n) -> float:
    """X_nn or X_nnnn: the full contraction of a 2- or 4-tensor with the unit direction n."""
    n = np.asarray(n, dtype=float)
    out = X
    for _ in range(X.ndim):
        out = out @ n
    return float(out)


@dataclass
class DmriTensors:
    """The homogenized quantities of one cell; dict fields are keyed by compartment ('e', 'c') or pair."""

    dim: int
    De: float
    Dc: float
    degree: int
    eta: dict
    theta: dict
    theta_total: float
    D: dict  # DD^a (3.17), d x d
    S: dict  # (3.24)
    T: dict  # (3.26), d^4
    B: dict  # (3.25), fully symmetrized
    B_raw: dict  # (3.25) as printed, -T + DD (x) S
    Z: dict  # keys 'ee', 'ec', 'ce', 'cc' (3.27)
    I: dict  # (3.28)
    omega_gamma_mean: dict  # <omega^a>_Gamma (d)
    psi_gamma_mean: dict  # <psi^a>_Gamma
    omega_jump_mean: np.ndarray  # <[omega]>_Gamma (d)
    psi_jump_mean: float  # <[psi]>_Gamma
    compatibility: dict  # a -> {problem family: max defect}
    dofs: dict  # a -> DOFs solved for (periodic/reduced)
    seconds: float
    correctors: dict = field(default_factory=dict, repr=False)  # a -> Correctors

    @property
    def max_compatibility_defect(self) -> float:
        return max(v for c in self.compatibility.values() for v in c.values())

    def psi_factor(self, eps: float, sigma0: float) -> float:
        """1 + eps^2 sigma0 <[psi]>_Gamma: the exchange-rate correction; must be > 0 (spec 4.4)."""
        return 1.0 + eps ** 2 * sigma0 * self.psi_jump_mean

    def to_json(self) -> dict:
        """Exactly the keys of ``homfx dmri tensors`` (JSON_KEYS)."""
        tl = lambda x: np.asarray(x).tolist()  # noqa: E731
        out = {
            "eta": {a: float(self.eta[a]) for a in PHASES},
            "theta": {a: float(self.theta[a]) for a in PHASES},
            "D": {a: tl(self.D[a]) for a in PHASES},
            "S": {a: tl(self.S[a]) for a in PHASES},
            "T": {a: tl(self.T[a]) for a in PHASES},
            "B": {a: tl(self.B[a]) for a in PHASES},
            "Z": {k: tl(self.Z[k]) for k in ("ee", "ec", "ce", "cc")},
            "I": {a: tl(self.I[a]) for a in PHASES},
            "omega_jump_mean": tl(self.omega_jump_mean),
            "psi_jump_mean": float(self.psi_jump_mean),
            "dofs": int(sum(self.dofs.values())),
            "seconds": float(self.seconds),
        }
        assert tuple(out) == JSON_KEYS
        return out


def compartment_tensors(cor: Correctors) -> dict:
    """DD, S, T, B, I, <omega>_Gamma, <psi>_Gamma of one compartment: dot products of the solutions with
    the vectors M omega_j, N_i omega_j, N_i^T omega_j kept from the right-hand sides (exact discrete
    integrals: int w d_i u = w . N_i u)."""
    comp, ig = cor.comp, cor.integrals
    d, D, vol, s = comp.dim, comp.D, comp.volume, comp.sign
    w, N, Nt = cor.omega, cor.N_omega, cor.Nt_omega
    X = [[cor.X(j, k) for k in range(d)] for j in range(d)]
    S = np.array([[-dot(cor.M_omega[j], w[i]) / vol for j in range(d)] for i in range(d)])
    WW = -S  # <omega_k omega_l>
    T = np.zeros((d,) * 4)
    for i, j, k, l in itertools.product(range(d), repeat=4):  # -int d_i X_jk omega_l + int X_jk d_i omega_l
        T[i, j, k, l] = D * (-dot(Nt[i][l], X[j][k]) + dot(N[i][l], X[j][k])) / vol - (i == j) * D * WW[k, l]
    DD = cor.DD
    B_raw = -T + np.einsum("ij,kl->ijkl", DD, S)
    psi = cor.psi
    I = np.array([[D * (-dot(Nt[j][i], psi) + dot(N[j][i], psi)) / vol for j in range(d)]
                  for i in range(d)]) + s * comp.theta * S
    om_g = np.array([ig.gamma_int(w[i]) for i in range(d)]) / comp.gamma
    psi_g = ig.gamma_int(psi) / comp.gamma
    for x in itertools.chain.from_iterable(X):
        x.destroy()
    return dict(D=DD, S=S, T=T, B_raw=B_raw, B=symmetrize4(B_raw), I=I, omega_gamma=om_g, psi_gamma=psi_g)


def coupling_tensors(cors: dict) -> dict:
    """Z^{ab}_ij = s_a theta^a (<omega^b_i omega^a_j>_Gamma - <X^b_ij>_Gamma) (3.27)."""
    Z = {}
    for a, b in itertools.product(PHASES, repeat=2):
        ca, cb = cors[a], cors[b]
        G = interface_mass(ca.comp, cb.comp)
        d, gam = ca.comp.dim, ca.comp.gamma
        Zab = np.zeros((d, d))
        for i in range(d):
            for j in range(d):
                ww = bilinear(ca.omega[j], G, cb.omega[i]) / gam
                x = cb.X(i, j)
                xg = cb.integrals.gamma_int(x) / gam
                x.destroy()
                Zab[i, j] = ca.comp.sign * ca.comp.theta * (ww - xg)
        G.destroy()
        Z[a + b] = Zab
    return Z


def compute_tensors(cell: CellMesh, De: float, Dc: float, *, degree: int = 1, method: str = "lu",
                    keep_correctors: bool = True) -> DmriTensors:
    """Solve the cell problems of both compartments (one factorization each) and evaluate every
    homogenized coefficient. Collective. Raises ValueError for bad input (cell, diffusivities)."""
    t0 = time.perf_counter()
    comps = make_compartments(cell, De, Dc, degree)
    cors = {a: solve_correctors(comps[a], method=method) for a in PHASES}
    ct = {a: compartment_tensors(cors[a]) for a in PHASES}
    Z = coupling_tensors(cors)
    vol = comps["e"].volume + comps["c"].volume
    gamma = comps["e"].gamma
    _warn_unequal_omega_means(cors)
    res = DmriTensors(
        dim=cell.dim, De=float(De), Dc=float(Dc), degree=degree,
        eta={a: comps[a].volume / vol for a in PHASES},
        theta={a: comps[a].theta for a in PHASES}, theta_total=gamma / vol,
        D={a: ct[a]["D"] for a in PHASES}, S={a: ct[a]["S"] for a in PHASES},
        T={a: ct[a]["T"] for a in PHASES}, B={a: ct[a]["B"] for a in PHASES},
        B_raw={a: ct[a]["B_raw"] for a in PHASES}, Z=Z, I={a: ct[a]["I"] for a in PHASES},
        omega_gamma_mean={a: ct[a]["omega_gamma"] for a in PHASES},
        psi_gamma_mean={a: ct[a]["psi_gamma"] for a in PHASES},
        omega_jump_mean=ct["e"]["omega_gamma"] - ct["c"]["omega_gamma"],
        psi_jump_mean=ct["e"]["psi_gamma"] - ct["c"]["psi_gamma"],
        compatibility={a: cors[a].compatibility for a in PHASES},
        dofs={a: cors[a].dofs for a in PHASES},
        seconds=0.0,
        correctors=cors if keep_correctors else {},
    )
    res.seconds = time.perf_counter() - t0
    return res


def _warn_unequal_omega_means(cors):
    """Spec 2.6: for several inclusions, <omega^e_i>_{Gamma_k} should not depend on k (else the appendix
    problem N^{c,beta} is not solvable per inclusion and R2 loses accuracy). Warn above 1e-3 R."""
    from homfx._stack import dolfinx
    from homfx.averages import integrate

    ce, cc = cors["e"].comp, cors["c"].comp
    tags = ce.cell.interface_tags()
    if len(tags) < 2:
        return
    glob = np.array([cors["e"].integrals.gamma_int(w) for w in cors["e"].omega]) / ce.gamma
    R = ce.dim * cc.volume / cc.gamma  # the radius for disks/spheres
    one = dolfinx.fem.Constant(ce.cell.mesh, 1.0)
    dev = 0.0
    for t in tags:
        len_k = integrate(one("+") * ce.dS(t))
        means = np.array([integrate(ce.trace(w) * ce.dS(t), [ce.emap]) for w in cors["e"].omega]) / len_k
        dev = max(dev, float(np.max(np.abs(means - glob))) / R)
    if dev > 1e-3:
        warnings.warn(f"<omega^e>_Gamma_k differs between inclusions by {dev:.2e} R (> 1e-3 R): the "
                      "second-order model is formally inconsistent for this arrangement (spec 2.6)", stacklevel=3)


# ---------------------------------------------------------------------------------------------------------
# appendix identities (spec 2.5, AC4): the simplified formulas of Section 3 vs the appendix cell problems


def _function(cor: Correctors, vec, name: str):
    from homfx._stack import dolfinx

    f = dolfinx.fem.Function(cor.comp.V, name=name)
    vec.copy(f.x.petsc_vec)
    f.x.scatter_forward()
    return f


def appendix_identities(res: DmriTensors) -> dict:
    """Solve the appendix problems L (A.37), N^{a,b} (A.41), xi (A.33), E (A.38, index typo fixed),
    R (A.30), Q and compare with the simplified formulas; returns {name: (formula, appendix)} arrays.
    They agree to solver precision for connected Y^c (spec 2.5 / AC4). Uses the kept factorizations."""
    import ufl

    from homfx._stack import dolfinx
    from homfx.dmri.cell import cell_problem

    if not res.correctors:
        raise ValueError("appendix_identities needs the correctors (compute_tensors(keep_correctors=True))")
    out = {}
    for a in PHASES:
        cor = res.correctors[a]
        comp, ig, fac = cor.comp, cor.integrals, cor.factor
        d, D, vol, s, th = comp.dim, comp.D, comp.volume, comp.sign, comp.theta
        v = ufl.TestFunction(comp.V)
        dx = comp.dxa()
        w, psi = cor.omega, cor.psi
        X = [[_function(cor, cor.X(j, k), f"X{j}{k}") for k in range(d)] for j in range(d)]
        dmean = lambda i, u: D * ig.dmean(i, u) / vol  # noqa: E731  <D d_i u>
        cD = dolfinx.fem.Constant(comp.cell.mesh, D)
        rhs = {("L", i): [w[i] * v * dx] for i in range(d)}
        rhs.update({("xi", i): [-cD * psi * v.dx(i) * dx] for i in range(d)})
        rhs.update({("E", i): [(cD * psi.dx(i) - dolfinx.fem.Constant(comp.cell.mesh, dmean(i, psi))) * v * dx]
                    for i in range(d)})
        for i, j, k in itertools.product(range(d), repeat=3):
            H = dmean(i, X[j][k])
            rhs[("R", i, j, k)] = [-cD * X[j][k] * v.dx(i) * dx]
            rhs[("Q", i, j, k)] = ([(cD * X[j][k].dx(i) + cD * w[k] * (i == j)
                                     - dolfinx.fem.Constant(comp.cell.mesh, H)) * v * dx])
        sol = fac.solve(cell_problem(comp, fac.a, rhs, "appendix"))
        out[f"S^{a} via L"] = (res.S[a], np.array([[dmean(j, sol[("L", i)]) for j in range(d)] for i in range(d)]))
        out[f"I^{a} via xi+E"] = (
            (res.I[a] - s * th * res.S[a]).T,
            np.array([[dmean(j, sol[("xi", i)]) + dmean(j, sol[("E", i)]) for j in range(d)] for i in range(d)]))
        T = np.zeros((d,) * 4)
        for i, j, k, l in itertools.product(range(d), repeat=4):
            T[i, j, k, l] = dmean(l, sol[("R", i, j, k)]) + dmean(l, sol[("Q", i, j, k)])
        out[f"T^{a} via R+Q"] = (res.T[a], T)
        out[f"p^{a}"] = (s * th * res.omega_gamma_mean[a], np.array([dmean(i, psi) for i in range(d)]))
        for b in PHASES:  # N^{a,b} (A.41): <D^a d_j N_i> = s_a theta^a <omega^b_i omega^a_j>_Gamma
            cb = res.correctors[b]
            rhsN = {}
            for i in range(d):
                mb = dolfinx.fem.Constant(comp.cell.mesh, s * th * res.omega_gamma_mean[b][i])
                rhsN[("N", i)] = [mb * v * dx, -s * cb.comp.trace(cb.omega[i]) * comp.trace(v)
                                  * comp.dS(comp.cell.interface_tags())]
            pN = cell_problem(comp, fac.a, rhsN, f"appendix N^{a}{b}")
            if b != a:
                pN.entity_maps = [comp.emap, cb.comp.emap]
            solN = fac.solve(pN)
            Xg = np.array([[cb.integrals.gamma_int(cb.X(i, j)) / cb.comp.gamma for j in range(d)] for i in range(d)])
            out[f"N^{a}{b} (Z^{a}{b})"] = (res.Z[a + b] + s * th * Xg,
                                           np.array([[dmean(j, solN[("N", i)]) for j in range(d)]
                                                     for i in range(d)]))
    return out
