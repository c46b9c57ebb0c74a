"""Emission inventories: units, conservative regridding, point sources, national totals with proxies, profiles,
the built-in PCB-153 inventory, and the errors for bad inputs. Totals are kept to 1e-12 relative."""

from __future__ import annotations

import csv
import re
import warnings
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from popstransport.grid import AirLayers, LatLonGrid
from popstransport.io.emissions import (
    SECONDS_PER_YEAR,
    EmissionInventory,
    open_emissions,
    parse_emission_unit,
)
from popstransport.io.errors import InputError
from popstransport.io.regions import RegionMasks

DOMAIN = LatLonGrid.regional(60.0, 180.0, -15.0, 60.0, 1.0)
SHARED_EMISSIONS = Path(__file__).resolve().parents[2] / "shared" / "data" / "emissions" / "emissions_asia_pacific.csv"
REL = 1e-12


@pytest.mark.parametrize(
    "unit, factor, per_area, per_mole",
    [
        ("kg m-2 s-1", 1.0, True, False),
        ("kg m**-2 s**-1", 1.0, True, False),
        ("kg/m2/s", 1.0, True, False),
        ("kg/cell/yr", 1.0 / SECONDS_PER_YEAR, False, False),
        ("kg cell-1 yr-1", 1.0 / SECONDS_PER_YEAR, False, False),
        ("g/yr", 1e-3 / SECONDS_PER_YEAR, False, False),
        ("t/yr", 1e3 / SECONDS_PER_YEAR, False, False),
        ("Gg/yr", 1e6 / SECONDS_PER_YEAR, False, False),
        ("mg/yr", 1e-6 / SECONDS_PER_YEAR, False, False),
        ("ng m-2 yr-1", 1e-12 / SECONDS_PER_YEAR, True, False),
        ("kg km-2 d-1", 1e-6 / 86400.0, True, False),
        ("kg/km2/yr", 1e-6 / SECONDS_PER_YEAR, True, False),
        ("g/cm2/s", 10.0, True, False),
        ("mol/h", 1.0 / 3600.0, False, True),
        ("kmol per day", 1e3 / 86400.0, False, True),
        ("kg.m-2.s-1", 1.0, True, False),
        ("g.m-2.yr-1", 1e-3 / SECONDS_PER_YEAR, True, False),
    ],
)
def test_units(unit, factor, per_area, per_mole):
    u = parse_emission_unit(unit)
    assert u.factor == pytest.approx(factor, rel=1e-15)
    assert (u.per_area, u.per_mole) == (per_area, per_mole)


@pytest.mark.parametrize("bad", ["kg", "kg/yr/yr", "kg m-2 s-2", "kg m-2 cell-1 s-1", "furlong/s", "m/s", "kg/month"])
def test_unknown_units_are_refused(bad):
    with pytest.raises(InputError, match=r"is not a known emission unit"):
        parse_emission_unit(bad, "file.nc", "variable 'emi'")


def _gridded(values, lon, lat, units, name="emi", time=None):
    dims = ("lat", "lon") if time is None else ("time", "lat", "lon")
    coords = {"lat": ("lat", lat, {"units": "degrees_north"}), "lon": ("lon", lon, {"units": "degrees_east"})}
    if time is not None:
        coords["time"] = ("time", time)
    return xr.Dataset({name: (dims, values, {"units": units})}, coords=coords)


def test_gridded_flux_per_area_conservative_total_1e12():
    lon = np.arange(70.25, 170.0, 0.5)  # 0.5-degree source inside the domain
    lat = np.arange(-9.75, 55.0, 0.5)[::-1]
    rng = np.random.default_rng(0)
    flux = rng.random((lat.size, lon.size)) * 1e-12  # kg m-2 s-1
    inv = EmissionInventory.from_netcdf(_gridded(flux, lon, lat, "kg m-2 s-1"), DOMAIN)
    from popstransport.io.regrid import SourceGrid

    area = SourceGrid.from_coords(lon, lat).cell_area_m2(DOMAIN.radius_m)
    before = float(np.sum(flux * area))
    after = float(inv.rates_kg_s().sum())
    print(f"gridded kg m-2 s-1: before {before:.15e} kg/s, after {after:.15e} kg/s, rel {abs(after / before - 1):.1e}")
    assert abs(after / before - 1) < REL
    assert inv.total_kg_s == pytest.approx(after, rel=1e-15)
    assert inv.rates_kg_s(np.datetime64("2001-03-01")).shape == DOMAIN.shape


def test_gridded_mol_per_hour_per_cell_global_source():
    """A BETR-like 3.75-degree global inventory in mol/h per cell, onto the regional domain."""
    lon = -180.0 + 3.75 * (np.arange(96) + 0.5)
    lat = 90.0 - 3.75 * (np.arange(48) + 0.5)
    rng = np.random.default_rng(5)
    mol_h = rng.random((48, 96))
    with pytest.raises(InputError, match="no molar mass"):
        EmissionInventory.from_netcdf(_gridded(mol_h, lon, lat, "mol/h"), DOMAIN)
    with pytest.warns(UserWarning, match="lies outside the model domain"):
        inv = EmissionInventory.from_netcdf(_gridded(mol_h, lon, lat, "mol/h"), DOMAIN, molar_mass_g_mol=360.88)
    # expected: every source cell's mass times the fraction of its area inside the domain
    from popstransport.io.regrid import Conservative, SourceGrid

    src = SourceGrid.from_coords(lon, lat)
    kg_s = mol_h * 0.36088 / 3600.0
    expected = float(np.sum(Conservative(src, DOMAIN, require_cover=False).amounts(kg_s)))
    assert abs(inv.total_kg_s / expected - 1) < REL
    # a source entirely inside the domain keeps its total exactly
    inside = np.zeros_like(kg_s)
    LO, LA = np.meshgrid(lon, lat)
    sel = (LO > 62) & (LO < 178) & (LA > -13) & (LA < 58)
    inside[sel] = mol_h[sel]
    inv2 = EmissionInventory.from_netcdf(_gridded(inside, lon, lat, "mol/h"), DOMAIN, molar_mass_g_mol=360.88)
    assert abs(inv2.total_kg_s / (inside.sum() * 0.36088 / 3600.0) - 1) < REL
    # one per cent of it outside the domain is reported, with its share
    outside = inside.copy()
    outside[0, 0] = 0.01 * inside.sum() / 0.99
    with pytest.warns(UserWarning, match=r"^\S+: 1% of the emission of 'emi' lies outside the model domain"):
        EmissionInventory.from_netcdf(_gridded(outside, lon, lat, "mol/h"), DOMAIN, molar_mass_g_mol=360.88)


def test_missing_values_of_a_gridded_file_are_no_emission_when_asked(tmp_path, capsys):
    """Gridded products often leave the sea missing (a ``_FillValue``); such a file was refused with the advice to
    fill it, which needs another tool. With ``emissions.missing_as_zero`` the missing cells emit nothing, the rest
    exactly what the file says, the dataset given is left as it was, and `validate` counts the missing values; the
    option is refused for inventories that have no missing values."""
    from popstransport.cli import main
    from popstransport.io.emissions import open_emissions

    lon = np.arange(100.5, 110.0, 1.0)
    lat = np.arange(20.5, 30.0, 1.0)
    vals = np.full((lat.size, lon.size), 2.0)
    vals[:, 6:] = np.nan  # "sea" east of 106 E
    ds = _gridded(vals, lon, lat, "kg/cell/yr")
    path = tmp_path / "land_only.nc"
    ds.to_netcdf(path, encoding={"emi": {"_FillValue": -9999.0}})
    with xr.open_dataset(path, mask_and_scale=False) as raw:
        assert (raw["emi"].values == -9999.0).sum() == 40  # (the file holds fill values, read as NaN)
    with pytest.raises(InputError, match=r"land_only\.nc: variable 'emi': 40 values are missing"):
        EmissionInventory.from_netcdf(path, DOMAIN)
    inv = EmissionInventory.from_netcdf(ds, DOMAIN, missing_as_zero=True)
    assert inv.annual_total_kg == pytest.approx(2.0 * 6 * lat.size, rel=1e-12)
    assert np.isnan(ds["emi"].values).sum() == 40
    assert any("40 missing values of 'emi' (of 100) read as no emission" in n for n in inv.notes)
    with pytest.raises(InputError, match=r"emissions.missing_as_zero: applies to gridded NetCDF inventories; this is "
                                         r"a national inventory"):
        f = tmp_path / "totals.csv"
        f.write_text("iso3,year,value,unit\nCHN,2010,1,kg/yr\n")
        open_emissions(f, DOMAIN, year=2010, missing_as_zero=True)
    sets = ["domain.resolution_deg=5", "met.source=uniform", f"emissions.source='{path}'", "emissions.year=2010"]
    args = [a for kv in sets for a in ("--set", kv)]
    assert main(["validate", *args]) == 1
    assert "set emissions.missing_as_zero = true" in capsys.readouterr().err
    assert main(["validate", *args, "--set", "emissions.missing_as_zero=true", "--set", "emissions.scale=2"]) == 0
    assert "missing values read as no emission (emissions.missing_as_zero): 40 of the file's values" in \
        capsys.readouterr().out


