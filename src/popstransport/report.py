"""The run report: one self-contained HTML page (figures embedded as PNG data URIs, no external files or scripts).

Sections: the run at a glance, warnings, the mass budget (table and chart), maps, the source-receptor table with
foreign shares (tagged runs), the scenarios (the ``[[scenarios]]`` of the configuration and any other scenario
folder of the run, with what each scales and, where its folder holds them, its emission and deposition against the
run's), the largest border fluxes, the air budget of every region (runs with border fluxes), and the
resolved configuration.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import os
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .io.writers import written_by
from .results import RunResults, open_run

_CSS = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 0 auto; max-width: 1150px;
       padding: 1.5em; color: #222; background: #fff; line-height: 1.4; }
h1 { font-size: 1.7em; margin-bottom: 0.2em; }
h2 { font-size: 1.3em; border-bottom: 2px solid #4a78a8; padding-bottom: 0.15em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #e8eef5; }
td.name, th.name { text-align: left; }
tr:nth-child(even) td { background: #f7f9fb; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { font-size: 0.85em; color: #555; }
pre { background: #f4f4f4; padding: 0.8em; overflow-x: auto; font-size: 0.85em; border: 1px solid #ddd; }
.warn { background: #fff4e0; border-left: 5px solid #e69500; padding: 0.5em 1em; }
.ok { background: #e9f6ec; border-left: 5px solid #2e9e4f; padding: 0.5em 1em; }
.meta td { text-align: left; }
.small { font-size: 0.85em; color: #555; }
"""


def _img(fig, alt: str) -> str:
    import matplotlib.pyplot as plt

    from .plotting import DPI

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": f"popstransport {__version__}"})
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'


def _figure(fig, caption: str) -> str:
    return f"<figure>{_img(fig, caption)}<figcaption>{html.escape(caption)}</figcaption></figure>"


def _num(v: float, digits: int = 4) -> str:
    if v is None or not np.isfinite(v):
        return "n/a"
    return f"{v:.{digits}g}"


def _pct(v: float) -> str:
    return "n/a" if v is None or not np.isfinite(v) else f"{100 * v:.1f}%"


def _when(t: np.datetime64) -> str:
    text = str(np.datetime64(t, "s"))
    return text[:-9] if text.endswith("T00:00:00") else text.replace("T", " ")


def _table(header: list[str], rows: list[list[str]], name_cols: int = 1) -> str:
    head = "".join(f'<th class="name">{html.escape(h)}</th>' if k < name_cols else f"<th>{html.escape(h)}</th>"
                   for k, h in enumerate(header))
    body = []
    for r in rows:
        cells = "".join(f'<td class="name">{html.escape(c)}</td>' if k < name_cols else f"<td>{html.escape(c)}</td>"
                        for k, c in enumerate(r))
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _budget_section(run: RunResults) -> str:
    from .plotting import budget_terms, period_labels

    b = run.budget
    bnds = b["time_bnds"].values
    labels = period_labels(bnds[:, 0], bnds[:, 1])
    ins, outs = budget_terms(b)
    names = [str(v) for v in b.data_vars]
    comps = [n[len("burden_end_"):-3] for n in names if n.startswith("burden_end_") and n.endswith("_kg")]

    def col(prefix: str) -> np.ndarray:
        return sum((np.asarray(b[n].values, dtype=float) for n in names if n.startswith(prefix) and "_to_" not in n),
                   np.zeros(b.sizes["time"]))

    emitted, degraded = col("emitted_"), col("degraded_")
    other_sinks = col("buried_") + col("leached_") + col("settled_")
    inflow = np.asarray(b["inflow_kg"].values) if "inflow_kg" in b else np.zeros_like(emitted)
    outflow = np.asarray(b["outflow_kg"].values) if "outflow_kg" in b else np.zeros_like(emitted)
    burden = col("burden_end_")
    rel = np.asarray(b["relative_closure_error"].values) if "relative_closure_error" in b else np.full_like(emitted,
                                                                                                             np.nan)
    rows = [[lab, _num(e), _num(i), _num(d), _num(s), _num(o), _num(bu), f"{r:.1e}"]
            for lab, e, i, d, s, o, bu, r in zip(labels, emitted, inflow, degraded, other_sinks, outflow, burden, rel)]
    rows.append(["whole run", _num(emitted.sum()), _num(inflow.sum()), _num(degraded.sum()), _num(other_sinks.sum()),
                 _num(outflow.sum()), _num(burden[-1]) if burden.size else "n/a",
                 f"{np.nanmax(np.abs(rel)):.1e}" if rel.size else "n/a"])
    table = _table(["period", "emitted (kg)", "inflow (kg)", "degraded (kg)", "buried, leached, settled (kg)",
                    "outflow (kg)", "burden at end (kg)", "relative closure error"], rows)
    comp_text = ", ".join(comps)
    return (f"<h2>Mass budget</h2><p class='small'>Burden at start + emitted + inflow = burden at end + degraded + "
            f"buried + leached + settled + outflow (kg, all compartments: {html.escape(comp_text)}). Terms in the chart: "
            f"{len(ins)} sources, {len(outs)} sinks and storage terms; every term per compartment is in budget.csv."
            f"</p>{table}" + _figure(run.plot_budget(), "Mass budget per output period: sources (left bar) and sinks "
                                                         "and storage (right bar)."))


