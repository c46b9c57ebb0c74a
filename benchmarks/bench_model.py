"""Model-level speed and memory: the per-cell fate solve, vertical exchange, one whole model step, whole runs.

Usable by airspeed velocity (``time_*`` / ``peakmem_*`` methods of the classes below) and by the quick runner
(``python benchmarks/bench_model.py [--quick]``), which writes JSON with the machine, versions and thread count
and reports each kernel as throughput (tag-column-steps per second: a column is one grid cell with every air layer
and surface compartment, as these kernels work on it, where ``benchmarks/run.py`` counts every layer of a cell for
the advection) and as a fraction of a STREAM-like triad
bandwidth measured in the same run. The kernels compile first in a fresh process, into the run's Numba cache, and
the in-process timings then load them from it, as every later run of a user does. Whole runs are measured in a
subprocess so that their wall time includes start-up and their peak resident memory is their own.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __name__ == "__main__":
    # run as a quick runner: compile into a fresh Numba cache, so that the first calls measure compile time
    # (asv imports this module and keeps the usual cache: its setups would otherwise compile every kernel)
    os.environ.setdefault("NUMBA_CACHE_DIR", tempfile.mkdtemp(prefix="popstransport-bench-"))

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import (  # noqa: E402
    TRACK_SECONDS,
    TRACK_WINDOWS,
    fresh_process_output,
    grid_info,
    last_level_cache_bytes,
    machine,
    stream_triad,
    timing_windows,
    triad_elements,
    write_results,
)

DEFAULT_OVERRIDES: list[str] = []


def _model(overrides: list[str]):
    from popstransport.config import load_config
    from popstransport.run import build_model

    model = build_model(load_config(None, overrides))
    model.update_forcing(np.datetime64("2010-01-15"), 0)
    rng = np.random.default_rng(0)
    model.air_kg[...] = rng.random(model.air_kg.shape)
    model.surface_kg[...] = rng.random(model.surface_kg.shape)
    return model


def _time(fn, seconds: float) -> tuple[float, float, int]:
    """``(first call, median seconds per call over the timing windows of run.timing_windows, calls timed)``."""
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    timing = timing_windows(fn, 1, seconds)
    return first, timing["seconds_per_step"], timing["steps_timed"]


def fate_solve(ntag: int, seconds: float) -> dict:
    """Apply the exact propagators to every tag and compartment (one step), and compute them (once per record).
    (``first_call_extra_seconds``: the first call's time beyond a step's, loading the kernels from the cache; they
    compile in :func:`first_steps_in_fresh_process`.)

    The model's step advances the state and sums its start state (``advance_seconds``); the time integrals of a span
    of steps follow once per met record (``integrate_seconds``): ``model_seconds_per_step`` is the first plus the
    second spread over the default configuration's steps per record. ``seconds_per_step`` is the step with its own
    integral (``FateSolver.step``)."""
    from popstransport.config import load_config
    from popstransport.processes.fate import propagators_by_row

    m = _model(["attribution.tags=none"])
    air = np.ascontiguousarray(np.repeat(m.air_kg, ntag, axis=0))
    surf = np.ascontiguousarray(np.repeat(m.surface_kg, ntag, axis=0))
    rates, _ = m.emissions.sources_kg_s(np.datetime64("2010-01-15"))
    weights = np.random.default_rng(1).random((ntag,) + air.shape[2:])
    weights /= weights.sum(axis=0)
    ia, isf = np.zeros_like(air), np.zeros_like(surf)
    first, per, n = _time(lambda: m.fate.step(air, surf, rates, weights, 10800.0, ia, isf), seconds)
    _, per_advance, _ = _time(lambda: m.fate.advance(air, surf, rates, weights, 10800.0, ia, isf), seconds)
    ia2, isf2 = np.zeros_like(air), np.zeros_like(surf)
    _, per_integrate, _ = _time(lambda: m.fate.integrate(10800.0, ia, isf, rates, weights, ia2, isf2), seconds / 3)
    cfg = load_config(None)
    steps_per_record = max(1, round(cfg.time.met_update_hours / cfg.time.step_hours))
    pfirst, pper, _ = _time(lambda: propagators_by_row(m.fate.k_matrix, 10800.0), seconds / 3)
    ncomp = air.shape[1] + surf.shape[1]
    cells = air.shape[2] * air.shape[3]
    # per tag-column: read and write the state, add to the integrals (read + write): 4 doubles per compartment, and
    # the tag's emission share (the propagators and the shared emission field stay in cache across tags)
    bytes_per = 4 * 8 * ncomp + 8
    model_per = per_advance + per_integrate / steps_per_record
    return {"tags": ntag, "grid": grid_info(m.grid), "compartments": ncomp, "cells": cells, "seconds_per_step": per,
            "advance_seconds": per_advance, "integrate_seconds": per_integrate, "steps_per_record": steps_per_record,
            "model_seconds_per_step": model_per, "model_step_ratio_to_exact_step": model_per / per,
            "first_call_extra_seconds": max(first - per, 0.0), "tag_column_steps_per_s": ntag * cells / per,
            "bytes_per_tag_column_step": bytes_per, "bytes_per_step_MB": ntag * cells * bytes_per / 1e6,
            "propagators_seconds": pper,
            "propagators_first_call_extra_seconds": max(pfirst - pper, 0.0)}


def vertical(ntag: int, seconds: float) -> dict:
    m = _model(["attribution.tags=none"])
    m.air_kg = np.ascontiguousarray(np.repeat(m.air_kg, ntag, axis=0))
    # (as the model's step calls it: no upward fluxes reported)
    first, per, n = _time(lambda: m.vertical.apply(m, 10800.0, report_upward=False), seconds)
    cells = m.air_kg.shape[2] * m.air_kg.shape[3]
    return {"tags": ntag, "grid": grid_info(m.grid), "layers": m.air_kg.shape[1], "seconds_per_step": per,
            "first_call_extra_seconds": max(first - per, 0.0), "tag_column_steps_per_s": ntag * cells / per}


def _tagged_model(ntag: int):
    """The default configuration's model with its state split evenly among ``ntag`` source tags (``ntag`` 1: untagged),
    every tag emitting a share ``1 / ntag`` of every cell's emissions."""
    m = _model(["attribution.tags=none"])
    if ntag > 1:
        from popstransport.processes.emission import GriddedEmission

        m.tags = tuple(f"T{k}" for k in range(ntag))
        m.air_kg = np.ascontiguousarray(np.repeat(m.air_kg, ntag, axis=0) / ntag)
        m.surface_kg = np.ascontiguousarray(np.repeat(m.surface_kg, ntag, axis=0) / ntag)
        w = np.full((ntag,) + m.grid.shape, 1.0 / ntag)
        old = m.emissions
        m.emissions = GriddedEmission(old.rates_at, m.grid.nlayer, len(m.surface_compartments), tag_weights=w)
        m._new_collection()
    return m


