"""The reference fate chain: first-order degradation and dry deposition at a constant velocity.

These are the simplest processes that close a multimedia budget; they stay available (``[processes] fate =
"simple"``) as a reference for the full multimedia system and for checks with closed-form answers.
"""

from __future__ import annotations

import math

import numpy as np

from .base import Forcing, Process
from .fate import Transfer


class FirstOrderDegradation(Process):
    """Degradation at a constant first-order rate in each listed compartment: dm/dt = -ln(2) / t_half * m."""

    name = "degradation"

    def __init__(self, half_life_s: dict[str, float]):
        for comp, t in half_life_s.items():
            if not t > 0:
                raise ValueError(f"degradation half-life of {comp!r} must be positive, got {t!r} s")
        self.half_life_s = dict(half_life_s)

    def transfers(self, context: object, forcing: Forcing) -> list[Transfer]:
        """One transfer to the ``degraded`` sink per compartment."""
        return [Transfer(self.name, comp, "degraded", math.log(2.0) / t) for comp, t in self.half_life_s.items()]


class ConstantVelocityDryDeposition(Process):
    """Dry deposition from the lowest air layer to a surface compartment at a constant velocity.

    The flux is F = v_d c = v_d m / h_0 per unit area, with ``h_0`` the lowest layer's thickness, so the
    first-order rate is k = v_d / h_0 (s-1).
    """

    name = "dry_deposition"

    def __init__(self, velocity_m_s: float, target: str = "soil"):
        if not velocity_m_s >= 0:
            raise ValueError(f"dry deposition velocity must be >= 0, got {velocity_m_s!r} m s-1")
        self.velocity_m_s = velocity_m_s
        self.target = target

    def transfers(self, context: object, forcing: Forcing) -> list[Transfer]:
        """The transfer ``air_0 -> target`` at rate v_d / h_0."""
        h0 = float(context.grid.layers.thickness_m[0])  # type: ignore[attr-defined]
        return [Transfer(self.name, "air_0", self.target, self.velocity_m_s / h0)]


