"""Region air budgets: every region's air budget closes with the border fluxes, and the regions add up to the domain."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from popstransport.attribution import REGION_AIR_BUDGET_TERMS
from popstransport.config import load_config
from popstransport.results import open_run
from popstransport.run import run

TINY = ["domain.resolution_deg=5", "time.stop=2010-01-05", "output.frequency=daily", "met.source=uniform",
        "attribution.tags=countries", "attribution.border_fluxes=true"]


@pytest.fixture(scope="module")
def windy_run(tmp_path_factory):
    """Built-in emissions carried by a south-westerly wind over a regional domain: border fluxes between countries
    and across every edge of the domain, both ways through its southern and western edges."""
    return run(load_config(None, [*TINY, "met.uniform_v_m_s=3.0"]), tmp_path_factory.mktemp("region_air") / "run")


def read_csv(path):
    with open(path, encoding="utf-8") as fh:
        first = fh.readline()
        return first, list(csv.DictReader(fh))


def test_every_region_air_budget_closes_to_round_off(windy_run):
    with open_run(windy_run) as r:
        b = r.attribution["region_air_budget"]
        whole = r.region_air_budgets
    values = b.transpose("time", "region", "air_budget_term").values
    assert [str(t) for t in b["air_budget_term"].values] == list(REGION_AIR_BUDGET_TERMS)
    largest = np.abs(values[..., :-1]).max(axis=-1)
    residual = np.abs(values[..., -1])
    assert np.all(residual <= 1e-9 * largest)
    net = b.sel(air_budget_term="net_inflow").values
    assert b.sizes["time"] == 4 and b.sizes["region"] > 10 and (net > 0).any() and (net < 0).any()
    assert float(whole["relative_residual"].max()) < 1e-9
    # the whole run: burdens of its first start and last end, the other terms summed over the periods
    np.testing.assert_array_equal(whole["burden_start"].values, b.sel(air_budget_term="burden_start").values[0])
    np.testing.assert_array_equal(whole["burden_end"].values, b.sel(air_budget_term="burden_end").values[-1])
    np.testing.assert_allclose(whole["emitted"].values, b.sel(air_budget_term="emitted").values.sum(axis=0), rtol=1e-14)
    first, rows = read_csv(windy_run / "region_air_budget.csv")
    assert first.startswith("# popstransport") and "air budget of every region" in first
    assert len(rows) == values.shape[0] * values.shape[1]
    row = rows[values.shape[1] + 2]  # (the second period's third region)
    assert row["period_start"] == "2010-01-02T00:00:00" and row["region"] == str(b["region"].values[2])
    for k, term in enumerate(REGION_AIR_BUDGET_TERMS):
        assert float(row[f"{term}_kg"]) == values[1, 2, k]
    assert float(row["relative_residual"]) < 1e-9


def test_regions_add_up_to_the_domain_budget(windy_run):
    """Summed over the regions (receptors and OTHER), every term is the domain budget's: burdens, emission and
    degradation of the air layers, the transfers between air and surface by kind, and the inflow minus the outflow
    through the domain's edges."""
    with open_run(windy_run) as r:
        b = r.attribution["region_air_budget"].sum("region")
        dom = r.budget
    names = [str(v) for v in dom.data_vars]

    def total(match):
        return sum(dom[n].values for n in names if match(n))

    def air_surface(prefix):
        down = total(lambda n: n.startswith(prefix) and "_air_" in n and not n.split("_to_")[1].startswith("air"))
        up = total(lambda n: n.startswith(prefix) and n.endswith(tuple(f"_to_air_{k}_kg" for k in range(5))))
        return down - up

    expected = {
        "burden_start": total(lambda n: n.startswith("burden_start_air_")),
        "burden_end": total(lambda n: n.startswith("burden_end_air_")),
        "emitted": total(lambda n: n.startswith("emitted_air_")),
        "degraded": total(lambda n: n.startswith("degraded_air_")),
        "net_inflow": dom["inflow_kg"].values - dom["outflow_kg"].values,
        "wet_deposition": air_surface("wet_deposition_"),
        "dry_deposition": air_surface("dry_deposition_"),
        "air_surface_exchange": air_surface("exchange_"),
    }
    scale = float(np.abs(b.values).max())
    for term, value in expected.items():
        assert np.abs(value).max() > 1e-6 * scale, term  # (every term is at work)
        np.testing.assert_allclose(b.sel(air_budget_term=term).values, value, rtol=0, atol=1e-12 * scale, err_msg=term)


def test_a_region_without_emissions_and_without_inflow_has_a_zero_budget(tmp_path):
    """Without wind nothing crosses a border: a country whose cells have no emission has every term exactly 0, and
    the emitting ones still close."""
    out = run(load_config(None, [*TINY, "time.stop=2010-01-03", "met.uniform_u_m_s=0.0"]), tmp_path / "run")
    with open_run(out) as r:
        b = r.region_air_budgets
    values = np.stack([b[t].values for t in REGION_AIR_BUDGET_TERMS], axis=-1)
    zero = ~np.any(values != 0, axis=-1)
    assert zero.any() and (~zero).any()
    np.testing.assert_array_equal(b["net_inflow"].values, 0.0)
    assert float(b["relative_residual"].max()) < 1e-9


def test_the_air_budgets_of_regions_of_a_file_whose_borders_cut_cells_close(tmp_path):
    """Regions of a GeoJSON file cut the 5-degree cells (at 102.3 E, 112.3 E and 27.7 N): each owns a fraction of
    the cells on its borders, and the border fluxes and budgets split them by it; every region's budget still closes,
    its residual below 1e-9 of its largest term."""
    import json

    def square(x0, y0, x1, y1):
        return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}

    f = tmp_path / "prov.geojson"
    f.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"prov": n}, "geometry": square(*box)}
        for n, box in [("Hunan, west", (102.3, 20.0, 112.3, 27.7)), ("Jiangxi", (112.3, 20.0, 122.0, 35.0)),
                       ("North", (102.3, 27.7, 112.3, 35.0))]]}))
    settings = [*TINY, "time.stop=2010-01-03", f"regions.source={f}",
                "regions.name_attribute=prov", "met.uniform_v_m_s=3.0"]
    out = run(load_config(None, settings), tmp_path / "run")
    with open_run(out) as r:
        b = r.attribution["region_air_budget"]
        whole = r.region_air_budgets
    assert {"Hunan, west", "Jiangxi", "North"} <= {str(x) for x in b["region"].values}
    values = b.transpose("time", "region", "air_budget_term").values
    largest = np.abs(values[..., :-1]).max(axis=-1)
    assert np.all(largest > 0) and np.all(np.abs(values[..., -1]) <= 1e-9 * largest)
    net = b.sel(air_budget_term="net_inflow").values
    assert (net > 0).any() and (net < 0).any()
    assert float(whole["relative_residual"].max()) < 1e-9
