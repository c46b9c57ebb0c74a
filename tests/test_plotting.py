"""Figures from a real small run: every figure type is a non-blank PNG of the documented size; no downloads."""

from __future__ import annotations

import numpy as np
import pytest

from popstransport.config import load_config
from popstransport.plotting import FIGURE_SIZE_PX, colour_scale, map_projection, natural_earth_lines
from popstransport.results import RunResultsError, open_run
from popstransport.run import run

TINY = ["domain.resolution_deg=5", "time.stop=2010-03-01", "met.source=uniform", "emissions.source=uniform"]
TAGGED = [*TINY, "attribution.tags=list", "attribution.regions=['CHN','IND']"]


@pytest.fixture(scope="module")
def tagged_run(tmp_path_factory):
    return run(load_config(None, TAGGED), tmp_path_factory.mktemp("plot") / "run")


@pytest.fixture(scope="module")
def untagged_run(tmp_path_factory):
    return run(load_config(None, TINY), tmp_path_factory.mktemp("plot_untagged") / "run")


@pytest.fixture(scope="module")
def figures(tagged_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("figures")
    with open_run(tagged_run) as r:
        paths = r.plot_all(out)
    return {p.stem: p for p in paths}


def check_png(path, kind):
    """A PNG of the documented size whose pixels are not all one colour."""
    import matplotlib.image as mpimg

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    img = mpimg.imread(path)
    w, h = FIGURE_SIZE_PX[kind]
    assert img.shape[:2] == (h, w)
    assert float(img[..., :3].std()) > 0.05
    assert float((img[..., :3].sum(axis=-1) < 2.9).mean()) > 0.05  # a good part is not white


@pytest.mark.parametrize("name, kind", [
    ("air_concentration", "map"), ("deposition", "map"), ("soil_burden", "map"), ("budget", "budget"),
    ("source_receptor", "source_receptor"), ("border_fluxes", "border_fluxes"),
    ("region_air_budget", "region_air_budget"),
])
def test_every_figure_type_is_a_png_of_the_expected_size(figures, name, kind):
    check_png(figures[name], kind)


def test_png_metadata_names_the_package(figures):
    from PIL import Image

    from popstransport import __version__

    with Image.open(figures["deposition"]) as im:
        assert im.info.get("Software") == f"popstransport {__version__}"


def test_maps_draw_no_download(tagged_run, monkeypatch):
    """Borders and coastlines come from the shipped shapefile: cartopy's downloader must never be called."""
    import cartopy.io

    def refuse(*args, **kwargs):
        raise AssertionError("cartopy tried to download a file")

    monkeypatch.setattr(cartopy.io.Downloader, "acquire_resource", refuse)
    monkeypatch.setattr(cartopy.io.Downloader, "path", refuse)
    import matplotlib.pyplot as plt

    with open_run(tagged_run) as r:
        fig = r.plot_air_concentration()
        fig.canvas.draw()
        plt.close(fig)


def test_natural_earth_lines_cover_the_domain():
    borders, coast = natural_earth_lines(60.0, 180.0, -15.0, 60.0)
    assert len(borders) > 20
    assert not coast.is_empty
    x0, y0, x1, y1 = coast.bounds
    assert x0 < 70 and x1 > 170 and y0 < -10 and y1 > 55


def test_domain_past_the_date_line_gets_shifted_lines():
    borders, coast = natural_earth_lines(150.0, 230.0, 40.0, 70.0)  # Bering Sea and Alaska, lon > 180
    assert coast.bounds[2] > 200.0


def test_natural_earth_lines_do_not_draw_the_edges_of_their_clipping_box():
    """The outlines are clipped to the domain plus a margin; the clipped polygons' boundaries held the box's edges,
    which a conic map of a high-latitude domain (0-90 E, 60-90 N) shows as straight lines running to the pole
    across Greenland's sea and Siberia. No long segment of a border or of the coast may lie along those edges."""
    import shapely

    lon_min, lon_max, lat_min, lat_max = 0.0, 90.0, 60.0, 90.0
    borders, coast = natural_earth_lines(lon_min, lon_max, lat_min, lat_max)
    x0, x1 = min(b.bounds[0] for b in borders if not b.is_empty), max(b.bounds[2] for b in borders if not b.is_empty)
    assert x0 < lon_min - 20 and x1 > lon_max + 20  # (the margin is there: coasts west of 0 E and east of 90 E)
    for line in [*borders, coast]:
        for part in shapely.get_parts(shapely.line_merge(line) if not line.is_empty else line):
            xy = shapely.get_coordinates(part)
            for a, b in zip(xy[:-1], xy[1:]):
                on_west = abs(a[0] - x0) < 1e-6 and abs(b[0] - x0) < 1e-6
                on_east = abs(a[0] - x1) < 1e-6 and abs(b[0] - x1) < 1e-6
                # (a short one is a real line that dips out of the box, straightened by the simplification)
                assert not (on_west or on_east) or abs(a[1] - b[1]) < 0.5, (a, b)
    assert not coast.is_empty and coast.bounds[3] > 80.0  # (Svalbard, Franz Josef Land)


def test_projection_choice():
    import cartopy.crs as ccrs

    lon = np.linspace(0, 360, 73)
    assert isinstance(map_projection(lon, np.linspace(-90, 90, 37)), ccrs.Robinson)
    assert isinstance(map_projection(np.linspace(-20, 40, 13), np.linspace(35, 70, 8)), ccrs.LambertConformal)
    assert isinstance(map_projection(np.linspace(60, 180, 25), np.linspace(-15, 60, 16)), ccrs.PlateCarree)


@pytest.mark.parametrize("lat_edges", [(-50.0, -25.0), (25.0, 50.0), (-75.0, -50.0), (60.0, 85.0)])
def test_a_conic_map_draws_the_whole_domain_in_either_hemisphere(lat_edges):
    """The Lambert map of a mid-latitude domain holds all of it: on a southern one (south-east Australia and New
    Zealand, 50-25 S) cartopy's default cut-off at 30 S left the domain's northern fifth off the map."""
    import cartopy.crs as ccrs
    import shapely

    lon = np.linspace(110.0, 180.0, 29)
    proj = map_projection(lon, np.linspace(*lat_edges, 11))
    assert isinstance(proj, ccrs.LambertConformal)
    lo, la = np.meshgrid(np.linspace(110.0, 180.0, 30), np.linspace(*lat_edges, 30))
    xy = proj.transform_points(ccrs.PlateCarree(), lo.ravel(), la.ravel())
    assert np.isfinite(xy[:, :2]).all()
    assert shapely.contains_xy(proj.domain, xy[:, 0], xy[:, 1]).all()


def test_colour_scale_log_symlog_linear():
    from matplotlib.colors import LogNorm, Normalize, SymLogNorm

    norm, _, _, _ = colour_scale(np.logspace(-3, 3, 50))
    assert isinstance(norm, LogNorm)
    norm, _, _, note = colour_scale(np.array([-5.0, -1e-3, 0.0, 2e-2, 10.0]))
    assert isinstance(norm, SymLogNorm) and "upward" in note
    norm, _, _, _ = colour_scale(np.linspace(1.0, 5.0, 10))
    assert type(norm) is Normalize and norm.vmin == 0.0
    norm, _, _, note = colour_scale(np.zeros(10))
    assert "zero" in note


def test_log_scale_of_a_field_spanning_decades_draws(tagged_run, tmp_path):
    """A field spanning six decades with zeros is drawn on a log scale (zeros grey)."""
    from popstransport.plotting import save_figure

    with open_run(tagged_run) as r:
        da = r.soil_burden_ng_m2()
        da = da.copy(data=np.logspace(-4, 2, da.size).reshape(da.shape))
        da[0, 0] = 0.0
        fig = da.pops.map(title="test field", units="ng m-2")
        assert type(fig.axes[0].collections[0].norm).__name__ == "LogNorm"
        check_png(save_figure(fig, tmp_path / "log.png"), "map")


def test_accessor_refuses_a_field_with_extra_dimensions(tagged_run):
    with open_run(tagged_run) as r, pytest.raises(RunResultsError, match=r"select the other dimensions"):
        r.fields["soil_burden"].pops.map()


def test_untagged_run_has_the_four_basic_figures_and_maps_of_each_period(untagged_run, tmp_path):
    with open_run(untagged_run) as r:
        paths = r.plot_all(tmp_path, period="each")
        with pytest.raises(RunResultsError, match=r"needs a tagged run.*attribution.tags"):
            r.plot_source_receptor()
    names = sorted(p.stem for p in paths)
    assert names == sorted(["air_concentration", "budget", "deposition", "soil_burden",
                            *[f"{q}_{m}" for q in ("air_concentration", "deposition", "soil_burden")
                              for m in ("2010-01", "2010-02")]])
    check_png(tmp_path / "deposition_2010-02.png", "map")


def test_cli_plot_one_period(tagged_run, tmp_path, cli_main, capsys):
    assert cli_main(["plot", str(tagged_run), "--out", str(tmp_path), "--period", "2010-02"]) == 0
    assert "wrote 7 figure(s)" in capsys.readouterr().out
    names = sorted(p.name for p in tmp_path.iterdir())
    assert "deposition_2010-02.png" in names and "border_fluxes_2010-02.png" in names
    assert "region_air_budget_2010-02.png" in names
    check_png(tmp_path / "source_receptor_2010-02.png", "source_receptor")
    assert not list(tmp_path.glob(".*partial*"))


def test_cli_plot_bad_period_is_one_line(tagged_run, tmp_path, cli_main, capsys):
    assert cli_main(["plot", str(tagged_run), "--out", str(tmp_path), "--period", "2011-05"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "outside the run" in err


def test_border_flux_arrows_cross_the_shared_border_into_the_receiving_country():
    """An arrow stands on the two countries' border (or in the strait between them) and points into the receiver."""
    import shapely

    from popstransport.io.regions import natural_earth_countries
    from popstransport.plotting import border_crossings

    lon, lat = np.arange(60.0, 181.0), np.arange(-15.0, 61.0)
    pairs = [("PRK", "KOR"), ("KOR", "PRK"), ("CHN", "MNG"), ("KOR", "JPN"), ("CHN", "OTHER")]
    crossings = border_crossings(pairs, lon, lat)
    assert set(crossings) == set(pairs[:4])  # OTHER has no outline
    geoms, _ = natural_earth_countries()
    whole = {c: shapely.union_all(geoms[c]) for c in ("PRK", "KOR", "CHN", "MNG", "JPN")}
    for a, b in pairs[:3]:
        (x, y), (dx, dy) = crossings[(a, b)]
        assert np.hypot(dx, dy) == pytest.approx(1.0)
        assert whole[a].distance(shapely.Point(x, y)) < 0.05 and whole[b].distance(shapely.Point(x, y)) < 0.05
        assert whole[b].contains(shapely.Point(x + 0.2 * dx, y + 0.2 * dy))
        assert whole[a].contains(shapely.Point(x - 0.2 * dx, y - 0.2 * dy))
    (x, y), (dx, dy) = crossings[("KOR", "JPN")]  # the Korea Strait: half-way across, pointing at Japan
    gap = whole["KOR"].distance(whole["JPN"])
    assert whole["KOR"].distance(shapely.Point(x, y)) == pytest.approx(gap / 2, rel=1e-6)
    assert whole["JPN"].distance(shapely.Point(x + gap / 2 * dx, y + gap / 2 * dy)) < 1e-6
    assert crossings[("KOR", "PRK")][0] == crossings[("PRK", "KOR")][0]
    assert crossings[("KOR", "PRK")][1] == pytest.approx(tuple(-d for d in crossings[("PRK", "KOR")][1]))


def test_border_flux_arrows_of_a_region_file_stand_on_its_regions_shared_edge(tmp_path):
    """Regions of a GeoJSON file get arrows too (they had none: only Natural Earth countries were located)."""
    import json

    from matplotlib.patches import FancyArrowPatch

    from popstransport.plotting import border_crossings

    def square(lon0, lon1):
        return {"type": "Polygon", "coordinates": [[[lon0, 0], [lon1, 0], [lon1, 10], [lon0, 10], [lon0, 0]]]}

    f = tmp_path / "zones.geojson"
    f.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"zone": "West"}, "geometry": square(100, 105)},
        {"type": "Feature", "properties": {"zone": "East"}, "geometry": square(105, 110)}]}))
    cfg = load_config(None, ["domain.lon_min_deg=95", "domain.lon_max_deg=115", "domain.lat_min_deg=-5",
                             "domain.lat_max_deg=15", "domain.resolution_deg=5", "time.stop=2010-01-15",
                             "met.source=uniform", "met.uniform_u_m_s=5", "emissions.source=uniform",
                             f"regions.source={f}", "regions.name_attribute=zone", "attribution.tags=list",
                             "attribution.regions=['West', 'East']", "attribution.border_fluxes=true"])
    import matplotlib.pyplot as plt

    with open_run(run(cfg, tmp_path / "run")) as r:
        geometries = r.region_geometries()
        assert sorted(geometries) == ["East", "West"]
        fig = r.plot_border_fluxes()
    arrows = [p for p in fig.axes[0].patches if isinstance(p, FancyArrowPatch)]
    plt.close(fig)
    assert arrows  # the eastward flux from West into East
    (x, y), (dx, dy) = border_crossings([("West", "East")], r.lon_edges, r.lat_edges, geometries)[("West", "East")]
    assert (x, y) == pytest.approx((105.0, 5.0)) and (dx, dy) == pytest.approx((1.0, 0.0))


