"""Inventories given every 5 or 10 years: ``emissions.between_years = "linear"`` interpolates a year between two
inventory years (each country's total, each cell's value), refuses years outside them, keeps an annual amount exact
in leap years, gives every country's tag its interpolated total, and is recorded by `validate` and in the outputs."""

from __future__ import annotations

import calendar

import numpy as np
import pytest
import xarray as xr

from popstransport.config import ConfigError, load_config
from popstransport.grid import LatLonGrid
from popstransport.io.emissions import SECONDS_PER_YEAR, open_emissions
from popstransport.io.errors import InputError, MissingYearError

GRID = LatLonGrid.regional(60.0, 180.0, -15.0, 60.0, 5.0)
REL = 1e-12
#: CHN in both years, JPN in 2010 only, KOR in 2020 only (they interpolate to and from zero)
DECADES = "iso3,year,value,unit\nCHN,2010,100,kg/yr\nCHN,2020,40,kg/yr\nJPN,2010,10,kg/yr\nKOR,2020,5,kg/yr\n"


@pytest.fixture
def decades(tmp_path):
    f = tmp_path / "decades.csv"
    f.write_text(DECADES)
    return f


def _country_totals(inv):
    return {c: float(r.sum()) for c, r in inv.region_rates_kg_s.items()}


def test_national_totals_between_two_inventory_years_are_interpolated_exactly(decades):
    """2014 lies 4/10 of the way from 2010 to 2020: every country's total (and the grid's) is 0.6 x 2010 + 0.4 x 2020
    to 1e-12, a country missing in one year counting as zero there; the default refuses the year, as before; a year
    after the last inventory year is refused with the file's years and the fix."""
    a, b = (open_emissions(decades, GRID, year=y) for y in (2010, 2020))
    inv = open_emissions(decades, GRID, year=2014, between_years="linear")
    assert inv.interpolated_from == (2010.0, 2020.0) and inv.years_available == [2010.0, 2020.0]
    assert inv.total_kg_s == pytest.approx(0.6 * a.total_kg_s + 0.4 * b.total_kg_s, rel=REL)
    assert inv.annual_total_kg == pytest.approx(0.6 * 110 + 0.4 * 45, rel=REL)
    ta, tb, t = _country_totals(a), _country_totals(b), _country_totals(inv)
    assert set(t) == {"CHN", "JPN", "KOR"}
    for code in t:
        assert t[code] == pytest.approx(0.6 * ta.get(code, 0.0) + 0.4 * tb.get(code, 0.0), rel=REL), code
    assert t["KOR"] * SECONDS_PER_YEAR == pytest.approx(2.0, rel=REL)
    assert t["JPN"] * SECONDS_PER_YEAR == pytest.approx(6.0, rel=REL)
    with pytest.raises(MissingYearError, match=r"decades\.csv: year 2014: is not in the file; available: "
                                               r"\['2010', '2020'\]\. Fix: choose one of these years"):
        open_emissions(decades, GRID, year=2014)
    with pytest.raises(MissingYearError, match=r"decades\.csv: year 2021: is not in the file; available: "
                                               r"\['2010', '2020'\]\. Fix: choose one of these years \(or a year in between\)"):
        open_emissions(decades, GRID, year=2021, between_years="linear")
    with pytest.raises(InputError, match=r"emissions: between_years: 'cubic' is not a choice\. Fix: use 'refuse'"):
        open_emissions(decades, GRID, year=2014, between_years="cubic")


def _gridded(path, years, monthly=False):
    lon, lat = np.arange(62.5, 180.0, 5.0), np.arange(-12.5, 60.0, 5.0)
    rng = np.random.default_rng(7)
    months = range(1, 13) if monthly else (1,)
    times = np.array([f"{y}-{m:02d}-01" for y in years for m in months], dtype="datetime64[ns]")
    values = rng.uniform(0.5, 2.0, (times.size, lat.size, lon.size))
    xr.Dataset({"emi": (("time", "lat", "lon"), values, {"units": "kg/cell/yr" if not monthly else "kg/cell/s"})},
               coords={"time": times, "lat": lat, "lon": lon}).to_netcdf(path)
    return path


