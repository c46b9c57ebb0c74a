"""Distributed runs (2 local Dask workers) equal the serial run; a killed worker's batch is recomputed."""

import os
import re
from dataclasses import replace

import numpy as np
import pytest
import xarray as xr

pytest.importorskip("dask.distributed")

from popstransport.config import ConfigError, load_config  # noqa: E402
from popstransport.distributed import (  # noqa: E402
    LOCAL_CLUSTER_OPTIONS,
    DistributedError,
    make_client,
    match_worker_threads,
    merge_periods,
    run_batch,
    run_distributed,
    split_batches,
)
from popstransport.results import open_run  # noqa: E402
from popstransport.run import build_run, run, tracked_faces  # noqa: E402

OVERRIDES = [
    "domain.resolution_deg=7.5", "time.stop=2010-03-01", "met.source=synthetic", "emissions.source=uniform",
    "attribution.tags=list", "attribution.regions=['CHN','IND','JPN','AUS','IDN']", "time.step_hours=6",
]


def test_split_batches():
    assert split_batches(5, 2) == [[0, 1], [2, 3, 4]] or split_batches(5, 2) == [[0, 1, 2], [3, 4]]
    assert sum(len(b) for b in split_batches(7, 3)) == 7
    assert split_batches(2, 5) == [[0], [1]]


def _compare(a, b, rtol=1e-12):
    for name in ("fields.nc", "attribution.nc", "budget.nc"):
        with xr.open_dataset(a / name) as da, xr.open_dataset(b / name) as db:
            names = [v for v in da.data_vars if np.issubdtype(da[v].dtype, np.number)]
            # (the budget's terms to round-off of its largest one; its closure error is round-off itself)
            budget_scale = max(float(np.nanmax(np.abs(da[v].values))) for v in names) if name == "budget.nc" else 0.0
            for v in names:
                if v == "relative_closure_error":
                    continue
                x, y = da[v].values, db[v].values
                scale = max(np.nanmax(np.abs(x)) if x.size else 0.0, budget_scale)
                np.testing.assert_allclose(y, x, rtol=rtol, atol=rtol * scale, err_msg=f"{name}:{v}")


def test_merge_equals_serial_in_process(tmp_path):
    cfg = load_config(None, OVERRIDES)
    serial = run(cfg, tmp_path / "serial")
    parts = [run_batch(cfg.to_toml(), "", b) for b in split_batches(6, 3)]
    merged = merge_periods(parts, 6)
    with xr.open_dataset(serial / "fields.nc") as ds:
        area = ds["cell_area"].values
        np.testing.assert_allclose(merged[-1].emission_kg / (area * merged[-1].seconds), ds["emission_flux"].values[-1],
                                   rtol=1e-12)
    # the merged budget is the serial run's, term by term (burdens, emissions, sinks, transfers, boundary flows)
    with open_run(serial) as r:
        budget = r.budget
    assert budget.sizes["time"] == len(merged)
    for n, p in enumerate(merged):
        terms = p.budget.rows()
        assert set(terms) <= set(budget.data_vars) and len(terms) > 10
        scale = max(abs(float(budget[k][n])) for k in budget.data_vars if k.endswith("_kg"))
        for k, v in terms.items():
            assert v == pytest.approx(float(budget[k][n]), rel=1e-9, abs=1e-12 * scale), k
    # the batches accumulate the faces on the receptors' borders only, as the serial run does, and (without border
    # fluxes by source) only the total over tags, which every batch carries whole (its tags and REST)
    setup = build_run(cfg)
    mu, mv = tracked_faces(cfg, setup)
    for p, *batch in zip(merged, *parts):
        iu, iv = p.face_index
        np.testing.assert_array_equal(iu, np.flatnonzero(mu))
        np.testing.assert_array_equal(iv, np.flatnonzero(mv))
        assert not p.face_mass_per_tag
        for k in ("u_east", "u_west"):
            assert p.face_mass_kg[k].shape == (1, 2, iu.size) and iu.size < mu.size
        for k in ("v_north", "v_south"):
            assert p.face_mass_kg[k].shape == (1, 2, iv.size) and iv.size < mv.size
        for k in p.face_mass_kg:
            assert np.abs(p.face_mass_kg[k]).max() > 0
            for b in batch[1:]:
                np.testing.assert_allclose(b.face_mass_kg[k], p.face_mass_kg[k], rtol=1e-12,
                                           atol=1e-12 * np.abs(p.face_mass_kg[k]).max())
    # batches that accumulated other faces are not merged
    other = [[replace(p, face_index=(p.face_index[0][:-1], p.face_index[1])) for p in parts[1]]]
    with pytest.raises(DistributedError, match="batch 1 accumulated other faces"):
        merge_periods([parts[0], *other, parts[2]], 6)
    # nor batches that accumulated some per tag and some as the total over tags
    per_tag = [[replace(p, face_mass_per_tag=True) for p in parts[2]]]
    with pytest.raises(DistributedError, match="batch 2 accumulated its border faces per tag and batch 0 as a total"):
        merge_periods([parts[0], parts[1], *per_tag], 6)


