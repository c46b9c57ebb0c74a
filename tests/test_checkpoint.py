"""A run killed mid-way and resumed from its last checkpoint equals the uninterrupted run bit for bit."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import xarray as xr

from popstransport.cli import main

BASE = [
    "--set", "domain.resolution_deg=5", "--set", "time.stop=2010-07-01", "--set", "met.source=synthetic",
    "--set", "emissions.source=uniform", "--set", "output.checkpoint_every_months=1", "--set", "time.step_hours=6",
    "--quiet",
]


def _fields(path):
    with xr.open_dataset(path / "fields.nc") as ds:
        return {k: ds[k].values.copy() for k in ds.data_vars}


def test_resume_is_bit_identical(tmp_path):
    ref = tmp_path / "ref"
    assert main(["run", "--out", str(ref), *BASE]) == 0
    assert not (ref / "checkpoint.pkl").exists()
    killed = tmp_path / "killed"
    env = dict(os.environ)
    proc = subprocess.Popen([sys.executable, "-m", "popstransport.cli", "run", "--out", str(killed), *BASE], env=env)
    ckpt = killed / "checkpoint.pkl"
    deadline = time.time() + 240
    seen = None
    while time.time() < deadline and proc.poll() is None:
        if ckpt.exists():
            seen = ckpt.stat().st_mtime
            if seen and time.time() - seen > 0.0:
                # wait for a checkpoint past the first month, then kill
                import pickle

                try:
                    with open(ckpt, "rb") as fh:
                        if pickle.load(fh)["period_index"] >= 1:
                            break
                except (EOFError, pickle.UnpicklingError):
                    pass
        time.sleep(0.05)
    if proc.poll() is not None:
        pytest.skip("the run finished before it could be killed on this machine")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "fields.nc").exists()
    assert main(["run", "--resume", str(killed), *BASE]) == 0
    a, b = _fields(ref), _fields(killed)
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(a[k], b[k], equal_nan=True), k
    with open(ref / "budget.csv") as f1, open(killed / "budget.csv") as f2:
        assert [line for line in f1 if not line.startswith("#")] == [line for line in f2 if not line.startswith("#")]


def test_resume_without_checkpoint_is_refused(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    assert main(["run", "--resume", str(out), *BASE]) == 1
    assert "no checkpoint.pkl" in capsys.readouterr().err
    # a folder that does not exist is not made by a refused --resume
    missing = tmp_path / "missing"
    assert main(["run", "--resume", str(missing), *BASE]) == 1
    assert "have passed the end of an output period" in capsys.readouterr().err
    assert not missing.exists()


def _interrupted_run(out, day, extra=()):
    """A run of ``BASE`` (plus ``extra`` settings) stopped by Ctrl-C at simulated ``day``, leaving its checkpoint."""
    from popstransport.config import load_config
    from popstransport.run import run

    settings = [BASE[k + 1] for k, a in enumerate(BASE) if a == "--set"] + list(extra)

    def interrupt(sim_s, total_s, wall_s):
        if sim_s >= day * 86400.0:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(load_config(None, settings), out, progress=interrupt)
    assert (out / "checkpoint.pkl").is_file()


def test_resume_with_another_configuration_names_the_keys_that_differ(tmp_path, capsys):
    """A refused --resume names every key whose value differs from the interrupted run's, with both values (the
    checkpoint keeps the configuration that wrote it: no config.toml is left by an interrupted run)."""
    out = tmp_path / "run"
    _interrupted_run(out, 40)
    assert main(["run", "--resume", str(out), *BASE, "--set", "emissions.uniform_total_kg_yr=2000"]) == 1
    err = capsys.readouterr().err
    assert "written by a different configuration (emissions.uniform_total_kg_yr = 1000.0 in the checkpoint, 2000.0 now)" \
        in err
    assert "config.toml is in the checkpoint" not in err
    assert main(["run", "--resume", str(out), *BASE]) == 0


def test_resume_after_an_input_file_changed_is_refused_and_the_outputs_record_the_inputs(tmp_path, capsys):
    """An emission file edited between the interruption and --resume would give one run of two inventories: the
    checkpoint keeps the SHA-256 of every input file, and a resume from other contents is refused, naming the file
    (the same contents under a new modification time resume); the outputs record each input file with its size,
    time and SHA-256."""
    import hashlib

    import netCDF4

    emissions = tmp_path / "emissions.csv"
    original = "iso3,value,unit\nCHN,1000,kg/yr\nIND,500,kg/yr\n"
    emissions.write_text(original)
    extra = [f"emissions.source='{emissions}'"]
    out = tmp_path / "run"
    _interrupted_run(out, 40, extra)
    emissions.write_text(original.replace("1000", "90000"))
    args = ["run", "--resume", str(out), *BASE, "--set", extra[0]]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert f"input_files.{emissions.resolve()} = 'sha256 {hashlib.sha256(original.encode()).hexdigest()}' in the " \
           "checkpoint" in err
    emissions.write_text(original)
    assert main(args) == 0
    with netCDF4.Dataset(out / "fields.nc") as nc:
        assert nc.input_files.startswith(f"{emissions.resolve()}: {len(original)} bytes, modified ")
        # (then the package data files the run read, marked built-in)
        assert nc.input_files.splitlines()[0].endswith(f", sha256 {hashlib.sha256(original.encode()).hexdigest()}")
        assert all(": built-in " in line for line in nc.input_files.splitlines()[1:])


def test_a_checkpoint_of_an_earlier_version_resumes_when_only_new_keys_at_their_defaults_differ(tmp_path, capsys):
    """A checkpoint keeps the configuration that wrote it as TOML; one written by an earlier version lacks the keys
    added since (here as if emissions.missing_as_zero and domain.inflow_mixing_ratio) and the input files' SHA-256,
    and was refused as "a different configuration" after an upgrade. It resumes when those keys hold their defaults
    now, with a warning that the inputs cannot be checked; a new key set to another value, or a value that differs,
    is still refused."""
    import pickle

    emissions = tmp_path / "emissions.csv"
    emissions.write_text("iso3,value,unit\nCHN,1000,kg/yr\n")
    extra = [f"emissions.source='{emissions}'"]
    out = tmp_path / "run"
    _interrupted_run(out, 40, extra)
    path = out / "checkpoint.pkl"
    with open(path, "rb") as fh:
        data = pickle.load(fh)
    assert "\n[input_files]\n" in data["tag"] and "missing_as_zero = false\n" in data["tag"]
    assert "inflow_mixing_ratio = 0.0\n" in data["tag"]
    # (as an earlier version wrote it: no input files, and neither key, as if both had been added since)
    data["tag"] = data["tag"].partition("\n[input_files]\n")[0].replace("missing_as_zero = false\n", "").replace(
        "inflow_mixing_ratio = 0.0\n", "")
    with open(path, "wb") as fh:
        pickle.dump(data, fh)
    args = ["run", "--resume", str(out), *BASE, "--set", extra[0]]
    assert main([*args, "--set", "domain.inflow_mixing_ratio=1e-14"]) == 1
    assert "domain.inflow_mixing_ratio = '(not set)' in the checkpoint, 1e-14 now" in capsys.readouterr().err
    assert main([*args, "--set", "emissions.scale=2"]) == 1
    assert "emissions.scale = 1.0 in the checkpoint, 2.0 now" in capsys.readouterr().err
    with pytest.warns(UserWarning, match=r"does not record its input files' SHA-256 \(written by an earlier version\)"):
        assert main(args) == 0


def test_large_input_files_are_hashed_by_size_head_and_tail(tmp_path, monkeypatch):
    """Recording the SHA-256 of tens of gigabytes of met would read them all once more at every start: a file above
    the limit is hashed by its size, head and tail (and says so), a change in its head is still noticed, and a file
    within the limit is hashed whole."""
    import hashlib

    import popstransport.io.writers as writers

    monkeypatch.setattr(writers, "FULL_HASH_LIMIT_BYTES", 1000)
    monkeypatch.setattr(writers, "HASH_SAMPLE_BYTES", 100)
    small, big = tmp_path / "small.nc", tmp_path / "big.nc"
    small.write_bytes(bytes(range(200)) * 5)
    content = bytes(range(256)) * 8
    big.write_bytes(content)
    assert writers.file_sha256(small) == hashlib.sha256(small.read_bytes()).hexdigest()
    expected = hashlib.sha256(len(content).to_bytes(8, "little") + content[:100] + content[-100:]).hexdigest()
    assert writers.file_sha256(big) == expected
    assert writers.file_fingerprint(big).endswith(f"hashed by its size and its first and last 0 MiB, sha256 {expected}")
    big.write_bytes(b"x" + content[1:])
    os.utime(big, ns=(1, 1))  # (another modification time: the digest is not taken from this process's memory)
    assert writers.file_sha256(big) != expected


def test_a_resumed_run_keeps_the_spin_up_attribute(tmp_path):
    """A resumed run does not spin up again (its state is the checkpoint's), and its outputs still say which spin-up
    the run began from, as the uninterrupted run's do (they said none)."""
    spin = ["spinup.method=repeat", "spinup.tolerance=0.9", "spinup.years=3"]
    out = tmp_path / "run"
    _interrupted_run(out, 40, spin)
    assert main(["run", "--resume", str(out), *BASE, *[a for s in spin for a in ("--set", s)]]) == 0
    for name in ("fields.nc", "budget.nc"):
        with xr.open_dataset(out / name) as ds:
            assert ds.attrs.get("spinup", "").startswith("repeat: 2 model years, relative annual change"), name


def test_resume_of_a_completed_run_says_it_has_completed(tmp_path, capsys):
    """--resume of a run that finished (no checkpoint left, its results written) says so, rather than that the run
    must have written checkpoints."""
    out = tmp_path / "run"
    short = [*BASE, "--set", "time.stop=2010-02-01"]
    assert main(["run", "--out", str(out), *short]) == 0
    assert main(["run", "--resume", str(out), *short]) == 1
    err = capsys.readouterr().err
    assert "the run there has completed" in err and "nothing to resume" in err


def _netcdf_contents(path):
    """Every variable's values, attributes, type, chunking and compression, and the global attributes except the
    creation time and history."""
    import netCDF4

    with netCDF4.Dataset(path) as ds:
        ds.set_auto_maskandscale(False)
        out = {"": {k: ds.getncattr(k) for k in ds.ncattrs() if k not in ("created", "history")}}
        for name, v in ds.variables.items():
            v.set_auto_chartostring(False)
            out[name] = (v.dimensions, v.dtype, v.chunking(), v.filters(), {k: repr(v.getncattr(k)) for k in v.ncattrs()},
                         np.asarray(v[...]).tobytes())
        return out


def test_a_tagged_run_resumes_its_writers_files_without_a_periods_file(tmp_path):
    """A run whose writers all resume keeps no periods file: its checkpoint holds the writers' states, and each
    NetCDF output is written in parts, a new one after every checkpoint, which the resumed run continues (parts
    written after the checkpoint it resumes from are removed) and joins at the end. Every output equals the
    uninterrupted run's, values, attributes, chunking and compression alike."""
    tagged = ["time.stop=2010-05-01", "attribution.tags=list", "attribution.regions=['CHN','IND']",
              "attribution.border_fluxes_by_source=true"]
    args = [*BASE, *[a for s in tagged for a in ("--set", s)]]
    ref = tmp_path / "ref"  # (without checkpoints: one part, never joined)
    assert main(["run", "--out", str(ref), *args, "--set", "output.checkpoint_every_months=0"]) == 0
    out = tmp_path / "run"
    _interrupted_run(out, 75, tagged)  # (mid-March: checkpoints at the ends of January and February)
    hidden = sorted(p.name for p in out.iterdir())
    assert hidden == [".attribution.nc.partial.records", ".fields.nc.partial", ".fields.nc.partial.1",
                      ".tag_fields.nc.partial", ".tag_fields.nc.partial.1", "checkpoint.pkl"], hidden
    with open(out / "checkpoint.pkl", "rb") as fh:  # (the receptor tables are appended, not kept in the checkpoint)
        import pickle

        state = pickle.load(fh)["writers"][-1]
    assert state["tables"] == 2 and state["tables_bytes"] == (out / ".attribution.nc.partial.records").stat().st_size
    with open(out / ".attribution.nc.partial.records", "ab") as fh:
        fh.write(b"a record appended after the checkpoint")
    (out / ".fields.nc.partial.2").write_bytes(b"written after the checkpoint")
    assert main(["run", "--resume", str(out), *args]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in ref.iterdir())
    for name in ("fields.nc", "tag_fields.nc", "attribution.nc", "budget.nc"):
        a, b = _netcdf_contents(ref / name), _netcdf_contents(out / name)
        for c in (a, b):  # (the configurations differ in output.checkpoint_every_months alone)
            assert c[""].pop("configuration").count("checkpoint_every_months") == 1
        assert a.keys() == b.keys(), name
        for k in a:
            assert a[k] == b[k], (name, k)
    for name in ("budget.csv", "source_receptor_deposition.csv", "border_flux.csv", "region_air_budget.csv"):
        assert [x for x in (ref / name).read_text().splitlines() if not x.startswith("#")] == \
            [x for x in (out / name).read_text().splitlines() if not x.startswith("#")], name


def test_a_missing_part_of_a_checkpointed_output_is_named(tmp_path, capsys):
    out = tmp_path / "run"
    _interrupted_run(out, 75, ["time.stop=2010-04-01"])
    (out / ".fields.nc.partial.1").unlink()
    assert main(["run", "--resume", str(out), *BASE, "--set", "time.stop=2010-04-01"]) == 1
    err = capsys.readouterr().err
    assert ".fields.nc.partial.1: part 1 of fields.nc, which the checkpoint counts, is missing" in err
    assert "run it again from the start" in err


def test_a_fresh_run_removes_the_parts_an_interrupted_run_left(tmp_path, capsys):
    """A run started afresh (not --resume) in the folder of an interrupted tagged run leaves none of its hidden
    parts, even of outputs it does not write (an untagged run writes no tag_fields.nc)."""
    out = tmp_path / "run"
    tagged = ["time.stop=2010-04-01", "attribution.tags=list", "attribution.regions=['CHN']"]
    _interrupted_run(out, 75, tagged)
    assert (out / ".tag_fields.nc.partial.1").is_file()
    # (without --overwrite a fresh run would end the interrupted run's chance to resume: refused)
    assert main(["run", "--out", str(out), *BASE, "--set", "time.stop=2010-03-01"]) == 1
    assert "holds the checkpoint of an interrupted run; continue it with --resume, or pass --overwrite" in \
        capsys.readouterr().err
    assert main(["run", "--out", str(out), *BASE, "--set", "time.stop=2010-03-01", "--overwrite"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["budget.csv", "budget.nc", "config.toml", "fields.nc"]


@pytest.mark.parametrize("content", [b"", b"\x80\x05\x95\x10\x00\x00"])
def test_resume_from_a_damaged_checkpoint_names_the_file(tmp_path, capsys, content):
    out = tmp_path / "run"
    out.mkdir()
    (out / "checkpoint.pkl").write_bytes(content)
    # (was "popstransport: error: Ran out of input" / "pickle data was truncated", naming no file)
    assert main(["run", "--resume", str(out), *BASE]) == 1
    err = capsys.readouterr().err
    assert f"{out / 'checkpoint.pkl'}: the checkpoint cannot be read (" in err and "cut short or damaged" in err


def test_ctrl_c_after_a_checkpoint_says_how_to_resume(tmp_path, capsys, monkeypatch):
    """Ctrl-C of a run with a checkpoint says that it can be resumed, and with which command (rather than that
    nothing was kept)."""
    import importlib

    run_module = importlib.import_module("popstransport.run")
    out = tmp_path / "run"
    real = run_module.run

    def interrupted(cfg, out_dir, overwrite=False, progress=None, resume=False):
        def stop(sim_s, total_s, wall_s):
            if sim_s >= 40 * 86400.0:
                raise KeyboardInterrupt
        return real(cfg, out_dir, overwrite, stop, resume)

    monkeypatch.setattr(run_module, "run", interrupted)
    short = [*BASE, "--set", "time.stop=2010-03-01", "--set", "attribution.regions=['CHN']"]
    assert main(["run", "--out", str(out), *short]) == 130
    err = capsys.readouterr().err
    assert "interrupted; the results are not written, but the last checkpoint is: continue with `popstransport run " \
           f"--resume {out} --set domain.resolution_deg=5" in err and "--set 'attribution.regions=['\"'\"'CHN" in err


def test_a_resume_from_parts_joined_after_the_checkpoint_writes_each_period_once(tmp_path, capsys):
    """A run stopped while joining its parts at the end, after the joined file replaced part 0 but before the later
    parts were removed, leaves a part 0 holding every period; resumed, those after the checkpoint were written twice
    (four periods in a three-month run). The parts' record counts are checked against the checkpoint's, and part 0
    is cut back to the records the checkpoint counts."""
    from popstransport.io.writers import join_segments

    out = tmp_path / "run"
    _interrupted_run(out, 75, ["time.stop=2010-04-01"])
    parts = [out / ".fields.nc.partial", out / ".fields.nc.partial.1"]
    join_segments(parts, out / ".fields.nc.partial.joined")
    os.replace(out / ".fields.nc.partial.joined", parts[0])
    assert main(["run", "--resume", str(out), *BASE, "--set", "time.stop=2010-04-01"]) == 0
    with xr.open_dataset(out / "fields.nc") as ds:
        assert [str(t)[:7] for t in ds["time_bnds"].values[:, 0]] == ["2010-01", "2010-02", "2010-03"]


def test_a_join_that_fails_leaves_the_parts_and_no_joined_file(tmp_path):
    """A join of parts that fails (here a part whose variable has time as its second dimension; in a run, a full disk
    or Ctrl-C while completing) removes its half-written ``.NAME.partial.joined`` and leaves the parts as they were."""
    import netCDF4

    from popstransport.io.writers import RunDirectory, join_parts

    run_dir = RunDirectory(tmp_path / "run")
    for k in range(2):
        with netCDF4.Dataset(run_dir.segment("fields.nc", k), "w") as ds:
            ds.createDimension("time", None)
            ds.createDimension("x", 2)
            ds.createVariable("v", "f8", ("x", "time"))[:, 0] = [k, k]
    before = {p.name: p.read_bytes() for p in run_dir.path.iterdir()}
    with pytest.raises(ValueError, match="variable 'v' has time as a dimension other than its first"):
        join_parts(run_dir, "fields.nc", 1, {})
    assert {p.name: p.read_bytes() for p in run_dir.path.iterdir()} == before


def test_a_resume_that_fails_before_its_writers_resume_keeps_the_parts(tmp_path, monkeypatch, capsys):
    """A resumed run stopped (Ctrl-C, or an error) before its writers resumed closed them as failed, which removed
    the interrupted run's parts: the checkpoint could no longer be resumed ("part 0 of fields.nc ... is missing")."""
    from popstransport.simulation import Simulation

    out = tmp_path / "run"
    short = ["time.stop=2010-04-01"]
    _interrupted_run(out, 75, short)
    parts = sorted(p.name for p in out.iterdir())
    real = Simulation.check_forcing_covers

    def interrupted(self):
        if self.writers:  # (the run's simulation, not the checks before it)
            raise KeyboardInterrupt
        real(self)

    with monkeypatch.context() as m:
        m.setattr(Simulation, "check_forcing_covers", interrupted)
        assert main(["run", "--resume", str(out), *BASE, "--set", short[0]]) == 130
    assert "continue with `popstransport run --resume" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == parts

    def stopped(*args, **kwargs):  # (Ctrl-C while the writers are made, after the fields writer)
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr("popstransport.io.writers.BudgetWriter.__init__", stopped)
        assert main(["run", "--resume", str(out), *BASE, "--set", short[0]]) == 130
    assert sorted(p.name for p in out.iterdir()) == parts
    assert main(["run", "--resume", str(out), *BASE, "--set", short[0]]) == 0
    assert (out / "fields.nc").is_file() and not (out / "checkpoint.pkl").exists()


TAGGED = ["time.stop=2010-05-01", "attribution.tags=list", "attribution.regions=['CHN','IND']"]


def _assert_same_outputs(ref, out):
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in ref.iterdir())
    for name in ("fields.nc", "tag_fields.nc", "attribution.nc", "budget.nc"):
        a, b = _netcdf_contents(ref / name), _netcdf_contents(out / name)
        assert a == b, name
    for name in ("budget.csv", "source_receptor_deposition.csv", "border_flux.csv", "region_air_budget.csv"):
        assert [x for x in (ref / name).read_text().splitlines() if not x.startswith("#")] == \
            [x for x in (out / name).read_text().splitlines() if not x.startswith("#")], name


def _killed_resume(out, args, patch):
    """``--resume out`` in a new process that ``patch`` (Python code run first, with ``w`` the module
    popstransport.io.writers) stops as SIGKILL would, with no clean-up (``os._exit``)."""
    code = ("import os, sys\nimport popstransport.io.writers as w\n" + patch +
            "\nfrom popstransport.cli import main\nsys.exit(main(sys.argv[1:]))\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (os.environ.get("PYTHONPATH"), *sys.path) if p))
    proc = subprocess.run([sys.executable, "-c", code, "run", "--resume", str(out), *args], env=env)
    assert proc.returncode == 9, proc.returncode


@pytest.mark.parametrize("when", ["after_replace", "after_discard"])
def test_a_run_killed_while_joining_its_parts_resumes_bit_identical(tmp_path, when):
    """A run killed while it joins its parts at the end (part 0 replaced by the joined file; the later parts
    still there, or removed) resumes and gives the uninterrupted run's outputs: it gave every record after the
    checkpoint twice, or refused to resume naming a part that was missing."""
    args = [*BASE, *[a for s in TAGGED for a in ("--set", s)]]
    ref = tmp_path / "ref"
    assert main(["run", "--out", str(ref), *args]) == 0
    out = tmp_path / "run"
    _interrupted_run(out, 75, TAGGED)
    patch = {"after_replace": "w.RunDirectory.discard_segments = lambda self, name, first: os._exit(9)",
             "after_discard": "real = w.join_parts\n"
                              "def join(*a):\n    real(*a)\n    os._exit(9)\n"
                              "w.join_parts = join\nimport popstransport.io.attribution_writer as aw\n"
                              "aw.join_parts = join"}[when]
    _killed_resume(out, args, patch)
    assert (out / "checkpoint.pkl").is_file()
    assert main(["run", "--resume", str(out), *args]) == 0
    _assert_same_outputs(ref, out)


def test_a_run_killed_after_putting_its_results_in_place_is_complete(tmp_path, capsys):
    """A run killed just after its results were put in place leaves no checkpoint (the commit's journal removes
    it): --resume says the run has completed, rather than that the folder holds results and needs --overwrite."""
    args = [*BASE, *[a for s in TAGGED for a in ("--set", s)]]
    out = tmp_path / "run"
    _interrupted_run(out, 75, TAGGED)
    _killed_resume(out, args, "real = w.RunDirectory._apply_journal.__func__\n"
                               "def apply(cls, path, journal):\n    real(cls, path, journal)\n    os._exit(9)\n"
                               "w.RunDirectory._apply_journal = classmethod(apply)")
    assert not (out / "checkpoint.pkl").exists()
    assert main(["run", "--resume", str(out), *args]) == 1
    assert "the run there has completed" in capsys.readouterr().err


def test_a_run_killed_while_putting_its_results_in_place_leaves_no_hidden_file(tmp_path):
    """The journal that puts a resumed tagged run's results in place also removes the attribution tables of the
    finished periods, as it removes the checkpoint: a run killed while it did so, or just after, left them as a
    hidden file beside its complete results, which no later command removed."""
    args = [*BASE, *[a for s in TAGGED for a in ("--set", s)]]
    out = tmp_path / "run"
    _interrupted_run(out, 75, TAGGED)
    assert (out / ".attribution.nc.partial.records").is_file()
    _killed_resume(out, args, "w.RunDirectory._apply_journal = classmethod(lambda cls, path, journal: os._exit(9))")
    assert (out / ".commit.journal").is_file()
    from popstransport.io.writers import RunDirectory

    assert RunDirectory.recover(out)  # (as the next command that opens the folder does)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["attribution.nc", "border_flux.csv", "budget.csv", "budget.nc", "config.toml", "fields.nc",
         "region_air_budget.csv", "source_receptor_deposition.csv", "tag_fields.nc"])


def test_ctrl_c_while_the_parts_are_joined_keeps_the_checkpointed_parts(tmp_path, monkeypatch):
    """Ctrl-C (or an error) while a checkpointed run joins its parts at the end removes none of them (the other
    writers' parts were removed, so that the checkpoint it said to resume from could not be resumed)."""
    import popstransport.io.writers as w

    args = [*BASE, *[a for s in TAGGED for a in ("--set", s)]]
    ref = tmp_path / "ref"
    assert main(["run", "--out", str(ref), *args]) == 0
    out = tmp_path / "run"
    _interrupted_run(out, 75, TAGGED)
    real, calls = w.join_segments, []

    def join(*a, **k):
        calls.append(a)
        if len(calls) == 2:  # (tag_fields.nc is joined, fields.nc not yet)
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(w, "join_segments", join)
    assert main(["run", "--resume", str(out), *args]) == 130
    monkeypatch.setattr(w, "join_segments", real)
    assert main(["run", "--resume", str(out), *args]) == 0
    _assert_same_outputs(ref, out)


def test_a_refused_resume_keeps_the_other_outputs_parts(tmp_path, capsys):
    """A resume refused because one output's part is missing removes no other output's parts."""
    args = [*BASE, *[a for s in TAGGED for a in ("--set", s)]]
    out = tmp_path / "run"
    _interrupted_run(out, 75, TAGGED)
    (out / ".tag_fields.nc.partial.1").unlink()
    assert main(["run", "--resume", str(out), *args]) == 1
    assert "part 1 of tag_fields.nc, which the checkpoint counts, is missing" in capsys.readouterr().err
    assert (out / ".fields.nc.partial").is_file() and (out / ".fields.nc.partial.1").is_file()
    assert (out / ".tag_fields.nc.partial").is_file() and (out / "checkpoint.pkl").is_file()


def test_a_damaged_part_is_named_before_the_run(tmp_path, capsys):
    args = [*BASE, *[a for s in TAGGED for a in ("--set", s)]]
    out = tmp_path / "run"
    _interrupted_run(out, 75, TAGGED)
    (out / ".fields.nc.partial.1").write_bytes(b"not a netCDF file")
    assert main(["run", "--resume", str(out), *args]) == 1
    err = capsys.readouterr().err
    assert f"{out / '.fields.nc.partial.1'}: a part of an output that the checkpoint counts cannot be read" in err
    assert "run it again from the start" in err


def test_a_full_disk_at_the_end_keeps_the_checkpoint_and_says_how_to_resume(tmp_path, capsys, monkeypatch):
    """A write that fails at the end of a checkpointed run (a full disk) says that the run can be resumed and how
    (it said only 'No space left on device'), and keeps what the checkpoint counts, so that the resumed run gives
    the uninterrupted run's outputs."""
    import popstransport.io.writers as w

    args = [*BASE, *[a for s in TAGGED for a in ("--set", s)]]
    ref = tmp_path / "ref"
    assert main(["run", "--out", str(ref), *args]) == 0
    out = tmp_path / "run"

    def full(self, success):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(w.BudgetWriter, "close", full)
    assert main(["run", "--out", str(out), *args]) == 1
    err = capsys.readouterr().err
    assert "No space left on device; the results are not written, but the last checkpoint is: once that is fixed, " \
           f"continue with `popstransport run --resume {out} --set" in err
    monkeypatch.undo()
    assert main(["run", "--resume", str(out), *args]) == 0
    _assert_same_outputs(ref, out)


def test_the_resume_command_of_an_overwriting_run_resumes_it(tmp_path):
    """A run started with --overwrite over earlier results and interrupted resumes with the command the CLI gives
    (--resume DIR, without --overwrite: it was refused, as the folder held results), and replaces them."""
    import shutil

    from popstransport.config import load_config
    from popstransport.run import run

    args = [*BASE, *[a for s in TAGGED for a in ("--set", s)]]
    out = tmp_path / "run"
    assert main(["run", "--out", str(out), *args]) == 0
    ref = tmp_path / "ref"
    shutil.copytree(out, ref)

    def interrupt(sim_s, total_s, wall_s):
        if sim_s >= 75 * 86400.0:
            raise KeyboardInterrupt

    settings = [args[k + 1] for k, a in enumerate(args) if a == "--set"]
    with pytest.raises(KeyboardInterrupt):
        run(load_config(None, settings), out, overwrite=True, progress=interrupt)
    assert (out / "checkpoint.pkl").is_file() and (out / "fields.nc").is_file()
    assert main(["run", "--resume", str(out), *args]) == 0
    _assert_same_outputs(ref, out)


def test_a_run_folder_that_cannot_be_written_says_so_with_the_fix(tmp_path, capsys, monkeypatch):
    """A read-only folder stopped the run with the system's bare "[Errno 30] Read-only file system: '...'"; the
    message now says that the run folder cannot be written and how to choose another."""
    import errno
    import importlib

    run_module = importlib.import_module("popstransport.run")

    def read_only(cfg, out_dir, overwrite=False, progress=None, resume=False):
        raise OSError(errno.EROFS, "Read-only file system", f"{out_dir}/.commit.journal.tmp")

    monkeypatch.setattr(run_module, "run", read_only)
    out = tmp_path / "run"
    assert main(["run", "--out", str(out), *BASE]) == 1
    err = capsys.readouterr().err
    assert f"Read-only file system: '{out}/.commit.journal.tmp': the run folder '{out}' cannot be written; give a " \
           "folder you can write to with --out" in err, err


def test_a_writer_that_cannot_close_its_part_when_stopped_is_named_and_the_run_resumes(tmp_path, monkeypatch):
    """Ctrl-C after a checkpoint suspends the writers; one whose file cannot be closed then (a full disk) is named in
    a warning instead of being passed over in silence, the Ctrl-C still stops the run, and the run resumes (the part
    written after the checkpoint is removed and written again)."""
    from popstransport.io.writers import FieldsWriter

    real_suspend = FieldsWriter.suspend

    def failing(self):
        real_suspend(self)
        raise OSError("No space left on device")

    monkeypatch.setattr(FieldsWriter, "suspend", failing)
    out = tmp_path / "run"
    with pytest.warns(UserWarning, match=r"FieldsWriter could not close the part of its output written after the last "
                      r"checkpoint \(OSError: No space left on device\); a resumed run removes that part"):
        _interrupted_run(out, 40)
    monkeypatch.setattr(FieldsWriter, "suspend", real_suspend)
    assert main(["run", "--resume", str(out), *BASE]) == 0
    with xr.open_dataset(out / "fields.nc") as ds:
        assert ds.sizes["time"] == 6


def test_appending_after_a_cut_returns_the_files_new_length(tmp_path):
    """A file of pickles cut back to a checkpoint's length (what a run stopped after appending, before its checkpoint
    was written, left beyond it) and appended to ends where append_pickles says: it gave the length before the cut
    plus what it appended, so that the next checkpoint counted bytes that were not there, and a run resumed from it
    refused its attribution tables (or, appending again, padded the file with zeros)."""
    from popstransport.simulation import append_pickles, read_pickles

    path = tmp_path / "tables.pkl"
    first = append_pickles(path, 0, ["period 0"])
    append_pickles(path, first, ["period 1 (after the checkpoint)"])
    end = append_pickles(path, first, ["period 1", "period 2"])
    assert end == path.stat().st_size
    assert list(read_pickles(path, 3, end)) == ["period 0", "period 1", "period 2"]
    assert list(read_pickles(path, 4, append_pickles(path, end, ["period 3"])))[-1] == "period 3"


def test_ctrl_c_just_after_the_first_checkpoint_is_in_place_keeps_what_it_counts(tmp_path, monkeypatch, capsys):
    """Ctrl-C that comes as the first checkpoint has just been renamed into place stops the run as after a
    checkpoint: its writers' parts are kept and the resume it prints continues the run. They were removed as if no
    checkpoint had been written, and the resume refused the checkpoint, whose part 0 of fields.nc was missing."""
    out = tmp_path / "run"
    real = os.replace

    def replace(src, dst):
        real(src, dst)
        if str(dst).endswith("checkpoint.pkl"):
            raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(os, "replace", replace)
        assert main(["run", "--out", str(out), *BASE, "--set", "time.stop=2010-04-01"]) == 130
    assert "continue with `popstransport run --resume" in capsys.readouterr().err
    assert main(["run", "--resume", str(out), *BASE, "--set", "time.stop=2010-04-01"]) == 0
    assert (out / "fields.nc").is_file() and not [p.name for p in out.iterdir() if p.name.startswith(".")]


def test_ctrl_c_while_the_first_checkpoint_is_written_leaves_nothing(tmp_path, monkeypatch, capsys):
    """Ctrl-C while a run writes its first checkpoint leaves no file, as the message says (it left the checkpoint's
    temporary file); one that a killed run left is removed by the next run in the folder."""
    import pickle

    out = tmp_path / "run"
    real = pickle.dump

    def dump(obj, fh, *args, **kwargs):
        if str(getattr(fh, "name", "")).endswith("checkpoint.pkl.tmp"):
            fh.write(pickle.dumps(obj)[:100])
            raise KeyboardInterrupt
        real(obj, fh, *args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(pickle, "dump", dump)
        assert main(["run", "--out", str(out), *BASE, "--set", "time.stop=2010-03-01"]) == 130
    assert "no partial outputs were kept" in capsys.readouterr().err
    assert not out.exists()
    out.mkdir()
    (out / "checkpoint.pkl.tmp").write_bytes(b"\x80\x05")  # (a run killed while it wrote it)
    assert main(["run", "--out", str(out), *BASE, "--set", "time.stop=2010-03-01",
                 "--set", "output.checkpoint_every_months=0"]) == 0
    assert not (out / "checkpoint.pkl.tmp").exists()


def test_ctrl_c_after_the_results_are_in_place_says_they_are_written(tmp_path, monkeypatch, capsys):
    """Ctrl-C once a run's results are in place (while it removes what only a resume needed, or writes its
    [[scenarios]]) says that the run completed and where its results are, not that no partial outputs were kept."""
    from popstransport.io.writers import RunDirectory

    out = tmp_path / "run"
    real = RunDirectory.discard_partials

    def discard_partials(self):
        if (self.path / "fields.nc").is_file():
            raise KeyboardInterrupt
        real(self)

    with monkeypatch.context() as m:
        m.setattr(RunDirectory, "discard_partials", discard_partials)
        assert main(["run", "--out", str(out), *BASE, "--set", "time.stop=2010-03-01"]) == 130
    err = capsys.readouterr().err
    assert "interrupted after the run completed: its results are in" in err and "no partial outputs" not in err
    assert (out / "fields.nc").is_file() and not (out / "checkpoint.pkl").exists()


@pytest.mark.parametrize("every, warned", [(6, "every year, not every 6 months"), (18, "every 2 years, not every 18 months"),
                                           (12, None), (24, None)])
def test_annual_output_warns_of_checkpoints_at_year_ends_only(every, warned):
    """With annual output, output.checkpoint_every_months = 6 gave checkpoints at year ends only (they are written at
    the ends of output periods), without a word; validate and run now warn of it, with the fix."""
    import warnings

    from popstransport.config import load_config
    from popstransport.run import validate

    cfg = load_config(None, ["domain.kind=box", "emissions.source=uniform", "output.frequency=annual",
                             f"output.checkpoint_every_months={every}"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        validate(cfg)
    said = [str(w.message) for w in caught if "checkpoint_every_months" in str(w.message)]
    if warned is None:
        assert not said
    else:
        assert len(said) == 1 and (
            f"output.checkpoint_every_months = {every} with output.frequency = 'annual': checkpoints are written at "
            f"the ends of output periods, so this run writes them at year ends only, {warned}") in said[0], said
        assert (f"set output.checkpoint_every_months = {12 * (-(-every // 12))} to say so, or output.frequency = "
                f"'monthly' for a checkpoint every {every} months") in said[0]


@pytest.mark.parametrize("existing", [False, True])
def test_ctrl_c_before_the_writers_are_made_removes_the_run_folder_it_made(tmp_path, monkeypatch, capsys, existing):
    """Ctrl-C between making the run folder and making its writers (here while the run removes what an interrupted run
    left) left the empty run folder behind; it is now removed, but only if the run made it and nothing else is in it."""
    from popstransport.io.writers import RunDirectory

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    out = tmp_path / "run"
    if existing:
        out.mkdir()
        (out / "notes.txt").write_text("mine")
    monkeypatch.setattr(RunDirectory, "discard_partials", interrupted)
    assert main(["run", "--out", str(out), *BASE, "--set", "time.stop=2010-02-01"]) == 130
    if existing:
        assert [p.name for p in out.iterdir()] == ["notes.txt"]
    else:
        assert not out.exists()


def test_sigterm_stops_a_run_as_ctrl_c_does_and_the_run_resumes(tmp_path):
    """A batch scheduler ends a job whose time is up with SIGTERM (then SIGKILL): its default ended the process at
    once, with the results of neither an interrupted nor a finished run. The CLI now treats it as Ctrl-C: the last
    checkpoint is kept, the message says how to continue, and the run resumes to the same results as one not
    stopped."""
    ref = tmp_path / "ref"
    assert main(["run", "--out", str(ref), *BASE]) == 0
    out = tmp_path / "stopped"
    proc = subprocess.Popen([sys.executable, "-m", "popstransport.cli", "run", "--out", str(out), *BASE],
                            stderr=subprocess.PIPE, text=True)
    ckpt = out / "checkpoint.pkl"
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None and not ckpt.exists():
        time.sleep(0.05)
    if proc.poll() is not None:
        pytest.skip("the run finished before it could be stopped on this machine")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    if "continue with" not in err and proc.returncode == 0:
        pytest.skip("the run finished before the signal reached it")
    assert proc.returncode == 130, err
    assert "interrupted; the results are not written, but the last checkpoint is: continue with" in err, err
    assert ckpt.is_file() and not (out / "fields.nc").exists()
    assert main(["run", "--resume", str(out), *BASE]) == 0
    a, b = _fields(ref), _fields(out)
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(a[k], b[k], equal_nan=True), k


def test_the_history_of_a_resumed_run_begins_with_the_run_it_continues(tmp_path):
    """A resumed run's outputs said only when the resume ran: their history now begins with the line of the run
    that wrote the checkpoint and adds one for each resume."""
    import netCDF4

    out = tmp_path / "run"
    _interrupted_run(out, 40)
    with open(out / "checkpoint.pkl", "rb") as fh:
        import pickle

        started = pickle.load(fh)["attributes"]["history"]
    assert started.endswith(" run") and "\n" not in started
    assert main(["run", "--resume", str(out), *BASE]) == 0
    with netCDF4.Dataset(out / "fields.nc") as nc:
        lines = nc.history.splitlines()
    assert lines[0] == started and lines[1].endswith(" run resumed from its last checkpoint") and len(lines) == 2


def test_a_checkpoint_that_recorded_paths_from_the_working_directory_resumes(tmp_path, capsys, monkeypatch):
    """A checkpoint written before the paths of a configuration file were read from its folder holds its emission
    file as written, relative to the working directory: a resume from that working directory, where the
    configuration now names the file absolutely, continues it; another file is still refused."""
    import pickle

    (tmp_path / "data").mkdir()
    emissions = tmp_path / "data" / "emissions.csv"
    emissions.write_text("iso3,value,unit\nCHN,1000,kg/yr\n")
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "run"
    _interrupted_run(out, 40, [f"emissions.source='{emissions}'"])
    path = out / "checkpoint.pkl"
    with open(path, "rb") as fh:
        data = pickle.load(fh)
    assert f'source = "{emissions}"\n' in data["tag"]
    data["tag"] = data["tag"].replace(f'source = "{emissions}"\n', 'source = "data/emissions.csv"\n')
    with open(path, "wb") as fh:
        pickle.dump(data, fh)
    (tmp_path / "data" / "other.csv").write_text("iso3,value,unit\nCHN,1000,kg/yr\n")
    assert main(["run", "--resume", str(out), *BASE, "--set", "emissions.source=data/other.csv"]) == 1
    assert f"emissions.source = '{emissions}' in the checkpoint, '{tmp_path}/data/other.csv' now" in \
        capsys.readouterr().err
    assert main(["run", "--resume", str(out), *BASE, "--set", "emissions.source=data/emissions.csv"]) == 0
