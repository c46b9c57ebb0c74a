"""The ``plot``, ``report``, ``compare`` and ``evaluate`` subcommands of ``popstransport``.

:func:`add_user_commands` adds them to the subparsers of :func:`popstransport.cli.build_parser`; each sets
``func(args) -> int`` (the exit code). Errors propagate as exceptions, which ``cli.main`` prints as one line.
"""

from __future__ import annotations

import argparse


def _cmd_plot(args: argparse.Namespace) -> int:
    from .results import open_run

    with open_run(args.run_dir) as run:
        paths = run.plot_all(args.out, args.period)
    folder = paths[0].parent if paths else args.out
    print(f"wrote {len(paths)} figure(s) to {folder}: {', '.join(p.name for p in paths)}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from .report import write_report
    from .results import open_run

    with open_run(args.run_dir) as run:
        path = write_report(run, args.out)
        warnings = run.warnings()
    print(f"wrote {path}" + (f" ({len(warnings)} warning(s) listed)" if warnings else ""))
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .compare import compare_runs

    out = args.out or f"compare_{Path(args.run_a).resolve().name}_vs_{Path(args.run_b).resolve().name}"
    result = compare_runs(args.run_a, args.run_b, out, overwrite=args.overwrite)
    print(result.summary)
    print(f"wrote {result.out_dir}/fields_difference.nc, receptor_difference.csv, budget_difference.csv, summary.txt")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .evaluate import evaluate

    out = args.out or str(Path(args.run_dir) / "evaluation")
    result = evaluate(args.run_dir, args.observations, out, soil_bulk_density_kg_m3=args.soil_bulk_density,
                      soil_depth_m=args.soil_depth, skip_unusable=args.skip_unusable)
    print(result.summary())
    print(f"wrote {result.out_dir}/evaluation.csv, evaluation_statistics.csv, evaluation_scatter.png")
    return 0


def add_user_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``plot``, ``report``, ``compare`` and ``evaluate`` subcommands to ``subparsers``."""
    period_help = ("output periods to show: all (default), each (maps of every period), a year 2010, a month "
                   "2010-07, a day, START/END, or an index (0, -1)")
    p = subparsers.add_parser("plot", help="PNG figures of a run: maps, source-receptor heatmap, budget, border fluxes")
    p.add_argument("run_dir", help="directory of a finished run")
    p.add_argument("--period", default=None, help=period_help)
    p.add_argument("--out", default=None, help="folder of the figures (default: RUN_DIR/plots)")
    p.set_defaults(func=_cmd_plot)

    p = subparsers.add_parser("report", help="one self-contained HTML page: configuration, budget, tables, figures")
    p.add_argument("run_dir", help="directory of a finished run")
    p.add_argument("--out", default=None, help="HTML file (default: RUN_DIR/report.html)")
    p.set_defaults(func=_cmd_report)

    p = subparsers.add_parser("compare", help="differences between two runs (B minus A) as NetCDF and CSV")
    p.add_argument("run_a", help="directory of run A (the reference)")
    p.add_argument("run_b", help="directory of run B")
    p.add_argument("--out", default=None, help="output folder (default: ./compare_A_vs_B)")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier comparison in the output folder")
    p.set_defaults(func=_cmd_compare)

    p = subparsers.add_parser("evaluate", help="compare a run with station observations: table, statistics, scatter")
    p.add_argument("run_dir", help="directory of a finished run")
    p.add_argument("--observations", required=True, metavar="FILE.csv",
                   help="CSV with site_id, lon, lat, time or period, value, unit, compartment (air, deposition, soil)")
    p.add_argument("--out", default=None, help="output folder (default: RUN_DIR/evaluation)")
    p.add_argument("--soil-bulk-density", type=float, default=None, metavar="KG_M3",
                   help="soil bulk density (kg m-3) to convert soil mass fractions (ng g-1) to burdens")
    p.add_argument("--soil-depth", type=float, default=None, metavar="M",
                   help="soil mixing depth (m) to convert soil mass fractions (ng g-1) to burdens")
    p.add_argument("--skip-unusable", action="store_true",
                   help="leave out rows without a value, outside the domain or the simulated period, or soil stations "
                        "in cells without soil (counted in a warning and in evaluation.csv), instead of stopping")
    p.set_defaults(func=_cmd_evaluate)


__all__ = ["add_user_commands"]