def test_unknown_receptor_fails_before_any_batch(tmp_path):
    cfg = load_config(None, [*OVERRIDES, "attribution.receptors=['CHN','XXX']"])
    with pytest.raises(ConfigError, match=r"attribution.receptors \['XXX'\] are not regions"):
        run_distributed(cfg, tmp_path / "dist")
    assert not (tmp_path / "dist").exists()


@pytest.fixture(scope="module")
def client():
    from dask.distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, **LOCAL_CLUSTER_OPTIONS)
    c = Client(cluster)
    yield c
    c.close()
    cluster.close()


def test_batches_run_on_their_workers_threads(client):
    """A worker of one thread runs its batch's kernels on one thread (not on Numba's pool of one per core), in a
    cluster made elsewhere (the fixture's) and in one made by make_client; outside a worker nothing changes."""
    import numba

    assert numba.config.NUMBA_NUM_THREADS > 1  # (the test machine has two cores)
    assert client.submit(match_worker_threads, pure=False).result() == 1
    before = numba.get_num_threads()
    assert match_worker_threads() == before
    own = make_client(workers=1)
    try:
        assert own.submit(lambda: __import__("numba").config.NUMBA_NUM_THREADS, pure=False).result() == 1
    finally:
        cluster = own.cluster
        own.close()
        cluster.close()


def test_own_cluster_leaves_port_8787_alone():
    """A cluster made for a run serves no dashboard and does not take (or warn about) the usual dashboard port."""
    import socket
    import warnings

    held = socket.socket()
    try:
        held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        held.bind(("0.0.0.0", 8787))
        held.listen()
    except OSError:
        pass  # (held by something else: just as good for this test)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            own = make_client(workers=1)
        try:
            port = own.cluster.scheduler.http_server.port
            assert own.submit(sum, [1, 2], pure=False).result() == 3
        finally:
            cluster = own.cluster
            own.close()
            cluster.close()
    finally:
        held.close()
    assert port != 8787
    assert not [w for w in caught if "already in use" in str(w.message)]


def _threads_with(running):
    """match_worker_threads once the worker executes ``running`` tasks; then stays running for the others to see."""
    import time

    from dask.distributed import get_worker

    state = get_worker().state
    start = time.monotonic()
    while state.executing_count < running and time.monotonic() - start < 30.0:
        time.sleep(0.01)
    n = match_worker_threads()
    time.sleep(0.5)
    return n


def test_tasks_share_their_workers_threads():
    """A worker of two threads gives one task both (Numba's pool here has two), two concurrent tasks one each."""
    from dask.distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=1, threads_per_worker=2, **LOCAL_CLUSTER_OPTIONS)
    c = Client(cluster)
    try:
        assert c.submit(_threads_with, 1, pure=False).result() == 2
        assert c.gather([c.submit(_threads_with, 2, pure=False) for _ in range(2)]) == [1, 1]
    finally:
        c.close()
        cluster.close()


