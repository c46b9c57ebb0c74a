"""open_run: a run directory as xarray objects; period selection; warnings; progress and Ctrl-C cleanup."""

from __future__ import annotations

import csv
import shutil

import netCDF4
import numpy as np
import pytest
import xarray as xr

from popstransport.config import load_config
from popstransport.constants import SECONDS_PER_YEAR
from popstransport.results import RunResults, RunResultsError, open_run, parse_period
from popstransport.run import run

TINY = ["domain.resolution_deg=5", "time.stop=2010-03-01", "met.source=uniform", "emissions.source=uniform"]
TAGGED = [*TINY, "attribution.tags=list", "attribution.regions=['CHN','IND']"]


@pytest.fixture(scope="module")
def tagged_run(tmp_path_factory):
    return run(load_config(None, TAGGED), tmp_path_factory.mktemp("results") / "run")


@pytest.fixture
def run_copy(tagged_run, tmp_path):
    dst = tmp_path / "copy"
    shutil.copytree(tagged_run, dst)
    return dst


def read_csv(path):
    with open(path, encoding="utf-8") as fh:
        return list(csv.DictReader(line for line in fh if not line.startswith("#")))


def test_open_run_gives_xarray_objects(tagged_run):
    r = open_run(tagged_run)
    assert isinstance(r, RunResults)
    assert isinstance(r.fields, xr.Dataset) and "air_concentration" in r.fields
    assert isinstance(r.budget, xr.Dataset) and "relative_closure_error" in r.budget
    assert isinstance(r.attribution, xr.Dataset) and isinstance(r.tag_fields, xr.Dataset)
    assert r.config["domain"]["resolution_deg"] == 5.0
    assert r.chemical == "PCB-153"
    assert r.fields.sizes["time"] == 2
    assert r.lon_edges[0] == 60.0 and r.lon_edges[-1] == 180.0 and r.lat_edges.size == r.fields.sizes["lat"] + 1
    assert "2 periods, tagged" in repr(r)
    r.close()


def test_source_receptor_matches_the_csv(tagged_run):
    with open_run(tagged_run) as r:
        sr = r.source_receptor
    assert sr["deposition"].dims == ("receptor", "source")
    rows = {row["receptor"]: row for row in read_csv(tagged_run / "source_receptor_deposition.csv")}
    # (to round-off: the CSV had 7 significant digits, which showed a distant source's share of 3e-8 as 0.000000)
    for rec in ("CHN", "IND", "JPN"):
        assert float(sr["total"].sel(receptor=rec)) == pytest.approx(float(rows[rec]["total_kg"]), rel=1e-14)
        assert float(sr["foreign_share"].sel(receptor=rec)) == pytest.approx(float(rows[rec]["foreign_share"]), rel=1e-14)
        for s in sr["source"].values:
            assert float(sr["deposition"].sel(receptor=rec, source=s)) == float(rows[rec][f"from_{s}_kg"])
    share = sr["share"].where(sr["total"] > 0).sum("source")
    assert np.allclose(share.where(sr["total"] > 0, 1.0), 1.0)


def test_csv_row_of_all_receptors_and_the_foreign_share_without_the_initial_burden(tagged_run):
    """The CSV's last row holds every source's deposition over all receptors and its share of their total; the foreign
    share leaves out the receptor's own tag and the initial burden (neither came from abroad)."""
    from popstransport.io.attribution_writer import foreign_share

    with open_run(tagged_run) as r:
        sr = r.source_receptor
    rows = read_csv(tagged_run / "source_receptor_deposition.csv")
    assert rows[-1]["receptor"] == "ALL_RECEPTORS"
    sources = [str(s) for s in sr["source"].values]
    column = sr["deposition"].sum("receptor")
    for s in sources:
        assert float(rows[-1][f"from_{s}_kg"]) == pytest.approx(float(column.sel(source=s)), rel=1e-6)
        assert float(rows[-1][f"share_{s}"]) == pytest.approx(float(column.sel(source=s) / column.sum()), abs=1e-6)
    assert foreign_share("CHN", ["CHN", "IND", "INITIAL", "OTHER"], np.array([1.0, 2.0, 3.0, 4.0])) == 0.6
    assert foreign_share("JPN", ["CHN", "INITIAL"], np.array([1.0, 3.0])) == 0.25
    assert np.isnan(foreign_share("CHN", ["CHN"], np.array([0.0])))


