"""Command line: parses arguments, calls the public API, prints. Errors are one line with a non-zero exit code
(a traceback only with ``--debug``)."""

from __future__ import annotations

import argparse
import signal
import sys
import time
import warnings
from collections.abc import Sequence

from . import __version__

EXIT_USAGE = 2
EXIT_ERROR = 1
EXIT_INTERRUPTED = 130


#: A first step longer than this (s) is reported: it compiled the numerical kernels.
SLOW_FIRST_STEP_S = 5.0


def _progress_printer(quiet: bool):
    """The progress display of ``popstransport run``: a bar on a terminal, a line every 10 s otherwise. Speed and ETA
    leave out the first step, which on a machine's first run also compiles the numerical kernels (a minute or so;
    Numba caches them for later runs); a slow first step is reported on a line of its own."""
    if quiet:
        return None
    state: dict = {"last": -1.0, "first": None}
    interactive = sys.stderr.isatty()

    def show(sim_s: float, total_s: float, wall_s: float) -> None:
        if state["first"] is None:
            state["first"] = (sim_s, wall_s)
            if wall_s > SLOW_FIRST_STEP_S:
                sys.stderr.write(f"first step: {wall_s:.0f} s (compiling the numerical kernels; later runs load them "
                                 "from Numba's cache)\n")
        now = time.perf_counter()
        if not interactive and now - state["last"] < 10.0 and sim_s < total_s:
            return
        if interactive and now - state["last"] < 0.2 and sim_s < total_s:
            return
        state["last"] = now
        frac = sim_s / total_s if total_s > 0 else 1.0
        sim0, wall0 = state["first"]
        if sim_s > sim0 and wall_s > wall0:
            speed = (sim_s - sim0) / 86400.0 / (wall_s - wall0)
        elif wall0 > SLOW_FIRST_STEP_S:
            speed = None  # only the compiling first step so far: no speed to show yet
        else:
            speed = sim_s / 86400.0 / wall_s if wall_s > 0 else 0.0
        if speed is None:
            rate = f"{'-':>7} days/s  ETA {'-':>6} s"
        else:
            eta = (total_s - sim_s) / 86400.0 / speed if speed > 0 else 0.0
            rate = f"{speed:7.1f} days/s  ETA {eta:6.0f} s"
        text = f"{100 * frac:5.1f}%  day {sim_s / 86400.0:8.1f} of {total_s / 86400.0:.1f}  {rate}"
        if interactive:
            bar = "#" * int(30 * frac)
            sys.stderr.write(f"\r[{bar:<30}] {text}")
            if sim_s >= total_s:
                sys.stderr.write("\n")
        else:
            sys.stderr.write(text + "\n")
        sys.stderr.flush()

    return show


