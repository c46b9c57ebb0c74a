"""Regridding: bilinear (exact for fields linear in lat/lon, periodic in longitude) and first-order conservative
(totals kept to 1e-12, constants kept, matches a brute-force overlap computation)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from popstransport.grid import LatLonGrid
from popstransport.io.errors import InputError
from popstransport.io.regrid import Bilinear, Conservative, SourceGrid, regrid

DOMAIN = LatLonGrid.regional(60.0, 180.0, -15.0, 60.0, 1.0)


def era_like():
    """0.75-degree global grid, latitude descending 90..-90, longitude -180..179.25 (ERA-Interim layout)."""
    return np.arange(-180.0, 180.0, 0.75), np.arange(90.0, -90.01, -0.75)


def test_bilinear_exact_for_linear_fields_any_orientation():
    lon, lat = era_like()
    src = SourceGrid.from_coords(lon, lat)
    assert src.periodic
    LO, LA = np.meshgrid(lon, lat)
    out = Bilinear(src, DOMAIN)(3.0 * LA + 0.2 * LO)
    exp = 3.0 * DOMAIN.lat_deg[:, None] + 0.2 * DOMAIN.lon_deg[None, :]
    # the last column (179.5E) lies between 179.25E and 180W = -180: the field jumps there (not periodic)
    np.testing.assert_allclose(out[:, :-1], exp[:, :-1], atol=1e-10)
    # same data stored 0..360 with latitude ascending gives the same result
    lon2 = np.mod(lon, 360.0)
    o = np.argsort(lon2)
    src2 = SourceGrid.from_coords(lon2[o], lat[::-1])
    out2 = Bilinear(src2, DOMAIN)((3.0 * LA + 0.2 * LO)[::-1][:, o])
    np.testing.assert_allclose(out2, out, atol=1e-10)


def test_bilinear_periodic_across_the_dateline():
    lon = np.arange(0.0, 360.0, 10.0)
    lat = np.arange(-85.0, 90.0, 10.0)
    src = SourceGrid.from_coords(lon, lat)
    field = np.cos(np.deg2rad(lon))[None, :] + 0 * lat[:, None]
    g = LatLonGrid.regional(170.0, 190.0, -10.0, 10.0, 5.0)  # crosses 180
    out = Bilinear(src, g)(field)
    x = np.deg2rad(g.lon_deg)
    # linear between the 10-degree samples of cos: close to cos, and symmetric about 180
    np.testing.assert_allclose(out[0], out[0][::-1], atol=1e-12)
    assert np.all(np.abs(out[0] - np.cos(x)) < 0.02)
    gg = LatLonGrid.global_grid(5.0, lon_start_deg=-180.0)
    out = Bilinear(src, gg)(field)
    assert np.all(np.isfinite(out)) and out.shape == gg.shape
    # western longitudes (-180..0) are the source's 180..360
    assert np.all(np.abs(out - np.cos(np.deg2rad(gg.lon_deg))[None, :]) < 0.02)
    # beyond the source's outermost latitudes (85 S and N) the edge values are kept, not extrapolated
    out = Bilinear(src, gg)(lat[:, None] + 0 * field)
    np.testing.assert_allclose(out[0], -85.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(out[-1], 85.0, rtol=0, atol=1e-12)


def test_conservative_coverage_is_the_covered_fraction_of_every_cell():
    """A source of 1-degree cells centred on whole degrees, 61-100 E and 1-30 N, covers 60.5-100.5 E and
    0.5-30.5 N of the domain (cells between whole degrees): its coverage of every domain cell is the covered fraction
    of the cell's area (1 inside, 0 outside, about one half in the cells it cuts)."""
    lon = np.arange(61.0, 100.5, 1.0)
    lat = np.arange(1.0, 30.5, 1.0)
    con = Conservative(SourceGrid.from_coords(lon, lat), DOMAIN, require_cover=False)
    s = np.sin(np.deg2rad(DOMAIN.lat_edges_deg))
    covered_lat = (np.sin(np.deg2rad(np.clip(DOMAIN.lat_edges_deg[1:], 0.5, 30.5)))
                   - np.sin(np.deg2rad(np.clip(DOMAIN.lat_edges_deg[:-1], 0.5, 30.5)))) / np.diff(s)
    covered_lon = np.clip(np.minimum(DOMAIN.lon_edges_deg[1:], 100.5) - np.maximum(DOMAIN.lon_edges_deg[:-1], 60.5),
                          0.0, None) / np.diff(DOMAIN.lon_edges_deg)
    expected = np.outer(covered_lat, covered_lon)
    assert {0.0, 0.5, 1.0} <= set(np.round(covered_lon, 12))
    np.testing.assert_allclose(con.coverage, expected, rtol=0, atol=1e-12)


