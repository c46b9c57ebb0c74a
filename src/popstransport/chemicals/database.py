"""The chemical property database: a CSV shipped in the wheel with a citation on every number.

File format (long, one number per row; the built-in file is ``popstransport/data/chemicals.csv``)::

    substance,cas,parameter,value,unit,citation,note

Parameters (values at 298.15 K; units are converted from the ``unit`` column, see :data:`PARAMETERS`):

========================  ==================  =====================================================================
parameter                 canonical unit      meaning
========================  ==================  =====================================================================
molar_mass                g/mol               molar mass
log_kaw, log_kow,         -                   log10 of the dimensionless air-water (Cair/Cwater), octanol-water and
log_koa                                       octanol-air partition coefficients
du_aw, du_ow, du_oa       J/mol               internal energies of phase transfer, BETR convention
                                              (``dU_aw = dU_ow - dU_oa``, ``dU_oa < 0``, ``dU_aw > 0``)
k_oh                      cm3/(molecule s)    second-order gas-phase rate constant with OH
half_life_<medium>        h                   first-order half-life; medium in air, vegetation, freshwater, ocean,
                                              soil, sediment (air: bulk reference half-life)
ea_<medium>               J/mol               activation energy of degradation in the medium (air: of k_oh)
vapour_pressure_liquid    Pa                  (sub-cooled) liquid vapour pressure, optional (Junge-Pankow)
aliases                   -                   alternative names separated by ``;`` (text, no citation needed)
========================  ==================  =====================================================================

Derivations made when loading, each recorded in :attr:`ChemicalProperties.citations` with the word "derived":

* Internal energies: any two of ``du_aw, du_ow, du_oa`` give the third from ``dU_aw = dU_ow - dU_oa``.
* One missing partition coefficient of the triangle is computed from the other two
  (``log Koa = log Kow - log Kaw``).
* ``k_oh`` missing: ``k_OH = ln 2 / (t1/2,air [OH]_ref)`` with ``[OH]_ref = 1e6 cm-3``, the 24-h mean OH to which
  the BETR-Research air half-lives refer (inference in ``../shared/data/REFERENCES.md`` section 2: it reproduces the
  measured k_OH of alpha- and gamma-HCH within 4 %). ``half_life_air`` missing: the inverse relation. An override
  of one of the two alone (``overrides = { half_life_air = 1000 }``) replaces the other by this relation, so that
  the gridded model (``k_oh`` times the OH field) and the screening unit world (``half_life_air``) both follow it.
* ``half_life_freshwater`` / ``half_life_ocean``: one missing takes the other; vegetation and sediment missing take
  the soil value; activation energies missing are 0 (no temperature dependence). All flagged "assumed".

Two known problems of the source data and how they are handled:

1. **Sign of dU_oa for p,p'-DDT and p,p'-DDE.** BETR-Research 3.0 lists +87871 and +97940 J/mol, which under its own
   convention would make Koa *fall* on cooling. Their magnitudes equal ``dU_aw - dU_ow`` of the CliMoChem
   least-squares-adjusted set, so the built-in table ships the negative values (citation says "sign-corrected").
   Every property set is checked on construction: ``dU_oa > 0`` or ``dU_aw < 0`` raises :class:`ChemicalError`
   with an explanation, so the error cannot come back through a user file or override.
2. **The log Kow / Koa / Kaw triangle does not close** for PCB-52/101/118/138/180, TCDD, BaP and BDE-47 (residual
   ``log Koa + log Kaw - log Kow`` of 0.3-0.9). Policy ``triangle`` (argument of :func:`get_chemical`):

   * ``"as_tabulated"`` (default, the recommendation of REFERENCES.md section 1a): the values are kept as published.
     Kaw is used for air-water processes (air-sea exchange, gas scavenging, soil air-water phases), Koa for
     gas-particle partitioning and air-vegetation exchange, Kow only for sorption to organic carbon in soil,
     water particles and sediment (``Koc = 0.41 Kow``, Karickhoff 1981). The residual is reported by
     :attr:`ChemicalProperties.triangle_residual_log` and by ``popstransport chemicals``.
   * ``"close_kow"``: Kow := Koa Kaw (the choice of the Lamon et al. 2009 revision for PCB-28/153);
     ``"close_koa"``: Koa := Kow / Kaw; ``"close_kaw"``: Kaw := Kow / Koa. The internal energies are always
     closed (``dU_aw = dU_ow - dU_oa``).
"""

from __future__ import annotations

import csv
import difflib
import math
import os
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path
from typing import Literal

import numpy as np

from ..constants import GAS_CONSTANT_J_MOL_K, REFERENCE_TEMPERATURE_K
from .temperature import van_t_hoff

TrianglePolicy = Literal["as_tabulated", "close_kow", "close_koa", "close_kaw"]
TRIANGLE_POLICIES: tuple[str, ...] = ("as_tabulated", "close_kow", "close_koa", "close_kaw")

