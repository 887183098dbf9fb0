"""Reproduction of the paper's Tables 1–6 (spec §5, acceptance A5): fine reference, offline cell problems,
online coarse model, errors (40) at t = 0.1 … 1.0, compared with the paper and the spec's prototype.

One fine solve serves both coarse grids. Timings are split into the fine solve, the offline stage (cell
problems and coefficients) and the online stage (coarse assembly, factorization and time stepping), so the
speed-up of the coarse model over the fine solve is reported.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from homfx._stack import MPI
from homfx.multicontinuum.cell import CellOptions, CoarseGrid, compute_coefficients
from homfx.multicontinuum.coarse import assemble_coarse, relative_errors, solve_coarse
from homfx.multicontinuum.fine import gaussian, preset, solve_fine

TABLE_EXPERIMENT = {1: "E1.1a", 2: "E1.1b", 3: "E1.1c", 4: "E1.2", 5: "E2.1", 6: "E2.2"}

# Paper Tables 1–6 (%, transcribed in spec §5.4) and the spec author's prototype ("proto"). Columns:
# t, paper e1 H=1/20, paper e2 H=1/20, proto e1, proto e2, paper e1 H=1/40, paper e2 H=1/40, proto e1, proto e2.
TABLES = {
    1: (
        (0.1, 4.3610, 1.6115, 4.4181, 1.6008, 2.6539, 0.9813, 2.7118, 0.9891),
        (0.2, 3.0644, 1.8407, 3.1209, 1.8342, 1.3138, 0.7866, 1.3698, 0.7814),
        (0.3, 2.5377, 1.6898, 2.5923, 1.6863, 0.7241, 0.6480, 0.7798, 0.6443),
        (0.4, 2.4026, 1.5983, 2.4549, 1.5966, 0.5579, 0.5979, 0.6132, 0.5960),
        (0.5, 2.4039, 1.5183, 2.4540, 1.5177, 0.5510, 0.5295, 0.6048, 0.5288),
        (0.6, 2.4435, 1.4562, 2.4916, 1.4562, 0.5932, 0.4655, 0.6453, 0.4655),
        (0.7, 2.4864, 1.4169, 2.5328, 1.4173, 0.6445, 0.4228, 0.6950, 0.4233),
        (0.8, 2.5212, 1.3965, 2.5662, 1.3972, 0.6907, 0.3999, 0.7398, 0.4006),
        (0.9, 2.5457, 1.3891, 2.5896, 1.3899, 0.7275, 0.3899, 0.7754, 0.3909),
        (1, 2.5610, 1.3895, 2.6040, 1.3904, 0.7547, 0.3875, 0.8016, 0.3885),
    ),
    2: (
        (0.1, 4.6637, 1.0388, 4.7175, 1.0546, 2.8759, 2.2597, 2.9321, 2.3061),
        (0.2, 5.0996, 1.5235, 5.1567, 1.5245, 3.3907, 1.8471, 3.4494, 1.8686),
        (0.3, 4.2770, 2.2505, 4.3343, 2.2440, 2.6049, 1.3953, 2.6618, 1.3950),
        (0.4, 3.2231, 2.6408, 3.2799, 2.6375, 1.5417, 1.7346, 1.5953, 1.7326),
        (0.5, 2.4167, 2.2978, 2.4729, 2.2963, 0.6943, 1.4025, 0.7431, 1.4014),
        (0.6, 1.9937, 1.9367, 2.0485, 1.9358, 0.3017, 1.0359, 0.3302, 1.0347),
        (0.7, 1.8844, 1.8525, 1.9370, 1.8526, 0.3072, 1.0668, 0.3123, 1.0661),
        (0.8, 1.9575, 1.7751, 2.0080, 1.7762, 0.3176, 1.0312, 0.3336, 1.0312),
        (0.9, 2.1136, 1.6038, 2.1620, 1.6057, 0.3493, 0.8011, 0.3855, 0.8020),
        (1, 2.2911, 1.4076, 2.3372, 1.4100, 0.4593, 0.5027, 0.5049, 0.5045),
    ),
    3: (
        (0.1, 3.2835, 1.2876, 3.3321, 1.2305, 1.4581, 0.7435, 1.5094, 0.8084),
        (0.2, 4.5091, 0.9312, 4.5621, 0.9520, 2.7035, 2.3210, 2.7591, 2.3718),
        (0.3, 5.3425, 1.6117, 5.3988, 1.6349, 3.5888, 2.8675, 3.6475, 2.9028),
        (0.4, 5.4649, 1.8804, 5.5227, 1.8889, 3.7700, 2.4045, 3.8295, 2.4252),
        (0.5, 4.9539, 2.5350, 5.0116, 2.5347, 3.3087, 2.0839, 3.3665, 2.0905),
        (0.6, 4.0613, 3.5565, 4.1180, 3.5569, 2.4581, 2.7680, 2.5115, 2.7702),
        (0.7, 3.0423, 4.2390, 3.0979, 4.2422, 1.4846, 3.5367, 1.5292, 3.5406),
        (0.8, 2.1076, 4.0676, 2.1623, 4.0720, 0.6802, 3.4962, 0.6960, 3.5012),
        (0.9, 1.4487, 3.1557, 1.5008, 3.1593, 0.7163, 2.5995, 0.6735, 2.6035),
        (1, 1.1994, 2.5295, 1.2430, 2.5308, 1.1724, 1.9349, 1.1269, 1.9355),
    ),
    4: (
        (0.1, 5.0774, 3.0555, 5.1497, 3.0574, 3.4044, 3.4382, 3.4720, 3.4665),
        (0.2, 3.0151, 2.5509, 3.0857, 2.5306, 0.9572, 0.9120, 1.0301, 0.9007),
        (0.3, 2.8921, 2.6385, 2.9552, 2.6285, 0.8672, 0.9831, 0.9259, 0.9721),
        (0.4, 2.8242, 2.2639, 2.8817, 2.2604, 0.7755, 0.8696, 0.8340, 0.8654),
        (0.5, 2.6937, 1.8062, 2.7459, 1.8059, 0.7030, 0.6527, 0.7582, 0.6518),
        (0.6, 2.5482, 1.4270, 2.5959, 1.4277, 0.6655, 0.4656, 0.7157, 0.4659),
        (0.7, 2.4243, 1.1835, 2.4682, 1.1839, 0.6574, 0.3468, 0.7029, 0.3472),
        (0.8, 2.3341, 1.0884, 2.3750, 1.0885, 0.6573, 0.2877, 0.7000, 0.2880),
        (0.9, 2.2852, 1.1084, 2.3240, 1.1087, 0.6604, 0.2733, 0.7018, 0.2737),
        (1, 2.2825, 1.2035, 2.3200, 1.2041, 0.6756, 0.2944, 0.7165, 0.2950),
    ),
    5: (
        (0.1, 3.4643, 3.0195, 3.4674, 3.0114, 1.7997, 1.9799, 1.8024, 1.9760),
        (0.2, 2.3059, 3.7543, 2.3131, 3.7445, 0.5696, 2.8582, 0.5766, 2.8522),
        (0.3, 2.0710, 1.9225, 2.0809, 1.9068, 0.4282, 0.8036, 0.4359, 0.7921),
        (0.4, 2.1109, 1.5818, 2.1226, 1.5643, 0.4650, 0.4468, 0.4753, 0.4309),
        (0.5, 2.1660, 1.5747, 2.1789, 1.5583, 0.5128, 0.4341, 0.5261, 0.4187),
        (0.6, 2.1843, 1.5947, 2.1978, 1.5800, 0.5614, 0.4056, 0.5762, 0.3900),
        (0.7, 2.1728, 1.5984, 2.1865, 1.5853, 0.5940, 0.4081, 0.6094, 0.3942),
        (0.8, 2.1416, 1.5965, 2.1551, 1.5847, 0.6084, 0.4162, 0.6238, 0.4039),
        (0.9, 2.1021, 1.5849, 2.1153, 1.5743, 0.6124, 0.4143, 0.6276, 0.4033),
        (1, 2.0577, 1.5777, 2.0704, 1.5681, 0.6078, 0.4154, 0.6226, 0.4055),
    ),
    6: (
        (0.1, 3.6809, 2.6249, 3.6855, 2.6226, 1.8825, 0.6262, 1.8865, 0.6242),
        (0.2, 2.9735, 2.8666, 2.9828, 2.8599, 1.1861, 0.7398, 1.1946, 0.7357),
        (0.3, 2.3455, 2.8279, 2.3583, 2.8177, 0.7846, 0.7883, 0.7923, 0.7793),
        (0.4, 2.1554, 2.1954, 2.1704, 2.1826, 0.5348, 0.9551, 0.5445, 0.9446),
        (0.5, 2.3374, 2.2074, 2.3522, 2.1951, 0.7289, 1.2642, 0.7392, 1.2562),
        (0.6, 2.2823, 1.8027, 2.2967, 1.7877, 0.6791, 0.9199, 0.6922, 0.9104),
        (0.7, 2.0348, 1.6265, 2.0488, 1.6106, 0.5695, 0.5843, 0.5858, 0.5709),
        (0.8, 2.0175, 1.5654, 2.0310, 1.5502, 0.6366, 0.6088, 0.6524, 0.5969),
        (0.9, 2.1512, 1.7002, 2.1641, 1.6873, 0.7034, 0.7133, 0.7184, 0.7043),
        (1, 2.1917, 1.7845, 2.2038, 1.7733, 0.6888, 0.5972, 0.7028, 0.5877),
    ),
}

PAPER_TIMES = tuple(round(0.1 * k, 10) for k in range(1, 11))


def reference_errors(table: int, M: int) -> dict:
    """{"t", "paper": (10, 2), "proto": (10, 2)} of a table for H = 1/M (M = 20 or 40)."""
    if table not in TABLES:
        raise ValueError(f"--table: choose 1..6, got {table}")
    if M not in (20, 40):
        raise ValueError(f"--H: the paper reports H = 1/20 and 1/40 only, got 1/{M}")
    a = np.array(TABLES[table])
    c = 1 if M == 20 else 5
    return {"t": a[:, 0], "paper": a[:, c:c + 2], "proto": a[:, c + 2:c + 4]}


def parse_H(text: str) -> int:
    """'1/20', '0.05' or '20' → M = 20; H must be 1/M for an integer M."""
    try:
        x = Fraction(text.strip()).limit_denominator(100000)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"--H: expected a coarse mesh size like 1/20, got {text!r}")
    if x > 1:  # given as M
        x = 1 / x
    if x <= 0 or x.numerator != 1:
        raise ValueError(f"--H: H = {text} does not divide the unit square into whole blocks (use 1/M)")
    return x.denominator


@dataclass
class ReproductionSetup:
    """Everything that is not the experiment: cell-problem options, coarse mass, fine overrides."""

    cell: CellOptions = field(default_factory=CellOptions)
    mass: str = "consistent"
    history: str = "exact"
    fine: dict = field(default_factory=dict)  # overrides of the preset (nf, tau, T, ...; tests)

    @property
    def paper_setup(self) -> bool:
        """The defaults of spec §9 (only then the prototype regression A5.1 applies)."""
        return (not self.fine and self.mass == "consistent" and self.history == "exact"
                and self.cell.cell_bc == "natural" and self.cell.boundary_blocks == "unclipped"
                and self.cell.extension == "periodic"
                and self.cell.layers is None)


def output_steps(tau: float, T: float, every: float = 0.1) -> list[int]:
    k = int(round(every / tau))
    if k < 1 or abs(k * tau - every) > 1e-9:
        k = 1
    return list(range(k, int(round(T / tau)) + 1, k))


def coarse_initial(u0):
    """U_i(·, 0) = I_H u0 for every continuum (spec §4.3): the fine problem's u0 spec as a callable or None."""
    if isinstance(u0, str):
        if u0 == "zero":
            return None
        if u0 == "gaussian":
            return lambda x: gaussian(x, 0.5)
        raise ValueError(f"u0: unknown initial data {u0!r}")
    return u0


