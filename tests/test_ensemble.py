"""An ensemble of 20 members reproduces a hand-run member exactly and gives summary statistics."""

import csv
import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from popstransport.config import ConfigError, load_config
from popstransport.ensemble import draw_members, member_overrides, run_ensemble
from popstransport.run import run

BASE = ["domain.resolution_deg=15", "time.stop=2010-02-01", "met.source=synthetic", "emissions.source=uniform",
        "time.step_hours=12"]
ENSEMBLE = """
[ensemble]
members = 20
seed = 7
[ensemble.parameters]
"processes.vertical_diffusivity_m2_s" = { distribution = "lognormal", median = 15.0, factor = 2.0 }
"emissions.scale" = { distribution = "uniform", low = 0.5, high = 1.5 }
"""


def test_ensemble_reproduces_member_and_summarises(tmp_path):
    path = tmp_path / "ens.toml"
    path.write_text(ENSEMBLE)
    cfg = load_config(path, BASE)
    out = run_ensemble(cfg, tmp_path / "ens")
    with open(out / "ensemble_members.csv") as fh:
        rows = list(csv.DictReader(line for line in fh if not line.startswith("#")))
    assert len(rows) == 20
    k = 13
    values = {key: float(rows[k][key]) for key in ("processes.vertical_diffusivity_m2_s", "emissions.scale")}
    assert values == draw_members(cfg.ensemble)[k]
    hand = run(dataclasses.replace(cfg, ensemble={}).with_overrides(member_overrides(values)), tmp_path / "hand")
    with xr.open_dataset(hand / "fields.nc") as a, xr.open_dataset(out / rows[k]["directory"] / "fields.nc") as b:
        for v in a.data_vars:
            assert np.array_equal(a[v].values, b[v].values), v
    with xr.open_dataset(out / "ensemble_summary.nc") as s:
        med, lo, hi = (s[f"air_concentration_{q}"].values for q in ("median", "p05", "p95"))
        assert np.all(lo <= med) and np.all(med <= hi)
        assert np.any(hi > lo)
        # the emission scale is uniform on 0.5..1.5: the median emission is about the base emission
        emis = s["emission_flux_median"].values.sum()
    with xr.open_dataset(hand / "fields.nc") as a:
        base = a["emission_flux"].values.sum() / values["emissions.scale"]
    assert 0.7 < emis / base < 1.3


PAR = "[ensemble]\nmembers = 2\n[ensemble.parameters]\n'emissions.scale' = "


