"""Distributed execution on Dask: tag batches of one run, and ensembles of runs.

The model is linear, so source tags evolve independently: a tagged run is split into batches of tags, each
worker runs the model for its batch (the forcing and region masks are built once per worker and reused), and the
per-period results are merged in tag order into the outputs of a serial run, to round-off: each batch carries the
other tags as one REST tag, so the limited advection sees the same total as the serial run up to the rounding of
that sum, and the tags differ from the serial run's by a few 1e-16 relative. A batch whose worker is lost is
recomputed on another worker (``retries``); a run that cannot finish names the missing batches and writes nothing.
"""

from __future__ import annotations

import functools
import hashlib
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .config import Config, ConfigError, config_from_dict
from .diagnostics import PeriodBudget
from .simulation import PeriodResult

_WORKER_CACHE: dict[str, Any] = {}


class DistributedError(RuntimeError):
    """A distributed run could not complete."""


def split_batches(ntag: int, nbatch: int) -> list[list[int]]:
    """Split tag indices ``0..ntag-1`` into ``nbatch`` contiguous, nearly equal batches (no empty batch)."""
    nbatch = max(1, min(nbatch, ntag))
    edges = np.linspace(0, ntag, nbatch + 1).round().astype(int)
    return [list(range(a, b)) for a, b in zip(edges[:-1], edges[1:]) if b > a]


def code_fingerprint() -> tuple[str, str]:
    """The SHA-256 of the files of the popstransport package this process imports (its Python source and its data
    tables, in path order) and the package's folder. Two processes with the same fingerprint compute the same
    results; the version and git commit do not tell (an edited checkout, another copy on a worker's path)."""
    return _fingerprint(str(Path(__file__).resolve().parent))


@functools.cache
def _fingerprint(package: str) -> tuple[str, str]:  # (once per process: read when the module is first imported)
    digest = hashlib.sha256()
    root = Path(package)
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest(), package


code_fingerprint()  # (the files as this process imports them, not as they are when a run asks)


def check_code(expected: tuple[str, str] | None) -> None:
    """Raise :class:`DistributedError` if this process runs other popstransport code than ``expected`` (the
    :func:`code_fingerprint` of the process that started the run); ``None`` checks nothing."""
    if expected is None:
        return
    mine = code_fingerprint()
    if mine[0] != expected[0]:
        raise DistributedError(_other_code([f"this worker ({_where(mine)})"], expected))


def _where(code: tuple[str, str]) -> str:
    return f"{code[1]}, files' SHA-256 {code[0][:12]}"


def _other_code(workers: list[str], expected: tuple[str, str]) -> str:
    return (f"Dask worker(s) {', '.join(workers)} run other popstransport code than this command ({_where(expected)}),"
            " so that their results would not be this version's; give every worker the same popstransport (the same "
            "installation, or the same PYTHONPATH with a source checkout), restart workers started before it changed, "
            "and start the run again")


#: How long a run waits for the first worker of a scheduler that has none (s) before it stops and says so.
WORKER_WAIT_S = 60.0


def check_workers_code(client: Any, expected: tuple[str, str] | None = None) -> None:
    """Before any task runs: wait up to :data:`WORKER_WAIT_S` for a worker (a scheduler without workers held the
    run for ever, saying nothing), then raise :class:`DistributedError` naming every worker of ``client`` that
    imports other popstransport code than this process (``expected``, by default this process's
    :func:`code_fingerprint`)."""
    try:
        client.wait_for_workers(1, timeout=WORKER_WAIT_S)
    except TimeoutError:
        address = client.scheduler.address
        raise DistributedError(f"the Dask scheduler at {address} has had no workers for {WORKER_WAIT_S:g} s; start "
                               f"them with `dask worker {address}` (with the same popstransport as this command) "
                               "and run again, or use --workers N for workers on this machine") from None
    expected = expected or code_fingerprint()
    try:
        found = client.run(code_fingerprint)
    except (AttributeError, ImportError) as exc:  # (a worker whose popstransport has no code_fingerprint)
        raise DistributedError(f"the Dask workers cannot say which popstransport they run ({type(exc).__name__}: "
                               f"{exc}): they import an older or other version than {expected[1]}; restart them "
                               "with the same popstransport as the command (the same installation, or the same "
                               "PYTHONPATH when it runs from a source checkout)") from exc
    other = [f"{address} ({_where(tuple(mine))})" for address, mine in sorted(found.items()) if tuple(mine)[0] != expected[0]]
    if other:
        raise DistributedError(_other_code(other, expected))