def test_distributed_equals_serial(tmp_path, client):
    """... and its warnings.txt holds, as the serial run's does, those given when its configuration was read (a
    path found only from the working directory: given before the run began recording its warnings)."""
    given = ("study.toml: chemical.file = 'data/chemicals.csv' is read from the working directory (...)",)
    cfg = replace(load_config(None, OVERRIDES), load_warnings=given)
    serial = run(cfg, tmp_path / "serial")
    lines = []  # (the progress: a distributed run said nothing until it had written its outputs)
    dist = run_distributed(cfg, tmp_path / "dist", client=client, nbatch=2, progress=lines.append)
    _compare(serial, dist)
    assert lines[0].startswith("running 6 source tags in 2 batches on 2 Dask worker(s)")
    assert sorted(line.split(":")[0] for line in lines[1:3]) == ["batch 1 of 2 (tags 1..3) done",
                                                                "batch 2 of 2 (tags 4..6) done"]
    assert [line.split(": ")[1].split(" after")[0] for line in lines[1:3]] == ["1 of 2", "2 of 2"]
    assert lines[3] == f"writing the outputs to {tmp_path / 'dist'}" and len(lines) == 4
    for path in (serial, dist):
        assert (path / "warnings.txt").read_text(encoding="utf-8") == given[0] + "\n"


def test_a_distributed_run_on_the_command_line_says_what_it_wrote(tmp_path, monkeypatch, capsys):
    """As a serial run: the files, the periods and the largest budget closure error, after the batches' progress
    (it printed only 'wrote DIR (distributed over Dask workers)')."""
    from popstransport.cli import main

    def batches_here(cfg, out, workers=None, scheduler=None, overwrite=False, progress=None):
        progress("running 6 source tags in 1 batches on 1 Dask worker(s)")
        return run(cfg, out)

    monkeypatch.setattr("popstransport.distributed.run_distributed", batches_here)
    out = tmp_path / "run"
    assert main(["run", "--out", str(out), "--workers", "2", *(f"--set={o}" for o in OVERRIDES)]) == 0
    printed, err = capsys.readouterr()
    assert "running 6 source tags in 1 batches" in err.splitlines()[0]
    assert re.fullmatch(rf"wrote {out}/fields.nc, budget.csv, budget.nc, attribution.nc, source_receptor_deposition.csv, "
                        r"border_flux.csv, region_air_budget.csv, tag_fields.nc, config.toml \(2 periods\) "
                        r"\(distributed over Dask workers\); "
                        r"largest relative budget closure error \d\.\d\de-\d\d\n", printed)


def test_killed_worker_batch_is_recomputed(tmp_path, client):
    cfg = load_config(None, OVERRIDES)
    serial = run(cfg, tmp_path / "serial")
    from popstransport.distributed import compute_batches

    batches = split_batches(6, 3)
    toml = cfg.to_toml()
    futures = [client.submit(run_batch, toml, "", b, retries=3, pure=False) for b in batches]
    import time

    # kill one worker process while the batches run
    time.sleep(1.0)
    workers = list(client.scheduler_info()["workers"])
    try:
        client.run(lambda: os._exit(1), workers=[workers[0]])
    except Exception:  # noqa: BLE001 - the killed worker closes the connection
        pass
    results = [f.result(timeout=300) for f in futures]
    merged = merge_periods(results, 6)
    with xr.open_dataset(serial / "attribution.nc") as ds:
        total = sum(sum(p.tag_deposition_kg.values()) for p in merged)
        assert total.shape[0] == 6
    with xr.open_dataset(serial / "fields.nc") as ds:
        area = ds["cell_area"].values
        np.testing.assert_allclose(merged[0].mean_air_kg[0] / ds["air_concentration"].values[0, 0] /
                                   (area * 1000.0), 1.0, rtol=1e-10)
    assert compute_batches  # the public wrapper is exercised in test_distributed_equals_serial


