"""The ``homfx`` command line. Each application registers its own sub-commands in ``homfx/<app>/cli.py``
with a function ``add_parser(subparsers)``; each sub-command sets ``func(args) -> int``."""

from __future__ import annotations

import argparse
import importlib
import sys

APPS = ("elliptic", "dmri", "wave", "multicontinuum")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="homfx", description="Periodic and multicontinuum homogenization "
                                "with FEniCSx (dolfinx 0.11). Run under mpirun -n N for MPI.")
    sub = p.add_subparsers(dest="command", required=True)
    for app in APPS:
        try:
            mod = importlib.import_module(f"homfx.{app}.cli")
        except ModuleNotFoundError as e:
            if e.name in (f"homfx.{app}", f"homfx.{app}.cli"):
                continue  # application not present
            raise
        mod.add_parser(sub)
    return p


class UsageError(ValueError):
    """Bad command-line input: reported as 'homfx: error: ...' with exit code 2."""


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (UsageError, ValueError) as e:
        from homfx._stack import MPI

        if MPI.COMM_WORLD.rank == 0:
            print(f"homfx: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
