"""``python -m fpsolve`` runs the command line."""

import sys

from fpsolve.cli import main

sys.exit(main())
