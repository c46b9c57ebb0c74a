"""evaluate: observations sampled from the model give perfect statistics; perturbed ones give hand-computed values;
units are converted; bad files give errors naming the line, the column and the fix."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import xarray as xr

from popstransport.config import load_config
from popstransport.evaluate import ObservationError, evaluate, parse_unit, statistics
from popstransport.plotting import FIGURE_SIZE_PX
from popstransport.run import run

TINY = ["domain.resolution_deg=5", "time.stop=2010-03-01", "met.source=uniform", "emissions.source=uniform"]
HEADER = "site_id,lon,lat,period,value,unit,compartment\n"
YEAR_S = 365.0 * 86400.0


@pytest.fixture(scope="module")
def model_run(tmp_path_factory):
    return run(load_config(None, TINY), tmp_path_factory.mktemp("evaluate") / "run")


@pytest.fixture(scope="module")
def fields(model_run):
    with xr.open_dataset(model_run / "fields.nc") as ds:
        return ds.load()


def model_value(fields, compartment, lon, lat, months):
    """The model's value at the cell of (lon, lat), duration-weighted over the given month indices (SI units),
    read directly from fields.nc."""
    j = int(np.flatnonzero((fields["lat_bnds"].values[:, 0] <= lat) & (lat < fields["lat_bnds"].values[:, 1]))[0])
    i = int(np.flatnonzero((fields["lon_bnds"].values[:, 0] <= lon) & (lon < fields["lon_bnds"].values[:, 1]))[0])
    if compartment == "air":
        series = fields["air_concentration"].values[:, 0, j, i]
    elif compartment == "deposition":
        series = fields["wet_deposition_flux"].values[:, j, i] + fields["dry_deposition_flux"].values[:, j, i]
    else:  # (per area of soil: the burden per cell area over the cell fraction the soil covers)
        series = fields["soil_burden"].values[:, j, i] / fields["soil_area_fraction"].values[j, i]
    days = np.array([31.0, 28.0])[months]
    return float((series[months] * days).sum() / days.sum())


#: (site, lon, lat, period, month indices, unit, compartment, factor from SI to the unit)
STATIONS = [
    ("A1", 102.0, 31.0, "2010-01", [0], "pg m-3", "air", 1e15),
    ("A2", 141.0, 41.0, "2010-02", [1], "ng m-3", "air", 1e12),
    ("A3", 71.0, 11.0, "2010-01-01/2010-03-01", [0, 1], "kg m-3", "air", 1.0),
    ("A4", -181.0, 51.0, "2010-01", [0], "pg/m3", "air", 1e15),  # -181 E is 179 E: wrapped into the domain
    ("A5", 122.0, -12.0, "2010-02", [1], "pg m-3", "air", 1e15),
    ("A6", 88.0, 26.0, "2010-01", [0], "ug m-3", "air", 1e9),
    ("D1", 121.0, 21.0, "2010-01", [0], "ng m-2 yr-1", "deposition", 1e12 * YEAR_S),
    ("D2", 161.0, 1.0, "2010-02", [1], "kg m-2 s-1", "deposition", 1.0),
    ("D3", 76.0, 46.0, "2010-01-01/2010-03-01", [0, 1], "ng/m2/d", "deposition", 1e12 * 86400.0),
    ("D4", 131.0, 36.0, "2010-02", [1], "ug m^-2 a^-1", "deposition", 1e9 * YEAR_S),
    ("S1", 101.0, 31.0, "2010-02", [1], "ng m-2", "soil", 1e12),
    ("S2", 151.0, 56.0, "2010-01", [0], "mg/m2", "soil", 1e6),
    ("S3", 66.0, -6.0, "2010-02", [1], "ng g-1 dw", "soil", None),
]
BULK_DENSITY, DEPTH = 1300.0, 0.1


def write_obs(path, fields, perturb=None):
    """Observation file with the model's own values (times ``perturb[k]`` where given); returns the values in SI."""
    lines, si = [HEADER], []
    for k, (site, lon, lat, period, months, unit, comp, factor) in enumerate(STATIONS):
        value = model_value(fields, comp, lon % 360.0, lat, months)
        if perturb is not None:
            value *= float(perturb[k])
        si.append(value)
        if factor is None:  # kg m-2 -> kg kg-1 -> ng g-1 (1 kg/kg = 1e9 ng/g)
            shown = value / (BULK_DENSITY * DEPTH) * 1e9
        else:
            shown = value * factor
        lines.append(f"{site},{lon!r},{lat!r},{period},{shown!r},{unit},{comp}\n")
    path.write_text("".join(lines), encoding="utf-8")
    return np.array(si)