def test_a_gridded_file_is_interpolated_cell_by_cell_and_month_by_month(tmp_path):
    """A gridded file with one record in 2010 and one in 2020: every cell of 2013 is 0.7 x 2010 + 0.3 x 2020; with 12
    monthly records a year, every month of 2013 is the same mix of the two years' months. 2025 is refused, naming the
    file, the years and the fix; a file without dated records refuses the option."""
    f = _gridded(tmp_path / "decadal.nc", (2010, 2020))
    a, b = (open_emissions(f, GRID, year=y) for y in (2010, 2020))
    inv = open_emissions(f, GRID, year=2013, between_years="linear")
    np.testing.assert_allclose(inv.rates_by_layer_kg_s(), 0.7 * a.rates_by_layer_kg_s() + 0.3 * b.rates_by_layer_kg_s(),
                               rtol=REL)
    assert inv.total_kg_s == pytest.approx(0.7 * a.total_kg_s + 0.3 * b.total_kg_s, rel=REL)
    assert "interpolated linearly to 2013 between the inventory years 2010 and 2020" in inv.describe()
    with pytest.raises(MissingYearError, match=r"decadal\.nc: variable 'emi': has no records in 2013"):
        open_emissions(f, GRID, year=2013)
    with pytest.raises(MissingYearError, match=r"decadal\.nc: year 2025: lies outside the inventory's years "
                                               r"\['2010', '2020'\].*Fix: run within these years, or add the years"):
        open_emissions(f, GRID, year=2025, between_years="linear")
    m = _gridded(tmp_path / "monthly.nc", (2010, 2020), monthly=True)
    a, b = (open_emissions(m, GRID, year=y) for y in (2010, 2020))
    inv = open_emissions(m, GRID, year=2013, between_years="linear")
    for month in ("2013-03-15", "2013-11-02"):
        t = np.datetime64(month)
        ta, tb = np.datetime64(month.replace("2013", "2010")), np.datetime64(month.replace("2013", "2020"))
        np.testing.assert_allclose(inv.rates_kg_s(t), 0.7 * a.rates_kg_s(ta) + 0.3 * b.rates_kg_s(tb), rtol=REL)
    undated = tmp_path / "undated.nc"
    lon, lat = np.arange(62.5, 180.0, 5.0), np.arange(-12.5, 60.0, 5.0)
    xr.Dataset({"emi": (("lat", "lon"), np.ones((lat.size, lon.size)), {"units": "kg/cell/yr"})},
               coords={"lat": lat, "lon": lon}).to_netcdf(undated)
    with pytest.raises(InputError, match=r"undated\.nc: emissions\.between_years = 'linear': interpolates between the "
                                         r"years of an inventory, and this gridded inventory has no dated records.*Fix: "
                                         r"remove emissions\.between_years, or give the file its years"):
        open_emissions(undated, GRID, year=2013, between_years="linear")


def test_the_option_is_refused_where_there_is_nothing_to_interpolate(tmp_path):
    """A point-source or national-totals file without a year column has no years, nor have uniform emissions."""
    from popstransport.run import build_emissions, build_grid

    points = tmp_path / "plants.csv"
    points.write_text("lon,lat,rate,unit,name\n116.4,39.9,5,kg/yr,plant\n")
    with pytest.raises(InputError, match=r"plants\.csv: emissions\.between_years = 'linear': interpolates between the "
                                         r"years of an inventory, and this point-source file has no year column: the "
                                         r"same figures serve every year\. Fix: remove emissions\.between_years, or give "
                                         r"the file its years \(a column 'year', one row per source and year\)"):
        open_emissions(points, GRID, year=2013, between_years="linear")
    undated = tmp_path / "undated.csv"
    undated.write_text("iso3,value,unit\nCHN,100,kg/yr\n")
    with pytest.raises(InputError, match=r"undated\.csv: emissions\.between_years = 'linear': .*this national "
                                         r"inventory has no year column"):
        open_emissions(undated, GRID, year=2013, between_years="linear")
    cfg = load_config(None, ["domain.resolution_deg=5", "emissions.source=uniform", "emissions.between_years=linear"])
    with pytest.raises(ConfigError, match=r"emissions\.between_years = 'linear' interpolates between the years of an "
                                          r"inventory, and emissions\.source = 'uniform' has none; remove"):
        build_emissions(cfg, build_grid(cfg))
    with pytest.raises(ConfigError, match=r"emissions\.between_years.*'refuse'.*'linear'"):
        load_config(None, ["emissions.between_years=spline"])


