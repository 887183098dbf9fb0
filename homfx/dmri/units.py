"""Unit conversions for the dMRI models, stated once (spec bloch_torrey.md §1.6–1.7).

Internal system ("System A" of the spec): lengths in mm, time in s, diffusivity in mm²/s, permeability
κ and σ0 in mm/s, b in s/mm², q = γG in 1/(mm·s). The tensors of ``homfx dmri tensors`` are computed on
the unit box Y = [0,1]^d with D in mm²/s, i.e. the unit box is read as 1 mm (the paper's convention,
§1.6), so they are already in System A with box length 1 mm.

Paper units (CLI inputs): cell size in µm, κ in m/s, δ/Δ/t in ms, b in s/mm², D in mm²/s.

The paper's scaling (§1.6): the physical period is ε mm, so ε = (cell size in mm) / (1 mm), and the
physical permeability is κ = σ0 ε, hence σ0 = κ / ε.
"""

from __future__ import annotations

from dataclasses import dataclass

MM_PER_UM = 1e-3          # 1 µm = 1e-3 mm
S_PER_MS = 1e-3           # 1 ms = 1e-3 s
MM_PER_M = 1e3            # κ: 1 m/s = 1e3 mm/s
UNIT_BOX_MM = 1.0         # the tensors' unit box is read as 1 mm (paper §5–6)


def um_to_mm(x):
    """Length µm -> mm."""
    return x * MM_PER_UM


def ms_to_s(t):
    """Time ms -> s."""
    return t * S_PER_MS


def s_to_ms(t):
    """Time s -> ms."""
    return t / S_PER_MS


def m_per_s_to_mm_per_s(kappa):
    """Permeability m/s -> mm/s (5e-5 m/s = 0.05 mm/s)."""
    return kappa * MM_PER_M


def mm_per_s_to_m_per_s(kappa):
    """Permeability mm/s -> m/s."""
    return kappa / MM_PER_M


def b_s_per_mm2_to_ms_per_um2(b):
    """b-value s/mm² -> ms/µm² (System B; 1000 s/mm² = 1 ms/µm²)."""
    return b * 1e-3


def q_mm_s_to_um_ms(q):
    """q = γG: 1/(mm·s) -> 1/(µm·ms) (q[µm⁻¹ms⁻¹] = 1e-6 q[mm⁻¹s⁻¹], spec §1.7)."""
    return q * 1e-6


def D_mm2_s_to_um2_ms(D):
    """Diffusivity mm²/s -> µm²/ms (3e-3 mm²/s = 3 µm²/ms)."""
    return D * 1e3


@dataclass(frozen=True)
class PaperScaling:
    """The paper's (ε, σ0) for a physical cell of side ``cell_size_um`` and permeability ``kappa`` (m/s).

    epsilon: dimensionless period (physical period = ε mm, unit box = 1 mm), spec §1.6.
    sigma0:  σ0 = κ/ε in System A units (mm/s)."""

    cell_size_um: float
    kappa_m_per_s: float
    epsilon: float
    sigma0: float  # mm/s

    @property
    def sigma0_m_per_s(self) -> float:
        return mm_per_s_to_m_per_s(self.sigma0)


def paper_scaling(cell_size_um: float, kappa_m_per_s: float) -> PaperScaling:
    """ε = cell size [mm] / 1 mm and σ0 = κ/ε (spec §1.6). E.g. a 10 µm cell with κ = 5e-5 m/s gives
    ε = 1e-2 and σ0 = 5e-3 m/s = 5 mm/s."""
    if not cell_size_um > 0:
        raise ValueError(f"--cell-size must be positive (µm), got {cell_size_um}")
    if not kappa_m_per_s >= 0:
        raise ValueError(f"--kappa must be >= 0 (m/s), got {kappa_m_per_s}")
    eps = um_to_mm(cell_size_um) / UNIT_BOX_MM
    sigma0 = m_per_s_to_mm_per_s(kappa_m_per_s) / eps
    return PaperScaling(float(cell_size_um), float(kappa_m_per_s), float(eps), float(sigma0))
