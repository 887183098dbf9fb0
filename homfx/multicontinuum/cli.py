"""``homfx mc ...`` (alias ``multicontinuum``): reproduce (cli_reproduce)."""

from homfx._subcli import add_group


def add_parser(sub):
    add_group(sub, "mc", "multicontinuum time-fractional diffusion-wave: offline/online, reproduction",
              ("homfx.multicontinuum.fine", "homfx.multicontinuum.cli_reproduce"), aliases=("multicontinuum",))
