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