def first_steps_in_fresh_process() -> dict:
    """Wall time (s) of building the default model and stepping it once, untagged and with 8 tags, in a new process
    with this process's Numba cache directory: it compiles every kernel of the benchmarks below into the cache if
    the cache is empty, so that they run in a process that loads them, as every later run of a user does (a process
    that has just compiled ran a step 5-10 % slower; see ``run.py``)."""
    code = (
        "import json, sys, time\n"
        f"sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})\n"
        "import numpy as np\n"
        "from bench_model import _tagged_model\n"
        "out = {}\n"
        "for ntag in (1, 8):\n"
        "    t0 = time.perf_counter()\n"
        "    m = _tagged_model(ntag)\n"
        "    m.time_step(10800.0, np.datetime64('2010-01-15T00:00'))\n"
        "    out[f'{ntag} tags'] = time.perf_counter() - t0\n"
        "print(json.dumps(out))\n"
    )
    return json.loads(fresh_process_output(code, "the first model steps"))


def model_step(ntag: int, seconds: float) -> dict:
    """One whole model step (advection, vertical exchange, fate with emissions) of the default configuration."""
    m = _tagged_model(ntag)
    t = np.datetime64("2010-01-15T00:00")
    first, per, n = _time(lambda: m.time_step(10800.0, t), seconds)
    cells = m.grid.nlat * m.grid.nlon
    return {"tags": ntag, "grid": grid_info(m.grid), "cells": cells, "layers": m.grid.nlayer, "seconds_per_step": per,
            "first_call_seconds": first, "tag_column_steps_per_s": ntag * cells / per,
            "steps_per_simulated_year_at_3h": 2920, "steps_only_seconds_per_year": per * 2920}