def run_batch(config_toml: str, source_path: str, tag_indices: list[int],
              code: tuple[str, str] | None = None) -> list[PeriodResult]:
    """Run the model for one batch of tags (executed on a worker); returns its per-period results. ``code`` is the
    :func:`code_fingerprint` of the process that started the run: a worker that imports other code refuses."""
    from .run import build_run, build_simulation, spin_up, spinup_attribute, tracked_faces

    check_code(code)
    match_worker_threads()
    cfg = config_from_dict(tomllib.loads(config_toml), source_path)
    setup = build_run(cfg, tag_subset=tag_indices)
    model = setup.model
    stop = stop_when_released()  # (in the spin-up too: an interrupted run's batches spun up to their end)
    spin = spin_up(cfg, model, progress=stop) if cfg.spinup.method != "none" else None
    # only the faces on the receptors' borders, as in a serial run (the batches share them: the regions do not
    # depend on the tags)
    sim = build_simulation(cfg, model, per_tag=True, track_faces=tracked_faces(cfg, setup), progress=stop)
    periods = [_drop_last_tag(p) for p in sim.run()]
    for p in periods:  # (the spin-up of the batch, for the outputs' attribute and the check that all batches agree)
        p.spinup = None if spin is None else spinup_attribute(spin)
    return periods


class TaskReleased(DistributedError):
    """The run that submitted a Dask task no longer wants its result (it was interrupted, or failed)."""


def stop_when_released(every_s: float = 1.0):
    """A ``progress`` callback for a simulation inside a Dask task: it raises :class:`TaskReleased` (checking at
    most every ``every_s`` seconds of wall time) once the task's result is no longer wanted, so that the worker is
    free again. The scheduler releases the tasks of a client that closes (Ctrl-C or SIGTERM of the command), but a
    task that is executing runs to its end: on workers started with ``dask worker``, the batches of an interrupted
    run went on for as long as the run would have taken, and the members of an interrupted ensemble were written
    into its folder after the command had stopped. One callback serves several simulations (the years of a
    spin-up, then the run): it keeps its own clock. ``None`` outside a worker."""
    try:
        from distributed import get_worker
        from distributed.worker import thread_state

        worker, key = get_worker(), thread_state.key
    except (ImportError, ValueError, AttributeError):
        return None
    import time

    checked = [time.monotonic()]

    def check(simulated_s: float, total_s: float, wall_s: float) -> None:
        now = time.monotonic()
        if now - checked[0] < every_s:
            return
        checked[0] = now
        task = worker.state.tasks.get(key)
        if task is None or task.state in ("cancelled", "released", "forgotten"):
            raise TaskReleased(f"task {key} stopped at {simulated_s / 86400.0:.1f} of {total_s / 86400.0:.1f} "
                               "simulated days: the run that submitted it no longer wants its result")

    return check


def match_worker_threads() -> int:
    """Run the Numba kernels of the calling Dask task on its share of its worker's threads (the worker's threads
    over the tasks it is executing, at least one, at most Numba's pool), and return the number in use. Numba's pool
    has a thread per core in every worker process, so workers sharing a machine would otherwise run several times
    more threads than it has cores, and the OpenMP threads that wait for work spin on the cores the others need (a
    2-core laptop with two workers: the default configuration's year took 114-127 s instead of 38 s). Outside a
    worker, nothing changes."""
    import numba

    try:
        from dask.distributed import get_worker

        state = get_worker().state
    except (ImportError, ValueError):
        return numba.get_num_threads()
    share = int(state.nthreads) // max(1, int(getattr(state, "executing_count", 1)))
    numba.set_num_threads(max(1, min(share, numba.config.NUMBA_NUM_THREADS)))
    return numba.get_num_threads()