def test_gridded_monthly_records_become_profiles():
    lon = np.arange(100.5, 110.0, 1.0)
    lat = np.arange(20.5, 30.0, 1.0)
    months = np.arange(1, 13)
    vals = np.ones((12, lat.size, lon.size)) * months[:, None, None]  # kg/cell/yr, rising through the year
    time = np.array([np.datetime64(f"2005-{m:02d}-15") for m in months])
    inv = EmissionInventory.from_netcdf(_gridded(vals, lon, lat, "kg/cell/yr", time=time), DOMAIN)
    days = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
    annual_mean = np.sum(days * months) / 365.0 * lon.size * lat.size / SECONDS_PER_YEAR
    assert abs(inv.total_kg_s / annual_mean - 1) < REL
    jan = inv.rates_kg_s(np.datetime64("2005-01-20")).sum()
    dec = inv.rates_kg_s(np.datetime64("2005-12-20")).sum()
    assert dec / jan == pytest.approx(12.0, rel=1e-12)
    # the months add up to the annual total
    total = sum(inv.rates_kg_s(np.datetime64(f"2005-{m:02d}-10")).sum() * d * 86400 for m, d in zip(months, days))
    assert abs(total / inv.annual_total_kg - 1) < REL


def test_gridded_errors(tmp_path):
    lon = np.arange(100.5, 110.0, 1.0)
    lat = np.arange(20.5, 30.0, 1.0)
    vals = np.ones((lat.size, lon.size))
    neg = vals.copy()
    neg[3, 4] = -1.0
    with pytest.raises(InputError, match=r"variable 'emi': 1 values are negative \(min -1\).*must be >= 0"):
        EmissionInventory.from_netcdf(_gridded(neg, lon, lat, "kg/cell/yr"), DOMAIN)
    nan = vals.copy()
    nan[0, 0] = np.nan
    with pytest.raises(InputError, match=r"1 values are missing .*set emissions.missing_as_zero = true"):
        EmissionInventory.from_netcdf(_gridded(nan, lon, lat, "kg/cell/yr"), DOMAIN)
    inf = vals.copy()
    inf[1, 1] = np.inf
    with pytest.raises(InputError, match=r"1 values are infinite"):
        EmissionInventory.from_netcdf(_gridded(inf, lon, lat, "kg/cell/yr"), DOMAIN, missing_as_zero=True)
    with pytest.raises(InputError, match=r"unit 'kg/fortnight' is not a known emission unit"):
        EmissionInventory.from_netcdf(_gridded(vals, lon, lat, "kg/fortnight"), DOMAIN)
    far = _gridded(vals, lon - 120.0, lat, "kg/cell/yr")  # 20W..10W: outside 60E..180E
    with pytest.raises(InputError, match=r"all emissions .* lie outside the model domain"):
        EmissionInventory.from_netcdf(far, DOMAIN)
    bad = tmp_path / "broken.nc"
    bad.write_bytes(b"CDF\x01 this is not a netcdf file")
    with pytest.raises(InputError, match=r"broken\.nc: NetCDF: cannot be opened"):
        EmissionInventory.from_netcdf(bad, DOMAIN)
    with pytest.raises(InputError, match=r"no units attribute"):
        EmissionInventory.from_netcdf(_gridded(vals, lon, lat, "x").assign(emi=(("lat", "lon"), vals)), DOMAIN)


def test_gridded_file_and_variable_errors(tmp_path):
    """A missing file, an ambiguous or unknown variable, extra dimensions and years that the file does not hold (or
    several years without a choice) are refused with the file, the field and the fix."""
    lon = np.arange(100.5, 110.0, 1.0)
    lat = np.arange(20.5, 30.0, 1.0)
    vals = np.ones((lat.size, lon.size))
    with pytest.raises(InputError, match=r"nowhere\.nc: emission file: does not exist"):
        EmissionInventory.from_netcdf(tmp_path / "nowhere.nc", DOMAIN)
    two = _gridded(vals, lon, lat, "kg/cell/yr").assign(other=(("lat", "lon"), vals, {"units": "kg/cell/yr"}))
    with pytest.raises(InputError, match=r"emission variable: found \['emi', 'other'\] on a lat/lon grid.*variable="):
        EmissionInventory.from_netcdf(two, DOMAIN)
    with pytest.raises(InputError, match=r"variable 'pcb': not found; the file holds \['emi', 'other'\]"):
        EmissionInventory.from_netcdf(two, DOMAIN, variable="pcb")
    levels = xr.Dataset({"emi": (("time", "level", "lat", "lon"), np.ones((1, 2, lat.size, lon.size)),
                                 {"units": "kg/cell/yr"})}, coords={"lat": lat, "lon": lon})
    with pytest.raises(InputError, match=r"variable 'emi': has extra dimensions \['level'\]"):
        EmissionInventory.from_netcdf(levels, DOMAIN)
    time = np.array(["2004-07-01", "2005-07-01"], dtype="datetime64[ns]")
    years = _gridded(np.ones((2, lat.size, lon.size)), lon, lat, "kg/cell/yr", time=time)
    with pytest.raises(InputError, match=r"variable 'emi': has no records in 2010; years \[2004, 2005\]"):
        EmissionInventory.from_netcdf(years, DOMAIN, year=2010)
    with pytest.raises(InputError, match=r"variable 'emi': spans years \[2004, 2005\].*year="):
        EmissionInventory.from_netcdf(years, DOMAIN)
    assert EmissionInventory.from_netcdf(years, DOMAIN, year=2005).annual_total_kg == pytest.approx(100.0, rel=1e-12)


