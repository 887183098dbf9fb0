import sys

from homfx.cli import main

sys.exit(main())