def test_a_zonal_bands_map_is_as_tall_as_its_band_needs_and_a_global_maps_size_is_unchanged(monkeypatch):
    """A zonal band's equirectangular map kept the 1100 x 760 pixels of the other maps: a band of 10 degrees was a
    strip across a white figure. Its figure is now as wide and as tall as the band's aspect ratio needs, within
    bounds; a global map (and any other regional map) keeps the fixed size."""
    import matplotlib.pyplot as plt
    import xarray as xr

    from popstransport.plotting import BAND_MAP_MIN_HEIGHT_PX, map_figure_size_px, plot_map

    monkeypatch.setattr("popstransport.plotting.add_map_furniture", lambda *args: None)  # (coasts: 7 s, not needed)
    lon = np.arange(0.0, 361.0, 10.0)
    assert map_figure_size_px(np.arange(-180.0, 181.0, 10.0), np.arange(-90.0, 91.0, 10.0)) == FIGURE_SIZE_PX["map"]
    assert map_figure_size_px(np.arange(60.0, 151.0, 10.0), np.arange(-10.0, 51.0, 10.0)) == FIGURE_SIZE_PX["map"]
    assert map_figure_size_px(lon, np.arange(20.0, 81.0, 10.0)) == (1100, 342)  # (1060 x 177 pixels of map)
    assert map_figure_size_px(lon, np.arange(-80.0, 81.0, 10.0))[1] < FIGURE_SIZE_PX["map"][1]
    lat = np.arange(40.0, 51.0, 5.0)  # (10 degrees: 30 pixels of map; the figure has the least height)
    fig = plot_map(xr.DataArray(np.ones((lat.size - 1, lon.size - 1)), dims=("lat", "lon")), lon, lat, "band", "kg")
    w, h = fig.get_size_inches() * fig.dpi
    plt.close(fig)
    assert (round(w), round(h)) == map_figure_size_px(lon, lat) == (1100, BAND_MAP_MIN_HEIGHT_PX) and w > 3 * h


