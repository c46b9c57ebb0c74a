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


PAR = "[ensemble]\nmembers = 2\n[ensemble.parameters]\n'emissions.scale' = "


@pytest.mark.parametrize("text, match", [
    ("[ensemble]\nmembers = 0\n", "ensemble.members = 0"),
    ("[ensemble]\nmembers = 2\n[ensemble.parameters]\n'emissions.scale' = { distribution = 'beta', a = 1.0 }\n",
     "allowed values are normal"),
    ("[ensemble]\nmembers = 2\n[ensemble.parameters]\n'emissions.scale' = { distribution = 'uniform', low = 1.0 }\n",
     "takes exactly low, high"),
    ("[ensemble]\nmembers = 2\n[ensemble.parameters]\n'emissions.scale' = { distribution = 'uniform', low = 2.0, high = 1.0 }\n",
     "needs low < high"),
    ("[ensemble]\nmembrs = 2\n", "unknown key ensemble.membrs"),
    ("[ensemble]\nmembers = 2\nseed = -1\n", r"ensemble\.seed = -1: expected a whole number >= 0"),
    ("[ensemble]\nmembers = 2\nseed = 1.5\n", r"ensemble\.seed = 1\.5: expected a whole number >= 0"),
    (PAR + "2.0\n", r"ensemble\.parameters\.'emissions\.scale' must be a table with a 'distribution' key"),
    (PAR + "{ low = 1.0 }\n", r"must be a table with a 'distribution' key"),
    (PAR + "{ distribution = 'lognormal', median = 0.0, factor = 2.0 }\n",
     r"lognormal needs median > 0 and factor >= 1"),
    (PAR + "{ distribution = 'lognormal', median = 1.0, factor = 0.5 }\n",
     r"lognormal needs median > 0 and factor >= 1"),
    (PAR + "{ distribution = 'loguniform', low = 0.0, high = 2.0 }\n", r"loguniform needs low > 0"),
    (PAR + "{ distribution = 'normal', mean = 1.0, sd = -0.1 }\n", r"sd must be >= 0"),
    ("ensemble = 3\n", r"\[ensemble\] must be a table with members, seed and \[ensemble\.parameters\]"),
    ("[ensemble]\nmembers = 2\n", r"ensemble\.parameters must be a table of key path"),
    (PAR + "{ distribution = 'uniform', low = 'a', high = 1.0 }\n",
     r"ensemble\.parameters\.'emissions\.scale'\.low = 'a': expected a finite number"),
    (PAR + "{ distribution = 'triangular', low = 0.5, mode = 2.0, high = 1.5 }\n",
     r"triangular needs low <= mode <= high"),
    ("[ensemble]\nmembers = 2\n[ensemble.parameters]\nscale = { distribution = 'uniform', low = 0.5, high = 1.5 }\n",
     r"ensemble\.parameters\.'scale': key paths look like section\.key"),
])
def test_ensemble_config_errors(tmp_path, text, match):
    p = tmp_path / "e.toml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_config(p)


def test_ensemble_run_needs_an_ensemble_section(tmp_path):
    from popstransport.ensemble import run_ensemble

    with pytest.raises(ValueError, match=r"the configuration has no \[ensemble\] section"):
        run_ensemble(load_config(None), tmp_path / "out")
    assert not (tmp_path / "out").exists()