def test_distributed_with_spin_up_equals_serial(tmp_path, client):
    """Every batch spins up as the serial run does (the same years: the change is that of the total over tags) and
    the outputs say so; the border fluxes then agree with the budget."""
    cfg = load_config(None, [*OVERRIDES, "domain.resolution_deg=15", "time.stop=2010-01-15", "spinup.method=repeat",
                             "spinup.years=2", "spinup.tolerance=0.9", "processes.fate=simple"])
    serial = run(cfg, tmp_path / "serial")
    dist = run_distributed(cfg, tmp_path / "dist", client=client, nbatch=2)
    _compare(serial, dist)
    with open_run(serial) as s, open_run(dist) as d:
        assert d.fields.attrs["spinup"] == s.fields.attrs["spinup"]
        assert s.fields.attrs["spinup"].startswith("repeat: ")


def test_a_distributed_run_refuses_the_folder_of_an_interrupted_run(tmp_path, capsys):
    """A distributed run into the folder of an interrupted run with a checkpoint is refused without --overwrite,
    as a serial run is, before any batch runs (it put its results beside the checkpoint and the hidden parts, which
    --resume then took for an interrupted run); and it says that it writes no checkpoints."""
    from popstransport.cli import main

    out = tmp_path / "run"
    out.mkdir()
    (out / "checkpoint.pkl").write_bytes(b"")
    (out / ".fields.nc.partial.1").write_bytes(b"")
    args = ["run", "--out", str(out), "--workers", "2", "--set", "domain.resolution_deg=5", "--set",
            "met.source=synthetic", "--set", "emissions.source=uniform", "--set", "time.stop=2010-03-01", "--set",
            "attribution.tags=list", "--set", "attribution.regions=['CHN']", "--set",
            "output.checkpoint_every_months=1", "--quiet"]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "holds the checkpoint of an interrupted run; continue it with --resume (without --workers" in err
    with pytest.warns(UserWarning, match="checkpoint_every_months = 1 is not used by a distributed run"):
        with pytest.raises(ConfigError):
            run_distributed(load_config(None, [*OVERRIDES, "attribution.receptors=['XXX']",
                                               "output.checkpoint_every_months=1"]), out, overwrite=True)


def test_merged_budget_terms_keep_the_batches_order():
    """The merged budget's sinks and transfers are in the batches' order (the serial run's), whatever the process's
    string hashing: they were in a set's order, so that the closure error, which sums the sinks in that order,
    differed in its last bits between two runs of the same distributed configuration."""
    from popstransport.diagnostics import PeriodBudget
    from popstransport.simulation import PeriodResult

    sinks = [(f"process_{k}", "soil") for k in range(20)]
    transfers = [(f"process_{k}", "air_0", "soil") for k in range(20)]

    def part(ntag):
        budget = PeriodBudget(("air_0", "soil"), ntag)
        for c in budget.compartments:
            budget.burden_start[c] = budget.burden_end[c] = np.zeros(ntag)
        budget.sinks = {k: np.full(ntag, 1.0) for k in sinks}
        budget.transfers = {k: np.full(ntag, 1.0) for k in transfers}
        cells = np.zeros((2, 3))
        return PeriodResult(np.datetime64("2010-01-01"), np.datetime64("2010-02-01"), 2678400.0, cells[None], cells[None],
                            cells, cells, cells, cells, budget, tag_mean_air_kg=np.zeros((ntag, 1, 2, 3)),
                            tag_mean_surface_kg=np.zeros((ntag, 1, 2, 3)), tag_emission_kg=np.zeros((ntag, 2, 3)),
                            tag_deposition_kg={"wet_deposition": np.zeros((ntag, 2, 3))})

    merged = merge_periods([[part(2)], [part(1)]], 3)[0].budget
    assert list(merged.sinks) == sinks and list(merged.transfers) == transfers


def test_a_distributed_run_refuses_a_folder_with_results_before_any_batch(tmp_path, monkeypatch):
    """A distributed run into a folder that holds results, without --overwrite, is refused before any batch runs
    (it was refused only once every batch had been computed)."""
    from popstransport.io.writers import OutputExistsError

    out = tmp_path / "run"
    out.mkdir()
    (out / "fields.nc").write_bytes(b"")

    def no_client(*args, **kwargs):
        raise AssertionError("a cluster was started")

    monkeypatch.setattr("popstransport.distributed.make_client", no_client)
    with pytest.raises(OutputExistsError, match="already holds results"):
        run_distributed(load_config(None, OVERRIDES), out, workers=2)


