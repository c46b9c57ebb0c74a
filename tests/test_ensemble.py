"""An ensemble of 20 members reproduces a hand-run member exactly and gives summary statistics."""

import csv

import numpy as np
import pytest
import xarray as xr

from popstransport.config import ConfigError, load_config
from popstransport.ensemble import draw_members, member_overrides, run_ensemble
from popstransport.run import run

BASE = ["domain.resolution_deg=15", "time.stop=2010-02-01", "met.source=synthetic", "emissions.source=uniform",
        "time.step_hours=12"]
ENSEMBLE = """
[ensemble]
members = 20
seed = 7
[ensemble.parameters]
"processes.air_half_life_days" = { distribution = "lognormal", median = 60.0, factor = 2.0 }
"emissions.scale" = { distribution = "uniform", low = 0.5, high = 1.5 }
"""


def test_ensemble_reproduces_member_and_summarises(tmp_path):
    path = tmp_path / "ens.toml"
    path.write_text(ENSEMBLE)
    cfg = load_config(path, BASE)
    out = run_ensemble(cfg, tmp_path / "ens")
    with open(out / "ensemble_members.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 20
    k = 13
    values = {key: float(rows[k][key]) for key in ("processes.air_half_life_days", "emissions.scale")}
    assert values == draw_members(cfg.ensemble)[k]
    import dataclasses

    hand = run(dataclasses.replace(cfg, ensemble={}).with_overrides(member_overrides(values)), tmp_path / "hand")
    with xr.open_dataset(hand / "fields.nc") as a, xr.open_dataset(out / rows[k]["directory"] / "fields.nc") as b:
        for v in a.data_vars:
            assert np.array_equal(a[v].values, b[v].values), v
    with xr.open_dataset(out / "ensemble_summary.nc") as s:
        med, lo, hi = (s[f"air_concentration_{q}"].values for q in ("median", "p05", "p95"))
        assert np.all(lo <= med) and np.all(med <= hi)
        assert np.any(hi > lo)
        # the emission scale is uniform on 0.5..1.5: the median emission is about the base emission
        emis = s["emission_flux_median"].values.sum()
    with xr.open_dataset(hand / "fields.nc") as a:
        base = a["emission_flux"].values.sum() / values["emissions.scale"]
    assert 0.7 < emis / base < 1.3


@pytest.mark.parametrize("text, match", [
    ("[ensemble]\nmembers = 0\n", "ensemble.members = 0"),
    ("[ensemble]\nmembers = 2\n[ensemble.parameters]\n'emissions.scale' = { distribution = 'beta', a = 1.0 }\n",
     "allowed values are normal"),
    ("[ensemble]\nmembers = 2\n[ensemble.parameters]\n'emissions.scale' = { distribution = 'uniform', low = 1.0 }\n",
     "takes exactly low, high"),
    ("[ensemble]\nmembers = 2\n[ensemble.parameters]\n'emissions.scale' = { distribution = 'uniform', low = 2.0, high = 1.0 }\n",
     "needs low < high"),
    ("[ensemble]\nmembrs = 2\n", "unknown key ensemble.membrs"),
])
def test_ensemble_config_errors(tmp_path, text, match):
    p = tmp_path / "e.toml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_config(p)