#: Degradation media with a half-life and an activation energy.
MEDIA: tuple[str, ...] = ("air", "vegetation", "freshwater", "ocean", "soil", "sediment")

#: Reference OH number concentration (molecules cm-3) to which tabulated bulk air half-lives refer.
REFERENCE_OH_MOLEC_CM3 = 1.0e6

_LN2 = math.log(2.0)

#: parameter -> (canonical unit, dataclass field, factor from canonical unit to the field's unit)
PARAMETERS: dict[str, tuple[str, str, float]] = {
    "molar_mass": ("g/mol", "molar_mass_kg_mol", 1e-3),
    "log_kaw": ("-", "log_kaw_298", 1.0),
    "log_kow": ("-", "log_kow_298", 1.0),
    "log_koa": ("-", "log_koa_298", 1.0),
    "du_aw": ("J/mol", "du_aw_j_mol", 1.0),
    "du_ow": ("J/mol", "du_ow_j_mol", 1.0),
    "du_oa": ("J/mol", "du_oa_j_mol", 1.0),
    "k_oh": ("cm3/(molecule s)", "k_oh_298_cm3_s", 1.0),
    "vapour_pressure_liquid": ("Pa", "vapour_pressure_liquid_298_pa", 1.0),
    **{f"half_life_{m}": ("h", f"half_life_{m}_h", 1.0) for m in MEDIA},
    **{f"ea_{m}": ("J/mol", f"ea_{m}_j_mol", 1.0) for m in MEDIA},
}
_FIELD_TO_PARAMETER = {v[1]: k for k, v in PARAMETERS.items()}

#: Accepted unit spellings and their factor to the canonical unit of the parameter's kind.
_UNIT_FACTORS: dict[str, dict[str, float]] = {
    "g/mol": {"g/mol": 1.0, "g mol-1": 1.0, "kg/mol": 1e3, "kg mol-1": 1e3},
    "-": {"-": 1.0, "": 1.0, "1": 1.0, "log units": 1.0},
    "J/mol": {"J/mol": 1.0, "J mol-1": 1.0, "kJ/mol": 1e3, "kJ mol-1": 1e3},
    "cm3/(molecule s)": {"cm3/(molecule s)": 1.0, "cm3 molecule-1 s-1": 1.0, "cm3/molecule/s": 1.0},
    "Pa": {"Pa": 1.0, "kPa": 1e3},
    "h": {
        "h": 1.0,
        "hour": 1.0,
        "hours": 1.0,
        "d": 24.0,
        "day": 24.0,
        "days": 24.0,
        "s": 1.0 / 3600.0,
        "yr": 8760.0,
        "year": 8760.0,
    },
}


#: Largest accepted magnitude of log10 Kaw, Kow and Koa at 25 degC: those of organic chemicals span about -12 (log Kaw
#: of very soluble ones) to 16 (log Koa of decabromodiphenyl ether); larger values are mistakes, such as the
#: coefficient itself given for its logarithm.
MAX_ABS_LOG_PARTITION = 20.0


class ChemicalError(ValueError):
    """An unknown chemical, an unusable property value or an unreadable property file."""


