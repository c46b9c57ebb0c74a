"""Zonal bands: regional domains of 360 degrees of longitude, periodic in longitude with open south and north edges.

A band such as 20..80 N is what a hemispheric background run needs: air that leaves at the east edge enters at the
west edge, and only the south and north edges are open (inflow mixing ratio, ``OUTSIDE`` in the border fluxes, the
budget's inflow and outflow). These tests run the whole model on 10-degree grids for a few weeks.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import xarray as xr

import popstransport
from popstransport.attribution import OUTSIDE
from popstransport.config import load_config
from popstransport.run import build_run, build_simulation

#: Two point sources at 50-60 N, three rows from either edge of the 20..80 N band: Petropavlovsk-Kamchatsky (RUS),
#: 22 degrees west of the band's seam at 180 E, and London (GBR).
POINTS = "name,lon,lat,rate,unit\nPetropavlovsk,158.65,53.02,50,kg/yr\nLondon,-0.12,51.51,20,kg/yr\n"
BAND = ["domain.lon_min_deg=-180", "domain.lon_max_deg=180", "domain.lat_min_deg=20", "domain.lat_max_deg=80"]


def _settings(tmp_path, *extra):
    points = tmp_path / "points.csv"
    points.write_text(POINTS)
    return ["domain.resolution_deg=10", "time.stop=2010-01-08", "time.step_hours=6", "met.source=uniform",
            "met.uniform_u_m_s=10", f"emissions.source={points}", "output.frequency=run", *extra]


def _run_model(settings):
    cfg = load_config(None, settings)
    setup = build_run(cfg)
    periods = build_simulation(cfg, setup.model).run()
    return setup, periods[-1].budget


def test_a_band_under_zonal_wind_equals_the_global_run_on_its_rows_and_nothing_crosses_its_seam(tmp_path):
    """Uniform zonal wind (v = 0) and sources away from the south and north edges: the band's outputs equal those of
    a global run on the band's rows to round-off (no flux through the seam at 180 E, none through the open edges),
    its ``OUTSIDE`` border fluxes, inflow and outflow are zero, and the Kamchatka (RUS) tag, 22 degrees west of the
    seam, crosses it as RUS. (Before, the seam was an open boundary: RUS left the domain there.)"""
    settings = _settings(tmp_path, "met.uniform_v_m_s=0", "attribution.tags=countries")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        band = popstransport.run(load_config(None, [*settings, *BAND]), tmp_path / "band")
    assert not [w for w in caught if "open boundar" in str(w.message) or "periodic" in str(w.message)]
    glob = popstransport.run(load_config(None, [*settings, "domain.kind=global"]), tmp_path / "global")
    with xr.open_dataset(band / "fields.nc") as fb, xr.open_dataset(glob / "fields.nc") as fg, \
            xr.open_dataset(band / "tag_fields.nc") as tb, xr.open_dataset(glob / "tag_fields.nc") as tg, \
            xr.open_dataset(band / "attribution.nc") as ab, xr.open_dataset(band / "budget.nc") as bb:
        rows = dict(lat=fb.lat.values)
        np.testing.assert_array_equal(fb.lon.values, fg.lon.values)
        for name in ("air_concentration", "soil_burden", "dry_deposition_flux", "air_surface_exchange_flux"):
            b, g = fb[name].values, fg[name].sel(**rows).values
            assert np.abs(b).max() > 0
            np.testing.assert_allclose(b, g, rtol=0, atol=1e-12 * np.abs(g).max(), err_msg=name)
        assert list(tb.source.values) == list(tg.source.values) and {"GBR", "RUS"} <= set(tb.source.values)
        tag_b, tag_g = tb["air_concentration"].values, tg["air_concentration"].sel(**rows).values
        np.testing.assert_allclose(tag_b, tag_g, rtol=0, atol=1e-12 * np.abs(tag_g).max())
        # RUS (emitted at 158.65 E) is found east of the seam, at 180..150 W, as RUS
        rus = tb["air_concentration"].sel(source="RUS").values[0]
        assert rus[:, 0].max() > 1e-3 * rus.max() and rus[:, 1].max() > 0
        flux = ab["border_flux"]
        assert float(flux.sel(region_from=OUTSIDE).sum()) == 0.0 and float(flux.sel(region_to=OUTSIDE).sum()) == 0.0
        assert float(flux.sum()) > 0  # (between regions inside the band it is not zero)
        for term in ("inflow", "outflow"):
            names = [k for k in bb.data_vars if term in k]
            assert names and all(float(np.abs(bb[k]).sum()) == 0.0 for k in names), names


def test_a_band_closes_its_budget_with_inflow_through_its_south_and_north_edges_and_tags_add_up(tmp_path):
    """A wind with a northward part carries clean-air inflow of ``domain.inflow_mixing_ratio`` in through the south
    edge and the chemical out through the north edge: the budget closes to round-off, tagged and untagged; all the
    inflow is the ``BOUNDARY`` tag's; the tags add up to the untagged run; and the border fluxes with ``OUTSIDE``
    are the budget's inflow and outflow (nothing is booked at the seam)."""
    settings = _settings(tmp_path, *BAND, "met.uniform_v_m_s=3", "domain.inflow_mixing_ratio=1e-13")
    lines = popstransport.validate(load_config(None, settings)).lines
    assert any(line.startswith("grid: regional zonal band (periodic in longitude) grid 36 x 6 cells") for line in lines)
    assert any(line.startswith("inflow through the open boundaries (the south and north edges of the zonal band): "
                               "mixing ratio 1e-13 kg/kg") for line in lines), lines
    untagged, ub = _run_model(settings)
    tagged, tb = _run_model([*settings, "attribution.tags=countries"])
    inflow, outflow = float(ub.inflow.sum()), float(ub.outflow.sum())
    assert inflow > 1.0 and outflow > 0.0  # (kg in 7 days; the inflow has not reached the north edge yet)
    assert ub.relative_closure_error() < 1e-12 and tb.relative_closure_error() < 1e-12
    names = list(tagged.tags.names)
    b = names.index("BOUNDARY")
    assert tb.inflow[b] == pytest.approx(inflow, rel=1e-12) and np.all(np.delete(tb.inflow, b) == 0.0)
    assert float(tb.outflow.sum()) == pytest.approx(outflow, rel=1e-12)
    np.testing.assert_allclose(tagged.model.air_kg.sum(axis=0), untagged.model.air_kg[0], rtol=1e-9,
                               atol=1e-12 * untagged.model.air_kg.max())
    # the border fluxes' OUTSIDE row and column are the inflow and outflow through the south and north edges
    out = popstransport.run(load_config(None, [*settings, "attribution.tags=countries"]), tmp_path / "run")
    with xr.open_dataset(out / "attribution.nc") as ds, xr.open_dataset(out / "budget.nc") as bd:
        flux = ds["border_flux"]
        from_out = float(flux.sel(region_from=OUTSIDE).sum())
        to_out = float(flux.sel(region_to=OUTSIDE).sum())
        assert from_out == pytest.approx(inflow, rel=1e-9) and to_out == pytest.approx(outflow, rel=1e-9)
        assert float(bd["relative_closure_error"].max()) < 1e-12