def _drop_last_tag(p: PeriodResult) -> PeriodResult:
    """Remove the batch's REST tag (last) from a period result; totals are recomputed from the batch's own tags."""
    keep = slice(0, -1)
    b = p.budget
    budget = PeriodBudget(b.compartments, b.ntag - 1)
    for c in b.compartments:
        budget.burden_start[c] = b.burden_start[c][keep]
        budget.burden_end[c] = b.burden_end[c][keep]
        budget.emitted[c] = b.emitted[c][keep]
    budget.inflow = b.inflow[keep]
    budget.outflow = b.outflow[keep]
    budget.sinks = {k: np.broadcast_to(v, (b.ntag,))[keep] for k, v in b.sinks.items()}
    budget.transfers = {k: np.broadcast_to(v, (b.ntag,))[keep] for k, v in b.transfers.items()}
    dep = {k: v[keep] for k, v in p.tag_deposition_kg.items()}
    vol_air = p.tag_mean_air_kg[keep]
    out = PeriodResult(
        start=p.start,
        end=p.end,
        seconds=p.seconds,
        mean_air_kg=vol_air.sum(axis=0),
        mean_surface_kg=p.tag_mean_surface_kg[keep].sum(axis=0),
        wet_deposition_kg=dep["wet_deposition"].sum(axis=0),
        dry_deposition_kg=dep["dry_deposition"].sum(axis=0),
        air_surface_exchange_kg=dep["air_surface_exchange"].sum(axis=0),
        emission_kg=p.tag_emission_kg[keep].sum(axis=0),
        budget=budget,
        particle_fraction=p.particle_fraction,
        tag_mean_air_kg=vol_air,
        tag_emission_kg=p.tag_emission_kg[keep],
        tag_deposition_kg=dep,
    )
    out.tag_mean_surface_kg = p.tag_mean_surface_kg[keep]
    # (summed over tags, REST included: the whole run's, as every batch advects the total)
    out.air_cell_budget_kg = p.air_cell_budget_kg
    if p.face_mass_kg is not None:
        # (per tag: the batch's own; the total over tags includes REST: it is the whole run's total)
        out.face_mass_kg = {k: v[keep] for k, v in p.face_mass_kg.items()} if p.face_mass_per_tag else p.face_mass_kg
        out.face_index = p.face_index
        out.face_mass_per_tag = p.face_mass_per_tag
    return out


def merge_periods(batches: Sequence[Sequence[PeriodResult]], ntag: int) -> list[PeriodResult]:
    """Merge per-batch period results (batches in tag order) into whole-run results."""
    merged = []
    for parts in zip(*batches):
        first = parts[0]
        budget = PeriodBudget(first.budget.compartments, ntag)
        for c in first.budget.compartments:
            budget.burden_start[c] = np.concatenate([p.budget.burden_start[c] for p in parts])
            budget.burden_end[c] = np.concatenate([p.budget.burden_end[c] for p in parts])
            budget.emitted[c] = np.concatenate([p.budget.emitted[c] for p in parts])
        budget.inflow = np.concatenate([p.budget.inflow for p in parts])
        budget.outflow = np.concatenate([p.budget.outflow for p in parts])
        for attr in ("sinks", "transfers"):
            # (in the batches' order, which is the serial run's: a set's order changes with the process's string
            # hashing, and with it the order in which the closure error sums the sinks, in its last bits)
            keys = dict.fromkeys(k for p in parts for k in getattr(p.budget, attr))
            for k in keys:
                getattr(budget, attr)[k] = np.concatenate([
                    np.broadcast_to(getattr(p.budget, attr).get(k, 0.0), (len(p.budget.inflow),)) for p in parts
                ])
        period = PeriodResult(
            start=first.start,
            end=first.end,
            seconds=first.seconds,
            mean_air_kg=sum(p.mean_air_kg for p in parts),
            mean_surface_kg=sum(p.mean_surface_kg for p in parts),
            tag_mean_surface_kg=np.concatenate([p.tag_mean_surface_kg for p in parts]),
            wet_deposition_kg=sum(p.wet_deposition_kg for p in parts),
            dry_deposition_kg=sum(p.dry_deposition_kg for p in parts),
            air_surface_exchange_kg=sum(p.air_surface_exchange_kg for p in parts),
            emission_kg=sum(p.emission_kg for p in parts),
            budget=budget,
            particle_fraction=_mass_weighted(parts),
            tag_mean_air_kg=np.concatenate([p.tag_mean_air_kg for p in parts]),
            tag_emission_kg=np.concatenate([p.tag_emission_kg for p in parts]),
            tag_deposition_kg={k: np.concatenate([p.tag_deposition_kg[k] for p in parts]) for k in first.tag_deposition_kg},
        )
        period.air_cell_budget_kg = first.air_cell_budget_kg  # (every batch's is the whole run's: see _drop_last_tag)
        if first.face_mass_kg is not None:
            _same_faces(parts)
            if first.face_mass_per_tag:
                period.face_mass_kg = {k: np.concatenate([p.face_mass_kg[k] for p in parts]) for k in first.face_mass_kg}
            else:
                # every batch advects the whole run's total (its tags and REST): the first batch's is the run's
                period.face_mass_kg = first.face_mass_kg
            period.face_index = first.face_index
            period.face_mass_per_tag = first.face_mass_per_tag
        merged.append(period)
    return merged


