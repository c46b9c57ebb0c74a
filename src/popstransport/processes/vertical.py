"""Vertical exchange between air layers: the diagnosed vertical air-mass flux, and turbulent mixing.

The horizontal fluxes of a layer need not be divergence free; their divergence is carried between layers by the
vertical air-mass flux diagnosed from continuity (:func:`popstransport.massflux.diagnose_vertical_mass_flux`). After
:class:`popstransport.processes.advection.HorizontalAdvection` the air mass of a cell is ``M - dt div_h``;
:class:`VerticalExchange` moves it back to ``M`` with the vertical flux, so a uniform mixing ratio stays uniform, and
can mix the layers with a turbulent exchange rate, implicitly (see :mod:`popstransport.kernels.vertical` for the
scheme and its properties). A model built from a configuration mixes the layers with :class:`TurbulentMixing`
instead, as transfers of every cell's fate system, solved exactly with emission, deposition and exchange.
"""

from __future__ import annotations

import numpy as np

from ..kernels.vertical import make_vertical_exchange
from ..kernels.workspace import LastShape
from ..massflux import diagnose_vertical_mass_flux, horizontal_divergence_kg_s
from .base import Process


class VerticalExchangeError(RuntimeError):
    """Vertical exchange cannot proceed with the given fluxes and time step."""


def check_diffusivity(eddy_diffusivity_m2_s: float | np.ndarray) -> None:
    """Refuse a turbulent diffusivity that is negative or not finite."""
    k = np.asarray(eddy_diffusivity_m2_s, dtype=float)
    if np.any(k < 0) or not np.all(np.isfinite(k)):
        raise ValueError(f"eddy diffusivity must be finite and >= 0, got {eddy_diffusivity_m2_s!r} m2 s-1")


def turbulent_exchange_kg_s(grid: object, air_mass_kg: np.ndarray,
                            eddy_diffusivity_m2_s: float | np.ndarray) -> np.ndarray:
    """Turbulent air-mass exchange rates through the layer interfaces (kg s-1), ``(L + 1, J, I)`` (ends zero):
    ``E = rho K A / dz`` with ``rho`` the mean density of the two layers, ``A`` the cell area and ``dz`` the distance
    between the layer mid-heights (see :class:`VerticalExchange`)."""
    nl, nj, ni = air_mass_kg.shape
    E = np.zeros((nl + 1, nj, ni))
    if nl < 2:
        return E
    area = grid.cell_area_m2  # type: ignore[attr-defined]
    thick = grid.layers.thickness_m  # type: ignore[attr-defined]
    rho = air_mass_kg / (area[None] * thick[:, None, None])
    dz = np.diff(grid.layers.centres_m)  # type: ignore[attr-defined]
    K = np.broadcast_to(np.asarray(eddy_diffusivity_m2_s, dtype=float), (nl - 1, nj, ni))
    E[1:nl] = 0.5 * (rho[1:] + rho[:-1]) * K * area[None] / dz[:, None, None]
    return E


class TurbulentMixing(Process):
    """Turbulent exchange between adjacent air layers as first-order transfers of every cell's fate system.

    The exchange rate ``E`` (kg s-1) through the interface between layers ``k`` and ``k + 1`` (:func:`turbulent_exchange_kg_s`)
    moves the chemical of layer ``k`` up at the rate ``E / M_k`` and that of layer ``k + 1`` down at ``E / M_(k+1)``
    (s-1; ``M`` the layers' air masses), so that a uniform mixing ratio stays uniform. As a fate process the mixing is
    solved exactly together with emission, deposition and air-surface exchange in every step (the matrix exponential
    of the cell's system), rather than split from them: split, a step would leave the emission of a step in the
    lowest layer, exposed to the surface, for the whole step before mixing it up, which with a thin lowest layer
    overstates deposition and uptake by tens of per cent at a 3-hour step (first order in the step). The diagnosed
    vertical air-mass flux stays in :class:`VerticalExchange`. The transfers appear in the budget as
    ``turbulent_mixing_air_K_to_air_K+1_kg`` and back (gross masses moved).

    Parameters
    ----------
    eddy_diffusivity_m2_s
        Turbulent diffusivity ``K`` (m2 s-1) at the layer interfaces (a number, or an array ``(L - 1, J, I)``); see
        :class:`VerticalExchange` for the default 15 m2 s-1.
    """

    name = "turbulent_mixing"

    def __init__(self, eddy_diffusivity_m2_s: float | np.ndarray = 15.0):
        check_diffusivity(eddy_diffusivity_m2_s)
        self.eddy_diffusivity_m2_s = eddy_diffusivity_m2_s

    def transfers(self, context, forcing) -> list:
        from .fate import Transfer

        M = np.asarray(context.air_mass_kg, dtype=float)
        E = turbulent_exchange_kg_s(context.grid, M, self.eddy_diffusivity_m2_s)
        out = []
        for k in range(M.shape[0] - 1):
            if not np.any(E[k + 1] > 0):
                continue
            out.append(Transfer(self.name, f"air_{k}", f"air_{k + 1}", np.ascontiguousarray(E[k + 1] / M[k])))
            out.append(Transfer(self.name, f"air_{k + 1}", f"air_{k}", np.ascontiguousarray(E[k + 1] / M[k + 1])))
        return out


