"""The Docker image must install exactly what CI installs (no Docker engine runs here, so we check the
recipe): the same Python minor version, the same pins via the same set-up script, the same entry points."""

import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "docker" / "Dockerfile").read_text()


def test_same_python_as_ci():
    m = re.search(r"^FROM python:(\d+)\.(\d+)\.(\d+)", DOCKERFILE, re.M)
    assert m, "docker/Dockerfile must start from an exactly versioned python image"
    docker_py = tuple(int(x) for x in m.groups())
    assert docker_py[:2] == sys.version_info[:2], (docker_py, sys.version_info)
    assert docker_py >= (3, 12)
    # the bootstrap is told to use that interpreter
    assert f"PYTHON=python{docker_py[0]}.{docker_py[1]} bash tools/bootstrap.sh" in DOCKERFILE


def test_same_setup_script_and_pins():
    assert "tools/bootstrap.sh" in DOCKERFILE
    assert re.search(r"^COPY tools/ tools/", DOCKERFILE, re.M)  # brings constraints.txt along
    # no package is installed outside the shared set-up
    assert not re.search(r"pip3? install", DOCKERFILE), "install Python packages only via tools/bootstrap.sh"
    boot = (ROOT / "tools" / "bootstrap.sh").read_text()
    assert "-c \"$here/tools/constraints.txt\"" in boot
    pins = dict(line.split("==") for line in (ROOT / "tools" / "constraints.txt").read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = project["dependencies"] + project["optional-dependencies"]["dev"]
    names = {re.split(r"[<>=!~ ]", d)[0] for d in deps}
    assert names <= set(pins), f"unpinned dependencies: {names - set(pins)}"
    assert f"dolfinx-solver-real=={pins['dolfinx-solver-real']}" in project["dependencies"]


def test_entry_points_available_in_image():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"homfx": "homfx.cli:main"}
    assert "/homfx/.venv/bin" in DOCKERFILE  # so `homfx`, `python` and `mpirun` are the venv's
    for d in ("homfx/", "demos/", "tools/"):
        assert f"COPY {d}" in DOCKERFILE
