"""Readers on the real sample files in ../shared/data/met (skipped when the folder is absent):
ERA-Interim u, v, z at 200/500/850 hPa (January, July), MPI-ESM-LR CMIP5 monthly uas/vas/tas of 2005, the NCEP
June climatology on 17 pressure levels, and NCAR's 1-degree land-sea mask."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from popstransport.grid import LatLonGrid
from popstransport.io.errors import InputError
from popstransport.io.met import SyntheticClimatology, open_met
from popstransport.io.regions import land_fraction

MET_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "met"
pytestmark = pytest.mark.skipif(not MET_DIR.is_dir(), reason="../shared/data/met is not present")

GRID = LatLonGrid.regional(60.0, 180.0, -15.0, 60.0, 1.0)


def _corr(a, b, lat):
    w = np.broadcast_to(np.cos(np.deg2rad(lat))[:, None], a.shape)
    a = a - np.average(a, weights=w)
    b = b - np.average(b, weights=w)
    return float(np.sum(w * a * b) / np.sqrt(np.sum(w * a * a) * np.sum(w * b * b)))


def _open(spec, **kw):
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        met = open_met(spec, GRID, **kw)
    return met, [str(r.message) for r in rec]


@pytest.fixture(scope="module")
def eraint():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return open_met(MET_DIR / "eraint_uvz.nc", GRID)


def test_era_interim_pressure_levels_monthly_climatology(eraint):
    assert eraint.wind_mode == "levels" and eraint.temperature_mode == "thickness"
    assert eraint.vars["eastward_wind"].record_times.rule == "cyclic"  # 'month' dimension: January and July
    jan = eraint.fields_at(np.datetime64("2010-01-16T12"))
    jul = eraint.fields_at(np.datetime64("2010-07-16T12"))
    lat, lon = GRID.lat_deg, GRID.lon_deg
    box = np.ix_((lat > 5) & (lat < 20), (lon > 60) & (lon < 100))
    assert jan["eastward_wind_m_s"][0][box].mean() < 0 < 5 < jul["eastward_wind_m_s"][0][box].mean()  # monsoon
    # temperatures from the hydrostatic thickness (virtual temperature: a few K above T in humid air)
    t = jul["air_temperature_k"]
    assert 280 < t[0].mean() < 305 and 240 < t[1].mean() < 275
    # April lies between the two records (cyclic linear interpolation)
    apr = eraint.fields_at(np.datetime64("2010-04-16T12"))["eastward_wind_m_s"]
    lo = np.minimum(jan["eastward_wind_m_s"], jul["eastward_wind_m_s"]) - 1e-9
    hi = np.maximum(jan["eastward_wind_m_s"], jul["eastward_wind_m_s"]) + 1e-9
    assert np.all((apr >= lo) & (apr <= hi))
    eraint.check_covers(np.datetime64("1990-01-01"), np.datetime64("2100-01-01"))


def test_era_interim_layer_winds_against_synthetic(eraint):
    """The synthetic climatology's lowest-layer winds also resemble ERA-Interim's (informative, looser bound)."""
    clim = SyntheticClimatology(GRID)
    for date in ("2010-01-16T12", "2010-07-16T12"):
        era = eraint.fields_at(np.datetime64(date))
        syn = clim.fields_at(np.datetime64(date))
        for name in ("eastward_wind_m_s", "northward_wind_m_s"):
            r = _corr(syn[name][0], era[name][0], GRID.lat_deg)
            assert r > 0.45, (date, name, r)


def test_cmip5_monthly_near_surface_files():
    files = [MET_DIR / f"{v}_rectilinear_grid_2D.nc" for v in ("uas", "vas", "tas")]
    met, msgs = _open(files)
    assert met.kind == "cmip" and met.wind_mode == "10m"
    assert any("power-law profile" in m for m in msgs) and any("synthetic climatology" in m for m in msgs)
    # monthly means with time bounds are valid at mid-month
    assert str(met.times[0]) == "2005-01-16T12:00:00" and str(met.times[6]) == "2005-07-16T12:00:00"
    f = met.fields_at(met.times[6])
    import xarray as xr

    from popstransport.io.regrid import Bilinear, SourceGrid

    ds = xr.open_dataset(files[2])
    tas = Bilinear(SourceGrid.from_coords(ds.lon.values, ds.lat.values), GRID)(ds.tas.values[6])
    np.testing.assert_allclose(f["surface_temperature_k"], tas, rtol=1e-12)
    lat = GRID.lat_deg
    assert f["surface_temperature_k"][lat > 50].mean() > f["surface_temperature_k"][lat > 50].min() > 270  # July
    # layer winds follow the 1/7 power law: the upper layer is faster by the same factor everywhere
    u = f["eastward_wind_m_s"]
    assert np.all(np.abs(u[1]) >= np.abs(u[0]) - 1e-12)
    met.check_covers(met.times[0], met.times[-1])
    with pytest.raises(InputError, match="records cover 2005-01-16T12:00:00..2005-12-16T12:00:00 but the run needs"):
        met.check_covers(np.datetime64("2005-01-01"), np.datetime64("2005-06-01"))


def test_ncep_june_climatology_single_record():
    with pytest.raises(InputError, match="met.time_rule = 'clamped'"):
        open_met(MET_DIR / "NCEP_06_climo.nc", GRID)
    met, _ = _open(MET_DIR / "NCEP_06_climo.nc", time_rule="clamped")
    assert met.vars["eastward_wind"].name == "U" and met.vars["surface_pressure"].name == "PS"
    f = met.fields_at(np.datetime64("2005-06-15"))
    assert 45_000 < f["surface_pressure_pa"].min() < 70_000 < 101_000 < f["surface_pressure_pa"].max() < 105_000
    # over Tibet the lowest layer sits above the high ground (surface pressure from the file), not below it
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        era = open_met(MET_DIR / "eraint_uvz.nc", GRID).fields_at(np.datetime64("2005-07-16T12"))
    r = _corr(f["eastward_wind_m_s"][0], era["eastward_wind_m_s"][0], GRID.lat_deg)
    assert r > 0.75, r  # June (NCEP) and July (ERA-Interim) low-level winds agree


def test_land_sea_mask_file_against_natural_earth():
    met, _ = _open([MET_DIR / "eraint_uvz.nc", MET_DIR / "landsea.nc"])
    assert met.land_mode == "file" and met.vars["land_fraction"].name == "LSMASK"
    lf = met.fields_at(np.datetime64("2005-07-16"))["land_fraction"]
    ne = land_fraction(GRID)
    w = GRID.cell_area_m2
    mean_abs = float(np.sum(np.abs(lf - ne) * w) / w.sum())
    print("land fraction, NCAR mask vs Natural Earth: mean |diff|", mean_abs, "corr", _corr(lf, ne, GRID.lat_deg))
    assert mean_abs < 0.06 and _corr(lf, ne, GRID.lat_deg) > 0.9
    assert abs(np.sum(lf * w) / np.sum(ne * w) - 1) < 0.05  # land area within 5 %


def test_single_record_climatology_runs_from_the_configuration(tmp_path):
    """The June climatology's single record is usable from a configuration (met.time_rule = 'clamped')."""
    from popstransport.config import ConfigError, load_config
    from popstransport.run import build_met

    src = MET_DIR / "NCEP_06_climo.nc"
    cfg = load_config(None, ["domain.resolution_deg=5", f"met.source='{src}'", "met.time_rule=clamped"])
    met = build_met(cfg, LatLonGrid.regional(60.0, 180.0, -15.0, 60.0, 5.0))
    assert np.all(np.isfinite(met.fields_at(np.datetime64("2010-01-10"))["eastward_wind_m_s"]))
    with pytest.raises(ConfigError, match=r"met.time_rule = 'weekly': allowed values"):
        load_config(None, ["met.time_rule=weekly"])


def test_era_interim_on_a_zonal_band_equals_the_global_grid_on_its_rows():
    """Met read onto a zonal band (a regional grid of 360 degrees, 20..80 N) is the met of a global grid on the band's
    rows, across the band's seam at 180 E too (periodic interpolation in longitude)."""
    band, glob = LatLonGrid.regional(-180, 180, 20, 80, 10.0), LatLonGrid.global_grid(10.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        on_band = open_met(MET_DIR / "eraint_uvz.nc", band).fields_at(np.datetime64("2010-01-16T12"))
        on_glob = open_met(MET_DIR / "eraint_uvz.nc", glob).fields_at(np.datetime64("2010-01-16T12"))
    assert set(on_band) == set(on_glob) and "eastward_wind_m_s" in on_band
    for name, value in on_band.items():
        g = np.asarray(on_glob[name])
        rows = g[..., 11:17, :] if g.ndim >= 2 and g.shape[-2:] == glob.shape else g
        np.testing.assert_allclose(value, rows, rtol=1e-12, atol=1e-12 * max(np.abs(rows).max(), 1e-300), err_msg=name)
