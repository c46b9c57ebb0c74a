"""``python -m benchmarks [advection | model | deformational] [options]``: one of the quick runners, ``run.py``
(advection throughput against the triad and PyMPDATA; the default), ``bench_model.py`` or ``deformational.py``,
with the runner's options (``--quick`` for a short run, ``--help`` for the rest)."""

from __future__ import annotations

import importlib
import os
import sys
import tempfile

#: Runner name -> module of this package.
RUNNERS = {"advection": "run", "model": "bench_model", "deformational": "deformational"}


def main(argv: list[str] | None = None) -> dict:
    args = list(sys.argv[1:] if argv is None else argv)
    name = args.pop(0) if args and args[0] in RUNNERS else "advection"
    # as when the runner is run as a script: a fresh Numba cache, so that first calls measure compile time (the
    # deformational runner keeps one between runs: PyMPDATA compiles for about a minute per variant)
    if name == "deformational":
        os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(tempfile.gettempdir(), "popstransport-bench-numba"))
    else:
        os.environ.setdefault("NUMBA_CACHE_DIR", tempfile.mkdtemp(prefix="popstransport-bench-"))
    return importlib.import_module(f"benchmarks.{RUNNERS[name]}").main(args)


if __name__ == "__main__":
    main()
