"""``python -m nacre``: the command line (see :mod:`nacre.cli`)."""

import sys

from nacre.cli import main

sys.exit(main())