def _largest_closure_error(run_dir) -> tuple[int, float]:
    """The number of output periods of a run and its largest relative budget closure error (from ``budget.csv``)."""
    import csv

    with open(run_dir / "budget.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(line for line in fh if not line.startswith("#")))
    return len(rows), max(float(r["relative_closure_error"]) for r in rows)


def _cmd_run_ensemble(cfg, args: argparse.Namespace) -> int:
    """``popstransport run`` of a configuration with an ``[ensemble]``: every member, then the summary
    (``popstransport.ensemble.run_ensemble``); ``--workers``/``--scheduler`` run the members on Dask workers."""
    from pathlib import Path

    from .ensemble import run_ensemble

    if args.resume:
        raise ValueError("--resume continues a single run; an ensemble cannot be resumed: run it again with --overwrite")
    n = cfg.ensemble["members"]
    client = None
    if args.workers or args.scheduler:
        from .distributed import make_client

        client = make_client(args.workers, args.scheduler)
    started = [0]  # (how many members have started; those that finished have their fields.nc)

    def member_progress(k: int, members: int):
        started[0] = k + 1
        if args.quiet:
            return None
        print(f"member {k + 1} of {members}", file=sys.stderr)
        return _progress_printer(False)

    if not args.quiet:
        where = "as tasks on Dask workers" if client is not None else "one after another"
        print(f"running an ensemble of {n} members {where} (on a machine's first run the first step also compiles "
              "the numerical kernels: about a minute)", file=sys.stderr)
    out = args.out or cfg.output.directory
    count = [0]

    def member_finished(k: int, members: int):
        count[0] += 1
        if not args.quiet:
            print(f"member {k + 1} of {members} done: {count[0]} of {members}", file=sys.stderr, flush=True)

    try:
        path = run_ensemble(cfg, out, overwrite=args.overwrite or cfg.output.overwrite, client=client,
                            progress=member_progress if client is None else None,
                            finished=member_finished if client is not None else None)
    except KeyboardInterrupt:
        # (run_ensemble keeps the members that finished, which make the folder refuse a new run without --overwrite)
        done = sum((Path(out) / "members" / f"member_{k:03d}" / "fields.nc").is_file() for k in range(started[0]))
        if client is not None or done:
            kept = (f"the {done} member(s) that finished are kept in {Path(out) / 'members'}" if client is None else
                    f"the members that finished are kept in {Path(out) / 'members'}")
            raise Interrupted(f"interrupted; no ensemble summary was written, {kept}; an ensemble cannot be resumed: "
                              "run it again with --overwrite") from None
        raise
    finally:
        if client is not None:
            from .distributed import close_quietly

            close_quietly(client)
    if not args.quiet:
        worst = max(_largest_closure_error(Path(path) / "members" / f"member_{k:03d}")[1] for k in range(n))
        print(f"wrote {n} member runs to {path}/members/member_000..member_{n - 1:03d}, their drawn parameters to "
              f"{path}/ensemble_members.csv and their median and 5th/95th percentiles to {path}/ensemble_summary.nc; "
              f"largest relative budget closure error of a member {worst:.2e}")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from .config import load_config

    cfg = load_config(args.config, args.set)
    if cfg.ensemble:
        return _cmd_run_ensemble(cfg, args)
    out = args.resume or args.out or cfg.output.directory
    if args.workers or args.scheduler:
        if args.resume:
            raise ValueError(f"--resume {args.resume}: a run resumes from its checkpoint in this process, not on Dask "
                             "workers (a distributed run writes no checkpoints); leave out --workers and --scheduler to "
                             "continue it, or run again without --resume and with --overwrite to start afresh")
        from .distributed import run_distributed

        def say(text: str) -> None:
            print(text, file=sys.stderr, flush=True)

        try:
            path = run_distributed(cfg, out, workers=args.workers, scheduler=args.scheduler,
                                   overwrite=args.overwrite or cfg.output.overwrite, progress=None if args.quiet else say)
        except KeyboardInterrupt as exc:
            from .run import InterruptedAfterResults

            if isinstance(exc, InterruptedAfterResults):
                raise
            raise Interrupted(f"{exc or 'interrupted'}: the tag batches stopped and no results were written to "
                              f"{str(out)!r} (an earlier run's results there are as they were); a distributed run "
                              "keeps no checkpoints: run it again for its results") from None
    else:
        path = _run_serial(cfg, args, out)
    if not args.quiet:
        from pathlib import Path

        from .config import scenario_name
        from .io.writers import RunDirectory

        periods, worst = _largest_closure_error(path)
        # (a tagged run's attribution files and its [[scenarios]] too, not only the files of every run)
        written = [n for n in RunDirectory.RESULT_FILES if (Path(path) / n).is_file()]
        written += [f"scenarios/{scenario_name(sc, k)}/" for k, sc in enumerate(cfg.scenarios)]
        where = " (distributed over Dask workers)" if args.workers or args.scheduler else ""
        print(f"wrote {path}/{', '.join(written)} ({periods} periods){where}; largest relative budget closure error "
              f"{worst:.2e}")
    return 0


def _run_serial(cfg, args: argparse.Namespace, out):
    """``popstransport run`` in this process, with progress, and what to do after an interruption."""
    from .run import run

    if not args.quiet:
        print("running (on a machine's first run the first step also compiles the numerical kernels: about a minute)",
              file=sys.stderr)
    try:
        return run(cfg, out, overwrite=args.overwrite or cfg.output.overwrite, progress=_progress_printer(args.quiet),
                   resume=bool(args.resume))
    except (KeyboardInterrupt, OSError) as exc:
        import shlex
        from pathlib import Path

        from .io.writers import OutputExistsError

        if not isinstance(exc, OutputExistsError) and (Path(out) / "checkpoint.pkl").is_file():
            again = " ".join(["popstransport run", *([shlex.quote(args.config)] if args.config else []), "--resume",
                              shlex.quote(str(out)), *[f"--set {shlex.quote(s)}" for s in args.set or ()]])
            if isinstance(exc, KeyboardInterrupt):
                raise Interrupted(f"interrupted; the results are not written, but the last checkpoint is: continue "
                                  f"with `{again}`") from None
            # (a full disk or a folder made read-only: the run stopped as if interrupted, and can go on once fixed)
            raise OSError(f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}; the results are not "
                          f"written, but the last checkpoint is: once that is fixed, continue with `{again}`") from exc
        import errno

        if isinstance(exc, OSError) and exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise OSError(f"{str(exc).splitlines()[0]}: the run folder {str(out)!r} cannot be written; give a folder "
                          "you can write to with --out (or output.directory)") from exc
        raise


