"""Reproduction driver (spec §5, A5, A7). Default suite: a small fast case and the CLI; ``slow``: the paper's
Tables 1–6 at full size (≈ 30–50 s each on an idle 2-core machine, one fine solve for both H)."""

import json

import numpy as np
import pytest

from homfx._stack import MPI
from homfx.cli import main
from homfx.multicontinuum.cell import CellOptions
from homfx.multicontinuum.reproduce import (TABLES, ReproductionSetup, parse_H, reference_errors, reproduce)

SMALL = dict(nf=160, tau=0.05, T=0.5)


@pytest.fixture(scope="module")
def small_result():
    """Table 2's experiment (crossed, α = 1.5) on a 160x160 fine grid (16x16 channel cells), H = 1/8 and 1/16
    (l = ⌈−2 ln H⌉ = 5, 6), τ = 0.05, T = 0.5 (≈ 5 s)."""
    return reproduce(2, (8, 16), ReproductionSetup(fine=dict(SMALL)))


def test_small_case(small_result):
    """The coarse model tracks the fine continuum averages, and better with more scale separation: measured
    max e1/e2 ≈ 20/11 % (H = 1/8) and 10/5 % (H = 1/16); the time-mean error decreases with H for both
    continua (the paper's claim, A5.3); the online stage is much cheaper than the fine solve."""
    res = small_result
    assert not res["paper_setup"]
    for M in ("8", "16"):
        g = res["grids"][M]
        assert np.allclose(g["t"], [0.1, 0.2, 0.3, 0.4, 0.5])
        assert g["coefficients"]["unique_cell_solves"] == 1  # periodic medium: one cell solve per H
        assert "paper" not in g
    e8 = np.array([res["grids"]["8"]["e1"], res["grids"]["8"]["e2"]])
    e16 = np.array([res["grids"]["16"]["e1"], res["grids"]["16"]["e2"]])
    assert e8.max() < 25.0 and e16.max() < 12.0, (e8, e16)
    assert np.all(e16.mean(axis=1) < 0.7 * e8.mean(axis=1))
    assert res["grids"]["16"]["timings"]["online"] < res["timings"]["fine_total"]


def test_reference_tables():
    """The transcribed tables: 10 times each, prototype within 0.073 pp of the paper (spec §5.4 summary)."""
    assert sorted(TABLES) == [1, 2, 3, 4, 5, 6]
    worst = 0.0
    for table in TABLES:
        for M in (20, 40):
            ref = reference_errors(table, M)
            assert np.allclose(ref["t"], np.arange(1, 11) / 10)
            worst = max(worst, np.abs(ref["paper"] - ref["proto"]).max())
    assert 0.07 < worst <= 0.073 + 1e-9


def test_parse_H():
    assert parse_H("1/20") == 20 and parse_H("0.025") == 40 and parse_H("40") == 40
    for bad in ("0.3", "abc", "0"):
        with pytest.raises(ValueError, match="--H"):
            parse_H(bad)


def test_cli_small(tmp_path):
    """`homfx mc reproduce` writes the JSON (per-time e1, e2, timings) and the figure."""
    out = MPI.COMM_WORLD.bcast(str(tmp_path / "t5.json") if MPI.COMM_WORLD.rank == 0 else None)
    rc = main(["mc", "reproduce", "--table", "5", "--H", "1/4", "--nf", "40", "--tau", "0.1", "--T", "0.3",
               "--layers", "1", "-o", out])
    assert rc == 0
    if MPI.COMM_WORLD.rank == 0:
        res = json.loads(open(out).read())
        g = res["grids"]["4"]
        assert res["experiment"] == "E2.1" and res["bc"] == "neumann"
        assert len(g["e1"]) == len(g["e2"]) == 3
        assert {"offline", "online", "speedup_online", "speedup_total"} <= set(g["timings"])
        assert res["timings"]["fine_total"] > 0
        assert (tmp_path / "t5.png").stat().st_size > 1000
        assert list(g["averages"]) == ["0.10"]  # figure times 0.1, 0.5, 1 within T = 0.3
        assert np.array(g["averages"]["0.10"]["fine"]).shape == (16, 2)
        assert (tmp_path / "t5_averages_H4.png").stat().st_size > 1000