def test_a_worker_that_imports_other_code_refuses_its_batch():
    """A Dask worker with another popstransport on its path (another checkout, an older installation, or modules
    loaded before the files changed) computed its batches with that code: merged without a word, the outputs of a
    run whose workers differed in one constant were up to 11 % off the serial run's."""
    from popstransport.distributed import check_code, code_fingerprint

    here = code_fingerprint()
    assert len(here[0]) == 64 and here[1].endswith("popstransport")
    check_code(here)
    other = ("0" * 64, "/elsewhere/popstransport")
    with pytest.raises(DistributedError, match=r"Dask worker\(s\) this worker \(.*popstransport, files' SHA-256 "
                                               r"[0-9a-f]{12}\) run other popstransport code than this command "
                                               r"\(/elsewhere/popstransport, files' SHA-256 000000000000\).*same PYTHONPATH"):
        run_batch(load_config(None, OVERRIDES).to_toml(), "", [0], other)


def test_workers_with_other_code_are_named_before_any_batch_runs(client):
    from popstransport.distributed import check_workers_code

    check_workers_code(client)
    with pytest.raises(DistributedError, match=r"Dask worker\(s\) tcp://127\.0\.0\.1:\d+ \(.*\), tcp://127\.0\.0\.1:\d+ "
                                               r"\(.*\) run other popstransport code than this command"):
        check_workers_code(client, ("0" * 64, "/elsewhere/popstransport"))


def test_two_runs_on_one_scheduler_get_their_own_batches(client):
    """Two runs that share a scheduler at the same time: the batches' keys were 'batch-0', 'batch-1'..., and the
    scheduler gave the second run the first run's batches (a run with twice the emissions wrote the first run's
    results, identical to the last bit)."""
    import threading

    from popstransport.distributed import compute_batches

    small = [*OVERRIDES, "domain.resolution_deg=15", "time.stop=2010-02-01", "time.step_hours=12"]
    runs = {scale: load_config(None, [*small, f"emissions.scale={scale}"]) for scale in (1.0, 2.0)}
    got = {}

    def first():
        got[1.0] = compute_batches(client, runs[1.0], [[0, 1, 2], [3, 4, 5]])

    thread = threading.Thread(target=first)
    thread.start()
    got[2.0] = compute_batches(client, runs[2.0], [[0, 1, 2], [3, 4, 5]])
    thread.join()
    emitted = {scale: sum(p.emission_kg.sum() for p in merge_periods(got[scale], 6)) for scale in got}
    assert emitted[2.0] == pytest.approx(2.0 * emitted[1.0], rel=1e-12)


@pytest.mark.parametrize("address, reason", [("nonsense:xx", "ValueError"), ("tcp://127.0.0.1:9", "OSError")])
def test_a_scheduler_that_cannot_be_reached_is_named_with_the_fix(tmp_path, address, reason, capsys):
    """A wrong --scheduler: Python's message alone ('invalid literal for int() with base 10'), or, from a service of
    another kind on the port, an out-of-memory error that blamed the grid; and no folder is made."""
    import dask

    from popstransport.cli import main

    before = dask.config.get("scheduler", None)
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        with pytest.raises(DistributedError, match=rf"--scheduler '{address}': no Dask scheduler could be reached there "
                                                   rf"\({reason}.*\); give the address that `dask scheduler` prints"):
            make_client(scheduler=address)
        # (the failed client left dask's scheduler setting at 'dask.distributed', which a later client passed to its
        # workers: ensemble members on them failed in to_netcdf, 'no Client active')
        assert dask.config.get("scheduler", None) == before
        out = tmp_path / "run"
        assert main(["run", "--out", str(out), "--scheduler", address, *(f"--set={o}" for o in OVERRIDES), "--quiet"]) == 1
    assert f"popstransport: error: --scheduler '{address}': no Dask scheduler" in capsys.readouterr().err
    assert not out.exists()


