"""Meteorology readers on small files written here in every supported layout, and the errors for bad inputs.

Fields are analytic (linear in latitude and in ln p), so that the expected layer means on the model grid are known
exactly: u = A + B ln(p / 1 Pa) + C lat, v = D lat, T = 288 - 0.01 (1000 hPa - p in hPa) ...
"""

from __future__ import annotations

import re
import warnings

import cftime
import numpy as np
import pytest
import xarray as xr

from popstransport.grid import LatLonGrid
from popstransport.io.errors import InputError
from popstransport.io.met import open_met
from popstransport.io.met.readers import FileMet, detect_kind, interpolate_to_pressures, wind_profile_factors
from popstransport.io.met.synthetic import _layer_samples

A, B, C, D = -40.0, 4.0, 0.1, -0.05
GRID = LatLonGrid.regional(60.0, 180.0, -15.0, 60.0, 5.0)
LEVELS_HPA = np.array([1000.0, 925.0, 850.0, 700.0, 500.0, 300.0, 200.0, 100.0])


def u_field(p_pa, lat):
    return A + B * np.log(p_pa) + C * lat


def v_field(lat):
    return D * lat + 0.0 * lat


def t_field(p_pa):
    return 200.0 + 10.0 * np.log(p_pa / 100.0) + 0.0 * p_pa


def expected_layer_u(grid: LatLonGrid, ps_pa: float = 100_000.0, p_range=(10_000.0, 100_000.0)) -> np.ndarray:
    """Layer means of u for the sampling used by the readers (pressure p = ps exp(-z / 8 km)); outside the levels'
    pressure range the end level's value holds."""
    out = np.zeros((grid.nlayer, grid.nlat, grid.nlon))
    for k, (z, w) in enumerate(_layer_samples(grid.layers.edges_m)):
        lnp = np.clip(np.log(ps_pa) - z / 8000.0, np.log(p_range[0]), np.log(p_range[1]))
        out[k] = A + B * np.sum(w * lnp) + C * grid.lat_deg[:, None]
    return out


def _coords(lat_desc: bool, lon_180: bool, step: float = 2.5):
    lat = np.arange(90.0, -90.0 - 1e-9, -step) if lat_desc else np.arange(-90.0, 90.0 + 1e-9, step)
    lon = np.arange(-180.0, 180.0, step) if lon_180 else np.arange(0.0, 360.0, step)
    return lat, lon


def _pressure_level_fields(times, lat, lon, levels_hpa):
    p = levels_hpa[None, :, None, None] * 100.0
    la = lat[None, None, :, None]
    shape = (len(times), len(levels_hpa), len(lat), len(lon))
    u = np.broadcast_to(u_field(p, la), shape).astype(np.float64)
    v = np.broadcast_to(v_field(la), shape).astype(np.float64)
    t = np.broadcast_to(t_field(p), shape).astype(np.float64)
    return u, v, t


def write_era5_old(tmp_path, times):
    """ERA5 as the old CDS delivered it: time, level (millibars), latitude descending, longitude 0..360, int16."""
    lat, lon = _coords(lat_desc=True, lon_180=False)
    u, v, t = _pressure_level_fields(times, lat, lon, LEVELS_HPA)
    hours = (times - np.datetime64("1900-01-01T00:00")).astype("timedelta64[h]").astype(np.int32)
    coords = {
        "longitude": ("longitude", lon.astype(np.float32), {"units": "degrees_east", "long_name": "longitude"}),
        "latitude": ("latitude", lat.astype(np.float32), {"units": "degrees_north", "long_name": "latitude"}),
        "level": ("level", LEVELS_HPA.astype(np.int32), {"units": "millibars", "long_name": "pressure_level"}),
        "time": ("time", hours, {"units": "hours since 1900-01-01 00:00:00.0", "calendar": "gregorian"}),
    }
    dims = ("time", "level", "latitude", "longitude")
    pl = xr.Dataset(
        {
            "u": (dims, u, {"units": "m s**-1", "long_name": "U component of wind", "standard_name": "eastward_wind"}),
            "v": (dims, v, {"units": "m s**-1", "long_name": "V component of wind", "standard_name": "northward_wind"}),
            "t": (dims, t, {"units": "K", "long_name": "Temperature", "standard_name": "air_temperature"}),
        },
        coords=coords,
        attrs={"Conventions": "CF-1.6", "history": "grib_to_netcdf from MARS (ECMWF)"},
    )
    enc = {}
    for name in ("u", "v", "t"):
        a = pl[name].values
        lo, hi = float(a.min()), float(a.max())
        scale = (hi - lo) / 65000.0 or 1.0
        enc[name] = {"dtype": "int16", "scale_factor": scale, "add_offset": (hi + lo) / 2, "_FillValue": -32767}
    f1 = tmp_path / "era5_old_pl.nc"
    pl.to_netcdf(f1, format="NETCDF3_64BIT", encoding=enc)
    c2 = {k: coords[k] for k in ("longitude", "latitude", "time")}
    dims2 = ("time", "latitude", "longitude")
    shape2 = (len(times), lat.size, lon.size)
    la = lat[None, :, None]
    sl = xr.Dataset(
        {
            "sp": (dims2, np.full(shape2, 100_000.0), {"units": "Pa", "standard_name": "surface_air_pressure"}),
            "t2m": (dims2, np.broadcast_to(290.0 - 0.2 * np.abs(la), shape2).copy(), {"units": "K"}),
            "tp": (dims2, np.full(shape2, 3.6e-4), {"units": "m", "long_name": "Total precipitation"}),
            "blh": (dims2, np.full(shape2, 800.0), {"units": "m", "long_name": "Boundary layer height"}),
            "lsm": (dims2, np.broadcast_to((la > 0).astype(float), shape2).copy(),
                    {"units": "(0 - 1)", "standard_name": "land_binary_mask"}),
        },
        coords=c2,
    )
    f2 = tmp_path / "era5_old_sl.nc"
    sl.to_netcdf(f2, format="NETCDF3_64BIT")
    return [f1, f2]


def write_era5_new(tmp_path, times):
    """ERA5 as the current CDS delivers it: valid_time, pressure_level (hPa), longitude -180..180, number/expver."""
    lat, lon = _coords(lat_desc=True, lon_180=True)
    u, v, t = _pressure_level_fields(times, lat, lon, LEVELS_HPA)
    secs = (times - np.datetime64("1970-01-01T00:00")).astype("timedelta64[s]").astype(np.int64)
    coords = {
        "valid_time": ("valid_time", secs, {"units": "seconds since 1970-01-01", "calendar": "proleptic_gregorian"}),
        "pressure_level": ("pressure_level", LEVELS_HPA, {"units": "hPa"}),
        "latitude": ("latitude", lat, {"units": "degrees_north"}),
        "longitude": ("longitude", lon, {"units": "degrees_east"}),
        "number": ((), 0),
        "expver": ("valid_time", np.array(["0001"] * len(times))),
    }
    dims = ("valid_time", "pressure_level", "latitude", "longitude")
    ds = xr.Dataset(
        {
            "u": (dims, u.astype(np.float32), {"units": "m s**-1", "standard_name": "eastward_wind"}),
            "v": (dims, v.astype(np.float32), {"units": "m s**-1", "standard_name": "northward_wind"}),
            "t": (dims, t.astype(np.float32), {"units": "K", "standard_name": "air_temperature"}),
        },
        coords=coords,
        attrs={"GRIB_centre": "ecmf", "institution": "European Centre for Medium-Range Weather Forecasts"},
    )
    f = tmp_path / "era5_new.nc"
    ds.to_netcdf(f, engine="netcdf4")
    return f


def write_merra2(tmp_path, times, fill_below_ground: bool = True):
    """MERRA-2 M2I3NPASM-like: lev in hPa from 1000 upwards, lat/lon ascending -180..180, 1e15 fill values."""
    lat, lon = _coords(lat_desc=False, lon_180=True)
    u, v, t = _pressure_level_fields(times, lat, lon, LEVELS_HPA)
    u, v, t = u.copy(), v.copy(), t.copy()
    shape2 = (len(times), lat.size, lon.size)
    ps = np.full(shape2, 100_000.0)
    if fill_below_ground:
        ps[:, :4, :] = 65_000.0  # the Antarctic plateau near the south pole
        for a in (u, v, t):
            a[:, LEVELS_HPA * 100.0 > 65_000.0, :4, :] = 1e15  # 1000..700 hPa are below its ground
    mins = ((times - times[0]).astype("timedelta64[m]")).astype(np.int64)
    coords = {
        "time": ("time", mins, {"units": f"minutes since {str(times[0]).replace('T', ' ')}"}),
        "lev": ("lev", LEVELS_HPA, {"units": "hPa", "positive": "down"}),
        "lat": ("lat", lat, {"units": "degrees_north"}),
        "lon": ("lon", lon, {"units": "degrees_east"}),
    }
    dims = ("time", "lev", "lat", "lon")
    dims2 = ("time", "lat", "lon")
    ds = xr.Dataset(
        {
            "U": (dims, u.astype(np.float32), {"units": "m s-1", "_FillValue": np.float32(1e15)}),
            "V": (dims, v.astype(np.float32), {"units": "m s-1", "_FillValue": np.float32(1e15)}),
            "T": (dims, t.astype(np.float32), {"units": "K", "_FillValue": np.float32(1e15)}),
            "PS": (dims2, ps.astype(np.float32), {"units": "Pa"}),
            "PRECTOT": (dims2, np.full(shape2, 2e-5, np.float32), {"units": "kg m-2 s-1"}),
            "PBLH": (dims2, np.full(shape2, 650.0, np.float32), {"units": "m"}),
        },
        coords=coords,
        attrs={"Title": "MERRA2 inst3_3d_asm_Np", "GranuleID": "MERRA2_400.inst3_3d_asm_Np.20050101.nc4"},
    )
    for n in ("U", "V", "T"):
        ds[n].encoding["_FillValue"] = np.float32(1e15)
        del ds[n].attrs["_FillValue"]
    f = tmp_path / "merra2.nc4"
    ds.to_netcdf(f)
    return f


def write_cmip(tmp_path, calendar: str = "360_day"):
    """CMIP-style monthly uas, vas, tas, pr in separate files, time bounds, a non-Gregorian calendar; sftlf in %."""
    lat = np.arange(-88.75, 90.0, 2.5)
    lon = np.arange(1.25, 360.0, 2.5)
    n = 12
    days = 30 if calendar == "360_day" else None
    if days:
        bnds = np.stack([np.arange(n) * 30.0, np.arange(1, n + 1) * 30.0], axis=1)
    else:
        edges = np.concatenate([[0], np.cumsum([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])]).astype(float)
        bnds = np.stack([edges[:-1], edges[1:]], axis=1)
    tm = bnds.mean(axis=1)
    tunits = "days since 2005-01-01 00:00:00"
    files = []
    la = lat[None, :, None]
    month = np.arange(1, n + 1)[:, None, None]
    fields = {
        "uas": (np.broadcast_to(3.0 + 0.0 * la + 0.0 * month, (n, lat.size, lon.size)), "m s-1", "eastward_wind"),
        "vas": (np.broadcast_to(-2.0 + 0.0 * la + 0.0 * month, (n, lat.size, lon.size)), "m s-1", "northward_wind"),
        "tas": (np.broadcast_to(280.0 + month + 0.0 * la, (n, lat.size, lon.size)), "K", "air_temperature"),
        "pr": (np.broadcast_to(1e-5 * month + 0.0 * la, (n, lat.size, lon.size)), "kg m-2 s-1", "precipitation_flux"),
    }
    for name, (data, units, std) in fields.items():
        ds = xr.Dataset(
            {
                name: (("time", "lat", "lon"), data.astype(np.float32), {"units": units, "standard_name": std}),
                "time_bnds": (("time", "bnds"), bnds),
            },
            coords={
                "time": ("time", tm, {"units": tunits, "calendar": calendar, "bounds": "time_bnds"}),
                "lat": ("lat", lat, {"units": "degrees_north", "standard_name": "latitude"}),
                "lon": ("lon", lon, {"units": "degrees_east", "standard_name": "longitude"}),
            },
            attrs={"project_id": "CMIP5", "experiment_id": "historical"},
        )
        ds["height"] = ((), 10.0 if name != "tas" else 2.0, {"units": "m"})
        f = tmp_path / f"{name}_Amon_test_{calendar}.nc"
        ds.to_netcdf(f)
        files.append(f)
    lf = xr.Dataset(
        {"sftlf": (("lat", "lon"), np.where(lat[:, None] > 0, 100.0, 0.0) + 0.0 * lon, {"units": "%"})},
        coords={"lat": ("lat", lat, {"units": "degrees_north"}), "lon": ("lon", lon, {"units": "degrees_east"})},
    )
    f = tmp_path / "sftlf_fx_test.nc"
    lf.to_netcdf(f)
    files.append(f)
    return files


