"""The model: grid, compartments, tags, an ordered list of processes, and ``time_step``.

State (chemical mass, kg):

- ``air_kg``: shape ``(tag, layer, lat, lon)``, gas plus particle phase of every air layer;
- ``surface_kg``: shape ``(tag, surface compartment, lat, lon)``, e.g. soil, vegetation, ocean mixed layer.

One step of length ``dt`` splits transport, that is horizontal advection of every air layer (sub-stepped for the
Courant limit) and the vertical exchange between layers (the diagnosed air-mass flux, and turbulent mixing when the
vertical process is given a diffusivity), from the exact solve of the per-cell compartment system dX/dt = K X + E
with the emissions of the step (a model built from a configuration mixes the layers there, with
:class:`popstransport.processes.vertical.TurbulentMixing`). The order alternates: transport first on even steps and
last on odd ones, so that two steps make the symmetric (Strang) composition (see :meth:`Model.time_step`). Every
stage reports the mass it moved, so the budget closes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from .grid import LatLonGrid
from .kernels.fate import add_scaled
from .processes.base import Forcing, ModelSetupError, Process
from .processes.fate import FateSolver, Transfer


class MetProvider(Protocol):
    """Anything that gives forcing fields on the model grid at a time."""

    def fields_at(self, time: np.datetime64) -> dict[str, np.ndarray]: ...


class EmissionProvider(Protocol):
    """Anything that gives emission rates (kg s-1) per tag at a time."""

    def sources_kg_s(self, time: np.datetime64) -> tuple[np.ndarray, np.ndarray | None]:
        """Return ``(rates (1 or T, L + S, J, I), tag_weights (T, J, I) or None)``: the emission rate into every
        compartment (kg s-1), per tag or shared, and each tag's share of a shared field (``None``: ones)."""
        ...


#: Builds C-grid air-mass fluxes ``(mass_flux_u_kg_s, mass_flux_v_kg_s)`` from forcing on a grid.
MassFluxBuilder = Callable[[LatLonGrid, np.ndarray, Forcing], tuple[np.ndarray, np.ndarray]]


@dataclass
class Collected:
    """Everything the model moved since the last :meth:`Model.collect` (per tag; kg or kg s)."""

    emitted_air_kg: np.ndarray  # (T, L, J, I)
    emitted_surface_kg: np.ndarray  # (T, S, J, I)
    #: per tag and cell (T, J, I), for the transfers :attr:`Model.tag_cell_transfer` selects
    moved_kg: dict[tuple[str, str, str], np.ndarray]
    outflow_kg: np.ndarray  # (T,)
    inflow_kg: np.ndarray  # (T,)
    integral_air_kg_s: np.ndarray  # (T, L, J, I)
    integral_surface_kg_s: np.ndarray  # (T, S, J, I)
    #: (L, J, I) time integral of the particle-bound mass in air, summed over tags (kg s)
    particle_integral_kg_s: np.ndarray
    #: every transfer: per tag (T,), summed over cells
    moved_tag_kg: dict[tuple[str, str, str], np.ndarray]
    #: every transfer: per cell (J, I), summed over tags
    moved_cell_kg: dict[tuple[str, str, str], np.ndarray]


def _grown(a: np.ndarray, extra: int) -> np.ndarray:
    """``a`` with ``extra`` more zero rows along the first axis."""
    if extra == 0:
        return a
    out = np.zeros((a.shape[0] + extra, *a.shape[1:]))
    out[: a.shape[0]] = a
    return out


