"""`python -m pinn_pac`: the `pinn-pac` command, with its exit status."""

import sys

from .cli.main import main

if __name__ == "__main__":
    sys.exit(main())