@pytest.mark.parametrize("args,needle", [
    (["--table", "7"], "--table"),
    (["--table", "1", "--H", "1/3"], "H = 1/3"),
    (["--table", "1", "--H", "0.3"], "--H"),
    (["--table", "1", "--layers", "-1"], "--layers"),
    (["--table", "1", "--contrast", "0"], "--contrast"),
    (["--table", "1", "--tau", "0.03"], "tau"),
])
def test_cli_bad_input(tmp_path, capsys, args, needle):
    rc = main(["mc", "reproduce", *args, "-o", str(tmp_path / "x.json")])
    assert rc == 2
    if MPI.COMM_WORLD.rank == 0:
        assert needle in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


@pytest.mark.mpi
def test_errors_parallel_equal_serial():
    """A7 (errors): the small case on COMM_WORLD (distributed fine mesh and cell problems) equals the serial
    run on COMM_SELF (≤ 1e-6 pp)."""
    comm = MPI.COMM_WORLD
    setup = ReproductionSetup(CellOptions(layers=2), fine=dict(nf=80, tau=0.05, T=0.5))
    par = reproduce(2, (8,), setup, comm=comm)
    if comm.rank == 0:
        ser = reproduce(2, (8,), setup, comm=MPI.COMM_SELF)
        for k in ("e1", "e2"):
            assert np.abs(np.array(par["grids"]["8"][k]) - np.array(ser["grids"]["8"][k])).max() <= 1e-6


@pytest.mark.slow
@pytest.mark.parametrize("table", [1, 2, 3, 4, 5, 6])
def test_table(table):
    """A5: full-size Table N, both H (≈ 30–50 s each)."""
    res = reproduce(table, (20, 40))
    acc = res["acceptance"]
    assert len(acc) == 7 and all(acc.values()), acc
    for M in ("20", "40"):
        g = res["grids"][M]
        assert max(g["max_abs_diff_proto"]) <= 0.02
        assert max(g["max_abs_diff_paper"]) <= 0.25


@pytest.mark.slow
def test_demo_runs_under_mpi(tmp_path):
    """demos/multicontinuum_fractional.py under mpirun -n 2 (≈ 1–2 min): Table 2 errors and the pictures."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    mpirun = Path(sys.executable).parent / "mpirun"
    env = dict(os.environ, OMP_NUM_THREADS="1", HOMFX_PROGRESS="0")
    subprocess.run([str(mpirun), "-n", "2", sys.executable, str(root / "demos/multicontinuum_fractional.py"),
                    str(tmp_path)], check=True, env=env, cwd=root, timeout=1800)
    res = json.loads((tmp_path / "summary.json").read_text())
    ref = reference_errors(2, 20)["proto"]
    assert np.abs(np.array(res["errors_percent"]["e1"]) - ref[:, 0]).max() <= 0.02
    assert np.abs(np.array(res["errors_percent"]["e2"]) - ref[:, 1]).max() <= 0.02
    for name in ("media", "cell_phi_1", "cell_phi_2", "cell_phi_1_1", "averages", "errors", "downscaled_t1"):
        assert (tmp_path / f"{name}.png").stat().st_size > 1000, name


def test_cli_coefficients(tmp_path, capsys):
    """`homfx mc coefficients`: per-block arrays; the crossed medium's columns of Ĉ sum to the volume fractions."""
    out = MPI.COMM_WORLD.bcast(str(tmp_path / "c.json") if MPI.COMM_WORLD.rank == 0 else None)
    assert main(["mc", "coefficients", "--nf", "40", "--H", "1/4", "--layers", "1", "-o", out]) == 0
    if MPI.COMM_WORLD.rank == 0:
        res = json.loads(open(out).read())
        C = np.array(res["C"])
        assert C.shape == (16, 2, 2)
        assert np.allclose(C.sum(axis=1), [0.64, 0.36], atol=1e-10)
        assert res["summary"]["unique_cell_solves"] == 1
    assert main(["mc", "coefficients", "--H", "1/7", "-o", out]) == 2
    assert main(["mc", "coefficients", "--contrast", "-1", "-o", out]) == 2


def test_time_dependent_source_consistent():
    """A source given as f(x, t) ≡ Gaussian follows the time-dependent paths (fine and coarse) and gives the
    same errors as the time-independent Gaussian."""
    from homfx.multicontinuum.fine import gaussian

    base = dict(nf=80, tau=0.1, T=0.3)
    a = reproduce(2, (8,), ReproductionSetup(CellOptions(layers=1), fine=dict(base)))
    b = reproduce(2, (8,), ReproductionSetup(CellOptions(layers=1), fine=dict(
        base, source=lambda x, t: gaussian(x), source_depends_on_time=True)))
    for k in ("e1", "e2"):
        assert np.abs(np.array(a["grids"]["8"][k]) - np.array(b["grids"]["8"][k])).max() <= 1e-9
