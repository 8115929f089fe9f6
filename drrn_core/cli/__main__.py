"""`python -m drrn_core.cli ...` (also under torchrun): the `drrn` command."""

import sys

from drrn_core.cli.main import main

sys.exit(main())