def coarse_source(problem, coef):
    """f_j per block (§4.2) for the fine problem's source: (constant array or None, time-dependent or None)."""
    f = problem.source
    if isinstance(f, str):
        if f == "zero":
            return None, None
        if f == "gaussian":
            return coef.source(gaussian), None
        raise ValueError(f"source: unknown {f!r}")
    if problem.source_depends_on_time:
        return None, (lambda t: coef.source(lambda x: f(x, t)))
    return coef.source(f), None


def reproduce(table: int, Ms=(20, 40), setup: ReproductionSetup | None = None, comm=None) -> dict:
    """Run Table ``table`` for the coarse grids H = 1/M, M in ``Ms``; returns a JSON-ready dict."""
    comm = MPI.COMM_WORLD if comm is None else comm
    setup = ReproductionSetup() if setup is None else setup
    if table not in TABLE_EXPERIMENT:
        raise ValueError(f"--table: choose 1..6, got {table}")
    name = TABLE_EXPERIMENT[table]
    problem = preset(name, history=setup.history, **setup.fine)
    Ms = tuple(int(M) for M in Ms)
    for M in Ms:
        CoarseGrid(M, problem.medium.nf)  # H must divide the domain: fail before the fine solve
    t0 = time.perf_counter()
    fine = solve_fine(problem, comm=comm, block_grids=Ms, show_progress=True)
    t_fine = comm.allreduce(time.perf_counter() - t0, op=MPI.MAX)
    steps = output_steps(problem.tau, problem.T)
    u0 = coarse_initial(problem.u0)
    out = {"table": table, "experiment": name, "alpha": list(problem.alphas), "bc": problem.bc,
           "medium": {"kind": problem.medium.kind, "nf": problem.medium.nf, "kappa": list(problem.medium.kappa)},
           "tau": problem.tau, "T": problem.T, "mass": setup.mass, "history": setup.history,
           "cell_bc": setup.cell.cell_bc, "boundary_blocks": setup.cell.boundary_blocks,
           "extension": setup.cell.extension, "layers_option": setup.cell.layers,
           "paper_setup": setup.paper_setup, "ranks": comm.size,
           "timings": {"fine_total": t_fine, "fine": fine.timings}, "grids": {}}
    for M in Ms:
        t1 = time.perf_counter()
        coef = compute_coefficients(problem.medium, M, setup.cell, comm)
        src, src_t = coarse_source(problem, coef)
        t_off = comm.allreduce(time.perf_counter() - t1, op=MPI.MAX)
        t2 = time.perf_counter()
        model = assemble_coarse(coef, problem.alphas, src, bc=problem.bc, mass=setup.mass)
        run = solve_coarse(model, tau=problem.tau, T=problem.T, u0=u0, output_steps=steps, history=setup.history,
                           source=src_t)
        t_on = comm.allreduce(time.perf_counter() - t2, op=MPI.MAX)
        e = np.array([relative_errors(run.block_means[n], fine.block_means[M][n]) for n in steps])
        g = {"H": f"1/{M}", "layers": coef.layers, "t": [n * problem.tau for n in steps],
             "e1": e[:, 0], "e2": e[:, 1],
             "coefficients": coef.summary(),
             "timings": {"offline": t_off, "offline_cell_solves": coef.timings["unique_solves"],
                         "online": t_on, "online_factor": run.factor_seconds, "online_steps": run.seconds,
                         "speedup_online": t_fine / t_on, "speedup_total": t_fine / (t_off + t_on)},
             "time_mean": e.mean(axis=0), "max": e.max(axis=0)}
        # block averages at the paper's figure times (Figs 4-5, 7-8, 11-12, 14-15): fine ū_i and coarse Ū_i
        fig_steps = [n for n in steps if any(abs(n * problem.tau - tf) < 1e-9 for tf in figure_times(table))]
        g["averages"] = {f"{n * problem.tau:.2f}": {"fine": fine.block_means[M][n], "coarse": run.block_means[n]}
                         for n in fig_steps}
        if M in (20, 40) and np.allclose(g["t"], PAPER_TIMES) and problem.medium.nf == 400:
            ref = reference_errors(table, M)
            g["paper"] = {"e1": ref["paper"][:, 0], "e2": ref["paper"][:, 1]}
            g["proto"] = {"e1": ref["proto"][:, 0], "e2": ref["proto"][:, 1]}
            g["max_abs_diff_paper"] = np.abs(e - ref["paper"]).max(axis=0)
            g["max_abs_diff_proto"] = np.abs(e - ref["proto"]).max(axis=0)
        out["grids"][str(M)] = g
    out["acceptance"] = acceptance(out)
    return out