def test_a_band_that_reaches_the_pole_has_a_wall_there(tmp_path):
    """A band 30..90 N: the pole is a wall of zero length (no flux), the south edge stays open. Under a northward
    wind the air that reaches the polar row goes round the pole and back south: the budget closes and the chemical
    leaves through the south edge only; a uniform mixing ratio (the inflow's) stays uniform."""
    q = 1e-13
    settings = _settings(tmp_path, "domain.lon_min_deg=0", "domain.lon_max_deg=360", "domain.lat_min_deg=30",
                         "domain.lat_max_deg=90", "met.uniform_v_m_s=5", f"domain.inflow_mixing_ratio={q}",
                         "emissions.source=none")
    cfg = load_config(None, settings)
    setup = build_run(cfg)
    model = setup.model
    model.air_kg[:] = q * model.air_mass_kg[None]
    sim = build_simulation(cfg, model)
    (period,) = sim.run()
    assert not np.abs(model.mass_flux_v_kg_s[:, -1]).any() and np.abs(model.mass_flux_v_kg_s[:, 0]).any()
    assert period.budget.relative_closure_error() < 1e-12
    # the inflow is the same mixing ratio as the air: what is left in the air is that mixing ratio (minus what the
    # fate processes took, the same in every cell of a row)
    ratio = model.air_kg[0, -1] / model.air_mass_kg[-1]
    assert np.ptp(ratio, axis=1).max() < 1e-9 * ratio.max()