def test_conservative_keeps_constants_and_totals():
    lon, lat = era_like()
    src = SourceGrid.from_coords(lon, lat)
    con = Conservative(src, DOMAIN)
    np.testing.assert_allclose(con(np.ones((lat.size, lon.size))), 1.0, atol=1e-14)
    rng = np.random.default_rng(1)
    amounts = np.zeros((lat.size, lon.size))
    LO, LA = np.meshgrid(lon, lat)
    inside = (LA > -14) & (LA < 59) & (LO > 61) & (LO < 179)
    amounts[inside] = rng.random(inside.sum())
    out = con.amounts(amounts)
    assert abs(out.sum() - amounts.sum()) <= 1e-12 * amounts.sum()
    # densities: sum of density times area is kept as well
    dens = amounts / src.cell_area_m2(DOMAIN.radius_m)
    assert abs((con(dens) * DOMAIN.cell_area_m2).sum() - amounts.sum()) <= 1e-12 * amounts.sum()
    # the part outside the domain is what is missing
    amounts[~inside] = 1.0
    kept = con.fraction_kept(amounts)
    assert 0 < kept < 1


def _brute_force(src_lon_edges, src_lat_edges, tgt: LatLonGrid, dens):
    out = np.zeros(tgt.shape)
    for J in range(tgt.nlat):
        for I in range(tgt.nlon):
            a = 0.0
            for j in range(len(src_lat_edges) - 1):
                y0 = max(np.sin(np.deg2rad(src_lat_edges[j])), np.sin(np.deg2rad(tgt.lat_edges_deg[J])))
                y1 = min(np.sin(np.deg2rad(src_lat_edges[j + 1])), np.sin(np.deg2rad(tgt.lat_edges_deg[J + 1])))
                if y1 <= y0:
                    continue
                for i in range(len(src_lon_edges) - 1):
                    x0 = max(src_lon_edges[i], tgt.lon_edges_deg[I])
                    x1 = min(src_lon_edges[i + 1], tgt.lon_edges_deg[I + 1])
                    if x1 > x0:
                        a += (x1 - x0) * (y1 - y0) * dens[j, i]
            out[J, I] = a / (
                (tgt.lon_edges_deg[I + 1] - tgt.lon_edges_deg[I])
                * (np.sin(np.deg2rad(tgt.lat_edges_deg[J + 1])) - np.sin(np.deg2rad(tgt.lat_edges_deg[J])))
            )
    return out


def test_conservative_matches_brute_force_overlaps():
    src_lon_edges = np.array([100.0, 103.0, 104.5, 109.0, 112.0])
    src_lat_edges = np.array([10.0, 12.5, 13.0, 17.0, 20.0])
    lon = 0.5 * (src_lon_edges[1:] + src_lon_edges[:-1])
    lat = 0.5 * (src_lat_edges[1:] + src_lat_edges[:-1])
    bounds_lon = np.stack([src_lon_edges[:-1], src_lon_edges[1:]], axis=1)
    bounds_lat = np.stack([src_lat_edges[:-1], src_lat_edges[1:]], axis=1)
    src = SourceGrid.from_coords(lon, lat[::-1], bounds_lon, bounds_lat[::-1])
    dens = np.arange(16.0).reshape(4, 4) + 1.0
    tgt = LatLonGrid.regional(101.0, 111.0, 11.0, 19.0, 2.0)
    out = Conservative(src, tgt)(dens[::-1])
    np.testing.assert_allclose(out, _brute_force(src_lon_edges, src_lat_edges, tgt, dens), rtol=1e-12)


