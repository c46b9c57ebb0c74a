"""Ensembles: many runs of one configuration with parameters drawn from distributions, and their summary.

The ``[ensemble]`` section::

    [ensemble]
    members = 20
    seed = 1
    [ensemble.parameters]
    "processes.vertical_diffusivity_m2_s" = { distribution = "lognormal", median = 15.0, factor = 2.0 }
    "emissions.scale" = { distribution = "uniform", low = 0.5, high = 1.5 }
    "chemical.overrides.log_koa" = { distribution = "normal", mean = 9.45, sd = 0.3 }

Every member is the base configuration with the drawn values set at those key paths (exactly what
``--set KEY=VALUE`` does), so any member can be re-run by hand. Distributions: ``normal`` (mean, sd), ``lognormal``
(median, factor: the 84th percentile over the median, i.e. exp(sigma)), ``uniform`` (low, high), ``loguniform``
(low, high), ``triangular`` (low, mode, high). Draws use NumPy's PCG64 generator seeded with ``seed``, member by
member in the order of the parameters, so the ensemble is reproducible. The members must share one grid and one set
of output periods (the summary is taken cell by cell and period by period): a parameter that changes them from
member to member (a box's ``domain.resolution_deg`` or ``domain.box_lat_deg``) is refused before any member runs
(:func:`check_members`).

Outputs (``run_ensemble``, or ``popstransport run`` of a configuration with ``[ensemble]``): ``members/member_NNN/``
(complete run directories), ``config.toml`` (the resolved configuration, ``[ensemble]`` included: ``popstransport run
ENSEMBLE/config.toml --out NEW`` runs the ensemble again), ``ensemble_members.csv`` (the drawn values, after a ``#``
line naming the code, the seed and the creation time, as the other tables) and ``ensemble_summary.nc`` (median, 5th and
95th percentiles across members of every field of ``fields.nc``, as ``FIELD_median``, ``FIELD_p05`` and
``FIELD_p95``, with the grid, its bounds and the cell areas of ``fields.nc``; each statistic keeps its field's
``cell_methods`` and units and names the statistic across members in ``long_name`` and ``ensemble_statistic``).
When the members are tagged, the summary also holds the same statistics of the source-receptor deposition shares
(``source_receptor_deposition_share_median``, ``_p05`` and ``_p95``, receptor x source: each source's share of
the receptor's net deposition over the whole run).
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
    from .config import ConfigError, _nearest

    if not isinstance(raw, dict):
        raise ConfigError(f"{where}[ensemble] must be a table with members, seed and [ensemble.parameters]")
    for key in raw:
        if key not in ("members", "seed", "parameters"):
            raise ConfigError(f"{where}unknown key ensemble.{key}{_nearest(key, ['members', 'seed', 'parameters'])} "
                              "(valid keys: members, seed, parameters)")
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
            nested = [k for k, v in spec.items() if isinstance(v, dict)] if isinstance(spec, dict) else []
            hint = (f"; a key path written without quotes is read as nested tables: quote it, as in "
                    f"\"{path}.{nested[0]}\" = {{ distribution = ... }}" if nested else "")
            raise ConfigError(f"{where}ensemble.parameters.{path!r} must be a table with a 'distribution' key{hint}")
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
        if dist == "triangular" and not (spec["low"] <= spec["mode"] <= spec["high"] and spec["low"] < spec["high"]):
            # (NumPy's triangular refuses low == high with only 'left == right')
            raise ConfigError(f"{where}ensemble.parameters.{path!r}: triangular needs low <= mode <= high and low < high")
        if dist == "normal" and spec["sd"] < 0:
            raise ConfigError(f"{where}ensemble.parameters.{path!r}: sd must be >= 0")
        if len(path.split(".")) < 2:
            raise ConfigError(f"{where}ensemble.parameters.{path!r}: key paths look like section.key")
        if path.split(".")[0] == "ensemble":
            raise ConfigError(f"{where}ensemble.parameters.{path!r}: the members are single runs, without an [ensemble] "
                              "of their own: vary a key of another section")
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


def check_members(cfg: Any) -> list[dict[str, float]]:
    """Draw the members of ``cfg``'s ``[ensemble]`` and check that the configuration accepts every member's values
    and that every member has the same grid and output periods (``run_ensemble`` before any member runs, and
    ``popstransport validate``); returns the drawn values.

    Raises
    ------
    ConfigError
        Naming the member, its drawn values and what the configuration refused (an unknown key path, a value out
        of range, a chemical override the substance refuses), or the configuration file and the parameters that
        give members different grids or output periods (such as ``domain.resolution_deg`` of a box, or
        ``domain.box_lat_deg``), which the summary across members cannot combine.
    """
    import dataclasses

    from .config import ConfigError
    from .run import build_chemical

    members = draw_members(cfg.ensemble)
    base = dataclasses.replace(cfg, ensemble={})
    first: tuple[str, dict[str, np.ndarray]] | None = None
    for k, values in enumerate(members):
        o = member_overrides(values)
        try:
            member = base.with_overrides(o)
            if member.processes.fate == "multimedia":
                build_chemical(member)  # (chemical.overrides are checked only when the substance is built)
        except ConfigError as exc:
            raise ConfigError(f"ensemble member {k} ({', '.join(o)}): {exc}") from exc
        layout = _layout(member)
        if first is None:
            first = layout
            continue
        if _same_layout(first[1], layout[1]):
            continue
        # (the parameters that change the layout alone, from member 0's value to member k's)
        changing = [p for p in values if not _same_layout(_layout_with(base, p, values[p]),
                                                          _layout_with(base, p, members[0][p]))]
        changing = changing or list(values)
        where = f"{cfg.source_path}: " if cfg.source_path else ""
        raise ConfigError(
            f"{where}ensemble.parameters {', '.join(map(repr, changing))} change the model grid or the output periods "
            f"from member to member (member 0, {', '.join(member_overrides(members[0]))}: {first[0]}; member {k}, "
            f"{', '.join(o)}: {layout[0]}): the ensemble summary takes percentiles cell by cell and period by period, "
            f"so every member must have the same grid and output periods; remove {', '.join(map(repr, changing))} from "
            "[ensemble.parameters] and set the value in the configuration instead (one ensemble for each grid)")
    return members


def _layout(cfg: Any) -> tuple[str, dict[str, Any]]:
    """The grid and output periods of a configuration's run (in words, and the arrays ``_summarise`` needs to be
    equal in every member: cell edges, layer edges and period boundaries)."""
    import warnings

    from .config import parse_time
    from .run import build_grid
    from .simulation import period_boundaries

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (a grid's warnings are the run's to give, once)
        grid = build_grid(cfg)
    times = period_boundaries(parse_time(cfg.time.start), parse_time(cfg.time.stop), cfg.output.frequency)
    arrays = {"lon": grid.lon_edges_deg, "lat": grid.lat_edges_deg, "layer": np.asarray(grid.layers.edges_m),
              "time": np.asarray(times)}
    words = f"{grid.describe()}, {len(times) - 1} {cfg.output.frequency} output period(s) {times[0]}..{times[-1]}"
    return words, arrays


def _same_layout(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    return a is not None and b is not None and all(np.array_equal(a[name], b[name]) for name in a)


def _layout_with(base: Any, path: str, value: float) -> dict[str, Any] | None:
    """The layout arrays of ``base`` with one parameter set (``None`` if the configuration refuses it alone)."""
    from .config import ConfigError

    try:
        return _layout(base.with_overrides(member_overrides({path: value})))[1]
    except ConfigError:
        return None


#: Variables of ``fields.nc`` that describe the grid and the periods; copied into the summary as they are.

#: (name suffix, quantile, words) of the summary's statistics.
_STATISTICS = (("p05", 0.05, "5th percentile"), ("median", 0.5, "median"), ("p95", 0.95, "95th percentile"))


def _run_member(config_toml: str, source_path: str, overrides: list[str], out: str, overwrite: bool = False,
                progress: Any = None, code: tuple[str, str] | None = None, load_warnings: tuple[str, ...] = ()) -> str:
    """Run one member into ``out`` (an absolute path on a Dask worker, whose working folder may be another). Without
    ``overwrite``, a folder that already holds this member's complete run (the same configuration) is kept as it
    is: the ensemble refused earlier results before any member ran, so it is this task's own run, which Dask runs
    again when the worker that held its result is lost. ``code``: see :func:`popstransport.distributed.run_batch`.
    ``load_warnings``: those given when the ensemble's configuration was read, for the member's ``warnings.txt``."""
    import dataclasses
    import tomllib

    from .config import config_from_dict
    from .distributed import check_code, match_worker_threads, stop_when_released
    from .run import run

    check_code(code)
    progress = progress or stop_when_released()  # (on a Dask worker: stop when the ensemble no longer wants it)
    match_worker_threads()  # (on a Dask worker: its own threads, not a thread per core in every worker)
    cfg = config_from_dict(tomllib.loads(config_toml), source_path).with_overrides(overrides)
    cfg = dataclasses.replace(cfg, load_warnings=tuple(load_warnings))
    if not overwrite and _holds_run_of(Path(out), cfg.to_toml()):
        return str(out)
    return str(run(cfg, out, overwrite=overwrite, progress=progress))


def _holds_run_of(folder: Path, config_toml: str) -> bool:
    """Whether ``folder`` holds a complete run (``fields.nc`` committed) of the configuration ``config_toml``."""
    saved = folder / "config.toml"
    if not (folder / "fields.nc").is_file() or not saved.is_file():
        return False
    text = saved.read_text(encoding="utf-8")
    return text.partition("\n")[2] == config_toml  # (after the line that names the writer and the time)


def run_ensemble(cfg: Any, out_dir: str | Path, overwrite: bool = False, client: Any = None, progress: Any = None,
                 finished: Any = None) -> Path:
    """Run every member (on Dask workers when ``client`` is given) and write the summary; returns the directory.

    Parameters
    ----------
    cfg
        A configuration with an ``[ensemble]`` section.
    out_dir
        The ensemble directory: ``members/member_NNN/``, ``config.toml``, ``ensemble_members.csv`` and
        ``ensemble_summary.nc`` (its ``config.toml`` does not make it a run: it has no ``fields.nc``).
    overwrite
        Replace the results of an earlier run there (also when the configuration's ``output.overwrite`` is true, as
        on the command line). Without it, a directory that already holds results (an
        ensemble's files, member runs or a single run's outputs) is refused before any member runs. With it, the
        earlier ``ensemble_members.csv``, ``ensemble_summary.nc`` and ``config.toml`` are removed before the first
        member runs (a single run's ``config.toml`` only once the ensemble is complete, with the rest of its results), so
        that an interrupted re-run never leaves a summary of other members behind.
    client
        A Dask client: every member runs as one of its tasks.
    progress
        Without ``client``: called as ``progress(k, n)`` before member ``k`` (from 0) of ``n`` runs; returns the
        progress callback of that member's run (see ``popstransport.run.run``) or None.
    finished
        With ``client``: called as ``finished(k, n)`` as member ``k`` (from 0) of ``n`` has run, in the order in
        which the members finish.

    The summary is written under a temporary name and renamed into place only when every member has run; a failed
    or interrupted ensemble leaves the complete member runs it finished and no summary.
    """
    import dataclasses

    from .config import absolute_paths
    from .io.writers import GRID_VARIABLES, ConfigWriter, RunDirectory, run_attributes, written_by

    if not cfg.ensemble:
        raise ValueError("the configuration has no [ensemble] section")
    cfg = absolute_paths(cfg)  # (the members' config.toml run the same from any working directory)
    overwrite = bool(overwrite or cfg.output.overwrite)
    members = check_members(cfg)  # (a drawn value that a key refuses fails here, before anything runs)
    base = dataclasses.replace(cfg, ensemble={})
    overrides = [member_overrides(v) for v in members]
    run_dir = RunDirectory(out_dir, overwrite=overwrite)  # (refuses earlier results, member runs included)
    if overwrite:
        # (an earlier ensemble's configuration goes with its summary; a single run's stays with its results until
        # this ensemble's are in place)
        earlier_run = (run_dir.path / "fields.nc").exists()
        for name in (*RunDirectory.ENSEMBLE_FILES, *(() if earlier_run else ("config.toml",))):
            (run_dir.path / name).unlink(missing_ok=True)
    toml = base.to_toml()
    # (absolute: a Dask worker may have been started in another folder, and would put the members there)
    outs = [str(run_dir.path.resolve() / "members" / f"member_{k:03d}") for k in range(len(members))]
    try:
        if client is None:
            paths = [_run_member(toml, cfg.source_path, o, out, overwrite, progress(k, len(members)) if progress else None,
                                 load_warnings=cfg.load_warnings) for k, (o, out) in enumerate(zip(overrides, outs))]
        else:
            from .distributed import check_workers_code, code_fingerprint

            check_workers_code(client)
            code = code_fingerprint()
            from dask.distributed import as_completed

            futs = [client.submit(_run_member, toml, cfg.source_path, o, out, overwrite, None, code, cfg.load_warnings,
                                  retries=3, pure=False) for o, out in zip(overrides, outs)]
            member_of = {f.key: k for k, f in enumerate(futs)}
            paths = [""] * len(futs)
            for f in as_completed(futs):
                paths[member_of[f.key]] = f.result()
                if finished is not None:
                    finished(member_of[f.key], len(futs))
            missing = [p for p in paths if not (Path(p) / "fields.nc").is_file()]
            if missing:
                raise FileNotFoundError(f"{missing[0]}/fields.nc: the Dask workers wrote {len(missing)} member run(s) "
                                        "where this machine does not see them; put the ensemble's --out on a file "
                                        "system that every worker shares with this machine")
        attrs = run_attributes(cfg.to_toml(), institution=cfg.output.institution)
        ConfigWriter(run_dir, attrs["configuration"], attrs)  # (config.toml of the ensemble, [ensemble] included)
        with open(run_dir.partial("ensemble_members.csv"), "w", newline="", encoding="utf-8") as fh:
            fh.write(f"# {written_by(attrs)} ensemble of {len(members)} members drawn with seed {cfg.ensemble['seed']}, "
                     f"created {attrs['created']}; each member's values of [ensemble.parameters] and its run directory; "
                     "configuration in config.toml\n")
            w = csv.writer(fh)
            keys = list(cfg.ensemble["parameters"])
            w.writerow(["member", "directory", *keys])
            for k, (v, p) in enumerate(zip(members, paths)):
                w.writerow([k, Path(p).relative_to(run_dir.path.resolve()), *[repr(v[key]) for key in keys]])
        summary = _summarise([Path(p) / "fields.nc" for p in paths])
        attributions = [Path(p) / "attribution.nc" for p in paths]
        if all(a.is_file() for a in attributions):
            summary.update(_share_statistics(attributions))
        summary.attrs.update(attrs, Conventions="CF-1.10", title="popstransport ensemble summary",
                             history=f"{attrs['created']} {written_by(attrs)} ensemble "
                                     f"summary of {len(paths)} members",
                             members=str(len(paths)), comment=(
                                 "median and 5th/95th percentiles across the ensemble members, cell by cell and period "
                                 "by period (linear interpolation between order statistics); cell_methods describe "
                                 "each member's field, the statistic across members is in long_name and "
                                 "ensemble_statistic"))
        encoding = {v: {"_FillValue": None} for v in summary.variables if v in summary.coords or v in GRID_VARIABLES}
        encoding.update({v: {"zlib": True, "complevel": 1} for v in summary.data_vars if v not in GRID_VARIABLES})
        summary.to_netcdf(run_dir.partial("ensemble_summary.nc"), encoding=encoding)
    except BaseException:
        for name in (*RunDirectory.ENSEMBLE_FILES, "config.toml"):
            run_dir.discard(name)
        member_dir = run_dir.path / "members"
        if member_dir.is_dir() and not any(member_dir.iterdir()):
            member_dir.rmdir()
        run_dir.cleanup_if_empty()
        raise
    with run_dir.committing():
        run_dir.commit("config.toml")
        run_dir.commit("ensemble_members.csv")
        run_dir.commit("ensemble_summary.nc")
    if overwrite:
        # members of an earlier, larger ensemble: their outputs go (any other file stays, with its folder)
        for extra in sorted((run_dir.path / "members").glob("member_*")):
            tail = extra.name[len("member_"):]
            if extra.is_dir() and tail.isdigit() and int(tail) >= len(members):
                RunDirectory(extra, overwrite=True).remove_earlier_outputs()
    return run_dir.path


def _share_statistics(attributions: list[Path]) -> dict[str, Any]:
    """Median and 5th/95th percentiles across members of the source-receptor deposition shares (receptor x source:
    each source's share of the receptor's net deposition over the whole run), from the members' ``attribution.nc``.
    A source that is not a tag of a member has a share of 0 in it; a receptor without deposition has none (NaN)."""
    import xarray as xr

    deposition = []
    for path in attributions:
        with xr.open_dataset(path) as att:
            deposition.append(att["deposition"].sum("time").transpose("receptor", "source").load())
    dep = xr.concat(deposition, dim="member", join="outer", fill_value=0.0)
    total = dep.sum("source")
    share = (dep / total.where(total != 0)).quantile([s[1] for s in _STATISTICS], dim="member")
    out = {}
    for suffix, quantile, words in _STATISTICS:
        out[f"source_receptor_deposition_share_{suffix}"] = share.sel(quantile=quantile, drop=True).assign_attrs(
            units="1", ensemble_statistic=words,
            long_name=f"{words} over {len(attributions)} ensemble members of the source's share of the receptor's net "
                      "deposition (wet + dry + net air-surface exchange) over the whole run")
    return out


def _summarise(fields: list[Path]) -> Any:
    """Median and 5th/95th percentiles across members of every field, with the grid, bounds and cell areas."""
    import xarray as xr

    from .io.writers import GRID_VARIABLES

    datasets = [xr.open_dataset(f, decode_times=False) for f in fields]
    try:
        first = datasets[0]
        for k, d in enumerate(datasets[1:], start=1):
            for name in ("time", "layer", "lat", "lon"):
                if not np.array_equal(d[name].values, first[name].values):
                    raise ValueError(f"ensemble member {k} has other {name} values than member 0: ensemble parameters "
                                     "must not change the grid or the output times")
        # fields without time (land and soil area fractions) that every member shares are copied like the grid
        shared = [v for v in first.data_vars if v not in GRID_VARIABLES and "time" not in first[v].dims
                  and all(v in d and np.array_equal(d[v].values, first[v].values) for d in datasets[1:])]
        names = [v for v in first.data_vars if v not in GRID_VARIABLES and v not in shared]
        n = len(datasets)
        q = xr.concat([d[names] for d in datasets], dim="member").quantile([s[1] for s in _STATISTICS], dim="member")
        summary = first[[v for v in (*GRID_VARIABLES, *shared) if v in first]].load()
        summary.attrs = {}  # (member 0's title and history do not describe the summary)
        for v in names:
            for suffix, quantile, words in _STATISTICS:
                attrs = dict(first[v].attrs)
                attrs.update(long_name=f"{words} over {n} ensemble members of the {attrs.get('long_name', v)}",
                             ensemble_statistic=words)
                summary[f"{v}_{suffix}"] = q[v].sel(quantile=quantile, drop=True).assign_attrs(attrs)
        return summary
    finally:
        for d in datasets:
            d.close()
