"""``python -m benchmarks [advection | model | deformational] [options]``: one of the quick runners, ``run.py``
(advection throughput against the triad and PyMPDATA; the default), ``bench_model.py`` or ``deformational.py``,
with the runner's options (``--quick`` for a short run, ``--help`` for the rest)."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

#: Runner name -> module of this package.
RUNNERS = {"advection": "run", "model": "bench_model", "deformational": "deformational"}


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    name = args.pop(0) if args and args[0] in RUNNERS else "advection"
    # run exactly as the script is (its own choice of Numba cache, its own argument parsing)
    path = Path(__file__).resolve().parent / f"{RUNNERS[name]}.py"
    sys.argv = [str(path), *args]
    runpy.run_path(str(path), run_name="__main__")


if __name__ == "__main__":
    main()