def _simulate_until_released():
    """Call the progress callback that run_batch gives its simulation, as its time loop does after every step, until
    it raises (for at most a minute)."""
    import time

    from popstransport.distributed import TaskReleased, stop_when_released

    check = stop_when_released(every_s=0.05)
    start = time.monotonic()
    try:
        while time.monotonic() - start < 60.0:
            check(time.monotonic() - start, 60.0, time.monotonic() - start)
            time.sleep(0.01)
    except TaskReleased:
        return "released"
    return "ran to the end"


def test_a_batch_stops_once_its_run_no_longer_wants_it(client):
    """A batch whose run was interrupted (its client closed, or its futures released) stops at its next step: it ran
    to its end, keeping a worker of a shared 'dask worker' cluster busy for as long as the interrupted run would
    have taken (and an ensemble's members were written after the command had stopped)."""
    import time

    from popstransport.distributed import stop_when_released

    assert stop_when_released() is None  # (outside a worker)

    def executing(dask_worker):
        return dask_worker.state.executing_count

    future = client.submit(_simulate_until_released, pure=False)
    start = time.monotonic()
    while sum(client.run(executing).values()) == 0 and time.monotonic() - start < 30.0:
        time.sleep(0.02)
    time.sleep(0.3)
    assert sum(client.run(executing).values()) == 1
    client.cancel(future)
    released = time.monotonic()
    while sum(client.run(executing).values()) and time.monotonic() - released < 10.0:
        time.sleep(0.05)
    assert sum(client.run(executing).values()) == 0, "the batch went on after its run released it"


def _batch_counting_its_spin_up_years(config_toml):
    """``run_batch`` of the first tag, whose spin-up never converges, counting its years in the worker's
    ``spun_years`` for the test to see (the spin-up of a large grid: hours)."""
    from dask.distributed import get_worker

    import popstransport.spinup as spinup

    worker = get_worker()
    worker.spun_years = 0
    year, change = spinup.one_year, spinup._relative_change

    def counted(*args, **kwargs):
        year(*args, **kwargs)
        worker.spun_years += 1

    spinup.one_year, spinup._relative_change = counted, lambda x0, x1: 1.0
    try:
        return run_batch(config_toml, "", [0])
    finally:
        spinup.one_year, spinup._relative_change = year, change


def test_a_batch_stops_in_its_spin_up_once_its_run_no_longer_wants_it(client):
    """Ctrl-C during the spin-up of a distributed run: its batches went on spinning up on the workers (only the run
    after it checked whether its task was still wanted), keeping them busy for as long as the spin-up would have
    taken."""
    import time

    cfg = load_config(None, [*OVERRIDES, "domain.resolution_deg=15", "time.stop=2010-01-15", "spinup.method=repeat",
                             "spinup.years=100000", "spinup.tolerance=0.9", "processes.fate=simple"])

    def years(dask_worker):
        return getattr(dask_worker, "spun_years", 0)

    def executing(dask_worker):
        return dask_worker.state.executing_count

    future = client.submit(_batch_counting_its_spin_up_years, cfg.to_toml(), pure=False)
    start = time.monotonic()
    while sum(client.run(years).values()) < 1 and time.monotonic() - start < 120.0:
        time.sleep(0.05)
    assert sum(client.run(years).values()) >= 1, "the batch's spin-up did not start"
    client.cancel(future)
    released = time.monotonic()
    while sum(client.run(executing).values()) and time.monotonic() - released < 10.0:
        time.sleep(0.05)
    assert sum(client.run(executing).values()) == 0, "the batch went on spinning up after its run released it"
    assert sum(client.run(years).values()) < 100000