def _same_faces(parts: Sequence[PeriodResult]) -> None:
    """Batches can be merged face by face only if they accumulated the same faces, all per tag or all as totals."""
    first = parts[0].face_index
    for k, p in enumerate(parts[1:], start=1):
        other = p.face_index
        same = (first is None and other is None) or (
            first is not None and other is not None and all(np.array_equal(a, b) for a, b in zip(first, other)))
        if not same:
            raise DistributedError(f"batch {k} accumulated other faces than batch 0; the batches cannot be merged "
                                   "(they must run one configuration)")
        if p.face_mass_per_tag != parts[0].face_mass_per_tag:
            raise DistributedError(f"batch {k} accumulated its border faces {'per tag' if p.face_mass_per_tag else 'as a total'}"
                                   f" and batch 0 {'per tag' if parts[0].face_mass_per_tag else 'as a total'}; the batches "
                                   "cannot be merged (they must run one configuration)")


def _mass_weighted(parts: Sequence[PeriodResult]) -> np.ndarray | None:
    """Air-mass-weighted particle fraction of merged batches (each batch's fraction weighted by its mean air mass)."""
    if any(p.particle_fraction is None for p in parts):
        return None
    air = sum(p.mean_air_kg for p in parts)
    weighted = sum(p.particle_fraction * p.mean_air_kg for p in parts)
    return np.divide(weighted, air, out=np.array(parts[0].particle_fraction, dtype=float), where=air > 0)


#: Options of the local Dask clusters a run makes: worker processes, no dashboard, and the scheduler's remaining HTTP
#: routes (health checks) on a free port rather than 8787, which another cluster or service on the machine may hold
#: (the scheduler would warn that it is in use).
LOCAL_CLUSTER_OPTIONS = {"processes": True, "dashboard_address": None, "scheduler_kwargs": {"dashboard_address": ":0"}}


def require_dask() -> None:
    """Raise :class:`ConfigError` with the install command when Dask's ``distributed`` package is missing."""
    try:
        import dask.distributed  # noqa: F401
    except ImportError:
        raise ConfigError("--workers and --scheduler run on Dask, whose 'distributed' package is not installed: "
                          "pip install 'popstransport[distributed]', or run without --workers and --scheduler") from None


def _client_of(client_class: Any, address: str, attempts: int = 2):
    """``client_class(address)``, made again when Dask's own event loop did not start: distributed's loop runner
    waits 10 s for its thread and then fails a bare ``assert`` (on a loaded 2-core machine, after a local cluster
    had just closed), which says nothing of the address; a second failure is an ``OSError`` that says what it was."""
    for attempt in range(attempts):
        try:
            return client_class(address)
        except AssertionError as exc:
            if "/distributed/" not in _last_frame_file(exc).replace("\\", "/"):  # (Dask's distributed package)
                raise
            if attempt == attempts - 1:
                raise OSError(f"Dask's event loop did not start in {attempts} attempts of 10 s (a loaded machine?)") \
                    from exc
    raise AssertionError("unreachable")


def _last_frame_file(exc: BaseException) -> str:
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame.f_code.co_filename if tb is not None else ""