def run_eval(model_run, path, out=None):
    return evaluate(model_run, path, out, soil_bulk_density_kg_m3=BULK_DENSITY, soil_depth_m=DEPTH)


def test_model_values_as_observations_give_perfect_statistics(model_run, fields, tmp_path):
    obs = tmp_path / "perfect.csv"
    write_obs(obs, fields)
    ev = run_eval(model_run, obs, tmp_path / "out")
    np.testing.assert_allclose(ev.pairs["modelled"].values, ev.pairs["observed"].values, rtol=1e-12)
    assert set(ev.statistics) == {"air", "deposition", "soil"}
    for comp, s in ev.statistics.items():
        assert s["n"] == {"air": 6, "deposition": 4, "soil": 3}[comp]
        assert abs(s["bias"]) <= 1e-12 * s["mean_observed"]
        assert abs(s["normalised_mean_bias"]) <= 1e-12
        assert s["correlation"] == pytest.approx(1.0, abs=1e-12)
        assert s["fac2"] == 1.0 and s["fac10"] == 1.0


def test_perturbed_observations_give_hand_computed_statistics(model_run, fields, tmp_path):
    """Observed = model / f per station, so M/O = f: FAC2 and FAC10 follow from f alone; NMB, bias and r are
    computed here from their definitions with model values read directly from fields.nc."""
    f_air = [1.0, 3.0, 1 / 3, 20.0, 0.05, 1.5]  # M/O within 2: 1, 1.5; within 10: 1, 3, 1/3, 1.5
    f_dep = [1.5, 1.5, 1.5, 1.5]  # O = M / 1.5 everywhere: NMB = 0.5, r = 1
    f_soil = [1.0, 4.0, 0.25]
    factors = np.array(f_air + f_dep + f_soil)
    obs = tmp_path / "perturbed.csv"
    si = write_obs(obs, fields, perturb=1.0 / factors)
    ev = run_eval(model_run, obs)
    air, dep, soil = ev.statistics["air"], ev.statistics["deposition"], ev.statistics["soil"]
    assert air["fac2"] == pytest.approx(2 / 6) and air["fac10"] == pytest.approx(4 / 6)
    assert dep["fac2"] == 1.0 and dep["fac10"] == 1.0
    assert dep["normalised_mean_bias"] == pytest.approx(0.5, rel=1e-12)
    assert dep["correlation"] == pytest.approx(1.0, abs=1e-12)
    assert soil["fac2"] == pytest.approx(1 / 3) and soil["fac10"] == 1.0
    m_air = si[:6] * factors[:6] * 1e15  # model in pg m-3
    o_air = si[:6] * 1e15
    assert air["bias"] == pytest.approx(np.mean(m_air - o_air), rel=1e-10)
    assert air["normalised_mean_bias"] == pytest.approx(np.sum(m_air - o_air) / np.sum(o_air), rel=1e-10)
    dm, do = m_air - m_air.mean(), o_air - o_air.mean()
    assert air["correlation"] == pytest.approx(np.sum(dm * do) / np.sqrt(np.sum(dm**2) * np.sum(do**2)), rel=1e-10)
    m_dep = si[6:10] * 1.5 * 1e12 * YEAR_S
    assert dep["bias"] == pytest.approx(np.mean(m_dep) / 3.0, rel=1e-10)  # M - M/1.5 = M/3


