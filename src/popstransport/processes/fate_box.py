"""Single-cell box mode of the fate system: every fate process in one well-mixed cell, with exact solutions.

The box collects the transfers of all fate processes for one cell, builds the rate matrix ``K`` (C x C) and the
sink matrix ``S`` (sinks x C), and offers the steady state ``X = -K^-1 E``, the exact transient
``X(t) = exp(K t) X0 + K^-1 (exp(K t) - I) E`` (through an augmented matrix exponential, so singular ``K`` is
fine) and the exact mass moved by every transfer over an interval.

Example::

    from popstransport.processes.fate_box import box_model
    box = box_model("PCB-153", air_temperature_k=283.15)
    ss = box.steady_state({"air_0": 1.0})          # kg for 1 kg/s into air
    box.persistence_days({"air_0": 1.0})
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.linalg

from ..chemicals import ChemicalProperties, get_chemical
from ..grid import AirLayers, LatLonGrid
from .base import Forcing, Process
from .degradation import OHDegradation, SurfaceDegradation
from .deposition import DryParticleDeposition, WetDeposition
from .exchange import (
    DiffusiveExchange,
    FateContext,
    FreshwaterSedimentExchange,
    Litterfall,
    OceanSettling,
    SoilBurial,
    SoilLeaching,
    SurfaceParameters,
)
from .partitioning import GasParticlePartitioning

#: Default global-mean precipitation of the box (m s-1): 1 m per year.
DEFAULT_PRECIPITATION_M_S = 1.0 / (365.0 * 86400.0)


def default_fate_processes(particle_phase_reactivity: float = 0.0) -> list[Process]:
    """Every fate process of the model in its default configuration (absent compartments are skipped)."""
    return [
        GasParticlePartitioning(),
        WetDeposition(),
        DryParticleDeposition(),
        DiffusiveExchange("soil"),
        DiffusiveExchange("vegetation"),
        DiffusiveExchange("ocean"),
        DiffusiveExchange("freshwater"),
        Litterfall(),
        SoilLeaching(),
        SoilBurial(),
        OceanSettling(),
        FreshwaterSedimentExchange(),
        OHDegradation(particle_phase_reactivity),
        SurfaceDegradation(),
    ]


def collect_transfers(processes: list[Process], context, forcing) -> list:
    """All transfers of ``processes`` for ``context`` and ``forcing`` (processes without transfers are skipped)."""
    out = []
    for p in processes:
        fn = getattr(p, "transfers", None)
        if fn is not None:
            out.extend(fn(context, forcing))
    return out


def rate_matrices(
    transfers: list, compartments: tuple[str, ...], cell: tuple[int, int] = (0, 0)
) -> tuple[np.ndarray, dict[str, np.ndarray], list[tuple[object, float]]]:
    """Rate matrix ``K`` (C, C), sink rows ``{sink: (C,)}`` and ``[(transfer, rate)]`` of one cell.

    ``K[target, source] += rate``, ``K[source, source] -= rate``; any target that is not a compartment is a sink.
    """
    index = {c: i for i, c in enumerate(compartments)}
    n = len(compartments)
    k = np.zeros((n, n))
    sinks: dict[str, np.ndarray] = {}
    resolved = []
    for tr in transfers:
        r = np.asarray(tr.rate_s, dtype=float)
        rate = float(r[cell] if r.ndim == 2 else r)
        if not np.isfinite(rate) or rate < 0:
            raise ValueError(f"process {tr.process!r} ({tr.source} -> {tr.target}): rate {rate!r} s-1 is invalid")
        if tr.source not in index:
            raise ValueError(f"process {tr.process!r}: unknown source compartment {tr.source!r}")
        s = index[tr.source]
        k[s, s] -= rate
        if tr.target in index:
            k[index[tr.target], s] += rate
        else:
            sinks.setdefault(tr.target, np.zeros(n))[s] += rate
        resolved.append((tr, rate))
    return k, sinks, resolved


def steady_state(k_matrix: np.ndarray, emission: np.ndarray) -> np.ndarray:
    """Steady state of ``dX/dt = K X + E``: the solution of ``K X = -E``."""
    return np.linalg.solve(k_matrix, -np.asarray(emission, dtype=float))


def propagate(k_matrix: np.ndarray, x0: np.ndarray, emission: np.ndarray, t_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Exact state after ``t_s`` and its time integral, for constant K and E (Van Loan 1978 augmented exponential).

    Returns ``(X(t), integral_0^t X dt)``.
    """
    n = k_matrix.shape[0]
    # With A = K t and unit coupling blocks, exp([[A, I, 0], [0, 0, I], [0, 0, 0]]) holds Psi / t and Gamma / t^2;
    # keeping the blocks O(1) instead of O(t) keeps the scaling-and-squaring accurate for long intervals.
    aug = np.zeros((3 * n, 3 * n))
    aug[:n, :n] = k_matrix * t_s
    aug[:n, n : 2 * n] = np.eye(n)
    aug[n : 2 * n, 2 * n :] = np.eye(n)
    ex = scipy.linalg.expm(aug)
    phi, psi, gam = ex[:n, :n], ex[:n, n : 2 * n] * t_s, ex[:n, 2 * n :] * t_s**2
    x0 = np.asarray(x0, dtype=float)
    e = np.asarray(emission, dtype=float)
    return phi @ x0 + psi @ e, psi @ x0 + gam @ e