class Model:
    """A gridded multimedia model of one chemical.

    ``popstransport.run.build_model(cfg)`` assembles the model a configuration describes. To step it by hand, call
    :meth:`update_forcing` (a time and a key that changes whenever the forcing should be read again) before the first
    :meth:`time_step` and whenever the forcing changes, then :meth:`time_step`; :meth:`collect` returns what moved
    since its last call. The state is :attr:`air_kg` ``(tag, layer, lat, lon)`` and :attr:`surface_kg` ``(tag,
    surface compartment, lat, lon)`` in kg; :meth:`burden_kg` sums it per compartment. :class:`popstransport.Simulation`
    does all this on a clock with output periods and budgets.

    Parameters
    ----------
    grid
        The model grid (its layers set the air compartments).
    fate_processes
        Processes with a ``transfers(model, forcing) -> list[Transfer]`` method, in order.
    met
        Forcing provider (``fields_at(time)``); fields are refreshed by :meth:`update_forcing`.
    emissions
        Emission provider (``sources_kg_s(time)``).
    mass_flux_builder
        Turns forcing into C-grid air-mass fluxes; ``None`` for box runs (no transport).
    advection
        Horizontal transport process with an ``advect`` method; ``None`` for box runs.
    surface_compartments
        Names of the surface compartments in state order.
    tags
        Names of the source tags (first axis of the state).
    chemical
        The chemical's properties (passed to processes through the model).
    vertical
        The vertical air-mass exchange between layers (``None`` for a single layer or a box).
    surface_parameters
        Surface properties of the multimedia exchange (:class:`popstransport.processes.exchange.SurfaceParameters`).
    state_dtype
        ``numpy.float64`` or ``numpy.float32`` for the state (accumulators stay float64).
    """

    def __init__(
        self,
        grid: LatLonGrid,
        *,
        fate_processes: Sequence[Process],
        met: MetProvider,
        emissions: EmissionProvider,
        mass_flux_builder: MassFluxBuilder | None = None,
        advection: Process | None = None,
        vertical: Process | None = None,
        surface_compartments: tuple[str, ...] = ("soil",),
        tags: tuple[str, ...] = ("ALL",),
        chemical: Any = None,
        surface_parameters: Any = None,
        state_dtype: type = np.float64,
    ):
        self.grid = grid
        self.tags = tuple(tags)
        self.surface_compartments = tuple(surface_compartments)
        self.air_compartments = tuple(f"air_{k}" for k in range(grid.nlayer))
        self.compartments = self.air_compartments + self.surface_compartments
        self.fate_processes = list(fate_processes)
        self.met = met
        self.emissions = emissions
        self.mass_flux_builder = mass_flux_builder
        self.advection = advection
        self.vertical = vertical
        self.chemical = chemical
        self.surface_parameters = surface_parameters
        self.gas_particle_partitioning = next(
            (p for p in fate_processes if hasattr(p, "particle_fraction_field")), None
        )
        #: Particle-bound fraction of the mass in air (L, J, I), from the partitioning process (0 without one).
        self.particle_fraction = np.zeros((grid.nlayer, grid.nlat, grid.nlon))
        if grid.topology != "box" and (advection is None or mass_flux_builder is None):
            raise ModelSetupError("a gridded model needs an advection process and a mass-flux builder")
        self.air_mass_kg = grid.air_mass_kg()
        self.cell_area_m2 = grid.cell_area_m2
        shape = (len(self.tags), grid.nlayer, grid.nlat, grid.nlon)
        if np.dtype(state_dtype) not in (np.dtype(np.float64), np.dtype(np.float32)):
            raise ModelSetupError(f"state_dtype {np.dtype(state_dtype)} is not supported; use float64 or float32")
        self.air_kg = np.zeros(shape, dtype=state_dtype)
        self.surface_kg = np.zeros((len(self.tags), len(self.surface_compartments), grid.nlat, grid.nlon),
                                   dtype=state_dtype)
        self.fate = FateSolver(self.compartments, grid.shape)
        #: Which transfers ``(process, source, target)`` :meth:`collect` reports per tag *and* cell
        #: (``Collected.moved_kg``); every transfer is always reported per tag and per cell separately. The
        #: default keeps all; a simulation keeps only what its outputs need (per-tag deposition fields).
        self.tag_cell_transfer: Callable[[tuple[str, str, str]], bool] = lambda key: True
        self._new_collection()
        self.forcing: Forcing | None = None
        self.mass_flux_u_kg_s: np.ndarray | None = None
        self.mass_flux_v_kg_s: np.ndarray | None = None
        self._record_key = -1
        #: When set (see :meth:`reset_face_mass`), advection adds the gross mass through every face here.
        self.face_mass_kg: dict[str, np.ndarray] | None = None
        #: The faces booked in :attr:`face_mass_kg` (flat indices of the u and v faces), or None for all of them.
        self.face_index: tuple[np.ndarray, np.ndarray] | None = None
        self._face_u: np.ndarray | None = None
        self._face_slots: tuple[np.ndarray, np.ndarray] | None = None
        self._face_v: np.ndarray | None = None
        #: Whether :attr:`face_mass_kg` is per tag (T, ...) or holds the total over tags (1, ...).
        self.face_mass_per_tag = True
        #: Steps taken, whose parity picks the order of transport and fate in a step (see :meth:`time_step`).
        self.split_phase = 0
        for process in [*self.fate_processes, advection, vertical]:
            if process is not None:
                process.setup(self)

    @property
    def land_fraction(self) -> np.ndarray:
        """Land fraction of every cell (J, I), from the current forcing."""
        if self.forcing is None or "land_fraction" not in self.forcing:
            raise ModelSetupError("land_fraction is not available: call update_forcing first or add it to the met")
        return self.forcing["land_fraction"]

    def check_forcing(self, available: set[str]) -> None:
        """Raise :class:`ModelSetupError` if a process reads a field the forcing lacks, naming all of them."""
        for process in [*self.fate_processes, self.advection, self.vertical]:
            if process is not None:
                process.check_reads(available)

    def update_forcing(self, time: np.datetime64, key: int) -> None:
        """Refresh forcing, rate matrices and mass fluxes for the interval identified by ``key``."""
        if key == self._record_key:
            return
        self._flush_transfers()
        fields = self.met.fields_at(time)
        for name, value in fields.items():
            if not np.all(np.isfinite(value)):
                bad = tuple(int(v) for v in np.argwhere(~np.isfinite(value))[0])
                raise ModelSetupError(
                    f"forcing field {name!r} is not finite at index {bad} for {time}; check the met input"
                )
        self.forcing = Forcing({k: np.ascontiguousarray(v, dtype=np.float64) for k, v in fields.items()}, key)
        self.check_forcing(set(fields))
        transfers: list[Transfer] = []
        for process in self.fate_processes:
            transfers.extend(process.transfers(self, self.forcing))  # type: ignore[attr-defined]
        self.fate.update(transfers, key)
        for process in self.fate_processes:
            field_fn = getattr(process, "particle_fraction_field", None)
            if field_fn is not None:
                self.particle_fraction = field_fn(self, self.forcing)
        if self.mass_flux_builder is not None:
            self.mass_flux_u_kg_s, self.mass_flux_v_kg_s = self.mass_flux_builder(
                self.grid, self.air_mass_kg, self.forcing
            )
        elif self.mass_flux_u_kg_s is None:
            g = self.grid
            self.mass_flux_u_kg_s = np.zeros((g.nlayer, g.nlat, g.nlon + 1))
            self.mass_flux_v_kg_s = np.zeros((g.nlayer, g.nlat + 1, g.nlon))
        self._record_key = key

    def reset_face_mass(self, faces: tuple[np.ndarray, np.ndarray] | None = None,
                        per_tag: bool = True) -> dict[str, np.ndarray]:
        """Start (or restart) accumulating the gross chemical mass through the C-grid faces, per tag and layer.

        Returns views ``u_east``, ``u_west`` (T, L, J, I+1) and ``v_north``, ``v_south`` (T, L, J+1, I), kg, of
        two accumulators shaped ``(2, T, L, J, I+1)`` and ``(2, T, L, J+1, I)`` that the advection adds to. With
        ``faces``, boolean masks ``(J, I+1)`` and ``(J+1, I)`` of the faces to book (e.g. those on region borders,
        :func:`popstransport.attribution.border_faces`), only those are kept: the views are ``(T, L, n_u)`` and
        ``(T, L, n_v)``, in the order of :attr:`face_index`, and the rest of the faces cost no memory or traffic.
        Without ``per_tag`` the views have one row for the total over tags in place of ``T`` (the border fluxes
        of all sources together): the advection books each face once instead of once per tag
        (:attr:`face_mass_per_tag`).
        """
        g = self.grid
        t, nl = (len(self.tags) if per_tag else 1), g.nlayer
        self.face_mass_per_tag = bool(per_tag)
        if faces is None:
            self.face_index = None
            self._face_slots = None
            self._face_u = np.zeros((2, t, nl, g.nlat, g.nlon + 1))
            self._face_v = np.zeros((2, t, nl, g.nlat + 1, g.nlon))
        else:
            mu, mv = (np.asarray(f, dtype=bool) for f in faces)
            if mu.shape != (g.nlat, g.nlon + 1) or mv.shape != (g.nlat + 1, g.nlon):
                raise ValueError(f"face masks have shapes {mu.shape}, {mv.shape}; expected {(g.nlat, g.nlon + 1)}, "
                                 f"{(g.nlat + 1, g.nlon)}")
            self.face_index = (np.flatnonzero(mu), np.flatnonzero(mv))
            slots = []
            for mask, idx in zip((mu, mv), self.face_index):
                s = np.full(mask.shape, -1, dtype=np.int64)
                s.reshape(-1)[idx] = np.arange(idx.size)
                slots.append(s)
            self._face_slots = (slots[0], slots[1])
            self._face_u = np.zeros((2, t, nl, self.face_index[0].size))
            self._face_v = np.zeros((2, t, nl, self.face_index[1].size))
        self.face_mass_kg = {
            "u_east": self._face_u[0],
            "u_west": self._face_u[1],
            "v_north": self._face_v[0],
            "v_south": self._face_v[1],
        }
        return self.face_mass_kg

    @property
    def transport_phase(self) -> int:
        """Hidden state of the transport: the count of split sweep pairs done, whose parity picks the sweep order.

        Saved in checkpoints and reset by the spin-up at the start of every model year, so that runs repeat
        exactly.
        """
        return int(getattr(self.advection, "sweep_pairs_done", 0)) if self.advection is not None else 0

    @transport_phase.setter
    def transport_phase(self, value: int) -> None:
        if self.advection is not None and hasattr(self.advection, "sweep_pairs_done"):
            self.advection.sweep_pairs_done = int(value)  # type: ignore[attr-defined]

    def burden_kg(self) -> dict[str, np.ndarray]:
        """Mass per tag in every compartment (kg), each shape (T,)."""
        out = {c: self.air_kg[:, k].sum(axis=(1, 2), dtype=np.float64) for k, c in enumerate(self.air_compartments)}
        for k, c in enumerate(self.surface_compartments):
            out[c] = self.surface_kg[:, k].sum(axis=(1, 2), dtype=np.float64)
        return out

    def _new_collection(self) -> None:
        """Fresh accumulators for :meth:`collect` (allocated once per collection, never inside a step)."""
        # accumulators are float64 whatever the state's precision
        # (between flushes, _int_air and _int_surface hold the sums of the steps' start states: see _integrate_span)
        self._int_air = np.zeros(self.air_kg.shape)
        self._int_surface = np.zeros(self.surface_kg.shape)
        self._span_steps = 0
        self._span_dt_s = 0.0
        self._span_weights: np.ndarray | None = None
        self._span_rates: np.ndarray | None = None  # the steps' emission rates summed (kg s-1), the provider's form
        self._coll_int_air = np.zeros(self.air_kg.shape)
        self._coll_int_surface = np.zeros(self.surface_kg.shape)
        self._coll_em_rates: np.ndarray | None = None  # sum of rate * dt in the provider's (1 or T, C, J, I) form
        self._coll_em_weights: np.ndarray | None = None
        self._coll_em_tagged = np.zeros((len(self.tags), self.air_kg.shape[1] + self.surface_kg.shape[1])
                                        + self.air_kg.shape[2:])
        nt, cells = self.air_kg.shape[0], self.air_kg.shape[2:]
        self._moved_slot: dict[tuple[str, str, str], int] = {}
        self._moved_tag_kg = np.zeros((0, nt))
        self._moved_cell_kg = np.zeros((0, *cells))
        self._moved_full_slot: dict[tuple[str, str, str], int] = {}
        self._moved_full_kg = np.zeros((0, nt, *cells))
        self._coll_particle = np.zeros(self.air_kg.shape[1:])
        self._coll_outflow = np.zeros(len(self.tags))
        self._coll_inflow = np.zeros(len(self.tags))

    def _integrate_span(self) -> None:
        """Turn the sums of the start states of the steps since the last flush (a span with one K, step length and
        tag shares), which ``_int_air`` and ``_int_surface`` hold, into the time integrals of the state over those
        steps, in place (:meth:`FateSolver.integrate`: one product per span instead of one per step)."""
        if self._span_steps == 0:
            return
        self.fate.integrate(self._span_dt_s, self._int_air, self._int_surface, self._span_rates, self._span_weights,
                            self._int_air, self._int_surface)
        self._span_steps = 0
        self._span_weights = None
        self._span_rates[...] = 0.0

    def _flush_transfers(self) -> None:
        """Turn the state integrals since the last rate change into transferred masses (rates are constant)."""
        self._integrate_span()
        if self.fate.k_matrix is None or not np.any(self._int_air) and not np.any(self._int_surface):
            return
        keys = self.fate.transfer_keys
        new = [k for k in keys if k not in self._moved_slot]
        if new:  # transfers not seen in this collection yet: one more row each (rare: the set rarely changes)
            new_full = [k for k in new if self.tag_cell_transfer(k)]
            self._moved_tag_kg = _grown(self._moved_tag_kg, len(new))
            self._moved_cell_kg = _grown(self._moved_cell_kg, len(new))
            self._moved_full_kg = _grown(self._moved_full_kg, len(new_full))
            for k in new:
                self._moved_slot[k] = len(self._moved_slot)
            for k in new_full:
                self._moved_full_slot[k] = len(self._moved_full_slot)
        slots = np.array([self._moved_slot[k] for k in keys], dtype=np.int64)
        full_slots = np.array([self._moved_full_slot.get(k, -1) for k in keys], dtype=np.int64)
        self.fate.add_moved(slots, full_slots, self._int_air, self._int_surface, self._moved_tag_kg,
                            self._moved_cell_kg, self._moved_full_kg)
        self._coll_particle += self.particle_fraction * self._int_air.sum(axis=0)
        self._coll_int_air += self._int_air
        self._coll_int_surface += self._int_surface
        self._int_air[...] = 0.0
        self._int_surface[...] = 0.0

    def collect(self) -> Collected:
        """What moved since the previous call (emissions, transfers, boundary fluxes, state integrals); resets."""
        self._flush_transfers()
        self._fold_emissions()
        nl = self.air_kg.shape[1]
        out = Collected(
            self._coll_em_tagged[:, :nl],
            self._coll_em_tagged[:, nl:],
            {k: self._moved_full_kg[i] for k, i in self._moved_full_slot.items()},
            self._coll_outflow,
            self._coll_inflow,
            self._coll_int_air,
            self._coll_int_surface,
            self._coll_particle,
            {k: self._moved_tag_kg[i] for k, i in self._moved_slot.items()},
            {k: self._moved_cell_kg[i] for k, i in self._moved_slot.items()},
        )
        self._new_collection()
        return out

    def time_step(self, dt_s: float, time: np.datetime64) -> None:
        """Advance the state by ``dt_s`` seconds starting at ``time``; what moved is kept for :meth:`collect`.

        A step splits transport ``T`` (horizontal advection, then the vertical air-mass flux) from the fate of every
        cell ``F`` (emission, turbulent mixing, deposition, exchange, degradation, solved exactly), in alternating
        order: ``T F`` on even steps (:attr:`split_phase`) and ``F T`` on odd ones, so that two steps make the
        symmetric (Strang) composition ``T F F T``, second order in the step where one order alone is first
        order.
        """
        if self.forcing is None:
            raise ModelSetupError("update_forcing must be called before time_step")
        transport_first = self.split_phase % 2 == 0
        if transport_first:
            self._transport_step(dt_s)
        self._fate_step(dt_s, time)
        if not transport_first:
            self._transport_step(dt_s)
        self.split_phase += 1

    def _transport_step(self, dt_s: float) -> None:
        """Horizontal advection and the vertical air-mass flux over ``dt_s``."""
        if self.advection is not None:
            res = self.advection.advect(  # type: ignore[attr-defined]
                self.air_kg,
                self.air_mass_kg,
                self.mass_flux_u_kg_s,
                self.mass_flux_v_kg_s,
                dt_s,
                self.grid.is_periodic,
                face_mass_u_kg=self._face_u if self.face_mass_kg is not None else None,
                face_mass_v_kg=self._face_v if self.face_mass_kg is not None else None,
                record_key=self.forcing.record_key,
                face_index_u=None if self._face_slots is None else self._face_slots[0],
                face_index_v=None if self._face_slots is None else self._face_slots[1],
            )
            self._coll_outflow += res["outflow_kg"]
            self._coll_inflow += res["inflow_kg"]
        if self.vertical is not None:
            self.vertical.apply(self, dt_s, report_upward=False)  # type: ignore[attr-defined]

    def _fate_step(self, dt_s: float, time: np.datetime64) -> None:
        """Emission and the fate of every cell over ``dt_s`` from ``time``."""
        rates, weights = self.emissions.sources_kg_s(time + np.timedelta64(int(round(dt_s / 2)), "s"))
        # the fate step adds its start state to a sum; the time integrals follow once per span of steps with one K
        # (a met record), one step length and one set of tag shares (_integrate_span)
        if self._span_steps and (dt_s != self._span_dt_s or weights is not self._span_weights
                                 or rates.shape != self._span_rates.shape):
            self._flush_transfers()  # (the transfer rates are constant within the record: any moment will do)
        self.fate.advance(self.air_kg, self.surface_kg, rates, weights, dt_s, self._int_air, self._int_surface)
        if self._span_rates is None or self._span_rates.shape != rates.shape:
            self._span_rates = np.zeros(rates.shape)
        add_scaled(self._span_rates, rates, 1.0)
        self._span_steps += 1
        self._span_dt_s = dt_s
        self._span_weights = weights
        self._collect_emission(rates, weights, dt_s)

    def _collect_emission(self, rates: np.ndarray, weights: np.ndarray | None, dt_s: float) -> None:
        """Add ``rates * dt`` in the provider's shared form; tags are split only when the shares change or at
        :meth:`collect` (a per-tag sum every step would cost a pass over T x C x J x I)."""
        acc = self._coll_em_rates
        if acc is not None and (weights is not self._coll_em_weights or acc.shape != rates.shape):
            self._fold_emissions()
            acc = None
        if acc is None:
            self._coll_em_rates = acc = np.zeros(rates.shape)
            self._coll_em_weights = weights
        add_scaled(acc, rates, dt_s)

    def _fold_emissions(self) -> None:
        """Move the shared emission sum into the per-tag one (``rates * weights`` per tag)."""
        acc, w = self._coll_em_rates, self._coll_em_weights
        if acc is None:
            return
        if w is None:
            self._coll_em_tagged += acc
        else:
            # tag by tag: the same products and sums as ``acc * w[:, None]``, without a temporary of the whole
            # per-tag field (T x C x J x I: 13 MB on the default grid, 30 ms a fold)
            scratch = np.empty(acc.shape[1:])
            for t in range(self._coll_em_tagged.shape[0]):
                np.multiply(acc[t if acc.shape[0] > 1 else 0], w[t if w.shape[0] > 1 else 0], out=scratch)
                self._coll_em_tagged[t] += scratch
        self._coll_em_rates = None
        self._coll_em_weights = None
