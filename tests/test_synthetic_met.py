"""The built-in synthetic monthly climatology: shapes, plausibility, time rule, and pattern correlation with
ERA-Interim at 850 hPa over the default domain (when ../shared/data/met is present)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from popstransport.grid import AirLayers, LatLonGrid
from popstransport.io.met import MetSource, SyntheticClimatology, open_met
from popstransport.io.met.synthetic import SYNTHETIC_FIELDS
from popstransport.processes.base import FORCING_FIELDS

MET_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "met"
DEFAULT_DOMAIN = (60.0, 180.0, -15.0, 60.0)


@pytest.fixture(scope="module")
def domain_grid() -> LatLonGrid:
    return LatLonGrid.regional(*DEFAULT_DOMAIN, 1.0)


@pytest.fixture(scope="module")
def clim(domain_grid) -> SyntheticClimatology:
    return SyntheticClimatology(domain_grid)


def test_provides_every_forcing_field_but_oh(clim, domain_grid):
    f = clim.fields_at(np.datetime64("2005-03-10T06:00"))
    assert set(f) == set(FORCING_FIELDS) - {"oh_concentration_molec_cm3"} == set(SYNTHETIC_FIELDS)
    L, J, I = domain_grid.nlayer, domain_grid.nlat, domain_grid.nlon
    for name, a in f.items():
        assert a.dtype == np.float64 and a.flags.c_contiguous, name
        assert a.shape == ((L, J, I) if FORCING_FIELDS[name].endswith("(L, J, I)") else (J, I)), name
        assert np.all(np.isfinite(a)), name
    assert isinstance(clim, MetSource)
    assert isinstance(open_met("synthetic", domain_grid), SyntheticClimatology)


def test_values_are_plausible(clim, domain_grid):
    jan = clim.fields_at(np.datetime64("2001-01-16"))
    jul = clim.fields_at(np.datetime64("2001-07-16"))
    for f in (jan, jul):
        assert np.all(np.abs(f["eastward_wind_m_s"]) < 40) and np.all(np.abs(f["northward_wind_m_s"]) < 25)
        assert 200 < f["air_temperature_k"].min() and f["air_temperature_k"].max() < 320
        assert 0 < f["precipitation_m_s"].min() and f["precipitation_m_s"].max() < 40e-3 / 86400
        assert 100 <= f["boundary_layer_height_m"].min() and f["boundary_layer_height_m"].max() <= 2500
        assert np.all((f["land_fraction"] >= 0) & (f["land_fraction"] <= 1))
        # temperature falls with height in every column
        assert np.all(np.diff(f["air_temperature_k"], axis=0) < 0)
    lat = domain_grid.lat_deg
    j = np.argmin(np.abs(lat - 50.5))
    land = jan["land_fraction"][j] > 0.9
    # Siberian winter is cold, its summer warm; the tropics are warm all year
    assert jan["surface_temperature_k"][j, land].mean() < 260 < 280 < jul["surface_temperature_k"][j, land].mean()
    assert jan["surface_temperature_k"][np.argmin(np.abs(lat - 0.5))].min() > 295
    # the rain belt migrates north with the northern summer (rain-weighted mean latitude)
    w = np.cos(np.deg2rad(lat))[:, None]
    mean_lat = [np.sum(f["precipitation_m_s"] * w * lat[:, None]) / np.sum(f["precipitation_m_s"] * w) for f in (jan, jul)]
    assert mean_lat[1] > mean_lat[0] + 5


def test_monsoon_reversal_and_circulation_features(clim, domain_grid):
    lon, lat = domain_grid.lon_deg, domain_grid.lat_deg
    u_jan, v_jan = clim.wind_at_pressure_m_s(np.datetime64("2001-01-16"), 85_000.0)
    u_jul, v_jul = clim.wind_at_pressure_m_s(np.datetime64("2001-07-16"), 85_000.0)
    box = np.ix_((lat > 5) & (lat < 20), (lon > 60) & (lon < 100))  # Arabian Sea - Bay of Bengal
    assert u_jan[box].mean() < 0 < 5 < u_jul[box].mean()  # NE monsoon in winter, SW monsoon in summer
    ea = np.ix_((lat > 25) & (lat < 45), (lon > 110) & (lon < 130))  # East China
    assert v_jan[ea].mean() < -2 and v_jul[ea].mean() > 1
    trades = np.ix_((lat > 8) & (lat < 18), (lon > 150))  # Pacific trades
    westerlies = np.ix_((lat > 35) & (lat < 45), (lon > 140))
    assert u_jan[trades].mean() < -3 and u_jan[westerlies].mean() > 5


def test_global_grid_and_any_date():
    g = LatLonGrid.global_grid(10.0, layers=AirLayers((0.0, 500.0, 2000.0, 12000.0)))
    clim = SyntheticClimatology(g, land_fraction=np.zeros(g.shape))
    f = clim.fields_at(np.datetime64("1850-02-28T13:00"))
    assert f["eastward_wind_m_s"].shape == (3, 18, 36)
    area = g.cell_area_m2
    p = [np.sum(clim.monthly_fields(m)["precipitation_m_s"] * area) / area.sum() * 86400e3 for m in (1, 7)]
    assert all(2.0 < x < 3.5 for x in p)  # mm/day, observed 2.7
    ts = np.sum(f["surface_temperature_k"] * area) / area.sum()
    assert 280 < ts < 295


def test_monthly_records_interpolate_linearly_and_cyclically(clim):
    mid_jan = clim.fields_at(np.datetime64("2003-01-16T12:00"))
    mid_dec = clim.fields_at(np.datetime64("2002-12-16T12:00"))
    new_year = clim.fields_at(np.datetime64("2003-01-01T00:00"))
    for name in ("surface_temperature_k", "eastward_wind_m_s"):
        a, b, c = mid_dec[name], mid_jan[name], new_year[name]
        np.testing.assert_allclose(c, 0.5 * (a + b), rtol=0, atol=1e-9 + 0.03 * np.abs(a - b).max())
        assert np.all(np.minimum(a, b) - 1e-9 <= c) and np.all(c <= np.maximum(a, b) + 1e-9)
    np.testing.assert_array_equal(mid_jan["eastward_wind_m_s"], clim.monthly_fields(1)["eastward_wind_m_s"])
    # same position in another year gives the same fields; the key changes with the bracketing records
    again = clim.fields_at(np.datetime64("1999-01-16T12:00"))
    np.testing.assert_array_equal(again["precipitation_m_s"], mid_jan["precipitation_m_s"])
    k = [clim.record_key(np.datetime64(t)) for t in ("2003-01-02", "2003-01-10", "2003-01-20", "2004-01-20")]
    assert k[0] == k[1] != k[2] != k[3]
    clim.check_covers(np.datetime64("1900-01-01"), np.datetime64("2100-01-01"))


def _pattern_correlation(a: np.ndarray, b: np.ndarray, lat_deg: np.ndarray) -> float:
    """Centred pattern correlation with cos(latitude) area weights."""
    w = np.broadcast_to(np.cos(np.deg2rad(lat_deg))[:, None], a.shape)
    a = a - np.average(a, weights=w)
    b = b - np.average(b, weights=w)
    return float(np.sum(w * a * b) / np.sqrt(np.sum(w * a * a) * np.sum(w * b * b)))


@pytest.mark.skipif(not (MET_DIR / "eraint_uvz.nc").is_file(), reason="../shared/data/met/eraint_uvz.nc is absent")
def test_850hpa_winds_correlate_with_era_interim(clim, domain_grid):
    xr = pytest.importorskip("xarray")
    from popstransport.io.regrid import Bilinear, SourceGrid

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = xr.open_dataset(MET_DIR / "eraint_uvz.nc")
    src = SourceGrid.from_coords(ds.longitude.values, ds.latitude.values)
    bil = Bilinear(src, domain_grid)
    results = {}
    for month, date in ((1, "2001-01-16T12:00"), (7, "2001-07-16T12:00")):
        u, v = clim.wind_at_pressure_m_s(np.datetime64(date), 85_000.0)
        era = ds.sel(month=month, level=850)
        results[month] = (
            _pattern_correlation(u, bil(era["u"].values), domain_grid.lat_deg),
            _pattern_correlation(v, bil(era["v"].values), domain_grid.lat_deg),
        )
    print("pattern correlation with ERA-Interim 850 hPa (u, v):", results)
    for month, (ru, rv) in results.items():
        assert ru >= 0.6 and rv >= 0.6, (month, ru, rv)