@dataclass
class BoxModel:
    """The fate system of one cell: compartments, transfers, K and sinks, with exact solutions.

    Attributes
    ----------
    context, forcing
        What the transfers were computed from.
    compartments
        State names, ``air_0 ..`` then surface compartments.
    transfers
        ``[(Transfer, rate_s)]`` of the cell.
    k_matrix
        Rate matrix (s-1), shape (C, C).
    sinks
        ``{sink name: row (C,)}`` of first-order rates into each budget sink.
    """

    context: object
    forcing: object
    compartments: tuple[str, ...]
    transfers: list
    k_matrix: np.ndarray
    sinks: dict[str, np.ndarray] = field(default_factory=dict)

    def vector(self, values: dict[str, float] | np.ndarray | None) -> np.ndarray:
        """A state or emission vector from ``{compartment: value}`` (missing compartments are 0)."""
        if values is None:
            return np.zeros(len(self.compartments))
        if isinstance(values, dict):
            v = np.zeros(len(self.compartments))
            for name, x in values.items():
                if name not in self.compartments:
                    raise ValueError(f"unknown compartment {name!r}; the box has {list(self.compartments)}")
                v[self.compartments.index(name)] = x
            return v
        return np.asarray(values, dtype=float)

    def steady_state(self, emission_kg_s) -> np.ndarray:
        """Steady-state masses (kg) for constant emissions (kg s-1)."""
        return steady_state(self.k_matrix, self.vector(emission_kg_s))

    def solve(self, x0_kg, emission_kg_s, t_s: float) -> np.ndarray:
        """Exact masses (kg) after ``t_s`` seconds from ``x0_kg`` with constant emissions."""
        return propagate(self.k_matrix, self.vector(x0_kg), self.vector(emission_kg_s), t_s)[0]

    def mass_moved(self, x0_kg, emission_kg_s, t_s: float) -> dict[tuple[str, str, str], float]:
        """Exact mass (kg) moved by every transfer over ``t_s``: ``rate * integral(X_source dt)``."""
        _, integral = propagate(self.k_matrix, self.vector(x0_kg), self.vector(emission_kg_s), t_s)
        out: dict[tuple[str, str, str], float] = {}
        for tr, rate in self.transfers:
            key = (tr.process, tr.source, tr.target)
            out[key] = out.get(key, 0.0) + rate * integral[self.compartments.index(tr.source)]
        return out

    def persistence_days(self, emission_kg_s) -> float:
        """Overall persistence: steady-state total mass / total emission rate (days)."""
        e = self.vector(emission_kg_s)
        return float(self.steady_state(e).sum() / e.sum() / 86400.0)

    def rate(self, process: str, source: str | None = None, target: str | None = None) -> float:
        """Summed rate constant (s-1) of the transfers of ``process`` (optionally one source / target)."""
        return sum(
            r
            for tr, r in self.transfers
            if tr.process == process and (source is None or tr.source == source) and (target is None or tr.target == target)
        )