def test_foreign_share_is_a_range_for_untagged_receptors(tagged_run):
    """In a 'list' run JPN's own emissions are in OTHER: its foreign share lies between the named sources' share
    and everything but itself."""
    with open_run(tagged_run) as r:
        sr = r.source_receptor
    jpn = sr.sel(receptor="JPN")
    named = float(jpn["share"].sel(source=["CHN", "IND"]).sum())
    assert float(jpn["foreign_share_lower"]) == pytest.approx(named)
    assert float(jpn["foreign_share"]) == pytest.approx(1.0)
    chn = sr.sel(receptor="CHN")
    assert float(chn["foreign_share_lower"]) == float(chn["foreign_share"])
    # the CSV states the same range (it gave only the upper end, 1.0, for JPN)
    rows = {row["receptor"]: row for row in read_csv(tagged_run / "source_receptor_deposition.csv")}
    assert float(rows["JPN"]["foreign_share_lower"]) == pytest.approx(named, abs=1e-6)
    assert float(rows["JPN"]["foreign_share"]) == pytest.approx(1.0)
    assert rows["CHN"]["foreign_share_lower"] == rows["CHN"]["foreign_share"]
    assert rows["ALL_RECEPTORS"]["foreign_share_lower"] == ""


def test_period_mean_is_duration_weighted(tagged_run):
    with open_run(tagged_run) as r:
        soil = r.fields["soil_burden"].values
        mean = r.field_mean("soil_burden").values
        np.testing.assert_allclose(mean, (31 * soil[0] + 28 * soil[1]) / 59, rtol=1e-12)
        np.testing.assert_allclose(r.field_mean("soil_burden", "2010-02").values, soil[1], rtol=0)
        dep = r.fields["dry_deposition_flux"].values + r.fields["wet_deposition_flux"].values
        dep = dep + r.fields["air_surface_exchange_flux"].values
        np.testing.assert_allclose(r.deposition_ng_m2_yr(0).values, dep[0] * 1e12 * SECONDS_PER_YEAR, rtol=1e-12)
        np.testing.assert_allclose(r.air_concentration_pg_m3(-1).values,
                                   r.fields["air_concentration"].values[1, 0] * 1e15, rtol=1e-12)
        np.testing.assert_allclose(r.soil_burden_ng_m2().values, mean * 1e12, rtol=1e-12)


@pytest.mark.parametrize("spec, indices", [
    (None, (0, 1)), ("all", (0, 1)), ("2010", (0, 1)), ("2010-01", (0,)), ("-1", (1,)), (0, (0,)),
    ("2010-02-14", (1,)), ("2010-01-20/2010-02-10", (0, 1)), ("2010-01-31T12:00", (0,)),
])
def test_period_selection(tagged_run, spec, indices):
    with open_run(tagged_run) as r:
        sel = r.select(spec)
    assert sel.indices == indices
    assert sel.whole_run == (indices == (0, 1))


def test_period_labels(tagged_run):
    with open_run(tagged_run) as r:
        assert r.select("2010-02").label == "2010-02"
        assert r.select(None).label == "2010-01-01 to 2010-03-01"


@pytest.mark.parametrize("spec, match", [
    ("2011-05", r"outside the run: the run has 2 periods from 2010-01-01"),
    ("7", r"period index 7 is out of range"),
    ("last month", r"not understood; use 'all', a year"),
    ("2010-03-01/2010-01-01", r"end must be later"),
    (True, r"period True: a truth value is not a period"),  # (a bool is an int in Python: it chose period 1)
])
def test_period_errors(tagged_run, spec, match):
    with open_run(tagged_run) as r, pytest.raises(RunResultsError, match=match):
        r.select(spec)


def test_parse_period_returns_intervals():
    assert parse_period("2010-02") == (np.datetime64("2010-02-01T00:00:00"), np.datetime64("2010-03-01T00:00:00"))
    assert parse_period("all") is None and parse_period("-2") == -2
    # indices of an hourly run: five digits and any negative index are indices; four digits are a year
    assert parse_period("12000") == 12000 and parse_period("-1200") == -1200 and parse_period("999") == 999
    assert parse_period("2010") == (np.datetime64("2010-01-01T00:00:00"), np.datetime64("2011-01-01T00:00:00"))


def test_border_fluxes(tagged_run):
    with open_run(tagged_run) as r:
        bf = r.border_fluxes
        top = r.largest_border_fluxes(5)
    gross = bf["gross"].values
    np.testing.assert_allclose(bf["net"].values, gross - gross.T, rtol=1e-12, atol=0)
    assert np.abs(bf["net"].values).max() > 1e-3 * gross.max() > 0
    rows = read_csv(tagged_run / "border_flux.csv")
    assert [(t["region_from"], t["region_to"]) for t in top] == [(x["region_from"], x["region_to"]) for x in rows[:5]]
    assert top[0]["gross_kg"] == pytest.approx(float(rows[0]["gross_kg"]), rel=1e-6)
    for t, x in zip(top, rows[:5]):
        assert t["net_kg"] == pytest.approx(float(x["net_kg"]), rel=1e-6)


