"""Source attribution: tags, receptor statistics, border fluxes and scenarios from tags.

Because every process is first order in the chemical, the model is linear: the state is split into *tags* (one per
source region, plus ``OTHER`` for emissions outside the named regions, ``BOUNDARY`` for inflow through open
boundaries and ``INITIAL`` for the initial burden), each tag evolves under the same operators, and the tags add up
exactly to the untagged run. Emissions in a cell are split among source regions by their area fraction in the cell.

Receptor statistics (per output period):

    deposition[s, r]        = sum_cells f_r(cell) * D_s(cell)                        (kg)
    air_concentration[s, r] = sum_cells f_r A c_s / sum_cells f_r A                 (kg m-3, lowest layer)

with ``f_r`` the area fraction of receptor region ``r`` in the cell, ``A`` the cell area and ``D_s`` the net
deposition (wet + dry + net air-surface exchange) of source tag ``s``.

Border fluxes: the gross chemical mass crossing every cell face in each direction is weighted by the fractions of
the regions on both sides,

    border_flux[a, b] += f_a(upwind cell) * f_b(downwind cell) * gross mass through the face,   a != b,

with ``OUTSIDE`` standing for the far side of the open domain edge. Net fluxes are ``border_flux[a, b] -
border_flux[b, a]``.

Scenarios: scaling the emissions of source ``s`` by ``w_s`` changes every output by ``sum_s (w_s - 1) X_s``, so a
scenario result is the weighted sum of tag results, with no model run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import scipy.sparse

OTHER = "OTHER"
BOUNDARY = "BOUNDARY"
INITIAL = "INITIAL"
OUTSIDE = "OUTSIDE"


class AttributionError(ValueError):
    """Invalid tag or scenario specification."""


@dataclass(frozen=True)
class TagSet:
    """Source tags and how emissions are shared among them.

    Attributes
    ----------
    names
        Tag names, the first axis of the model state.
    emission_weights
        ``(T, J, I)`` share of every tag in a cell's emission; sums to 1 over tags in every cell.
    boundary_tag, initial_tag
        Index of the ``BOUNDARY`` and ``INITIAL`` tags, or -1 when absent.
    """

    names: tuple[str, ...]
    emission_weights: np.ndarray
    boundary_tag: int = -1
    initial_tag: int = -1

    @property
    def ntag(self) -> int:
        return len(self.names)

    def boundary_mixing_ratio(self, value: float) -> np.ndarray:
        """Per-tag boundary mixing ratio: ``value`` for ``BOUNDARY`` (or the single untagged tag), 0 otherwise."""
        out = np.zeros(self.ntag)
        if self.boundary_tag >= 0:
            out[self.boundary_tag] = value
        elif self.ntag == 1:
            out[0] = value
        return out


def untagged(shape: tuple[int, int]) -> TagSet:
    """A single tag ``ALL`` carrying everything."""
    return TagSet(("ALL",), np.ones((1,) + shape))


def make_tags(
    codes: list[str] | tuple[str, ...],
    fraction: np.ndarray,
    emission_kg_s: np.ndarray | None = None,
    mode: str = "countries",
    regions: tuple[str, ...] = (),
    boundary: bool = False,
    initial: bool = False,
    region_emission_kg_s: dict[str, np.ndarray] | None = None,
) -> TagSet:
    """Tags for source attribution.

    A tag's share of a cell's emission is, with ``region_emission_kg_s`` (an inventory of national totals), its
    region's share of the cell's emission, so that every country's tag emits exactly the country's inventory;
    otherwise its region's share of the cell's area (a coastal cell's sea part then goes to ``OTHER``, as it should
    for emissions spread over the whole area, e.g. ``emissions.source = "uniform"``).

    Parameters
    ----------
    codes, fraction
        Region codes and their area fractions ``(R, J, I)`` in every cell.
    emission_kg_s
        ``(J, I)`` emission field used to find the emitting regions (``mode = "countries"``).
    region_emission_kg_s
        ``{code: (J, I)}`` annual-mean emission of every region of an inventory of national totals (kg s-1),
        with the same codes as ``codes`` (countries of the inventory that are not among ``codes`` go to
        ``OTHER``). The shares are those of the annual means: exact when every sector of the inventory has the
        same monthly profile (one sector, as in the built-in inventory), and otherwise exact for each country's
        annual total only where a cell's emission comes from one country.
    mode
        ``"countries"``: one tag per region that emits anything, the rest in ``OTHER``; ``"list"``: one tag per
        region in ``regions``, the rest in ``OTHER``.
    boundary, initial
        Add ``BOUNDARY`` / ``INITIAL`` tags (inflow through open boundaries; the initial burden).
    """
    codes = list(codes)
    if mode == "countries":
        if region_emission_kg_s is not None:
            chosen = [c for c in codes if c in region_emission_kg_s and np.any(region_emission_kg_s[c] > 0)]
        elif emission_kg_s is None:
            raise AttributionError("attribution.tags = 'countries' needs the emission field to find emitting regions")
        else:
            emitted = np.einsum("rji,ji->r", fraction, emission_kg_s)
            chosen = [c for c, e in zip(codes, emitted) if e > 0]
    elif mode == "list":
        unknown = [r for r in regions if r not in codes]
        if unknown:
            raise AttributionError(
                f"attribution.regions {unknown} are not regions of the domain; known: {sorted(codes)}"
            )
        if not regions:
            raise AttributionError("attribution.tags = 'list' needs attribution.regions, e.g. ['CHN', 'IND']")
        empty = [r for r in regions if not np.any(fraction[codes.index(r)] > 0)]
        if empty:
            # (a country of regions.codes outside the grid has an all-zero mask: its tag would emit nothing)
            raise AttributionError(f"attribution.regions {empty} cover no part of the domain, so their tags would emit "
                                   "nothing and a scenario scaling them would change nothing; widen the domain to hold "
                                   "them, or remove them from attribution.regions")
        chosen = list(regions)
    else:
        raise AttributionError(f"attribution.tags = {mode!r}: allowed are 'none', 'countries', 'list'")
    weights = [fraction[codes.index(c)] for c in chosen]
    if region_emission_kg_s is not None and weights:
        # each cell's emission by the regions' shares of it (cells without emission keep the area shares)
        total = np.zeros(fraction.shape[1:])
        for r in region_emission_kg_s.values():
            total += r
        emits = total > 0
        safe = np.where(emits, total, 1.0)
        weights = [np.where(emits, region_emission_kg_s[c] / safe, w) if c in region_emission_kg_s
                   else np.where(emits, 0.0, w) for c, w in zip(chosen, weights)]
    rest = 1.0 - np.sum(weights, axis=0) if weights else np.ones(fraction.shape[1:])
    rest = np.clip(rest, 0.0, 1.0)
    names = chosen + [OTHER]
    weights.append(rest)
    total = np.sum(weights, axis=0)
    weights = [w / total for w in weights]
    b = i = -1
    if boundary:
        names.append(BOUNDARY)
        weights.append(np.zeros_like(rest))
        b = len(names) - 1
    if initial:
        names.append(INITIAL)
        weights.append(np.zeros_like(rest))
        i = len(names) - 1
    return TagSet(tuple(names), np.ascontiguousarray(np.stack(weights)), b, i)


def receptor_deposition_kg(tag_deposition_kg: np.ndarray, receptor_fraction: np.ndarray) -> np.ndarray:
    """Deposition of every source tag onto every receptor, ``(T, R)`` kg, from ``(T, J, I)`` and ``(R, J, I)``."""
    return np.einsum("tji,rji->tr", tag_deposition_kg, receptor_fraction)


def receptor_mean_concentration(
    tag_concentration: np.ndarray, receptor_fraction: np.ndarray, cell_area_m2: np.ndarray
) -> np.ndarray:
    """Area-weighted mean concentration over every receptor, ``(T, R)``, from ``(T, J, I)`` fields."""
    w = receptor_fraction * cell_area_m2[None]
    norm = w.sum(axis=(1, 2))
    norm = np.where(norm > 0, norm, np.nan)
    return np.einsum("tji,rji->tr", tag_concentration, w) / norm[None, :]


def border_flux_matrix(
    region_fraction: np.ndarray,
    gross_u_east_kg: np.ndarray,
    gross_u_west_kg: np.ndarray,
    gross_v_north_kg: np.ndarray,
    gross_v_south_kg: np.ndarray,
    periodic: bool,
    faces: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Gross advective flux between regions, ``(R + 1, R + 1)`` kg, the last index being ``OUTSIDE``.

    Parameters
    ----------
    region_fraction
        ``(R, J, I)`` area fractions that sum to 1 in every cell (include the remainder as a region, e.g. OTHER).
    gross_u_east_kg, gross_u_west_kg
        ``(..., J, I + 1)`` gross eastward / westward mass through the u faces (face i is the west wall of cell i);
        leading axes (layers, tags) are summed, unless there is one leading tag axis to keep (see
        :func:`border_flux_by_tag`).
    gross_v_north_kg, gross_v_south_kg
        ``(..., J + 1, I)`` gross northward / southward mass through the v faces.
    periodic
        Longitude wraps (global grid): face I is face 0.
    faces
        With accumulators of some faces only (:meth:`popstransport.model.Model.reset_face_mass`): the flat indices
        of their u faces in ``(J, I + 1)`` and of their v faces in ``(J + 1, I)``; the inputs are then
        ``(..., n_u)`` and ``(..., n_v)``. A face left out must join no two regions (see :func:`border_faces`).
    """
    keep = 1 if faces is not None else 2
    ue = _sum_leading(gross_u_east_kg, keep)
    uw = _sum_leading(gross_u_west_kg, keep)
    vn = _sum_leading(gross_v_north_kg, keep)
    vs = _sum_leading(gross_v_south_kg, keep)
    return _border(region_fraction, ue[None], uw[None], vn[None], vs[None], periodic, faces)[0]