def test_met_and_emissions_are_regridded_onto_a_band_as_onto_the_global_grid_on_its_rows():
    """Bilinear (met) and conservative (gridded emissions, precipitation) regridding onto a band are those onto a
    global grid on the band's rows, across the seam too; conservative remapping keeps the source's total over the
    band's latitudes; a point source east of the seam (190 E) falls in the band's cell at 170 W."""
    from popstransport.grid import LatLonGrid
    from popstransport.io.emissions import _cell_of
    from popstransport.io.regrid import Bilinear, Conservative, SourceGrid

    lon, lat = np.arange(-180.0, 180.0, 2.5), np.arange(90.0, -90.01, -2.5)
    src = SourceGrid.from_coords(lon, lat)
    band, glob = LatLonGrid.regional(-180, 180, 20, 80, 10.0), LatLonGrid.global_grid(10.0)
    rows = slice(11, 17)
    np.testing.assert_array_equal(glob.lat_deg[rows], band.lat_deg)
    rng = np.random.default_rng(5)
    field = rng.random((lat.size, lon.size))
    np.testing.assert_allclose(Bilinear(src, band)(field), Bilinear(src, glob)(field)[rows], rtol=0, atol=1e-14)
    amounts = rng.random((lat.size, lon.size))
    got = Conservative(src, band).amounts(amounts)
    np.testing.assert_allclose(got, Conservative(src, glob).amounts(amounts)[rows], rtol=1e-13, atol=0)
    # the source rows centred at 20 and 80 N are cut by the band's edges: the part inside, by area
    edges = np.clip(np.stack([lat - 1.25, lat + 1.25]), -90.0, 90.0)
    s, whole = np.sin(np.deg2rad(np.clip(edges, 20.0, 80.0))), np.sin(np.deg2rad(edges))
    share = (s[1] - s[0]) / (whole[1] - whole[0])
    assert got.sum() == pytest.approx((share[:, None] * amounts).sum(), rel=1e-12)
    assert _cell_of(band, 190.0, 50.0) == (3, 1) and _cell_of(band, -170.0, 50.0) == (3, 1)


def test_a_band_to_the_pole_takes_sub_steps_where_its_polar_row_would_be_swept_more_than_once_around():
    """The polar row of a band to the pole is swept whole in the zonal sweeps, with the full step (a global grid
    turns it in half-steps round the meridional sweeps): 60 m/s in a 24-hour step passes 5200 km of air through its
    faces, more than the row's 3500 km at 85 N, which stopped the run ('exceeds the air of the whole latitude
    row'). The advection now takes sub-steps for it, and the budget closes."""
    cfg = load_config(None, ["domain.lon_min_deg=0", "domain.lon_max_deg=360", "domain.lat_min_deg=60",
                             "domain.lat_max_deg=90", "domain.resolution_deg=10", "time.stop=2010-01-04",
                             "time.step_hours=24", "met.source=uniform", "met.uniform_u_m_s=60",
                             "emissions.source=uniform", "emissions.uniform_total_kg_yr=100", "output.frequency=run"])
    setup = build_run(cfg)
    (period,) = build_simulation(cfg, setup.model).run()
    advection = setup.model.advection
    assert advection.last_courant[0] > setup.model.grid.nlon and advection.last_substeps == 2
    assert period.budget.relative_closure_error() < 1e-12