def make_client(workers: int | None = None, scheduler: str | None = None):
    """A Dask client: a local cluster of ``workers`` processes, or the scheduler at ``scheduler``."""
    require_dask()
    from dask.distributed import Client, LocalCluster

    if scheduler:
        import copy

        import dask

        settings = copy.deepcopy(dask.config.config)
        try:
            client = _client_of(Client, scheduler)
        except (OSError, ValueError, TypeError, MemoryError) as exc:
            # (a client that fails to connect leaves dask's 'scheduler' setting at 'dask.distributed' in this
            # process, which the next client passed to its workers, where xarray's to_netcdf then failed with
            # 'Requested dask.distributed scheduler but no Client active')
            dask.config.config.clear()
            dask.config.config.update(settings)
            # (nothing listening: OSError or a timeout; a malformed address: ValueError; a service of another kind
            # on the port: its bytes read as a message length, MemoryError)
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise DistributedError(
                f"--scheduler {scheduler!r}: no Dask scheduler could be reached there ({type(exc).__name__}: "
                f"{reason}); give the address that `dask scheduler` prints (such as tcp://HOST:8786), check that the "
                "scheduler runs and that this machine reaches it, or use --workers N for workers on this machine"
            ) from exc
        return client
    # one thread per worker process, for the Numba kernels and the numerical libraries too (see match_worker_threads)
    env = {name: "1" for name in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    cluster = LocalCluster(n_workers=workers or 2, threads_per_worker=1, env=env, **LOCAL_CLUSTER_OPTIONS)
    return Client(cluster)


def close_quietly(client: Any) -> None:
    """Close a client and the local cluster it made. Dask may log a closed-connection traceback while the workers
    and the scheduler shut down one after the other; the batches' results are in by then, so its log is kept to
    critical messages for the shutdown."""
    import logging

    cluster = getattr(client, "cluster", None)
    log = logging.getLogger("distributed")
    level = log.level
    log.setLevel(logging.CRITICAL)
    try:
        client.close()
        if cluster is not None:
            cluster.close()
    finally:
        log.setLevel(level)


def compute_batches(client: Any, cfg: Config, batches: list[list[int]], retries: int = 3,
                    progress: Any = None) -> list[list[PeriodResult]]:
    """Submit every batch and gather the results in batch order; raise naming the batches that failed.
    ``progress(text)`` is called with a line as each batch finishes (or fails), in the order they finish."""
    import time
    import uuid

    from dask.distributed import as_completed

    toml = cfg.to_toml()
    check_workers_code(client)
    code = code_fingerprint()
    # (keys of this run alone: a scheduler that several runs share hands a task the result of an earlier one of the
    # same key, so that with keys 'batch-0', 'batch-1'... a second run got the batches of the first)
    run_id = uuid.uuid4().hex[:12]
    futures = [client.submit(run_batch, toml, cfg.source_path, b, code, retries=retries, pure=False,
                             key=f"popstransport-batch-{k}-{run_id}") for k, b in enumerate(batches)]
    batch_of = {fut.key: k for k, fut in enumerate(futures)}
    results: list[Any] = [None] * len(futures)
    failed = []
    start = time.monotonic()
    for done, fut in enumerate(as_completed(futures), start=1):
        k = batch_of[fut.key]
        try:
            results[k] = fut.result()
            what = "done"
        except Exception as exc:  # noqa: BLE001 - collect every failure before reporting
            failed.append((k, batches[k], exc))
            what = f"failed ({type(exc).__name__})"
        if progress is not None:
            progress(f"batch {k + 1} of {len(batches)} (tags {batches[k][0] + 1}..{batches[k][-1] + 1}) {what}: "
                     f"{done} of {len(batches)} after {time.monotonic() - start:.0f} s")
    if failed:
        desc = "; ".join(f"batch {k + 1} of {len(batches)} (tags {b[0] + 1}..{b[-1] + 1}): {type(e).__name__}: {e}"
                         for k, b, e in sorted(failed, key=lambda f: f[0]))
        raise DistributedError(f"{len(failed)} of {len(batches)} batches could not be computed, nothing was written: {desc}")
    return results


def run_distributed(
    cfg: Config,
    out_dir: str | Path,
    workers: int | None = None,
    scheduler: str | None = None,
    overwrite: bool = False,
    nbatch: int | None = None,
    client: Any = None,
    progress: Any = None,
) -> Path:
    """Run a tagged configuration with its tags split over Dask workers; outputs equal the serial run's to round-off.
    ``progress(text)``, if given, is called with a line when the batches start, as each one finishes, and before the
    outputs are written. Its ``warnings.txt`` holds, as a serial run's does, the warnings given when ``cfg`` was read
    (:attr:`Config.load_warnings`) and while the run was set up."""
    from .config import absolute_paths
    from .io.writers import OutputExistsError, RunDirectory, run_attributes
    from .run import (
        add_writers,
        build_run,
        check_before_run,
        emission_provider,
        finish_run,
        provenance_attributes,
        recording_warnings,
    )
    from .simulation import close_writers

    if cfg.attribution.tags == "none":
        where = f"{cfg.source_path}: " if cfg.source_path else ""
        raise ConfigError(f"{where}attribution.tags = 'none': a distributed run splits the source tags over workers; set "
                          "attribution.tags = 'countries' or 'list', or run without --workers and --scheduler")
    if client is None:
        require_dask()  # (before the set-up, which takes minutes for a large grid with many regions)
    cfg = absolute_paths(cfg)  # (workers elsewhere, and its config.toml from any working directory, read the same files)
    overwrite = bool(overwrite or cfg.output.overwrite)
    if not overwrite and (Path(out_dir) / "checkpoint.pkl").is_file():
        # (as a serial run: the results of this run would be put beside the interrupted run's checkpoint and parts)
        raise OutputExistsError(f"output directory {str(out_dir)!r} holds the checkpoint of an interrupted run; continue "
                                "it with --resume (without --workers: a distributed run cannot resume), or pass "
                                "--overwrite to start afresh (its checkpoint is then removed)")
    from .io.package_data import recording

    warned: list[str] = list(cfg.load_warnings)  # (those of reading the configuration and of the set-up, for warnings.txt)
    with recording_warnings(warned), recording() as package_data:
        if cfg.output.checkpoint_every_months > 0:
            import warnings

            warnings.warn(f"output.checkpoint_every_months = {cfg.output.checkpoint_every_months} is not used by a "
                          "distributed run: it writes no checkpoints and cannot be resumed (run without --workers and "
                          "--scheduler for checkpoints)", stacklevel=2)
        RunDirectory.check(out_dir, overwrite)  # (an earlier run's results: refused before any batch runs, not after)
        setup = build_run(cfg)
        check_before_run(cfg, setup)  # (before any batch runs; the receptors too)
    ntag = len(setup.tags.names)
    own_client = client is None
    if own_client:
        client = make_client(workers, scheduler)
    try:
        check_workers_code(client)  # (at least one worker, and every worker runs this code)
        nworkers = len(client.scheduler_info().get("workers", {})) or 1
        batches = split_batches(ntag, nbatch or nworkers)
        if progress is not None:
            progress(f"running {ntag} source tags in {len(batches)} batches on {nworkers} Dask worker(s) (on a "
                     "worker's first run the first step also compiles the numerical kernels: about a minute)")
        results = compute_batches(client, cfg, batches, progress=progress)
    finally:
        if own_client:
            close_quietly(client)
    spins = {getattr(r[0], "spinup", None) for r in results if r}
    if len(spins) > 1:
        raise RuntimeError(f"the tag batches were spun up differently ({sorted(map(str, spins))}); their tags would "
                           "not add up to the serial run")
    periods = merge_periods(results, ntag)
    if progress is not None:
        progress(f"writing the outputs to {out_dir}")
    run_dir = RunDirectory(out_dir, overwrite=overwrite)
    run_dir.discard_partials()  # (an interrupted run's, whose checkpoint this run's results replace)
    attrs = run_attributes(cfg.to_toml(), provenance=provenance_attributes(
        cfg, setup.model.chemical, package_data, emission_provider(setup)), institution=cfg.output.institution)
    attrs["execution"] = f"distributed: {len(batches)} tag batches"
    if spins and None not in spins:
        attrs["spinup"] = spins.pop()
    writers: list = []
    success = False
    try:
        add_writers(writers, cfg, setup, run_dir, attrs, warned)
        for p in periods:
            for w in writers:
                w.write_period(p, setup.model)
        success = True
    finally:
        close_writers(writers, success)
        if not success:
            run_dir.cleanup_if_empty()
    finish_run(cfg, run_dir, overwrite)  # (Ctrl-C while it writes the scenarios: says that the results are in place)
    return run_dir.path
