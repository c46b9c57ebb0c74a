"""Regular longitude-latitude grids on the sphere with Arakawa C-grid faces and air layers.

Cell ``(j, i)`` spans longitudes ``lon_edges[i]..lon_edges[i+1]`` and latitudes ``lat_edges[j]..lat_edges[j+1]``
(latitude increases with ``j``). The area of a cell on a sphere of radius R is

    A = R^2 (lambda_2 - lambda_1) (sin phi_2 - sin phi_1)

(exact spherical zone segment), so the areas of a global grid sum to 4 pi R^2 up to round-off.

C-grid faces: ``u`` faces are the meridional cell walls (shape ``(nlat, nlon + 1)``, face ``i`` is the west wall of
cell ``i``); ``v`` faces are the zonal walls (shape ``(nlat + 1, nlon)``, face ``j`` is the south wall of row ``j``).
On a global grid the longitude is periodic (face ``nlon`` is face ``0``) and the walls at the poles have zero
length. A regional grid that spans all 360 degrees of longitude (a zonal band, such as 20..80 N) is periodic in
longitude too, and open only at its south and north edges; an edge of a band at a pole is a wall of zero length,
which carries no flux (as on a global grid, air crosses the pole only round it, in the polar row). A regional grid
of 360 degrees from pole to pole would have no open boundary at all: it is refused (make it a global grid).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from .constants import EARTH_RADIUS_M, STANDARD_GRAVITY_M_S2

Topology = Literal["global", "regional", "box"]

#: A regional grid whose longitudes span 360 degrees to within this tolerance (degrees) is a zonal band.
BAND_TOLERANCE_DEG = 1e-9


class GridError(ValueError):
    """A grid specification that cannot describe a valid lat-lon grid."""


@dataclass(frozen=True)
class AirLayers:
    """Air layers of every column, bounded by heights above ground.

    Parameters
    ----------
    edges_m
        Layer edge heights above the surface in metres, strictly increasing, starting at 0. Layer ``k`` spans
        ``edges_m[k]..edges_m[k+1]``; ``k = 0`` is the lowest (boundary) layer.
    """

    edges_m: tuple[float, ...] = (0.0, 1000.0, 10000.0)

    def __post_init__(self) -> None:
        e = np.asarray(self.edges_m, dtype=float)
        if e.ndim != 1 or e.size < 2:
            raise GridError(f"air layer edges {self.edges_m!r}: need at least two edges (metres above ground)")
        if e[0] != 0.0:
            raise GridError(f"air layer edges {self.edges_m!r}: the first edge must be 0 m (the ground)")
        if np.any(np.diff(e) <= 0) or not np.all(np.isfinite(e)):
            raise GridError(f"air layer edges {self.edges_m!r}: edges must be finite and strictly increasing")

    @property
    def n(self) -> int:
        """Number of layers."""
        return len(self.edges_m) - 1

    @property
    def thickness_m(self) -> np.ndarray:
        """Layer thicknesses (m), shape ``(n,)``."""
        return np.diff(np.asarray(self.edges_m, dtype=float))

    @property
    def centres_m(self) -> np.ndarray:
        """Layer mid-heights (m), shape ``(n,)``."""
        e = np.asarray(self.edges_m, dtype=float)
        return 0.5 * (e[1:] + e[:-1])

    def air_density_kg_m3(self, surface_density_kg_m3: float = 1.225, scale_height_m: float = 8000.0) -> np.ndarray:
        """Layer-mean dry-air density (kg m-3) of an isothermal atmosphere, rho(z) = rho0 exp(-z/H).

        The layer mean of ``rho0 exp(-z/H)`` over ``z1..z2`` is ``rho0 H (exp(-z1/H) - exp(-z2/H)) / (z2 - z1)``.
        ``rho0 = 1.225 kg m-3`` is the U.S. Standard Atmosphere 1976 sea-level density; ``H = 8 km`` a typical
        density scale height.
        """
        e = np.asarray(self.edges_m, dtype=float)
        h = scale_height_m
        return surface_density_kg_m3 * h * (np.exp(-e[:-1] / h) - np.exp(-e[1:] / h)) / np.diff(e)

    def air_mass_per_area_kg_m2(self) -> np.ndarray:
        """Air mass per unit area of every layer (kg m-2), shape ``(n,)``: density times thickness."""
        return self.air_density_kg_m3() * self.thickness_m


@dataclass(frozen=True)
class LatLonGrid:
    """A regular longitude-latitude grid, global (periodic in longitude) or regional (open boundaries; a regional
    grid of 360 degrees of longitude is a zonal band, periodic in longitude and open at its south and north edges).

    Build one with :meth:`regional`, :meth:`global_grid` or :meth:`box`; the fields are the edges in degrees.

    Attributes
    ----------
    lon_edges_deg, lat_edges_deg
        Cell edges in degrees east / north, shapes ``(nlon + 1,)`` and ``(nlat + 1,)``, increasing.
    topology
        ``"global"`` (periodic in longitude, latitude -90..90), ``"regional"`` (open boundaries; periodic in
        longitude when it spans 360 degrees, see :attr:`is_band`) or ``"box"`` (one cell, no transport).
    layers
        The air layers above every cell.
    radius_m
        Sphere radius (m).
    """

    lon_edges_deg: np.ndarray
    lat_edges_deg: np.ndarray
    topology: Topology = "regional"
    layers: AirLayers = field(default_factory=AirLayers)
    radius_m: float = EARTH_RADIUS_M

    def __post_init__(self) -> None:
        lon = np.ascontiguousarray(self.lon_edges_deg, dtype=np.float64)
        lat = np.ascontiguousarray(self.lat_edges_deg, dtype=np.float64)
        object.__setattr__(self, "lon_edges_deg", lon)
        object.__setattr__(self, "lat_edges_deg", lat)
        if lon.ndim != 1 or lon.size < 2 or lat.ndim != 1 or lat.size < 2:
            raise GridError("grid edges must be 1-D arrays with at least two values each")
        if np.any(np.diff(lon) <= 0) or np.any(np.diff(lat) <= 0):
            raise GridError("grid edges must be strictly increasing in longitude and latitude")
        if lat[0] < -90.0 - 1e-9 or lat[-1] > 90.0 + 1e-9:
            raise GridError(f"latitude edges {lat[0]}..{lat[-1]} leave -90..90 degrees north")
        if lon[-1] - lon[0] > 360.0 + 1e-9:
            raise GridError(f"longitude edges {lon[0]}..{lon[-1]} span more than 360 degrees")
        if self.topology == "global":
            if abs(lon[-1] - lon[0] - 360.0) > 1e-9 or abs(lat[0] + 90.0) > 1e-9 or abs(lat[-1] - 90.0) > 1e-9:
                raise GridError("a global grid must span 360 degrees of longitude and -90..90 degrees of latitude")
        if self.topology not in ("global", "regional", "box"):
            raise GridError(f"grid topology {self.topology!r}: allowed are 'global', 'regional', 'box'")
        if self.is_band and lat[0] <= -90.0 + 1e-9 and lat[-1] >= 90.0 - 1e-9:
            raise GridError(
                f"a regional grid of 360 degrees of longitude ({lon[0]:g}..{lon[-1]:g}) from pole to pole has no open "
                "boundary; make it a global grid (LatLonGrid.global_grid, or domain.kind = \"global\")"
            )

    # construction -------------------------------------------------------------------------------------------
    @classmethod
    def regional(
        cls,
        lon_min_deg: float,
        lon_max_deg: float,
        lat_min_deg: float,
        lat_max_deg: float,
        resolution_deg: float | tuple[float, float],
        layers: AirLayers | None = None,
    ) -> "LatLonGrid":
        """A regional grid with open boundaries covering the given box at the given resolution (degrees).

        ``resolution_deg`` is one number or ``(dlon, dlat)``; the extent must be a whole number of cells.
        """
        dlon, dlat = (resolution_deg, resolution_deg) if np.isscalar(resolution_deg) else resolution_deg
        nlon = _whole_cells(lon_max_deg - lon_min_deg, float(dlon), "longitude")
        nlat = _whole_cells(lat_max_deg - lat_min_deg, float(dlat), "latitude")
        return cls(
            np.linspace(lon_min_deg, lon_max_deg, nlon + 1),
            np.linspace(lat_min_deg, lat_max_deg, nlat + 1),
            "regional",
            layers or AirLayers(),
        )

    @classmethod
    def global_grid(
        cls, resolution_deg: float | tuple[float, float], lon_start_deg: float = -180.0, layers: AirLayers | None = None
    ) -> "LatLonGrid":
        """A global grid, periodic in longitude, with cells from ``lon_start_deg`` eastwards and -90..90 N."""
        dlon, dlat = (resolution_deg, resolution_deg) if np.isscalar(resolution_deg) else resolution_deg
        nlon = _whole_cells(360.0, float(dlon), "longitude")
        nlat = _whole_cells(180.0, float(dlat), "latitude")
        return cls(
            np.linspace(lon_start_deg, lon_start_deg + 360.0, nlon + 1),
            np.linspace(-90.0, 90.0, nlat + 1),
            "global",
            layers or AirLayers(),
        )

    @classmethod
    def box(
        cls, lon_deg: float = 0.0, lat_deg: float = 0.0, size_deg: float = 1.0, layers: AirLayers | None = None
    ) -> "LatLonGrid":
        """A single cell centred on ``(lon_deg, lat_deg)``, for box-model runs with no transport."""
        h = 0.5 * size_deg
        return cls(
            np.array([lon_deg - h, lon_deg + h]),
            np.array([max(lat_deg - h, -90.0), min(lat_deg + h, 90.0)]),
            "box",
            layers or AirLayers(edges_m=(0.0, 1000.0)),
        )

    # shape ----------------------------------------------------------------------------------------------------
    @property
    def nlon(self) -> int:
        return self.lon_edges_deg.size - 1

    @property
    def nlat(self) -> int:
        return self.lat_edges_deg.size - 1

    @property
    def nlayer(self) -> int:
        return self.layers.n

    @property
    def shape(self) -> tuple[int, int]:
        """``(nlat, nlon)``."""
        return (self.nlat, self.nlon)

    @property
    def is_periodic(self) -> bool:
        """True when longitude wraps around (face ``nlon`` is face ``0``): global grids and zonal bands."""
        return self.topology == "global" or self.is_band

    @property
    def is_band(self) -> bool:
        """True for a zonal band: a regional grid that spans all 360 degrees of longitude. It is periodic in
        longitude and has open boundaries only at its south and north edges (an edge at a pole is a wall)."""
        lon = self.lon_edges_deg
        return self.topology == "regional" and abs(lon[-1] - lon[0] - 360.0) <= BAND_TOLERANCE_DEG

    @property
    def is_global(self) -> bool:
        """True for a global grid: periodic in longitude and closed at both poles, with no open boundary."""
        return self.topology == "global"

    # coordinates ------------------------------------------------------------------------------------------------
    @property
    def lon_deg(self) -> np.ndarray:
        """Cell-centre longitudes (degrees east), shape ``(nlon,)``."""
        return 0.5 * (self.lon_edges_deg[1:] + self.lon_edges_deg[:-1])

    @property
    def lat_deg(self) -> np.ndarray:
        """Cell-centre latitudes (degrees north), shape ``(nlat,)``: midpoints of the edges."""
        return 0.5 * (self.lat_edges_deg[1:] + self.lat_edges_deg[:-1])

    @property
    def dlon_rad(self) -> np.ndarray:
        """Cell widths in longitude (radians), shape ``(nlon,)``."""
        return np.deg2rad(np.diff(self.lon_edges_deg))

    @property
    def dlat_rad(self) -> np.ndarray:
        """Cell heights in latitude (radians), shape ``(nlat,)``."""
        return np.deg2rad(np.diff(self.lat_edges_deg))

    # metrics ----------------------------------------------------------------------------------------------------
    @property
    def cell_area_m2(self) -> np.ndarray:
        """Cell areas (m2), shape ``(nlat, nlon)``: ``R^2 dlambda (sin phi_n - sin phi_s)``."""
        dsin = np.diff(np.sin(np.deg2rad(self.lat_edges_deg)))
        return np.ascontiguousarray(self.radius_m**2 * np.outer(dsin, self.dlon_rad))

    @property
    def u_face_length_m(self) -> np.ndarray:
        """Lengths of meridional walls (m), shape ``(nlat, nlon + 1)``: ``R dphi``."""
        return np.ascontiguousarray(np.repeat((self.radius_m * self.dlat_rad)[:, None], self.nlon + 1, axis=1))

    @property
    def v_face_length_m(self) -> np.ndarray:
        """Lengths of zonal walls (m), shape ``(nlat + 1, nlon)``: ``R cos(phi) dlambda`` (zero at the poles)."""
        coslat = np.cos(np.deg2rad(self.lat_edges_deg))
        coslat[np.abs(self.lat_edges_deg) >= 90.0 - 1e-12] = 0.0
        return np.ascontiguousarray(self.radius_m * np.outer(coslat, self.dlon_rad))

    @property
    def dx_m(self) -> np.ndarray:
        """Zonal cell width at the cell-centre latitude (m), shape ``(nlat, nlon)``."""
        return self.radius_m * np.outer(np.cos(np.deg2rad(self.lat_deg)), self.dlon_rad)

    @property
    def dy_m(self) -> np.ndarray:
        """Meridional cell height (m), shape ``(nlat,)``."""
        return self.radius_m * self.dlat_rad

    def air_mass_kg(self) -> np.ndarray:
        """Air mass of every cell and layer (kg), shape ``(nlayer, nlat, nlon)``, from the layer mean densities."""
        per_area = self.layers.air_mass_per_area_kg_m2()
        return np.ascontiguousarray(per_area[:, None, None] * self.cell_area_m2[None, :, :])

    def air_volume_m3(self) -> np.ndarray:
        """Air volume of every cell and layer (m3), shape ``(nlayer, nlat, nlon)``."""
        return np.ascontiguousarray(self.layers.thickness_m[:, None, None] * self.cell_area_m2[None, :, :])

    def contains(self, other: "LatLonGrid", tolerance_deg: float = 1e-9) -> bool:
        """True when ``other``'s extent lies inside this grid's extent (longitude wraps on periodic grids)."""
        if self.is_periodic:
            lon_ok = True
        else:
            lon_ok = (other.lon_edges_deg[0] >= self.lon_edges_deg[0] - tolerance_deg) and (
                other.lon_edges_deg[-1] <= self.lon_edges_deg[-1] + tolerance_deg
            )
        lat_ok = (other.lat_edges_deg[0] >= self.lat_edges_deg[0] - tolerance_deg) and (
            other.lat_edges_deg[-1] <= self.lat_edges_deg[-1] + tolerance_deg
        )
        return bool(lon_ok and lat_ok)

    def describe(self) -> str:
        """One-line human summary."""
        kind = "regional zonal band (periodic in longitude)" if self.is_band else self.topology
        return (
            f"{kind} grid {self.nlon} x {self.nlat} cells, lon {self.lon_edges_deg[0]:g}..{self.lon_edges_deg[-1]:g} E, "
            f"lat {self.lat_edges_deg[0]:g}..{self.lat_edges_deg[-1]:g} N, {self.nlayer} air layer(s)"
        )


def _whole_cells(extent_deg: float, step_deg: float, what: str) -> int:
    if not step_deg > 0:
        raise GridError(f"{what} resolution {step_deg!r} degrees: must be positive")
    n = extent_deg / step_deg
    if extent_deg <= 0:
        raise GridError(f"{what} extent {extent_deg!r} degrees: the maximum must exceed the minimum")
    if abs(n - round(n)) > 1e-6:
        raise GridError(
            f"{what} extent {extent_deg:g} degrees is not a whole number of {step_deg:g}-degree cells; "
            "change the resolution or the domain edges"
        )
    return int(round(n))


def pressure_to_height_m(pressure_pa: np.ndarray, scale_height_m: float = 8000.0) -> np.ndarray:
    """Height (m) of a pressure level in an isothermal atmosphere, z = H ln(p0 / p) with p0 = 101325 Pa."""
    return scale_height_m * np.log(101_325.0 / np.asarray(pressure_pa, dtype=float))


__all__ = ["AirLayers", "BAND_TOLERANCE_DEG", "GridError", "LatLonGrid", "STANDARD_GRAVITY_M_S2", "pressure_to_height_m"]