def test_each_year_of_a_run_takes_its_interpolated_amount_exactly_leap_years_included(decades):
    """``emissions.year = "each"`` with the option: 2015 (common) and 2016 (leap) each emit exactly their interpolated
    annual amounts over their calendar days; a run reaching past the last inventory year is refused, naming the file,
    the years and the fix; without the option the run is refused as before."""
    from popstransport.run import build_emissions, build_grid

    sets = ["domain.resolution_deg=5", "time.start=2015-01-01", "time.stop=2017-01-01", f"emissions.source='{decades}'",
            "emissions.year=each", "emissions.between_years=linear"]
    cfg = load_config(None, sets)
    field, _ = build_emissions(cfg, build_grid(cfg))
    for year, w in ((2015, 0.5), (2016, 0.6)):
        days = np.arange(np.datetime64(f"{year}-01-01"), np.datetime64(f"{year + 1}-01-01"))
        assert days.size == (366 if calendar.isleap(year) else 365)
        emitted = sum(float(field(d + np.timedelta64(12, "h")).sum()) for d in days) * 86400.0
        assert emitted == pytest.approx((1 - w) * 110.0 + w * 45.0, rel=REL), year
    late = load_config(None, [*sets[:1], "time.start=2020-06-01", "time.stop=2021-02-01", *sets[3:]])
    with pytest.raises(InputError, match=r"decades\.csv: emissions\.year = 'each': takes every calendar year of the run "
                                         r"\(2020\.\.2021\) from the inventory, and year 2021 is not in the file; available: "
                                         r"\['2010', '2020'\]\. Fix: end the run within the inventory's years \(2010\.\.2020\)"):
        build_emissions(late, build_grid(late))
    with pytest.raises(InputError, match=r"Fix: give the file every year of the run \(a file's years are not "
                                         r"interpolated unless emissions\.between_years = 'linear'\)"):
        refused = load_config(None, sets[:-1])
        build_emissions(refused, build_grid(refused))


def test_a_tagged_run_across_a_new_year_gives_every_country_its_interpolated_total(decades, tmp_path, capsys):
    """A tagged run from December 2014 to January 2015 on a national-totals file of 2010 and 2020: every country's
    tag emits its interpolated total (0.6/0.4 in 2014, 0.5/0.5 in 2015) over the days of each month, KOR (2020 only)
    and JPN (2010 only) to and from zero; `validate` and the outputs' attributes say which years are interpolated."""
    from popstransport.cli import main
    from popstransport.run import run

    sets = ["domain.resolution_deg=5", "time.start=2014-12-01", "time.stop=2015-02-01", "met.source=uniform",
            "time.step_hours=24", f"emissions.source='{decades}'", "emissions.year=each",
            "emissions.between_years=linear", "attribution.tags=countries", "attribution.receptors=['CHN','JPN','KOR']",
            "processes.fate=simple"]
    out = run(load_config(None, sets), tmp_path / "run")
    with xr.open_dataset(out / "attribution.nc") as att:
        emitted = att["emission"].load()
        recorded = att.attrs["emission_years_interpolated"]
    for code, kg_yr in (("CHN", (76.0, 70.0)), ("JPN", (6.0, 5.0)), ("KOR", (2.0, 2.5))):
        expected = np.array(kg_yr) * 31 / 365
        np.testing.assert_allclose(emitted.sel(source=code).values, expected, rtol=1e-10, err_msg=code)
    np.testing.assert_allclose(emitted.sum("source").values, np.array([84.0, 77.5]) * 31 / 365, rtol=1e-10)
    assert recorded.startswith("2014 = 0.6 x 2010 + 0.4 x 2020; 2015 = 0.5 x 2010 + 0.5 x 2020"), recorded
    with xr.open_dataset(out / "fields.nc") as fields:
        assert fields.attrs["emission_years_interpolated"] == recorded
    capsys.readouterr()
    assert main(["validate", *[a for kv in sets for a in ("--set", kv)]]) == 0
    assert ("emission years interpolated linearly between inventory years: 2014 = 0.6 x 2010 + 0.4 x 2020; "
            "2015 = 0.5 x 2010 + 0.5 x 2020 (emissions.between_years = 'linear')") in capsys.readouterr().out


