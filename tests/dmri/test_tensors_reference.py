"""The spec's converged reference table (bloch_torrey.md 3.2: prototype, centred disk, D_e = 3e-3,
D_c = 1.7e-3 mm^2/s, h = 0.005): 0.5% on meshes h <= 0.01 (Z^ee: 1%), as the spec prescribes; the slow
test repeats it at the table's own h = 0.005 with 0.1%."""

import pytest

from homfx.dmri.cells import disk_cell
from homfx.dmri.effective import compute_tensors

DE, DC = 3e-3, 1.7e-3
# R -> (eta^c, theta^e, theta^c, D^e_22/D_e, S^e_22, B^e_2222/D_e, I^e_22, Z^ee_22, Z^ec_22, Z^ce_22,
#       D^e<psi^e>_Gamma, <[psi]>_Gamma)
SPEC_TABLE = {
    0.2: (0.12565, 1.43719, 10.0008, 0.888381, -0.0019100, -0.0045031, -0.015040, 0.005046, -0.029508, 0.24089,
          -0.110037, -66.087),
    0.4: (0.50264, 5.05321, 5.0001, 0.647657, -0.0042228, -0.0173665, -0.052792, 0.022546, -0.241995, 0.17058,
          -0.076078, -84.181),
}
NAMES = ("eta^c", "theta^e", "theta^c", "D^e_22/De", "S^e_22", "B^e_2222/De", "I^e_22", "Z^ee_22", "Z^ec_22",
         "Z^ce_22", "De<psi^e>", "<[psi]>")


def table_row(R, h):
    t = compute_tensors(disk_cell(R, h), DE, DC, keep_correctors=False)
    return (t.eta["c"], t.theta["e"], t.theta["c"], t.D["e"][1, 1] / DE, t.S["e"][1, 1], t.B["e"][1, 1, 1, 1] / DE,
            t.I["e"][1, 1], t.Z["ee"][1, 1], t.Z["ec"][1, 1], t.Z["ce"][1, 1], DE * t.psi_gamma_mean["e"],
            t.psi_jump_mean)


def check(R, h, tol, tol_zee):
    for name, got, ref in zip(NAMES, table_row(R, h), SPEC_TABLE[R]):
        t = tol_zee if name == "Z^ee_22" else tol
        assert abs(got - ref) <= t * abs(ref), (R, h, name, got, ref)


@pytest.mark.parametrize("R", [0.2, 0.4])
def test_spec_table_h001(R):
    check(R, 0.01, 5e-3, 1e-2)


@pytest.mark.slow
@pytest.mark.parametrize("R", [0.2, 0.4])
def test_spec_table_h0005(R):
    check(R, 0.005, 1e-3, 2e-3)
