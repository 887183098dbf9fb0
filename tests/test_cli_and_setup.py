"""The command line, the demos and the set-up script."""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
HOMFX = [sys.executable, "-m", "homfx"]


def _run(args, **kw):
    env = dict(os.environ, HOMFX_PROGRESS="0", OMP_NUM_THREADS="1")
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=600, **kw)


def test_cli_elliptic_perforated(tmp_path):
    out = tmp_path / "out.json"
    r = _run(HOMFX + ["elliptic", "--cell", "disk", "--radius", "0.3", "--contrast", "0", "--h", "0.02",
                      "-o", str(out)])
    assert r.returncode == 0, r.stderr
    data = json.loads(out.read_text())
    assert set(data) >= {"A_eff", "volume_fractions", "dofs", "seconds"}
    A = np.array(data["A_eff"])
    assert A.shape == (2, 2)
    # P1 on straight-sided triangles at h = 0.02: O(h^2) above the Rayleigh value 0.5584854 (notes §5b)
    assert 0.5584854 < A[0, 0] < 0.5584854 * (1 + 3e-3)
    assert abs(A[0, 0] - A[1, 1]) < 1e-4 and abs(A[0, 1]) < 1e-4
    assert abs(data["volume_fractions"]["c"] - np.pi * 0.09) < 2e-3
    assert isinstance(data["dofs"], int) and data["dofs"] > 1000 and data["seconds"] > 0


@pytest.mark.parametrize("args,needle", [
    (["--radius", "0.6"], "radius"),
    (["--radius", "0.3", "--contrast", "-1"], "--contrast"),
    (["--radius", "0.3", "--h", "0.5"], "h=0.5"),
    (["--radius", "-0.1"], "radius"),
])
def test_cli_bad_input_clear_error_and_no_output(tmp_path, args, needle):
    out = tmp_path / "sub" / "out.json"
    r = _run(HOMFX + ["elliptic", "--cell", "disk", *args, "-o", str(out)])
    assert r.returncode == 2
    assert "homfx: error:" in r.stderr and needle in r.stderr
    assert "Traceback" not in r.stderr
    assert not out.exists() and not any(tmp_path.rglob("*.json"))


def _load_demo(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "demos" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_extend_cell_problem_tutorial(tmp_path):
    """The tutorial's new cell problem (surface-conducting interfaces): exact on a coated laminate, and
    Maxwell-Garnett with the equivalent core a_c + beta/R for a dilute coated disk."""
    demo = _load_demo("extend_cell_problem")
    A, exact = demo.laminate_check(beta=0.7, a1=2.0, a2=0.5)
    assert np.max(np.abs(A - exact)) < 1e-10 * exact.max()
    cell, rows, _ = demo.coated_disk(h=0.025, betas=(0.0, 0.2, 0.5))
    rel = np.abs(rows[:, 1] - rows[:, 3]) / rows[:, 3]
    assert rel.max() < 5e-6  # O(f^4) ~ 1e-6 at f = 0.031
    assert np.all(np.diff(rows[:, 1]) > 1e-3)  # the coating conducts
    # beta = 0 is the plain elliptic cell problem
    from homfx.elliptic import effective_tensor

    plain = effective_tensor(cell, {"e": 1.0, "c": 2.0}, degree=2).A_eff
    assert abs(plain[0, 0] - rows[0, 1]) < 1e-12


def test_extend_cell_problem_demo_writes_outputs(tmp_path):
    r = _run([sys.executable, str(ROOT / "demos" / "extend_cell_problem.py"), str(tmp_path)])
    assert r.returncode == 0, r.stderr
    for f in ("coated_disk.png", "chi1_coated.png", "chi1_coated.xdmf", "chi1_coated.h5", "coated_disk.json"):
        assert (tmp_path / f).stat().st_size > 0
    data = json.loads((tmp_path / "coated_disk.json").read_text())
    assert np.allclose(data["laminate_A"], data["laminate_exact"], atol=1e-10)


def test_elliptic_demo_runs(tmp_path):
    r = _run([sys.executable, str(ROOT / "demos" / "elliptic_homogenization.py"), str(tmp_path)])
    assert r.returncode == 0, r.stderr
    data = json.loads((tmp_path / "elliptic.json").read_text())
    errs = [row[2] for row in data["checkerboard"]]
    assert all(a > b for a, b in zip(errs, errs[1:]))
    A = np.array(data["disk_A11"])
    hs = np.array(data["hashin_shtrikman"])
    assert np.all(A >= hs[:, 0] - 1e-8) and np.all(A <= hs[:, 1] + 1e-8)
    assert (tmp_path / "chi1_disk.png").stat().st_size > 10_000


def test_bootstrap_fails_clearly_without_python312(tmp_path):
    """No $PYTHON, no python3.12/3.13 on PATH, no pyenv: a clear message and exit 1, nothing created."""
    fakebin = tmp_path / "bin"
    fakebin.mkdir()
    for tool in ("bash", "cat", "sha256sum", "cut", "dirname"):
        os.symlink(shutil.which(tool), fakebin / tool)
    os.symlink("/usr/bin/python3.11", fakebin / "python3")
    venv = tmp_path / "venv"
    env = {"PATH": str(fakebin), "HOME": str(tmp_path), "HOMFX_VENV": str(venv), "PYTHON": "python3"}
    r = subprocess.run([str(fakebin / "bash"), str(ROOT / "tools" / "bootstrap.sh")], capture_output=True,
                       text=True, env=env, timeout=60)
    assert r.returncode == 1
    assert "no Python >= 3.12 found" in r.stderr
    assert not venv.exists()


def test_ci_calls_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make test" in ci
    assert "make test" in readme and "make demo" in readme