@pytest.mark.parametrize("text, match", [
    ("[ensemble]\nmembers = 0\n", "ensemble.members = 0"),
    ("[ensemble]\nmembers = 2\n[ensemble.parameters]\n'emissions.scale' = { distribution = 'beta', a = 1.0 }\n",
     "allowed values are normal"),
    ("[ensemble]\nmembers = 2\n[ensemble.parameters]\n'emissions.scale' = { distribution = 'uniform', low = 1.0 }\n",
     "takes exactly low, high"),
    ("[ensemble]\nmembers = 2\n[ensemble.parameters]\n'emissions.scale' = { distribution = 'uniform', low = 2.0, high = 1.0 }\n",
     "needs low < high"),
    ("[ensemble]\nmembrs = 2\n", r"unknown key ensemble\.membrs; did you mean 'members'\?"),
    ("[ensemble]\nmembers = 2\nseed = -1\n", r"ensemble\.seed = -1: expected a whole number >= 0"),
    ("[ensemble]\nmembers = 2\nseed = 1.5\n", r"ensemble\.seed = 1\.5: expected a whole number >= 0"),
    (PAR + "2.0\n", r"ensemble\.parameters\.'emissions\.scale' must be a table with a 'distribution' key"),
    (PAR + "{ low = 1.0 }\n", r"must be a table with a 'distribution' key"),
    (PAR + "{ distribution = 'lognormal', median = 0.0, factor = 2.0 }\n",
     r"lognormal needs median > 0 and factor >= 1"),
    (PAR + "{ distribution = 'lognormal', median = 1.0, factor = 0.5 }\n",
     r"lognormal needs median > 0 and factor >= 1"),
    (PAR + "{ distribution = 'loguniform', low = 0.0, high = 2.0 }\n", r"loguniform needs low > 0"),
    (PAR + "{ distribution = 'normal', mean = 1.0, sd = -0.1 }\n", r"sd must be >= 0"),
    ("ensemble = 3\n", r"\[ensemble\] must be a table with members, seed and \[ensemble\.parameters\]"),
    ("[ensemble]\nmembers = 2\n", r"ensemble\.parameters must be a table of key path"),
    (PAR + "{ distribution = 'uniform', low = 'a', high = 1.0 }\n",
     r"ensemble\.parameters\.'emissions\.scale'\.low = 'a': expected a finite number"),
    (PAR + "{ distribution = 'triangular', low = 0.5, mode = 2.0, high = 1.5 }\n",
     r"triangular needs low <= mode <= high"),
    # (NumPy's draw refused it with only 'left == right', when the ensemble ran)
    (PAR + "{ distribution = 'triangular', low = 1.0, mode = 1.0, high = 1.0 }\n",
     r"'emissions\.scale': triangular needs low <= mode <= high and low < high"),
    # (TOML reads an unquoted key path as nested tables; the message said only that 'processes' lacked a distribution)
    ("[ensemble]\nmembers = 2\n[ensemble.parameters]\nprocesses.vertical_diffusivity_m2_s = { distribution = 'uniform', "
     "low = 5.0, high = 20.0 }\n",
     r"ensemble\.parameters\.'processes' must be a table with a 'distribution' key; a key path written without quotes is "
     r"read as nested tables: quote it, as in \"processes\.vertical_diffusivity_m2_s\" = \{ distribution = \.\.\. \}"),
    # (a member was refused with 'ensemble.members = 0: expected a whole number >= 1')
    ("[ensemble]\nmembers = 2\n[ensemble.parameters]\n'ensemble.seed' = { distribution = 'uniform', low = 1, high = 9 }\n",
     r"ensemble\.parameters\.'ensemble\.seed': the members are single runs, without an \[ensemble\] of their own"),
    ("[ensemble]\nmembers = 2\n[ensemble.parameters]\nscale = { distribution = 'uniform', low = 0.5, high = 1.5 }\n",
     r"ensemble\.parameters\.'scale': key paths look like section\.key"),
])
def test_ensemble_config_errors(tmp_path, text, match):
    p = tmp_path / "e.toml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_config(p)


