"""``python -m validation.paper``: the command line of :mod:`validation.report.paper`."""

import sys

from validation.report.paper import main

if __name__ == "__main__":
    sys.exit(main())