def figure_times(table: int) -> tuple[float, ...]:
    """Times of the paper's figures of block averages: 0.1, 0.5, 1 (0.1, 0.4, 1 for Table 6 / E2.2)."""
    return (0.1, 0.4, 1.0) if table == 6 else (0.1, 0.5, 1.0)


def plot_averages(res: dict, M: str, path, comm=None) -> Path:
    """Fine continuum averages ū_i (rows 1, 3) vs coarse block means Ū_i (rows 2, 4) at the figure times."""
    from homfx.io import save_figure
    from homfx.plotting import matplotlib_setup

    plt = matplotlib_setup()
    g = res["grids"][M]
    times = list(g["averages"])
    if not times:
        raise ValueError(f"no block averages at the figure times {figure_times(res['table'])} in this run")
    m = int(M)
    fig, axes = plt.subplots(4, len(times), figsize=(3.7 * len(times), 13), squeeze=False)
    for c, t in enumerate(times):
        fine, coarse = np.asarray(g["averages"][t]["fine"]), np.asarray(g["averages"][t]["coarse"])
        for i in range(2):
            vmin = min(fine[:, i].min(), coarse[:, i].min())
            vmax = max(fine[:, i].max(), coarse[:, i].max())
            for row, (data, lab) in enumerate(((fine, "fine $\\bar u$"), (coarse, "coarse $\\bar U$"))):
                ax = axes[2 * i + row, c]
                im = ax.imshow(data[:, i].reshape(m, m), origin="lower", extent=(0, 1, 0, 1), vmin=vmin, vmax=vmax)
                ax.set_title(f"{lab}$_{i + 1}$, t = {float(t):g}")
                fig.colorbar(im, ax=ax, fraction=0.046)
    fig.suptitle(f"Table {res['table']} ({res['experiment']}), H = 1/{M}: continuum averages")
    fig.tight_layout()
    out = save_figure(fig, path, comm=comm)
    plt.close(fig)
    return out


