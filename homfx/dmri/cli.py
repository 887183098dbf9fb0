"""``homfx dmri ...``: tensors (cli_tensors), signal (cli_signal), reference and reproduce (cli_reference)."""

from homfx._subcli import add_group


def add_parser(sub):
    add_group(sub, "dmri", "diffusion MRI: effective tensors, signal models, fine-scale reference",
              ("homfx.dmri.cli_tensors", "homfx.dmri.cli_signal", "homfx.dmri.cli_reference"))