def border_flux_by_tag(
    region_fraction: np.ndarray,
    gross_u_east_kg: np.ndarray,
    gross_u_west_kg: np.ndarray,
    gross_v_north_kg: np.ndarray,
    gross_v_south_kg: np.ndarray,
    periodic: bool,
    faces: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Like :func:`border_flux_matrix` per tag: inputs ``(T, L, ...)``, result ``(T, R + 1, R + 1)``."""
    return _border(
        region_fraction,
        gross_u_east_kg.sum(axis=1),
        gross_u_west_kg.sum(axis=1),
        gross_v_north_kg.sum(axis=1),
        gross_v_south_kg.sum(axis=1),
        periodic,
        faces,
    )


def _face_neighbours(frac: np.ndarray, periodic: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Region fractions ``(R + 1, ...)`` of the cells west and east of every u face ``(J, I + 1)`` and south and
    north of every v face ``(J + 1, I)``; the last region is OUTSIDE, beyond the edges of a bounded grid (on a
    periodic grid face I has the neighbours of face 0)."""
    nr, nj, ni = frac.shape
    ext = np.zeros((nr + 1, nj, ni))
    ext[:nr] = frac
    outside = np.zeros((nr + 1,))
    outside[nr] = 1.0
    if periodic:
        west = np.concatenate([ext[:, :, -1:], ext], axis=2)[:, :, : ni + 1]
        east = np.concatenate([ext, ext[:, :, :1]], axis=2)
    else:
        west = np.concatenate([np.broadcast_to(outside[:, None, None], (nr + 1, nj, 1)), ext], axis=2)
        east = np.concatenate([ext, np.broadcast_to(outside[:, None, None], (nr + 1, nj, 1))], axis=2)
    south = np.concatenate([np.broadcast_to(outside[:, None, None], (nr + 1, 1, ni)), ext], axis=1)
    north = np.concatenate([ext, np.broadcast_to(outside[:, None, None], (nr + 1, 1, ni))], axis=1)
    return west, east, south, north


def border_fraction(receptor_fraction: np.ndarray) -> np.ndarray:
    """Area fractions ``(R + 1, J, I)`` of the regions of the border-flux matrices: the receptors ``(R, J, I)`` and
    :data:`OTHER`, the rest of every cell (land outside the receptors, and sea)."""
    rest = np.clip(1.0 - receptor_fraction.sum(axis=0), 0.0, 1.0)
    return np.concatenate([receptor_fraction, rest[None]], axis=0)


def border_faces(region_fraction: np.ndarray, periodic: bool) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks ``(J, I + 1)`` of the u faces and ``(J + 1, I)`` of the v faces that join two different regions
    (with OUTSIDE beyond the edges of a bounded grid): the faces whose two cells' region fractions ``a``, ``b`` have
    ``sum_{r != s} a_r b_s > 0``. Only these faces enter the border-flux matrices, so a run need not accumulate the
    others (:meth:`popstransport.model.Model.reset_face_mass`). On a periodic grid face I (face 0 again) is left
    out."""
    west, east, south, north = _face_neighbours(np.asarray(region_fraction, dtype=float), periodic)

    def joins(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a.sum(axis=0) * b.sum(axis=0) - (a * b).sum(axis=0) > 0.0

    mu = joins(west, east)
    if periodic:
        mu[:, -1] = False
    return mu, joins(south, north)


def _sum_leading(a: np.ndarray, keep: int) -> np.ndarray:
    a = np.asarray(a)
    return a.reshape((-1,) + a.shape[-keep:]).sum(axis=0)


def _border(frac: np.ndarray, ue: np.ndarray, uw: np.ndarray, vn: np.ndarray, vs: np.ndarray, periodic: bool,
            faces: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    nr, nj, ni = frac.shape
    west, east, south, north = _face_neighbours(frac, periodic)
    if faces is not None:
        # accumulators of some faces only: their neighbours' fractions, face by face
        iu, iv = (np.asarray(f, dtype=np.int64) for f in faces)
        west, east = west.reshape(nr + 1, -1)[:, iu], east.reshape(nr + 1, -1)[:, iu]
        south, north = south.reshape(nr + 1, -1)[:, iv], north.reshape(nr + 1, -1)[:, iv]
        last = iu % (ni + 1) == ni
    else:
        last = np.zeros(ni + 1, dtype=bool)
        last[ni] = True
    if periodic and last.any():
        # face I duplicates face 0: count each physical face once
        ue = ue.copy()
        uw = uw.copy()
        ue[..., last] = 0.0
        uw[..., last] = 0.0
    out = np.zeros((ue.shape[0], (nr + 1) ** 2))
    out += _region_pairs(west, east, ue)
    out += _region_pairs(east, west, uw)
    out += _region_pairs(south, north, vn)
    out += _region_pairs(north, south, vs)
    return out.reshape(-1, nr + 1, nr + 1)


def _region_pairs(src: np.ndarray, dst: np.ndarray, flux: np.ndarray) -> np.ndarray:
    """``sum_f src[a, f] dst[b, f] flux[t, f]`` for ``a != b`` (zero for ``a == b``), as ``(T, (R + 1)^2)``.

    ``src``, ``dst`` ``(R + 1, ...)`` are the region fractions of the cells on either side of every face, ``flux``
    ``(T, ...)`` the gross mass through it. Only the pairs of regions a face actually joins are formed (a face inside
    one region joins none), so the cost goes with the border faces and their region pairs, not with
    ``(R + 1)^2 x T x faces``."""
    nreg = src.shape[0]
    s2 = src.reshape(nreg, -1)
    d2 = dst.reshape(nreg, -1)
    f2 = flux.reshape(flux.shape[0], -1)
    sa, sf = np.nonzero(s2)
    da, df = np.nonzero(d2)
    # every non-zero source fraction with every non-zero destination fraction of the same face
    order = np.argsort(df, kind="stable")
    df_sorted = df[order]
    lo = np.searchsorted(df_sorted, sf, "left")
    cnt = np.searchsorted(df_sorted, sf, "right") - lo
    rep = np.repeat(np.arange(sf.size), cnt)
    within = np.arange(int(cnt.sum())) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    pick = order[np.repeat(lo, cnt) + within]
    a, b, face = sa[rep], da[pick], sf[rep]
    keep = a != b
    a, b, face = a[keep], b[keep], face[keep]
    weight = s2[a, face] * d2[b, face]
    pairs = scipy.sparse.csr_matrix((weight, (a * nreg + b, face)), shape=(nreg * nreg, s2.shape[1]))
    return np.asarray((pairs @ f2.T).T)


def parse_scale(text: str) -> dict[str, float]:
    """Parse ``"CHN=0.5,IND=0.8"`` into ``{"CHN": 0.5, "IND": 0.8}`` with clear errors.

    Region files name their regions freely, so an entry's factor is the text after its *last* ``=`` and an entry
    ends at the comma after its factor: ``"Zone=A=0.5"`` scales the source ``Zone=A``, and ``"Tokyo, Japan=0.5,CHN=0.8"``
    the source ``Tokyo, Japan``. A source whose name has a comma after an ``=`` (``"Zone=A, north"``) cannot be
    told apart from two entries that way: quote it as the messages of a run list such names, ``'Zone=A, north'=0.5``
    (single or double quotes, taken as they are)."""
    usage = ("expected SOURCE=FACTOR entries separated by commas, such as CHN=0.5,IND=0.8 (the factor is the text "
             "after an entry's last '='; quote a source named with ',' or '=' as 'NAME'=FACTOR)")
    if not text.replace(",", "").strip():
        raise AttributionError("--scale is empty: give SOURCE=FACTOR pairs such as CHN=0.5")
    pairs: list[tuple[str, str, str]] = []  # (entry as given, source, factor)
    rest = text
    while rest.strip(" ,"):
        rest = rest.lstrip(" ,")
        if rest[0] in "'\"":
            end = rest.find(rest[0], 1)
            entry = rest.partition(",")[0] if end < 0 else rest[:end + 1] + rest[end + 1:].partition(",")[0]
            name, after = rest[1:end], rest[end + 1:].lstrip()
            if end < 0 or not after.startswith("="):
                what = "its closing quote is missing" if end < 0 else "the quoted source is not followed by =FACTOR"
                raise AttributionError(f"--scale {text!r}: entry {entry.strip()!r}: {what}; {usage}")
            value, _, rest = after[1:].partition(",")  # (a quoted name is taken as it is, spaces too)
        else:
            entry = ""
            while True:  # (the pieces between commas up to the first with an '=': a name may hold commas)
                piece, comma, rest = rest.partition(",")
                entry += piece
                if "=" in piece or not comma:
                    break
                entry += comma
            if "=" not in entry:
                raise AttributionError(f"--scale {text!r}: entry {entry.strip()!r} has no =FACTOR; {usage}")
            name, _, value = entry.rpartition("=")
            name = name.strip()
        pairs.append((entry.strip(), name, value.strip()))
    out: dict[str, float] = {}
    for entry, key, value in pairs:
        if not key:
            raise AttributionError(f"--scale {text!r}: entry {entry!r} has no source before its '='; {usage}")
        try:
            factor = float(value)
        except ValueError:
            raise AttributionError(f"--scale {text!r}: entry {entry!r}: factor {value!r} of {key!r} is not a number; "
                                   f"{usage}") from None
        if not np.isfinite(factor) or factor < 0:
            raise AttributionError(f"--scale {text!r}: factor of {key!r} must be finite and >= 0")
        if key in out:
            raise AttributionError(f"--scale {text!r}: {key!r} is given more than once; give each source one factor")
        out[key] = factor
    return out


def scale_text(scale: Mapping[str, float]) -> str:
    """``scale`` as :func:`parse_scale` reads it (``CHN=0.5,'Zone=A, north'=0.8``): a source named with ',' or '='
    is quoted."""
    return ",".join(f"{k!r}={v:g}" if "," in k or "=" in k else f"{k}={v:g}" for k, v in scale.items())


def boundary_hint(unknown: list[str]) -> str:
    """What to add to an error about unknown sources when ``BOUNDARY`` is among them: where that tag comes from."""
    if BOUNDARY not in unknown:
        return ""
    return (f"; {BOUNDARY} (the inflow through a regional domain's open boundaries) is a tag only of a tagged run "
            "with domain.inflow_mixing_ratio > 0")


def scenario_weights(sources: tuple[str, ...] | list[str], scale: Mapping[str, float]) -> np.ndarray:
    """Per-tag weights of a scenario (1 for unscaled tags); unknown sources are errors listing the valid ones, and so
    are factors that are not finite numbers >= 0 (``scale`` is a mapping such as ``{"CHN": 0.5}``; a text
    ``"CHN=0.5"`` goes through :func:`parse_scale` first)."""
    if not isinstance(scale, Mapping):
        hint = " (parse a text such as 'CHN=0.5,IND=0.8' with parse_scale)" if isinstance(scale, str) else ""
        raise AttributionError(f"scenario scale {scale!r}: expected a mapping of source to factor such as "
                               f"{{'CHN': 0.5, 'IND': 0.8}}{hint}")
    for key, factor in scale.items():
        if isinstance(factor, bool) or not isinstance(factor, (int, float, np.integer, np.floating)) \
                or not np.isfinite(factor) or factor < 0:
            raise AttributionError(f"scenario scale of {key!r} = {factor!r}: expected a finite factor >= 0 (a "
                                   "scenario scales a source's emissions; 0 removes them)")
    sources = list(sources)
    unknown = [s for s in scale if s not in sources]
    if unknown:
        others = [s for s in unknown if s != BOUNDARY]
        why = "" if not others else (
            "; a run tags only the sources that emit in its domain (a country without emissions there has no tag, "
            "and scaling it would change nothing)" + ("" if "OTHER" not in sources else ", and with attribution.tags = "
                                                       "'list' the sources not listed are together in OTHER"))
        raise AttributionError(
            f"scenario scales unknown source(s) {unknown}; the run's source tags are: {name_list(sources)}"
            + why + boundary_hint(unknown)
        )
    return np.array([float(scale.get(s, 1.0)) for s in sources])


def name_list(names) -> str:
    """``names`` joined by commas for messages, with the names that hold a comma quoted (a region from a file may be
    called 'Central, China', which joined as it is would read as two)."""
    return ", ".join(repr(n) if "," in n else n for n in map(str, names))


def apply_scenario(tag_values: np.ndarray, weights: np.ndarray, axis: int = 0) -> np.ndarray:
    """Scenario result: the tag results weighted and summed along ``axis``."""
    tag_values = np.moveaxis(np.asarray(tag_values), axis, 0)
    return np.tensordot(weights, tag_values, axes=(0, 0))


#: The terms of :func:`region_air_budget`, in table order: inputs, outputs, then the residual.
REGION_AIR_BUDGET_TERMS = ("burden_start", "emitted", "net_inflow", "wet_deposition", "dry_deposition",
                           "air_surface_exchange", "degraded", "burden_end", "residual")


def region_air_budget_ranking(emitted_kg: np.ndarray, net_inflow_kg: np.ndarray) -> list[int]:
    """Indices of the regions of a region air budget from the largest input to the smallest: emitted plus the net
    inflow where it is positive (the order of the report's table and of the bars of
    :func:`popstransport.plotting.plot_region_air_budget`; ties keep the regions' order)."""
    inputs = np.asarray(emitted_kg, dtype=float) + np.maximum(np.asarray(net_inflow_kg, dtype=float), 0.0)
    return [int(k) for k in np.argsort(-inputs, kind="stable")]


def region_air_budget(region_fraction: np.ndarray, air_cell_budget_kg: Mapping[str, np.ndarray],
                      border_flux_kg: np.ndarray) -> dict[str, np.ndarray]:
    """The air compartment's budget of every region of the border-flux matrices over one period (kg, ``(R,)`` each).

    Every per-cell term (:attr:`popstransport.simulation.PeriodResult.air_cell_budget_kg`: the burden at the start
    and the end, emission into air, wet and dry deposition and net air-surface exchange out of air, degradation in
    air, all summed over the layers) is shared among the regions by their area fraction in the cell, as the
    source-receptor matrices share deposition. The horizontal inflow is the border-flux matrix's:

        net_inflow[r] = sum_a border_flux[a, r] - sum_b border_flux[r, b]       (a, b over the regions and OUTSIDE)

    which is exactly the advective change of ``sum_cells f_r x air mass``: a face carrying gross mass ``G`` from
    cell 1 to cell 2 books ``f_a(1) f_r(2) G`` into ``r`` from every ``a != r`` and ``f_r(1) f_b(2) G`` out of it to
    every ``b != r``, which nets to ``(f_r(2) - f_r(1)) G`` when the fractions of every cell sum to 1 (as
    :func:`border_fraction` makes them). Vertical exchange between air layers stays inside a column and does not
    appear. The residual ``burden_start + emitted + net_inflow - wet_deposition - dry_deposition -
    air_surface_exchange - degraded - burden_end`` is round-off.

    Parameters
    ----------
    region_fraction
        ``(R, J, I)`` area fractions of the border-flux regions (receptors and ``OTHER``), summing to 1 per cell.
    air_cell_budget_kg
        The per-cell terms ``(J, I)`` by name (``burden_start``, ``emitted``, ``wet_deposition``,
        ``dry_deposition``, ``air_surface_exchange``, ``degraded``, ``burden_end``).
    border_flux_kg
        ``(R + 1, R + 1)`` gross border fluxes of the period, the last index ``OUTSIDE`` (:func:`border_flux_matrix`).

    Returns
    -------
    dict
        ``(R,)`` arrays named by :data:`REGION_AIR_BUDGET_TERMS`.
    """
    nr = region_fraction.shape[0]
    names = [k for k in REGION_AIR_BUDGET_TERMS if k not in ("net_inflow", "residual")]
    cells = np.stack([np.asarray(air_cell_budget_kg[k], dtype=float).reshape(-1) for k in names])
    # (one product of the fractions with all the terms: 245 countries on a 1-degree grid in milliseconds)
    shared = np.asarray(region_fraction, dtype=float).reshape(nr, -1) @ cells.T
    out = {k: shared[:, n] for n, k in enumerate(names)}
    gross = np.asarray(border_flux_kg, dtype=float)
    out["net_inflow"] = gross.sum(axis=0)[:nr] - gross.sum(axis=1)[:nr]
    out["residual"] = (out["burden_start"] + out["emitted"] + out["net_inflow"] - out["wet_deposition"]
                       - out["dry_deposition"] - out["air_surface_exchange"] - out["degraded"] - out["burden_end"])
    return {k: out[k] for k in REGION_AIR_BUDGET_TERMS}