@dataclass(frozen=True)
class ChemicalProperties:
    """Physical-chemical and degradation properties of one substance (values at 298.15 K, SI where marked).

    Build with :func:`get_chemical` or :func:`load_chemicals`; the constructor validates signs and ranges.
    Temperature-dependent values come from the methods (scalars or arrays of any shape).

    Attributes
    ----------
    name, cas
        Preferred name and CAS registry number.
    molar_mass_kg_mol
        Molar mass (kg mol-1).
    log_kaw_298, log_kow_298, log_koa_298
        log10 of the dimensionless partition coefficients at 298.15 K as used by the model (see the module
        docstring for the ``triangle`` policy that may have recomputed one of them).
    du_aw_j_mol, du_ow_j_mol, du_oa_j_mol
        Internal energies of phase transfer (J mol-1), BETR convention, ``du_aw = du_ow - du_oa``.
    k_oh_298_cm3_s
        Second-order gas-phase OH rate constant at 298.15 K (cm3 molecule-1 s-1).
    half_life_<medium>_h
        Half-lives (h) at 298.15 K; ``half_life_air_h`` is a bulk reference value at [OH] = 1e6 cm-3 used by the
        screening unit world (the gridded model uses ``k_oh`` times the OH field).
    ea_<medium>_j_mol
        Activation energies (J mol-1); ``ea_air_j_mol`` applies to ``k_oh``.
    vapour_pressure_liquid_298_pa
        Sub-cooled liquid vapour pressure (Pa) or NaN when unknown.
    aliases
        Alternative names.
    citations
        ``(parameter, citation)`` pairs, one for every number.
    triangle
        The policy applied to the Kaw/Kow/Koa triangle.
    """

    name: str
    cas: str
    molar_mass_kg_mol: float
    log_kaw_298: float
    log_kow_298: float
    log_koa_298: float
    du_aw_j_mol: float
    du_ow_j_mol: float
    du_oa_j_mol: float
    k_oh_298_cm3_s: float
    half_life_air_h: float
    half_life_vegetation_h: float
    half_life_freshwater_h: float
    half_life_ocean_h: float
    half_life_soil_h: float
    half_life_sediment_h: float
    ea_air_j_mol: float = 0.0
    ea_vegetation_j_mol: float = 0.0
    ea_freshwater_j_mol: float = 0.0
    ea_ocean_j_mol: float = 0.0
    ea_soil_j_mol: float = 0.0
    ea_sediment_j_mol: float = 0.0
    vapour_pressure_liquid_298_pa: float = float("nan")
    aliases: tuple[str, ...] = ()
    citations: tuple[tuple[str, str], ...] = ()
    triangle: TrianglePolicy = "as_tabulated"

    def __post_init__(self) -> None:
        who = f"chemical {self.name!r}"
        for f in fields(self):
            if f.name in ("name", "cas", "aliases", "citations", "triangle", "vapour_pressure_liquid_298_pa"):
                continue
            v = getattr(self, f.name)
            if not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ChemicalError(f"{who}: {f.name} = {v!r} must be a finite number")
        if self.molar_mass_kg_mol <= 0:
            raise ChemicalError(f"{who}: molar mass {self.molar_mass_kg_mol!r} kg/mol must be positive")
        for key in ("log_kaw_298", "log_kow_298", "log_koa_298"):
            v = getattr(self, key)
            if not -MAX_ABS_LOG_PARTITION <= v <= MAX_ABS_LOG_PARTITION:
                raise ChemicalError(
                    f"{who}: {key} = {v:g} lies outside -{MAX_ABS_LOG_PARTITION:g}..{MAX_ABS_LOG_PARTITION:g}; partition "
                    "coefficients of organic chemicals span about -12..16 in log10 units, so this is a mistake (the "
                    "coefficient itself instead of its log10?): give log10 of the dimensionless coefficient at 25 degC")
        # (half-lives given before those assumed equal to another, so that an error names the value that was given)
        cited = dict(self.citations)
        for m in sorted(MEDIA, key=lambda m: cited.get(f"half_life_{m}", "").startswith("assumed")):
            if getattr(self, f"half_life_{m}_h") <= 0:
                raise ChemicalError(f"{who}: half_life_{m} must be positive (hours)")
        for m in MEDIA:
            if getattr(self, f"ea_{m}_j_mol") < 0:
                raise ChemicalError(f"{who}: activation energy ea_{m} must be >= 0 J/mol")
        if self.k_oh_298_cm3_s < 0:
            raise ChemicalError(f"{who}: k_oh must be >= 0 cm3 molecule-1 s-1")
        if self.du_oa_j_mol > 0:
            raise ChemicalError(
                f"{who}: du_oa = {self.du_oa_j_mol:g} J/mol is positive, which would make Koa fall in cold air. "
                "The model uses the BETR convention K(T) = K(298.15 K) exp[dU/R (1/298.15 - 1/T)] with dU_oa < 0 "
                "(condensation into octanol releases heat); flip the sign (BETR-Research 3.0 lists DDT/DDE/DDD "
                "with the wrong sign) or give the value in this convention"
            )
        if self.du_aw_j_mol < 0:
            raise ChemicalError(
                f"{who}: du_aw = {self.du_aw_j_mol:g} J/mol is negative, which would make Kaw rise in cold air; "
                "in the BETR convention dU_aw > 0 (dU_aw = dU_ow - dU_oa); check the sign"
            )
        if abs(self.du_aw_j_mol - (self.du_ow_j_mol - self.du_oa_j_mol)) > 1.0:
            raise ChemicalError(
                f"{who}: internal energies do not close: du_aw = {self.du_aw_j_mol:g} but du_ow - du_oa = "
                f"{self.du_ow_j_mol - self.du_oa_j_mol:g} J/mol; give two of the three and let the third be derived"
            )
        if self.triangle not in TRIANGLE_POLICIES:
            raise ChemicalError(f"{who}: triangle policy {self.triangle!r}; allowed are {list(TRIANGLE_POLICIES)}")

    # partition coefficients -----------------------------------------------------------------------------------
    @property
    def triangle_residual_log(self) -> float:
        """``log Koa + log Kaw - log Kow`` at 298.15 K (0 for a thermodynamically closed set)."""
        return self.log_koa_298 + self.log_kaw_298 - self.log_kow_298

    def kaw(self, temperature_k: float | np.ndarray) -> float | np.ndarray:
        """Dimensionless air-water partition coefficient Cair/Cwater at ``temperature_k`` (van 't Hoff, du_aw)."""
        return van_t_hoff(10.0**self.log_kaw_298, self.du_aw_j_mol, temperature_k)

    def kow(self, temperature_k: float | np.ndarray) -> float | np.ndarray:
        """Octanol-water partition coefficient at ``temperature_k`` (van 't Hoff, du_ow)."""
        return van_t_hoff(10.0**self.log_kow_298, self.du_ow_j_mol, temperature_k)

    def koa(self, temperature_k: float | np.ndarray) -> float | np.ndarray:
        """Octanol-air partition coefficient at ``temperature_k`` (van 't Hoff, du_oa)."""
        return van_t_hoff(10.0**self.log_koa_298, self.du_oa_j_mol, temperature_k)

    def henry_pa_m3_mol(self, temperature_k: float | np.ndarray) -> float | np.ndarray:
        """Henry's law constant H = Kaw R T (Pa m3 mol-1)."""
        return self.kaw(temperature_k) * GAS_CONSTANT_J_MOL_K * np.asarray(temperature_k, dtype=float)

    def vapour_pressure_liquid_pa(self, temperature_k: float | np.ndarray) -> float | np.ndarray:
        """Sub-cooled liquid vapour pressure (Pa) at ``temperature_k``.

        Clausius-Clapeyron with the enthalpy of vaporisation estimated from octanol-air partitioning,
        ``dH_vap ~= -dU_oa + R T_ref`` (condensation into octanol approximated as into the pure liquid; the
        ``R T`` term converts an internal energy of gas-to-condensed transfer into an enthalpy). Raises
        :class:`ChemicalError` when the substance has no tabulated vapour pressure.
        """
        if not math.isfinite(self.vapour_pressure_liquid_298_pa):
            raise ChemicalError(
                f"chemical {self.name!r} has no liquid vapour pressure (needed by Junge-Pankow partitioning); "
                "add 'vapour_pressure_liquid' through an override or a property file, or use the Koa-based "
                "Harner-Bidleman scheme"
            )
        dh_vap = -self.du_oa_j_mol + GAS_CONSTANT_J_MOL_K * REFERENCE_TEMPERATURE_K
        return van_t_hoff(self.vapour_pressure_liquid_298_pa, dh_vap, temperature_k)

    # degradation ----------------------------------------------------------------------------------------------
    def oh_rate_constant_cm3_s(self, temperature_k: float | np.ndarray) -> float | np.ndarray:
        """Second-order OH rate constant (cm3 molecule-1 s-1) at ``temperature_k`` (Arrhenius with ea_air)."""
        return van_t_hoff(self.k_oh_298_cm3_s, self.ea_air_j_mol, temperature_k)

    def degradation_rate_s(self, medium: str, temperature_k: float | np.ndarray = REFERENCE_TEMPERATURE_K):
        """First-order degradation rate constant (s-1) in ``medium`` at ``temperature_k``.

        ``k = ln 2 / t1/2 exp[Ea/R (1/298.15 - 1/T)]``. For ``medium = "air"`` this is the bulk reference rate of
        the tabulated half-life (at [OH] = 1e6 cm-3); the gridded model uses :meth:`oh_rate_constant_cm3_s`.
        """
        if medium not in MEDIA:
            raise ChemicalError(f"degradation medium {medium!r}; allowed are {list(MEDIA)}")
        k_ref = _LN2 / (getattr(self, f"half_life_{medium}_h") * 3600.0)
        return van_t_hoff(k_ref, getattr(self, f"ea_{medium}_j_mol"), temperature_k)

    # provenance -------------------------------------------------------------------------------------------------
    def citation(self, parameter: str) -> str:
        """The citation of ``parameter`` (database name such as ``"log_kow"`` or dataclass field name)."""
        p = _FIELD_TO_PARAMETER.get(parameter, parameter)
        for key, cit in self.citations:
            if key == p:
                return cit
        raise ChemicalError(f"chemical {self.name!r}: no citation for {parameter!r}")

    def with_overrides(self, overrides: dict[str, float]) -> "ChemicalProperties":
        """A copy with some properties replaced (database parameter names or field names); derived values follow."""
        raw = _raw_from_properties(self)
        _apply_overrides(raw, overrides, self.name)
        return _build(self.name, self.cas, raw, self.aliases, self.triangle)


