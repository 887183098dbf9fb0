"""Sub-command groups assembled from optional modules (so that several parts of an application can each
own their command-line module). Each module defines ``add_parsers(subparsers)``."""

from __future__ import annotations

import importlib


def add_group(sub, name: str, help: str, modules: tuple[str, ...], aliases=()):
    p = sub.add_parser(name, help=help, aliases=list(aliases))
    group = p.add_subparsers(dest=f"{name}_command", required=True)
    for m in modules:
        try:
            mod = importlib.import_module(m)
        except ModuleNotFoundError as e:
            if e.name == m:
                continue
            raise
        mod.add_parsers(group)
    return p


def comma_floats(text: str, name: str) -> list[float]:
    """Parse a command-line list such as ``0,500,1000``; errors name the option (``--name``)."""
    try:
        vals = [float(x) for x in text.replace(" ", "").split(",") if x != ""]
    except ValueError:
        raise ValueError(f"--{name} must be a comma-separated list of numbers, got {text!r}") from None
    if not vals:
        raise ValueError(f"--{name} must not be empty")
    return vals
