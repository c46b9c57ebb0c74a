"""Ensembles: many runs of one configuration with parameters drawn from distributions, and their summary.

The ``[ensemble]`` section::

    [ensemble]
    members = 20
    seed = 1
    [ensemble.parameters]
    "processes.air_half_life_days" = { distribution = "lognormal", median = 60.0, factor = 2.0 }
    "emissions.scale" = { distribution = "uniform", low = 0.5, high = 1.5 }
    "chemical.overrides.log_Koa_25C" = { distribution = "normal", mean = 9.45, sd = 0.3 }

Every member is the base configuration with the drawn values set at those key paths (exactly what
``--set KEY=VALUE`` does), so any member can be re-run by hand. Distributions: ``normal`` (mean, sd), ``lognormal``
(median, factor: the 84th percentile over the median, i.e. exp(sigma)), ``uniform`` (low, high), ``loguniform``
(low, high), ``triangular`` (low, mode, high). Draws use NumPy's PCG64 generator seeded with ``seed``, member by
member in the order of the parameters, so the ensemble is reproducible.

Outputs: ``members/member_NNN/`` (complete run directories), ``ensemble_members.csv`` (the drawn values) and
``ensemble_summary.nc`` (median, 5th and 95th percentiles across members of every field of ``fields.nc``).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

_DISTRIBUTIONS = {
    "normal": ("mean", "sd"),
    "lognormal": ("median", "factor"),
    "uniform": ("low", "high"),
    "loguniform": ("low", "high"),
    "triangular": ("low", "mode", "high"),
}


def validate_ensemble(raw: Any, where: str = "") -> dict[str, Any]:
    """Check an ``[ensemble]`` table; returns it normalised. Errors name the key path and the allowed values."""
    from .config import ConfigError

    if not isinstance(raw, dict):
        raise ConfigError(f"{where}[ensemble] must be a table with members, seed and [ensemble.parameters]")
    for key in raw:
        if key not in ("members", "seed", "parameters"):
            raise ConfigError(f"{where}unknown key ensemble.{key} (valid keys: members, seed, parameters)")
    members = raw.get("members", 0)
    if isinstance(members, bool) or not isinstance(members, int) or members < 1:
        raise ConfigError(f"{where}ensemble.members = {members!r}: expected a whole number >= 1")
    seed = raw.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"{where}ensemble.seed = {seed!r}: expected a whole number >= 0")
    params = raw.get("parameters", {})
    if not isinstance(params, dict) or not params:
        raise ConfigError(f"{where}ensemble.parameters must be a table of key path = {{ distribution = ..., ... }}")
    out = {}
    for path, spec in params.items():
        if not isinstance(spec, dict) or "distribution" not in spec:
            raise ConfigError(f"{where}ensemble.parameters.{path!r} must be a table with a 'distribution' key")
        dist = spec["distribution"]
        if dist not in _DISTRIBUTIONS:
            raise ConfigError(f"{where}ensemble.parameters.{path!r}.distribution = {dist!r}: allowed values are "
                              f"{', '.join(_DISTRIBUTIONS)}")
        need = _DISTRIBUTIONS[dist]
        extra = [k for k in spec if k not in (*need, "distribution")]
        missing = [k for k in need if k not in spec]
        if missing or extra:
            raise ConfigError(f"{where}ensemble.parameters.{path!r}: a {dist} distribution takes exactly "
                              f"{', '.join(need)} (missing {missing}, unknown {extra})")
        for k in need:
            v = spec[k]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v):
                raise ConfigError(f"{where}ensemble.parameters.{path!r}.{k} = {v!r}: expected a finite number")
        if dist in ("lognormal",) and (spec["median"] <= 0 or spec["factor"] < 1):
            raise ConfigError(f"{where}ensemble.parameters.{path!r}: lognormal needs median > 0 and factor >= 1")
        if dist in ("uniform", "loguniform") and not spec["low"] < spec["high"]:
            raise ConfigError(f"{where}ensemble.parameters.{path!r}: needs low < high")
        if dist == "loguniform" and spec["low"] <= 0:
            raise ConfigError(f"{where}ensemble.parameters.{path!r}: loguniform needs low > 0")
        if dist == "triangular" and not spec["low"] <= spec["mode"] <= spec["high"]:
            raise ConfigError(f"{where}ensemble.parameters.{path!r}: triangular needs low <= mode <= high")
        if dist == "normal" and spec["sd"] < 0:
            raise ConfigError(f"{where}ensemble.parameters.{path!r}: sd must be >= 0")
        if len(path.split(".")) < 2:
            raise ConfigError(f"{where}ensemble.parameters.{path!r}: key paths look like section.key")
        out[path] = {k: (float(v) if k != "distribution" else v) for k, v in spec.items()}
    return {"members": members, "seed": seed, "parameters": out}


def draw_members(ensemble: dict[str, Any]) -> list[dict[str, float]]:
    """Parameter values of every member (reproducible from the seed)."""
    rng = np.random.Generator(np.random.PCG64(ensemble["seed"]))
    members = []
    for _ in range(ensemble["members"]):
        values = {}
        for path, spec in ensemble["parameters"].items():
            d = spec["distribution"]
            if d == "normal":
                v = rng.normal(spec["mean"], spec["sd"])
            elif d == "lognormal":
                v = spec["median"] * np.exp(np.log(spec["factor"]) * rng.standard_normal())
            elif d == "uniform":
                v = rng.uniform(spec["low"], spec["high"])
            elif d == "loguniform":
                v = np.exp(rng.uniform(np.log(spec["low"]), np.log(spec["high"])))
            else:
                v = rng.triangular(spec["low"], spec["mode"], spec["high"])
            values[path] = float(v)
        members.append(values)
    return members


def member_overrides(values: dict[str, float]) -> list[str]:
    """``--set`` strings that reproduce a member (full precision)."""
    return [f"{path}={value!r}" for path, value in values.items()]


def _run_member(config_toml: str, source_path: str, overrides: list[str], out: str) -> str:
    import tomllib

    from .config import config_from_dict
    from .distributed import match_worker_threads
    from .run import run

    match_worker_threads()  # (on a Dask worker: its own threads, not a thread per core in every worker)
    cfg = config_from_dict(tomllib.loads(config_toml), source_path).with_overrides(overrides)
    return str(run(cfg, out, overwrite=True))


def run_ensemble(cfg: Any, out_dir: str | Path, overwrite: bool = False, client: Any = None) -> Path:
    """Run every member (on Dask workers when ``client`` is given) and write the summary."""
    import dataclasses

    import xarray as xr

    from .io.writers import RunDirectory, run_attributes

    if not cfg.ensemble:
        raise ValueError("the configuration has no [ensemble] section")
    run_dir = RunDirectory(out_dir, overwrite=overwrite)
    members = draw_members(cfg.ensemble)
    base = dataclasses.replace(cfg, ensemble={})
    toml = base.to_toml()
    outs = [str(run_dir.path / "members" / f"member_{k:03d}") for k in range(len(members))]
    if client is None:
        paths = [_run_member(toml, cfg.source_path, member_overrides(v), o) for v, o in zip(members, outs)]
    else:
        futs = [client.submit(_run_member, toml, cfg.source_path, member_overrides(v), o, retries=3, pure=False)
                for v, o in zip(members, outs)]
        paths = [f.result() for f in futs]
    with open(run_dir.partial("ensemble_members.csv"), "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        keys = list(cfg.ensemble["parameters"])
        w.writerow(["member", "directory", *keys])
        for k, (v, p) in enumerate(zip(members, paths)):
            w.writerow([k, Path(p).relative_to(run_dir.path), *[repr(v[key]) for key in keys]])
    datasets = [xr.open_dataset(Path(p) / "fields.nc") for p in paths]
    try:
        stacked = xr.concat([d.drop_vars(["time_bnds", "lat_bnds", "lon_bnds", "layer_bnds", "cell_area"], errors="ignore")
                             for d in datasets], dim="member")
        q = stacked.quantile([0.05, 0.5, 0.95], dim="member")
        summary = xr.Dataset()
        for v in stacked.data_vars:
            for label, quant in (("p05", 0.05), ("median", 0.5), ("p95", 0.95)):
                summary[f"{v}_{label}"] = q[v].sel(quantile=quant, drop=True)
                summary[f"{v}_{label}"].attrs.update(datasets[0][v].attrs,
                                                     long_name=f"{label} across members of {v}")
        summary.attrs.update(run_attributes(cfg.to_toml()), Conventions="CF-1.10",
                             title="popstransport ensemble summary", members=str(len(paths)))
        summary.to_netcdf(run_dir.partial("ensemble_summary.nc"))
    finally:
        for d in datasets:
            d.close()
    run_dir.commit("ensemble_members.csv")
    run_dir.commit("ensemble_summary.nc")
    return run_dir.path
