"""Benchmark driver: runs each case in a fresh process (serial or under mpirun), collects its JSON rows,
prints one table and writes bench/results/<timestamp>.json and latest.json (atomically); a run of some
cases only goes to bench/results/partial/ (not committed).

A case is ``bench/cases/<name>.py``; it prints one JSON object per line on rank 0:
``{"case": ..., "metric": ..., "value": ..., "target": "<= 1.5" | null, "note": ...}``.
Each case is run as ``python bench/cases/<name>.py`` with the launcher given in CASES."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = str(ROOT / ".venv" / "bin" / "python")
MPIRUN = str(ROOT / ".venv" / "bin" / "mpirun")

# name -> list of launch prefixes (each one a separate run of the case script)
CASES = {
    "engine": [[PY]],
    "mpi_consistency": [[PY], [MPIRUN, "-n", "2", PY], [MPIRUN, "-n", "3", PY]],
    # two rounds, np = 1 and 2 interleaved, so that a busy phase of the host does not hit one np only
    "dmri_reference_scaling": [[PY], [MPIRUN, "-n", "2", PY]] * 2,
}
EXTRA = sorted(p.stem for p in (ROOT / "bench" / "cases").glob("*.py") if p.stem not in CASES)
# cases that report their JIT time: run with an empty FFCx cache (XDG_CACHE_HOME), so that "JIT" is the
# compilation itself and not a cache lookup
COLD_JIT = {"engine", "dmri_cells"}


def run_case(name: str) -> list[dict]:
    rows = []
    launches = CASES.get(name, [[PY]])
    for prefix in launches:
        env = dict(os.environ)
        with tempfile.TemporaryDirectory(prefix="homfx-bench-jit-") as cache:
            if name in COLD_JIT:
                env["XDG_CACHE_HOME"] = cache
            t0 = time.perf_counter()
            r = subprocess.run(prefix + [str(ROOT / "bench" / "cases" / f"{name}.py")], capture_output=True,
                               text=True, cwd=ROOT, env=env)
        wall = time.perf_counter() - t0
        if r.returncode != 0:
            rows.append({"case": name, "metric": "FAILED", "value": None, "note": r.stderr[-400:]})
            continue
        for line in r.stdout.splitlines():
            if line.startswith("{"):
                row = json.loads(line)
                row.setdefault("wall_s", round(wall, 2))
                rows.append(row)
    return rows


def speedup_rows(sp: list) -> list:
    """The -n 2 speed-up of the fine Bloch-Torrey solver: the fastest mode with one process over the
    fastest with two (best serial time / parallel time), and each mode's own ratio below it."""
    t = {1: {}, 2: {}}  # {np: {mode: best wall time over all launches with np processes}}
    for r in sp:
        for mode, v in r["value"].items():
            t[r["np"]][mode] = min(v, t[r["np"]].get(mode, v))
    first, names = sp[0], sp[0]["mode_names"]
    peak = ", ".join(f"{max(r['peak_mib'] for r in sp if r['np'] == n):.0f}" for n in (1, 2))
    best = {n: min(t[n], key=t[n].get) for n in (1, 2)}
    sig = [v for r in sp for v in r["signal"].values()]  # every mode and np: the same signal
    rows = [{"case": first["case"], "metric": f"mpirun -n 2 speed-up ({first.get('dofs')} DOFs)",
             "value": t[1][best[1]] / t[2][best[2]], "target": ">= 1.6",
             "note": f"fastest: np=1 {names[best[1]]} {t[1][best[1]]:.1f} s, np=2 {names[best[2]]} "
                     f"{t[2][best[2]]:.1f} s; signal {sig[0]:.12f} (spread {max(sig) - min(sig):.1e}); "
                     f"peak (rank 0) {peak} MiB"}]
    for mode in t[1]:
        rows.append({"case": first["case"], "metric": f"  {names[mode]}: np=1 / np=2",
                     "value": t[1][mode] / t[2][mode], "target": None,
                     "note": f"np=1 {t[1][mode]:.1f} s, np=2 {t[2][mode]:.1f} s, "
                             f"{first['factorizations'][mode]} LU per b-value"
                             + (f", {first['krylov_iterations']} GMRES its" if mode == "lagged" else "")})
    return rows


def main(argv):
    names = argv or list(CASES) + EXTRA
    all_rows = []
    for n in names:
        print(f"running {n} ...", file=sys.stderr, flush=True)
        all_rows += run_case(n)
    # consistency across process counts: compare the A* printed by each launch of mpi_consistency
    cons = [r for r in all_rows if r.get("metric") == "A_eff"]
    if cons:
        import numpy as np

        ref = np.array(cons[0]["value"])
        worst = max(float(np.max(np.abs(np.array(r["value"]) - ref)) / np.abs(ref).max()) for r in cons)
        all_rows = [r for r in all_rows if r.get("metric") != "A_eff"]
        all_rows.append({"case": "mpi_consistency", "metric": "max rel. diff of A* over np = "
                         + ",".join(str(r["np"]) for r in cons), "value": worst, "target": "<= 1e-10"})
    # parallel speed-up: rows with metric "speedup_time" from runs with different np
    sp = [r for r in all_rows if r.get("metric") == "speedup_time"]
    if sp:
        all_rows = [r for r in all_rows if r.get("metric") != "speedup_time"]
        if {r["np"] for r in sp} >= {1, 2}:
            all_rows += speedup_rows(sp)
    mu = [r for r in all_rows if r.get("metric") == "mumps_time"]
    if mu:
        t = {n: min(r["value"] for r in mu if r["np"] == n) for n in {r["np"] for r in mu}}
        all_rows = [r for r in all_rows if r.get("metric") != "mumps_time"]
        if 1 in t and 2 in t:
            all_rows.append({"case": mu[0]["case"], "metric": "  host reference: MUMPS refactor + solve alone, -n 2 speed-up",
                             "value": t[1] / t[2], "target": None,
                             "note": f"np=1 {t[1]:.2f} s, np=2 {t[2]:.2f} s (measured right after the signal runs)"})
    w = max(len(f"{r['case']}: {r['metric']}") for r in all_rows)
    print(f"\n{'benchmark':<{w}}  {'value':>12}  target")
    for r in all_rows:
        v = r["value"]
        vs = f"{v:12.4g}" if isinstance(v, (int, float)) else f"{str(v):>12}"
        print(f"{r['case'] + ': ' + r['metric']:<{w}}  {vs}  {r.get('target') or ''}  {r.get('note', '')}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"(largest child peak RSS: {peak:.0f} MiB)")
    sys.path.insert(0, str(ROOT))
    from homfx.io import atomic_write_bytes

    stamp = time.strftime("%Y%m%d-%H%M%S")
    data = (json.dumps({"time": stamp, "rows": all_rows}, indent=1) + "\n").encode()
    if argv:  # a subset of the cases: kept apart, latest.json stays the last full run
        atomic_write_bytes(ROOT / "bench" / "results" / "partial" / f"{stamp}.json", data)
    else:
        atomic_write_bytes(ROOT / "bench" / "results" / f"{stamp}.json", data)
        atomic_write_bytes(ROOT / "bench" / "results" / "latest.json", data)
    return 1 if any(r["metric"] == "FAILED" for r in all_rows) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