#: Python source of ``peak_rss_kb()``, the peak resident memory (kB) of the process since it started its program:
#: ``VmHWM`` of ``/proc/self/status``. (``getrusage``'s ``ru_maxrss`` of a child also counts the memory of the
#: parent it was forked from, the benchmark process itself.)
PEAK_RSS = """
def peak_rss_kb():
    import resource
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
"""


def whole_run(overrides: list[str], label: str, cold: bool = False, keep_output: bool = False) -> dict:
    """A complete ``popstransport run`` in a subprocess: wall time and peak resident memory.

    ``cold``: with an empty Numba cache, so the wall time includes compiling every kernel (a first run on a new
    machine); otherwise the benchmark's cache, warmed by the runs before (every later run of a user).
    ``keep_output``: keep the run's output directory (its path in ``"out"``; the caller removes it); otherwise it is
    removed.
    """
    out = tempfile.mkdtemp(prefix="popstransport-bench-run-")
    cmd = [sys.executable, "-c", PEAK_RSS + "import sys\nfrom popstransport.cli import main\nrc = main(sys.argv[1:])\n"
           "print('PEAK_RSS_KB', peak_rss_kb())\nsys.exit(rc)\n",
           "run", "--out", out, "--overwrite", "--quiet"]
    for o in overrides:
        cmd += ["--set", o]
    env = dict(os.environ)
    if cold:
        env["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="popstransport-bench-cold-")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    peak = [int(line.split()[1]) for line in proc.stdout.splitlines() if line.startswith("PEAK_RSS_KB")]
    result = {"label": label, "overrides": overrides, "cold_numba_cache": cold, "returncode": proc.returncode,
              "wall_seconds": wall, "peak_rss_MB": peak[0] / 1024.0 if peak else None, "stderr_tail": proc.stderr[-400:]}
    if keep_output:
        result["out"] = out
    else:
        shutil.rmtree(out, ignore_errors=True)
    return result


def _relative_differences(ref: np.ndarray, test: np.ndarray, floor: float = 1e-6, where: np.ndarray | None = None) -> dict:
    """Largest and median ``|test - ref| / |ref|`` over the values above ``floor`` times the largest ``|ref|`` (and
    inside ``where``; below the floor the relative difference measures nothing but the rounding of values near zero,
    which float32 cannot even represent below 1e-38), the largest difference (inside ``where``) over the largest
    ``|ref|`` (for fields of either sign), and the relative difference of the sums."""
    ref = np.asarray(ref, dtype=np.float64)
    test = np.asarray(test, dtype=np.float64)
    scale = np.abs(ref).max()
    big = np.abs(ref) > floor * scale
    if where is not None:
        big &= where
    rel = np.abs(test[big] - ref[big]) / np.abs(ref[big])
    total = float(ref.sum())
    diff = np.abs(test - ref) if where is None else np.abs(test - ref)[where]
    return {"max": float(rel.max()), "median": float(np.median(rel)), "values_compared": int(big.sum()),
            "max_difference_over_largest_value": float(diff.max() / scale) if scale else 0.0,
            "sum": float(abs(test.sum() - total) / abs(total)) if total else None}


def precision_differences(out64: str | Path, out32: str | Path) -> dict:
    """How far a run with the float32 state is from the same run in float64, from their outputs: every field of
    ``fields.nc`` (monthly means, cell by cell), the source-receptor deposition matrix and the border fluxes of
    ``attribution.nc`` summed over the run (and each source's share of every receptor's deposition, in percentage
    points, as an analyst reads it), and the worst relative budget closure error of each run. Relative differences
    count values above 1e-6 of a field's largest (see :func:`_relative_differences`)."""
    import xarray as xr

    out64, out32 = Path(out64), Path(out32)
    res: dict = {"fields": {}}
    with xr.open_dataset(out64 / "fields.nc") as f64, xr.open_dataset(out32 / "fields.nc") as f32:
        conc = f64["air_concentration"].values
        for name in f64.data_vars:
            if "time" in f64[name].dims and not name.endswith("_bnds"):
                # (a fraction is compared where there is chemical to split: in the same cells as the concentration)
                where = conc > 1e-6 * conc.max() if name == "air_particle_fraction" else None
                res["fields"][name] = _relative_differences(f64[name].values, f32[name].values, where=where)
    with xr.open_dataset(out64 / "attribution.nc") as a64, xr.open_dataset(out32 / "attribution.nc") as a32:
        d64 = a64["deposition"].sum("time").values
        d32 = a32["deposition"].sum("time").values
        res["source_receptor_deposition"] = _relative_differences(d64, d32)
        tot64 = d64.sum(axis=0)
        tot32 = d32.sum(axis=0)
        # (receptors that receive at least 1e-6 of the most a receptor receives: the rest get next to nothing, down to
        # 1e-46 kg, which float32 rounds to zero)
        ok = tot64 > 1e-6 * tot64.max()
        res["receptors_compared"] = int(ok.sum())
        shares = np.abs(d32[:, ok] / tot32[ok] - d64[:, ok] / tot64[ok])
        res["source_share_of_receptor_deposition_max_difference_percentage_points"] = float(100.0 * shares.max())
        res["border_flux"] = _relative_differences(a64["border_flux"].sum("time").values,
                                                   a32["border_flux"].sum("time").values)
    for label, out in (("float64", out64), ("float32", out32)):
        with xr.open_dataset(out / "budget.nc") as b:
            res[f"worst_relative_closure_error_{label}"] = float(np.abs(b["relative_closure_error"].values).max())
    return res


def global_100_tags_memory(steps: int = 4) -> dict:
    """Peak memory of a 1-degree global model with 100 source tags (built and stepped in a subprocess)."""
    code = PEAK_RSS + """
import numpy as np, json
from popstransport.config import load_config
from popstransport.io.regions import RegionMasks
from popstransport.run import build_run, build_simulation
from popstransport.grid import LatLonGrid
g = LatLonGrid.global_grid(1.0)
codes = list(RegionMasks.for_countries(g).codes)
big = codes[:99]
cfg = load_config(None, ["domain.kind=global", "emissions.source=uniform", "attribution.tags=list",
    "attribution.regions=" + json.dumps(big), "time.stop=2010-01-02", "time.step_hours=6", "output.frequency=daily"])
from popstransport.run import tracked_faces
setup = build_run(cfg)
m = setup.model
# the faces on the borders of the regions, as a run with border fluxes accumulates them
faces = tracked_faces(cfg, setup)
sim = build_simulation(cfg, m, per_tag=True, track_faces=faces)
sim.run()
print(json.dumps({"tags": len(m.tags), "state_MB": (m.air_kg.nbytes + m.surface_kg.nbytes) / 2**20,
                  "border_faces": int(faces[0].sum() + faces[1].sum()), "faces": int(faces[0].size + faces[1].size),
                  "peak_rss_MB": peak_rss_kb() / 1024.0}))
"""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": proc.stderr[-800:]}
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res["wall_seconds"] = time.perf_counter() - t0
    return res


class FateSolve:
    """asv: the per-cell exact fate solve."""

    params = [1, 8, 32]
    param_names = ["tags"]

    def setup(self, ntag):
        m = _model(["attribution.tags=none"])
        self.m = m
        self.air = np.ascontiguousarray(np.repeat(m.air_kg, ntag, axis=0))
        self.surf = np.ascontiguousarray(np.repeat(m.surface_kg, ntag, axis=0))
        self.ia, self.isf = np.zeros_like(self.air), np.zeros_like(self.surf)
        self.ia2, self.isf2 = np.zeros_like(self.air), np.zeros_like(self.surf)
        self.rates, _ = m.emissions.sources_kg_s(np.datetime64("2010-01-15"))
        self.weights = np.full((ntag,) + self.air.shape[2:], 1.0 / ntag)
        self.time_step(ntag)
        self.time_advance(ntag)
        self.time_integrate(ntag)

    def time_step(self, ntag):
        self.m.fate.step(self.air, self.surf, self.rates, self.weights, 10800.0, self.ia, self.isf)

    def time_advance(self, ntag):
        """The model's step: the state advanced, its start state summed (the integrals follow once per record)."""
        self.m.fate.advance(self.air, self.surf, self.rates, self.weights, 10800.0, self.ia, self.isf)

    def time_integrate(self, ntag):
        """The time integrals of a span of steps from their sums (once per met record)."""
        self.m.fate.integrate(10800.0, self.ia, self.isf, self.rates, self.weights, self.ia2, self.isf2)


class ModelStep:
    """asv: one whole model step (3 hours) of the default configuration, untagged and with 8 and 32 tags; its
    throughput; the peak memory of a process that builds the model and steps it."""

    params = [1, 8, 32]
    param_names = ["tags"]
    timeout = 300

    def setup(self, ntag):
        self.m = _tagged_model(ntag)
        self.t = np.datetime64("2010-01-15")
        self.m.time_step(10800.0, self.t)

    def time_step(self, ntag):
        self.m.time_step(10800.0, self.t)

    def peakmem_step(self, ntag):
        self.m.time_step(10800.0, self.t)

    def track_tag_column_steps_per_second(self, ntag):
        step = timing_windows(lambda: self.m.time_step(10800.0, self.t), 1, TRACK_SECONDS, TRACK_WINDOWS)
        return self.m.air_kg[:, 0].size / step["seconds_per_step"]

    track_tag_column_steps_per_second.unit = "tag-column-steps/s"


class DefaultRun:
    """asv: whole one-year runs of the default configuration (``popstransport run`` in a subprocess, warm Numba
    cache), untagged and with every emitting country tagged (border fluxes too): wall time and peak resident memory
    (targets: at most 60 s and below 2 GB tagged). The runs go once, in ``setup_cache``; the ``track_*`` methods
    report them."""

    timeout = 900
    params = ["untagged", "countries"]
    param_names = ["tags"]

    def setup_cache(self):
        # a two-day run first, so that the timed runs find every kernel in the Numba cache
        whole_run(["attribution.tags=countries", "time.stop=2010-01-03"], "warm-up")
        runs = {"untagged": whole_run([], "untagged"),
                "countries": whole_run(["attribution.tags=countries"], "countries")}
        for label, r in runs.items():
            if r["returncode"] != 0:
                raise RuntimeError(f"default run ({label}) failed: {r['stderr_tail']}")
        return {"runs": runs}

    def track_wall_seconds(self, cache, tags):
        return cache["runs"][tags]["wall_seconds"]

    track_wall_seconds.unit = "s"

    def track_peak_rss_MB(self, cache, tags):
        return cache["runs"][tags]["peak_rss_MB"]

    track_peak_rss_MB.unit = "MB"


class Global100Tags:
    """asv: peak resident memory of a 1-degree global model with 100 source tags and border fluxes, built and
    stepped in a subprocess (target: below 8 GB)."""

    timeout = 600

    def setup_cache(self):
        r = global_100_tags_memory()
        if "error" in r:
            raise RuntimeError(f"global model with 100 tags failed: {r['error']}")
        return r

    def track_peak_rss_MB(self, cache):
        return cache["peak_rss_MB"]

    track_peak_rss_MB.unit = "MB"


class CompileTime:
    """asv: compile time, measured in a fresh process with an empty Numba cache: the first tagged step of the default
    model (building it, then one step: every kernel of a tagged run compiles), what a user's first run on a new
    machine adds once."""

    timeout = 600
    repeat = 1
    number = 1

    def timeraw_first_tagged_model_step(self):
        setup = (
            "import os, tempfile\n"
            "os.environ['NUMBA_CACHE_DIR'] = tempfile.mkdtemp(prefix='popstransport-asv-cold-')\n"
            "import numpy as np\n"
            "from popstransport.config import load_config\n"
            "from popstransport.run import build_model\n"
        )
        stmt = (
            "m = build_model(load_config(None, ['attribution.tags=countries']))\n"
            "m.update_forcing(np.datetime64('2010-01-15'), 0)\n"
            "m.time_step(10800.0, np.datetime64('2010-01-15'))\n"
        )
        return stmt, setup


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description="model-level benchmarks")
    p.add_argument("--out", default=None, help="JSON output file (default benchmarks/model_results.json, or "
                   "benchmarks/model_results_quick.json with --quick)")
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--quick", action="store_true", help="short timings, no whole-year runs")
    p.add_argument("--tags", default="1,8,32")
    args = p.parse_args(argv)
    if args.out is None:
        args.out = "benchmarks/model_results_quick.json" if args.quick else "benchmarks/model_results.json"
    tags = [int(t) for t in args.tags.split(",")]
    res: dict = {"machine": machine()}
    triad = stream_triad(triad_elements(last_level_cache_bytes(), args.quick), 3 if args.quick else 10)
    res["stream_triad"] = triad
    bw = triad["GB_per_s"] * 1e9
    res["first_steps_fresh_process_seconds"] = first_steps_in_fresh_process()
    res["fate"] = [fate_solve(t, args.seconds) for t in tags]
    for r in res["fate"]:
        r["fraction_of_bandwidth"] = r["tag_column_steps_per_s"] * r["bytes_per_tag_column_step"] / bw
    res["vertical"] = [vertical(t, args.seconds) for t in tags]
    res["model_step"] = [model_step(t, args.seconds) for t in tags]
    if not args.quick:
        tagged = ["attribution.tags=countries"]
        res["whole_runs"] = [
            whole_run(tagged, "default configuration, every emitting country tagged, one year, empty Numba cache",
                      cold=True),
            whole_run([], "default configuration, untagged, one year"),
            whole_run(tagged, "default configuration, every emitting country tagged, one year", keep_output=True),
            # two days first, to compile the float32 specialisations of the kernels
            whole_run([*tagged, 'processes.state_precision="float32"', "time.stop=2010-01-03"],
                      "float32 state, two days (compiles the float32 kernels)"),
            whole_run([*tagged, 'processes.state_precision="float32"'],
                      "default configuration, every emitting country tagged, one year, float32 state", keep_output=True),
        ]
        year64, year32 = res["whole_runs"][2], res["whole_runs"][4]
        if year64["returncode"] == 0 and year32["returncode"] == 0:
            res["float32_accuracy"] = precision_differences(year64["out"], year32["out"])
        for r in (year64, year32):
            shutil.rmtree(r.pop("out"), ignore_errors=True)
        res["global_100_tags"] = global_100_tags_memory()
    print(f"STREAM triad: {triad['GB_per_s']:.1f} GB/s")
    print(f"model build and first step in a fresh process (compiles the kernels): {res['first_steps_fresh_process_seconds']}")
    for r in res["fate"]:
        print(f"fate solve    {r['tags']:3d} tags: {r['tag_column_steps_per_s']:.3g} tag-column-steps/s "
              f"({100 * r['fraction_of_bandwidth']:.1f}% of triad for {r['bytes_per_step_MB']:.1f} MB a step, which may "
              f"stay in cache when small), propagators {r['propagators_seconds'] * 1e3:.1f} ms; "
              f"as the model steps: {r['model_seconds_per_step'] * 1e3:.2f} ms a step (advance "
              f"{r['advance_seconds'] * 1e3:.2f} + integrate {r['integrate_seconds'] * 1e3:.2f} / {r['steps_per_record']}), "
              f"{r['model_step_ratio_to_exact_step']:.2f} of a step with its own integral")
    for r in res["vertical"]:
        print(f"vertical      {r['tags']:3d} tags: {r['tag_column_steps_per_s']:.3g} tag-column-steps/s")
    for r in res["model_step"]:
        print(f"model step    {r['tags']:3d} tags: {r['seconds_per_step'] * 1e3:.1f} ms per step, "
              f"{r['steps_only_seconds_per_year']:.0f} s per simulated year at 3 h steps (the steps alone: no "
              "forcing refreshes, outputs or start-up; see the whole runs)")
    for r in res.get("whole_runs", []):
        print(f"{r['label']}: {r['wall_seconds']:.1f} s wall, exit {r['returncode']}, peak RSS {r['peak_rss_MB']} MB")
    if "float32_accuracy" in res:
        acc = res["float32_accuracy"]
        print("float32 state against float64, default tagged year (largest / median relative difference):")
        for name, d in acc["fields"].items():
            print(f"  {name:28s} {d['max']:.2e} / {d['median']:.2e}")
        d = acc["source_receptor_deposition"]
        print(f"  source-receptor deposition   {d['max']:.2e} / {d['median']:.2e}; shares within "
              f"{acc['source_share_of_receptor_deposition_max_difference_percentage_points']:.2e} percentage points")
        print(f"  budget closure: float64 {acc['worst_relative_closure_error_float64']:.1e}, "
              f"float32 {acc['worst_relative_closure_error_float32']:.1e}")
    if "global_100_tags" in res:
        print(f"global 1 degree, 100 tags: {res['global_100_tags']}")
    write_results(res, args.out)
    return res


if __name__ == "__main__":
    main()
