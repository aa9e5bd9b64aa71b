"""``python -m medseg``: the same command line as the ``medseg`` script."""

import sys

from .cli import main

sys.exit(main())