def test_proxy_point_scale_and_monthly_profile_errors(tmp_path, masks):
    """A bad proxy, point sources all outside the domain, a bad scale, profile months outside 1..12 or missing, and
    monthly factors that are not 12 non-negative values or are all zero are refused with the file, the field and the
    fix."""
    from popstransport.io.emissions import EmissionPart, normalise_monthly

    f = tmp_path / "n.csv"
    f.write_text("iso3,value,unit\nCHN,3,kg/yr\n")
    for proxy in (np.ones((3, 3)), np.full(DOMAIN.shape, -1.0), np.full(DOMAIN.shape, np.nan)):
        with pytest.raises(InputError, match=r"proxy grid: shape .* finite values >= 0.*regrid the proxy"):
            EmissionInventory.from_national_csv(f, DOMAIN, masks=masks, proxy=proxy)
    pts = tmp_path / "p.csv"
    pts.write_text("name,lon,lat,rate,unit\nParis,2.35,48.85,1,kg/yr\n")
    with pytest.warns(UserWarning, match="dropped"), pytest.raises(InputError, match=r"none lies inside the model"):
        EmissionInventory.from_point_csv(pts, DOMAIN, outside="drop")
    for scale in (-1.0, float("nan")):
        with pytest.raises(InputError, match=r"emissions: scale: .* must be a finite number >= 0"):
            open_emissions(f, DOMAIN, scale=scale, masks=masks)
    prof = tmp_path / "profiles.csv"
    prof.write_text("sector,month,factor\n" + "".join(f"heating,{m},1\n" for m in range(1, 13)) + "heating,13,1\n")
    with pytest.raises(InputError, match=r"line 14, column 'month': 13 is not 1\.\.12"):
        EmissionInventory.from_national_csv(f, DOMAIN, masks=masks, sector_profiles=prof)
    prof.write_text("sector,month,factor\n" + "".join(f"heating,{m},1\n" for m in range(1, 12)))
    with pytest.raises(InputError, match=r"sector 'heating': does not give all 12 months"):
        EmissionInventory.from_national_csv(f, DOMAIN, masks=masks, sector_profiles=prof)
    for bad in (np.ones(11), np.array([1.0] * 11 + [-1.0]), np.array([1.0] * 11 + [np.inf])):
        with pytest.raises(InputError, match=r"monthly factors: need 12 finite non-negative values"):
            normalise_monthly(bad)
    with pytest.raises(InputError, match=r"monthly factors: are all zero"):
        normalise_monthly(np.zeros(12))
    with pytest.raises(ValueError, match=r"emission part 'x': rates \(1, 2, 2\) must be"):
        EmissionInventory(DOMAIN, [EmissionPart("x", np.zeros((1, 2, 2)), np.ones(12))])


def test_point_sources_csv(tmp_path):
    f = tmp_path / "points.csv"
    f.write_text(
        "name,lon,lat,height_m,rate,unit,sector\n"
        "stack A,121.47,31.23,150,12.5,kg/yr,industry\n"
        "stack B,139.69,35.69,2500,3.0,g/h,industry\n"
        "city C,77.21,28.61,0,0.02,mol/h,waste\n"
    )
    inv = EmissionInventory.from_point_csv(f, DOMAIN, molar_mass_g_mol=360.88)
    expected = 12.5 / SECONDS_PER_YEAR + 3.0e-3 / 3600.0 + 0.02 * 0.36088 / 3600.0
    assert abs(inv.total_kg_s / expected - 1) < REL
    by_layer = inv.rates_by_layer_kg_s()
    assert by_layer[1].sum() == pytest.approx(3.0e-3 / 3600.0, rel=1e-14)  # 2500 m: second layer
    j = np.searchsorted(DOMAIN.lat_edges_deg, 31.23) - 1
    i = np.searchsorted(DOMAIN.lon_edges_deg, 121.47) - 1
    assert by_layer[0, j, i] == pytest.approx(12.5 / SECONDS_PER_YEAR, rel=1e-14)
    assert set(inv.total_by_part_kg_s()) == {"industry", "waste"}
    out = tmp_path / "outside.csv"
    out.write_text("name,lon,lat,rate,unit\nParis,2.35,48.85,1,kg/yr\nTokyo,139.69,35.69,1,kg/yr\n")
    with pytest.raises(InputError, match=r"line 2 \(Paris\): lies at lon 2.35, lat 48.85, outside the model domain"):
        EmissionInventory.from_point_csv(out, DOMAIN)
    with pytest.warns(UserWarning, match="dropped"):
        inv = EmissionInventory.from_point_csv(out, DOMAIN, outside="drop")
    assert inv.annual_total_kg == pytest.approx(1.0, rel=1e-14)
    negative = tmp_path / "neg.csv"
    negative.write_text("lon,lat,rate,unit\n120,30,-5,kg/yr\n")
    with pytest.raises(InputError, match=r"line 2, column 'rate': -5.0 is negative"):
        EmissionInventory.from_point_csv(negative, DOMAIN)
    high = tmp_path / "high.csv"
    high.write_text("lon,lat,rate,unit,height_m\n120,30,5,kg/yr,20000\n")
    with pytest.raises(InputError, match=r"emission height: 20000 m is outside the air layers"):
        EmissionInventory.from_point_csv(high, DOMAIN)


@pytest.fixture(scope="module")
def masks():
    return RegionMasks.for_countries(DOMAIN)


def test_national_totals_land_area_and_user_proxy(tmp_path, masks):
    f = tmp_path / "national.csv"
    f.write_text("iso3,year,value,unit,sector\nCHN,2000,250,kg/yr,industry\nIND,2000,120,kg/yr,industry\n"
                 "JPN,2000,80,t/yr,waste\nTHA,2000,3000,g/yr,waste\n")
    inv = EmissionInventory.from_national_csv(f, DOMAIN, masks=masks)
    expected = (250 + 120 + 80e3 + 3.0) / SECONDS_PER_YEAR
    print(f"national totals: requested {expected:.15e}, on grid {inv.total_kg_s:.15e}")
    assert abs(inv.total_kg_s / expected - 1) < REL
    # land-area proxy: emission per m2 of China's land is uniform
    chn = masks.fraction[masks.index("CHN")]
    sel = (chn > 0.5) & (masks.fraction[masks.index("IND")] == 0)
    per_area = inv.rates_kg_s()[sel] / (chn * DOMAIN.cell_area_m2)[sel]
    assert np.ptp(per_area) < 1e-9 * per_area.max()
    # a user proxy (population-like) keeps the total and follows the proxy
    rng = np.random.default_rng(2)
    proxy = rng.random(DOMAIN.shape) ** 4 * 1e6
    inv_p = EmissionInventory.from_national_csv(f, DOMAIN, masks=masks, proxy=proxy)
    assert abs(inv_p.total_kg_s / expected - 1) < REL
    ind = masks.fraction[masks.index("IND")]
    inside = (ind > 0.5) & (masks.fraction[masks.index("CHN")] == 0)
    ratio = inv_p.rates_kg_s()[inside] / (ind * proxy)[inside]
    assert np.ptp(ratio) < 1e-9 * ratio.max()


def test_national_partly_outside_is_reported(tmp_path, masks):
    f = tmp_path / "n.csv"
    f.write_text("iso2,value,unit\nRU,1000,kg/yr\nNZ,10,kg/yr\nKR,50,kg/yr\n")
    with pytest.warns(UserWarning) as rec:
        inv = EmissionInventory.from_national_csv(f, DOMAIN, masks=masks)
    assert any("RU (RUS): 33.1% of its area lies in the domain" in str(r.message) for r in rec)
    assert inv.requested_kg_s * SECONDS_PER_YEAR == pytest.approx(1060.0)
    assert abs((inv.total_kg_s + inv.outside_kg_s) / inv.requested_kg_s - 1) < REL
    assert any("NZ (NZL) lies outside the domain" in n for n in inv.notes)
    # (the countries outside, one line each, as `validate` lists them; not the note on how the totals were spread)
    assert [n.split(" ")[0] for n in inv.outside_notes] == ["RU", "NZ"] and inv.scaled(2).outside_notes == inv.outside_notes


def test_sector_profiles_keep_annual_totals(tmp_path, masks):
    f = tmp_path / "n.csv"
    f.write_text("iso3,value,unit,sector\nCHN,365,kg/yr,heating\nCHN,100,kg/yr,industry\n")
    prof = tmp_path / "profiles.csv"
    rows = ["sector,month,factor,height_m"]
    rows += [f"heating,{m},{3.0 if m in (1, 2, 12) else 0.5},0" for m in range(1, 13)]
    rows += [f"industry,{m},1.0,1500" for m in range(1, 13)]
    prof.write_text("\n".join(rows) + "\n")
    inv = EmissionInventory.from_national_csv(f, DOMAIN, masks=masks, sector_profiles=prof)
    days = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    total = sum(inv.rates_kg_s(np.datetime64(f"2001-{m:02d}-05")).sum() * d * 86400 for m, d in zip(range(1, 13), days))
    assert abs(total / 465.0 - 1) < REL
    jan = inv.rates_by_layer_kg_s(np.datetime64("2001-01-10"))
    jul = inv.rates_by_layer_kg_s(np.datetime64("2001-07-10"))
    assert jan[0].sum() / jul[0].sum() == pytest.approx(6.0, rel=1e-12)
    assert jan[1].sum() == pytest.approx(100.0 / SECONDS_PER_YEAR, rel=1e-12)  # industry stack in layer 1


