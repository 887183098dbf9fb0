"""``homfx dmri reference`` and ``homfx dmri reproduce`` (issue 4, items 4-5). The full reproductions are
slow (marked ``slow``; run with ``pytest -m slow tests/dmri/test_reference_cli.py``)."""

import json
import math
from pathlib import Path

import pytest

from homfx._stack import MPI
from homfx.cli import main
from homfx.dmri import cells, cli_reference, fine
from homfx.dmri.sequences import PGSE


def _read(path):
    return json.loads(Path(path).read_text())


@pytest.mark.mpi
def test_reference_cli_matches_the_solver(outdir):
    """The CLI (paper units, System A inside) writes the documented keys; its signals equal a direct
    solve in System A (eps = 10 µm = 1e-2 mm, kappa = 5e-5 m/s = 5e-2 mm/s); b = 0 gives 1."""
    out = Path(outdir) / "r.json"
    rc = main(["dmri", "reference", "--cell", "disk", "--radius", "0.4", "--cell-size", "10", "--De", "3e-3",
               "--Dc", "1.7e-3", "--kappa", "5e-5", "--delta", "5", "--Delta", "25", "--b", "0,1000,2000",
               "--direction", "0,1", "--h", "0.1", "--dt", "1", "-o", str(out)])
    assert rc == 0
    r = _read(out)
    for key in ("b", "signal", "signal_compartments", "dofs", "steps", "seconds"):
        assert key in r
    assert r["b"] == [0.0, 1000.0, 2000.0] and set(r["signal_compartments"]) == {"e", "c"}
    assert abs(r["signal"][0] - 1) < 1e-12
    seq = PGSE(5e-3, 25e-3)
    prob = fine.ReferenceProblem(cells.disk_cell(0.4, 0.1), 3e-3, 1.7e-3, 5e-2, eps=1e-2)
    direct = prob.signal(q=float(seq.q_from_b(2000.0)), direction=(0, 1), sequence=seq, dt=1e-3,
                         show_progress=False)
    assert abs(r["signal"][2] - direct.signal.real) < 1e-12
    assert abs(r["signal_compartments"]["c"][2] - direct.compartments["c"].real) < 1e-12
    assert r["dofs"] == prob.num_dofs and r["steps"] == 5 + 20 + 5


def test_reference_cli_slab_impermeable(outdir):
    """--cell slab --width 0.5 --kappa 0: the strip signals; S = S_e + S_c, both decay, S(0) = 1."""
    out = Path(outdir) / "slab.json"
    rc = main(["dmri", "reference", "--cell", "slab", "--width", "0.5", "--cell-size", "10", "--kappa", "0",
               "--Delta", "15", "--b", "0,1000", "--direction", "1,0", "--h", "0.125", "--dt", "1",
               "-o", str(out)])
    assert rc == 0
    r = _read(out)
    e, c = r["signal_compartments"]["e"], r["signal_compartments"]["c"]
    assert abs(e[0] - 0.5) < 1e-12 and abs(c[0] - 0.5) < 1e-12
    assert abs(e[1] + c[1] - r["signal"][1]) < 1e-14
    assert 0 < c[1] < 0.5 and 0 < e[1] < 0.5


@pytest.mark.parametrize("bad, message", [
    (["--kappa", "-1e-5"], "--kappa"),
    (["--direction", "0,0"], "--direction"),
    (["--dt", "6"], "larger than a gradient pulse"),
    (["--cell-size", "5000"], "not resolved by the mesh"),
    (["--cell", "slab", "--width", "1.5"], "--width"),
])
def test_reference_cli_bad_input(outdir, capsys, bad, message):
    args = {"--cell": "disk", "--cell-size": "10", "--kappa": "5e-5", "--Delta": "15", "--b": "2000",
            "--h": "0.1", "--direction": "0,1"}
    for k, v in zip(bad[::2], bad[1::2]):
        args[k] = v
    argv = ["dmri", "reference"] + [f"{k}={v}" for k, v in args.items()] + ["-o", str(Path(outdir) / "x.json")]
    assert main(argv) == 2
    if MPI.COMM_WORLD.rank == 0:
        assert message in capsys.readouterr().err


def test_reproduce_fig9_checks_ac13(outdir):
    """``reproduce fig9`` (eigenvalues of A_R2(q, t), Fig. 8 cell): AC13 holds on a coarse mesh; the CLI
    writes the JSON and the figure."""
    rc = main(["dmri", "reproduce", "fig9", "--h", "0.05", "--out", str(outdir)])
    assert rc == 0
    r = _read(Path(outdir) / "fig9.json")
    assert r["passed"] and len(r["checks"]) == 6 * 2 * 3
    assert Path(outdir, "fig9.png").exists()


def test_slab_resolution():
    assert cli_reference.slab_resolution(0.5, 0.04) == 28  # first n >= 25 with n/4 integer
    assert cli_reference.slab_resolution(0.25, 0.1) == 16
    with pytest.raises(ValueError, match="width"):
        cli_reference.slab_resolution(1 / math.pi, 0.1)


# ---------------------------------------------------------------------------------------------------------
# the reproductions (slow): every acceptance criterion of the figure must pass


@pytest.mark.slow
@pytest.mark.parametrize("figure", ["fig5", "fig4", "fig6", "fig7", "fig8"])
def test_reproduce_figure(figure, tmp_path_factory):
    ckpt = str(Path("out/dmri/ckpt").resolve())  # shares the runs of `homfx dmri reproduce`
    res = cli_reference.reproduce(figure, ckpt=ckpt)
    failed = [f"{c.name}: {c.detail}" for c in res.checks if not c.passed]
    assert not failed, failed