def test_a_run_of_interpolated_years_resumes_bit_for_bit(decades, tmp_path):
    """A tagged run of interpolated years (2014 and 2015 between 2010 and 2020), stopped in January 2015 after its
    checkpoint at the new year and resumed, equals the uninterrupted run bit for bit: its fields, its tags' emissions
    and its record of the interpolated years."""
    from popstransport.run import run

    sets = ["domain.resolution_deg=5", "time.start=2014-12-01", "time.stop=2015-02-01", "met.source=uniform",
            "time.step_hours=24", f"emissions.source='{decades}'", "emissions.year=each", "emissions.between_years=linear",
            "attribution.tags=countries", "attribution.receptors=['CHN','JPN','KOR']",
            "processes.fate=simple", "output.checkpoint_every_months=1"]
    cfg = load_config(None, sets)
    ref = run(cfg, tmp_path / "ref")

    def interrupt(sim_s, total_s, wall_s):
        if sim_s >= 45 * 86400.0:  # (mid-January: a checkpoint at the end of December)
            raise KeyboardInterrupt

    out = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt):
        run(cfg, out, progress=interrupt)
    assert (out / "checkpoint.pkl").is_file() and not (out / "fields.nc").exists()
    run(cfg, out, resume=True)
    for name, variables in (("fields.nc", None), ("attribution.nc", ("emission", "deposition"))):
        with xr.open_dataset(ref / name) as a, xr.open_dataset(out / name) as b:
            assert a.attrs["emission_years_interpolated"] == b.attrs["emission_years_interpolated"]
            for v in variables or a.data_vars:
                assert np.array_equal(a[v].values, b[v].values, equal_nan=True), (name, v)


def test_a_single_year_between_inventory_years_is_recorded(decades):
    """``emissions.year = 2014`` with the option: the run's inventory is the interpolated one, and the outputs'
    attributes say from which inventory years; the built-in inventory, tabulated every 10 years, says so too."""
    from popstransport.run import build_emissions, build_grid, provenance_attributes

    cfg = load_config(None, ["domain.resolution_deg=5", f"emissions.source='{decades}'", "emissions.year=2014",
                             "emissions.between_years=linear"])
    _, inv = build_emissions(cfg, build_grid(cfg))
    assert inv.annual_total_kg == pytest.approx(0.6 * 110 + 0.4 * 45, rel=REL)
    assert provenance_attributes(cfg, None, emissions=inv)["emission_years_interpolated"] == (
        "2014 = 0.6 x 2010 + 0.4 x 2020 (linearly; emissions.between_years = 'linear')")
    builtin = load_config(None, ["domain.resolution_deg=5", "emissions.year=2015"])
    _, inv = build_emissions(builtin, build_grid(builtin))
    assert provenance_attributes(builtin, None, emissions=inv)["emission_years_interpolated"] == (
        "2015 = 0.5 x 2010 + 0.5 x 2020 (linearly; the built-in inventory is tabulated every 10 years)")
    default = load_config(None, ["domain.resolution_deg=5"])
    _, inv = build_emissions(default, build_grid(default))
    assert "emission_years_interpolated" not in provenance_attributes(default, None, emissions=inv)


#: plants of 2010 and 2020: A in both years, B in 2010 only, C in 2020 only, and an unnamed source (known by its
#: coordinates) in both
PLANTS = ("name,lon,lat,height_m,rate,unit,year\n"
          "A,116.4,39.9,2500,100,kg/yr,2010\nA,116.4,39.9,2500,40,kg/yr,2020\nB,139.7,35.7,0,10,kg/yr,2010\n"
          "C,126.98,37.57,0,5,kg/yr,2020\n,121.47,31.23,0,3,kg/yr,2010\n,121.47,31.23,0,8,kg/yr,2020.0\n")


def _by_source(inv):
    p = inv.point_sources
    return {(float(x), float(y)): float(p["kg_s"][p["lon"] == x].sum()) for x, y in zip(p["lon"], p["lat"])}