def test_statistics_by_hand():
    s = statistics(np.array([1.0, 2.0, 3.0, 4.0]), np.array([2.0, 1.0, 4.0, 3.0]))
    # M - O = (-1, 1, -1, 1); deviations (-1.5, -0.5, 0.5, 1.5) and (-0.5, -1.5, 1.5, 0.5): r = 3 / 5
    assert s["bias"] == 0.0 and s["normalised_mean_bias"] == 0.0
    assert s["correlation"] == pytest.approx(0.6, abs=1e-15)
    assert s["fac2"] == 1.0 and s["fac10"] == 1.0  # M/O = 0.5, 2, 0.75, 1.33
    s = statistics(np.array([1.0, 1.0, 1.0, 30.0]), np.array([1.0, 2.0, 3.0, 1.0]))
    # M - O = (0, -1, -2, 29): bias 26/4, NMB 26/7; M/O = 1, 1/2, 1/3, 30
    # deviations (-7.25 x3, 21.75) and (-0.75, 0.25, 1.25, -0.75): cov -21.75, var 630.75 and 2.75
    assert s["bias"] == 6.5 and s["normalised_mean_bias"] == pytest.approx(26 / 7, rel=1e-15)
    assert s["correlation"] == pytest.approx(-21.75 / np.sqrt(630.75 * 2.75), rel=1e-14)
    assert s["fac2"] == 0.5 and s["fac10"] == 0.75
    s = statistics(np.array([0.0, 1.0, 2.0]), np.array([0.0, 0.0, 2.0]))  # O = 0: within only when M = 0
    assert s["fac2"] == pytest.approx(2 / 3) and np.isfinite(s["normalised_mean_bias"])
    assert np.isnan(statistics(np.array([1.0, 1.0]), np.array([1.0, 2.0]))["correlation"])


@pytest.mark.parametrize("text, factor, dims, fraction", [
    ("pg m-3", 1e-15, (1, -3, 0), False),
    ("ng/m3", 1e-12, (1, -3, 0), False),
    ("µg m^-3", 1e-9, (1, -3, 0), False),
    ("ng L-1", 1e-9, (1, -3, 0), False),
    ("ng m-2 yr-1", 1e-12 / YEAR_S, (1, -2, -1), False),
    ("ng/m2/yr", 1e-12 / YEAR_S, (1, -2, -1), False),
    ("ng m**-2 d**-1", 1e-12 / 86400.0, (1, -2, -1), False),
    ("kg m-2 s-1", 1.0, (1, -2, -1), False),
    ("g ha-1 a-1", 1e-3 / 1e4 / YEAR_S, (1, -2, -1), False),
    ("ng g-1", 1e-9, (0, 0, 0), True),
    ("ng/g d.w.", 1e-9, (0, 0, 0), True),
    ("ug/kg", 1e-9, (0, 0, 0), True),
    ("ng cm-2", 1e-8, (1, -2, 0), False),
    ("fg m-3", 1e-18, (1, -3, 0), False),  # dioxins in air
    ("pg/m³", 1e-15, (1, -3, 0), False),
    ("ng m⁻² d⁻¹", 1e-12 / 86400.0, (1, -2, -1), False),
])
def test_units(text, factor, dims, fraction):
    u = parse_unit(text)
    assert u.factor == pytest.approx(factor, rel=1e-14)
    assert u.dims == dims and u.mass_fraction == fraction


@pytest.mark.parametrize("text, match", [
    ("furlong", r"unknown unit symbol 'furlong'"),
    ("Mg m-2", r"unknown unit symbol 'Mg'"),
    ("ng/(m2 s)", r"cannot read '\(m2'"),
    ("", r"empty"),
])
def test_unknown_units(text, match):
    with pytest.raises(ValueError, match=match):
        parse_unit(text)