def test_results_methods_refuse_a_static_field_a_layer_out_of_range_and_a_negative_count(tagged_run):
    """``field_mean('land_area_fraction')`` raised xarray's "Dimensions {'time'} do not exist",
    ``air_concentration_pg_m3(layer=5)`` a bare IndexError, and ``largest_border_fluxes(-1)`` listed every pair but
    one."""
    with open_run(tagged_run) as r:
        with pytest.raises(RunResultsError, match=r"'land_area_fraction' does not change with time .* "
                                                  r"run.fields\['land_area_fraction'\]"):
            r.field_mean("land_area_fraction")
        for layer in (2, -3, 1.0):
            with pytest.raises(RunResultsError, match=rf"layer {layer!r}: the run has 2 air layers, 0 \(the lowest\) to 1"):
                r.air_concentration_pg_m3(layer=layer)
        np.testing.assert_array_equal(r.air_concentration_pg_m3(layer=-1), r.air_concentration_pg_m3(layer=1))
        for n in (-1, "3", 2.5):
            with pytest.raises(RunResultsError, match=r"n = .*: expected the number of region pairs to list"):
                r.largest_border_fluxes(n)
        assert r.largest_border_fluxes(0) == [] and len(r.largest_border_fluxes(np.int64(2))) == 2


def test_budget_files_agree(tagged_run):
    """``budget.nc`` holds every column of ``budget.csv`` for every period (kg; the closure error relative), on the
    time axis of ``fields.nc``; each period's budget closes."""
    rows = read_csv(tagged_run / "budget.csv")
    with open_run(tagged_run) as r:
        b = r.budget
        np.testing.assert_array_equal(b["time_bnds"].values, r.fields["time_bnds"].values)
        np.testing.assert_array_equal(b["time"].values, r.fields["time"].values)
        terms = [c for c in rows[0] if c not in ("period_start", "period_end")]
        assert sorted(terms) == sorted(v for v in b.data_vars if v != "time_bnds")
        for c in terms:
            assert b[c].attrs["units"] == ("1" if c == "relative_closure_error" else "kg")
            np.testing.assert_allclose(b[c].values, [float(row[c]) for row in rows], rtol=1e-15, atol=0)
        assert np.all(b["relative_closure_error"].values < 1e-12)
        assert float(b["emitted_air_0_kg"].sum()) > 0


def test_clean_run_has_no_warnings(tagged_run):
    with open_run(tagged_run) as r:
        assert r.warnings() == []


def test_warnings_file_and_derived_checks(run_copy):
    (run_copy / "warnings.txt").write_text("met: wind field clipped at 3 cells\n\n", encoding="utf-8")
    with netCDF4.Dataset(run_copy / "budget.nc", "a") as ds:
        ds["relative_closure_error"][1] = 3e-6
    with netCDF4.Dataset(run_copy / "fields.nc", "a") as ds:
        v = ds["soil_burden"][:]
        v[0, 2, 3] = -1.0
        ds["soil_burden"][:] = v
        ds["air_surface_exchange_flux"][0, 0, 0] = -1e-12  # a net upward flux is allowed
    with open_run(run_copy) as r:
        w = r.warnings()
    assert w[0] == "met: wind field clipped at 3 cells"
    assert any("relative closure error 3.00e-06 in 2010-02-01T00:00:00 to 2010-03-01T00:00:00" in x for x in w)
    assert any("soil_burden has 1 negative values" in x and "(0, 2, 3)" in x for x in w)
    assert not any("air_surface_exchange_flux" in x for x in w)
    assert len(w) == 3


def test_a_float32_runs_closure_is_held_to_float32s_tolerance(run_copy):
    """A float32 state closes its budget to about 2e-8: 5e-8 is no warning there (it is for float64), 2e-6 is."""
    text = (run_copy / "config.toml").read_text(encoding="utf-8")
    with netCDF4.Dataset(run_copy / "budget.nc", "a") as ds:
        ds["relative_closure_error"][0] = 5e-8
    with open_run(run_copy) as r:
        assert any("relative closure error 5.00e-08" in w for w in r.warnings())
    assert 'state_precision = "float64"' in text
    (run_copy / "config.toml").write_text(text.replace('state_precision = "float64"', 'state_precision = "float32"'),
                                          encoding="utf-8")
    with open_run(run_copy) as r:
        assert r.config["processes"]["state_precision"] == "float32"
        assert not any("closure" in w for w in r.warnings())
    with netCDF4.Dataset(run_copy / "budget.nc", "a") as ds:
        ds["relative_closure_error"][0] = 2e-6
    with open_run(run_copy) as r:
        assert any("2.00e-06" in w and "exceeds 1e-06 (float32 state)" in w for w in r.warnings())