class VerticalExchange(Process):
    """Vertical transport between the air layers of every column, implicit in time.

    Parameters
    ----------
    eddy_diffusivity_m2_s
        Turbulent diffusivity ``K`` (m2 s-1) at the layer interfaces (a number, or an array ``(L - 1, J, I)``).
        The exchange rate through an interface is ``E = rho K A / dz`` (kg s-1) with ``rho`` the mean density of
        the two layers, ``A`` the cell area and ``dz`` the distance between the layer mid-heights. The default
        15 m2 s-1 exchanges the default 1 km boundary layer with the free troposphere above on a time scale of
        about five days, close to the four days implied by the estimate that convection and fronts vent the
        boundary layer about 90 times a year (Cotton et al. 1995, Earth-Sci. Rev. 39:169).
    grid
        The model grid (set by :meth:`setup` when the process belongs to a model).
    max_column_imbalance
        Largest accepted net air-mass flux out of a column top per step, relative to the column air mass; a larger
        one means the fluxes were not balanced.
    """

    name = "vertical_exchange"

    def __init__(
        self,
        eddy_diffusivity_m2_s: float | np.ndarray = 15.0,
        grid: object | None = None,
        max_column_imbalance: float = 1e-9,
    ):
        check_diffusivity(eddy_diffusivity_m2_s)
        self.eddy_diffusivity_m2_s = eddy_diffusivity_m2_s
        self.grid = grid
        self.max_column_imbalance = float(max_column_imbalance)
        # the forcing-dependent fields of the model's current met record (see apply)
        self._record = LastShape()

    def setup(self, model: object) -> None:
        """Take the grid of ``model``."""
        self.grid = model.grid  # type: ignore[attr-defined]

    def exchange_rates_kg_s(self, air_mass_kg: np.ndarray) -> np.ndarray:
        """Turbulent air-mass exchange rates through the interfaces (kg s-1), ``(L + 1, J, I)`` (ends zero)."""
        if self.grid is None:
            raise ValueError("VerticalExchange needs a grid: pass grid= or add it to a model")
        return turbulent_exchange_kg_s(self.grid, air_mass_kg, self.eddy_diffusivity_m2_s)

    def prepare(
        self,
        air_mass_kg: np.ndarray,
        mass_flux_u_kg_s: np.ndarray | None,
        mass_flux_v_kg_s: np.ndarray | None,
        dt_s: float,
        exchange_kg_s: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The fields of a step that depend only on the forcing and ``dt_s``: the air mass after horizontal transport
        ``Mh (L, J, I)``, the diagnosed upward air-mass flux ``W (L + 1, J, I)`` (checked for column balance) and the
        turbulent exchange rates ``E (L + 1, J, I)`` (kg, kg s-1; C-contiguous float64). See :meth:`mix`."""
        M = np.ascontiguousarray(air_mass_kg, dtype=np.float64)
        if M.ndim != 3:
            raise ValueError(f"air_mass_kg has shape {M.shape}; expected (layer, lat, lon)")
        nl, nj, ni = M.shape
        if not dt_s > 0:
            raise ValueError(f"dt_s must be positive, got {dt_s!r}")
        if mass_flux_u_kg_s is None or mass_flux_v_kg_s is None:
            W = np.zeros((nl + 1, nj, ni))
            Mh = M
        else:
            W = diagnose_vertical_mass_flux(mass_flux_u_kg_s, mass_flux_v_kg_s)
            Mh = M - dt_s * horizontal_divergence_kg_s(mass_flux_u_kg_s, mass_flux_v_kg_s)
            imbalance = np.abs(W[nl]) * dt_s / M.sum(axis=0)
            worst = float(imbalance.max())
            if worst > self.max_column_imbalance:
                j, i = np.unravel_index(int(np.argmax(imbalance)), imbalance.shape)
                raise VerticalExchangeError(
                    f"the horizontal air-mass fluxes are not balanced: column (lat row {j}, lon column {i}) gains or "
                    f"loses {worst:.3g} of its air per step; balance them with popstransport.massflux "
                    "(MassFluxBalancer or balanced_mass_fluxes)"
                )
        E = self.exchange_rates_kg_s(M) if exchange_kg_s is None else np.asarray(exchange_kg_s, dtype=float)
        if E.shape != (nl + 1, nj, ni):
            raise ValueError(f"exchange_kg_s has shape {E.shape}; expected {(nl + 1, nj, ni)}")
        return np.ascontiguousarray(Mh, dtype=np.float64), np.ascontiguousarray(W, dtype=np.float64), \
            np.ascontiguousarray(E, dtype=np.float64)

    def mix(
        self,
        air_kg: np.ndarray,
        air_mass_kg: np.ndarray,
        mass_flux_u_kg_s: np.ndarray | None,
        mass_flux_v_kg_s: np.ndarray | None,
        dt_s: float,
        exchange_kg_s: np.ndarray | None = None,
        *,
        prepared: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
        check_conservation: bool = True,
        report_upward: bool = True,
    ) -> dict[str, np.ndarray]:
        """Advance ``air_kg (T, L, J, I)`` in place by ``dt_s``.

        ``air_mass_kg (L, J, I)`` is the fixed air mass; the horizontal fluxes of the step (or None for none) give
        the air mass after horizontal transport and the diagnosed vertical flux. ``exchange_kg_s (L + 1, J, I)``
        overrides the turbulent exchange rates. ``prepared`` gives the fields that depend only on the forcing and
        the step, as :meth:`prepare` returns them (then the air mass, fluxes and ``exchange_kg_s`` are not used).
        ``check_conservation=False`` skips ``lost_kg``, which sums the whole state before and after the step, and
        ``report_upward=False`` skips ``upward_kg`` (a sum over every row, about a fifth of the kernel's time).

        Returns
        -------
        dict
            ``upward_kg (T, L + 1)`` (with ``report_upward``): net chemical mass moved up through every interface
            (ends zero);
            ``lost_kg (T,)`` (with ``check_conservation``): column mass before minus after, zero to round-off.
        """
        if not (isinstance(air_kg, np.ndarray) and air_kg.ndim == 4 and air_kg.dtype in (np.float64, np.float32)
                and air_kg.flags.c_contiguous):
            raise ValueError("air_kg must be a C-contiguous float64 or float32 array shaped (tag, layer, lat, lon)")
        nt, nl, nj, ni = air_kg.shape
        if prepared is None:
            prepared = self.prepare(air_mass_kg, mass_flux_u_kg_s, mass_flux_v_kg_s, dt_s, exchange_kg_s)
        Mh, W, E = prepared
        if Mh.shape != (nl, nj, ni):
            raise ValueError(f"air_mass_kg has shape {Mh.shape}; expected {(nl, nj, ni)}")
        moved = np.zeros((nt, nl + 1, nj)) if report_upward else None
        status = np.zeros(nj, dtype=np.int64)
        before = air_kg.sum(axis=(1, 2, 3), dtype=np.float64) if check_conservation else None
        kernel = make_vertical_exchange(nt * nl * nj * ni >= 2_000)
        kernel(air_kg, Mh, W, E, float(dt_s), moved, status)
        bad = np.flatnonzero(status)
        if bad.size:
            j = int(bad[0])
            raise VerticalExchangeError(
                f"the vertical air-mass flux empties layer {int(status[j]) - 1} in latitude row {j} within "
                f"dt = {dt_s:g} s; reduce the time step"
            )
        out = {} if moved is None else {"upward_kg": moved.sum(axis=2)}
        if before is not None:
            out["lost_kg"] = before - air_kg.sum(axis=(1, 2, 3), dtype=np.float64)
        return out

    def apply(self, model: object, dt_s: float, report_upward: bool = True) -> dict[str, np.ndarray]:
        """Model interface: mix ``model.air_kg`` with the model's air mass and current mass fluxes.

        The fields that depend only on the forcing (:meth:`prepare`) are computed once per met record and step
        length, not in every step: they are kept until the model's air mass or mass-flux arrays (replaced when a new
        record is read), the record's key or ``dt_s`` change. The sums behind ``lost_kg`` (two passes over the whole
        state) are skipped: the run's budget (``budget.csv``, ``closure_error_kg``) covers this process too; with
        ``report_upward=False`` (the model's time step, which keeps no upward fluxes) also ``upward_kg``. A record with
        no vertical air flux and no exchange (``VerticalExchange(0.0)`` on static or two-dimensional flow) skips the
        kernel: its step would leave every value as it is."""
        M = model.air_mass_kg  # type: ignore[attr-defined]
        U = model.mass_flux_u_kg_s  # type: ignore[attr-defined]
        V = model.mass_flux_v_kg_s  # type: ignore[attr-defined]
        key = getattr(getattr(model, "forcing", None), "record_key", None)

        def prepare() -> tuple:
            p = self.prepare(M, U, V, dt_s)
            return p, not (p[1].any() or p[2].any())  # (no vertical air flux and no exchange: the step changes nothing)

        prepared, idle = self._record.get((key, dt_s), prepare, same=(M, U, V))
        if idle:
            nt, nl = model.air_kg.shape[:2]  # type: ignore[attr-defined]
            return {} if not report_upward else {"upward_kg": np.zeros((nt, nl + 1))}
        return self.mix(model.air_kg, M, U, V, dt_s, prepared=prepared,  # type: ignore[attr-defined]
                        check_conservation=False, report_upward=report_upward)


__all__ = ["TurbulentMixing", "VerticalExchange", "VerticalExchangeError", "turbulent_exchange_kg_s"]