def write_generic_cf_hybrid(tmp_path):
    """Generic CF: odd variable names found by standard_name, hybrid sigma-pressure levels, a monthly climatology."""
    lat = np.arange(-89.0, 90.0, 2.0)
    lon = np.arange(0.0, 360.0, 2.0)
    hyam = np.array([0.0, 5000.0, 20000.0, 15000.0, 5000.0])  # Pa
    hybm = np.array([0.98, 0.85, 0.5, 0.15, 0.0])
    ps = 98_000.0
    p = hyam + hybm * ps
    month = np.arange(12)
    la = lat[None, None, :, None]
    pp = p[None, :, None, None]
    shape = (12, p.size, lat.size, lon.size)
    u = np.broadcast_to(u_field(pp, la), shape)
    ds = xr.Dataset(
        {
            "zonal": (("time", "lev", "lat", "lon"), u, {"units": "m/s", "standard_name": "eastward_wind"}),
            "merid": (("time", "lev", "lat", "lon"), np.broadcast_to(v_field(la), shape),
                      {"units": "m/s", "standard_name": "northward_wind"}),
            "psurf": (("time", "lat", "lon"), np.full((12, lat.size, lon.size), ps),
                      {"units": "hPa" if False else "Pa", "standard_name": "surface_air_pressure"}),
            "rain": (("time", "lat", "lon"), np.broadcast_to((1.0 + month)[:, None, None], (12, lat.size, lon.size)),
                     {"units": "mm/day", "standard_name": "lwe_precipitation_rate"}),
            "hyam": (("lev",), hyam, {"units": "Pa"}),
            "hybm": (("lev",), hybm, {"units": "1"}),
            "clim_bnds": (("time", "nv"), np.stack([month * 30.4, (month + 1) * 30.4], axis=1)),
        },
        coords={
            "time": ("time", month * 30.4 + 15.2, {"units": "days since 2001-01-01", "calendar": "standard",
                                                  "climatology": "clim_bnds"}),
            "lev": ("lev", np.arange(p.size, dtype=float), {
                "standard_name": "atmosphere_hybrid_sigma_pressure_coordinate",
                "formula_terms": "ap: hyam b: hybm ps: psurf", "positive": "down"}),
            "lat": ("lat", lat, {"units": "degrees_north"}),
            "lon": ("lon", lon, {"units": "degrees_east"}),
        },
    )
    f = tmp_path / "generic_cf.nc"
    ds.to_netcdf(f)
    return f, p