@pytest.mark.parametrize("text, kwargs, match", [
    ("iso3,year,value,unit\nXXX,2000,1,kg/yr\n", {}, r"country 'XXX': is not a Natural Earth country code"),
    ("iso3,year,value,unit\nCHN,2000,1,kg/yr\nCHN,2010,2,kg/yr\n", {}, r"several years"),
    ("iso3,year,value,unit\nCHN,2000,1,kg/yr\nCHN,2010,2,kg/yr\n", {"year": 2005},
     r"year 2005: is not in the file; available: \['2000', '2010'\]"),
    ("iso3,value,unit\nCHN,-3,kg/yr\n", {}, r"-3.0 is negative"),
    ("iso3,value,unit\nNZL,3,kg/yr\n", {}, r"none of \['NZL'\] lies in the model domain"),
    ("iso3,value,unit\nCHN,3,kg/m2/yr\n", {}, r"is per area"),
    ("iso3,value,unit\n", {}, r"n\.csv: rows: the file has no data rows"),
    ("iso3,value\nCHN,3\n", {}, r"columns \['unit'\]: missing; the file has \['iso3', 'value'\]"),
    ("nation,value,unit\nCHN,3,kg/yr\n", {}, r"columns: no country column among .*'iso3'"),
    ("iso3,substance,value,unit\nCHN,HCB,3,kg/yr\n", {"substance": "PCB-153"}, r"substance 'PCB-153': has no rows"),
    ("iso3,emission_type,value,unit\nCHN,water,3,kg/yr\n", {},
     r"rows: no country rows \(after filtering by substance and emission type\)"),
])
def test_national_errors(tmp_path, masks, text, kwargs, match):
    f = tmp_path / "n.csv"
    f.write_text(text)
    with pytest.raises(InputError, match=match):
        EmissionInventory.from_national_csv(f, DOMAIN, masks=masks, **kwargs)


def test_national_totals_between_years_scaling_and_layer_shares(tmp_path, masks):
    """A year between two of the file's is linear in time (1993: 0.7 of 1990 and 0.3 of 2000), a country missing in
    one of the two years counts as zero there; a scaled inventory scales what lies outside the domain and the request
    too; a cell without emission puts all of it into the lowest layer."""
    f = tmp_path / "n.csv"
    f.write_text("iso3,year,value,unit\nCHN,1990,100,kg/yr\nCHN,2000,300,kg/yr\nJPN,1990,50,kg/yr\n"
                 "RUS,1990,1000,kg/yr\nRUS,2000,1000,kg/yr\n")
    with pytest.warns(UserWarning, match="RU"):
        inv = EmissionInventory.from_national_csv(f, DOMAIN, masks=masks, year=1993, interpolate_years=True)
    chn = masks.fraction[masks.index("CHN")] > 0
    jpn = masks.fraction[masks.index("JPN")] > 0
    only_chn = chn & ~jpn & (masks.fraction[masks.index("RUS")] == 0)
    only_jpn = jpn & ~chn & (masks.fraction[masks.index("RUS")] == 0)
    rates = inv.rates_kg_s()
    with pytest.warns(UserWarning, match="RU"):
        y1990 = EmissionInventory.from_national_csv(f, DOMAIN, masks=masks, year=1990).rates_kg_s()
    np.testing.assert_allclose(rates[only_chn], (0.7 * 100 + 0.3 * 300) / 100 * y1990[only_chn], rtol=1e-12)
    np.testing.assert_allclose(rates[only_jpn], 0.7 * y1990[only_jpn], rtol=1e-12)
    assert inv.requested_kg_s * SECONDS_PER_YEAR == pytest.approx(160 + 35 + 1000, rel=1e-12)
    half = inv.scaled(0.5)
    assert half.total_kg_s == pytest.approx(0.5 * inv.total_kg_s, rel=1e-12)
    assert half.outside_kg_s == pytest.approx(0.5 * inv.outside_kg_s, rel=1e-12) and inv.outside_kg_s > 0
    assert half.requested_kg_s == pytest.approx(0.5 * inv.requested_kg_s, rel=1e-12)
    shares = inv.layer_fractions()
    empty = inv.rates_by_layer_kg_s().sum(axis=0) == 0
    assert empty.any() and np.all(shares[0][empty] == 1.0)
    np.testing.assert_allclose(shares.sum(axis=0), 1.0, rtol=1e-12)


def test_default_inventory(masks):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the default configuration runs without warnings
        inv = EmissionInventory.from_default(DOMAIN, year=2000, masks=masks)
    assert inv.substance == "PCB-153" and "BETR-Research" in inv.description
    requested = inv.requested_kg_s * SECONDS_PER_YEAR
    kept = inv.annual_total_kg
    print(f"default PCB-153 2000: countries {requested:.1f} kg/yr, in domain {kept:.1f} kg/yr")
    assert requested == pytest.approx(3708.512, rel=1e-9)  # the 25 country figures of 2000
    assert abs((inv.total_kg_s + inv.outside_kg_s) / inv.requested_kg_s - 1) < REL
    assert 2000 < kept < 3500  # the gridded source file's box total is 2796 kg/yr
    assert inv.rates_kg_s().shape == DOMAIN.shape and np.all(inv.rates_kg_s() >= 0)
    i1990 = EmissionInventory.from_default(DOMAIN, year=1990, masks=masks)
    i1995 = EmissionInventory.from_default(DOMAIN, year=1995, masks=masks)
    assert i1995.total_kg_s == pytest.approx(0.5 * (i1990.total_kg_s + inv.total_kg_s), rel=1e-12)
    with pytest.raises(InputError, match=r"year 1960: is not in the file"):
        EmissionInventory.from_default(DOMAIN, year=1960, masks=masks)
    with pytest.raises(InputError, match=r"substance 'PCB-28': is not in the built-in inventory"):
        EmissionInventory.from_default(DOMAIN, substance="PCB-28")


def test_default_inventory_on_other_grids():
    g = LatLonGrid.global_grid(5.0, layers=AirLayers((0.0, 1000.0)))
    inv = EmissionInventory.from_default(g, year=2020)
    assert inv.outside_kg_s == 0.0  # a global grid holds every country
    assert inv.annual_total_kg == pytest.approx(inv.requested_kg_s * SECONDS_PER_YEAR, rel=1e-12)


def test_package_data_keeps_the_source_columns():
    text = resources.files("popstransport").joinpath("data", "emissions_pcb153_asia_pacific.csv").read_text()
    rows = list(csv.DictReader(text.splitlines()))
    assert list(rows[0]) == ["country", "iso2", "substance", "year", "value", "unit", "emission_type", "method",
                             "quality", "source_id", "source_detail", "note"]
    assert {r["substance"] for r in rows} == {"PCB-153"} and all(r["source_id"] for r in rows)
    if SHARED_EMISSIONS.is_file():
        with open(SHARED_EMISSIONS, newline="", encoding="utf-8") as fh:
            shared = [r for r in csv.DictReader(fh) if r["substance"] == "PCB-153"]
        assert rows == shared