def bad_file(tmp_path, rows, header=HEADER):
    path = tmp_path / "obs.csv"
    path.write_text("# a comment line\n" + header + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize("rows, header, match", [
    (["A,100,30,2010-01,1.0,pg m-3,air"], "site_id,lon,lat,period,value,compartment\n",
     r"obs.csv: header \(line 2\): missing column\(s\) unit; found .*Fix: name the columns"),
    (["A,100,30,2010-01,1.0,pg m-3"], "site,longitude,latitude,value,unit,compartment\n",
     r"missing column\(s\) time or period"),
    (["A,100,30,2010-01,1.0,ppt,air"], HEADER,
     r"obs.csv: line 3, column 'unit': unknown unit symbol 'ppt'.*Fix: use a mass per volume such as pg m-3"),
    (["A,100,30,2010-01,1.0,pg m-3,deposition"], HEADER,
     r"line 3, column 'unit': 'pg m-3' is not a unit of deposition observations. Fix: use a mass per area and time"),
    (["A,100,30,2010-01,1.0,pg m-3,air", "B,300,30,2010-01,1.0,pg m-3,air"], HEADER,
     r"line 4, columns 'lon', 'lat': station 'B' at lon 300, lat 30 is outside the model domain \(lon 60..180"),
    (["A,100,70,2010-01,1.0,pg m-3,air"], HEADER, r"line 3.*outside the model domain.*lat -15..60"),
    (["A,100,30,2011-01,1.0,pg m-3,air"], HEADER,
     r"line 3, column 'period': 2011-01-01T00:00:00 to 2011-02-01T00:00:00 is not inside the simulated period"),
    (["A,100,30,2010-13,1.0,pg m-3,air"], HEADER, r"line 3, column 'period': '2010-13'"),
    (["A,100,30,2010-01,lots,pg m-3,air"], HEADER, r"line 3, column 'value': 'lots' is not a number"),
    (["A,100,30,2010-01,-2,pg m-3,air"], HEADER, r"line 3, column 'value': negative value"),
    (["A,100,30,2010-01,1.0,pg m-3,water"], HEADER,
     r"line 3, column 'compartment': 'water' is not a compartment. Fix: use one of air, deposition, soil"),
    (["A,100,30,2010-01,1.0,ng g-1,soil"], HEADER,
     r"line 3, column 'unit'.*mass fraction.*Fix: pass --soil-bulk-density KG_M3 and --soil-depth M"),
    (["A,100,30,,1.0,pg m-3,air"], HEADER, r"line 3, column 'time': '': neither a time nor a period"),
    (["A,100,30,2010-02-01/2010-01-01,1.0,pg m-3,air"], HEADER,
     r"line 3, column 'period': '2010-02-01/2010-01-01': the end of the period must be later than its start"),
    (["Beijing, China,116.4,39.9,2010-01,1.0,pg m-3,air"], HEADER,
     r"line 3, column 'lon': 'China' is not a number \(the line has 8 fields, the header 7: quote a value that "
     r"contains a comma, such as \"Beijing, China\"\)"),
    (["A,100,30,2010-01,1.0,pg m-3"], HEADER,
     r"line 3, column 'compartment': '' is not a compartment \(the line has 6 fields, the header 7: a field is missing"),
    ([], "", r"obs.csv: header: the file is empty"),
    ([], HEADER, r"obs.csv: rows: the file has a header but no observations"),
])
def test_bad_observation_files(model_run, tmp_path, rows, header, match):
    with pytest.raises(ObservationError, match=match):
        evaluate(model_run, bad_file(tmp_path, rows, header))


def test_missing_file(model_run, tmp_path):
    with pytest.raises(ObservationError, match=r"nothing.csv: observation file: not found"):
        evaluate(model_run, tmp_path / "nothing.csv")


def test_time_instants_pick_the_containing_period(model_run, fields, tmp_path):
    path = tmp_path / "times.csv"
    path.write_text("station,longitude,latitude,time,value,units,medium\n"
                    "X,102,31,2010-01-15T12:00,1.0,pg m-3,air\n"
                    "Y,102,31,2010-02-01,1.0,pg m-3,air\n"
                    "Z,102,31,2010-03-01,1.0,pg m-3,air\n", encoding="utf-8")
    ev = evaluate(model_run, path)
    expect = [model_value(fields, "air", 102.0, 31.0, [m]) * 1e15 for m in (0, 1, 1)]
    np.testing.assert_allclose(ev.pairs["modelled"].values, expect, rtol=1e-12)


def test_years_months_and_ranges_in_the_time_column_are_periods(model_run, fields, tmp_path):
    """A month in the time column is the month's mean, not the instant of its first second (which picked the first
    output period only: 'date' 2010 was compared with January)."""
    path = tmp_path / "dates.csv"
    path.write_text("station,longitude,latitude,date,value,units,medium\n"
                    "X,102,31,2010-02,1.0,pg m-3,air\n"
                    "Y,102,31,2010-01-20/2010-02-10,1.0,pg m-3,air\n"
                    "Z,102,31,2010,1.0,pg m-3,air\n", encoding="utf-8")
    with pytest.raises(ObservationError, match=r"line 4, column 'time': 2010-01-01T00:00:00 to 2011-01-01T00:00:00 is not"):
        evaluate(model_run, path)
    path.write_text("\n".join(path.read_text().splitlines()[:3]) + "\n", encoding="utf-8")
    ev = evaluate(model_run, path)
    jan, feb = (model_value(fields, "air", 102.0, 31.0, [m]) * 1e15 for m in (0, 1))
    np.testing.assert_allclose(ev.pairs["modelled"].values, [feb, (12 * jan + 9 * feb) / 21], rtol=1e-12)


def test_a_file_not_in_utf8_is_named_with_its_line(model_run, tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes((HEADER + "\"Hà Nội, Việt Nam\",105.8,21.0,2010-01,1.0,pg m-3,air\n").encode("utf-8")
                     .decode("utf-8").replace("ộ", "o").replace("ệ", "e").encode("latin-1"))
    with pytest.raises(ObservationError, match=r"latin1.csv: line 2: byte 0xe0 at column 3 is not UTF-8.*Fix: save "
                       r"it as UTF-8 \('CSV UTF-8'"):
        evaluate(model_run, path)


def test_outputs_and_cli(model_run, fields, tmp_path, cli_main, capsys):
    import matplotlib.image as mpimg

    obs = tmp_path / "obs.csv"
    write_obs(obs, fields, perturb=np.linspace(0.5, 2.0, len(STATIONS)))
    out = tmp_path / "eval"
    code = cli_main(["evaluate", str(model_run), "--observations", str(obs), "--out", str(out),
                     "--soil-bulk-density", str(BULK_DENSITY), "--soil-depth", str(DEPTH)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "air: n = 6, bias =" in printed and "FAC2 =" in printed and "pg m-3" in printed
    assert "soil: n = 3" in printed
    with open(out / "evaluation.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(line for line in fh if not line.startswith("#")))
    assert len(rows) == len(STATIONS) and rows[0]["site_id"] == "A1" and rows[0]["unit"] == "pg m-3"
    assert "bulk density 1300.0 kg m-3" in (out / "evaluation.csv").read_text().splitlines()[0]
    with open(out / "evaluation_statistics.csv", encoding="utf-8") as fh:
        stats = list(csv.DictReader(line for line in fh if not line.startswith("#")))
    assert [s["compartment"] for s in stats] == ["air", "deposition", "soil"]
    img = mpimg.imread(out / "evaluation_scatter.png")
    w, h = FIGURE_SIZE_PX["evaluation"]
    assert img.shape[:2] == (h, w) and float(img[..., :3].std()) > 0.05


def test_cli_error_is_one_line(model_run, tmp_path, cli_main, capsys):
    path = bad_file(tmp_path, ["A,100,30,2010-01,1.0,ng g-1,soil"])
    assert cli_main(["evaluate", str(model_run), "--observations", str(path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--soil-bulk-density" in err


def test_soil_is_compared_per_area_of_soil(tmp_path):
    """A soil sample measures the soil, not the cell: the model's soil burden per cell area is divided by the cell
    fraction the soil covers (the land, from Natural Earth with the synthetic met); a station in a coastal cell gets
    the burden over that fraction, and one in a cell without land is refused."""
    from popstransport.grid import LatLonGrid
    from popstransport.io.regions import land_fraction

    run_dir = run(load_config(None, [*TINY, "met.source=synthetic"]), tmp_path / "run")
    with xr.open_dataset(run_dir / "fields.nc") as f:
        f = f.load()
    land = f["land_area_fraction"].values
    lon_b, lat_b = f["lon_bnds"].values, f["lat_bnds"].values
    grid = LatLonGrid.regional(lon_b[0, 0], lon_b[-1, 1], lat_b[0, 0], lat_b[-1, 1], 5.0)
    np.testing.assert_allclose(land, land_fraction(grid), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(f["soil_area_fraction"].values, land)  # (no fresh water compartment)
    coast = np.argwhere((land > 0.2) & (land < 0.8) & (f["soil_burden"].values[1] > 0))
    ocean = np.argwhere(land == 0)
    assert coast.size and ocean.size
    (j, i), (jo, io) = coast[0], ocean[0]
    lon, lat = lon_b[i].mean(), lat_b[j].mean()
    path = bad_file(tmp_path, [f"S,{lon},{lat},2010-02,1.0,ng m-2,soil"])
    ev = evaluate(run_dir, path)
    per_cell = float(f["soil_burden"].values[1, j, i])
    assert float(ev.pairs["modelled_si"].values[0]) == pytest.approx(per_cell / land[j, i], rel=1e-12)
    path = bad_file(tmp_path, [f"S,{lon_b[io].mean()},{lat_b[jo].mean()},2010-02,1.0,ng m-2,soil"])
    with pytest.raises(ObservationError, match="line 3, columns 'lon', 'lat'.*soil station 'S'.*without soil"):
        evaluate(run_dir, path)


def test_rows_entered_twice_are_named_in_a_warning(tmp_path):
    """A row that repeats an earlier one exactly counts twice in the statistics; the reader says which lines, and
    says nothing of repeated measurements that differ (another value or time)."""
    import warnings

    from popstransport.evaluate import read_observations

    rows = ["A,100,30,2010-01,1.0,pg m-3,air", "A,100,30,2010-01,2.0,pg m-3,air", "A,100,30,2010-02,1.0,pg m-3,air"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(read_observations(bad_file(tmp_path, rows))) == 3
    with pytest.warns(UserWarning, match=r"obs.csv: 2 row\(s\) repeat an earlier row exactly \(lines 3 and 6; 4 and 7\); "
                                         r"each counts in the statistics"):
        assert len(read_observations(bad_file(tmp_path, [*rows, rows[0], rows[1]]))) == 5


def test_skip_unusable_leaves_out_rows_the_run_cannot_be_compared_with(model_run, fields, tmp_path, capsys):
    """A station network's file covers more stations, years and gaps than one run: without skip_unusable the first
    such row stops the evaluation (naming it); with it those rows are left out, listed and counted, and the pairs
    and statistics are those of the usable rows alone."""
    from popstransport.cli import main

    path = tmp_path / "network.csv"
    usable = ["A,100,30,2010-01,1.0,pg m-3,air", "B,120,40,2010-02,2.0,pg m-3,air"]
    path.write_text(HEADER + "\n".join([usable[0], "C,300,30,2010-01,1.0,pg m-3,air", "D,100,30,2011-01,1.0,pg m-3,air",
                                        "E,100,30,2010-01,,pg m-3,air", usable[1], "F,100,30,2010-02,NaN,pg m-3,air"])
                    + "\n")
    with pytest.raises(ObservationError, match="line 5, column 'value': '' is not a number"):
        evaluate(model_run, path)
    with pytest.warns(UserWarning, match=r"network.csv: 4 of 6 rows left out: 1 outside the domain \(line 3\), 1 outside "
                                         r"the simulated period \(line 4\), 2 no value \(lines 5, 7\)"):
        ev = evaluate(model_run, path, tmp_path / "out", skip_unusable=True)
    assert ev.skipped == [(3, "outside the domain"), (4, "outside the simulated period"), (5, "no value"),
                          (7, "no value")]
    assert list(ev.pairs["line"].values) == [2, 6]
    only = tmp_path / "usable.csv"
    only.write_text(HEADER + "\n".join(usable) + "\n")
    reference = evaluate(model_run, only)
    np.testing.assert_array_equal(ev.pairs["modelled"].values, reference.pairs["modelled"].values)
    assert ev.statistics == reference.statistics
    with open(tmp_path / "out" / "evaluation.csv", encoding="utf-8") as fh:
        assert "; 4 rows left out: 1 outside the domain (line 3), 1 outside the simulated period (line 4), 2 no value " \
            "(lines 5, 7)" in fh.readline()
    nothing = tmp_path / "nothing.csv"
    nothing.write_text(HEADER + "C,300,30,2010-01,1.0,pg m-3,air\n")
    with pytest.raises(ObservationError, match=r"rows: no row can be compared with the run: 1 outside the domain"):
        evaluate(model_run, nothing, skip_unusable=True)
    with pytest.warns(UserWarning, match="4 of 6 rows left out"):
        assert main(["evaluate", str(model_run), "--observations", str(path), "--out", str(tmp_path / "cli"),
                     "--skip-unusable"]) == 0
    assert "air: n = 2" in capsys.readouterr().out


def test_the_evaluation_names_the_commit_of_the_code_that_wrote_it(model_run, fields, tmp_path, monkeypatch):
    """The evaluation tables' headers and the pairs' attributes name the commit of the code (every package version
    spans many commits), as a run's outputs do."""
    import popstransport.io.writers as writers

    monkeypatch.setattr(writers, "git_commit", lambda: "0123abc")
    obs = tmp_path / "obs.csv"
    write_obs(obs, fields)
    ev = run_eval(model_run, obs, tmp_path / "out")
    code = "popstransport " + writers.__version__ + " (git 0123abc)"
    assert ev.pairs.attrs["source"] == code and ev.pairs.attrs["popstransport_git_commit"] == "0123abc"
    assert (tmp_path / "out" / "evaluation.csv").read_text().startswith(f"# {code} evaluation of {model_run} against")
    assert (tmp_path / "out" / "evaluation_statistics.csv").read_text().startswith(f"# {code} evaluation statistics")
