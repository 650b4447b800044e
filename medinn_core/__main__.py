"""``python -m medinn_core``: the command-line interface."""

import sys

from medinn_core.cli import main

if __name__ == "__main__":
    sys.exit(main())