def test_a_tagged_run_without_its_attribution_file_is_flagged(run_copy):
    """A folder whose config.toml says tagged but which lacks attribution.nc opens as untagged, with a warning."""
    (run_copy / "attribution.nc").unlink()
    with open_run(run_copy) as r:
        assert r.attribution is None
        assert any(w.startswith("attribution: config.toml says the run was tagged") for w in r.warnings())


def test_open_run_errors(tmp_path):
    with pytest.raises(RunResultsError, match=r"does not exist; give the --out folder"):
        open_run(tmp_path / "nothing")
    (tmp_path / ".fields.nc.partial").write_text("")
    with pytest.raises(RunResultsError, match=r"fields.nc not found \(only partial files .*did not finish"):
        open_run(tmp_path)


def test_open_run_of_an_ensemble_folder_points_to_its_members(tmp_path):
    """`report`, `plot`, `compare` and `evaluate` of the --out folder of a finished ensemble said 'fields.nc not found;
    give the --out folder of a finished popstransport run', which it was: they now say it is an ensemble and name
    its members and summary."""
    for k in range(3):
        (tmp_path / "members" / f"member_{k:03d}").mkdir(parents=True)
        (tmp_path / "members" / f"member_{k:03d}" / "fields.nc").write_text("")
    (tmp_path / "ensemble_members.csv").write_text("member\n")
    (tmp_path / "ensemble_summary.nc").write_text("")
    with pytest.raises(RunResultsError, match=r"an ensemble folder, not a run: open one of its members "
                                              r"\(.*members/member_000 \.\. member_002\), or read ensemble_summary\.nc"):
        open_run(tmp_path)


# progress and Ctrl-C ---------------------------------------------------------------------------------------------
class Interrupt:
    """A progress callback that presses Ctrl-C after a few steps."""

    def __init__(self, after_steps: int):
        self.after = after_steps
        self.calls = 0
        self.last = None

    def __call__(self, sim_s, total_s, wall_s):
        self.calls += 1
        self.last = (sim_s, total_s, wall_s)
        if self.calls >= self.after:
            raise KeyboardInterrupt


def test_ctrl_c_leaves_no_files(tmp_path):
    cfg = load_config(None, TAGGED)
    progress = Interrupt(after_steps=300)  # inside the second month: the first period was already written
    with pytest.raises(KeyboardInterrupt):
        run(cfg, tmp_path / "new", progress=progress)
    assert progress.last[0] > 31 * 86400 and progress.last[1] == 59 * 86400
    assert not (tmp_path / "new").exists()


def test_ctrl_c_keeps_an_existing_folder_and_its_files_only(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    with pytest.raises(KeyboardInterrupt):
        run(load_config(None, TAGGED), folder, progress=Interrupt(after_steps=5))
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]


def test_progress_lines_without_a_terminal(capsys):
    from popstransport.cli import _progress_printer

    assert _progress_printer(quiet=True) is None
    show = _progress_printer(quiet=False)
    show(10 * 86400.0, 59 * 86400.0, 2.0)  # first call always prints
    show(11 * 86400.0, 59 * 86400.0, 2.1)  # within 10 s of wall time: silent
    show(59 * 86400.0, 59 * 86400.0, 4.0)  # the end always prints
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2
    assert "day     10.0 of 59.0" in lines[0] and "5.0 days/s" in lines[0] and "ETA" in lines[0]
    assert lines[1].lstrip().startswith("100.0%")
    assert "\r" not in lines[0]


def test_progress_bar_on_a_terminal(monkeypatch, capsys):
    import sys

    from popstransport.cli import _progress_printer

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    show = _progress_printer(quiet=False)
    show(29.5 * 86400.0, 59 * 86400.0, 5.0)
    show(59 * 86400.0, 59 * 86400.0, 10.0)
    err = capsys.readouterr().err
    assert err.startswith("\r[###############               ]  50.0%")
    assert "5.9 days/s" in err and "ETA" in err and err.endswith("\n")


def test_open_run_is_exported_by_the_package(tagged_run):
    import popstransport

    if not hasattr(popstransport, "open_run"):
        pytest.skip("popstransport.open_run is not exported by popstransport/__init__.py yet")
    with popstransport.open_run(tagged_run) as r:
        assert isinstance(r, RunResults)


def test_popstransport_run_stays_the_function_once_its_module_is_imported():
    # (a notebook's second popstransport.run(cfg, DIR) got the submodule popstransport.run: "'module' object is not
    # callable")
    import importlib

    import popstransport
    from popstransport.run import run as run_function

    first = popstransport.run
    importlib.import_module("popstransport.run")
    assert first is run_function and popstransport.run is run_function
    assert importlib.import_module("popstransport.run").build_run is not None