def _source_receptor_section(run: RunResults, max_sources: int = 10) -> str:
    from .plotting import foreign_label

    sr = run.source_receptor
    if sr is None:
        return ("<h2>Source-receptor deposition</h2><p>This run was not tagged, so there is no source attribution. "
                "Run with <code>--set attribution.tags=countries</code> to get it.</p>")
    sources = [str(s) for s in sr["source"].values]
    order = np.argsort(-sr["total"].values, kind="stable")
    weight = np.nansum(np.abs(sr["deposition"].values), axis=0)
    shown = [int(k) for k in np.argsort(-weight, kind="stable")[:max_sources]]
    rest = [k for k in range(len(sources)) if k not in shown]
    rows = []
    for k in order:
        r = sr.isel(receptor=int(k))
        share = r["share"].values
        cells = [_pct(float(share[j])) for j in shown]
        if rest:
            cells.append(_pct(float(np.nansum(share[rest]))))
        lo = float(r["foreign_share_lower"]) if "foreign_share_lower" in r else float(r["foreign_share"])
        rows.append([str(r["receptor"].values), _num(float(r["total"])), *cells,
                     foreign_label(lo, float(r["foreign_share"])).replace(" foreign", "")])
    heads = [f"from {sources[j]}" for j in shown] + ([f"from the other {len(rest)} sources"] if rest else [])
    table = _table(["receptor", "net deposition (kg)", *heads, "foreign share"], rows)
    em = np.asarray(sr["emission"].values, dtype=float)
    by_emission = [int(k) for k in np.argsort(-em, kind="stable")]
    emis = ", ".join(f"{sources[k]} {_num(em[k])}" for k in by_emission[:max_sources])
    if len(by_emission) > max_sources:
        emis += f", the other {len(by_emission) - max_sources} sources {_num(float(em[by_emission[max_sources:]].sum()))}"
    return ("<h2>Source-receptor deposition</h2>"
            "<p class='small'>Net deposition (wet + dry + net air-surface exchange) onto every receptor over the whole run, "
            "and the share of each source tag. Foreign share: deposition from other sources than the receptor itself "
            "(and the initial burden); a range where the receptor is not a source tag, so that its own emissions are "
            f"inside OTHER. The table shows the {max_sources} largest sources; all are in "
            f"source_receptor_deposition.csv. Emissions by source (kg): {html.escape(emis)}.</p>"
            + _figure(run.plot_source_receptor(), "Share of every source in the deposition of the receptors with the "
                                                  "largest deposition.")
            + table)


def _scale_words(scale: dict[str, float] | str) -> str:
    """``{"CHN": 0.5}`` or a folder's ``scenario_scale`` attribute ``"CHN=0.5"`` (read by
    :func:`popstransport.attribution.parse_scale`, which keeps a region name with a comma whole) as ``"CHN x 0.5"``."""
    from .attribution import parse_scale

    if isinstance(scale, str):
        scale = parse_scale(scale) if scale.replace(",", "").strip() else {}
    return ", ".join(f"{code} x {float(factor):g}" for code, factor in scale.items())