def acceptance(res: dict) -> dict:
    """A5 items 1–4 (where they apply) evaluated on a result of :func:`reproduce`."""
    acc = {}
    grids = res["grids"]
    for M, g in grids.items():
        if "paper" not in g:
            continue
        if res["paper_setup"]:
            acc[f"A5.1 |e-proto|<=0.02pp H=1/{M}"] = bool(np.max(g["max_abs_diff_proto"]) <= 0.02)
        acc[f"A5.2 |e-paper|<=0.25pp H=1/{M}"] = bool(np.max(g["max_abs_diff_paper"]) <= 0.25)
        acc[f"A5.4 max e<=6% H=1/{M}"] = bool(np.max(g["max"]) <= 6.0)
    if "20" in grids and "40" in grids:
        acc["A5.3 time-mean(1/40) < time-mean(1/20)"] = bool(
            np.all(np.asarray(grids["40"]["time_mean"]) < np.asarray(grids["20"]["time_mean"])))
    return acc


def plot(res: dict, path, comm=None) -> Path:
    """Errors e1, e2 against time for every coarse grid: homfx, paper, prototype."""
    from homfx.io import save_figure
    from homfx.plotting import matplotlib_setup

    plt = matplotlib_setup()
    grids = res["grids"]
    fig, axes = plt.subplots(len(grids), 2, figsize=(10, 3.6 * len(grids)), squeeze=False)
    for row, (M, g) in enumerate(grids.items()):
        for col, key in enumerate(("e1", "e2")):
            ax = axes[row, col]
            ax.plot(g["t"], g[key], "o-", label="homfx")
            if "paper" in g:
                ax.plot(g["t"], g["paper"][key], "s--", mfc="none", label="paper")
                ax.plot(g["t"], g["proto"][key], "x:", label="spec prototype")
            ax.set_xlabel("t")
            ax.set_ylabel(f"$e^{{({col + 1})}}$ (%)")
            ax.set_title(f"Table {res['table']} ({res['experiment']}), H = 1/{M}, continuum {col + 1}")
            ax.legend()
    fig.tight_layout()
    out = save_figure(fig, path, comm=comm)
    plt.close(fig)
    return out