@settings(max_examples=25, deadline=None)
@given(
    dlon=st.sampled_from([0.5, 0.75, 1.25, 2.5, 3.0]),
    dlat=st.sampled_from([0.5, 1.0, 1.5, 2.0]),
    start=st.sampled_from([-180.0, 0.0, -30.0]),
    seed=st.integers(0, 1000),
)
def test_global_to_global_conservation_property(dlon, dlat, start, seed):
    lon = start + dlon * (np.arange(int(360 / dlon)) + 0.5)
    lat = -90.0 + dlat * (np.arange(int(180 / dlat)) + 0.5)
    src = SourceGrid.from_coords(lon, lat)
    tgt = LatLonGrid.global_grid(4.0, lon_start_deg=-180.0)
    m = np.random.default_rng(seed).random((lat.size, lon.size))
    out = Conservative(src, tgt).amounts(m)
    assert abs(out.sum() - m.sum()) <= 1e-12 * m.sum()
    assert np.all(out >= 0)


def test_source_that_does_not_cover_the_domain_is_refused():
    lon = np.arange(100.0, 140.0, 1.0)
    lat = np.arange(0.0, 40.0, 1.0)
    src = SourceGrid.from_coords(lon, lat)
    with pytest.raises(InputError, match=r"does not cover the model domain"):
        Bilinear(src, DOMAIN)
    with pytest.raises(InputError, match=r"only rectilinear grids"):
        SourceGrid.from_coords(np.zeros((2, 2)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="bilinear"):
        regrid(np.zeros((40, 40)), src, LatLonGrid.regional(110, 120, 10, 20, 1.0), method="nearest")


def test_window_reads_only_the_needed_part():
    lon, lat = era_like()
    b = Bilinear(SourceGrid.from_coords(lon, lat), DOMAIN)
    assert (b.rows.stop - b.rows.start) < 110 and len(np.arange(lon.size)[b.cols]) < 170
    a = np.random.default_rng(3).random((lat.size, lon.size))
    np.testing.assert_array_equal(b(a), b(a[b.rows, b.cols], window=True))


@pytest.mark.parametrize("src_lon0", [-170.0, 190.0])
def test_conservative_finds_a_partial_source_in_the_other_longitude_convention(src_lon0):
    """A regional inventory at 170W..120W (or 190..240E) over a domain 100..250E: every kilogram lands at its place,
    though the domain does not fit inside the source under any one shift of 360 degrees."""
    grid = LatLonGrid.regional(100.0, 250.0, -15.0, 60.0, 5.0)
    lon = np.arange(src_lon0 + 0.25, src_lon0 + 50.0, 0.5)
    lat = np.arange(0.25, 50.0, 0.5)
    src = SourceGrid.from_coords(lon, lat)
    amounts = np.random.default_rng(3).random((lat.size, lon.size))
    out = Conservative(src, grid, require_cover=False).amounts(amounts)
    np.testing.assert_allclose(out.sum(), amounts.sum(), rtol=1e-12)
    i0 = int(np.searchsorted(grid.lon_edges_deg, 190.0))
    assert out[:, :i0].sum() == 0.0 and out[:, i0 + 10:].sum() == 0.0
    np.testing.assert_allclose(out[:, i0:i0 + 10].sum(axis=0),
                               amounts.reshape(lat.size, 10, 10).sum(axis=(0, 2)), rtol=1e-12)