def _scenarios_section(run: RunResults) -> str:
    """The run's scenarios: those of its ``[[scenarios]]`` and any other folder in ``RUN_DIR/scenarios`` (written with
    ``popstransport scenario``), with what each scales and, from its ``attribution.nc``, its emission and net
    deposition onto the receptors over the whole run against the run's ("" for a run without scenarios)."""
    import xarray as xr

    from .config import scenario_name

    configured = {scenario_name(sc, k): _scale_words(sc.get("scale", {}))
                  for k, sc in enumerate(run.config.get("scenarios", []))}
    folder = run.path / "scenarios"
    written = ({p.name: p for p in sorted(folder.iterdir()) if (p / "attribution.nc").is_file()}
               if folder.is_dir() else {})
    names = [*configured, *(n for n in written if n not in configured)]
    if not names:
        return ""
    att = run.attribution
    base_emission = float(att["emission"].sum()) if att is not None else float("nan")
    base_deposition = float(att["deposition"].sum()) if att is not None else float("nan")

    def change(value: float, base: float) -> str:
        return f"{100 * (value - base) / abs(base):+.3g}%" if np.isfinite(base) and base != 0 else "n/a"

    rows, missing = [], []
    for name in names:
        changes = configured.get(name, "")
        if name in written:
            with xr.open_dataset(written[name] / "attribution.nc") as sc:
                changes = changes or _scale_words(str(sc.attrs.get("scenario_scale", "")))
                emission, deposition = float(sc["emission"].sum()), float(sc["deposition"].sum())
            rows.append([name, changes, _num(emission), change(emission, base_emission), _num(deposition),
                         change(deposition, base_deposition)])
        else:
            missing.append(name)
            rows.append([name, changes, "not written", "", "not written", ""])
    table = _table(["scenario", "scales the emissions of", "emission (kg)", "change from the run", "net deposition onto "
                    "the receptors (kg)", "change from the run"], rows, name_cols=2)
    note = (f" The results of {', '.join(missing)} are not in the run directory: write them with <code>popstransport "
            f"scenario {html.escape(str(run.path))} --scale SOURCE=FACTOR,... --name NAME</code>." if missing else "")
    return ("<h2>Scenarios</h2><p class='small'>Scenarios scale the emissions of source tags (sources not named keep "
            "theirs); their results are weighted sums of the tags' results, in scenarios/NAME/. Totals over the whole "
            f"run; the run's own: emission {_num(base_emission)} kg, net deposition onto the receptors "
            f"{_num(base_deposition)} kg.{note}</p>" + table)


def _border_section(run: RunResults, n: int = 15) -> str:
    if run.border_fluxes is None:
        return "<h2>Border fluxes</h2><p>No border fluxes in this run (untagged, or attribution.border_fluxes = false).</p>"
    rows = [[r["region_from"], r["region_to"], _num(r["gross_kg"]), _num(r["net_kg"])]
            for r in run.largest_border_fluxes(n)]
    table = _table(["from", "to", "gross flux (kg)", "net flux (kg)"], rows, name_cols=2)
    return (f"<h2>Largest border fluxes</h2><p class='small'>The {len(rows)} largest gross advective fluxes across "
            "region borders over the whole run; net = gross(from &rarr; to) - gross(to &rarr; from). OTHER: the rest "
            "of the domain; OUTSIDE: the domain edge. All pairs are in border_flux.csv.</p>" + table
            + _figure(run.plot_border_fluxes(), "Largest net border fluxes (arrows) and gross flux matrix."))


def _region_air_budget_section(run: RunResults, n: int = 12) -> str:
    """The air budget of every region over the whole run: the ``n`` regions with the largest emitted + net inflow (where
    it is positive), the others summed in one row ("" for a run without region air budgets)."""
    from .attribution import REGION_AIR_BUDGET_TERMS, region_air_budget_ranking
    from .io.attribution_writer import relative_residual

    b = run.region_air_budgets
    if b is None:
        return ""
    regions = [str(r) for r in b["region"].values]
    values = np.stack([np.asarray(b[t].values, dtype=float) for t in REGION_AIR_BUDGET_TERMS], axis=-1)
    rel = np.asarray(b["relative_residual"].values, dtype=float)
    order = region_air_budget_ranking(b["emitted"].values, b["net_inflow"].values)
    shown, rest = order[:n], order[n:]
    rows = [[regions[k], *(_num(v) for v in values[k, :-1]), _num(values[k, -1], 2), f"{rel[k]:.1e}"] for k in shown]
    if rest:
        summed = values[rest].sum(axis=0)
        rows.append([f"the other {len(rest)} regions", *(_num(v) for v in summed[:-1]), _num(summed[-1], 2),
                     f"{float(relative_residual(summed)):.1e}"])
    table = _table(["region", "burden at start (kg)", "emitted (kg)", "net inflow (kg)", "wet deposition (kg)",
                    "dry deposition (kg)", "net air-surface exchange (kg)", "degraded (kg)", "burden at end (kg)",
                    "residual (kg)", "relative residual"], rows)
    worst = int(np.argmax(rel))
    closes = (f"Every region's budget closes to {rel[worst]:.1e} of its largest term or better (the largest relative "
              f"residual, of {regions[worst]})." if rel.size else "")
    return ("<h2>Region air budgets</h2><p class='small'>The air of every region (all its air layers) over the whole "
            "run: burden at start + emitted + net inflow across its borders (from the border fluxes, the domain edge "
            "included) = wet deposition + dry deposition + net air-surface exchange (downward) + degraded + burden at "
            f"end + residual. The {len(shown)} regions with the largest emitted + net inflow (where positive)"
            + (f"; the other {len(rest)} summed in the last row" if rest else "")
            + f"; every region and output period is in region_air_budget.csv. {html.escape(closes)}</p>" + table
            + _figure(run.plot_region_air_budget(n=n), "Air budget of the regions of the table over the whole run: "
                                                      "inputs above zero, outputs and the burden at end below."))


