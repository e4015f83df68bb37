"""`python -m nncompile`: the `nncompile` command."""

import sys

from nncompile.cli import main

sys.exit(main())
