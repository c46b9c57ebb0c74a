"""End-to-end command-line runs on tiny grids."""

import csv
import importlib
import re
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr

from popstransport import __version__
from popstransport.cli import main

TINY = [
    "--set", "domain.resolution_deg=5", "--set", "time.stop=2010-03-01", "--set", "met.source=uniform",
    "--set", "emissions.source=none",
]


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert __version__ in capsys.readouterr().out


@pytest.mark.parametrize("module", ["popstransport.cli", "popstransport"])
def test_console_script_entry_point(module):
    """``python -m popstransport`` runs the command line too (it had no ``__main__``: 'cannot be directly executed')."""
    out = subprocess.run([sys.executable, "-m", module, "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and "popstransport" in out.stdout
    # `python -m popstransport` too (a checkout on PYTHONPATH, as Dask workers are started with it): 'No module named
    # popstransport.__main__'
    out = subprocess.run([sys.executable, "-m", "popstransport", "run", "--workers", "0x"], capture_output=True, text=True)
    assert out.returncode == 2 and "--workers: invalid int value: '0x'" in out.stderr


@pytest.mark.parametrize("args, match", [
    (["--workers", "0"], r"--workers: 0 worker processes: give 1 or more \(or leave --workers out"),
    (["--workers", "-1"], r"--workers: -1 worker processes: give 1 or more"),
    (["--workers", "2", "--scheduler", "tcp://127.0.0.1:8786"], r"argument --scheduler: not allowed with argument --workers"),
    (["--workers", "2", "--resume", "runs/x"], r"^popstransport: error: --resume runs/x: a run resumes from its "
                                              r"checkpoint in this process, not on Dask workers .* leave out --workers "
                                              r"and --scheduler to continue it"),
])
def test_worker_options_that_cannot_be_meant(args, match, capsys):
    """--workers 0 ran serially without a word, --workers -1 waited for ever for workers, and --scheduler beside
    --workers took the scheduler without a word; --resume with workers said what cannot be done, not what can."""
    if "--resume" in args:
        assert main(["run", *args]) == 1
    else:
        with pytest.raises(SystemExit) as info:
            main(["run", *args])
        assert info.value.code == 2
    assert re.search(match, capsys.readouterr().err)


def test_warnings_are_one_line_each(tmp_path):
    """Input warnings (here, an inventory that covers part of the domain) print as one line each, like errors,
    without Python's file, line and source code."""
    lon, lat = np.arange(100.5, 110.0, 1.0), np.arange(20.5, 30.0, 1.0)
    xr.Dataset({"emi": (("lat", "lon"), np.ones((lat.size, lon.size)), {"units": "kg/cell/yr"})},
               coords={"lat": lat, "lon": lon}).to_netcdf(tmp_path / "part.nc")
    out = subprocess.run([sys.executable, "-m", "popstransport.cli", "validate", *TINY, "--set",
                          f"emissions.source={tmp_path / 'part.nc'}"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    lines = out.stderr.strip().splitlines()
    assert lines and all(ln.startswith("popstransport: warning: ") for ln in lines), out.stderr
    assert any("part.nc: variable 'emi' covers" in ln for ln in lines)


def test_config_error_is_one_line(capsys, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[domain]\nresolutoin_deg = 1.0\n")
    code = main(["validate", str(bad)])
    err = capsys.readouterr().err.strip()
    assert code == 1
    assert err.count("\n") == 0
    assert "unknown key domain.resolutoin_deg; did you mean 'resolution_deg'" in err


def test_debug_shows_traceback(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[domain]\nresolution_deg = -1.0\n")
    from popstransport.config import ConfigError

    with pytest.raises(ConfigError):
        main(["--debug", "validate", str(bad)])


def test_debug_after_the_command_shows_traceback(tmp_path):
    # the README's "add --debug for a traceback" holds where a user adds it, at the end of the command line
    bad = tmp_path / "bad.toml"
    bad.write_text("[domain]\nresolution_deg = -1.0\n")
    from popstransport.config import ConfigError

    with pytest.raises(ConfigError):
        main(["validate", str(bad), "--debug"])
    with pytest.raises(ConfigError):
        main(["run", str(bad), "--out", str(tmp_path / "run"), "--debug"])
    from popstransport.results import RunResultsError

    with pytest.raises(RunResultsError):  # the commands of user_commands too
        main(["plot", str(tmp_path / "no_run"), "--debug"])
    assert main(["validate", str(bad)]) == 1  # without it, still one line


def test_run_refuses_existing_directory(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "--out", str(out), "--quiet", *TINY]) == 0
    assert main(["run", "--out", str(out), "--quiet", *TINY]) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert main(["run", "--out", str(out), "--quiet", "--overwrite", *TINY]) == 0
    with open(out / "budget.csv") as fh:
        rows = list(csv.DictReader(line for line in fh if not line.startswith("#")))
    assert len(rows) == 2
    ds = xr.open_dataset(out / "fields.nc")
    assert ds.sizes["time"] == 2
    ds.close()
    assert "[domain]" in (out / "config.toml").read_text()


def test_tagged_run_and_scenario_files(tmp_path, capsys):
    out = tmp_path / "tagged"
    args = ["--set", "domain.resolution_deg=5", "--set", "time.stop=2010-03-01", "--set", "met.source=synthetic",
            "--set", "attribution.tags=countries", "--set", "attribution.border_fluxes_by_source=true"]
    assert main(["run", "--out", str(out), "--quiet", *args]) == 0
    for name in ("attribution.nc", "tag_fields.nc", "source_receptor_deposition.csv", "border_flux.csv"):
        assert (out / name).exists(), name
    att = xr.load_dataset(out / "attribution.nc")
    assert set(att.dims) >= {"source", "receptor", "region_from", "region_to", "time"}
    assert "_FillValue" not in att["time"].encoding and "_FillValue" not in att["time_bnds"].encoding  # (CF coordinates)
    assert att["deposition"].attrs["units"] == "kg"
    assert "OTHER" in att["source"].values and "CHN" in att["source"].values
    fields = xr.load_dataset(out / "fields.nc")
    emitted = float((fields["emission_flux"] * fields["cell_area"]).sum(("lat", "lon")).values @
                    ((fields["time_bnds"][:, 1] - fields["time_bnds"][:, 0]).values / np.timedelta64(1, "s")))
    assert float(att["emission"].sum()) == pytest.approx(emitted, rel=1e-10)
    # border fluxes by source add up to the total
    np.testing.assert_allclose(att["border_flux_by_source"].sum("source"), att["border_flux"], rtol=1e-10,
                               atol=1e-12 * float(att["border_flux"].max()))
    # without them the run books the total over tags only: the same border fluxes to round-off, the rest bit for bit
    total_only = tmp_path / "total_only"
    assert main(["run", "--out", str(total_only), "--quiet", *args[:-2], "--set",
                 "attribution.border_fluxes_by_source=false"]) == 0
    att_t = xr.load_dataset(total_only / "attribution.nc")
    assert "border_flux_by_source" not in att_t
    assert float(att_t["border_flux"].max()) > 0
    np.testing.assert_allclose(att_t["border_flux"], att["border_flux"], rtol=1e-12,
                               atol=1e-14 * float(att["border_flux"].max()))
    for name in ("deposition", "emission", "air_concentration"):
        np.testing.assert_array_equal(att_t[name].values, att[name].values, err_msg=name)
    assert main(["scenario", str(out), "--scale", "CHN=0.5,IND=0"]) == 0
    scen = xr.load_dataset(out / "scenarios" / "CHN0.5_IND0" / "attribution.nc")
    chn = float(att["deposition"].sel(source="CHN").sum())
    ind = float(att["deposition"].sel(source="IND").sum())
    assert float(scen["deposition"].sum()) == pytest.approx(float(att["deposition"].sum()) - 0.5 * chn - ind, rel=1e-10)
    assert main(["scenario", str(out), "--scale", "XYZ=0.5"]) == 1
    assert "unknown source" in capsys.readouterr().err
    # a scenario compares with its run (what it changes); a scenario folder is not a run to plot
    capsys.readouterr()
    assert main(["compare", str(out), str(out / "scenarios" / "CHN0.5_IND0"), "--out", str(tmp_path / "cmp")]) == 0
    text = capsys.readouterr().out
    assert "deposition_flux: largest |B - A|" in text and "budget not compared" in text
    assert main(["plot", str(out / "scenarios" / "CHN0.5_IND0")]) == 1
    err = capsys.readouterr().err
    assert "a scenario folder (scale CHN=0.5,IND=0) holds weighted sums" in err
    # (it pointed to 'the tagged run's scenario tables', which open_run does not have)
    assert "or read its files (fields.nc, attribution.nc, source_receptor_deposition.csv) with xarray or pandas" in err
    for ds in (att, fields, scen):
        ds.close()


def test_scenario_names_stay_inside_the_run_and_scales_name_each_source_once(tmp_path, capsys):
    """A scenario name is one folder name: `--name ..` wrote into the run directory itself, and with `--overwrite`
    removed the run's results; `--name a/b` or `../x` wrote elsewhere. A source given twice in `--scale` was taken
    with its last factor; a scenario's border fluxes were labelled as the gross fluxes by source."""
    out = tmp_path / "tagged"
    assert main(["run", "--out", str(out), "--quiet", "--set", "domain.resolution_deg=5", "--set", "time.stop=2010-02-01",
                 "--set", "attribution.tags=list", "--set", "attribution.regions=['CHN']",
                 "--set", "attribution.border_fluxes_by_source=true"]) == 0
    assert main(["scenario", str(out), "--scale", "CHN=0.5", "--name", "half"]) == 0
    capsys.readouterr()
    for name in ("..", "../x", "a/b", ".hidden"):
        assert main(["scenario", str(out), "--scale", "CHN=0.5", "--name", name, "--overwrite"]) == 1
        assert f"scenario name {name!r}: a scenario's results go to RUN_DIR/scenarios/<name>" in capsys.readouterr().err
    assert (out / "fields.nc").is_file() and (out / "budget.nc").is_file() and not (tmp_path / "x").exists()
    assert main(["scenario", str(out), "--scale", "CHN=0.5,CHN=0"]) == 1
    assert "'CHN' is given more than once" in capsys.readouterr().err
    assert main(["scenario", str(out), "--scale", "CHN=0.2", "--name", "half"]) == 1
    assert "scenario 'half' of this run exists already; give the new one another name (--name)" in capsys.readouterr().err
    att = xr.load_dataset(out / "attribution.nc")
    scen = xr.load_dataset(out / "scenarios" / "half" / "attribution.nc")
    for var in ("border_flux", "net_border_flux"):
        assert scen[var].attrs["long_name"] == att[var].attrs["long_name"], var
    assert "net" in scen["net_border_flux"].attrs["long_name"]


def test_run_names_the_attribution_files_and_scenarios_it_wrote(tmp_path, capsys):
    """The closing line of `run` listed fields.nc, budget.csv, budget.nc and config.toml only, also for a tagged
    run, which writes the source-receptor tables and its [[scenarios]] as well."""
    config = tmp_path / "tagged.toml"
    config.write_text("[attribution]\ntags = 'list'\nregions = ['CHN']\n[[scenarios]]\nname = 'half'\n"
                      "scale = { CHN = 0.5 }\n")
    out = tmp_path / "run"
    assert main(["run", str(config), "--out", str(out), "--set", "domain.resolution_deg=5",
                 "--set", "time.stop=2010-02-01"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith(f"wrote {out}/fields.nc, budget.csv, budget.nc, attribution.nc, "
                           "source_receptor_deposition.csv, border_flux.csv, region_air_budget.csv, tag_fields.nc, config.toml, "
                           "scenarios/half/ "
                           "(1 periods)"), line


def test_verify_command(capsys):
    assert main(["verify", "--case", "solid_body_rotation", "--resolution", "11.25", "--scheme", "upwind"]) == 0
    out = capsys.readouterr().out
    assert "l2" in out and "solid_body_rotation" in out


def test_verify_resolution_without_a_case_is_refused(capsys):
    """--resolution without --case was ignored: the whole suite ran at its own grids (minutes, not the grid asked)."""
    assert main(["verify", "--resolution", "11.25"]) == 1
    assert "--resolution 11.25 sets the grid of one case, but no --case was given" in capsys.readouterr().err


def test_box_mode_from_config(tmp_path):
    out = tmp_path / "box"
    args = ["--set", "domain.kind=box", "--set", "emissions.source=uniform", "--set", "emissions.uniform_total_kg_yr=365",
            "--set", "output.frequency=monthly", "--set", "time.stop=2010-04-01"]
    assert main(["run", "--out", str(out), "--quiet", *args]) == 0
    with open(out / "budget.csv") as fh:
        rows = list(csv.DictReader(line for line in fh if not line.startswith("#")))
    assert len(rows) == 3
    assert all(float(r["relative_closure_error"]) < 1e-9 for r in rows)
    assert sum(float(r["emitted_air_0_kg"]) for r in rows) == pytest.approx(365 * 90 / 365, rel=1e-12)
    assert float(rows[-1]["burden_end_soil_kg"]) > 0 and float(rows[-1]["burden_end_air_1_kg"]) > 0


def test_run_configuration_errors_before_anything_is_written(tmp_path, capsys):
    """The built-in inventory on a single box, scenarios without tags and a user regions file without its name
    attribute are refused in one line before the run folder is made."""
    scen = tmp_path / "scenarios.toml"
    scen.write_text("[[scenarios]]\nname = 'half'\nscale = { CHN = 0.5 }\n")
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("[[scenarios]]\nname = 'half'\nscale = { XXX = 0.5 }\n")
    cases = [
        ([str(unknown), *TINY, "--set", "attribution.tags=list", "--set", "attribution.regions=['CHN']"],
         r"scenarios\[0\]\.scale \(scenario 'half'\) names 'XXX', which is not a source tag of this run"),
        (["--set", "domain.kind=box"], r"emissions.source = 'builtin' needs a gridded domain; in box mode use"),
        ([str(scen), *TINY], r"\[\[scenarios\]\] need a tagged run: set attribution.tags = 'countries' or 'list'"),
        ([*TINY, "--set", "attribution.tags=list", "--set", "attribution.regions=['A']", "--set",
          f"regions.source='{tmp_path / 'zones.geojson'}'"], r"regions.source = .* needs regions.name_attribute"),
        ([*TINY, "--set", "attribution.tags=list", "--set", "attribution.regions=['CHN']", "--set",
          "attribution.receptors=['CHN', 'XXX']"], r"attribution.receptors \['XXX'\] are not regions of the domain"),
    ]
    for k, (args, match) in enumerate(cases):
        out = tmp_path / f"run{k}"
        assert main(["run", "--out", str(out), "--quiet", *args]) == 1
        assert re.search(match, capsys.readouterr().err)
        assert not out.exists()


def test_progress_leaves_out_a_slow_first_step(capsys):
    """The first step of a machine's first run compiles the kernels: it is reported, and the speed and ETA come from
    the steps after it."""
    from popstransport.cli import _progress_printer

    show = _progress_printer(quiet=False)
    total = 10 * 86400.0
    show(1800.0, total, 40.0)  # the first half hour took 40 s (compilation)
    first = capsys.readouterr().err
    # no speed or ETA from the compiling step alone (it would say 0.0 days/s and an ETA of hours)
    assert re.search(r" - days/s  ETA +- s", first.strip().splitlines()[-1]), first
    show(total, total, 40.0 + 9.0)  # the rest, 10 days less half an hour, took 9 s
    err = first + capsys.readouterr().err
    assert "first step: 40 s (compiling" in err
    last = err.strip().splitlines()[-1]
    speed = float(last.split("days/s")[0].split()[-1])
    assert abs(speed - (total - 1800.0) / 86400.0 / 9.0) < 0.06  # 1.1 days/s, not 10 days in 49 s (0.2)
    assert _progress_printer(quiet=True) is None
    show = _progress_printer(quiet=False)
    show(1800.0, total, 0.5)  # a warm cache: no first-step line
    assert "first step" not in capsys.readouterr().err


def _write_met(path, start, ndays):
    """A small CF file of daily winds and temperature on pressure levels (10-degree grid) from ``start``."""
    lon, lat, lev = np.arange(0.0, 360.0, 10.0), np.arange(-85.0, 90.0, 10.0), np.array([1000.0, 850.0, 500.0, 200.0])
    shape = (ndays, lev.size, lat.size, lon.size)
    dims = ("time", "level", "lat", "lon")
    ds = xr.Dataset(
        {"u": (dims, np.full(shape, 5.0, "f4"), {"units": "m s-1", "standard_name": "eastward_wind"}),
         "v": (dims, np.zeros(shape, "f4"), {"units": "m s-1", "standard_name": "northward_wind"}),
         "t": (dims, np.full(shape, 270.0, "f4"), {"units": "K", "standard_name": "air_temperature"})},
        coords={"time": ("time", np.arange(ndays, dtype=float), {"units": f"days since {start}", "calendar": "standard"}),
                "level": ("level", lev, {"units": "hPa"}),
                "lat": ("lat", lat, {"units": "degrees_north", "standard_name": "latitude"}),
                "lon": ("lon", lon, {"units": "degrees_east", "standard_name": "longitude"})})
    ds.to_netcdf(path, encoding={v: {"_FillValue": None} for v in [*ds.data_vars, *ds.coords]})
    return path


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_validate_refuses_what_run_would_refuse(tmp_path, capsys):
    """`validate` makes the checks `run` makes before its first step: scenarios of unknown sources or of an untagged
    run, duplicate scenario names, unknown receptors, and met files that do not cover the run (which `run` now
    refuses before its first step, writing nothing)."""
    quick = ["--set", "domain.resolution_deg=5", "--set", "time.stop=2010-01-05"]
    tagged = [*quick, "--set", "attribution.tags=list", "--set", "attribution.regions=['CHN', 'IND']"]
    bad_scale = tmp_path / "bad_scale.toml"
    bad_scale.write_text("[[scenarios]]\nname = 'half'\nscale = { CHN = 0.5 }\n[[scenarios]]\nscale = { XXX = 0.5 }\n")
    twice = tmp_path / "twice.toml"
    twice.write_text("[[scenarios]]\nname = 'half'\nscale = { CHN = 0.5 }\n[[scenarios]]\nname = 'half'\n"
                     "scale = { IND = 0.5 }\n")
    short = _write_met(tmp_path / "short.nc", "2010-01-01", 2)
    cases = [
        ([str(bad_scale), *tagged], r"bad_scale\.toml: scenarios\[1\]\.scale \(scenario 'scenario2'\) names 'XXX', which is "
                                    r"not a source tag of this run; the tags are CHN, IND, OTHER"),
        ([str(bad_scale), *quick], r"bad_scale\.toml: \[\[scenarios\]\] need a tagged run: set attribution\.tags"),
        ([str(twice), *tagged], r"twice\.toml: scenarios\[1\]\.name = 'half': scenarios\[0\] has that name too"),
        ([*tagged, "--set", "attribution.receptors=['ZZZ']"], r"attribution\.receptors \['ZZZ'\] are not regions of"),
        ([*quick, "--set", f"met.source='{short}'"], r"short\.nc: time: records cover 2010-01-01\.\.2010-01-02 but the "
                                                     r"run needs 2010-01-01T12:00:00\.\.2010-01-04T12:00:00"),
    ]
    for args, match in cases:
        assert main(["validate", *args]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and re.search(match, err), err
    out = tmp_path / "short_run"
    assert main(["run", "--out", str(out), "--quiet", *cases[-1][0]]) == 1
    assert re.search(cases[-1][1], capsys.readouterr().err)
    assert not out.exists()
    covering = _write_met(tmp_path / "covering.nc", "2010-01-01", 5)
    assert main(["validate", *quick, "--set", f"met.source='{covering}'"]) == 0
    good = tmp_path / "good.toml"
    good.write_text("[[scenarios]]\nname = 'half'\nscale = { CHN = 0.5 }\n[[scenarios]]\nscale = { IND = 0.5 }\n")
    assert main(["validate", str(good), *tagged]) == 0
    assert "scenarios: half, scenario2" in capsys.readouterr().out


def test_overwrite_by_an_untagged_run_leaves_no_attribution_of_the_earlier_run(tmp_path):
    """An untagged run written over a tagged one with --overwrite leaves none of the tagged run's attribution files,
    scenarios or derived files (which `popstransport scenario` would read as this run's), and keeps the user's."""
    out = tmp_path / "run"
    quick = ["--quiet", "--set", "domain.resolution_deg=5", "--set", "time.stop=2010-01-03", "--set", "met.source=uniform"]
    tagged = tmp_path / "tagged.toml"
    tagged.write_text("[attribution]\ntags = 'list'\nregions = ['CHN']\n[[scenarios]]\nname = 'half'\n"
                      "scale = { CHN = 0.5 }\n")
    assert main(["run", str(tagged), "--out", str(out), *quick]) == 0
    assert (out / "scenarios" / "half" / "attribution.nc").exists()
    (out / "report.html").write_text("<html>earlier</html>")
    (out / "my_notes.txt").write_text("mine")
    assert main(["run", "--out", str(out), "--overwrite", *quick]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["budget.csv", "budget.nc", "config.toml", "fields.nc", "my_notes.txt"]
    assert main(["scenario", str(out), "--scale", "CHN=0.5"]) == 1


ENSEMBLE_TINY = [
    "--set", "domain.resolution_deg=15", "--set", "time.stop=2010-02-01", "--set", "met.source=synthetic",
    "--set", "emissions.source=uniform", "--set", "time.step_hours=12",
]


def test_run_with_an_ensemble_section_runs_the_ensemble(tmp_path, capsys):
    """``popstransport run`` of a configuration with ``[ensemble]`` runs every member and writes the summary, as
    ``run_ensemble`` does; it refuses to write over it without --overwrite and refuses --resume; --workers runs the
    members on Dask workers with the same results."""
    from popstransport.config import load_config
    from popstransport.ensemble import draw_members

    config = tmp_path / "ens.toml"
    config.write_text("[ensemble]\nmembers = 2\nseed = 5\n[ensemble.parameters]\n"
                      "'emissions.scale' = { distribution = 'uniform', low = 0.5, high = 1.5 }\n")
    out = tmp_path / "ens"
    assert main(["run", str(config), "--out", str(out), *ENSEMBLE_TINY]) == 0
    captured = capsys.readouterr()
    assert "running an ensemble of 2 members one after another" in captured.err
    assert "member 1 of 2" in captured.err and "member 2 of 2" in captured.err
    assert f"wrote 2 member runs to {out}/members/member_000..member_001" in captured.out
    assert f"{out}/ensemble_summary.nc" in captured.out
    assert sorted(p.name for p in out.iterdir()) == ["config.toml", "ensemble_members.csv", "ensemble_summary.nc",
                                                     "members"]
    with open(out / "ensemble_members.csv") as fh:
        rows = list(csv.DictReader(line for line in fh if not line.startswith("#")))
    drawn = draw_members(load_config(config).ensemble)
    assert [float(r["emissions.scale"]) for r in rows] == [m["emissions.scale"] for m in drawn]
    for k in range(2):
        member = load_config(out / "members" / f"member_00{k}" / "config.toml")
        assert member.emissions.scale == drawn[k]["emissions.scale"] and not member.ensemble
    assert main(["run", str(config), "--out", str(out), "--quiet", *ENSEMBLE_TINY]) == 1
    assert re.search(r"already holds results \(config\.toml, ensemble_members\.csv, ensemble_summary\.nc, members/\); "
                     r"choose another "
                     r"--out or pass --overwrite", capsys.readouterr().err)
    assert main(["run", str(config), "--resume", str(out), "--quiet", *ENSEMBLE_TINY]) == 1
    assert "an ensemble cannot be resumed" in capsys.readouterr().err
    assert main(["run", str(config), "--out", str(out), "--quiet", "--overwrite", *ENSEMBLE_TINY]) == 0
    assert capsys.readouterr().out == ""
    on_workers = tmp_path / "on_workers"
    assert main(["run", str(config), "--out", str(on_workers), "--quiet", "--workers", "1", *ENSEMBLE_TINY]) == 0
    with xr.open_dataset(out / "ensemble_summary.nc") as a, xr.open_dataset(on_workers / "ensemble_summary.nc") as b:
        assert len(a.data_vars) == 5 + 2 + 27  # (grid and bounds, the members' shared area fractions, statistics)
        assert "land_area_fraction" in a and "land_area_fraction_median" not in a
        for v in a.data_vars:
            np.testing.assert_array_equal(a[v].values, b[v].values, err_msg=v)


def test_validate_gives_an_annual_amount_in_a_leap_year(capsys):
    """An input of amounts per year emits its annual amount in every calendar year, so a leap year's rates are lower
    (365/366 for a flat profile); `validate` annualises the start time's rate over the days of the start's year, so
    that it shows the configured amount in a leap year too (it showed 997.3 kg/yr for 1000)."""
    sets = ["--set", "domain.resolution_deg=5", "--set", "met.source=uniform", "--set", "emissions.source=uniform",
            "--set", "emissions.uniform_total_kg_yr=1000"]
    for start, stop in (("2012-01-01", "2012-02-01"), ("2010-01-01", "2010-02-01")):
        assert main(["validate", *sets, "--set", f"time.start={start}", "--set", f"time.stop={stop}"]) == 0
        assert "emissions: uniform, 1000 kg/yr at the start time" in capsys.readouterr().out


def test_validate_summary_names_the_inflow(capsys):
    """A regional domain's inflow through its open boundaries is in `validate`'s summary, as a mixing ratio and in
    pg m-3, with the tag that carries it; a domain without inflow says it lets in clean air."""
    assert main(["validate", *TINY, "--set", "domain.inflow_mixing_ratio=1e-13", "--set", "attribution.tags=list",
                 "--set", "attribution.regions=['CHN']"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"inflow through the open boundaries: mixing ratio 1e-13 kg/kg \(about 1\d\d pg m-3 .*\); it is "
                     r"the BOUNDARY tag's", out), out
    assert main(["validate", *TINY]) == 0
    assert "inflow through the open boundaries: clean air (domain.inflow_mixing_ratio = 0)" in capsys.readouterr().out


def test_validate_says_what_the_built_in_inventory_emits_outside_the_domain(capsys):
    """The built-in inventory on a domain away from the default one (Australia, Indonesia, Papua New Guinea) models
    a tenth of its countries' emission; a national-totals file warns of each country left out, the built-in
    inventory did not, so that `validate` showed 128 kg/yr with no word of the 1153 kg/yr left out."""
    sets = ["domain.lon_min_deg=90", "domain.lon_max_deg=180", "domain.lat_min_deg=-45", "domain.lat_max_deg=10",
            "domain.resolution_deg=5", "met.source=uniform", "emissions.year=2010"]
    assert main(["validate", *[a for kv in sets for a in ("--set", kv)]]) == 0
    out = capsys.readouterr().out
    m = re.search(r"emissions: builtin, ([\d.]+) kg/yr at the start time.*\n  not modelled: ([\d.]+) of the "
                  r"inventory's ([\d.]+) kg/yr \(\d+%\) is emitted outside the domain:\n", out)
    assert m, out
    modelled, outside, asked = (float(x) for x in m.groups())
    assert modelled + outside == pytest.approx(asked, rel=2e-3) and outside > 0.8 * asked
    assert "    RU (RUS) lies outside the domain: 608 kg/yr not modelled" in out


def test_out_of_memory_names_the_grid_and_the_fix(capsys, monkeypatch):
    """A grid too fine for the machine stopped with NumPy's bare "Unable to allocate 34.9 GiB for an array with shape
    (52, 7500, 12000)" (validate, domain.resolution_deg = 0.01); the error now says which grid and what to change."""
    run_module = importlib.import_module("popstransport.run")  # (the package's `run` is the function of that name)

    def no_memory(cfg, *args, **kwargs):
        raise MemoryError("Unable to allocate 34.9 GiB for an array with shape (52, 7500, 12000) and data type float64")

    monkeypatch.setattr(run_module, "build_run", no_memory)
    assert main(["validate", "--set", "domain.resolution_deg=0.01"]) == 1
    err = capsys.readouterr().err
    assert ("error: not enough memory (Unable to allocate 34.9 GiB for an array with shape (52, 7500, 12000) and data "
            "type float64): the grid of 12000 x 7500 = 90,000,000 cells (domain.resolution_deg = 0.01), with the "
            "source tags and outputs, is too large for this machine; choose a coarser domain.resolution_deg") in err


def test_out_of_memory_in_a_command_on_a_run_folder_names_no_configuration_grid(tmp_path, capsys, monkeypatch):
    """`evaluate` (and the other commands on a run folder) has no configuration: its out-of-memory error named the
    built-in default's grid and told the user to change domain.resolution_deg, which cannot help."""
    evaluate_module = importlib.import_module("popstransport.evaluate")

    def no_memory(*args, **kwargs):
        raise MemoryError("Unable to allocate 8.0 GiB for an array")

    monkeypatch.setattr(evaluate_module, "evaluate", no_memory)
    assert main(["evaluate", str(tmp_path), "--observations", str(tmp_path / "obs.csv")]) == 1
    err = capsys.readouterr().err
    assert "error: not enough memory (Unable to allocate 8.0 GiB for an array): this command needs more" in err, err
    assert "resolution_deg" not in err and "grid" not in err


def test_errors_about_a_configuration_file_s_keys_name_the_file(tmp_path, capsys):
    """Keys checked while the model is built (receptors, regions, chemical file, tags) are named with the file they
    came from, as the keys checked on loading are."""
    cfg = tmp_path / "study.toml"
    cfg.write_text("[domain]\nresolution_deg = 5.0\n[attribution]\ntags = 'countries'\nreceptors = ['CHN', 'XXX']\n")
    assert main(["validate", str(cfg)]) == 1
    assert f"error: {cfg}: attribution.receptors ['XXX'] are not regions of the domain" in capsys.readouterr().err
    cfg.write_text("[domain]\nresolution_deg = 5.0\n[chemical]\nfile = 'missing.csv'\n")
    assert main(["validate", str(cfg)]) == 1
    # (a relative path of a configuration file is read from the file's folder, and named there)
    assert f"error: {cfg}: chemical.file = '{tmp_path}/missing.csv': no such file" in capsys.readouterr().err


def test_a_receptor_that_natural_earth_draws_inside_another_country_names_that_country(capsys):
    assert main(["validate", "--set", "domain.resolution_deg=5", "--set", "attribution.tags=countries",
                 "--set", "attribution.receptors=['CHN', 'CXR']"]) == 1
    assert "CXR (Christmas Island) is part of AUS in Natural Earth's countries: use AUS" in capsys.readouterr().err


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_validate_all_records_finds_a_nan_in_a_later_met_record(tmp_path, capsys):
    """`validate` read the first met record only, so a NaN later in a file passed it and stopped the run when it came
    to that record; `validate --all-records` reads every record the run uses, and names the file and the record."""
    met = _write_met(tmp_path / "met.nc", "2010-01-01", 6)
    with xr.open_dataset(met) as ds:
        bad = ds.load()
    bad["u"][4, :, 10, 10] = np.nan  # (lat 15, lon 100: in the domain)
    bad.to_netcdf(tmp_path / "bad.nc")
    quick = ["--set", "domain.resolution_deg=5", "--set", "time.stop=2010-01-05", "--set", "time.start=2010-01-01T12:00"]
    for path in (met, tmp_path / "bad.nc"):
        assert main(["validate", *quick, "--set", f"met.source='{path}'"]) == 0
        assert "met records: the first was read and checked (validate --all-records" in capsys.readouterr().out
    assert main(["validate", "--all-records", *quick, "--set", f"met.source='{met}'"]) == 0
    # (records 0 to 4: those around the start, 2010-01-01T12, to the stop's, 2010-01-05)
    assert "met records: every record the run uses was read and checked (winds 5, air temperature 5)" in \
        capsys.readouterr().out
    assert main(["validate", "--all-records", *quick, "--set", f"met.source='{tmp_path / 'bad.nc'}'"]) == 1
    assert re.search(r"bad\.nc: variable 'u' .* NaN at record 4 \(2010-01-05", capsys.readouterr().err)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_validate_all_records_checks_the_spin_up_year_too(tmp_path, capsys):
    """A spin-up repeats the year from the start, which reaches past a shorter run's stop: `validate --all-records`
    said every record the run uses was checked, but a NaN in that year after the stop passed it and stopped the
    spin-up."""
    met = _write_met(tmp_path / "met.nc", "2010-01-01", 367)
    with xr.open_dataset(met) as ds:
        bad = ds.load()
    bad["u"][200, :, 10, 10] = np.nan  # (2010-07-20: after the stop, inside the spin-up year)
    bad.to_netcdf(tmp_path / "bad.nc")
    quick = ["--set", "domain.resolution_deg=5", "--set", "time.stop=2010-01-05", "--set", "spinup.method=repeat"]
    assert main(["validate", "--all-records", *quick, "--set", f"met.source='{met}'"]) == 0
    assert "met records: every record the run uses (with its spin-up year) was read and checked (winds 366, air " \
        "temperature 366)" in capsys.readouterr().out
    assert main(["validate", "--all-records", *quick, "--set", f"met.source='{tmp_path / 'bad.nc'}'"]) == 1
    assert re.search(r"bad\.nc: variable 'u' .* NaN at record 200 \(2010-07-20", capsys.readouterr().err)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_validate_all_records_of_static_met_says_so(tmp_path, capsys):
    """Met files without a time axis have one record: the summary said it checked every record "()"."""
    with xr.open_dataset(_write_met(tmp_path / "met.nc", "2010-01-01", 1)) as ds:
        ds.isel(time=0).drop_vars("time").to_netcdf(tmp_path / "static.nc")
    assert main(["validate", "--all-records", "--set", "domain.resolution_deg=5", "--set", "time.stop=2010-01-03",
                 "--set", f"met.source='{tmp_path / 'static.nc'}'"]) == 0
    assert "met records: every record the run uses was read and checked (static fields, without time: one record " \
        "each)" in capsys.readouterr().out


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_met_source_may_be_a_list_of_files_in_different_folders(tmp_path, capsys):
    """Pressure-level and single-level downloads often sit in two folders, which one glob cannot name; met.source
    takes a list of paths and globs."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    full = xr.open_dataset(_write_met(tmp_path / "full.nc", "2010-01-01", 6)).load()
    full[["u", "t"]].to_netcdf(tmp_path / "a" / "u.nc")
    full[["v"]].to_netcdf(tmp_path / "b" / "v.nc")
    cfg = tmp_path / "two.toml"
    quick = "[domain]\nresolution_deg = 5.0\n[time]\nstart = '2010-01-01T12:00'\nstop = '2010-01-05'\n"
    cfg.write_text(quick + f"[met]\nsource = ['{tmp_path / 'a' / 'u.nc'}', '{tmp_path / 'b' / '*.nc'}']\n")
    assert main(["validate", str(cfg)]) == 0
    assert f"met: {tmp_path / 'a' / 'u.nc'}, {tmp_path / 'b' / '*.nc'}; forcing fields" in capsys.readouterr().out
    cfg.write_text(quick + f"[met]\nsource = ['{tmp_path / 'a' / 'u.nc'}']\n")
    assert main(["validate", str(cfg)]) == 1
    assert "or a list, such as ['uas.nc', 'vas.nc']" in capsys.readouterr().err
    for bad, match in (("[]", "met.source = []: empty"), ("['x.nc', 3]", "met.source = ['x.nc', 3]: expected a string"),
                       ("['x.nc', ' ']", "met.source = ['x.nc', ' ']: entry 1 is empty")):
        cfg.write_text(quick + f"[met]\nsource = {bad}\n")
        assert main(["validate", str(cfg)]) == 1
        assert match in capsys.readouterr().err


def _write_cam_met(path, ice: bool):
    """A small CAM-like history file (10-degree grid, 6 daily records): U, V, T on levels, LANDFRAC (half land over
    0..100 E within 70 degrees of the equator) and, with ``ice``, ICEFRAC covering all the water poleward of 55
    degrees, as a fraction of the whole grid cell (CAM's convention)."""
    lon, lat, lev = np.arange(0.0, 360.0, 10.0), np.arange(-85.0, 90.0, 10.0), np.array([1000.0, 850.0, 500.0, 200.0])
    nt = 6
    dims, dims2 = ("time", "lev", "lat", "lon"), ("time", "lat", "lon")
    shape = (nt, lev.size, lat.size, lon.size)
    land = np.where((lon[None, :] > 0.0) & (lon[None, :] < 100.0) & (np.abs(lat[:, None]) < 70.0), 0.5, 0.0)
    land = np.broadcast_to(land, (nt, lat.size, lon.size))
    data = {"U": (dims, np.full(shape, 5.0, "f4"), {"units": "m/s"}),
            "V": (dims, np.zeros(shape, "f4"), {"units": "m/s"}),
            "T": (dims, np.full(shape, 270.0, "f4"), {"units": "K"}),
            "LANDFRAC": (dims2, land, {"units": "fraction", "long_name": "Fraction of sfc area covered by land"})}
    if ice:
        icefrac = np.where(np.abs(lat)[None, :, None] > 55.0, 1.0 - land, 0.0)
        data["ICEFRAC"] = (dims2, icefrac, {"units": "fraction", "long_name": "Fraction of sfc area covered by sea-ice"})
    coords = {"time": ("time", np.arange(nt, dtype=float), {"units": "days since 2010-01-01", "calendar": "noleap"}),
              "lev": ("lev", lev, {"units": "hPa", "positive": "down"}),
              "lat": ("lat", lat, {"units": "degrees_north"}), "lon": ("lon", lon, {"units": "degrees_east"})}
    xr.Dataset(data, coords=coords, attrs={"source": "CAM"}).to_netcdf(path)
    return path


def test_budget_closes_with_whole_cell_sea_ice_which_closes_the_iced_ocean(tmp_path, capsys):
    """A global run on CAM-like met with ICEFRAC (a fraction of the whole cell) and LANDFRAC: the ice is converted
    to a fraction of the water without the fallback warning, the budget closes to round-off, and the iced ocean
    takes up less gas than in the same run without ice."""
    taken = {}
    for ice in (True, False):
        out = tmp_path / f"run_{ice}"
        met = _write_cam_met(tmp_path / f"cam_{ice}.nc", ice)
        assert main(["run", "--out", str(out), "--quiet", "--set", "domain.kind=global", "--set", "domain.resolution_deg=10",
                     "--set", "time.stop=2010-01-05", "--set", f"met.source='{met}'", "--set", "emissions.source=uniform",
                     "--set", "emissions.uniform_total_kg_yr=1000"]) == 0
        assert "whole grid cell" not in capsys.readouterr().err
        with open(out / "budget.csv") as fh:
            rows = list(csv.DictReader(line for line in fh if not line.startswith("#")))
        assert all(abs(float(r["relative_closure_error"])) < 1e-9 for r in rows)
        taken[ice] = sum(float(r["exchange_air_ocean_air_0_to_ocean_kg"]) for r in rows)
    assert 0.0 < taken[True] < 0.9 * taken[False]


def test_a_configuration_in_another_folder_runs_from_anywhere_and_its_saved_config_re_creates_the_run(
        tmp_path, monkeypatch):
    """A configuration's emission file is read from the configuration's folder when the run starts from another
    working directory; the run's config.toml names it absolutely, so that running it from a third working directory
    re-creates the run bit for bit (every variable and the recorded configuration)."""
    study = tmp_path / "study"
    study.mkdir()
    (study / "points.csv").write_text("lon,lat,rate,unit\n105,35,3650,kg/yr\n")
    (study / "study.toml").write_text(
        "[domain]\nresolution_deg = 5.0\n[time]\nstop = '2010-01-05'\nstep_hours = 12.0\n[output]\nfrequency = 'run'\n"
        "[met]\nsource = 'uniform'\n"
        "[emissions]\nsource = 'points.csv'\n")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert main(["run", "../study/study.toml", "--out", "run", "--quiet"]) == 0
    saved = tmp_path / "elsewhere" / "run" / "config.toml"
    assert f"source = \"{study}/points.csv\"" in saved.read_text()
    (tmp_path / "third").mkdir()
    monkeypatch.chdir(tmp_path / "third")
    assert main(["run", str(saved), "--out", "again", "--quiet"]) == 0
    with xr.open_dataset(tmp_path / "elsewhere" / "run" / "fields.nc") as a, \
            xr.open_dataset(tmp_path / "third" / "again" / "fields.nc") as b:
        assert float(a["emission_flux"].sum()) > 0
        assert all(np.array_equal(a[v].values, b[v].values) for v in a.variables)
        assert a.attrs["configuration"] == b.attrs["configuration"]
        assert a.attrs["input_files"].split(",")[0] == b.attrs["input_files"].split(",")[0]
