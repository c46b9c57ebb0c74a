"""The benchmark suite in ``benchmarks/`` is a valid airspeed velocity suite that covers what it must measure.

asv discovers every module of the ``benchmarks`` package and takes every module-level function and class method
named ``time_*``, ``timeraw_*``, ``peakmem_*``, ``mem_*`` or ``track_*`` as a benchmark, so a helper with such a name
breaks ``asv run`` (it is called without arguments). These tests import the package as asv does and run
``asv check`` when asv is installed (the ``dev`` extra installs it).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
PREFIXES = ("time_", "timeraw_", "peakmem_", "mem_", "track_")
MODULES = ("bench_advection", "bench_model", "deformational", "run", "__main__")


def _benchmarks() -> dict[str, list[str]]:
    """Benchmark names (``Class.method``) per module of the package, discovered by asv's naming rules, after
    asserting that no module-level function carries a benchmark prefix."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    found: dict[str, list[str]] = {}
    for name in MODULES:
        mod = importlib.import_module(f"benchmarks.{name}")
        names = []
        for attr, obj in vars(mod).items():
            if attr.startswith("_"):
                continue
            if inspect.isfunction(obj):
                assert not attr.startswith(PREFIXES), (
                    f"benchmarks/{name}.py: module-level function {attr} has an asv benchmark prefix; asv would "
                    "call it as a benchmark: rename it"
                )
            elif inspect.isclass(obj) and obj.__module__ == mod.__name__:
                names += [f"{attr}.{m}" for m, f in inspect.getmembers(obj, inspect.isfunction)
                          if m.startswith(PREFIXES)]
        found[name] = names
    return found


def test_the_benchmark_directory_is_a_package_beside_its_asv_config():
    assert (BENCH / "__init__.py").is_file(), "asv imports benchmark_dir as a package"
    assert (BENCH / "asv.conf.json").is_file()


def test_the_suite_measures_every_kernel_a_whole_step_whole_runs_compile_time_and_memory():
    found = _benchmarks()
    # the quick runners' helpers are not benchmarks
    assert found["run"] == [] and found["deformational"] == [] and found["__main__"] == []
    adv, model = set(found["bench_advection"]), set(found["bench_model"])
    assert {"HorizontalAdvectionSuite.time_step", "HorizontalAdvectionSuite.track_tag_cell_steps_per_second",
            "HorizontalAdvectionSuite.track_percent_of_triad",
            "VerticalExchangeSuite.time_step", "AdvectionCompileTime.timeraw_first_tagged_call",
            "PyMPDATAPeer.time_pympdata_100_steps", "PyMPDATAPeer.track_ratio_per_tracer"} <= adv
    assert {"FateSolve.time_step", "FateSolve.time_advance", "FateSolve.time_integrate", "ModelStep.time_step",
            "ModelStep.peakmem_step",
            "ModelStep.track_tag_column_steps_per_second", "DefaultRun.track_wall_seconds",
            "DefaultRun.track_peak_rss_MB", "Global100Tags.track_peak_rss_MB",
            "CompileTime.timeraw_first_tagged_model_step"} <= model