def test_point_sources_between_two_inventory_years_are_interpolated_source_by_source(tmp_path):
    """A point-source file with a year column: 2014 takes every source's amount 0.6 x 2010 + 0.4 x 2020 to 1e-12 (a
    source missing in one year counting as zero there, an unnamed source known by its coordinates), in its cell, its
    layer and its country; a year of the file takes its rows only (with "each", year by year); the outputs' attribute
    names the years."""
    from popstransport.run import build_emissions, build_grid, provenance_attributes

    f = tmp_path / "plants.csv"
    f.write_text(PLANTS)
    a, b = (open_emissions(f, GRID, year=y) for y in (2010, 2020))
    inv = open_emissions(f, GRID, year=2014, between_years="linear")
    assert inv.interpolated_from == (2010.0, 2020.0) and inv.years_available == [2010.0, 2020.0]
    assert a.annual_total_kg == pytest.approx(113.0, rel=REL) and b.annual_total_kg == pytest.approx(53.0, rel=REL)
    sa, sb, s = _by_source(a), _by_source(b), _by_source(inv)
    assert len(s) == 4
    for where in s:
        assert s[where] == pytest.approx(0.6 * sa.get(where, 0.0) + 0.4 * sb.get(where, 0.0), rel=REL), where
    assert s[116.4, 39.9] * SECONDS_PER_YEAR == pytest.approx(76.0, rel=REL)
    assert s[139.7, 35.7] * SECONDS_PER_YEAR == pytest.approx(6.0, rel=REL)
    assert s[126.98, 37.57] * SECONDS_PER_YEAR == pytest.approx(2.0, rel=REL)
    assert s[121.47, 31.23] * SECONDS_PER_YEAR == pytest.approx(5.0, rel=REL)
    np.testing.assert_allclose(inv.rates_by_layer_kg_s(), 0.6 * a.rates_by_layer_kg_s() + 0.4 * b.rates_by_layer_kg_s(),
                               rtol=REL, atol=0.0)
    assert inv.rates_by_layer_kg_s()[1].sum() * SECONDS_PER_YEAR == pytest.approx(76.0, rel=REL)  # (A at 2500 m)
    ta, tb, t = _country_totals(a), _country_totals(b), _country_totals(inv)
    assert set(t) == {"CHN", "JPN", "KOR"}
    for code in t:
        assert t[code] == pytest.approx(0.6 * ta.get(code, 0.0) + 0.4 * tb.get(code, 0.0), rel=REL), code
    assert "interpolated linearly to 2014 between the inventory years 2010 and 2020" in inv.describe()
    cfg = load_config(None, ["domain.resolution_deg=5", f"emissions.source='{f}'", "emissions.year=2014",
                             "emissions.between_years=linear"])
    _, built = build_emissions(cfg, build_grid(cfg))
    assert built.annual_total_kg == pytest.approx(0.6 * 113.0 + 0.4 * 53.0, rel=REL)
    assert provenance_attributes(cfg, None, emissions=built)["emission_years_interpolated"] == (
        "2014 = 0.6 x 2010 + 0.4 x 2020 (linearly; emissions.between_years = 'linear')")
    each = load_config(None, ["domain.resolution_deg=5", f"emissions.source='{f}'", "emissions.year=each",
                              "emissions.between_years=linear", "time.start=2019-01-01", "time.stop=2021-01-01"])
    yearly, _ = build_emissions(each, build_grid(each))
    assert {y: inv.annual_total_kg for y, inv in yearly.inventories.items()} == pytest.approx(
        {2019: 0.1 * 113.0 + 0.9 * 53.0, 2020: 53.0}, rel=REL)


def test_a_tagged_run_gives_every_country_its_point_sources_interpolated_amounts(tmp_path, capsys):
    """A tagged run from December 2014 to January 2015 on the plants of 2010 and 2020: every country's tag emits its
    sources' interpolated amounts (0.6/0.4 in 2014, 0.5/0.5 in 2015) over the days of each month, and `validate` says
    which years are interpolated."""
    from popstransport.cli import main
    from popstransport.run import run

    f = tmp_path / "plants.csv"
    f.write_text(PLANTS)
    sets = ["domain.resolution_deg=5", "time.start=2014-12-01", "time.stop=2015-02-01", "met.source=uniform",
            "time.step_hours=24", f"emissions.source='{f}'", "emissions.year=each", "emissions.between_years=linear",
            "attribution.tags=countries", "attribution.receptors=['CHN','JPN','KOR']", "processes.fate=simple"]
    out = run(load_config(None, sets), tmp_path / "run")
    with xr.open_dataset(out / "attribution.nc") as att:
        emitted = att["emission"].load()
        assert att.attrs["emission_years_interpolated"].startswith("2014 = 0.6 x 2010 + 0.4 x 2020; 2015 = 0.5 x 2010")
    for code, kg_yr in (("CHN", (81.0, 75.5)), ("JPN", (6.0, 5.0)), ("KOR", (2.0, 2.5))):
        np.testing.assert_allclose(emitted.sel(source=code).values, np.array(kg_yr) * 31 / 365, rtol=1e-10, err_msg=code)
    capsys.readouterr()
    assert main(["validate", *[a for kv in sets for a in ("--set", kv)]]) == 0
    assert ("emission years interpolated linearly between inventory years: 2014 = 0.6 x 2010 + 0.4 x 2020; "
            "2015 = 0.5 x 2010 + 0.5 x 2020 (emissions.between_years = 'linear')") in capsys.readouterr().out


