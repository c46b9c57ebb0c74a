"""``python -m popstransport ...``: the ``popstransport`` command (for a checkout on ``PYTHONPATH``, or an
environment without the console script)."""

import sys

from .cli import main

sys.exit(main())