def test_ensemble_run_needs_an_ensemble_section(tmp_path):
    from popstransport.ensemble import run_ensemble

    with pytest.raises(ValueError, match=r"the configuration has no \[ensemble\] section"):
        run_ensemble(load_config(None), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_run_of_a_configuration_with_an_ensemble_refuses_and_names_run_ensemble(tmp_path):
    """``popstransport.run(cfg, DIR)`` of a configuration with ``[ensemble]`` ran one simulation of the base values and
    wrote it as if it were the run the configuration describes (``popstransport run`` runs the members)."""
    path = tmp_path / "ens.toml"
    path.write_text(ENSEMBLE)
    cfg = load_config(path, BASE)
    with pytest.raises(ConfigError, match=r"ens.toml: the configuration has an \[ensemble\] section of 20 members, "
                                          r"which run\(\) would not run .* popstransport.ensemble.run_ensemble\(cfg, DIR\)"):
        run(cfg, tmp_path / "out")
    assert not (tmp_path / "out").exists()


TWO = PAR + "{ distribution = 'uniform', low = 0.5, high = 1.5 }\n"  # (seed 0)


def _two_members(tmp_path):
    path = tmp_path / "two.toml"
    path.write_text(TWO)
    return load_config(path, BASE)


def test_every_member_keeps_the_warnings_given_when_the_ensembles_configuration_was_read(tmp_path):
    """A member runs a configuration remade from TOML (on a Dask worker too), which had lost the warnings given when
    the ensemble's file was read (a path found only from the working directory): no member's warnings.txt had them."""
    given = ("two.toml: chemical.file = 'data/chemicals.csv' is read from the working directory (...)",)
    cfg = _two_members(tmp_path).with_overrides(["time.stop=2010-01-04", "ensemble.members=1"])
    out = run_ensemble(dataclasses.replace(cfg, load_warnings=given), tmp_path / "ens")
    assert (out / "members" / "member_000" / "warnings.txt").read_text(encoding="utf-8") == given[0] + "\n"


def test_ensemble_refuses_existing_results_and_leaves_no_partial_summary(tmp_path, monkeypatch):
    """An ensemble directory is not written over without ``overwrite``; a failed or interrupted ensemble leaves its
    complete member runs and no summary, not even a partial one."""
    import popstransport.ensemble as ensemble
    from popstransport.io.writers import OutputExistsError

    cfg = _two_members(tmp_path)
    out = tmp_path / "ens"

    def half_written(self, path, *args, **kwargs):
        Path(path).write_bytes(b"CDF\x01 half")
        raise OSError("disk full")

    with monkeypatch.context() as m:
        m.setattr(xr.Dataset, "to_netcdf", half_written)
        with pytest.raises(OSError, match="disk full"):
            run_ensemble(cfg, out)
    assert sorted(p.name for p in out.iterdir()) == ["members"]
    assert all((out / "members" / f"member_00{k}" / "fields.nc").is_file() for k in range(2))
    with pytest.raises(OutputExistsError, match=r"already holds results \(members/\); choose another --out or pass "
                                                r"--overwrite"):
        run_ensemble(cfg, out)
    run_ensemble(cfg, out, overwrite=True)
    with pytest.raises(OutputExistsError, match=r"\(config\.toml, ensemble_members\.csv, ensemble_summary\.nc, members/\)"):
        run_ensemble(cfg, out)
    single = tmp_path / "single"
    run(dataclasses.replace(cfg, ensemble={}), single)
    with pytest.raises(OutputExistsError, match=r"already holds results \(fields\.nc, budget\.csv"):
        run_ensemble(cfg, single)

    # an interrupted re-run with overwrite: the earlier summary does not stay beside the re-run's members
    real = ensemble._run_member
    calls = []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(ensemble, "_run_member", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_ensemble(cfg, out, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == ["members"]


def test_ensemble_summary_is_cf(tmp_path):
    """Every ``bounds`` attribute of the summary names a variable of the file; the statistics say in words what they
    are across members and keep the fields' cell methods."""
    import netCDF4

    out = run_ensemble(_two_members(tmp_path), tmp_path / "ens")
    with netCDF4.Dataset(out / "ensemble_summary.nc") as s, netCDF4.Dataset(out / "members/member_000/fields.nc") as f:
        bounds = {name: v.getncattr("bounds") for name, v in s.variables.items() if "bounds" in v.ncattrs()}
        assert set(bounds) == {"time", "lat", "lon", "layer"}
        for name, b in bounds.items():
            assert b in s.variables, (name, b)
            assert s[b].dimensions == (name, "bnds")
            np.testing.assert_array_equal(s[b][:], f[b][:])
            assert "_FillValue" not in s[name].ncattrs()
        assert s["time"].units == f["time"].units and s["time"].calendar == "standard"
        fields = [v for v in f.variables if "cell_methods" in f[v].ncattrs()]
        assert len(fields) == 9
        for v in fields:
            for suffix, words in (("p05", "5th percentile"), ("median", "median"), ("p95", "95th percentile")):
                stat = s[f"{v}_{suffix}"]
                assert stat.ensemble_statistic == words
                assert stat.long_name == f"{words} over 2 ensemble members of the {f[v].long_name}"
                assert stat.cell_methods == f[v].cell_methods and "time: mean" in stat.cell_methods
                assert stat.units == f[v].units
        assert s.Conventions == "CF-1.10" and s.members == "2" and "ensemble summary of 2 members" in s.history


def test_ensemble_member_the_configuration_refuses_fails_before_anything_runs(tmp_path):
    path = tmp_path / "neg.toml"
    path.write_text("[ensemble]\nmembers = 2\n[ensemble.parameters]\n"
                    "'time.step_hours' = { distribution = 'normal', mean = -1.0, sd = 0.0 }\n")
    with pytest.raises(ConfigError, match=r"ensemble member 0 \(time\.step_hours=-1\.0\): .*time\.step_hours = -1\.0: "
                                          r"must be a positive number of hours"):
        run_ensemble(load_config(path), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_ensemble_member_whose_chemical_override_is_refused_fails_before_any_member_runs(tmp_path):
    """A drawn chemical property that the substance refuses (a negative half-life from a wide normal distribution,
    here in the last member) stops the ensemble before member 0 runs, not after the members before it have run."""
    path = tmp_path / "neg.toml"
    path.write_text("[ensemble]\nmembers = 3\n[ensemble.parameters]\n"
                    "'chemical.overrides.half_life_air' = { distribution = 'uniform', low = -30.0, high = -20.0 }\n")
    cfg = load_config(path, ["domain.kind=box", "emissions.source=uniform", "time.stop=2010-01-02"])
    with pytest.raises(ConfigError, match=r"ensemble member 0 \(chemical\.overrides\.half_life_air=-2.*half_life_air "
                                          r"must be positive"):
        run_ensemble(cfg, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_smaller_ensemble_over_a_larger_one_removes_the_extra_members(tmp_path):
    """Re-run with ``overwrite`` and fewer members: the extra members' outputs go, a user's file stays with its
    folder."""
    import dataclasses

    cfg = _two_members(tmp_path)
    out = tmp_path / "ens"
    run_ensemble(dataclasses.replace(cfg, ensemble={**cfg.ensemble, "members": 3}), out)
    (out / "members" / "member_001" / "notes.txt").write_text("mine")
    one = dataclasses.replace(cfg, ensemble={**cfg.ensemble, "members": 1})
    run_ensemble(one, out, overwrite=True)
    assert sorted(p.name for p in (out / "members").iterdir()) == ["member_000", "member_001"]
    assert [p.name for p in (out / "members" / "member_001").iterdir()] == ["notes.txt"]
    with open(out / "ensemble_members.csv") as fh:
        assert len(fh.read().strip().splitlines()) == 3  # (the provenance line, the header and one member)


def test_validate_checks_every_members_drawn_values_as_run_does(tmp_path, capsys):
    """`popstransport validate` of a configuration whose ensemble names a key path that does not exist (or draws a
    value a key refuses) said 'is valid' and printed no word of the ensemble; `run` then failed on it. It now makes
    `run`'s check of every member before printing anything, and names the ensemble in its summary."""
    from popstransport.cli import main

    sets = [a for kv in BASE for a in ("--set", kv)]
    bad = tmp_path / "bad.toml"
    bad.write_text(ENSEMBLE.replace('"emissions.scale"', '"emissions.scal"'))
    assert main(["validate", str(bad), *sets]) == 1
    captured = capsys.readouterr()
    assert "is valid" not in captured.out
    assert re.search(r"ensemble member 0 \(.*emissions\.scal=.*\): .*unknown key emissions\.scal; did you mean 'scale'",
                     captured.err), captured.err
    negative = tmp_path / "negative.toml"
    negative.write_text(ENSEMBLE.replace("low = 0.5, high = 1.5", "low = -1.5, high = -0.5"))
    assert main(["validate", str(negative), *sets]) == 1
    assert "emissions cannot be scaled negative" in capsys.readouterr().err
    good = tmp_path / "good.toml"
    good.write_text(ENSEMBLE)
    assert main(["validate", str(good), *sets]) == 0
    assert ("ensemble: 20 members, seed 7, parameters processes.vertical_diffusivity_m2_s, emissions.scale"
            in capsys.readouterr().out)


def test_interrupted_ensemble_says_which_members_are_kept(tmp_path, monkeypatch, capsys):
    """Ctrl-C during an ensemble's third member said 'interrupted; no partial outputs were kept', while the two
    members that finished stay in the folder (and make it refuse a new run without --overwrite): the message now
    says so."""
    import popstransport.ensemble as ensemble
    from popstransport.cli import EXIT_INTERRUPTED, main

    path = tmp_path / "three.toml"
    path.write_text(TWO.replace("members = 2", "members = 3"))

    def member(config_toml, source_path, overrides, out, overwrite=False, progress=None, load_warnings=()):
        if out.endswith("member_002"):
            raise KeyboardInterrupt
        Path(out).mkdir(parents=True)
        (Path(out) / "fields.nc").write_bytes(b"")
        return out

    monkeypatch.setattr(ensemble, "_run_member", member)
    sets = [a for kv in BASE for a in ("--set", kv)]
    assert main(["run", str(path), "--out", str(tmp_path / "ens"), "--quiet", *sets]) == EXIT_INTERRUPTED
    err = capsys.readouterr().err
    assert re.search(r"interrupted; no ensemble summary was written, the 2 member\(s\) that finished are kept in "
                     r".*ens/members; an ensemble cannot be resumed: run it again with --overwrite", err), err


@pytest.mark.parametrize("parameter, spec", [
    ("domain.resolution_deg", "{ distribution = 'uniform', low = 1.0, high = 5.0 }"),
    ("domain.box_lat_deg", "{ distribution = 'uniform', low = 20.0, high = 40.0 }"),
])
def test_an_ensemble_parameter_that_changes_the_grid_fails_before_any_member_runs(tmp_path, monkeypatch, capsys,
                                                                                  parameter, spec):
    """A box's size (domain.resolution_deg) or centre drawn member by member gave every member another grid, and the
    ensemble failed only when the summary combined them, after every member had run; run and validate now refuse it
    before the first member runs, naming the file, the parameter and the fix."""
    import popstransport.ensemble as ensemble
    from popstransport.cli import main

    path = tmp_path / "grid.toml"
    path.write_text(f"[ensemble]\nmembers = 3\n[ensemble.parameters]\n'{parameter}' = {spec}\n")
    settings = ["domain.kind=box", "emissions.source=uniform", "time.stop=2010-01-02"]
    ran = []
    monkeypatch.setattr(ensemble, "_run_member", lambda *args, **kwargs: ran.append(args))
    match = (rf"grid\.toml: ensemble\.parameters '{re.escape(parameter)}' change the model grid or the output periods "
             rf"from member to member \(member 0, {re.escape(parameter)}=.*box grid 1 x 1 cells.*\): the ensemble summary "
             rf"takes percentiles cell by cell.*remove '{re.escape(parameter)}' from \[ensemble\.parameters\] and set the "
             "value in the configuration instead")
    with pytest.raises(ConfigError, match=match):
        run_ensemble(load_config(path, settings), tmp_path / "out")
    assert not ran and not (tmp_path / "out").exists()
    assert main(["validate", str(path), *[a for kv in settings for a in ("--set", kv)]]) == 1
    assert re.search(match, capsys.readouterr().err)
    # with another parameter that leaves the grid alone, only the one that changes it is named
    path.write_text(f"[ensemble]\nmembers = 3\n[ensemble.parameters]\n'emissions.scale' = {{ distribution = 'uniform', "
                    f"low = 0.5, high = 1.5 }}\n'{parameter}' = {spec}\n")
    with pytest.raises(ConfigError, match=rf"ensemble\.parameters '{re.escape(parameter)}' change the model grid"):
        ensemble.check_members(load_config(path, settings))
    # the same value in every member (a distribution of no width) gives one grid: accepted
    path.write_text(f"[ensemble]\nmembers = 2\n[ensemble.parameters]\n'{parameter}' = "
                    "{ distribution = 'normal', mean = 2.0, sd = 0.0 }\n")
    assert len(ensemble.check_members(load_config(path, settings))) == 2


def test_the_summary_of_tagged_members_has_source_receptor_share_statistics(tmp_path):
    """The ensemble summary had no source attribution; with tagged members it now holds the percentiles across members
    of each source's share of every receptor's deposition, equal to those of the members' own tables."""
    from popstransport.results import open_run

    path = tmp_path / "tagged.toml"
    path.write_text("[ensemble]\nmembers = 3\nseed = 2\n[ensemble.parameters]\n"
                    "'processes.vertical_diffusivity_m2_s' = { distribution = 'loguniform', low = 1.0, high = 1000.0 }\n")
    cfg = load_config(path, [*BASE, "attribution.tags=list", "attribution.regions=['CHN','IND']"])
    out = run_ensemble(cfg, tmp_path / "ens")
    shares = []
    for k in range(3):
        with open_run(out / "members" / f"member_{k:03d}") as r:
            shares.append(r.source_receptor["share"])
    expected = xr.concat(shares, dim="member")
    with xr.open_dataset(out / "ensemble_summary.nc") as s:
        for suffix, q, words in (("p05", 0.05, "5th percentile"), ("median", 0.5, "median"), ("p95", 0.95, "95th percentile")):
            stat = s[f"source_receptor_deposition_share_{suffix}"]
            assert stat.dims == ("receptor", "source") and stat.attrs["ensemble_statistic"] == words
            assert stat.attrs["long_name"].startswith(f"{words} over 3 ensemble members of the source's share")
            want = expected.quantile(q, dim="member").transpose("receptor", "source")
            np.testing.assert_allclose(stat.values, want.sel(receptor=stat["receptor"], source=stat["source"]).values,
                                       rtol=1e-12, atol=1e-15)
        assert "CHN" in s["source"].values and "IND" in s["receptor"].values
        assert np.any(s["source_receptor_deposition_share_p95"].values > s["source_receptor_deposition_share_p05"].values)
    untagged = run_ensemble(_two_members(tmp_path), tmp_path / "plain")
    with xr.open_dataset(untagged / "ensemble_summary.nc") as s:
        assert not [v for v in s.data_vars if str(v).startswith("source_receptor")]


def test_the_ensemble_root_records_its_configuration_and_code_and_is_still_no_run(tmp_path, capsys):
    """The ensemble folder holds its configuration (``config.toml``, ``[ensemble]`` included, which loads as the
    ensemble that ran) and ``ensemble_members.csv`` begins with a provenance line as the other tables do; the
    ``config.toml`` does not make the folder look like a run: ``open_run``, ``report`` and ``compare`` say it is an
    ensemble and name its members, as they did without it."""
    from popstransport.cli import main
    from popstransport.io.writers import this_code
    from popstransport.results import RunResultsError, open_run

    cfg = _two_members(tmp_path)
    out = run_ensemble(cfg, tmp_path / "ens")
    head = (out / "ensemble_members.csv").read_text().splitlines()[0]
    assert head.startswith(f"# {this_code()} ensemble of 2 members drawn with seed 0, created ")
    with xr.open_dataset(out / "ensemble_summary.nc") as s:
        assert head.endswith("; configuration in config.toml") and f"created {s.attrs['created']};" in head
    saved = load_config(out / "config.toml")
    assert saved.to_dict() == cfg.to_dict() and saved.ensemble == cfg.ensemble
    assert (out / "config.toml").read_text().startswith(f"# resolved configuration written by {this_code()} at ")
    ensemble_folder = r"an ensemble folder, not a run: open one of its members \(.*members/member_000 \.\. member_001\)"
    for present in (True, False):  # (with its config.toml, and as before it was written)
        if not present:
            (out / "config.toml").unlink()
        with pytest.raises(RunResultsError, match=ensemble_folder):
            open_run(out)
        assert main(["report", str(out)]) == 1
        assert re.search(ensemble_folder, capsys.readouterr().err)
        assert main(["compare", str(out), str(out / "members" / "member_000"), "--out", str(tmp_path / "cmp")]) == 1
        assert re.search(ensemble_folder, capsys.readouterr().err)
        assert not (out / "report.html").exists() and not (tmp_path / "cmp").exists()


class _WorkerElsewhere:
    """A stand-in for a Dask client whose one worker was started in another folder: it runs every task at once,
    there, as that worker would."""

    def __init__(self, folder):
        self.folder = folder

    def _there(self, fn, *args):
        import os

        here = os.getcwd()
        os.chdir(self.folder)
        try:
            return fn(*args)
        finally:
            os.chdir(here)

    def wait_for_workers(self, n, timeout=None):
        """It has its one worker."""

    def run(self, fn):
        return {"tcp://elsewhere:1": self._there(fn)}

    def submit(self, fn, *args, **kwargs):
        from types import SimpleNamespace

        value = self._there(fn, *args)
        return SimpleNamespace(result=lambda: value, key=object())


def test_members_on_workers_started_elsewhere_go_to_the_ensembles_folder(tmp_path, monkeypatch):
    """An ensemble with a relative --out on Dask workers started in another folder: the members went to that
    folder (relative to each worker's) and the summary then failed, with members in two places."""
    cfg = _two_members(tmp_path)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("dask.distributed.as_completed", iter)  # (the stand-in's tasks have finished at once)
    out = run_ensemble(cfg, "ens", client=_WorkerElsewhere(tmp_path / "elsewhere"))
    assert sorted(p.name for p in (tmp_path / "ens" / "members").iterdir()) == ["member_000", "member_001"]
    assert not any((tmp_path / "elsewhere").iterdir())
    with open(Path(out) / "ensemble_members.csv") as fh:
        rows = csv.DictReader(row for row in fh if not row.startswith("#"))  # (after the provenance line)
        assert [r["directory"] for r in rows] == ["members/member_000", "members/member_001"]


def test_a_member_run_again_after_its_worker_is_lost_keeps_its_complete_run(tmp_path):
    """Dask runs a finished task again when the worker that held its result is lost before the ensemble has it:
    the member's folder then holds the member's complete run, which refused the new attempt ('already holds
    results') until every retry failed, and so the ensemble. Another configuration's run is still refused."""
    from popstransport.ensemble import _run_member
    from popstransport.io.writers import OutputExistsError

    cfg = load_config(None, BASE)
    out = str(tmp_path / "member_000")
    _run_member(cfg.to_toml(), "", ["emissions.scale=0.7"], out)
    written = (tmp_path / "member_000" / "fields.nc").stat().st_mtime_ns
    assert _run_member(cfg.to_toml(), "", ["emissions.scale=0.7"], out) == out
    assert (tmp_path / "member_000" / "fields.nc").stat().st_mtime_ns == written
    with pytest.raises(OutputExistsError, match="already holds results"):
        _run_member(cfg.to_toml(), "", ["emissions.scale=0.8"], out)
