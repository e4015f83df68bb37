"""`python -m nncompile.cli`: the `nncompile` command."""

import sys

from . import main

sys.exit(main())