def test_point_sources_without_a_year_column_emit_the_same_in_every_year(tmp_path):
    """Without a year column a point-source file is read as before: every year (or none) gives the same sources."""
    f = tmp_path / "plants.csv"
    f.write_text("name,lon,lat,rate,unit\nA,116.4,39.9,100,kg/yr\nA,116.4,39.9,7,kg/yr\n,139.7,35.7,10,kg/yr\n")
    first, *others = (open_emissions(f, GRID, year=y) for y in (None, 1990, 2014, 2100))
    assert first.annual_total_kg == pytest.approx(117.0, rel=REL)
    assert first.years_available is None and first.interpolated_from is None
    assert first.notes == [f"{f}: 3 point sources"]
    for inv in others:
        assert np.array_equal(inv.rates_by_layer_kg_s(), first.rates_by_layer_kg_s())
        assert all(np.array_equal(inv.point_sources[k], first.point_sources[k]) for k in first.point_sources)


@pytest.mark.parametrize("rows, kwargs, error, match", [
    ("A,116.4,39.9,1,kg/yr,2010.5\n", {}, InputError,
     r"plants\.csv: line 2, column 'year': '2010\.5' is not a whole calendar year\. Fix: give the inventory year of "
     r"the row as an integer, e\.g\. 2010"),
    ("A,116.4,39.9,1,kg/yr,c.2010\n", {}, InputError, r"plants\.csv: line 2, column 'year': 'c\.2010' is not a whole"),
    ("A,116.4,39.9,1,kg/yr,2010\nB,139.7,35.7,1,kg/yr,2010\nA,116.4,39.9,2,kg/yr,2010\n", {}, InputError,
     r"plants\.csv: line 4 \(A\): repeats the source's year 2010 \(line 2; a source is its name, or its coordinates "
     r"when it has none, and its sector\)\. Fix: keep one row per source and year \(sum them into one row, or give "
     r"each source its own name\)"),
    (",116.4,39.9,1,kg/yr,2010\n,116.4,39.9,2,kg/yr,2010\n", {}, InputError,
     r"plants\.csv: line 3 \(lon 116\.4, lat 39\.9\): repeats the source's year 2010 \(line 2"),
    ("A,116.4,39.9,1,kg/yr,2010\nB,139.7,35.7,1,kg/yr,\n", {}, InputError,
     r"plants\.csv: point source 'B': has no year, and other rows have years \['2010'\]\. Fix: give every row its year"),
    ("A,116.4,39.9,1,kg/yr,2010\nA,116.4,39.9,2,kg/yr,2020\n", {"year": 2014}, MissingYearError,
     r"plants\.csv: year 2014: is not in the file; available: \['2010', '2020'\]\. Fix: choose one of these years$"),
    ("A,116.4,39.9,1,kg/yr,2010\nA,116.4,39.9,2,kg/yr,2020\n", {"year": 2021, "between_years": "linear"},
     MissingYearError, r"plants\.csv: year 2021: is not in the file; available: \['2010', '2020'\]\. Fix: choose one "
     r"of these years \(or a year in between\)"),
    ("A,116.4,39.9,1,kg/yr,2010\nA,116.4,39.9,2,kg/yr,2020\n", {"year": None}, InputError,
     r"plants\.csv: year: the file has several years"),
])
def test_point_source_years_errors(tmp_path, rows, kwargs, error, match):
    """A year that is not a whole number, a source given twice in a year (by name, or by coordinates when unnamed), a
    row without a year among dated ones, and a year the file lacks (or outside its years with "linear") are refused
    with the file, the line or year, and the fix."""
    f = tmp_path / "plants.csv"
    f.write_text("name,lon,lat,rate,unit,year\n" + rows)
    with pytest.raises(error, match=match):
        open_emissions(f, GRID, **{"year": 2010, **kwargs})
