"""Screening indicators in a unit world: overall persistence, characteristic travel distance, transfer efficiency.

The unit world follows the design of the OECD Pov and LRTP Screening Tool (Wegmann, Cavin, MacLeod, Scheringer
and Hungerbuehler 2009, Environ. Model. Softw. 24:228; the "Tool"): one well-mixed global box with three
compartments, air (6000 m high), surface water (ocean, 100 m deep) and soil (0.1 m), at steady state, driven by
the chemical's partition coefficients and degradation half-lives at 25 degC. The air and water heights are those
of the Tool as quoted by the UTOPIA model code (github.com/microplastic-modelling/UTOPIA, "6000 m (From the OECD
tool)", "100 m"); the other environmental parameters are this package's defaults
(:class:`~popstransport.processes.exchange.SurfaceParameters`: Mackay 2001 evaluative values and assumptions),
so the numbers are *Tool-like*, not a reproduction of the Tool's output. The same process objects as the gridded
model compute the transfers; air degradation uses the chemical's bulk reference half-life
(``half_life_air``), as the Tool's input is a bulk half-life.

Definitions (E = constant emission rate into one compartment, M = steady-state masses):

* **Overall persistence** ``Pov = (M_air + M_water + M_soil) / E`` (days), for emission to air, water and soil
  (Scheringer 1996; Webster et al. 1998). This is the overall residence time: burial below the 0.1 m soil,
  leaching and settling below the 100 m ocean remove the chemical as degradation does. The Tool divides the same
  mass by the degradation fluxes only, ``Pov_deg = M_tot / (F_deg,air + F_deg,water + F_deg,soil)``, and calls
  ``M_tot / E`` the residence time (both definitions as quoted from Wegmann et al. 2009 in the exposure-indicator
  code of the UTOPIA model, github.com/microplastics-cluster/UTOPIA_model);
  :attr:`ScreeningResult.pov_degradation_days` gives that Tool definition. The two agree when degradation is the
  only loss; they differ most for strongly sorbing chemicals (built-in table: PCB-180 emitted to soil, a third
  buried, ``Pov_deg = 1.5 Pov``; PCB-153 emitted to water, 21 % settled, ``Pov_deg = 1.26 Pov``).
* **Characteristic travel distance** ``CTD = u M_air / E_air`` (km) with the wind speed ``u = 4 m s-1``: the
  distance at which the amount in a plume moving with the air has fallen to 1/e when the whole multimedia system
  removes the chemical from the mobile phase (Bennett et al. 1998, Environ. Sci. Technol. 32:4023; Beyer et al.
  2000, Environ. Sci. Technol. 34:699, whose Eq. gives CTD = u / k_eff with k_eff = E / M_air at steady state).
  For a single air compartment with loss rate ``k`` this is exactly ``u / k``.
* **Transfer efficiency** ``TE = 100 % x N_dep / E_air``: the net mass flux from air to the surface media (wet and
  dry deposition plus diffusive absorption minus volatilisation) relative to the emission flux into air, for
  emission to air. This is the quantity behind the Tool's TE (the share of the emission that is transferred from
  the atmosphere to surface media), evaluated here in one unit world; the Tool evaluates it for a remote target
  region, so the absolute values are not comparable with the Tool's and TE is best used for ranking.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .chemicals import ChemicalProperties, get_chemical, list_chemicals
from .grid import AirLayers, LatLonGrid
from .processes.base import Forcing, Process
from .processes.deposition import DryParticleDeposition, WetDeposition
from .processes.exchange import (
    DiffusiveExchange,
    FateContext,
    OceanSettling,
    SoilBurial,
    SoilLeaching,
    SurfaceParameters,
)
from .processes.fate_box import DEFAULT_PRECIPITATION_M_S, BoxModel, build_box
from .processes.partitioning import GasParticlePartitioning

#: Wind speed used for the characteristic travel distance (m s-1), Beyer et al. (2000).
CTD_WIND_SPEED_M_S = 4.0

#: Air height of the unit world (m), as in the OECD Tool.
UNIT_WORLD_AIR_HEIGHT_M = 6000.0

#: Water depth of the unit world (m), as in the OECD Tool.
UNIT_WORLD_WATER_DEPTH_M = 100.0

#: Land fraction of the unit world (assumed: Earth's 29 % land rounded).
UNIT_WORLD_LAND_FRACTION = 0.3

EMISSION_MEDIA: dict[str, str] = {"air": "air_0", "water": "ocean", "soil": "soil"}


class BulkAirDegradation(Process):
    """First-order degradation of the bulk (gas + particle) air mass with the reference half-life of the table."""

    name = "degradation_air_bulk"
    reads = ()

    def transfers(self, context, forcing) -> list:
        from .processes.fate import Transfer

        t = np.asarray(forcing["air_temperature_k"], dtype=float)
        k = context.chemical.degradation_rate_s("air", t)
        return [Transfer(self.name, f"air_{i}", "degraded", np.ascontiguousarray(k[i])) for i in range(t.shape[0])]


class _UnitWorldDegradation(Process):
    """Degradation in soil and water at the unit-world temperature."""

    name = "degradation_surface"
    reads = ("surface_temperature_k",)

    def transfers(self, context, forcing) -> list:
        from .processes.fate import Transfer

        ts = np.asarray(forcing["surface_temperature_k"], dtype=float)
        chem = context.chemical
        return [
            Transfer("degradation_soil", "soil", "degraded", chem.degradation_rate_s("soil", ts)),
            Transfer("degradation_ocean", "ocean", "degraded", chem.degradation_rate_s("ocean", ts)),
        ]


@dataclass(frozen=True)
class ScreeningResult:
    """Pov, CTD and TE of one chemical in the unit world.

    Attributes
    ----------
    chemical
        Name of the substance.
    pov_days
        Overall persistence (days) for emission to ``"air"``, ``"water"``, ``"soil"``.
    ctd_km
        Characteristic travel distance (km) for emission to air.
    te_percent
        Transfer efficiency (%) for emission to air.
    mass_fractions
        Steady-state distribution ``{emission medium: {compartment: fraction}}``.
    particle_fraction
        Particle-bound fraction in air.
    pov_degradation_days
        Overall persistence with respect to degradation alone (days), ``M_tot / F_deg`` for each emission medium:
        the Tool's definition (module docstring); at least ``pov_days``.
    """

    chemical: str
    pov_days: dict[str, float]
    ctd_km: float
    te_percent: float
    mass_fractions: dict[str, dict[str, float]] = field(default_factory=dict)
    particle_fraction: float = 0.0
    pov_degradation_days: dict[str, float] = field(default_factory=dict)

    @property
    def pov_max_days(self) -> float:
        """The largest of the three overall persistences (days)."""
        return max(self.pov_days.values())


def unit_world(
    chemical: ChemicalProperties | str,
    *,
    temperature_k: float = 298.15,
    precipitation_m_s: float = DEFAULT_PRECIPITATION_M_S,
    surface_parameters: SurfaceParameters | None = None,
    gas_particle_partitioning: GasParticlePartitioning | None = None,
) -> BoxModel:
    """The unit-world box (compartments ``air_0, soil, ocean``) for ``chemical``."""
    chem = get_chemical(chemical) if isinstance(chemical, str) else chemical
    sp = surface_parameters or SurfaceParameters(ocean_mixed_layer_depth_m=UNIT_WORLD_WATER_DEPTH_M)
    grid = LatLonGrid.box(0.0, 0.0, 1.0, AirLayers(edges_m=(0.0, UNIT_WORLD_AIR_HEIGHT_M)))
    lf = UNIT_WORLD_LAND_FRACTION
    forcing = Forcing(
        fields={
            "air_temperature_k": np.full((1, 1, 1), float(temperature_k)),
            "surface_temperature_k": np.full((1, 1), float(temperature_k)),
            "precipitation_m_s": np.full((1, 1), float(precipitation_m_s)),
            "land_fraction": np.full((1, 1), lf),
        }
    )
    context = FateContext(
        grid=grid,
        chemical=chem,
        surface_compartments=("soil", "ocean"),
        land_fraction=np.full((1, 1), lf),
        surface_parameters=sp,
        gas_particle_partitioning=gas_particle_partitioning or GasParticlePartitioning(),
    )
    processes: list[Process] = [
        WetDeposition(),
        DryParticleDeposition(),
        DiffusiveExchange("soil"),
        DiffusiveExchange("ocean"),
        SoilLeaching(),
        SoilBurial(),
        OceanSettling(),
        BulkAirDegradation(),
        _UnitWorldDegradation(),
    ]
    return build_box(context, forcing, processes)


def net_deposition_kg_s(box: BoxModel, masses: np.ndarray) -> float:
    """Net flux from ``air_0`` to the surface compartments (kg s-1): deposition + absorption - volatilisation."""
    idx = {c: i for i, c in enumerate(box.compartments)}
    down = sum(r * masses[idx["air_0"]] for tr, r in box.transfers if tr.source == "air_0" and tr.target in idx)
    up = sum(r * masses[idx[tr.source]] for tr, r in box.transfers if tr.target == "air_0")
    return float(down - up)


def screen(
    chemical: ChemicalProperties | str,
    *,
    wind_speed_m_s: float = CTD_WIND_SPEED_M_S,
    **unit_world_options,
) -> ScreeningResult:
    """Pov (days), CTD (km) and TE (%) of ``chemical`` in the unit world (definitions in the module docstring)."""
    chem = get_chemical(chemical) if isinstance(chemical, str) else chemical
    box = unit_world(chem, **unit_world_options)
    pov, pov_deg, fractions = {}, {}, {}
    masses_air = None
    for medium, comp in EMISSION_MEDIA.items():
        m = box.steady_state({comp: 1.0})
        pov[medium] = float(m.sum() / 86400.0)
        pov_deg[medium] = float(m.sum() / float(box.sinks["degraded"] @ m) / 86400.0)
        fractions[medium] = {c: float(x / m.sum()) for c, x in zip(box.compartments, m)}
        if medium == "air":
            masses_air = m
    ctd_km = wind_speed_m_s * masses_air[0] / 1.0 / 1000.0
    te = 100.0 * net_deposition_kg_s(box, masses_air) / 1.0
    phi = float(box.context.gas_particle_partitioning.particle_fraction_field(box.context, box.forcing)[0, 0, 0])
    return ScreeningResult(chem.name, pov, float(ctd_km), float(te), fractions, phi, pov_deg)


def format_screening(results: list[ScreeningResult]) -> str:
    """A table of screening results (the output of ``popstransport screen``)."""
    width = max([16] + [len(r.chemical) + 2 for r in results])
    head = (
        f"{'substance':<{width}}{'Pov air d':>11}{'Pov water d':>13}{'Pov soil d':>12}{'CTD km':>10}{'TE %':>8}"
        f"{'phi':>7}{'air%':>7}{'water%':>8}{'soil%':>7}"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        f = r.mass_fractions.get("air", {})
        lines.append(
            f"{r.chemical:<{width}}{r.pov_days['air']:>11.4g}{r.pov_days['water']:>13.4g}{r.pov_days['soil']:>12.4g}"
            f"{r.ctd_km:>10.4g}{r.te_percent:>8.3g}{r.particle_fraction:>7.2f}{100 * f.get('air_0', 0):>7.1f}"
            f"{100 * f.get('ocean', 0):>8.1f}{100 * f.get('soil', 0):>7.1f}"
        )
    lines.append(
        "Unit world after the OECD Pov & LRTP Screening Tool (Wegmann et al. 2009): steady state, 25 degC; "
        "CTD with u = 4 m/s for emission to air; TE = net air-to-surface flux / emission to air; "
        "distribution (air%, water%, soil%) for emission to air."
    )
    return "\n".join(lines)


def screen_table(names: list[str] | None = None) -> str:
    """Screening results of ``names`` (default: every built-in substance) as a table."""
    return format_screening([screen(n) for n in (names or list_chemicals())])


__all__ = [
    "CTD_WIND_SPEED_M_S",
    "EMISSION_MEDIA",
    "ScreeningResult",
    "UNIT_WORLD_AIR_HEIGHT_M",
    "UNIT_WORLD_LAND_FRACTION",
    "UNIT_WORLD_WATER_DEPTH_M",
    "format_screening",
    "net_deposition_kg_s",
    "screen",
    "screen_table",
    "unit_world",
]