def test_failed_batches_are_named_and_the_others_reported_as_they_finish(client):
    from popstransport.distributed import compute_batches

    cfg = load_config(None, [*OVERRIDES, "domain.resolution_deg=15", "time.stop=2010-02-01", "time.step_hours=12"])
    lines = []
    with pytest.raises(DistributedError, match=r"^1 of 2 batches could not be computed, nothing was written: batch 2 of 2 "
                                               r"\(tags 4\.\.100\): IndexError"):
        compute_batches(client, cfg, [[0, 1, 2], [3, 4, 99]], retries=0, progress=lines.append)
    assert sorted(line.split(": ")[0] for line in lines) == ["batch 1 of 2 (tags 1..3) done",
                                                             "batch 2 of 2 (tags 4..100) failed (IndexError)"]


def test_a_scheduler_without_workers_is_named_and_nothing_is_written(tmp_path, monkeypatch):
    """A scheduler whose workers are not started (or cannot reach it) held the run for ever without a word."""
    from dask.distributed import Client, LocalCluster

    monkeypatch.setattr("popstransport.distributed.WORKER_WAIT_S", 0.5)
    cluster = LocalCluster(n_workers=0, processes=False, dashboard_address=None)
    c = Client(cluster)
    try:
        with pytest.raises(DistributedError, match=r"the Dask scheduler at \S+ has had no workers for 0.5 s; start "
                                                   r"them with `dask worker \S+` .* or use --workers N"):
            run_distributed(load_config(None, OVERRIDES), tmp_path / "run", client=c)
    finally:
        c.close()
        cluster.close()
    assert not (tmp_path / "run").exists()


def test_ensemble_members_on_workers_equal_the_serial_members_and_report_as_they_finish(tmp_path, client):
    """The same seed gives the same members on Dask workers as serially, to the last bit, and each member is
    reported as it finishes (nothing was said until the summary)."""
    from popstransport.ensemble import run_ensemble

    path = tmp_path / "two.toml"
    path.write_text("[ensemble]\nmembers = 2\nseed = 3\n[ensemble.parameters]\n"
                    "'processes.vertical_diffusivity_m2_s' = { distribution = 'lognormal', median = 15.0, factor = 2.0 }\n")
    cfg = load_config(path, ["domain.resolution_deg=15", "time.stop=2010-02-01", "met.source=synthetic",
                             "emissions.source=uniform", "time.step_hours=12"])
    serial = run_ensemble(cfg, tmp_path / "serial")
    finished = []
    dist = run_ensemble(cfg, tmp_path / "dist", client=client, finished=lambda k, n: finished.append((k, n)))
    assert sorted(finished) == [(0, 2), (1, 2)]
    for name in ("members/member_000/fields.nc", "members/member_001/budget.nc", "ensemble_summary.nc"):
        with xr.open_dataset(serial / name) as a, xr.open_dataset(dist / name) as b:
            for v in a.data_vars:
                assert np.array_equal(a[v].values, b[v].values, equal_nan=True), (name, v)
    # (the tables after their provenance line, which names the time each was written)
    tables = [(d / "ensemble_members.csv").read_text().split("\n", 1) for d in (serial, dist)]
    assert tables[0][0].startswith("# ") and tables[1][0].startswith("# ") and tables[0][1] == tables[1][1]


def test_a_run_that_cannot_be_distributed_says_so_before_its_set_up(tmp_path, monkeypatch):
    """Without Dask's 'distributed' package (or without tags) a distributed run stops before the set-up, which
    takes minutes for a large grid with many regions, with the fix (it said so only after the set-up)."""
    import sys

    def no_set_up(*args, **kwargs):
        raise AssertionError("the run was set up")

    monkeypatch.setattr(sys.modules["popstransport.run"], "build_run", no_set_up)  # (popstransport.run: the function)
    path = tmp_path / "untagged.toml"
    path.write_text("[attribution]\ntags = 'none'\n")
    with pytest.raises(ConfigError, match=r"untagged.toml: attribution.tags = 'none': a distributed run splits the "
                                          r"source tags over workers; set attribution.tags = 'countries' or 'list'"):
        run_distributed(load_config(path, OVERRIDES[:4]), tmp_path / "run", workers=2)
    monkeypatch.setitem(sys.modules, "dask.distributed", None)
    with pytest.raises(ConfigError, match=r"--workers and --scheduler run on Dask, whose 'distributed' package is not "
                                          r"installed: pip install 'popstransport\[distributed\]', or run without"):
        run_distributed(load_config(None, OVERRIDES), tmp_path / "run", workers=2)
    assert not (tmp_path / "run").exists()