def test_open_emissions_from_config_section_and_files(tmp_path, masks):
    from types import SimpleNamespace

    cfg = SimpleNamespace(source="builtin", kind="auto", year=2010, scale=2.0, variable="", unit="")
    inv = open_emissions(cfg, DOMAIN, masks=masks)
    ref = EmissionInventory.from_default(DOMAIN, year=2010, masks=masks)
    assert inv.total_kg_s == pytest.approx(2.0 * ref.total_kg_s, rel=1e-14)
    assert callable(inv.rates_kg_s) and inv.rates_kg_s(np.datetime64("2010-05-01")).shape == DOMAIN.shape
    pts = tmp_path / "p.csv"
    pts.write_text("longitude,latitude,rate,unit\n120,30,1,kg/yr\n")
    assert open_emissions(pts, DOMAIN).annual_total_kg == pytest.approx(1.0, rel=1e-14)
    nat = tmp_path / "n.csv"
    nat.write_text("iso3,value,unit\nJPN,7,kg/yr\n")
    assert open_emissions(nat, DOMAIN, masks=masks).annual_total_kg == pytest.approx(7.0, rel=1e-12)
    # a file of neither kind's columns (points given as x, y) is told what each kind needs
    xy = tmp_path / "xy.csv"
    xy.write_text("x,y,rate,unit\n120,30,1,kg/yr\n")
    with pytest.raises(InputError, match=r"xy\.csv: columns \['value'\]: missing.*a point-source file has columns lon, "
                                         r"lat \(or longitude, latitude\), rate and unit"):
        open_emissions(xy, DOMAIN, masks=masks)
    lon = np.arange(100.5, 110.0, 1.0)
    lat = np.arange(20.5, 30.0, 1.0)
    f = tmp_path / "g.nc"
    _gridded(np.ones((lat.size, lon.size)), lon, lat, "").to_netcdf(f)
    inv = open_emissions(SimpleNamespace(source=str(f), kind="auto", year=2010, scale=1.0, variable="emi",
                                         unit="kg/cell/yr"), DOMAIN)
    assert inv.annual_total_kg == pytest.approx(100.0, rel=1e-12)


@pytest.mark.parametrize("source", ["builtin", "national file", "uniform"])
def test_model_emits_the_configured_scale_once(tmp_path, source):
    """``emissions.scale`` multiplies the rates the model emits once, whatever the source (it was once applied both
    by the inventory and by the model's emission process: a scale of 0.5 emitted a quarter)."""
    from popstransport.config import load_config
    from popstransport.run import build_run

    spec = {"builtin": "builtin", "uniform": "uniform"}.get(source)
    if spec is None:
        spec = tmp_path / "national.csv"
        spec.write_text("iso3,value,unit\nJPN,7,kg/yr\nCHN,30,kg/yr\n")
    base = ["domain.resolution_deg=5", "met.source=uniform", "processes.fate=simple", f"emissions.source='{spec}'"]
    t = np.datetime64("2010-06-01")

    def emitted(scale: float) -> np.ndarray:
        model = build_run(load_config(None, [*base, f"emissions.scale={scale}"])).model
        return model.emissions.sources_kg_s(t)[0]

    one = emitted(1.0)
    assert one.sum() > 0
    assert np.array_equal(emitted(0.5), 0.5 * one)
    np.testing.assert_allclose(emitted(3.0), 3.0 * one, rtol=1e-15, atol=0)


RUN5 = ["domain.resolution_deg=5", "met.source=uniform"]


def _built(overrides):
    from popstransport.config import load_config
    from popstransport.run import build_run

    return build_run(load_config(None, [*RUN5, *overrides]))


def test_country_tags_emit_their_countrys_inventory():
    """Each country's tag emits exactly the country's inventory, coastal cells included (tags once took a cell's
    emission by the countries' areas in it, so the sea part of a coastal cell went to OTHER: Japan's tag emitted
    71 % of Japan's inventory at 1 degree), and OTHER emits nothing when every emission is national."""
    from popstransport.io.emissions import open_emissions

    setup = _built(["attribution.tags=countries"])
    t = np.datetime64("2010-06-01")
    rates, weights = setup.model.emissions.sources_kg_s(t)
    by_tag = dict(zip(setup.tags.names, np.einsum("cji,tji->t", rates[0], weights)))
    inv = open_emissions("builtin", setup.model.grid, year=2010)
    month = inv.rates_kg_s(t).sum() / inv.rates_kg_s().sum()  # (one sector: one monthly factor)
    assert set(by_tag) == set(inv.region_rates_kg_s) | {"OTHER"}
    for code, field in inv.region_rates_kg_s.items():
        assert by_tag[code] == pytest.approx(field.sum() * month, rel=1e-12), code
    assert by_tag["OTHER"] <= 1e-14 * sum(by_tag.values())  # (rounding of the shares)
    # a list of countries: the others' emission is OTHER's
    listed = _built(["attribution.tags=list", "attribution.regions=['JPN', 'CHN']"])
    rates, weights = listed.model.emissions.sources_kg_s(t)
    by_tag = dict(zip(listed.tags.names, np.einsum("cji,tji->t", rates[0], weights)))
    others = sum(f.sum() for c, f in inv.region_rates_kg_s.items() if c not in ("JPN", "CHN")) * month
    assert by_tag["JPN"] == pytest.approx(inv.region_rates_kg_s["JPN"].sum() * month, rel=1e-12)
    assert by_tag["OTHER"] == pytest.approx(others, rel=1e-12)


def test_uniform_emission_tags_keep_the_area_shares():
    """Without national totals (a uniform field) a tag's share of a cell is its country's area there, and OTHER
    takes the rest (the sea)."""
    setup = _built(["emissions.source=uniform", "attribution.tags=list", "attribution.regions=['JPN']"])
    rates, weights = setup.model.emissions.sources_kg_s(np.datetime64("2010-06-01"))
    from popstransport.io.regions import RegionMasks

    japan = RegionMasks.for_countries(setup.model.grid, codes=["JPN"]).fraction[0]
    np.testing.assert_allclose(weights[0], japan, rtol=1e-15, atol=0)
    assert 0.0 < (rates[0, 0] * weights[0]).sum() < (rates[0, 0] * japan).sum() * (1 + 1e-12)


def test_national_file_keeps_the_rows_of_the_runs_chemical(tmp_path):
    f = tmp_path / "national.csv"
    f.write_text("iso3,substance,value,unit\nCHN,PCB-153,1000,kg/yr\nCHN,PCB-28,9000,kg/yr\nJPN,HCB,5,kg/yr\n")
    setup = _built([f"emissions.source='{f}'"])
    rates, _ = setup.model.emissions.sources_kg_s(np.datetime64("2010-06-01"))
    assert rates.sum() * SECONDS_PER_YEAR == pytest.approx(1000.0, rel=1e-12)
    hcb = _built([f"emissions.source='{f}'", "chemical.name=HCB"])
    assert hcb.model.emissions.sources_kg_s(np.datetime64("2010-06-01"))[0].sum() * SECONDS_PER_YEAR == pytest.approx(5.0)
    with pytest.raises(InputError, match=r"substance 'gamma-HCH': has no rows; the file holds \['HCB', 'PCB-153', "
                                         r"'PCB-28'\]\. Fix: set chemical.name"):
        _built([f"emissions.source='{f}'", "chemical.name=gamma-HCH"])


def test_builtin_inventory_refuses_another_chemical():
    with pytest.raises(InputError, match=r"the built-in inventory holds PCB-153 only, and chemical.name is 'HCB'\. "
                                         r"Fix: give an emission file for HCB"):
        _built(["chemical.name=HCB"])


def test_emission_heights_reach_their_layers_and_mol_uses_the_chemicals_molar_mass(tmp_path):
    """A stack at 2500 m emits into the second air layer (1000-10000 m) of the run, not the lowest; a rate in mol
    is converted with the run's chemical's molar mass."""
    f = tmp_path / "points.csv"
    f.write_text("name,lon,lat,height_m,rate,unit\nstack,121.47,31.23,2500,1000,kg/yr\nground,77.2,28.6,0,2,mol/yr\n")
    setup = _built([f"emissions.source='{f}'"])
    rates, _ = setup.model.emissions.sources_kg_s(np.datetime64("2010-06-01"))
    per_layer = rates[0].sum(axis=(1, 2)) * SECONDS_PER_YEAR
    molar_kg_mol = setup.model.chemical.molar_mass_kg_mol
    np.testing.assert_allclose(per_layer[:2], [2 * molar_kg_mol, 1000.0], rtol=1e-12)
    assert not per_layer[2:].any()