def box_model(
    chemical: ChemicalProperties | str,
    *,
    air_temperature_k: float = 288.15,
    surface_temperature_k: float | None = None,
    precipitation_m_s: float = DEFAULT_PRECIPITATION_M_S,
    land_fraction: float = 0.3,
    oh_concentration_molec_cm3: float = 1.0e6,
    layers: AirLayers | None = None,
    surface_compartments: tuple[str, ...] = ("vegetation", "soil", "ocean"),
    surface_parameters: SurfaceParameters | None = None,
    gas_particle_partitioning: GasParticlePartitioning | None = None,
    processes: list[Process] | None = None,
    lat_deg: float = 45.0,
    sea_ice_fraction: float | None = None,
) -> BoxModel:
    """Build the fate system of one cell with uniform forcing.

    Parameters
    ----------
    chemical
        Properties or a name for :func:`popstransport.chemicals.get_chemical`.
    air_temperature_k, surface_temperature_k
        Temperatures (K); the surface temperature defaults to the air temperature. Every air layer has the same
        temperature.
    precipitation_m_s, land_fraction, oh_concentration_molec_cm3
        Uniform forcing (OH in every layer).
    layers
        Air layers (default one 1000 m layer).
    surface_compartments, surface_parameters, gas_particle_partitioning
        Surface compartments present and their parameters; the partitioning scheme.
    processes
        Fate processes (default :func:`default_fate_processes`).
    sea_ice_fraction
        The ice-covered fraction of the ocean (none: the forcing has no sea ice).
    """
    chem = get_chemical(chemical) if isinstance(chemical, str) else chemical
    grid = LatLonGrid.box(0.0, lat_deg, 1.0, layers or AirLayers(edges_m=(0.0, 1000.0)))
    ts = air_temperature_k if surface_temperature_k is None else surface_temperature_k
    nl = grid.nlayer
    forcing = Forcing(
        fields={
            "air_temperature_k": np.full((nl, 1, 1), float(air_temperature_k)),
            "surface_temperature_k": np.full((1, 1), float(ts)),
            "precipitation_m_s": np.full((1, 1), float(precipitation_m_s)),
            "land_fraction": np.full((1, 1), float(land_fraction)),
            "oh_concentration_molec_cm3": np.full((nl, 1, 1), float(oh_concentration_molec_cm3)),
            "boundary_layer_height_m": np.full((1, 1), float(grid.layers.thickness_m[0])),
            "surface_pressure_pa": np.full((1, 1), 101325.0),
            "eastward_wind_m_s": np.zeros((nl, 1, 1)),
            "northward_wind_m_s": np.zeros((nl, 1, 1)),
            **({} if sea_ice_fraction is None else {"sea_ice_fraction": np.full((1, 1), float(sea_ice_fraction))}),
        }
    )
    context = FateContext(
        grid=grid,
        chemical=chem,
        surface_compartments=tuple(surface_compartments),
        land_fraction=np.full((1, 1), float(land_fraction)),
        surface_parameters=surface_parameters or SurfaceParameters(),
        gas_particle_partitioning=gas_particle_partitioning or GasParticlePartitioning(),
    )
    return build_box(context, forcing, processes)


def build_box(context, forcing, processes: list[Process] | None = None) -> BoxModel:
    """A :class:`BoxModel` of the (single) cell of ``context`` from ``processes`` and ``forcing``."""
    procs = default_fate_processes() if processes is None else processes
    compartments = tuple(f"air_{k}" for k in range(context.grid.nlayer)) + tuple(context.surface_compartments)
    transfers = collect_transfers(procs, context, forcing)
    k, sinks, resolved = rate_matrices(transfers, compartments)
    return BoxModel(context, forcing, compartments, resolved, k, sinks)


__all__ = [
    "BoxModel",
    "DEFAULT_PRECIPITATION_M_S",
    "box_model",
    "build_box",
    "collect_transfers",
    "default_fate_processes",
    "propagate",
    "rate_matrices",
    "steady_state",
]