def test_an_interrupted_distributed_run_says_what_is_written(tmp_path, monkeypatch, capsys, client):
    """Ctrl-C or SIGTERM said only 'terminated (SIGTERM)'; once the results were in place, while the scenarios were
    written, it did not say that the results are written and which scenarios are not."""
    import popstransport.io.attribution_writer as attribution_writer
    from popstransport.cli import main
    from popstransport.run import InterruptedAfterResults

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt("terminated (SIGTERM)")

    with monkeypatch.context() as m:
        m.setattr("popstransport.distributed.run_distributed", interrupted)
        assert main(["run", "--out", str(tmp_path / "run"), "--workers", "2", *(f"--set={o}" for o in OVERRIDES)]) == 130
    assert capsys.readouterr().err.endswith(
        f"popstransport: terminated (SIGTERM): the tag batches stopped and no results were written to "
        f"'{tmp_path / 'run'}' (an earlier run's results there are as they were); a distributed run keeps no "
        "checkpoints: run it again for its results\n")
    path = tmp_path / "scen.toml"
    path.write_text("[[scenarios]]\nname = 'half'\nscale = { CHN = 0.5 }\n")
    cfg = load_config(path, [*OVERRIDES, "domain.resolution_deg=15", "time.stop=2010-02-01", "time.step_hours=12"])
    monkeypatch.setattr(attribution_writer, "write_scenario", interrupted)
    with pytest.raises(InterruptedAfterResults, match=r"interrupted after the run completed: its results are in .*; "
                                                      r"its scenarios 'half' are not written"):
        run_distributed(cfg, tmp_path / "dist", client=client, nbatch=2)
    assert (tmp_path / "dist" / "attribution.nc").is_file()


def test_a_run_on_a_scheduler_by_its_address(tmp_path, client):
    """--scheduler ADDRESS: the run makes its own client of that scheduler (made not as the default client, it
    stopped with 'No clients found'), and a failed address before it leaves nothing behind that stops it."""
    import dask

    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}), pytest.raises(DistributedError):
        make_client(scheduler="tcp://127.0.0.1:9")
    cfg = load_config(None, [*OVERRIDES, "domain.resolution_deg=15", "time.stop=2010-02-01", "time.step_hours=12"])
    lines = []
    out = run_distributed(cfg, tmp_path / "run", scheduler=client.scheduler.address, progress=lines.append)
    assert (out / "attribution.nc").is_file() and lines[0].startswith("running 6 source tags in 2 batches on 2 Dask")


def test_a_client_whose_dask_event_loop_did_not_start_is_made_again_then_named():
    """Distributed's loop runner fails a bare assert when its thread does not start within 10 s (seen on the loaded
    2-core machine right after a local cluster closed): the client is made once more, and a second failure is an
    OSError that make_client names with the address; an assert from elsewhere is not taken for it."""
    from popstransport.distributed import _client_of

    space: dict = {}
    exec(compile("def start(fail):\n    assert not fail\n", "/site-packages/distributed/utils.py", "exec"), space)

    class Flaky:
        calls = 0

        def __init__(self, address, fails=1):
            type(self).calls += 1
            space["start"](type(self).calls <= fails)

    assert isinstance(_client_of(Flaky, "tcp://h:1"), Flaky) and Flaky.calls == 2
    Flaky.calls = 0
    with pytest.raises(OSError, match="Dask's event loop did not start in 2 attempts"):
        _client_of(lambda address: Flaky(address, fails=5), "tcp://h:1")

    def ours(address):
        raise AssertionError("not dask's")

    with pytest.raises(AssertionError, match="not dask's"):
        _client_of(ours, "tcp://h:1")