def zonal_stream_function_fluxes(
    grid: "object", air_mass_per_area_kg_m2: np.ndarray, u_m_s: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Discretely non-divergent C-grid air-mass fluxes of a purely zonal wind u(layer, latitude).

    The flux through a meridional wall is ``(sigma_k / dz_k) * u * dz_k * R dphi_j = sigma_k u R dphi_j`` with
    ``sigma_k`` the air mass per unit area of layer k; with no meridional flow every cell passes on what it
    receives, so the divergence is zero to round-off.

    Parameters
    ----------
    air_mass_per_area_kg_m2 : (L,) air mass per unit area of every layer.
    u_m_s : (L, J) zonal wind of every layer and latitude row.

    Returns ``(mass_flux_u_kg_s (L, J, I+1), mass_flux_v_kg_s (L, J+1, I))``.
    """
    nl, nj, ni = grid.nlayer, grid.nlat, grid.nlon  # type: ignore[attr-defined]
    wall = grid.u_face_length_m[:, 0]  # type: ignore[attr-defined]
    row = np.asarray(air_mass_per_area_kg_m2)[:, None] * np.asarray(u_m_s) * wall[None, :]
    fu = np.ascontiguousarray(np.repeat(row[:, :, None], ni + 1, axis=2))
    fv = np.zeros((nl, nj + 1, ni))
    return fu, fv


class UpwindAdvectionNumpy(Process):
    """First-order upwind flux-form advection in NumPy (reference chain; the Numba transport core replaces it).

    Chemical flux through a face: F_air * q_upwind with q = m / M_air. Open regional boundaries: outflow leaves,
    inflow carries ``boundary_mixing_ratio`` (default 0). Periodic in longitude on global grids. Sub-steps keep
    the outgoing air mass of every cell below ``max_courant`` of its content.
    """

    name = "advection"

    def __init__(self, max_courant: float = 0.9, boundary_mixing_ratio: float = 0.0):
        self.max_courant = max_courant
        self.boundary_mixing_ratio = boundary_mixing_ratio

    def advect(
        self,
        air_kg: np.ndarray,
        air_mass_kg: np.ndarray,
        mass_flux_u_kg_s: np.ndarray,
        mass_flux_v_kg_s: np.ndarray,
        dt_s: float,
        periodic: bool,
        face_mass_kg: dict[str, np.ndarray] | None = None,
    ) -> dict[str, np.ndarray]:
        """Advance ``air_kg`` (T, L, J, I) in place; return per-tag ``outflow_kg`` and ``inflow_kg``.

        If ``face_mass_kg`` is given, the gross chemical mass through every face is added to its arrays
        ``u_east``, ``u_west`` (T, L, J, I+1) and ``v_north``, ``v_south`` (T, L, J+1, I) (kg, >= 0).
        """
        fu, fv = mass_flux_u_kg_s, mass_flux_v_kg_s
        out_air = (
            np.maximum(fu[:, :, 1:], 0) - np.minimum(fu[:, :, :-1], 0) + np.maximum(fv[:, 1:, :], 0)
            - np.minimum(fv[:, :-1, :], 0)
        )
        courant = float(np.max(out_air * dt_s / air_mass_kg))
        nsub = max(1, int(np.ceil(courant / self.max_courant)))
        h = dt_s / nsub
        ntag = air_kg.shape[0]
        outflow = np.zeros(ntag)
        inflow = np.zeros(ntag)
        qb_tag = np.broadcast_to(np.asarray(self.boundary_mixing_ratio, dtype=float), (ntag,))
        qb = qb_tag[:, None, None, None]
        for _ in range(nsub):
            q = air_kg / air_mass_kg[None]
            # u faces
            if periodic:
                q_w = np.roll(q, 1, axis=3)
            else:
                q_w = np.concatenate([np.broadcast_to(qb, q[..., :1].shape), q[..., :-1]], axis=3)
            q_left = q_w  # value west of face i (for i = 0..I-1)
            q_right = q
            flux_u = np.where(fu[None, :, :, :-1] > 0, fu[None, :, :, :-1] * q_left, fu[None, :, :, :-1] * q_right)
            if periodic:
                flux_u_east = np.roll(flux_u, -1, axis=3)
            else:
                fe = fu[None, :, :, -1]
                q_e = np.broadcast_to(qb[..., 0], q[..., -1].shape)
                last = np.where(fe > 0, fe * q[..., -1], fe * q_e)
                flux_u_east = np.concatenate([flux_u[..., 1:], last[..., None]], axis=3)
                inflow += h * (np.maximum(flux_u[..., 0], 0).sum(axis=(1, 2)) - np.minimum(last, 0).sum(axis=(1, 2)))
                outflow += h * (np.maximum(last, 0).sum(axis=(1, 2)) - np.minimum(flux_u[..., 0], 0).sum(axis=(1, 2)))
            # v faces (pole walls carry zero air flux on global grids)
            q_s = np.concatenate([np.broadcast_to(qb, q[:, :, :1, :].shape), q[:, :, :-1, :]], axis=2)
            flux_v = np.where(fv[None, :, :-1, :] > 0, fv[None, :, :-1, :] * q_s, fv[None, :, :-1, :] * q)
            fn = fv[None, :, -1, :]
            last_v = np.where(fn > 0, fn * q[:, :, -1, :], fn * qb[..., 0])
            flux_v_north = np.concatenate([flux_v[:, :, 1:, :], last_v[:, :, None, :]], axis=2)
            inflow += h * (np.maximum(flux_v[:, :, 0, :], 0).sum(axis=(1, 2)) - np.minimum(last_v, 0).sum(axis=(1, 2)))
            outflow += h * (np.maximum(last_v, 0).sum(axis=(1, 2)) - np.minimum(flux_v[:, :, 0, :], 0).sum(axis=(1, 2)))
            air_kg += h * (flux_u - flux_u_east + flux_v - flux_v_north)
            if face_mass_kg is not None:
                fu_all = np.concatenate([flux_u, flux_u_east[..., -1:]], axis=3)
                fv_all = np.concatenate([flux_v, last_v[:, :, None, :]], axis=2)
                face_mass_kg["u_east"] += h * np.maximum(fu_all, 0)
                face_mass_kg["u_west"] -= h * np.minimum(fu_all, 0)
                face_mass_kg["v_north"] += h * np.maximum(fv_all, 0)
                face_mass_kg["v_south"] -= h * np.minimum(fv_all, 0)
        return {"outflow_kg": outflow, "inflow_kg": inflow, "substeps": np.array([nsub])}