def format_table(res: dict) -> str:
    """A plain-text table of the errors (homfx | paper) per time and grid."""
    lines = [f"Table {res['table']} ({res['experiment']}, alpha={res['alpha']}, {res['medium']['kind']})"]
    for M, g in res["grids"].items():
        t = res["timings"]
        lines.append(f"H = 1/{M} (l = {g['layers']}): fine {t['fine_total']:.1f} s, offline "
                     f"{g['timings']['offline']:.2f} s, online {g['timings']['online']:.3f} s "
                     f"(speed-up online {g['timings']['speedup_online']:.0f}x, total "
                     f"{g['timings']['speedup_total']:.1f}x)")
        lines.append("   t     e1      e2   " + ("| paper e1  e2    | proto e1  e2" if "paper" in g else ""))
        for k, tt in enumerate(g["t"]):
            s = f"  {tt:.2f} {g['e1'][k]:7.4f} {g['e2'][k]:7.4f}"
            if "paper" in g:
                s += (f" | {g['paper']['e1'][k]:7.4f} {g['paper']['e2'][k]:7.4f} | {g['proto']['e1'][k]:7.4f} "
                      f"{g['proto']['e2'][k]:7.4f}")
            lines.append(s)
    for k, v in res["acceptance"].items():
        lines.append(f"  {'PASS' if v else 'FAIL'}  {k}")
    return "\n".join(lines)
