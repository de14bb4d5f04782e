"""``python -m pulse``: the same as the ``pulse`` command, for when scripts are not on PATH."""

import sys

from pulse.cli import main

sys.exit(main())
