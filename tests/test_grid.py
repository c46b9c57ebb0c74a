import math

import numpy as np
import pytest

from popstransport.constants import EARTH_RADIUS_M
from popstransport.grid import AirLayers, GridError, LatLonGrid, pressure_to_height_m


@pytest.mark.parametrize("res", [0.5, 1.0, 2.8125, (2.5, 2.0)])
def test_global_areas_sum_to_sphere(res):
    g = LatLonGrid.global_grid(res)
    total = g.cell_area_m2.sum()
    assert abs(total / (4 * math.pi * EARTH_RADIUS_M**2) - 1) < 1e-12


def test_regional_area_matches_spherical_zone():
    g = LatLonGrid.regional(60, 180, -15, 60, 1.0)
    assert g.shape == (75, 120)
    expected = EARTH_RADIUS_M**2 * math.radians(120) * (math.sin(math.radians(60)) - math.sin(math.radians(-15)))
    assert abs(g.cell_area_m2.sum() / expected - 1) < 1e-12
    # a cell near the equator is about 111 km x 111 km
    j = np.searchsorted(g.lat_deg, 0.5)
    assert abs(g.cell_area_m2[j, 0] / (111.195e3**2) - 1) < 1e-3


def test_face_lengths_and_pole_walls():
    g = LatLonGrid.global_grid(10.0)
    assert g.u_face_length_m.shape == (18, 37)
    assert g.v_face_length_m.shape == (19, 36)
    assert np.all(g.v_face_length_m[0] == 0) and np.all(g.v_face_length_m[-1] == 0)
    eq = np.searchsorted(g.lat_edges_deg, 0.0)
    assert g.v_face_length_m[eq, 0] == pytest.approx(EARTH_RADIUS_M * math.radians(10.0))
    assert g.u_face_length_m[0, 0] == pytest.approx(EARTH_RADIUS_M * math.radians(10.0))


def test_height_of_a_pressure_level_in_the_isothermal_atmosphere():
    """``z = H ln(p0 / p)`` with p0 = 101 325 Pa and H = 8000 m: 0 m at p0, H at p0 / e, 1300 m at 850 hPa."""
    assert pressure_to_height_m(101_325.0) == 0.0
    assert pressure_to_height_m(101_325.0 / math.e) == pytest.approx(8000.0, rel=1e-12)
    assert pressure_to_height_m(np.array([85_000.0]))[0] == pytest.approx(8000.0 * math.log(101_325 / 85_000), rel=1e-12)
    assert pressure_to_height_m(85_000.0) == pytest.approx(1405.5, abs=0.1)


def test_layers_air_mass():
    layers = AirLayers((0.0, 1000.0, 10000.0))
    assert layers.n == 2
    per_area = layers.air_mass_per_area_kg_m2()
    # isothermal column 0..10 km holds rho0 H (1 - exp(-10/8)) kg m-2
    assert per_area.sum() == pytest.approx(1.225 * 8000 * (1 - math.exp(-10 / 8)), rel=1e-12)
    g = LatLonGrid.regional(0, 10, 0, 10, 5.0, layers)
    assert g.air_mass_kg().shape == (2, 2, 2)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(lon_min_deg=0, lon_max_deg=10, lat_min_deg=0, lat_max_deg=10, resolution_deg=3), "whole number"),
        (dict(lon_min_deg=10, lon_max_deg=0, lat_min_deg=0, lat_max_deg=10, resolution_deg=1), "extent"),
        (dict(lon_min_deg=0, lon_max_deg=10, lat_min_deg=0, lat_max_deg=10, resolution_deg=0), "positive"),
        (dict(lon_min_deg=0, lon_max_deg=10, lat_min_deg=80, lat_max_deg=100, resolution_deg=1), "-90..90"),
    ],
)
def test_grid_errors(kwargs, match):
    with pytest.raises(GridError, match=match):
        LatLonGrid.regional(**kwargs)


def test_grid_edge_errors():
    """Edges that are not 1-D arrays of two or more values, and a global grid that does not cover the sphere, are
    refused."""
    with pytest.raises(GridError, match="grid edges must be 1-D arrays with at least two values each"):
        LatLonGrid(np.array([0.0]), np.array([0.0, 10.0]))
    with pytest.raises(GridError, match="grid edges must be 1-D arrays with at least two values each"):
        LatLonGrid(np.zeros((2, 2)), np.array([0.0, 10.0]))
    with pytest.raises(GridError, match="grid edges must be strictly increasing in longitude and latitude"):
        LatLonGrid(np.array([0.0, 10.0, 10.0]), np.array([0.0, 10.0]))
    with pytest.raises(GridError, match=r"longitude edges 0.0..370.0 span more than 360 degrees"):
        LatLonGrid(np.array([0.0, 180.0, 370.0]), np.array([0.0, 10.0]))
    with pytest.raises(GridError, match=r"grid topology 'torus': allowed are 'global', 'regional', 'box'"):
        LatLonGrid(np.array([0.0, 10.0]), np.array([0.0, 10.0]), topology="torus")
    with pytest.raises(GridError, match=r"a regional grid of 360 degrees of longitude \(-180..180\) from pole to pole has "
                                        r"no open boundary; make it a global grid"):
        LatLonGrid.regional(-180, 180, -90, 90, 10.0)
    with pytest.raises(GridError, match="grid edges must be strictly increasing in longitude and latitude"):
        LatLonGrid(np.array([0.0, 10.0]), np.array([10.0, 0.0]))
    with pytest.raises(GridError, match="a global grid must span 360 degrees of longitude and -90..90 degrees"):
        LatLonGrid(np.linspace(0.0, 350.0, 36), np.linspace(-90.0, 90.0, 19), topology="global")
    with pytest.raises(GridError, match="a global grid must span 360 degrees of longitude and -90..90 degrees"):
        LatLonGrid(np.linspace(0.0, 360.0, 37), np.linspace(-80.0, 90.0, 18), topology="global")


@pytest.mark.parametrize("edges, match", [((0.0,), "two edges"), ((10.0, 20.0), "first edge"), ((0.0, 5.0, 5.0), "increasing")])
def test_layer_errors(edges, match):
    with pytest.raises(GridError, match=match):
        AirLayers(edges)


def test_box_grid():
    g = LatLonGrid.box(100, 30)
    assert g.shape == (1, 1) and g.topology == "box"


def test_a_regional_grid_of_360_degrees_is_a_zonal_band_periodic_in_longitude():
    """A regional grid around the whole globe is periodic in longitude (a zonal band) and keeps its open south and
    north edges; one short of 360 degrees is not periodic, whatever it spans; a global grid is periodic and closed."""
    band = LatLonGrid.regional(-180, 180, 20, 80, 10.0)
    assert band.is_band and band.is_periodic and not band.is_global
    assert LatLonGrid.regional(0, 360, 60, 90, 10.0).is_band  # (up to a pole: there a wall of zero length)
    short = LatLonGrid.regional(-180, 170, 20, 80, 10.0)
    assert not (short.is_band or short.is_periodic or short.is_global)
    glob = LatLonGrid.global_grid(10.0)
    assert glob.is_periodic and glob.is_global and not glob.is_band
    assert not LatLonGrid.box().is_periodic
    # a band contains any grid of its latitudes, whatever its longitudes
    assert band.contains(LatLonGrid.regional(150, 210, 30, 60, 10.0)) and not short.contains(
        LatLonGrid.regional(150, 210, 30, 60, 10.0))
