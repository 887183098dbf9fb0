"""``homfx dmri signal``: S(b) of the homogenized models R0/R1/R2 from a tensors JSON file
(written by ``homfx dmri tensors``). Units: cell size µm, κ m/s, times ms, b s/mm² (spec §1.6–1.7)."""

from __future__ import annotations

import argparse
import json
import warnings

import numpy as np

from homfx._subcli import comma_floats
from homfx.io import write_json


_floats = comma_floats


def read_waveform(path):
    """A ``PiecewiseWaveform`` (times converted ms -> s) from the --waveform JSON file."""
    from homfx.dmri.sequences import PiecewiseWaveform
    from homfx.dmri.units import ms_to_s

    if path is None:
        raise ValueError("--waveform FILE is required with --sequence waveform")
    try:
        with open(path) as fh:
            spec = json.load(fh)
        times = ms_to_s(np.asarray(spec["times_ms"], dtype=float))
        values = spec["values"]
        kind = spec.get("interpolation", "constant")
    except OSError as e:
        raise ValueError(f"--waveform: cannot read {path!r}: {e.strerror}") from None
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise ValueError(f"--waveform: {path!r} needs keys times_ms and values ({e})") from None
    if kind == "constant":
        return PiecewiseWaveform.from_constants(times, values)
    if kind == "linear":
        return PiecewiseWaveform.from_linear(times, values)
    raise ValueError(f"--waveform: interpolation must be 'constant' or 'linear', got {kind!r}")


def add_parsers(sub):
    p = sub.add_parser("signal", help="dMRI signal S(b) of the homogenized models R0/R1/R2",
                       description="Signal of the ODE models R0 (4.15), R1 (4.13), R2 (4.11) of Kchaou & Li "
                       "from effective tensors (unit box, D in mm^2/s). The paper's epsilon = cell size / 1 mm "
                       "and sigma0 = kappa/epsilon.")
    p.add_argument("--tensors", required=True, help="tensors JSON of `homfx dmri tensors`")
    p.add_argument("--model", default="R2", help="R0 | R1 | R2 | R2full")
    p.add_argument("--cell-size", type=float, required=True, help="physical side of the cell Y [µm]")
    p.add_argument("--kappa", type=float, required=True, help="membrane permeability [m/s]")
    p.add_argument("--sequence", default="pgse", choices=["pgse", "dpgse", "ogse", "waveform"],
                   help="PGSE (paper), double PGSE (two identical pairs), cosine OGSE, or a general "
                   "piecewise waveform read from --waveform")
    p.add_argument("--delta", type=float, default=5.0, help="pulse (lobe) duration [ms]")
    p.add_argument("--Delta", type=float, default=None, help="pulse spacing (start to start) [ms]")
    p.add_argument("--waveform", default=None,
                   help='waveform JSON: {"times_ms": [0, ...], "values": [...], "interpolation": "constant" '
                   '(one value per interval) | "linear" (one value per time)}; F(T_E) must be 0')
    p.add_argument("--mixing", type=float, default=0.0, help="dpgse: time between the two pairs [ms]")
    p.add_argument("--periods", type=float, default=1.0, help="ogse: periods N per lobe (2N integer)")
    p.add_argument("--b", required=True, help="comma-separated b-values [s/mm^2]")
    p.add_argument("--direction", default="0,1", help="gradient direction (normalized), e.g. 0,1")
    p.add_argument("-o", "--output", required=True, help="JSON file to write")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from homfx._stack import MPI
    from homfx.dmri.signal import MODELS, UnstableModelWarning, compute_signal

    if args.model not in MODELS:
        raise ValueError(f"--model must be one of {', '.join(MODELS)}, got {args.model!r}")
    b = _floats(args.b, "b")
    direction = _floats(args.direction, "direction")
    try:
        with open(args.tensors) as fh:
            tensors = json.load(fh)
    except OSError as e:
        raise ValueError(f"--tensors: cannot read {args.tensors!r}: {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"--tensors: {args.tensors!r} is not valid JSON ({e})") from None
    sequence = read_waveform(args.waveform) if args.sequence == "waveform" else args.sequence
    if args.sequence != "waveform" and args.Delta is None:
        raise ValueError(f"--Delta is required for --sequence {args.sequence}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UnstableModelWarning)
        res = compute_signal(tensors, b, direction, args.model, cell_size=args.cell_size, kappa=args.kappa,
                             delta=args.delta, Delta=args.Delta, sequence=sequence, mixing=args.mixing,
                             periods=args.periods)
    out = res.to_json()
    out.update({"sequence": args.sequence, "delta_ms": args.delta, "Delta_ms": args.Delta,
                "cell_size_um": args.cell_size, "kappa_m_per_s": args.kappa, "tensors": args.tensors,
                "warnings": [str(w.message) for w in caught]})
    if args.sequence == "dpgse":
        out["mixing_ms"] = args.mixing
    if args.sequence == "ogse":
        out["periods"] = args.periods
    if args.sequence == "waveform":
        out.update({"waveform": args.waveform, "delta_ms": None, "Delta_ms": None})
    write_json(args.output, out)
    if MPI.COMM_WORLD.rank == 0:
        for w in caught:
            print(f"homfx: warning: {w.message}")
        logs = ", ".join(f"{bb:g}: {s:.6g}" for bb, s in zip(res.b, res.signal.real))
        print(f"{args.model} S(b) = {{{logs}}} (eps = {res.epsilon:g}, sigma0 = {res.sigma0:g} mm/s, "
              f"min eigenvalue {np.min(res.eigenvalues_min):.4g} 1/s) -> {args.output}")
    return 0