def _cmd_validate(args: argparse.Namespace) -> int:
    from .config import load_config
    from .run import validate

    summary = validate(load_config(args.config, args.set), all_records=args.all_records)
    print(f"configuration {args.config or '(built-in default)'} is valid")
    for line in summary.lines:
        print(f"  {line}")
    return 0


def _cmd_scenario(args: argparse.Namespace) -> int:
    from .attribution import parse_scale, scale_text
    from .io.attribution_writer import write_scenario

    scale = parse_scale(args.scale)
    out = write_scenario(args.run_dir, scale, args.name or "", overwrite=args.overwrite)
    import csv

    with open(out / "source_receptor_deposition.csv", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(line for line in fh if not line.startswith("#"))]
    print(f"scenario {scale_text(scale)} written to {out}")
    for r in rows:
        if r["receptor"] == "ALL_RECEPTORS":
            print(f"  deposition onto all receptors: {float(r['total_kg']):.4g} kg")
    return 0


def _cmd_chemicals(args: argparse.Namespace) -> int:
    from .chemicals import format_chemical, format_table, get_chemical

    if args.name:
        print(format_chemical(get_chemical(args.name, files=tuple(args.file))))
    else:
        print(format_table(files=tuple(args.file)))
    return 0


def _cmd_screen(args: argparse.Namespace) -> int:
    from .chemicals import get_chemical
    from .screening import format_screening, screen

    print(format_screening([screen(get_chemical(name, files=tuple(args.file))) for name in args.chemical]))
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from .verification import format_results, run_standard_suite, run_verification

    if args.case:
        results = [run_verification(args.case, 2.8125 if args.resolution is None else args.resolution,
                                    scheme=args.scheme)]
    elif args.resolution is not None:
        raise ValueError(f"--resolution {args.resolution:g} sets the grid of one case, but no --case was given (the "
                         "standard suite runs each case at its own grids). Fix: add --case solid_body_rotation or "
                         "--case deformational_flow, or leave out --resolution")
    else:
        results = run_standard_suite(scheme=args.scheme)
    print(format_results(results))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``popstransport`` command."""
    parser = argparse.ArgumentParser(
        prog="popstransport",
        description="Gridded multimedia fate and transport of persistent organic pollutants.",
    )
    parser.add_argument("--version", action="version", version=f"popstransport {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show a traceback on errors, and warnings in Python's form (with the code that warned)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add_config_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("config", nargs="?", default=None, help="TOML configuration (default: built-in)")
        p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                       help="override a configuration key (repeatable)")

    p_run = sub.add_parser("run", help="run a simulation and write its outputs")
    add_config_args(p_run)
    p_run.add_argument("--out", default=None, help="run directory (default: output.directory)")
    p_run.add_argument("--overwrite", action="store_true", help="replace results already in the run directory")
    p_run.add_argument("--quiet", action="store_true", help="no progress output")
    dask = p_run.add_mutually_exclusive_group()
    dask.add_argument("--workers", type=_worker_count, default=None, metavar="N",
                      help="split the source tags of a tagged run (or the members of an [ensemble]) over N local Dask "
                           "worker processes")
    dask.add_argument("--scheduler", default=None, metavar="ADDRESS",
                      help="use an existing Dask scheduler (instead of --workers)")
    p_run.add_argument("--resume", default=None, metavar="DIR", help="continue an interrupted run from its checkpoint")
    p_run.set_defaults(func=_cmd_run)

    p_val = sub.add_parser("validate", help="check the configuration and every input; runs nothing")
    add_config_args(p_val)
    p_val.add_argument("--all-records", action="store_true",
                       help="read and check every met record the run uses (NaN, units, ranges), not only the first")
    p_val.set_defaults(func=_cmd_validate)

    p_ch = sub.add_parser("chemicals", help="the chemical property database (one substance in full with NAME)")
    p_ch.add_argument("name", nargs="?", default=None, help="substance name, alias or CAS number")
    p_ch.add_argument("--file", action="append", default=[], help="also read substances from this CSV file")
    p_ch.set_defaults(func=_cmd_chemicals)

    p_scr = sub.add_parser("screen", help="overall persistence, travel distance and transfer efficiency (unit world)")
    p_scr.add_argument("chemical", nargs="+", help="substance name(s)")
    p_scr.add_argument("--file", action="append", default=[], help="also read substances from this CSV file")
    p_scr.set_defaults(func=_cmd_screen)

    p_ver = sub.add_parser("verify", help="standard transport test cases with normalised l1, l2 and linf errors")
    p_ver.add_argument("--case", default=None, choices=["solid_body_rotation", "deformational_flow"],
                       help="one case only (default: the whole suite)")
    p_ver.add_argument("--resolution", type=float, default=None,
                       help="grid spacing in degrees of the --case (default 2.8125)")
    p_ver.add_argument("--scheme", default="ppm", choices=["ppm", "ppm_cw84", "vanleer", "upwind"])
    p_ver.set_defaults(func=_cmd_verify)

    p_sc = sub.add_parser("scenario", help="scenario results from a tagged run, with no model run")
    p_sc.add_argument("run_dir", help="directory of a tagged run")
    p_sc.add_argument("--scale", required=True, metavar="SOURCE=FACTOR[,...]",
                      help="e.g. CHN=0.5,IND=0.8; the factor is the text after an entry's last '=', and a source named "
                           "with ',' or '=' may be quoted as the run's messages list it: \"'Zone=A, north'=0.5\"")
    p_sc.add_argument("--name", default=None, help="scenario name (default: from the factors)")
    p_sc.add_argument("--overwrite", action="store_true", help="replace an existing scenario of the same name")
    p_sc.set_defaults(func=_cmd_scenario)

    from .user_commands import add_user_commands

    add_user_commands(sub)
    for command in sub.choices.values():  # `popstransport COMMAND ... --debug` too, not only before the command
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                             help="show a traceback on errors, and warnings in Python's form")
    return parser


def _worker_count(text: str) -> int:
    """``--workers N``: a whole number of 1 or more (0 ran serially without a word, -1 waited for ever for workers)."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"{n} worker processes: give 1 or more (or leave --workers out for a run in "
                                         "this process)")
    return n


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, with what the user can do next (resume from a checkpoint)."""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``popstransport`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_USAGE
    format_warning = warnings.formatwarning
    if not getattr(args, "debug", False):
        warnings.formatwarning = _one_line_warning
    terminate = _sigterm_as_interrupt()
    try:
        return int(args.func(args))
    except KeyboardInterrupt as exc:
        # (Interrupted, or another interruption that says what was kept, e.g. run.InterruptedAfterResults)
        print(f"popstransport: {exc}" if isinstance(exc, Interrupted) or str(exc) else
              "popstransport: interrupted; no partial outputs were kept", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - the CLI turns every error into one line
        if args.debug:
            raise
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if isinstance(exc, MemoryError) and hasattr(args, "config"):  # (NumPy's "Unable to allocate 34.9 GiB ...")
            message = (f"not enough memory ({message or 'MemoryError'}): {_grid_size(args)} too large for this "
                       "machine; choose a coarser domain.resolution_deg, a smaller domain, or fewer source tags "
                       "(attribution.tags)")
        elif isinstance(exc, MemoryError):  # (a command on a run folder: no configuration whose grid is the cause)
            message = f"not enough memory ({message or 'MemoryError'}): this command needs more than this machine has"
        print(f"popstransport: error: {message}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        warnings.formatwarning = format_warning
        if terminate is not None:
            signal.signal(signal.SIGTERM, terminate)


def _sigterm_as_interrupt():
    """Make SIGTERM (``kill``, and a batch scheduler's notice that a job's time is up, as SLURM sends it before
    SIGKILL) stop a command as Ctrl-C does: a run keeps its last checkpoint and the parts it needs to resume, and
    removes the rest, where SIGTERM's default ended the process at once and left partial files behind. Returns the
    previous handler (``None`` when signals cannot be set here: not the main thread)."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt("terminated (SIGTERM)")

    try:
        return signal.signal(signal.SIGTERM, interrupt)
    except ValueError:
        return None


def _grid_size(args: argparse.Namespace) -> str:
    """The size of the grid of the command's configuration, in words, for an out-of-memory error."""
    from .config import load_config

    try:
        d = load_config(getattr(args, "config", None), getattr(args, "set", None) or []).domain
    except Exception:  # noqa: BLE001 - (no configuration, or not this one's problem)
        return "the grid, the source tags or the outputs are"
    if d.kind == "box":
        return "the source tags or the outputs are"
    nlon, nlat = (round(extent / d.resolution_deg) for extent in d.extents_deg())
    return (f"the grid of {nlon} x {nlat} = {nlon * nlat:,} cells (domain.resolution_deg = {d.resolution_deg:g}), "
            "with the source tags and outputs, is")


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    """A warning as one line, like the errors (``--debug`` shows Python's form, with the code that warned)."""
    text = str(message).splitlines()[0] if str(message) else category.__name__
    return f"popstransport: warning: {text}\n"


if __name__ == "__main__":
    sys.exit(main())