@pytest.mark.parametrize("lon_start", [0.0])  # (the band whose cells were not drawn; each case takes 7 s)
def test_a_zonal_band_is_mapped_on_its_latitudes_with_every_cell_drawn(lon_start):
    """A zonal band (a regional grid of 360 degrees) gets an equirectangular map of its latitudes, not a global
    Robinson map; a band from 0 E drew no cell at all (cartopy wrapped the cells across the map's edge)."""
    import cartopy.crs as ccrs
    import matplotlib.pyplot as plt
    import xarray as xr

    from popstransport.plotting import plot_map

    lon, lat = np.arange(lon_start, lon_start + 361.0, 10.0), np.arange(20.0, 81.0, 10.0)
    centres = 0.5 * (lon[1:] + lon[:-1])
    field = xr.DataArray(np.tile(2.0 + np.cos(np.deg2rad(centres)), (lat.size - 1, 1)), dims=("lat", "lon"))
    fig = plot_map(field, lon, lat, "band", "kg")
    ax = fig.axes[0]
    assert isinstance(ax.projection, ccrs.PlateCarree)
    x0, x1, y0, y1 = ax.get_extent(ccrs.PlateCarree())
    assert (x1 - x0, y0, y1) == pytest.approx((360.0, 20.0, 80.0), abs=0.5)
    fig.canvas.draw()
    rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(float)
    plt.close(fig)
    top = np.array(plt.get_cmap("viridis")(1.0)[:3]) * 255  # the largest values, round 0 E
    assert (np.abs(rgb - top).sum(axis=-1) < 40).mean() > 0.01


def test_region_air_budget_bars_balance_for_every_region(tagged_run, tmp_path):
    """Inputs above zero and outputs below: the bars of every region shown add up to its residual, round-off."""
    from popstransport.plotting import save_figure

    with open_run(tagged_run) as r:
        fig = r.plot_region_air_budget()
        regions = r.region_air_budgets.sizes["region"]
    bars = fig.axes[0].patches
    x = np.array([round(b.get_x() + b.get_width() / 2) for b in bars])
    height = np.array([b.get_height() for b in bars])
    assert regions > 12 and sorted(set(x)) == list(range(12))  # (the 12 with the largest emitted + net inflow)
    for k in range(12):
        up = height[(x == k) & (height > 0)].sum()
        assert up > 0 and abs(height[x == k].sum()) <= 1e-9 * up
    check_png(save_figure(fig, tmp_path / "region_air_budget.png"), "region_air_budget")