def render_report(run: RunResults) -> str:
    """The HTML text of the report of ``run``."""
    sel = run.select(None)
    warnings = run.warnings()
    if warnings:
        warn_html = "<div class='warn'><ul>" + "".join(f"<li>{html.escape(w)}</li>" for w in warnings) + "</ul></div>"
    else:
        warn_html = ("<div class='ok'>No warnings: the budget closes to round-off, no negative or non-finite values"
                     + (", and no warnings.txt in the run directory." if not (run.path / "warnings.txt").exists()
                        else ".") + "</div>")
    dom = run.config.get("domain", {})
    grid = f"{run.fields.sizes['lon']} x {run.fields.sizes['lat']} cells, {run.fields.sizes.get('layer', 1)} air layer(s)"
    meta_rows = [
        ["run directory", str(run.path.resolve())],
        ["chemical", run.chemical],
        ["simulated period", f"{_when(sel.start)} to {_when(sel.end)} ({run.fields.sizes['time']} output periods)"],
        ["domain", f"{dom.get('kind', '?')}: lon {_num(run.lon_edges[0])} to {_num(run.lon_edges[-1])}, lat "
                   f"{_num(run.lat_edges[0])} to {_num(run.lat_edges[-1])}, {grid}"],
        ["met, emissions", f"{run.config.get('met', {}).get('source', '?')}, "
                           f"{run.config.get('emissions', {}).get('source', '?')}"],
        ["attribution", str(run.config.get("attribution", {}).get("tags", "none"))],
        ["written by", f"{written_by(run.fields.attrs)}, {run.created}"],
        ["libraries", str(run.fields.attrs.get("software_versions", "not recorded"))],
        *[["input files" if k == 0 else "", line]
          for k, line in enumerate(str(run.fields.attrs.get("input_files", "not recorded")).splitlines())],
        ["report", f"popstransport {__version__}, {_dt.datetime.now(_dt.UTC).isoformat(timespec='seconds')}"],
    ]
    meta = _table(["", ""], meta_rows).replace("<thead><tr><th class=\"name\"></th><th></th></tr></thead>", "")
    maps = "".join([
        "<h2>Maps</h2><p class='small'>Means over the whole run. Logarithmic colour scales where the values span "
        "more than two orders of magnitude.</p>",
        _figure(run.plot_air_concentration(), "Air concentration of the lowest layer, pg m-3."),
        _figure(run.plot_deposition(), "Net deposition flux (wet + dry + net air-surface exchange), ng m-2 yr-1."),
        _figure(run.plot_soil_burden(), "Soil burden per unit cell area, ng m-2."),
    ])
    title = f"popstransport run report: {run.chemical}, {sel.label}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1><div class='meta'>{meta}</div>",
        "<h2>Warnings</h2>", warn_html,
        _budget_section(run),
        maps,
        _source_receptor_section(run),
        _scenarios_section(run),
        _border_section(run),
        _region_air_budget_section(run),
        "<h2>Configuration</h2><p class='small'>The resolved configuration (config.toml); rerun with "
        "<code>popstransport run config.toml</code>.</p>",
        f"<pre>{html.escape(run.config_text)}</pre>",
        "</body></html>",
    ]
    return "\n".join(parts)


def write_report(run: RunResults | str | Path, out: str | Path | None = None) -> Path:
    """Write the self-contained HTML report of a run; returns its path.

    Parameters
    ----------
    run
        A :class:`RunResults` or a run directory.
    out
        The HTML file (default ``RUN_DIR/report.html``; an existing report is replaced).
    """
    results: Any = run if isinstance(run, RunResults) else open_run(run)
    path = Path(out) if out is not None else results.path / "report.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = render_report(results)
    tmp = path.with_name(f".{path.name}.partial")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


__all__ = ["render_report", "write_report"]