def _open(spec, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return open_met(spec, GRID, **kw)


HOURS = np.array(["2005-01-01T00", "2005-01-01T01", "2005-01-01T02", "2005-01-01T03"], dtype="datetime64[s]")


# ----------------------------------------------------------------------------------------------------------------
# layouts
# ----------------------------------------------------------------------------------------------------------------
def test_era5_old_layout_packed_int16(tmp_path):
    files = write_era5_old(tmp_path, HOURS)
    met = _open(files)
    assert isinstance(met, FileMet) and met.kind == "era5" and met.wind_mode == "levels"
    f = met.fields_at(np.datetime64("2005-01-01T01:30"))
    np.testing.assert_allclose(f["eastward_wind_m_s"], expected_layer_u(GRID), atol=5e-3)
    np.testing.assert_allclose(f["northward_wind_m_s"][0], D * GRID.lat_deg[:, None] + 0 * GRID.lon_deg, atol=2e-3)
    np.testing.assert_allclose(f["precipitation_m_s"], 3.6e-4 / 3600.0, rtol=1e-12)  # m per hour -> m s-1
    np.testing.assert_allclose(f["surface_pressure_pa"], 100_000.0)
    np.testing.assert_allclose(f["boundary_layer_height_m"], 800.0)
    lat = GRID.lat_deg
    np.testing.assert_allclose(f["land_fraction"][lat > 3], 1.0)
    np.testing.assert_allclose(f["land_fraction"][lat < -3], 0.0)
    np.testing.assert_allclose(f["surface_temperature_k"], 290.0 - 0.2 * np.abs(lat)[:, None] + 0 * GRID.lon_deg,
                               atol=0.3)
    assert np.all(np.diff(f["air_temperature_k"], axis=0) < 0)
    for a in f.values():
        assert a.dtype == np.float64 and a.flags.c_contiguous


def test_era5_new_layout(tmp_path):
    met = _open(write_era5_new(tmp_path, HOURS))
    assert met.kind == "era5"
    f = met.fields_at(np.datetime64("2005-01-01T02:00"))
    # no surface pressure in the file: layers are placed above the standard 101325 Pa
    np.testing.assert_allclose(f["eastward_wind_m_s"], expected_layer_u(GRID, 101_325.0), atol=1e-4)
    assert "precipitation" in met.from_synthetic


def test_merra2_layout_with_below_ground_fill(tmp_path):
    times = np.array(["2005-01-01T00", "2005-01-01T03"], dtype="datetime64[s]")
    met = _open(write_merra2(tmp_path, times))
    assert met.kind == "merra2"
    f = met.fields_at(np.datetime64("2005-01-01T01:00"))
    np.testing.assert_allclose(f["eastward_wind_m_s"], expected_layer_u(GRID), atol=1e-4)
    np.testing.assert_allclose(f["precipitation_m_s"], 2e-8, rtol=1e-6)  # kg m-2 s-1 -> m s-1
    np.testing.assert_allclose(f["boundary_layer_height_m"], 650.0)
    # a global grid reaches the filled (below-ground) columns: they are filled from the level above
    g = LatLonGrid.global_grid(10.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sub = tmp_path / "global"
        sub.mkdir()
        f = open_met(write_merra2(sub, times), g).fields_at(times[0])
    assert np.all(np.isfinite(f["eastward_wind_m_s"]))


def test_cmip_360_day_calendar_and_10m_profile(tmp_path):
    met = _open(write_cmip(tmp_path, "360_day"))
    assert met.kind == "cmip" and met.wind_mode == "10m"
    # 360-day months map by year fraction: record k is valid at (k + 0.5) / 12 of the year
    frac = (met.times - np.datetime64("2005-01-01")).astype(float) / (365 * 86400)
    np.testing.assert_allclose(frac, (np.arange(12) + 0.5) / 12, atol=1e-5)
    f = met.fields_at(met.times[3])
    prof = wind_profile_factors(GRID.layers.edges_m, f["boundary_layer_height_m"])
    np.testing.assert_allclose(f["eastward_wind_m_s"], 3.0 * prof, rtol=1e-6)
    np.testing.assert_allclose(f["northward_wind_m_s"], -2.0 * prof, rtol=1e-6)
    np.testing.assert_allclose(f["surface_temperature_k"], 284.0, rtol=1e-6)
    np.testing.assert_allclose(f["precipitation_m_s"], 4e-8, rtol=1e-6)
    lat = GRID.lat_deg
    np.testing.assert_allclose(f["land_fraction"][lat > 3], 1.0)  # % -> fraction
    # between mid-April and mid-May the temperature is interpolated linearly
    t = met.times[3] + (met.times[4] - met.times[3]) // 4
    np.testing.assert_allclose(met.fields_at(t)["surface_temperature_k"], 284.25, atol=1e-4)
    # upper layers get the boundary-layer-top wind and the user is told
    assert any("10 m winds" in n for n in met.notes)


def test_cmip_noleap_calendar(tmp_path):
    met = _open(write_cmip(tmp_path, "noleap"))
    assert str(met.times[0]) == "2005-01-16T12:00:00" and str(met.times[1]) == "2005-02-15T00:00:00"


def test_generic_cf_hybrid_levels_and_cyclic_climatology(tmp_path):
    f_path, p = write_generic_cf_hybrid(tmp_path)
    met = _open(f_path)
    assert met.kind == "cf" and met.vars["eastward_wind"].name == "zonal"
    assert met.vars["eastward_wind"].record_times.rule == "cyclic"
    f = met.fields_at(np.datetime64("2031-06-01"))  # any year works for a climatology
    # samples outside the hybrid levels' range hold the end values, so compare inside the covered range only
    exp = expected_layer_u(GRID, 98_000.0, (p.min(), p.max()))
    np.testing.assert_allclose(f["eastward_wind_m_s"], exp, atol=1e-9)
    np.testing.assert_allclose(f["surface_pressure_pa"], 98_000.0)
    # monthly precipitation 1..12 mm/day, cyclic: mid-December -> mid-January crosses the new year
    dec = met.fields_at(np.datetime64("2031-12-16T12"))["precipitation_m_s"]
    new_year = met.fields_at(np.datetime64("2032-01-01T00"))["precipitation_m_s"]
    assert dec.mean() * 86400e3 == pytest.approx(12.0, rel=1e-3)
    assert 1.0 < new_year.mean() * 86400e3 < 12.0


def test_open_dataset_object_and_explicit_variable_names(tmp_path):
    files = write_era5_old(tmp_path, HOURS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = xr.open_dataset(files[0])  # decoded times (datetime64)
        met = open_met(ds, GRID, variables={"eastward_wind": "u", "northward_wind": "v"})
    f = met.fields_at(np.datetime64("2005-01-01T00:30"))
    np.testing.assert_allclose(f["eastward_wind_m_s"], expected_layer_u(GRID, 101_325.0), atol=5e-3)


def test_only_a_window_of_records_is_loaded(tmp_path):
    times = np.arange(np.datetime64("2005-01-01T00"), np.datetime64("2005-01-02T00"), np.timedelta64(1, "h"))
    met = _open(write_era5_new(tmp_path, times.astype("datetime64[s]")))
    t = np.datetime64("2005-01-01T00:30")
    keys = []
    for _ in range(20):
        met.fields_at(t)
        keys.append(met.record_key(t))
        t = t + np.timedelta64(30, "m")
    win = met._windows["winds"]
    assert len(win) <= 3 and win.loads <= 12  # each hourly record is read once, never the whole file
    assert keys[0] != keys[1] == keys[2] != keys[3]  # the bracketing pair changes on the hour


def test_detect_kind():
    assert detect_kind(xr.Dataset({"U10M": (("lat", "lon"), np.zeros((2, 2)))})) == "merra2"
    assert detect_kind(xr.Dataset({"uas": (("lat", "lon"), np.zeros((2, 2)))})) == "cmip"
    assert detect_kind(xr.Dataset({"u10": (("lat", "lon"), np.zeros((2, 2)))})) == "era5"
    assert detect_kind(xr.Dataset({"wind": (("lat", "lon"), np.zeros((2, 2)))})) == "cf"


def test_log_pressure_interpolation_below_and_above():
    vals = np.array([10.0, 20.0, 30.0])[:, None, None] * np.ones((3, 1, 1))
    levels = np.array([100_000.0, 50_000.0, 25_000.0])
    target = np.array([120_000.0, 100_000.0, 70_710.678, 50_000.0, 10_000.0])[:, None, None]
    out = interpolate_to_pressures(vals, levels, target)[:, 0, 0]
    np.testing.assert_allclose(out, [10.0, 10.0, 15.0, 20.0, 30.0], atol=1e-6)
    t = interpolate_to_pressures(np.full((3, 1, 1), 280.0), levels, np.array([[[110_000.0]]]), below="lapse")
    assert t[0, 0, 0] > 280.0  # warmer below the lowest level (lapse rate)


# ----------------------------------------------------------------------------------------------------------------
# bad inputs (each error message names the file, the field and the fix)
# ----------------------------------------------------------------------------------------------------------------
def test_error_missing_winds_lists_found_and_expected(tmp_path):
    ds = xr.Dataset(
        {"temp": (("lat", "lon"), np.zeros((3, 4)), {"units": "K"})},
        coords={"lat": [0.0, 1.0, 2.0], "lon": [0.0, 1.0, 2.0, 3.0]},
    )
    with pytest.raises(InputError, match=r"no eastward and northward wind found.*looked for.*inputs hold temp"):
        open_met(ds, GRID)


def test_error_winds_without_recognised_lat_lon_dimensions_say_so(tmp_path):
    files = write_era5_old(tmp_path, HOURS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = xr.open_dataset(files[0], decode_times=False)
    ds = ds.rename({"latitude": "yy", "longitude": "xx"})
    for c in ("yy", "xx"):
        ds[c].attrs = {}
    # (was "no eastward and northward wind found (looked for ... 'u' ...)" while the inputs held u)
    with pytest.raises(InputError, match=r"winds: variable 'u' \(eastward wind\) has the dimensions \('time', 'level', "
                                         r"'yy', 'xx'\).*no latitude or longitude dimension found.*Fix: rename"):
        open_met(ds, GRID)


@pytest.mark.parametrize("scale, units", [(100.0, "millibars"), (1.0, "Pa")])
def test_error_pressure_levels_in_the_wrong_unit(tmp_path, scale, units):
    files = write_era5_old(tmp_path, HOURS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = xr.open_dataset(files[0], decode_times=False)
    ds = ds.assign_coords(level=("level", ds.level.values * scale, {"units": units}))
    # (Pa values labelled hPa were read as levels far below ground, hPa values labelled Pa as levels above 10 hPa:
    # both ran, on winds and temperatures extrapolated from the wrong levels)
    with pytest.raises(InputError, match=r"vertical coordinate 'level' of 'u': pressure levels .* are not plausible.*"
                                         r"Fix: check the units attribute of the levels"):
        open_met(ds, GRID)


def test_error_curvilinear_grid_and_a_folder_as_the_met_file(tmp_path):
    files = write_era5_old(tmp_path, HOURS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = xr.open_dataset(files[0], decode_times=False)
    la, lo = np.meshgrid(ds.latitude.values, ds.longitude.values, indexing="ij")
    ds = ds.rename({"latitude": "y", "longitude": "x"}).drop_vars(["y", "x"])
    ds = ds.assign_coords(lat=(("y", "x"), la), lon=(("y", "x"), lo))
    # (was "coordinates: need finite longitudes and at least two latitudes. Fix: fix them")
    with pytest.raises(InputError, match=r"variable 'u': its dimension 'y' has no coordinate values \(the file has the "
                                         r"2-D coordinates \['lat', 'lon'\]: a curvilinear grid\).*cdo remapbil"):
        open_met(ds, GRID)
    # (was "file: does not exist")
    with pytest.raises(InputError, match=r"file: is a directory .*not a NetCDF file"):
        open_met(str(tmp_path), GRID)


def test_error_one_wind_of_a_pair_says_to_give_the_other_file(tmp_path):
    """CMIP ships uas and vas in separate files: given the uas file alone, the error says that the eastward wind
    was found and the northward one is missing, and how to give both files (it only said 'no wind found')."""
    ds = xr.Dataset(
        {"uas": (("lat", "lon"), np.zeros((3, 4)), {"units": "m s-1", "standard_name": "eastward_wind"})},
        coords={"lat": [0.0, 1.0, 2.0], "lon": [0.0, 1.0, 2.0, 3.0]},
    )
    with pytest.raises(InputError, match=r"no eastward and northward wind found.*Fix: the 10 m eastward wind was found "
                                         r"\('uas' in .*\) but not the 10 m northward wind: if it is in another file, "
                                         r"give both files \(met\.source takes a glob"):
        open_met(ds, GRID)


def test_error_unknown_unit(tmp_path):
    files = write_era5_old(tmp_path, HOURS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = xr.open_dataset(files[0], decode_times=False)
    ds["u"].attrs["units"] = "furlongs per fortnight"
    with pytest.raises(InputError, match=r"variable 'u' .*unit 'furlongs per fortnight' is not known.*Fix: set"):
        open_met(ds, GRID)


def test_units_of_every_kind_are_converted_to_si(tmp_path):
    """The same ERA5 fields with the winds in knots and in km/h, the temperatures in degrees Celsius, the surface
    pressure in hPa, the land-sea mask in per cent and the boundary-layer height in km: the reader gives the fields
    it reads from the SI file (1 knot = 1852 m per hour; 0 degC = 273.15 K)."""
    files = write_era5_old(tmp_path, HOURS)
    when = np.datetime64("2005-01-01T01:30")
    ref = _open(files).fields_at(when)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pl, sl = (xr.open_dataset(f, decode_times=False).load() for f in files)
    for ds, name, to_unit, units in (
        (pl, "u", lambda x: x / (1852.0 / 3600.0), "knots"),
        (pl, "v", lambda x: x * 3.6, "km/h"),
        (pl, "t", lambda x: x - 273.15, "degC"),
        (sl, "t2m", lambda x: x - 273.15, "degC"),
        (sl, "sp", lambda x: x / 100.0, "hPa"),
        (sl, "lsm", lambda x: x * 100.0, "%"),
        (sl, "blh", lambda x: x / 1000.0, "km"),
    ):
        attrs = dict(ds[name].attrs, units=units)
        ds[name] = to_unit(ds[name].astype(np.float64))
        ds[name].attrs = attrs
    converted = [tmp_path / "units_pl.nc", tmp_path / "units_sl.nc"]
    for ds, f in zip((pl, sl), converted):
        for v in ds.variables.values():
            v.encoding = {}
        ds.to_netcdf(f)
    got = _open(converted).fields_at(when)
    assert got.keys() == ref.keys()
    for key in ref:
        np.testing.assert_allclose(got[key], ref[key], rtol=1e-9, atol=1e-9 * np.abs(ref[key]).max(), err_msg=key)


@pytest.mark.parametrize("units", ["m2 s-2", "m**2 s**-2", "m"])
def test_temperature_from_the_thickness_of_geopotential_in_any_unit(tmp_path, units):
    """Without a temperature on levels the air temperature comes from the hydrostatic thickness of geopotential
    between pressure levels, ``T = g dZ / (R_d ln(p1 / p2))``. An isothermal atmosphere at 250 K, whose geopotential
    is ``R_d T ln(p0 / p)`` (in m2 s-2; divided by g as geopotential height in m), gives 250 K in every layer."""
    from popstransport.constants import DRY_AIR_GAS_CONSTANT_J_KG_K, STANDARD_GRAVITY_M_S2

    ds = xr.open_dataset(write_era5_new(tmp_path, HOURS), decode_times=False).load().drop_vars("t")
    phi = DRY_AIR_GAS_CONSTANT_J_KG_K * 250.0 * np.log(1000.0 / LEVELS_HPA)
    if units == "m":
        phi = phi / STANDARD_GRAVITY_M_S2
    ds["z"] = (ds["u"].dims, np.broadcast_to(phi[None, :, None, None], ds["u"].shape).astype(np.float64),
               {"units": units, "standard_name": "geopotential_height" if units == "m" else "geopotential"})
    met = _open(ds)
    assert met.temperature_mode == "thickness"
    t = met.fields_at(HOURS[0])["air_temperature_k"]
    np.testing.assert_allclose(t[1:], 250.0, rtol=1e-9)
    # the lowest layer reaches below the lowest thickness (1000-925 hPa), where the standard lapse rate warms it a
    # little: 6.5 K/km over a few hundred metres
    assert np.all((t[0] > 250.0) & (t[0] < 252.0))


def test_a_wind_above_150_m_s_is_refused(tmp_path):
    """Winds are checked against 150 m s-1, well above any real wind (the strongest jet-stream cores reach about
    110): a wind of 160 m s-1 means wrong units or fill values."""
    ds = xr.open_dataset(write_era5_new(tmp_path, HOURS), decode_times=False).load()
    ds["u"][0, :, 40, 110] = 140.0  # (every level of a column inside the domain)
    _open(ds).fields_at(HOURS[0])
    ds["u"][0, :, 40, 110] = 160.0
    with pytest.raises(InputError, match=r"reaches 160 m s-1.*more than 150 m s-1"):
        _open(ds).fields_at(HOURS[0])


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_error_nan_or_infinite_winds(tmp_path, bad):
    ds = xr.open_dataset(write_era5_new(tmp_path, HOURS), decode_times=False).load()
    ds["u"][1, :, 40, 110] = bad  # inside the domain (lat -10, lon 95)
    met = _open(ds)
    met.fields_at(HOURS[0])  # the first record is fine
    with pytest.raises(InputError, match=r"variable 'u' \(eastward wind on levels\): 8 of \d+ values in the model "
                                         r"domain are (NaN|infinite) at record 1 .*lat -10, lon 95"):
        met.fields_at(HOURS[1])


def test_error_unmasked_fill_values_in_winds(tmp_path):
    ds = xr.open_dataset(write_era5_new(tmp_path, HOURS), decode_times=False).load()
    ds["v"][:, :, 40, 110] = 9.999e20
    with pytest.raises(InputError, match=r"more than 150 m s-1.*Fix: check the units"):
        _open(ds).fields_at(HOURS[0])


def test_error_grid_does_not_cover_domain(tmp_path):
    ds = xr.open_dataset(write_era5_new(tmp_path, HOURS), decode_times=False)
    part = ds.isel(latitude=slice(0, 30), longitude=slice(0, 60))  # 90N..17.5N, 180W..32.5W
    with pytest.raises(InputError, match=r"does not cover the model domain"):
        _open(part).fields_at(HOURS[0])


def test_error_time_range_does_not_cover_run(tmp_path):
    met = _open(write_era5_new(tmp_path, HOURS))
    met.check_covers(HOURS[0], HOURS[-1])
    with pytest.raises(InputError, match=r"records cover 2005-01-01\.\.2005-01-01T03:00:00 but the run needs"):
        met.check_covers(np.datetime64("2004-12-31T23"), HOURS[-1])
    with pytest.raises(InputError, match=r"but the run needs"):
        met.fields_at(np.datetime64("2005-01-02"))


def test_error_single_record_needs_a_time_rule(tmp_path):
    ds = xr.open_dataset(write_era5_new(tmp_path, HOURS), decode_times=False).isel(valid_time=[0])
    with pytest.raises(InputError, match=r"single record .* cannot be interpolated linearly.*met.time_rule = 'clamped'"):
        _open(ds)
    met = _open(ds, time_rule="clamped")
    assert met.fields_at(np.datetime64("1999-01-01"))["eastward_wind_m_s"].shape == (2, GRID.nlat, GRID.nlon)


def test_error_corrupt_netcdf(tmp_path):
    good = write_era5_new(tmp_path, HOURS)
    bad = tmp_path / "truncated.nc"
    bad.write_bytes(good.read_bytes()[:2000])
    with pytest.raises(InputError, match=r"truncated\.nc: NetCDF: cannot be opened.*download it again"):
        open_met(bad, GRID)
    with pytest.raises(InputError, match=r"does not exist"):
        open_met(tmp_path / "nothere.nc", GRID)


def test_error_fill_missing_error_lists_missing_fields(tmp_path):
    with pytest.raises(InputError, match=r"precipitation, surface_pressure, boundary_layer_height.*not found"):
        _open(write_era5_new(tmp_path, HOURS), fill_missing="error")


def test_error_explicit_variable_not_found(tmp_path):
    with pytest.raises(InputError, match=r"variable 'uwind' \(eastward wind on levels\): not found"):
        _open(write_era5_new(tmp_path, HOURS), variables={"eastward_wind": "uwind"})


def test_error_extra_ensemble_dimension(tmp_path):
    ds = xr.open_dataset(write_era5_new(tmp_path, HOURS), decode_times=False).drop_vars("number")
    ds = xr.concat([ds, ds], dim="number")
    with pytest.raises(InputError, match=r"extra dimension 'number' of size 2.*isel\(number=0\)"):
        _open(ds)


def test_error_glob_pattern_matches_no_file_and_no_input(tmp_path):
    with pytest.raises(InputError, match=r"nothing_\*\.nc: files: the pattern matches no file"):
        open_met(str(tmp_path / "nothing_*.nc"), GRID)
    with pytest.raises(InputError, match=r"met input: files: no input given"):
        open_met([], GRID)


@pytest.mark.parametrize("kw, match", [
    ({"kind": "ecmwf"}, r"kind: 'ecmwf' is not a known product.*Fix: use one of"),
    ({"fill_missing": "maybe"}, r"fill_missing: 'maybe'. Fix: use 'synthetic' or 'error'"),
])
def test_error_unknown_kind_or_fill_missing(tmp_path, kw, match):
    with pytest.raises(InputError, match=match):
        _open(write_era5_new(tmp_path, HOURS), **kw)


def _era5_new_dataset(tmp_path):
    return xr.open_dataset(write_era5_new(tmp_path, HOURS), decode_times=False).load()


def test_error_variable_split_over_files_on_different_grids(tmp_path):
    ds = _era5_new_dataset(tmp_path)
    first = ds.isel(valid_time=[0, 1])
    coarse = ds.isel(valid_time=[2, 3], latitude=slice(0, None, 2))
    with pytest.raises(InputError, match=r"variable 'u': has a different grid than the other files"):
        _open([first, coarse])


def test_error_eastward_and_northward_winds_at_different_times(tmp_path):
    ds = _era5_new_dataset(tmp_path)
    u = ds.drop_vars(["v", "t"])
    v = ds.drop_vars(["u", "t"])
    v = v.assign_coords(valid_time=("valid_time", v["valid_time"].values + 1800, v["valid_time"].attrs))
    with pytest.raises(InputError, match=r"winds: eastward and northward winds have different times"):
        _open([u, v])


def test_error_month_dimension_not_numbered_1_to_12(tmp_path):
    ds = _era5_new_dataset(tmp_path).drop_vars("expver").rename(valid_time="month")
    ds = ds.assign_coords(month=("month", np.arange(4)))  # 0..3
    with pytest.raises(InputError, match=r"dimension 'month': values \[0 1 2 3\] are not months 1..12"):
        _open(ds)


def test_error_time_dimension_without_coordinate(tmp_path):
    ds = _era5_new_dataset(tmp_path).drop_vars(["valid_time", "expver"])
    with pytest.raises(InputError, match=r"time dimension 'valid_time': has no coordinate values"):
        _open(ds)


def test_error_single_record_with_undecodable_time_units(tmp_path):
    ds = _era5_new_dataset(tmp_path).isel(valid_time=[0])
    ds["valid_time"].attrs["units"] = "seconds"
    with pytest.raises(InputError, match=r"units 'seconds' are not of the CF form.*; the file has a single record"
                                         r".*met.time_rule = 'clamped'"):
        _open(ds)


# ----------------------------------------------------------------------------------------------------------------
# missing values on levels: only below-ground gaps are filled
# ----------------------------------------------------------------------------------------------------------------
TWO_TIMES = np.array(["2005-01-01T00", "2005-01-01T03"], dtype="datetime64[s]")


def _rewritten(path, edit, out):
    """The file ``path`` loaded, changed in place by ``edit(ds)`` and written to ``out``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with xr.open_dataset(path, decode_times=False) as ds:
            ds = ds.load()
    edit(ds)
    ds.to_netcdf(out)
    return out


def _merra2_with(tmp_path, edit):
    return _rewritten(write_merra2(tmp_path, TWO_TIMES), edit, tmp_path / "merra2_edited.nc4")


def _era5_new_with(tmp_path, edit):
    return _rewritten(write_era5_new(tmp_path, HOURS), edit, tmp_path / "era5_edited.nc")


# source cells of the 2.5-degree test files (ascending latitudes from -90, longitudes from -180) under a plateau
PLATEAU = (slice(46, 53), slice(104, 115))  # lat 25..40, lon 80..105
PLATEAU_CELLS = np.ix_((GRID.lat_deg > 26) & (GRID.lat_deg < 39), (GRID.lon_deg > 81) & (GRID.lon_deg < 104))


def test_below_ground_gaps_under_high_terrain_are_filled_from_the_level_above(tmp_path):
    """A plateau at 600 hPa (the MERRA-2 surface pressure there): 1000..700 hPa are masked below its ground and
    filled with the 500 hPa values, so the layers over it carry the winds of the lowest level above ground."""

    def plateau(ds):
        ds["PS"][:, PLATEAU[0], PLATEAU[1]] = 60_000.0
        for name in ("U", "V", "T"):
            ds[name][:, :4, PLATEAU[0], PLATEAU[1]] = np.nan  # 1000, 925, 850, 700 hPa

    met = _open(_merra2_with(tmp_path, plateau))
    u = met.fields_at(TWO_TIMES[0])["eastward_wind_m_s"]
    assert np.all(np.isfinite(u))
    on_plateau = expected_layer_u(GRID, 60_000.0, p_range=(10_000.0, 50_000.0))
    np.testing.assert_allclose(u[(slice(None),) + PLATEAU_CELLS], on_plateau[(slice(None),) + PLATEAU_CELLS],
                               atol=1e-4)
    far = GRID.lat_deg < 15
    np.testing.assert_allclose(u[:, far], expected_layer_u(GRID)[:, far], atol=1e-4)


def test_below_ground_gaps_without_surface_pressure_are_filled_when_they_fill_columns_from_the_bottom(tmp_path):
    """Without surface pressure, gaps contiguous from the bottom of some columns (the pattern of below-ground
    masking) are filled from the level above; the layers are placed above 101 325 Pa."""

    def bottom_gaps(ds):
        for name in ("u", "v", "t"):
            ds[name][:, :2, 20:27, 104:115] = np.nan  # 1000 and 925 hPa at lat 40..25 (descending), lon 80..105

    u = _open(_era5_new_with(tmp_path, bottom_gaps)).fields_at(HOURS[0])["eastward_wind_m_s"]
    on_plateau = expected_layer_u(GRID, 101_325.0, p_range=(10_000.0, 85_000.0))
    np.testing.assert_allclose(u[(slice(None),) + PLATEAU_CELLS], on_plateau[(slice(None),) + PLATEAU_CELLS],
                               atol=1e-4)


def _nan_at(name, levels, rows, cols):
    def edit(ds):
        ds[name][:, levels, rows, cols] = np.nan

    return edit


@pytest.mark.parametrize("name, levels, rows, cols, match", [
    # one cell at 850 hPa over sea-level ground (lat 30, lon 90)
    ("U", 2, 48, 108, r"1 of \d+ values in the model domain are NaN at record 0 \(2005-01-01T00:00:00\) and cannot be "
                      r"filled as below-ground gaps: at 850 hPa, lat 30, lon 90, the level lies above the ground "
                      r"\(surface pressure 1000 hPa there\)\. Fix: fill the gaps in the data"),
    # every level but the top three missing everywhere: jet-level winds would reach the ground
    ("T", slice(0, 5), slice(None), slice(None), r"\d+ of \d+ values in the model domain are NaN at record 0 .* cannot "
                                                 r"be filled as below-ground gaps: at 925 hPa, lat -12\.5, lon 62\.5, "
                                                 r"the level lies above the ground"),
])
def test_missing_values_above_the_ground_are_refused(tmp_path, name, levels, rows, cols, match):
    """With surface pressure in the file a missing value is below ground only where its level's pressure exceeds
    the surface pressure (1000 hPa here, with a 50 hPa tolerance)."""
    met = _open(_merra2_with(tmp_path, _nan_at(name, levels, rows, cols)))
    var = "'U' \\(eastward wind on levels\\)" if name == "U" else "'T' \\(air temperature on levels\\)"
    with pytest.raises(InputError, match=r"merra2_edited\.nc4: variable " + var + ": " + match):
        met.fields_at(TWO_TIMES[0])


@pytest.mark.parametrize("levels, cols, match", [
    (4, 110, r"1 of \d+ values .* are NaN at record 0 .* below-ground gaps: at 500 hPa, lat -10, lon 95, a level below it "
             r"has a value"),
    (slice(0, 7), 110, r"1 of \d+ .* at 200 hPa, lat -10, lon 95, no ground lies above the 300 hPa level"),
    (slice(0, 5), slice(None), r"\d+ of \d+ .* at 1000 hPa, lat 57\.5, lon 62\.5, the level is missing in every column "
                               r"of the model domain"),
])
def test_missing_values_without_surface_pressure_must_look_like_below_ground_masking(tmp_path, levels, cols, match):
    met = _open(_era5_new_with(tmp_path, _nan_at("u", levels, 40, cols) if cols != slice(None)
                               else _nan_at("u", levels, slice(None), slice(None))))
    with pytest.raises(InputError, match=r"era5_edited\.nc: variable 'u' \(eastward wind on levels\): " + match
                       + r".*Fix: fill the gaps in the data.*add the surface pressure"):
        met.fields_at(HOURS[0])


def test_infinite_values_are_never_below_ground_fill(tmp_path):
    """+inf at the lowest level of one column fits the pattern of below-ground masking, but is not a fill value."""

    def edit(ds):
        ds["t"][:, 0, 40, 110] = np.inf

    with pytest.raises(InputError, match=r"era5_edited\.nc: variable 't' \(air temperature on levels\): 1 of \d+ "
                                         r"values .* are infinite at record 0 .*1000 hPa, lat -10, lon 95.*never fill "
                                         r"values\. Fix: correct the data, or declare the fill value as _FillValue"):
        _open(_era5_new_with(tmp_path, edit)).fields_at(HOURS[0])


# ----------------------------------------------------------------------------------------------------------------
# implausible values: wrong units are refused, with the unit the values look like
# ----------------------------------------------------------------------------------------------------------------
def _era5_old_with(tmp_path, which, edit):
    files = write_era5_old(tmp_path, HOURS)
    files[which] = _rewritten(files[which], edit, tmp_path / f"era5_edited_{which}.nc")
    return files


def _set(name, values, units):
    def edit(ds):
        attrs = dict(ds[name].attrs, units=units)
        ds[name] = (ds[name].dims, np.broadcast_to(values, ds[name].shape).astype(np.float64), attrs)
        ds[name].encoding = {}

    return edit


@pytest.mark.parametrize("value, units, fix", [
    (1013.0, "Pa", "hPa"),
    (101.3, "hPa", "kPa"),
    (101_300.0, "hPa", "Pa"),
])
def test_surface_pressure_in_wrong_units_is_refused(tmp_path, value, units, fix):
    files = _era5_old_with(tmp_path, 1, _set("sp", value, units))
    with pytest.raises(InputError, match=r"era5_edited_1\.nc: variable 'sp' \(surface pressure\): \d+ of \d+ values in "
                                         r"the model domain at record 0 .* are outside the plausible range "
                                         r"30000\.\.115000 Pa: .*the first at lat 57\.5, lon 62\.5\. Fix: the values look "
                                         rf"like {fix}: set units = '{fix}'"):
        _open(files).fields_at(HOURS[0])


def test_surface_pressure_of_high_ground_is_accepted(tmp_path):
    """46 000 Pa (the lowest surface pressure of the NCEP climatology, over the Himalaya) is plausible."""
    values = np.where(np.arange(144) < 72, 46_000.0, 101_000.0)  # by longitude
    f = _open(_era5_old_with(tmp_path, 1, _set("sp", values, "Pa"))).fields_at(HOURS[0])
    assert f["surface_pressure_pa"].min() < 50_000.0


@pytest.mark.parametrize("units, ok", [("1", False), ("%", True)])
def test_land_fraction_above_one_must_be_in_per_cent(tmp_path, units, ok):
    met = _open(_era5_old_with(tmp_path, 1, _set("lsm", 50.0, units)))
    if ok:
        np.testing.assert_allclose(met.fields_at(HOURS[0])["land_fraction"], 0.5, rtol=1e-12)
        return
    with pytest.raises(InputError, match=r"era5_edited_1\.nc: variable 'lsm' \(land fraction\): \d+ of \d+ values in "
                                         r"the model domain are outside the plausible range 0\.\.1: 50\.\.50 \(units "
                                         r"'1'\), the first at .*Fix: the values look like per cent: set units = '%'"):
        met.fields_at(HOURS[0])


def test_land_fraction_rounding_of_packed_data_is_clipped(tmp_path):
    values = np.where(np.arange(73) < 36, 1.0 + 1e-5, -1e-5)[:, None]  # north of the equator (latitudes descend)
    lf = _open(_era5_old_with(tmp_path, 1, _set("lsm", values, "(0 - 1)"))).fields_at(HOURS[0])["land_fraction"]
    assert lf.min() == 0.0 and lf.max() == 1.0


def test_negative_precipitation_is_refused_and_rounding_set_to_zero(tmp_path):
    def noisy(ds):
        ds["PRECTOT"][:, :, ::2] = -2e-9  # kg m-2 s-1 amid 2e-5: rounding of packed data
        ds["PRECTOT"].encoding = {}

    p = _open(_merra2_with(tmp_path, noisy)).fields_at(TWO_TIMES[0])["precipitation_m_s"]
    np.testing.assert_allclose(p, 1e-8, rtol=1e-3)  # (half of 2e-8 m s-1 and a tiny negative value)
    sub = tmp_path / "neg"
    sub.mkdir()
    met = _open(_merra2_with(sub, _set("PRECTOT", -5.0, "mm/day")))
    with pytest.raises(InputError, match=r"merra2_edited\.nc4: variable 'PRECTOT' \(precipitation\): \d+ of \d+ values "
                                         r"in the model domain at record 0 .* are negative beyond the rounding of packed "
                                         r"data .*\(-5\.\.-5 mm/day as stored\), the first at .*Fix: precipitation "
                                         r"cannot be negative"):
        met.fields_at(TWO_TIMES[0])

    def one_cell(ds):
        ds["PRECTOT"][:, 48, 108] = -1e-5  # -0.9 mm/day amid 2e-5 kg m-2 s-1 (1.7 mm/day)
        ds["PRECTOT"].encoding = {}

    sub = tmp_path / "cell"
    sub.mkdir()
    with pytest.raises(InputError, match=r"'PRECTOT' \(precipitation\): 1 of .* lat 30, lon 90"):
        _open(_merra2_with(sub, one_cell)).fields_at(TWO_TIMES[0])


@pytest.mark.parametrize("which, name, shift, units, match", [
    (0, "t", -273.15, "K", r"variable 't' \(air temperature on levels\): \d+ of \d+ values in the model domain at "
                           r"record 0 .* are outside the plausible range 150\.\.350 K: .* \(units 'K'\), the first at "
                           r"1000 hPa, .*Fix: the values look like degC: set units = 'degC'"),
    (1, "t2m", -273.15, "K", r"variable 't2m' \(2 m air temperature\): .*Fix: the values look like degC"),
    (1, "t2m", 0.0, "degC", r"variable 't2m' \(2 m air temperature\): .*Fix: the values look like K: set units = 'K'"),
])
def test_temperature_in_wrong_units_is_refused(tmp_path, which, name, shift, units, match):
    def edit(ds):
        attrs = dict(ds[name].attrs, units=units)
        ds[name] = ds[name].astype(np.float64) + shift
        ds[name].attrs = attrs
        ds[name].encoding = {}

    with pytest.raises(InputError, match=rf"era5_edited_{which}\.nc: " + match):
        _open(_era5_old_with(tmp_path, which, edit)).fields_at(HOURS[0])


def test_temperature_from_geopotential_in_wrong_units_is_refused(tmp_path):
    """Geopotential height (m) labelled as geopotential (m2 s-2): the thickness temperatures are g times too low."""
    from popstransport.constants import DRY_AIR_GAS_CONSTANT_J_KG_K, STANDARD_GRAVITY_M_S2

    def edit(ds):
        phi = DRY_AIR_GAS_CONSTANT_J_KG_K * 250.0 * np.log(1000.0 / LEVELS_HPA) / STANDARD_GRAVITY_M_S2
        ds["z"] = (ds["u"].dims, np.broadcast_to(phi[None, :, None, None], ds["u"].shape).astype(np.float64),
                   {"units": "m2 s-2", "standard_name": "geopotential"})
        del ds["t"]

    with pytest.raises(InputError, match=r"era5_edited\.nc: variable 'z' \(geopotential \(height\) on levels\): .*"
                                         r"outside the plausible range 150\.\.350 K: 25\.4.*Fix: the temperatures come "
                                         r"from the thickness of 'z' between levels: check the units attribute \(now "
                                         r"'m2 s-2'\)"):
        _open(_era5_new_with(tmp_path, edit)).fields_at(HOURS[0])


def test_negative_boundary_layer_height_is_refused(tmp_path):
    with pytest.raises(InputError, match=r"era5_edited_1\.nc: variable 'blh' \(boundary-layer height\): .* outside the "
                                         r"plausible range 0\.\.10000 m: -100\.\.-100 m"):
        _open(_era5_old_with(tmp_path, 1, _set("blh", -100.0, "m"))).fields_at(HOURS[0])


def test_sea_ice_fraction_is_read_with_land_as_no_ice(tmp_path):
    """ERA5's siconc (fraction, missing over land) and CMIP's siconc (per cent) become the forcing's
    sea_ice_fraction on the model grid (0 where the product has no value); files without it have no such field,
    and values above 1 in a file labelled as a fraction are refused with the per-cent fix."""
    ds = xr.open_dataset(write_era5_new(tmp_path, HOURS), decode_times=False).load()
    lat, lon = ds["latitude"].values, ds["longitude"].values
    ice = np.where(lat[None, :, None] > 40.0, 0.5, 0.0) * np.ones((len(HOURS), lat.size, lon.size))
    ice[:, (lat > 20) & (lat < 30), :] = np.nan  # (as over land)
    dims = ("valid_time", "latitude", "longitude")
    assert "sea_ice_fraction" not in _open(ds).fields_at(HOURS[0])
    with_ice = ds.assign(siconc=(dims, ice, {"units": "(0 - 1)", "long_name": "Sea ice area fraction"}))
    got = _open(with_ice).fields_at(HOURS[1])["sea_ice_fraction"]
    centres = GRID.lat_deg
    np.testing.assert_allclose(got[centres > 45.0], 0.5, rtol=1e-12)
    np.testing.assert_allclose(got[(centres > 20.0) & (centres < 30.0)], 0.0)
    np.testing.assert_allclose(got[centres < 15.0], 0.0)
    percent = ds.assign(sic=(dims, 100.0 * np.nan_to_num(ice), {"units": "%", "standard_name": "sea_ice_area_fraction"}))
    np.testing.assert_allclose(_open(percent).fields_at(HOURS[1])["sea_ice_fraction"][centres > 45.0], 0.5, rtol=1e-12)
    mislabelled = ds.assign(siconc=(dims, 100.0 * np.nan_to_num(ice), {"units": "1"}))
    with pytest.raises(InputError, match=r"variable 'siconc' \(sea-ice fraction\).*Fix: the values look like per cent"):
        _open(mislabelled).fields_at(HOURS[1])


def test_sea_ice_fraction_of_a_coastal_cell_is_that_of_its_water(tmp_path):
    """siconc is a fraction of the water area, missing over land: a model cell that is part land and whose water is
    all ice-covered has the ice fraction 1 (its land does not dilute the ice to the water's share of the cell, which
    would leave that share of the ocean open to gas exchange)."""
    ds = xr.open_dataset(write_era5_new(tmp_path, HOURS), decode_times=False).load()
    lat, lon = ds["latitude"].values, ds["longitude"].values
    ice = np.where(lat[None, :, None] > 40.0, 1.0, 0.0) * np.ones((len(HOURS), lat.size, lon.size))
    ice = np.where(lon[None, None, :] < 118.0, np.nan, ice)  # (land west of 118 E: the cell 115..120 E is part land)
    dims = ("valid_time", "latitude", "longitude")
    got = _open(ds.assign(siconc=(dims, ice, {"units": "(0 - 1)"}))).fields_at(HOURS[1])["sea_ice_fraction"]
    north = GRID.lat_deg > 45.0
    coast = int(np.searchsorted(GRID.lon_edges_deg, 117.5)) - 1
    assert GRID.lon_edges_deg[coast] == 115.0
    np.testing.assert_allclose(got[north][:, coast:], 1.0, rtol=1e-12)
    np.testing.assert_allclose(got[north][:, :coast], 0.0)


def test_sea_ice_missing_everywhere_in_the_domain_is_no_ice_without_a_warning_at_every_record(tmp_path):
    """A sea-ice field with no value at all in the domain: no ice, and no NumPy "All-NaN slice encountered" warning at
    every record read (the per-cent hint of the range check was worked out from the values' maximum each time). The
    domain is mostly ocean in the model's land fraction, so its gaps are reported once (not at every record)."""
    ds = xr.open_dataset(write_era5_new(tmp_path, HOURS), decode_times=False).load()
    shape = (len(HOURS), ds.sizes["latitude"], ds.sizes["longitude"])
    met = _open(ds.assign(siconc=(("valid_time", "latitude", "longitude"), np.full(shape, np.nan), {"units": "1"})))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for t in HOURS:
            np.testing.assert_array_equal(met.fields_at(t)["sea_ice_fraction"], 0.0)
    assert [type(w.message) for w in caught] == [UserWarning]
    assert "has no value at record 0" in str(caught[0].message)


def test_sea_ice_gaps_over_the_ocean_are_no_ice_with_one_warning_counting_the_cells(tmp_path):
    """A product that is missing over land (ERA5 siconc) and also over part of the ocean (a pole hole, a missing
    swath): the model cells that are mostly water in the model's land fraction but get no value are read as no ice,
    with one warning that counts them, names the first and says how to fill the gaps; cells with some value are the
    mean over the values they have."""
    ds = xr.open_dataset(write_era5_new(tmp_path, HOURS), decode_times=False).load()
    lat, lon = ds["latitude"].values, ds["longitude"].values
    ice = np.full((len(HOURS), lat.size, lon.size), 0.8)
    hole = (lat[:, None] > -11.0) & (lat[:, None] < 11.0) & (lon[None, :] > 153.0) & (lon[None, :] < 177.0)
    ice[:, hole] = np.nan  # (the open Pacific, all of 155..175 E, 10 S..10 N: 4 x 4 model cells of 5 degrees)
    met = _open(ds.assign(siconc=(("valid_time", "latitude", "longitude"), ice, {"units": "1"})))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first, later = met.fields_at(HOURS[1]), met.fields_at(HOURS[2])
    got, land = first["sea_ice_fraction"], first["land_fraction"]
    gaps = (np.abs(GRID.lat_deg[:, None]) < 10.0) & (GRID.lon_deg[None, :] > 155.0) & (GRID.lon_deg[None, :] < 175.0)
    assert gaps.sum() == 16 and np.all(land[gaps] < 0.5)
    np.testing.assert_array_equal(got[gaps], 0.0)
    np.testing.assert_allclose(got[~gaps], 0.8, rtol=1e-12)
    np.testing.assert_array_equal(later["sea_ice_fraction"], got)
    said = [str(w.message) for w in caught]
    assert len(said) == 1, said
    assert re.search(r"variable 'siconc' .* has no value at record 1 \(2005-01-01T01:00:00\) in 16 of \d+ model cells "
                     r"that are at least 50% water in the model's land fraction \(the first at lat -7\.5, lon 157\.5\)"
                     r".* fill them before reading", said[0]), said[0]


def _coastal_dataset(tmp_path):
    """An ERA5-like dataset of the tests' hours, with :func:`_coastal_whole_cell_ice`'s ice and land on its grid and
    the dimensions of a field that changes with time."""
    ds = xr.open_dataset(write_era5_new(tmp_path, HOURS), decode_times=False).load()
    ice, land = _coastal_whole_cell_ice(ds["latitude"].values, ds["longitude"].values)
    return ds, ice, land, ("valid_time", "latitude", "longitude")


def _coastal_whole_cell_ice(lat, lon):
    """Ice given as a fraction of the whole cell, north of 40 N: from 0 to 118 E half land with a quarter of the cell
    (half its water) iced, east of it all water, all iced. The model cell 115..120 E holds 1.25 degrees of the
    source cell centred on 115 E, the whole 117.5 E cell and 1.25 degrees of the 120 E cell: ice area over water area
    (1.25 x 0.25 + 2.5 x 0.25 + 1.25 x 1) / (1.25 x 0.5 + 2.5 x 0.5 + 1.25 x 1) = 0.7."""
    west = (lon[None, None, :] > 0.0) & (lon[None, None, :] < 118.0)  # (-180 is east: the cell 175..180 E holds it)
    north = lat[None, :, None] > 40.0
    shape = (len(HOURS), lat.size, lon.size)
    land = np.broadcast_to(np.where(west, 0.5, 0.0), shape).copy()
    ice = np.broadcast_to(np.where(north, np.where(west, 0.25, 1.0), 0.0), shape).copy()
    return ice, land


@pytest.mark.parametrize("product", ["cam_landfrac", "cam_ocnfrac", "merra2_constants_file", "cmip6_siconca"])
def test_whole_cell_sea_ice_is_converted_to_a_fraction_of_the_water(tmp_path, product):
    """CAM's ICEFRAC, MERRA-2's FRSEAICE and CMIP6's siconca give the ice as a fraction of the whole grid cell (0 over
    land). With the product's own land or ocean fraction they become the ice area over the water area of each model
    cell: half-land cells whose water is half iced give 0.5 (their ICEFRAC, 0.25, was taken as the fraction of the
    water), all-water iced cells 1, and the coastal cell 115..120 E 0.7, the area-weighted ratio (0.4375 before, the cell mean);
    all values stay in 0..1 and cells without ice stay at 0. The water may come from the same file (CAM LANDFRAC, or
    OCNFRAC, the ice-free ocean, plus the ice) or from a static file of constants (MERRA-2 FROCEAN)."""
    ds, ice, land, dims = _coastal_dataset(tmp_path)
    if product == "cam_landfrac":
        spec = ds.assign(ICEFRAC=(dims, ice, {"units": "fraction"}), LANDFRAC=(dims, land, {"units": "fraction"}))
    elif product == "cam_ocnfrac":
        spec = ds.assign(ICEFRAC=(dims, ice, {"units": "fraction"}), OCNFRAC=(dims, 1.0 - land - ice, {"units": "1"}))
    elif product == "merra2_constants_file":
        consts = xr.Dataset({"FROCEAN": (dims[1:], 1.0 - land[0], {"units": "1"})},
                            coords={"latitude": ds["latitude"], "longitude": ds["longitude"]})
        spec = [ds.assign(FRSEAICE=(dims, ice, {"units": "1", "long_name": "ice_covered_fraction_of_tile"})), consts]
    else:
        spec = ds.assign(siconca=(dims, 100.0 * ice, {"units": "%", "standard_name": "sea_ice_area_fraction"}),
                         sftlf=(dims[1:], 100.0 * land[0], {"units": "%"}))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        met = open_met(spec, GRID)
    assert not [w for w in caught if "whole grid cell" in str(w.message)]  # (the product's own water is found)
    assert met._ice_water is not None and met._ice_water[1][0].name in ("LANDFRAC", "OCNFRAC", "FROCEAN", "sftlf")
    assert {"cam_landfrac": "'ICEFRAC' (of the whole cell) / (1 - ('LANDFRAC'))",
            "cam_ocnfrac": "'ICEFRAC' (of the whole cell) / ('ICEFRAC' + 'OCNFRAC')",
            "merra2_constants_file": "'FRSEAICE' (of the whole cell) / ('FROCEAN')",
            "cmip6_siconca": "'siconca' (of the whole cell) / (1 - ('sftlf'))"}[product] in met.describe()
    got = met.fields_at(HOURS[1])["sea_ice_fraction"]
    north = GRID.lat_deg > 45.0
    coast = int(np.searchsorted(GRID.lon_edges_deg, 117.5)) - 1
    assert GRID.lon_edges_deg[coast] == 115.0
    np.testing.assert_allclose(got[north][:, :coast], 0.5, rtol=1e-12)
    np.testing.assert_allclose(got[north][:, coast], 0.7, rtol=1e-12)
    np.testing.assert_allclose(got[north][:, coast + 1:], 1.0, rtol=1e-12)
    np.testing.assert_array_equal(got[GRID.lat_deg < 35.0], 0.0)
    assert got.min() >= 0.0 and got.max() <= 1.0


def test_whole_cell_sea_ice_of_a_half_land_cell_all_iced_is_all_of_its_water(tmp_path):
    """The defect: CAM's ICEFRAC on a half-land cell whose water is all ice is 0.5 of the cell; it was read as half
    the water open to gas exchange (0.5) and is now all of it (1). A cell with no water keeps no ice, even with a
    (rounding) value of ice."""
    ds = xr.open_dataset(write_era5_new(tmp_path, HOURS), decode_times=False).load()
    lat, lon = ds["latitude"].values, ds["longitude"].values
    shape = (len(HOURS), lat.size, lon.size)
    north = np.broadcast_to(lat[None, :, None] > 40.0, shape)
    land = np.where(north, 0.5, 1.0)
    ice = np.where(north, 0.5, 1e-4)  # (south of 40 N all land: an ice value there is no ice)
    dims = ("valid_time", "latitude", "longitude")
    got = _open(ds.assign(ICEFRAC=(dims, ice, {"units": "fraction"}), LANDFRAC=(dims, land, {"units": "fraction"}))
                ).fields_at(HOURS[1])["sea_ice_fraction"]
    np.testing.assert_allclose(got[GRID.lat_deg > 45.0], 1.0, rtol=1e-12)
    np.testing.assert_array_equal(got[GRID.lat_deg < 35.0], 0.0)


def test_sea_ice_per_water_area_is_unchanged_by_a_land_fraction_in_the_file(tmp_path):
    """Products whose sea ice is a fraction of the water (ERA5 siconc, CMIP siconc: missing over land) are read as
    before, bit for bit: the mean over the product's water in each model cell, whatever land fraction the file has
    beside them (the conversion is for the whole-cell products only)."""
    ds = xr.open_dataset(write_era5_new(tmp_path, HOURS), decode_times=False).load()
    lat, lon = ds["latitude"].values, ds["longitude"].values
    rng = np.random.default_rng(3)
    ice = rng.uniform(0.0, 1.0, (len(HOURS), lat.size, lon.size))
    ice[:, :, lon < 118.0] = np.nan
    _, land = _coastal_whole_cell_ice(lat, lon)
    dims = ("valid_time", "latitude", "longitude")
    plain = _open(ds.assign(siconc=(dims, ice, {"units": "(0 - 1)"})))
    with_land = _open(ds.assign(siconc=(dims, ice, {"units": "(0 - 1)"}), LANDFRAC=(dims, land, {"units": "1"})))
    assert plain._ice_whole_cell is None and with_land._ice_whole_cell is None
    got = plain.fields_at(HOURS[1])["sea_ice_fraction"]
    np.testing.assert_array_equal(with_land.fields_at(HOURS[1])["sea_ice_fraction"], got)
    rg = plain.vars["sea_ice_fraction"].regridder(GRID, "conservative")
    a = plain.vars["sea_ice_fraction"].read(1, rg.rows, rg.cols)
    water = np.isfinite(a)
    mean, wet = rg(np.where(water, a, 0.0), window=True), rg(water.astype(np.float64), window=True)
    np.testing.assert_array_equal(got, np.where(wet > 0.0, mean / np.where(wet > 0.0, wet, 1.0), 0.0))


def test_whole_cell_sea_ice_without_the_product_s_land_uses_the_model_s_and_warns_once(tmp_path):
    """ICEFRAC without LANDFRAC or OCNFRAC: the ice over the water of the model's land fraction, ice / (1 - land),
    at most 1 and 0 where the model cell has no water, with one warning for the run (not one per record) that names
    the file and what to add."""
    ds = xr.open_dataset(write_era5_new(tmp_path, HOURS), decode_times=False).load()
    lat, lon = ds["latitude"].values, ds["longitude"].values
    ice, _ = _coastal_whole_cell_ice(lat, lon)
    path = tmp_path / "cam_h0.nc"
    ds.assign(ICEFRAC=(("valid_time", "latitude", "longitude"), ice, {"units": "fraction"})).to_netcdf(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        met = open_met(str(path), GRID)
        fields = [met.fields_at(t) for t in HOURS[:3]]
    said = [str(w.message) for w in caught if "ICEFRAC" in str(w.message)]
    assert len(said) == 1, said
    assert re.search(r"cam_h0\.nc.*'ICEFRAC'.*CAM sea-ice fraction of the whole grid cell .*no LANDFRAC, OCNFRAC .*"
                     r"model's land fraction .*add LANDFRAC or OCNFRAC of the same grid", said[0]), said[0]
    got, land = fields[1]["sea_ice_fraction"], fields[1]["land_fraction"]
    rg = met.vars["sea_ice_fraction"].regridder(GRID, "conservative")
    whole = rg(ice[1][rg.rows, rg.cols], window=True)
    water = 1.0 - land
    expected = np.where(water > 0.0, np.clip(whole / np.where(water > 0.0, water, 1.0), 0.0, 1.0), 0.0)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert got.min() >= 0.0 and got.max() <= 1.0 and np.all(got[land >= 1.0] == 0.0)
    assert np.any((got > whole + 1e-3) & (land > 0.1))  # (coastal cells: more than the cell mean)


def test_check_records_ends_at_a_stop_on_a_record_with_either_time_rule(tmp_path):
    """A run that stops on a record uses no record after it, clamped or linear: check_records read one more under
    the clamped rule, and refused a NaN there that the run never reads."""
    ds = xr.open_dataset(write_era5_new(tmp_path, HOURS), decode_times=False).load()
    ds["u"][3, :, 24, 112] = np.nan  # (lat 30, lon 100: in the domain)
    for rule in ("linear", "clamped"):
        assert _open(ds, time_rule=rule).check_records(HOURS[0], HOURS[2])["winds"] == 3
        with pytest.raises(InputError, match=r"variable 'u' .* at record 3"):
            _open(ds, time_rule=rule).check_records(HOURS[1], HOURS[2] + np.timedelta64(1, "s"))
    assert _open(ds, time_rule="clamped").check_records(HOURS[0] - np.timedelta64(1, "h"), HOURS[1])["winds"] == 2


@pytest.mark.parametrize("layout", ["split_in_time", "merra2_ocean_stamped_once", "merra2_land_ice_lake",
                                    "land_on_another_grid"])
def test_whole_cell_sea_ice_finds_the_product_s_water_where_it_is(tmp_path, layout):
    """The water of a whole-cell product is read record by record from each of the files a time series is split
    into, or from a constants file (MERRA-2's const_2d_asm_Nx, whose fields carry one time stamp: FROCEAN, or else
    FRLAND, FRLANDICE and FRLAKE, water = 1 - their sum); a land fraction on another grid is not the product's, so
    the model's land fraction stands in for it, with the warning."""
    ds, ice, land, dims = _coastal_dataset(tmp_path)
    if layout == "split_in_time":
        both = ds.assign(ICEFRAC=(dims, ice, {"units": "fraction"}), LANDFRAC=(dims, land, {"units": "fraction"}))
        spec = [both.isel(valid_time=slice(0, 2)), both.isel(valid_time=slice(2, None))]
    elif layout == "merra2_ocean_stamped_once":
        stamp = {"time": ("time", [0.0], {"units": "minutes since 2000-01-01 00:00:00"})}
        consts = xr.Dataset({n: (("time", "latitude", "longitude"), v, {"units": "1"})
                             for n, v in (("FROCEAN", 1.0 - land[:1]), ("FRLAND", land[:1]))},
                            coords={"latitude": ds["latitude"], "longitude": ds["longitude"], **stamp})
        spec = [ds.assign(FRSEAICE=(dims, ice, {"units": "1"})), consts]
    elif layout == "merra2_land_ice_lake":
        consts = xr.Dataset({n: (("latitude", "longitude"), land[0] * f, {"units": "1"})
                             for n, f in (("FRLAND", 0.5), ("FRLANDICE", 0.25), ("FRLAKE", 0.25))},
                            coords={"latitude": ds["latitude"], "longitude": ds["longitude"]})
        spec = [ds.assign(FRSEAICE=(dims, ice, {"units": "1"})), consts]
    else:
        coarse = xr.Dataset({"LANDFRAC": (("lat", "lon"), np.zeros((36, 72)), {"units": "fraction"})},
                            coords={"lat": np.arange(-87.5, 90.0, 5.0), "lon": np.arange(-177.5, 180.0, 5.0)})
        spec = [ds.assign(ICEFRAC=(dims, ice, {"units": "fraction"})), coarse]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        met = open_met(spec, GRID)
        got = {t: met.fields_at(t)["sea_ice_fraction"] for t in HOURS[1:3]}
    fallback = [w for w in caught if "whole grid cell" in str(w.message)]
    north = GRID.lat_deg > 45.0
    coast = int(np.searchsorted(GRID.lon_edges_deg, 117.5)) - 1
    if layout == "land_on_another_grid":
        assert len(fallback) == 1 and met._ice_water is None
        return
    assert not fallback and met._ice_water is not None
    if layout == "merra2_ocean_stamped_once":  # (its FRLAND is the land fraction: one time stamp, read as static)
        np.testing.assert_allclose(met.fields_at(HOURS[1])["land_fraction"][:, coast - 1], 0.5, rtol=1e-12)
    assert [c.name for c in met._ice_water[1]] == {"split_in_time": ["LANDFRAC"], "merra2_ocean_stamped_once": ["FROCEAN"],
                                                   "merra2_land_ice_lake": ["FRLAND", "FRLANDICE", "FRLAKE"]}[layout]
    for values in got.values():
        np.testing.assert_allclose(values[north][:, coast], 0.7, rtol=1e-12)
        np.testing.assert_allclose(values[north][:, :coast], 0.5, rtol=1e-12)


# ----------------------------------------------------------------------------------------------------------------
# common mistakes in CMIP-style inputs
# ----------------------------------------------------------------------------------------------------------------
def cmip_year(name: str, year: int, calendar: str = "noleap", value: float | None = None, lat_desc: bool = False,
              units: str | None = None) -> xr.Dataset:
    """One CMOR-style file of monthly ``name`` (``uas``, ``vas``, ``tas``, ``pr``) for ``year`` on a global 10-degree
    grid, in memory (``attrs['source_file']`` names it as a file), with time bounds in days since 2000-01-01."""
    import cftime

    lat = np.arange(-85.0, 90.0, 10.0)[::-1 if lat_desc else 1]
    lon = np.arange(5.0, 360.0, 10.0)
    edges = [cftime.datetime(year + m // 12, m % 12 + 1, 1, calendar=calendar) for m in range(13)]
    num = cftime.date2num(edges, "days since 2000-01-01", calendar=calendar)
    bnds = np.stack([num[:-1], num[1:]], axis=1)
    std, si_units, default = {"uas": ("eastward_wind", "m s-1", 3.0), "vas": ("northward_wind", "m s-1", -2.0),
                              "ua": ("eastward_wind", "m s-1", 3.0), "va": ("northward_wind", "m s-1", -2.0),
                              "tas": ("air_temperature", "K", 280.0), "ps": ("surface_air_pressure", "Pa", 1e5),
                              "pr": ("precipitation_flux", "kg m-2 s-1", 2e-5)}[name]
    data = np.full((12, lat.size, lon.size), default if value is None else value) * (1.0 + 1e-3 * lat[:, None])
    dims = ("time", "lat", "lon")
    coords = {"time": ("time", bnds.mean(axis=1), {"units": "days since 2000-01-01", "calendar": calendar,
                                                   "bounds": "time_bnds"}),
              "lat": ("lat", lat, {"units": "degrees_north", "standard_name": "latitude"}),
              "lon": ("lon", lon, {"units": "degrees_east", "standard_name": "longitude"})}
    if name in ("ua", "va"):  # (on pressure levels, growing with ln(1000 hPa / p))
        plev = np.array([100000.0, 85000.0, 50000.0, 25000.0])
        data = data[:, None] * (1.0 + np.log(1e5 / plev))[None, :, None, None]
        dims = ("time", "plev", "lat", "lon")
        coords["plev"] = ("plev", plev, {"units": "Pa", "standard_name": "air_pressure", "positive": "down"})
    return xr.Dataset(
        {name: (dims, data, {"units": units or si_units, "standard_name": std}), "time_bnds": (("time", "bnds"), bnds)},
        coords=coords,
        attrs={"mip_era": "CMIP6", "source_file": f"{name}_Amon_M_ssp245_r1i1p1f1_gn_{year}01-{year}12.nc"},
    )


def cmip_years(years, names=("uas", "vas", "tas", "pr"), **kw) -> list[xr.Dataset]:
    """:func:`cmip_year` for every name and year, and ``sftlf`` (land north of the equator)."""
    lat, lon = np.arange(-85.0, 90.0, 10.0), np.arange(5.0, 360.0, 10.0)
    sftlf = xr.Dataset({"sftlf": (("lat", "lon"), np.where(lat[:, None] > 0, 100.0, 0.0) + 0.0 * lon, {"units": "%"})},
                       coords={"lat": ("lat", lat, {"units": "degrees_north"}),
                               "lon": ("lon", lon, {"units": "degrees_east"})},
                       attrs={"source_file": "sftlf_fx_M_ssp245_r1i1p1f1_gn.nc"})
    return [cmip_year(n, y, **kw) for n in names for y in years] + [sftlf]


def test_precipitation_per_day_labelled_per_second_is_refused():
    per_day = cmip_years([2030], ("uas", "vas", "tas")) + [cmip_year("pr", 2030, value=1.7)]  # mm/day, CMOR unit
    met = _open(per_day)
    with pytest.raises(InputError, match=r"pr_Amon_M_ssp245_r1i1p1f1_gn_203001-203012\.nc: variable 'pr' \(precipitation\): "
                                         r"\d+ of \d+ values in the model domain at record 0 .* are above 0\.00052 m s-1 "
                                         r".*: 0\.0016745\.\.0\.0017935 m s-1 \(1\.6745\.\.1\.7935 kg m-2 s-1 as stored\).*Fix: "
                                         r"the values look like mm/day: set units = 'mm/day'"):
        met.fields_at(met.times[0])
    # the same numbers labelled mm/day are read, and so is a heavy but real rain (100 mm in an hour, 2.8e-5 m s-1)
    for value, units, expected in ((1.7, "mm/day", 1.7e-3 / 86400.0), (100.0 / 3600.0, None, 1e-4 / 3.6)):
        met = _open(cmip_years([2030], ("uas", "vas", "tas")) + [cmip_year("pr", 2030, value=value, units=units)])
        p = met.fields_at(met.times[0])["precipitation_m_s"]
        np.testing.assert_allclose(p[GRID.lat_deg == 2.5], expected * 1.005, rtol=1e-6)  # (source cell 0..10 N)


@pytest.mark.parametrize("edit, what", [
    (lambda ds: ds.isel(lat=slice(None, None, -1)), r"its latitudes run 85\.\.-85, those of the first file -85\.\.85"),
    (lambda ds: ds.assign_coords(lon=(ds["lon"] + 180.0) % 360.0 - 180.0).sortby("lon"),
     r"its longitudes run -175\.\.175, those of the first file 5\.\.355"),
])
def test_error_a_file_of_a_series_with_its_grid_in_another_order(edit, what):
    """A year of tas with the same sizes but latitudes north to south (or longitudes -180..180) was read with the
    first file's coordinates: mirrored (or shifted by half the globe) without a word."""
    files = cmip_years([2030, 2031])
    files[5] = edit(files[5]).assign_attrs(files[5].attrs)  # tas of 2031
    with pytest.raises(InputError, match=r"tas_Amon_M_ssp245_r1i1p1f1_gn_203101-203112\.nc: variable 'tas': has a "
                                         r"different grid than tas_Amon_M_ssp245_r1i1p1f1_gn_203001-203012\.nc: " + what
                                         + r".*Fix: give the files of one variable on one grid"):
        _open(files)


def test_error_files_in_different_calendars():
    """A year of a series in 360_day among noleap years, or one variable of another model's calendar, was mapped
    onto model time each by its own calendar without a word."""
    series = cmip_years([2030, 2031])
    series[1] = cmip_year("uas", 2031, calendar="360_day")
    with pytest.raises(InputError, match=r"uas_Amon_M_ssp245_r1i1p1f1_gn_203101-203112\.nc: variable 'uas' time "
                                         r"calendar: is '360_day', while uas_Amon_M_ssp245_r1i1p1f1_gn_203001-203012\.nc "
                                         r"\('uas'\) is 'noleap': the files of 'uas' mix calendars.*Fix: give files of "
                                         r"one model and experiment"):
        _open(series)
    variables = cmip_years([2030], ("uas", "vas", "tas")) + [cmip_year("pr", 2030, calendar="360_day")]
    with pytest.raises(InputError, match=r"pr_Amon_.*: variable 'pr' time calendar: is '360_day', while "
                                         r"uas_Amon_.* \('uas'\) is 'noleap': the met variables mix calendars"):
        _open(variables)
    # the names of one calendar are one calendar; a cyclic climatology may have any
    same = cmip_years([2030], ("uas", "vas", "tas")) + [cmip_year("pr", 2030, calendar="365_day")]
    clim = cmip_year("pr", 2001, calendar="360_day")
    clim["time"].attrs["climatology"] = "time_bnds"
    for files in (same, cmip_years([2030], ("uas", "vas", "tas")) + [clim]):
        met = _open(files)
        assert met.vars["precipitation"].times.size == 12


def test_error_a_file_left_out_of_a_series_and_overlapping_files():
    """Records missing between two files of a series (a year's file left out of the glob) within the run are refused
    before it starts (the run interpolated across the year with only a warning); outside the run they are not. A year
    given twice names both files."""
    files = [f for f in cmip_years([2029, 2030, 2031]) if "_203001-" not in f.attrs["source_file"] or
             not f.attrs["source_file"].startswith("tas")]
    met = _open(files)
    met.check_covers(np.datetime64("2031-02-01"), np.datetime64("2031-11-01"))
    with pytest.raises(InputError, match=r"tas_Amon_M_ssp245_r1i1p1f1_gn_202901-202912\.nc \(\+1 more files\): variable "
                                         r"'tas' time: records are missing between 2029-12-16T12:00:00 \(the last of "
                                         r"tas_Amon_M_ssp245_r1i1p1f1_gn_202901-202912\.nc\) and 2031-01-16T12:00:00 \(the "
                                         r"first of tas_Amon_M_ssp245_r1i1p1f1_gn_203101-203112\.nc\), 13 times the usual "
                                         r"spacing of 732 h, within the run .*Fix: add the missing file"):
        met.check_covers(np.datetime64("2030-01-01"), np.datetime64("2030-03-01"))
    twice = cmip_years([2030, 2031]) + [cmip_year("tas", 2030).assign_attrs(source_file="tas_copy.nc")]
    with pytest.raises(InputError, match=r"tas_copy\.nc: variable 'tas' time: its records \(2030-01-16T12:00:00\.\."
                                         r"2030-12-16T12:00:00\) overlap those of tas_Amon_M_ssp245_r1i1p1f1_gn_203001-"
                                         r"203012\.nc \(2030-01-16T12:00:00\.\.2030-12-16T12:00:00\).*Fix: give each "
                                         r"span of time once"):
        _open(twice)
    # a glob that takes daily files beside monthly ones: their records would be interleaved without a repeated time
    days = cmip_year("tas", 2030).isel(time=slice(0, 2))
    days["time"] = ("time", [10950.5, 10980.5], {"units": "days since 2000-01-01", "calendar": "noleap"})
    days = days.drop_vars("time_bnds").assign_attrs(source_file="tas_day_M_ssp245_r1i1p1f1_gn_20300101-20300131.nc")
    with pytest.raises(InputError, match=r"tas_Amon_.*203001-203012\.nc: variable 'tas' time: its records \(2030-01-16"
                                         r"T12:00:00\.\.2030-12-16T12:00:00\) overlap those of tas_day_.*\.nc \(2030-01-01"
                                         r"T12:00:00\.\.2030-01-31T12:00:00\).*'tas_Amon_\*\.nc', not 'tas_\*\.nc'"):
        _open(cmip_years([2030]) + [days])
    within = cmip_year("tas", 2030)
    within["time"] = ("time", np.r_[within["time"].values[:11], within["time"].values[10]],
                      {"units": "days since 2000-01-01", "calendar": "noleap"})
    within = within.drop_vars("time_bnds")
    with pytest.raises(InputError, match=r"tas_Amon_.*: variable 'tas' time: record 2030-11-16T00:00:00 appears twice"):
        _open(cmip_years([2030], ("uas", "vas")) + [within])


def test_warnings_of_many_files_name_the_first_and_count_the_others():
    """A CMIP run's files (one per variable and year) made every warning name all of them."""
    with pytest.warns(UserWarning) as record:
        open_met(cmip_years([2030, 2031]), GRID)
    texts = [str(w.message) for w in record]
    assert any(t.startswith("uas_Amon_M_ssp245_r1i1p1f1_gn_203001-203012.nc (+8 more files): only 10 m winds were found")
               for t in texts)
    assert not any("vas_Amon" in t.split(": ")[0] for t in texts)


def test_a_surface_pressure_that_does_not_fit_the_levels_is_warned_of_and_not_read_at_other_longitudes():
    """ps with the levels' sizes but longitudes -180..180 beside ua's 0..360 was read at the columns of ua's grid (the
    pressure of the other half of the globe); ps on other grids or times was left out without a word."""
    high = cmip_year("ps", 2030, value=6e4)  # (60 000 Pa, high ground, east of 0 E; 100 000 Pa west of it)
    high["ps"] = high["ps"].where(high["lon"] < 180.0, 1e5)
    base = cmip_years([2030], ("ua", "va", "tas"))
    fitting = _open(base + [high]).fields_at(np.datetime64("2030-07-01"))["eastward_wind_m_s"]
    standard = _open(base).fields_at(np.datetime64("2030-07-01"))["eastward_wind_m_s"]
    assert np.all(fitting[0] > standard[0] + 1.0)  # (the lowest layer lies at lower pressures over high ground)
    shifted = high.assign_coords(lon=(high["lon"] + 180.0) % 360.0 - 180.0).sortby("lon").assign_attrs(high.attrs)
    with pytest.warns(UserWarning, match=r"the surface pressure 'ps' in ps_Amon_.* is not on the grid of 'ua' in "
                                         r"ua_Amon_.*, so the levels of 'ua' are placed with the standard surface "
                                         r"pressure of 101325 Pa.*give the surface pressure on the same grid"):
        f = open_met(base + [shifted], GRID).fields_at(np.datetime64("2030-07-01"))["eastward_wind_m_s"]
    np.testing.assert_array_equal(f, standard)


def test_a_land_fraction_of_fractions_labelled_per_cent_is_warned_of():
    """sftlf of 0/1 with CMIP's unit '%' read as at most 1 % land without a word; a real per-cent field is not
    warned of, nor one of a domain without land."""
    files = cmip_years([2030], ("uas", "vas", "tas"))
    files[-1]["sftlf"] = files[-1]["sftlf"] / 100.0
    files[-1]["sftlf"].attrs["units"] = "%"
    with pytest.warns(UserWarning, match=r"'sftlf' in sftlf_fx_.* \(units '%'\) is in per cent but no value in the model "
                                         r"domain exceeds 1 %: if it holds fractions 0\.\.1, set its units to '1', else "
                                         r"the land is read as at most 1 % of every cell"):
        land = open_met(files, GRID).fields_at(np.datetime64("2030-07-01"))["land_fraction"]
    assert land.max() == pytest.approx(0.01)
    for scale in (1.0, 0.0):
        files = cmip_years([2030], ("uas", "vas", "tas"))
        files[-1]["sftlf"] = files[-1]["sftlf"] * scale
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            open_met(files, GRID).fields_at(np.datetime64("2030-07-01"))
        assert not [w for w in record if "per cent" in str(w.message)]


def test_the_surface_pressure_cmor_writes_into_the_files_of_hybrid_level_variables_is_read_once():
    """CMOR writes ps (a formula term of hybrid levels) into every 6hrLev file beside ua, va, ta: the copies of one
    span of records were refused as overlapping files; the ps file's own records, or one copy, are read."""
    ps = cmip_year("ps", 2030, value=6e4).assign_attrs(variable_id="ps")
    levels = [ds.assign(ps=ps["ps"]).assign_attrs(variable_id=name)
              for ds, name in zip(cmip_years([2030], ("ua", "va")), ("ua", "va"))]
    sftlf = cmip_years([2030], ())
    expected = _open(cmip_years([2030], ("ua", "va")) + [ps]).fields_at(np.datetime64("2030-07-01"))
    for files in (levels + [ps] + sftlf, levels + sftlf):
        met = _open(files)
        assert len(met.vars["surface_pressure"].parts) == 1
        f = met.fields_at(np.datetime64("2030-07-01"))
        np.testing.assert_array_equal(f["eastward_wind_m_s"], expected["eastward_wind_m_s"])
        np.testing.assert_array_equal(f["surface_pressure_pa"], expected["surface_pressure_pa"])
    # two files of the variable itself for the same records are still refused
    with pytest.raises(InputError, match=r"variable 'ps' time: its records .* overlap those of"):
        _open(levels + [ps, ps.assign_attrs(source_file="ps_again.nc")] + sftlf)


@pytest.mark.parametrize("calendar", ["standard", "noleap", "360_day"])
def test_monthly_means_stamped_on_the_first_of_the_month_are_mid_month_in_every_calendar(calendar):
    """Records at 00:00 on the first of each month are monthly means valid mid-month: the check was made in model
    time, where a noleap leap year's firsts fall hours after midnight and a 360_day month's rarely on a first, so
    those were taken as valid at the start of their months (half a month early) and noleap's other years were not."""
    for year in (2031, 2032):
        bounded = cmip_year("uas", year, calendar=calendar)
        stamped = cmip_year("tas", year, calendar=calendar).drop_vars("time_bnds")
        firsts = [cftime.datetime(year, m, 1, calendar=calendar) for m in range(1, 13)]
        stamped["time"] = ("time", cftime.date2num(firsts, "days since 2000-01-01", calendar=calendar),
                           {"units": "days since 2000-01-01", "calendar": calendar})
        decoded = xr.decode_cf(stamped, decode_times=xr.coders.CFDatetimeCoder(use_cftime=True))  # (cftime dates)
        for tas in (stamped, decoded):
            met = _open([bounded, cmip_year("vas", year, calendar=calendar), tas])
            gap_s = np.abs(met.vars["air_temperature_2m"].times - met.times).astype(np.int64)
            assert gap_s.max() <= 1  # (s: the middle of the bounds is taken in model time, rounded to the second)


def test_a_missing_land_fraction_is_warned_of_with_what_to_add():
    """CMIP met without its fx sftlf file: the warning says what was looked for and which file to add."""
    with pytest.warns(UserWarning, match=r"land fraction not found \(looked for standard_name 'land_area_fraction' or "
                                         r"\['sftlf', 'lsm', .*\]\); using the Natural Earth land fraction of the grid, "
                                         r".*add the met's own to met\.source \(e\.g\. CMIP's fx file sftlf_fx_"):
        open_met(cmip_years([2030])[:-1], GRID)


def test_a_sea_ice_fraction_of_fractions_labelled_per_cent_is_warned_of_once():
    """siconca of 0..1 with CMIP's unit '%' read as at most 1 % ice without a word."""
    ice = cmip_year("tas", 2030, value=0.0).rename(tas="siconca")
    ice["siconca"] = xr.where(ice["lat"] > 50.0, 0.9, 0.0).broadcast_like(ice["siconca"]).assign_attrs(
        units="%", standard_name="sea_ice_area_fraction")
    files = cmip_years([2030]) + [ice]
    arctic = LatLonGrid.regional(60.0, 180.0, 50.0, 90.0, 10.0)
    with pytest.warns(UserWarning) as record:
        met = open_met(files, arctic)
        for t in met.times[:3]:
            met.fields_at(t)
    texts = [str(w.message) for w in record if "in per cent" in str(w.message)]
    assert len(texts) == 1 and re.search(r"'siconca' in .* is in per cent but no value in the model domain at record 0 "
                                         r".* exceeds 0\.9 %: .* the sea ice is read as at most 0\.9 %", texts[0])
