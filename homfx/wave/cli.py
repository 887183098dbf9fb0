"""``homfx wave ...``: tensors (cli_tensors), reproduce (cli_reproduce)."""

from homfx._subcli import add_group


def add_parser(sub):
    add_group(sub, "wave", "long-time effective wave equations: tensors, solvers, experiments",
              ("homfx.wave.cli_tensors", "homfx.wave.cli_reproduce"))
