"""``python -m popstransport``: the command line (:func:`popstransport.cli.main`), as the ``popstransport`` script."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