def test_configured_unit_may_not_contradict_the_file(tmp_path):
    lon = np.arange(100.5, 110.0, 1.0)
    lat = np.arange(20.5, 30.0, 1.0)
    g = tmp_path / "g.nc"
    _gridded(np.ones((lat.size, lon.size)), lon, lat, "g/h").to_netcdf(g)
    with pytest.raises(InputError, match=r"variable 'emi': declares units 'g/h', and 'kg/cell/yr' was given for it\. "
                                         r"Fix: remove emissions.unit"):
        _built([f"emissions.source='{g}'", "emissions.unit='kg/cell/yr'"])
    same = _built([f"emissions.source='{g}'", "emissions.unit='g h-1'"])  # the same unit written otherwise
    assert same.model.emissions.sources_kg_s(np.datetime64("2010-06-01"))[0].sum() == pytest.approx(100 * 1e-3 / 3600)
    f = tmp_path / "national.csv"
    f.write_text("iso3,value,unit\nJPN,7,kg/yr\n")
    with pytest.raises(InputError, match=r"emissions.unit: 'g/h' is for gridded files that declare no unit\. "
                                         r"Fix: remove emissions.unit"):
        _built([f"emissions.source='{f}'", "emissions.unit='g/h'"])


def test_non_numeric_year_or_height_names_the_line_and_column(tmp_path, masks):
    nat = tmp_path / "n.csv"
    nat.write_text("iso3,year,value,unit\nJPN,c.2010,7,kg/yr\n")
    with pytest.raises(InputError, match=r"n\.csv: line 2, column 'year': 'c\.2010' is not a number"):
        EmissionInventory.from_national_csv(nat, DOMAIN, masks=masks)
    pts = tmp_path / "p.csv"
    pts.write_text("lon,lat,height_m,rate,unit\n120,30,abc,1,kg/yr\n")
    with pytest.raises(InputError, match=r"p\.csv: line 2, column 'height_m': 'abc' is not a number"):
        EmissionInventory.from_point_csv(pts, DOMAIN)


def test_missing_chemical_file_names_the_key(tmp_path):
    from popstransport.config import ConfigError

    with pytest.raises(ConfigError, match=r"chemical.file = '.*nothere.csv': no such file"):
        _built([f"chemical.file='{tmp_path / 'nothere.csv'}'"])