# ------------------------------------------------------------------------------------------------------------
# reading files
# ------------------------------------------------------------------------------------------------------------
_Raw = dict[str, tuple[float, str]]
#: Citation prefixes of values computed by this loader (re-derived when an input is overridden).
_DERIVED = ("derived:", "derived (")


def _convert(parameter: str, value: str, unit: str, where: str) -> float:
    canon = PARAMETERS[parameter][0]
    factors = _UNIT_FACTORS[canon]
    u = unit.strip()
    if u not in factors:
        raise ChemicalError(f"{where}: unit {unit!r} for {parameter!r}; accepted: {sorted(k for k in factors if k)}")
    try:
        x = float(value)
    except ValueError:
        raise ChemicalError(f"{where}: value {value!r} of {parameter!r} is not a number") from None
    return x * factors[u]


def _read_csv(path_or_text: str | Path, *, text: str | None = None, default_citation: str | None = None):
    """Parse a long-format property CSV into ``{substance: (cas, aliases, raw)}`` preserving order."""
    if text is None:
        from ..io.errors import InputError, read_utf8_text

        try:
            text = read_utf8_text(path_or_text, "CSV")
        except InputError as exc:
            raise ChemicalError(str(exc)) from None
    reader = csv.DictReader(text.splitlines())
    cols = set(reader.fieldnames or ())
    required = {"substance", "parameter", "value"}
    if not required <= cols:
        raise ChemicalError(
            f"{path_or_text}: property file needs the columns {sorted(required)} (plus unit, citation, cas, note); "
            f"found {sorted(cols)}"
        )
    out: dict[str, tuple[str, tuple[str, ...], _Raw]] = {}
    for lineno, row in enumerate(reader, start=2):
        where = f"{path_or_text}, line {lineno}"
        name = (row.get("substance") or "").strip()
        par = (row.get("parameter") or "").strip()
        if not name or not par:
            continue
        cas, aliases, raw = out.get(name, ("", (), {}))
        cas = cas or (row.get("cas") or "").strip()
        if par == "aliases":
            aliases = aliases + tuple(a.strip() for a in row["value"].split(";") if a.strip())
            out[name] = (cas, aliases, raw)
            continue
        if par not in PARAMETERS:
            close = difflib.get_close_matches(par, PARAMETERS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ChemicalError(f"{where}: unknown parameter {par!r}{hint} Valid: {sorted(PARAMETERS)}")
        unit = row.get("unit")
        value = _convert(par, row["value"], PARAMETERS[par][0] if unit is None else unit, where)
        citation = (row.get("citation") or "").strip() or default_citation
        if not citation:
            raise ChemicalError(f"{where}: {par!r} of {name!r} has no citation; every number needs one")
        raw[par] = (value, citation)
        out[name] = (cas, aliases, raw)
    return out


# ------------------------------------------------------------------------------------------------------------
# deriving a complete property set
# ------------------------------------------------------------------------------------------------------------
def _apply_overrides(raw: _Raw, overrides: dict[str, float] | None, name: str) -> None:
    if not overrides:
        return
    touched_du = []
    touched_k = []
    for key, value in overrides.items():
        par = _FIELD_TO_PARAMETER.get(key, key)
        if par not in PARAMETERS:
            close = difflib.get_close_matches(key, list(PARAMETERS) + list(_FIELD_TO_PARAMETER), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ChemicalError(f"override {key!r} for chemical {name!r} is not a property{hint} Valid: {sorted(PARAMETERS)}")
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise ChemicalError(f"override {key!r} for chemical {name!r}: {value!r} is not a number") from None
        if key in _FIELD_TO_PARAMETER:
            v = v / PARAMETERS[par][2]
        raw[par] = (v, "user override")
        if par.startswith("du_"):
            touched_du.append(par)
        if par in ("log_kaw", "log_kow", "log_koa"):
            touched_k.append(par)
        # one air degradation rate: an override of k_oh or half_life_air alone replaces the other (tabulated or
        # derived) by its value derived from the override, so the gridded model (k_oh x [OH]) and the screening
        # unit world (half_life_air) both use what the user gave; both given: both kept
        other = {"k_oh": "half_life_air", "half_life_air": "k_oh"}.get(par)
        if other is not None and not (other in overrides or PARAMETERS[other][1] in overrides):
            raw.pop(other, None)
    # internal energies: keep what the user gave, re-derive the rest (priority du_oa > du_aw > du_ow)
    if touched_du:
        keep = list(dict.fromkeys(touched_du))
        for p in ("du_oa", "du_aw", "du_ow"):
            if len(keep) >= 2:
                break
            if p not in keep and p in raw and not raw[p][1].startswith(_DERIVED):
                keep.append(p)
        for p in ("du_aw", "du_ow", "du_oa"):
            if p not in keep and p in raw and len(keep) >= 2:
                del raw[p]
    # a user value of one partition coefficient replaces a previously derived third one
    for p in ("log_kaw", "log_kow", "log_koa"):
        if p not in touched_k and p in raw and raw[p][1].startswith(_DERIVED) and touched_k:
            del raw[p]


def _build(name: str, cas: str, raw_in: _Raw, aliases: tuple[str, ...], triangle: str = "as_tabulated") -> ChemicalProperties:
    raw = dict(raw_in)
    who = f"chemical {name!r}"
    if triangle not in TRIANGLE_POLICIES:
        raise ChemicalError(f"triangle policy {triangle!r}; allowed are {list(TRIANGLE_POLICIES)}")

    # internal energies
    have = [p for p in ("du_aw", "du_ow", "du_oa") if p in raw]
    if len(have) < 2:
        raise ChemicalError(f"{who}: needs two of the internal energies du_aw, du_ow, du_oa (J/mol); has {have or 'none'}")
    if len(have) == 2:
        if "du_aw" not in raw:
            raw["du_aw"] = (raw["du_ow"][0] - raw["du_oa"][0], "derived: du_aw = du_ow - du_oa")
        elif "du_ow" not in raw:
            raw["du_ow"] = (raw["du_aw"][0] + raw["du_oa"][0], "derived: du_ow = du_aw + du_oa")
        else:
            raw["du_oa"] = (raw["du_ow"][0] - raw["du_aw"][0], "derived: du_oa = du_ow - du_aw")

    # partition coefficients
    have = [p for p in ("log_kaw", "log_kow", "log_koa") if p in raw]
    if len(have) < 2:
        raise ChemicalError(f"{who}: needs at least two of log_kaw, log_kow, log_koa; has {have or 'none'}")
    if len(have) == 2:
        if "log_koa" not in raw:
            raw["log_koa"] = (raw["log_kow"][0] - raw["log_kaw"][0], "derived: log Koa = log Kow - log Kaw")
        elif "log_kow" not in raw:
            raw["log_kow"] = (raw["log_koa"][0] + raw["log_kaw"][0], "derived: log Kow = log Koa + log Kaw")
        else:
            raw["log_kaw"] = (raw["log_kow"][0] - raw["log_koa"][0], "derived: log Kaw = log Kow - log Koa")
    if triangle == "close_kow":
        raw["log_kow"] = (raw["log_koa"][0] + raw["log_kaw"][0], "derived (triangle close_kow): log Koa + log Kaw")
    elif triangle == "close_koa":
        raw["log_koa"] = (raw["log_kow"][0] - raw["log_kaw"][0], "derived (triangle close_koa): log Kow - log Kaw")
    elif triangle == "close_kaw":
        raw["log_kaw"] = (raw["log_kow"][0] - raw["log_koa"][0], "derived (triangle close_kaw): log Kow - log Koa")

    # air degradation
    if "k_oh" not in raw and "half_life_air" not in raw:
        raise ChemicalError(f"{who}: needs k_oh (cm3/(molecule s)) or half_life_air (h)")
    if "k_oh" not in raw:
        raw["k_oh"] = (
            _LN2 / (raw["half_life_air"][0] * 3600.0 * REFERENCE_OH_MOLEC_CM3),
            "derived: k_OH = ln2 / (t1/2,air x 1e6 cm-3); BETR-Research air half-lives refer to a 24-h mean "
            "[OH] of about 1e6 cm-3 (inference, ../shared/data/REFERENCES.md section 2)",
        )
    if "half_life_air" not in raw:
        raw["half_life_air"] = (
            _LN2 / (raw["k_oh"][0] * REFERENCE_OH_MOLEC_CM3) / 3600.0 if raw["k_oh"][0] > 0 else 1e12,
            "derived: t1/2,air = ln2 / (k_OH x 1e6 cm-3)",
        )

    # media half-lives
    if "half_life_soil" not in raw:
        raise ChemicalError(f"{who}: needs half_life_soil (h)")
    if "half_life_ocean" not in raw and "half_life_freshwater" not in raw:
        raise ChemicalError(f"{who}: needs half_life_ocean or half_life_freshwater (h)")
    if "half_life_ocean" not in raw:
        raw["half_life_ocean"] = (raw["half_life_freshwater"][0], "assumed equal to half_life_freshwater")
    if "half_life_freshwater" not in raw:
        raw["half_life_freshwater"] = (raw["half_life_ocean"][0], "assumed equal to half_life_ocean")
    for m in ("vegetation", "sediment"):
        if f"half_life_{m}" not in raw:
            raw[f"half_life_{m}"] = (raw["half_life_soil"][0], "assumed equal to half_life_soil")
    for m in MEDIA:
        if f"ea_{m}" not in raw:
            raw[f"ea_{m}"] = (0.0, "assumed 0: no activation energy given, rate independent of temperature")

    if "molar_mass" not in raw:
        raise ChemicalError(f"{who}: needs molar_mass (g/mol)")

    kwargs: dict[str, object] = {}
    for par, (_canon, field_name, factor) in PARAMETERS.items():
        if par in raw:
            kwargs[field_name] = float(raw[par][0]) * factor
    citations = tuple((p, raw[p][1]) for p in PARAMETERS if p in raw)
    return ChemicalProperties(name=name, cas=cas, aliases=tuple(aliases), citations=citations, triangle=triangle, **kwargs)


def _raw_from_properties(props: ChemicalProperties) -> _Raw:
    cit = dict(props.citations)
    raw: _Raw = {}
    for par, (_canon, field_name, factor) in PARAMETERS.items():
        v = getattr(props, field_name)
        if isinstance(v, float) and math.isnan(v):
            continue
        raw[par] = (v / factor, cit.get(par, "unknown"))
    return raw


# ------------------------------------------------------------------------------------------------------------
# the built-in database and name lookup
# ------------------------------------------------------------------------------------------------------------
_BUILTIN: dict[str, tuple[str, tuple[str, ...], _Raw]] | None = None
_TRANSLATE = str.maketrans({"α": "alpha", "γ": "gamma", "β": "beta", "δ": "delta"})
_DROP = set(" -_'’′,()[]{}.")


def normalise_name(name: str) -> str:
    """Case-, space- and punctuation-insensitive key of a chemical name (``"p,p'-DDT"`` -> ``"ppddt"``)."""
    s = str(name).translate(_TRANSLATE).lower()
    return "".join(ch for ch in s if ch not in _DROP)


def builtin_database_path() -> Path:
    """Path of the CSV file shipped with the package."""
    return Path(str(resources.files("popstransport").joinpath("data", "chemicals.csv")))


def _builtin() -> dict[str, tuple[str, tuple[str, ...], _Raw]]:
    global _BUILTIN
    from ..io.package_data import used

    used(builtin_database_path(), "chemical property table")  # (at every use: a run's outputs name it)
    if _BUILTIN is None:
        text = resources.files("popstransport").joinpath("data", "chemicals.csv").read_text(encoding="utf-8")
        _BUILTIN = _read_csv("popstransport/data/chemicals.csv", text=text)
    return _BUILTIN


def _index(records: dict[str, tuple[str, tuple[str, ...], _Raw]]) -> dict[str, str]:
    idx: dict[str, str] = {}
    for name, (cas, aliases, _raw) in records.items():
        for key in (name, cas, *aliases):
            if key:
                idx.setdefault(normalise_name(key), name)
    for name in records:
        idx[normalise_name(name)] = name
    return idx


def list_chemicals() -> list[str]:
    """Preferred names of the built-in substances, in table order."""
    return list(_builtin())


def resolve_name(name: str, records: dict | None = None) -> str:
    """Preferred name for ``name`` (any alias, CAS number, case or punctuation), or :class:`ChemicalError`.

    The error lists the valid names and suggests the nearest one.
    """
    records = _builtin() if records is None else records
    idx = _index(records)
    key = normalise_name(name)
    if key in idx:
        return idx[key]
    close = difflib.get_close_matches(key, list(idx), n=1, cutoff=0.5)
    hint = f" Did you mean {idx[close[0]]!r}?" if close else ""
    raise ChemicalError(
        f"unknown chemical {name!r}.{hint} Valid names: {', '.join(records)}. "
        "Add a substance from your own file: [chemical] file = ... in the configuration, --file with the "
        "chemicals and screen commands, or load_chemicals(path) in Python."
    )


def get_chemical(
    name: str,
    overrides: dict[str, float] | None = None,
    *,
    files: tuple[str | os.PathLike, ...] | list = (),
    triangle: TrianglePolicy = "as_tabulated",
) -> ChemicalProperties:
    """Properties of ``name`` from the built-in database, optionally extended by user files and overridden.

    Parameters
    ----------
    name
        Substance name, alias (``"lindane"``, ``"BaP"``, ``"PCB153"``) or CAS number; case and punctuation are
        ignored.
    overrides
        ``{parameter: value}`` in the canonical units of :data:`PARAMETERS` (``{"log_kow": 6.5,
        "half_life_soil": 1e4}``) or in the units of the dataclass fields when a field name is used. Derived values
        (the third internal energy, a derived k_OH) are re-derived.
    files
        Property files (same CSV format as the built-in one) read after the built-in table; their rows add new
        substances or replace individual values of existing ones.
    triangle
        Policy for the Kaw/Kow/Koa triangle, see the module docstring.
    """
    records = dict(_builtin())
    for f in files:
        records = _merge(records, _read_csv(f, default_citation=f"user file {f}"))
    preferred = resolve_name(name, records)
    cas, aliases, raw = records[preferred]
    raw = dict(raw)
    _apply_overrides(raw, overrides, preferred)
    return _build(preferred, cas, raw, aliases, triangle)


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    idx = _index(base)
    for name, (cas, aliases, raw) in extra.items():
        target = idx.get(normalise_name(name)) or (idx.get(normalise_name(cas)) if cas else None)
        if target is not None:
            bcas, baliases, braw = out[target]
            merged = dict(braw)
            _apply_overrides(merged, {k: v for k, (v, _c) in raw.items()}, target)
            for k, (v, c) in raw.items():
                merged[k] = (v, c)
            out[target] = (bcas or cas, baliases + aliases, merged)
        else:
            out[name] = (cas, aliases, raw)
    return out


def load_chemicals(path: str | os.PathLike, triangle: TrianglePolicy = "as_tabulated") -> dict[str, ChemicalProperties]:
    """Read a user property file (format of the module docstring) into ``{name: ChemicalProperties}``.

    Values without a citation are cited as ``"user file <path>"``. A substance already in the built-in table
    (same name, alias or CAS) is completed from the built-in values, so a file may give only the properties it
    changes.
    """
    extra = _read_csv(path, default_citation=f"user file {os.fspath(path)}")
    merged = _merge(dict(_builtin()), extra)
    idx = _index(dict(_builtin()))
    out = {}
    for name, (cas, _aliases, _raw) in extra.items():
        target = idx.get(normalise_name(name)) or (idx.get(normalise_name(cas)) if cas else None) or name
        mcas, maliases, mraw = merged[target]
        out[target] = _build(target, mcas, mraw, maliases, triangle)
    return out


# ------------------------------------------------------------------------------------------------------------
# printing
# ------------------------------------------------------------------------------------------------------------
def format_chemical(props: ChemicalProperties, temperatures_k: tuple[float, ...] = (253.15, 273.15, 298.15)) -> str:
    """A human-readable sheet of every property of ``props`` with its citation and temperature-dependent values."""
    lines = [f"{props.name}  (CAS {props.cas or '-'})"]
    if props.aliases:
        lines.append(f"  aliases: {', '.join(props.aliases)}")
    lines.append(f"  triangle policy: {props.triangle}; log Koa + log Kaw - log Kow = {props.triangle_residual_log:+.2f}")
    lines.append("")
    lines.append(f"  {'parameter':<24}{'value':>14}  {'unit':<18}citation")
    for par, (canon, field_name, factor) in PARAMETERS.items():
        v = getattr(props, field_name)
        if isinstance(v, float) and math.isnan(v):
            continue
        shown = v / factor
        try:
            cit = props.citation(par)
        except ChemicalError:
            cit = "-"
        lines.append(f"  {par:<24}{shown:>14.6g}  {canon:<18}{cit}")
    lines.append("")
    head = "".join(f"{t:>12.2f} K" for t in temperatures_k)
    lines.append(f"  {'temperature dependence':<28}{head}")
    rows = [
        ("log Kaw", lambda t: math.log10(props.kaw(t))),
        ("log Kow", lambda t: math.log10(props.kow(t))),
        ("log Koa", lambda t: math.log10(props.koa(t))),
        ("k_OH (cm3 s-1)", props.oh_rate_constant_cm3_s),
    ]
    for m in MEDIA[1:]:
        rows.append((f"t1/2 {m} (h)", lambda t, m=m: _LN2 / props.degradation_rate_s(m, t) / 3600.0))
    for label, fn in rows:
        lines.append(f"  {label:<28}" + "".join(f"{fn(t):>14.4g}" for t in temperatures_k))
    return "\n".join(lines)


def format_table(names: list[str] | None = None, files: tuple[str, ...] = ()) -> str:
    """One line per substance with the main properties (the output of ``popstransport chemicals``); with user
    property ``files``, their values, and their new substances after the built-in ones."""
    if names is None:
        names = list_chemicals()
        for f in files:
            names += [n for n in load_chemicals(f) if n not in names]
    head = (
        f"{'substance':<16}{'CAS':<12}{'M g/mol':>9}{'logKaw':>8}{'logKow':>8}{'logKoa':>8}{'resid':>7}"
        f"{'dUaw':>7}{'dUoa':>8}{'kOH':>10}{'t½air h':>10}{'t½wat h':>10}{'t½soil h':>10}"
    )
    lines = [head, "-" * len(head)]
    for n in names:
        p = get_chemical(n, files=tuple(files))
        lines.append(
            f"{p.name:<16}{p.cas:<12}{p.molar_mass_kg_mol * 1e3:>9.2f}{p.log_kaw_298:>8.2f}{p.log_kow_298:>8.2f}"
            f"{p.log_koa_298:>8.2f}{p.triangle_residual_log:>7.2f}{p.du_aw_j_mol / 1e3:>7.1f}"
            f"{p.du_oa_j_mol / 1e3:>8.1f}{p.k_oh_298_cm3_s:>10.2e}{p.half_life_air_h:>10.4g}"
            f"{p.half_life_ocean_h:>10.4g}{p.half_life_soil_h:>10.4g}"
        )
    lines.append("dU in kJ/mol (BETR convention); resid = log Koa + log Kaw - log Kow; values at 298.15 K.")
    return "\n".join(lines)


__all__ = [
    "ChemicalError",
    "ChemicalProperties",
    "MEDIA",
    "PARAMETERS",
    "REFERENCE_OH_MOLEC_CM3",
    "TRIANGLE_POLICIES",
    "TrianglePolicy",
    "builtin_database_path",
    "format_chemical",
    "format_table",
    "get_chemical",
    "list_chemicals",
    "load_chemicals",
    "normalise_name",
    "resolve_name",
]