def test_importing_the_benchmarks_leaves_the_numba_cache_alone(tmp_path):
    # (asv imports every module in every benchmark process: a fresh cache per import would compile every kernel in
    # every setup)
    code = ("import os\nos.environ.pop('NUMBA_CACHE_DIR', None)\n"
            + "".join(f"import benchmarks.{m}\n" for m in MODULES)
            + "print(os.environ.get('NUMBA_CACHE_DIR'))\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "None"


def test_the_compile_time_benchmarks_start_from_an_empty_numba_cache():
    from benchmarks.bench_advection import AdvectionCompileTime
    from benchmarks.bench_model import CompileTime

    for stmt, setup in (AdvectionCompileTime().timeraw_first_tagged_call(),
                        CompileTime().timeraw_first_tagged_model_step()):
        assert "NUMBA_CACHE_DIR" in setup and "mkdtemp" in setup
        # the cache directory is set before anything imports numba
        assert setup.index("NUMBA_CACHE_DIR") < setup.index("popstransport")
        compile(setup, "<setup>", "exec")
        compile(stmt, "<stmt>", "exec")


@pytest.mark.parametrize("runner, option", [("", "--tags"), ("model", "--tags"), ("deformational", "--case")])
def test_python_m_benchmarks_reaches_every_quick_runner(runner, option):
    proc = subprocess.run([sys.executable, "-m", "benchmarks", *([runner] if runner else []), "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert option in proc.stdout and "--quick" in proc.stdout


@pytest.mark.skipif(importlib.util.find_spec("asv") is None, reason="asv is not installed (pip install -e '.[dev]')")
def test_asv_check_finds_no_problems(tmp_path):
    env = dict(os.environ)
    env.setdefault("NUMBA_CACHE_DIR", str(tmp_path / "numba"))
    proc = subprocess.run([sys.executable, "-m", "asv", "check", "--python=same", "--config", str(BENCH / "asv.conf.json")],
                          cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No problems found" in proc.stdout, proc.stdout + proc.stderr


def test_the_float32_comparison_of_bench_model_measures_a_known_difference(tmp_path):
    # bench_model compares the default year's outputs in float32 and float64; here on a small tagged run against a
    # copy whose fields and source-receptor matrix are changed by a known relative amount
    import numpy as np
    import xarray as xr
    from benchmarks.bench_model import precision_differences

    from popstransport.cli import main

    ref = tmp_path / "ref"
    assert main(["run", "--out", str(ref), "--quiet", "--set", "domain.resolution_deg=5", "--set", "time.stop=2010-02-01",
                 "--set", "met.source=synthetic", "--set", "attribution.tags=countries"]) == 0
    same = precision_differences(ref, ref)
    assert all(d["max"] == 0.0 for d in same["fields"].values())
    assert same["source_receptor_deposition"]["max"] == 0.0 and same["receptors_compared"] > 3
    assert same["worst_relative_closure_error_float64"] < 1e-12
    test = tmp_path / "test"
    test.mkdir()
    shutil.copy(ref / "budget.nc", test / "budget.nc")
    with xr.open_dataset(ref / "fields.nc") as f:
        g = f.load().copy()
    g["soil_burden"] = g["soil_burden"] * (1 + 1e-3)
    g.to_netcdf(test / "fields.nc")
    with xr.open_dataset(ref / "attribution.nc") as a:
        b = a.load().copy()
    dep = b["deposition"].values.copy()
    dep[:, 0, :] *= 1 + 2e-3  # the first source deposits 0.2 % more everywhere
    b["deposition"] = b["deposition"].copy(data=dep)
    b.to_netcdf(test / "attribution.nc")
    diff = precision_differences(ref, test)
    np.testing.assert_allclose(diff["fields"]["soil_burden"]["max"], 1e-3, rtol=1e-6)
    assert diff["fields"]["air_concentration"]["max"] == 0.0
    assert abs(diff["source_receptor_deposition"]["max"] - 2e-3) < 1e-9
    # a share moves by at most 0.2 % of itself, so by less than 0.2 percentage points, and by more than nothing
    assert 0.0 < diff["source_share_of_receptor_deposition_max_difference_percentage_points"] < 0.2


def test_the_tag_stencil_floor_does_the_whole_split():
    # run.py's floor for the tags' part must do the work it stands for: both passes of a two-point upwind split with
    # the given face weights on every tag plane, conserving each plane's mass (here against a NumPy reference)
    import numpy as np
    from benchmarks.run import _tag_stencil

    rng = np.random.default_rng(5)
    nt, nl, nj, ni = 3, 2, 5, 8
    m = rng.random((nt, nl, nj, ni)) + 0.5
    wx = rng.uniform(-0.45, 0.45, (nl, nj, ni + 1))
    wx[:, :, ni] = wx[:, :, 0]
    wy = rng.uniform(-0.45, 0.45, (nl, nj + 1, ni))
    ref = m.copy()
    fx = np.maximum(wx, 0.0) * np.roll(ref, 1, axis=3)[..., np.r_[0:ni, 0]] \
        + np.minimum(wx, 0.0) * ref[..., np.r_[0:ni, 0]]
    ref -= fx[..., 1:] - fx[..., :-1]
    fy = np.zeros((nt, nl, nj + 1, ni))
    fy[:, :, 1:nj] = np.maximum(wy[:, 1:nj], 0.0) * ref[:, :, :-1] + np.minimum(wy[:, 1:nj], 0.0) * ref[:, :, 1:]
    ref -= fy[:, :, 1:] - fy[:, :, :-1]
    out = m.copy()
    _tag_stencil(out, wx, wy, 2)
    np.testing.assert_allclose(out, ref, rtol=1e-14)
    np.testing.assert_allclose(out.sum(axis=(2, 3)), m.sum(axis=(2, 3)), rtol=1e-14)
    assert np.abs(out - m).max() > 1e-3


def test_each_timing_window_is_paired_with_the_higher_triad_on_either_side():
    # run.py reads the triad before the first timing window and after every window; a window's fraction is its
    # bandwidth over the higher of the two readings around it, so a bandwidth change during a window never flatters
    # the kernel
    import numpy as np
    from benchmarks.run import paired_fractions, timing_windows

    readings = iter([10.0, 20.0, 5.0, 40.0])
    timing = timing_windows(lambda: None, 1, 0.0, windows=3, reference=lambda: next(readings))
    assert timing["reference_readings"] == [10.0, 20.0, 5.0, 40.0]
    assert len(timing["seconds_per_step_windows"]) == 3 and timing["steps_timed"] == 9
    timing["seconds_per_step_windows"] = [0.1, 0.2, 0.05]
    paired = paired_fractions(1e9, timing)  # 10, 5 and 20 GB/s
    assert paired["triad_GB_per_s"] == [20.0, 20.0, 40.0]
    np.testing.assert_allclose(paired["fractions"], [0.5, 0.25, 0.5])
    assert (paired["median"], paired["min"], paired["max"]) == (0.5, 0.25, 0.5)
    assert "reference_readings" not in timing_windows(lambda: None, 1, 0.0, windows=2)


def test_the_quick_runners_name_the_numba_threading_layer():
    # (it was always null: Numba names its threading layer only after a parallel region has run)
    from benchmarks.run import machine

    assert machine()["numba_threading_layer"] in ("omp", "tbb", "workqueue")


def test_a_first_call_that_loads_the_kernels_from_the_cache_is_not_reported_as_compiling(tmp_path, monkeypatch):
    # (run.py's later cases, and every case with a warm cache, printed their cache load as "compile s")
    from benchmarks import run as runner

    cache = tmp_path / "numba"
    cache.mkdir()
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(cache))
    monkeypatch.setattr(runner, "fresh_process_output", lambda code, what: "0.25")
    assert runner.first_call_in_fresh_process(10.0, 8, "ppm") == (0.25, False)

    def compiling(code, what):
        (cache / "advection.nbi").write_text("")
        return "41.5"

    monkeypatch.setattr(runner, "fresh_process_output", compiling)
    assert runner.first_call_in_fresh_process(10.0, 1, "ppm") == (41.5, True)


def test_the_tag_stencil_floor_keeps_its_state_out_of_subnormal_numbers(monkeypatch):
    # (always split in one direction, the floor's state drained into subnormal numbers within a few hundred steps,
    # whose slow arithmetic made the floor 2.6 times slower the longer it was timed)
    from benchmarks import run as runner

    states = []
    stencil = runner._tag_stencil

    def recording(m, wx, wy, nchunk):
        states.append(m)
        stencil(m, wx, wy, nchunk)

    def many_steps(step, steps_per_call, seconds, windows=runner.WINDOWS, reference=None):
        for _ in range(1500 // steps_per_call):
            step()
        return {"seconds_per_step": 1.0, "seconds_per_step_min": 1.0, "seconds_per_step_max": 1.0}

    monkeypatch.setattr(runner, "_tag_stencil", recording)
    monkeypatch.setattr(runner, "timing_windows", many_steps)
    runner.tag_stencil_floor((2, 2, 12, 24), 0.0)
    m = states[-1]
    assert len(states) > 1000 and all(s is m for s in states)
    assert m.min() > 1e-3 * m.max()


def test_the_model_benchmarks_tagged_model_steps():
    """``bench_model``'s tagged model (the default model with its state split among tags after it was built) takes
    a model step: the advection's clean-air inflow is a plain number, good for any tag count (a per-tag array of the
    built model's one tag refused 8 tags)."""
    import numpy as np

    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from benchmarks.bench_model import _tagged_model

    m = _tagged_model(3)
    m.time_step(10800.0, np.datetime64("2010-01-15T00:00"))
    assert m.air_kg.shape[0] == 3 and np.isfinite(m.air_kg).all() and m.air_kg.sum() > 0
