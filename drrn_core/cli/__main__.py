"""`python -m drrn_core.cli ...` (also under torchrun): the `drrn` command."""

import sys

from drrn_core.cli.main import main

if __name__ == "__main__":  # importing this module (e.g. to list modules) runs nothing
    sys.exit(main())