def test_gridded_file_covering_part_of_the_domain_is_warned_about():
    lon = np.arange(100.5, 110.0, 1.0)
    lat = np.arange(20.5, 30.0, 1.0)
    part = _gridded(np.ones((lat.size, lon.size)), lon, lat, "kg/cell/yr")
    area = LatLonGrid.regional(100.0, 110.0, 20.0, 30.0, 1.0).cell_area_m2.sum()
    share = 100 * area / DOMAIN.cell_area_m2.sum()
    with pytest.warns(UserWarning, match=rf"variable 'emi' covers {share:.3g}% of the model domain's area; the rest"):
        EmissionInventory.from_netcdf(part, DOMAIN)
    glon = np.arange(-179.5, 180.0, 1.0)
    glat = np.arange(-89.5, 90.0, 1.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        EmissionInventory.from_netcdf(_gridded(np.ones((glat.size, glon.size)), glon, glat, "kg/cell/yr"), DOMAIN)
    said = [str(w.message) for w in caught]
    assert any("lies outside the model domain" in m for m in said) and not any("covers" in m for m in said)


def test_simple_fate_says_it_uses_no_substance():
    with pytest.warns(UserWarning, match=r"processes.fate = 'simple' uses no substance properties: chemical.name"):
        _built(["processes.fate=simple", "chemical.name=HCB"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _built(["processes.fate=simple"])
        _built([])


def test_the_built_in_met_says_it_does_not_use_the_file_keys():
    """met.kind and met.time_rule describe met files: set with the synthetic met, they are said to be unused."""
    with pytest.warns(UserWarning, match=r"met.time_rule = 'cyclic' describe met files and are not used with the "
                                         r"built-in met \(met.source = 'synthetic'\)"):
        _built(["met.source=synthetic", "met.time_rule=cyclic"])


def test_the_multimedia_fate_says_it_does_not_use_the_simple_chains_keys():
    """The simple chain's half-lives and deposition velocity are not read by the multimedia fate: setting them says so
    and points to the chemical's properties."""
    with pytest.warns(UserWarning, match=r"processes.air_half_life_days set the simple reference chain only .*"
                                         r"chemical.overrides"):
        _built(["processes.air_half_life_days=5"])


def test_a_run_over_several_years_follows_the_inventory_year_by_year(tmp_path, capsys):
    """``emissions.year = "each"``: every calendar year of a run takes its own year of a national-total file, and
    every country's tag emits that year's total (the tag set is the same in every year: a country that emits in
    one year only is tagged, with nothing in the other). Checked against the file's numbers: 2012 is a leap year,
    and its 366 days emit the year's total, as 2011's 365 do."""
    from popstransport.config import ConfigError, load_config
    from popstransport.run import run

    f = tmp_path / "trend.csv"
    f.write_text("iso3,year,value,unit\nCHN,2011,100,kg/yr\nCHN,2012,40,kg/yr\nJPN,2011,10,kg/yr\n"
                 "JPN,2012,30,kg/yr\nKOR,2012,5,kg/yr\n")
    sets = ["domain.resolution_deg=5", "time.start=2011-01-01", "time.stop=2013-01-01", "met.source=uniform",
            f"emissions.source='{f}'", "emissions.year=each", "output.frequency=annual", "attribution.tags=countries"]
    out = run(load_config(None, sets), tmp_path / "run")
    with xr.open_dataset(out / "attribution.nc") as att:
        emitted = att["emission"].load()
    sources = [str(s) for s in emitted["source"].values]
    assert {"CHN", "JPN", "KOR"} <= set(sources)
    for code, kg in (("CHN", [100, 40]), ("JPN", [10, 30]), ("KOR", [0, 5])):
        np.testing.assert_allclose(emitted.sel(source=code).values, np.array(kg, dtype=float), rtol=1e-9, atol=1e-12)
    with xr.open_dataset(out / "budget.nc") as b:
        total = sum(b[v].values for v in b.data_vars if str(v).startswith("emitted_"))
    np.testing.assert_allclose(total, np.array([110.0, 75.0]), rtol=1e-9)
    with pytest.raises(ConfigError, match=r"emissions.year = 'every': expected an integer or 'each'"):
        load_config(None, [*sets[:-1], "emissions.year=every"])
    from popstransport.cli import main

    capsys.readouterr()
    assert main(["validate", *[a for kv in sets for a in ("--set", kv)]]) == 0
    assert "(inventory year by year: 2011 110, 2012 75 kg)" in capsys.readouterr().out


def test_validate_lists_what_each_year_leaves_outside_the_domain(tmp_path, capsys):
    """With ``emissions.year = "each"``, `validate` listed the countries outside the domain of the first year only: a
    country outside that emits in a later year was not named. Years with the same figures are grouped."""
    from popstransport.cli import main

    f = tmp_path / "trend.csv"
    f.write_text("iso3,year,value,unit\nCHN,2011,100,kg/yr\nCHN,2012,40,kg/yr\nCHN,2013,40,kg/yr\nBRA,2012,7,kg/yr\n"
                 "BRA,2013,7,kg/yr\n")
    sets = ["domain.resolution_deg=5", "time.start=2011-01-01", "time.stop=2014-01-01", "met.source=uniform",
            f"emissions.source='{f}'", "emissions.year=each"]
    with pytest.warns(UserWarning, match="BRA"):
        assert main(["validate", *[a for kv in sets for a in ("--set", kv)]]) == 0
    out = capsys.readouterr().out
    assert "not modelled in 2011: nothing (the whole inventory lies in the domain)" in out, out
    assert re.search(r"not modelled in 2012-2013: 7 of the inventory's 47 kg/yr \(14.9%\) is emitted outside the "
                     r"domain:\n  +BRA \(BRA\) lies outside the domain: 7 kg/yr not modelled", out), out


def test_each_year_of_a_file_without_a_year_of_the_run_says_so(tmp_path):
    """``emissions.year = "each"`` with a national-totals file of decadal years (as the built-in inventory has) said
    "year 2011: is not in the file ... Fix: choose one of these years", though the user chose no year: it now says
    that "each" takes every year of the run from the file, whose years are not interpolated."""
    from popstransport.config import load_config
    from popstransport.run import build_emissions, build_grid

    f = tmp_path / "decades.csv"
    f.write_text("iso3,year,value,unit\nCHN,2010,100,kg/yr\nCHN,2020,40,kg/yr\n")
    sets = ["domain.resolution_deg=5", "time.start=2010-01-01", "time.stop=2012-01-01", f"emissions.source='{f}'",
            "emissions.year=each"]
    cfg = load_config(None, sets)
    with pytest.raises(InputError, match=r"decades\.csv: emissions\.year = 'each': takes every calendar year of the run "
                                         r"\(2010\.\.2011\) from the inventory, and year 2011 is not in the file; available: "
                                         r"\['2010', '2020'\]\. Fix: give the file every year of the run"):
        build_emissions(cfg, build_grid(cfg))
    builtin = load_config(None, [*sets[:2], "time.start=2020-01-01", "time.stop=2022-01-01", "emissions.year=each"])
    with pytest.raises(InputError, match=r"emissions\.year = 'each': takes every calendar year of the run \(2020\.\.2021\) "
                                         r"from the inventory, and year 2021 is not in the file; .*Fix: end the run within "
                                         r"the inventory's years \(1970\.\.2020\) \(it is interpolated between them, "
                                         r"not beyond\)"):
        build_emissions(builtin, build_grid(builtin))
    lon, lat = np.arange(62.5, 180.0, 5.0), np.arange(-12.5, 60.0, 5.0)
    gridded = tmp_path / "years.nc"
    xr.Dataset({"emi": (("time", "lat", "lon"), np.ones((2, lat.size, lon.size)), {"units": "kg/cell/yr"})},
               coords={"time": np.array(["2009-01-01", "2010-01-01"], dtype="datetime64[ns]"), "lat": lat, "lon": lon}
               ).to_netcdf(gridded)
    cfg = load_config(None, [*sets[:-2], f"emissions.source='{gridded}'", "emissions.year=each"])
    with pytest.raises(InputError, match=r"years\.nc: emissions\.year = 'each': takes every calendar year of the run "
                                         r"\(2010\.\.2011\) from the inventory, and variable 'emi': has no records in 2011"):
        build_emissions(cfg, build_grid(cfg))


def test_sector_profiles_from_the_configuration(tmp_path):
    """emissions.sector_profiles gives a national-totals file its sectors' monthly profiles: a heating sector twice
    as strong in January as in the other months keeps its annual total; refused for the built-in inventory."""
    from popstransport.config import load_config
    from popstransport.run import build_emissions, build_grid

    totals = tmp_path / "n.csv"
    totals.write_text("iso3,year,value,unit,sector\nCHN,2010,120,kg/yr,heating\nJPN,2010,30,kg/yr,industry\n")
    profiles = tmp_path / "p.csv"
    profiles.write_text("sector,month,factor\n" + "".join(f"heating,{m},{2 if m == 1 else 1}\n" for m in range(1, 13)))
    sets = ["domain.resolution_deg=5", f"emissions.source='{totals}'", f"emissions.sector_profiles='{profiles}'"]
    cfg = load_config(None, sets)
    grid = build_grid(cfg)
    field, inv = build_emissions(cfg, grid)
    jan = field(np.datetime64("2010-01-15")).sum()
    jul = field(np.datetime64("2010-07-15")).sum()
    chn_kg_s, jpn_kg_s = 120 / SECONDS_PER_YEAR, 30 / SECONDS_PER_YEAR
    # the January factor over the day-weighted mean of the profile, (2 x 31 + 334) / 365
    f_jan = 2.0 / ((2 * 31 + 334) / 365.0)
    f_other = 1.0 / ((2 * 31 + 334) / 365.0)
    assert jan == pytest.approx(chn_kg_s * f_jan + jpn_kg_s, rel=1e-9)
    assert jul == pytest.approx(chn_kg_s * f_other + jpn_kg_s, rel=1e-9)
    with pytest.raises(InputError, match="emissions.sector_profiles.*built-in inventory has one sector"):
        build_emissions(load_config(None, ["domain.resolution_deg=5", f"emissions.sector_profiles='{profiles}'"]), grid)


def test_a_leap_year_emits_an_annual_amount_once_and_a_rate_for_366_days(tmp_path):
    """Amounts per year (national totals with a February-heavy sector profile, ``uniform_total_kg_yr``, a gridded
    file in kg/yr) emit exactly their annual total in the leap year 2012, as in 2011; a gridded file of rates
    (kg m-2 s-1) emits its rate for every one of 2012's 366 days. Each checked in the run's budget, year by year."""
    from popstransport.config import load_config
    from popstransport.run import run

    base = ["domain.resolution_deg=5", "time.start=2011-01-01", "time.stop=2013-01-01", "met.source=uniform",
            "output.frequency=annual"]

    def emitted(sets, name):
        out = run(load_config(None, [*base, *sets]), tmp_path / name)
        with xr.open_dataset(out / "budget.nc") as b:
            return sum(b[v].values for v in b.data_vars if str(v).startswith("emitted_"))

    totals = tmp_path / "totals.csv"
    totals.write_text("iso3,sector,value,unit\nCHN,heating,100,kg/yr\nJPN,industry,30,t/yr\n")
    profiles = tmp_path / "profiles.csv"
    profiles.write_text("sector,month,factor\n" + "".join(f"heating,{m},{6.0 if m == 2 else 1.0}\n" for m in range(1, 13)))
    np.testing.assert_allclose(emitted([f"emissions.source='{totals}'", f"emissions.sector_profiles='{profiles}'"],
                                       "national"), [30100.0, 30100.0], rtol=1e-12)
    np.testing.assert_allclose(emitted(["emissions.source=uniform", "emissions.uniform_total_kg_yr=50"], "uniform"),
                               [50.0, 50.0], rtol=1e-12)
    lon = np.arange(62.5, 180, 5.0)
    lat = np.arange(-12.5, 60, 5.0)
    for unit, value, expected in (("kg/yr", 2.0, 2.0 * lon.size * lat.size * np.ones(2)),
                                  ("kg s-1", 1e-9, 1e-9 * lon.size * lat.size * 86400.0 * np.array([365.0, 366.0]))):
        f = tmp_path / f"grid_{unit.replace('/', '_').replace(' ', '_')}.nc"
        xr.Dataset({"emi": (("lat", "lon"), np.full((lat.size, lon.size), value), {"units": unit})},
                   coords={"lat": lat, "lon": lon}).to_netcdf(f)
        np.testing.assert_allclose(emitted([f"emissions.source='{f}'"], f.stem), expected, rtol=1e-9)


def test_gridded_month_coordinate_and_single_levels(tmp_path):
    """A climatology numbered by a 'month' coordinate 1..12 is a monthly profile for any year; dimensions of one
    record (a level, a single time) are dropped; a time dimension without dates is refused with the fix."""
    lon = np.arange(100.5, 110.0, 1.0)
    lat = np.arange(20.5, 30.0, 1.0)
    factors = 1.0 + 0.5 * np.sin(np.arange(12))
    vals = factors[:, None, None] * np.ones((12, lat.size, lon.size))
    clim = xr.Dataset({"emi": (("month", "lat", "lon"), vals, {"units": "kg/cell/yr"})},
                      coords={"month": np.arange(1, 13), "lat": lat, "lon": lon})
    inv = EmissionInventory.from_netcdf(clim, DOMAIN, year=2010)
    days = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
    assert inv.annual_total_kg == pytest.approx(100.0 * (days @ factors) / 365.0, rel=1e-12)
    np.testing.assert_allclose(inv.rates_kg_s("2010-03-15").sum() / inv.rates_kg_s("2010-01-15").sum(),
                               factors[2] / factors[0], rtol=1e-12)
    level = xr.Dataset({"emi": (("time", "lev", "lat", "lon"), np.ones((1, 1, lat.size, lon.size)),
                                {"units": "kg/cell/yr"})},
                       coords={"time": np.array(["2010-01-01"], dtype="datetime64[ns]"), "lev": [0.0], "lat": lat,
                               "lon": lon})
    assert EmissionInventory.from_netcdf(level, DOMAIN).annual_total_kg == pytest.approx(100.0, rel=1e-12)
    undated = clim.drop_vars("month").rename({"month": "time"})
    with pytest.raises(InputError, match=r"variable 'emi': has a dimension 'time' of 12 records that is not a time "
                                         r"axis.*CF units"):
        EmissionInventory.from_netcdf(undated, DOMAIN)


def test_national_csv_from_spreadsheets_and_other_spellings(tmp_path, masks):
    """Semicolon- and tab-separated files (with a byte-order mark), ISO and UN spellings of country names; a row with
    more fields than the header, two rows for one country, sector and year, and rows without a year beside dated rows
    are refused with the file, the row and the fix (they crashed, or were summed, or were dropped silently)."""
    f = tmp_path / "semi.csv"
    f.write_bytes("\ufeffiso3;value;unit\nCHN;100;kg/yr\nJPN;50;kg/yr\n".encode())
    assert EmissionInventory.from_national_csv(f, DOMAIN, masks=masks).annual_total_kg == pytest.approx(150.0, rel=1e-12)
    f.write_text("iso3\tvalue\tunit\nCHN\t100\tkg/yr\n")
    assert EmissionInventory.from_national_csv(f, DOMAIN, masks=masks).annual_total_kg == pytest.approx(100.0, rel=1e-12)
    f.write_text('country,value,unit\nViet Nam,1,kg/yr\n"Korea, Republic of",2,kg/yr\nLao PDR,4,kg/yr\n')
    inv = EmissionInventory.from_national_csv(f, DOMAIN, masks=masks)
    assert sorted(inv.region_rates_kg_s) == ["KOR", "LAO", "VNM"]
    assert inv.annual_total_kg == pytest.approx(7.0, rel=1e-12)
    # (the UN and ISO 3166 names of Stockholm Convention reports: a qualifier in brackets, and names that Natural
    # Earth spells otherwise, such as Brunei's; they were refused as not a country's name)
    f.write_text('country,value,unit\nBrunei Darussalam,1,kg/yr\nMicronesia (Federated States of),2,kg/yr\n'
                 'Iran (Islamic Republic of),4,kg/yr\n"Türkiye",8,kg/yr\n')
    inv = EmissionInventory.from_national_csv(f, DOMAIN, masks=masks, warn_outside=False)
    assert inv.requested_kg_s * SECONDS_PER_YEAR == pytest.approx(15.0, rel=1e-12)
    refused = [
        ("iso3;value;unit\nCHN;1,5;kg/yr\n", r"line 2, column 'value': '1,5' is not a number.*decimal point", {}),
        ("iso3,value,unit\nCHN,1,5,kg/yr\n", r"semi\.csv: line 2: has 4 fields and the header 3.*point", {}),
        # (errors name the file's own line, comment and blank lines counted)
        ("# national totals\n\niso3,value,unit\nCHN,1,kg/yr\n\n# next\nJPN,-2,kg/yr\n",
         r"semi\.csv: line 7, column 'value': -2.0 is negative", {}),
        ("country,value,unit\nChina,100,kg/yr\nCHN,100,kg/yr\n", r"country 'CHN': has two rows for CHN.*the other as 'China'",
         {}),
        ("iso3,value,unit,year\nCHN,100,kg/yr,2010\nJPN,50,kg/yr,\n", r"country 'JPN': has no year, and other rows have years",
         {"year": 2010}),
        ("country,value,unit\nPhilipines,1,kg/yr\n",
         r"'Philipines': is not a Natural Earth country code or name \(did you mean PHL", {}),
    ]
    for text, match, kwargs in refused:
        f.write_text(text)
        with pytest.raises(InputError, match=match):
            EmissionInventory.from_national_csv(f, DOMAIN, masks=masks, **kwargs)


def test_national_csv_not_utf8_names_the_file(tmp_path, masks):
    f = tmp_path / "latin1.csv"
    f.write_bytes("country,value,unit\nC\u00f4te d'Ivoire,5,kg/yr\n".encode("latin-1"))
    # (was the bare UnicodeDecodeError "'utf-8' codec can't decode byte 0xf4 ...", naming no file)
    with pytest.raises(InputError, match=r"latin1\.csv: line 2: byte 0xf4 at column 2 is not UTF-8 .*Fix: save it as UTF-8"):
        EmissionInventory.from_national_csv(f, DOMAIN, masks=masks)


def test_national_csv_substance_spellings(tmp_path, masks):
    """The rows of the run's chemical are found whatever the spelling of its name ('PCB 153', 'pcb153'); they were
    refused with 'has no rows'."""
    f = tmp_path / "n.csv"
    f.write_text("iso3,substance,value,unit\nCHN,PCB 153,3,kg/yr\nJPN,pcb153,4,kg/yr\nKOR,PCB-28,100,kg/yr\n")
    inv = EmissionInventory.from_national_csv(f, DOMAIN, masks=masks, substance="PCB-153")
    assert inv.annual_total_kg == pytest.approx(7.0, rel=1e-12)


def test_gridded_projected_or_index_only_grids_are_refused():
    """An inventory on a projected (y, x) grid with 2-D lat/lon, with or without x/y coordinates, is refused: without
    them the array indices were taken as degrees and the emission placed at 0..59E, 0..39N of a global grid."""
    grid = LatLonGrid.global_grid(5.0)
    x, y = np.arange(0, 3000e3, 50e3), np.arange(0, 2000e3, 50e3)
    X, Y = np.meshgrid(x, y)
    ds = xr.Dataset({"emi": (("y", "x"), np.ones(X.shape), {"units": "kg/cell/yr"})},
                    coords={"y": ("y", y, {"units": "m", "standard_name": "projection_y_coordinate"}),
                            "x": ("x", x, {"units": "m", "standard_name": "projection_x_coordinate"}),
                            "lat": (("y", "x"), 20 + Y / 111e3), "lon": (("y", "x"), 100 + X / 100e3)})
    with pytest.raises(InputError, match=r"dimension 'y' of 'emi': holds projected coordinates.*cdo remapcon"):
        EmissionInventory.from_netcdf(ds, grid)
    with pytest.raises(InputError, match=r"dimension 'y' of 'emi': has no coordinate values.*cdo remapcon"):
        EmissionInventory.from_netcdf(ds.drop_vars(["x", "y"]), grid)


def test_national_rows_without_a_country_code(tmp_path, masks):
    """A row without a code takes its country name if that is a country's; world or box totals are not used and
    listed in the notes; a row with an amount and neither a code nor a name is named in a warning (a code left out
    by mistake is not lost unnoticed); rows of zero say nothing."""
    import warnings

    f = tmp_path / "n.csv"
    f.write_text("country,iso2,value,unit\nChina,CN,250,kg/yr\nWorld,,64602,kg/yr\n,,100,kg/yr\nIndia,,50,kg/yr\n"
                 "Nowhere,,0,kg/yr\n")
    with pytest.warns(UserWarning, match=r"n\.csv: 1 row\(s\) with an amount but neither a country code nor a name "
                                         r"are not used \(line\(s\) 4\); give each row"):
        inv = EmissionInventory.from_national_csv(f, DOMAIN, masks=masks)
    assert inv.requested_kg_s == pytest.approx(300 / SECONDS_PER_YEAR, rel=1e-12)
    assert inv.notes[0].endswith("; rows of World (no country code, not a country's name) not used")
    f.write_text("iso2,value,unit\nCN,250,kg/yr\n,0,kg/yr\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        EmissionInventory.from_national_csv(f, DOMAIN, masks=masks)
