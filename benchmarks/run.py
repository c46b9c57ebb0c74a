"""Quick benchmark runner: advection throughput with a memory-bandwidth and a PyMPDATA reference in the same run.

Usage::

    python benchmarks/run.py [--out results.json] [--resolution 1.0] [--dt 1800] [--quick] [--no-pympdata]

Reports, for 1, 8 and 32 tags on a global grid with two air layers (default 1 degree):

- throughput of ``HorizontalAdvection`` (default scheme) in tag-cell-steps per second (tags x layers x cells x
  steps per second of wall time: the median of seven consecutive timing windows, with the fastest and slowest
  window in the JSON). The compile time is measured separately: the first call in a fresh process (Numba
  compiles into the run's cache, empty at the first case; a first call that loads the kernels from the cache, as the
  later cases do, reports no compile time); the timings then run in this process, which loads the
  kernels from that cache, as every later run of a user does. (On the 2-core virtual machine a process that has just
  compiled for 40 s ran the same 32-tag step 5-10 % slower, by the memory it had allocated before: a state array
  allocated after the compilation ran at the speed of a process that loaded the kernels from the cache.);
- the fraction of the measured memory bandwidth this corresponds to, counting the unavoidable traffic of the
  state (8 bytes read and 8 written per tag-cell per 1-D sweep);
- a STREAM-like triad ``a = b + s c`` (McCalpin 1995, IEEE TCCA Newsletter) with Numba ``prange`` on arrays at least
  four times the last-level caches (STREAM's run rule; :func:`triad_elements`), counting 24 bytes per element (best
  of ten, as STREAM reports), measured before and after the advection timings, on one thread at the start, and
  between the timing windows (best of three); the highest reading of the run is the reference. Each window's
  bandwidth is also given as a fraction of the triad read on either side of it (the higher of the two; median and
  range over the windows): on a shared host the bandwidth left to a guest can change by 1.7 times from one minute to
  the next, and the paired fraction compares the kernel with what the machine could move while it ran;
- the same triad on arrays of the tags' state, and the state's size against the last-level cache: a state inside
  the cache is read partly from it, so its fraction of the memory triad flatters the kernel (the runner then names
  the grid whose state is four times the cache, where the memory triad is the limit);
- with several tags, the floor of the tags' part: a bare two-point split of given face weights among the tags in
  both directions on a state of the same shape, timed in the same run (``tag_stencil_floor``), and the step's time
  as a multiple of it. The kernel's step also sweeps the total over tags, and its faces past whole cells take longer
  stencils, so the ratio says how much the rest costs on this machine at this moment;
- PyMPDATA (Bartman et al. 2022, Comput. Phys. Commun. 277:108388) advancing one field on the same grid (polar
  boundary conditions, G factor the cell area over ``a^2 dlambda dphi``, G-weighted Courant numbers from the same
  air-mass fluxes; two non-oscillatory MPDATA iterations; timed in ``Solver.advance`` calls of 100 steps, so that
  its per-call cost of about 3 ms is spread as in a long run), and the ratios per tracer.

Prints a table and writes everything (machine, versions, thread count) to JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __name__ == "__main__":
    # run as a quick runner: compile into a fresh Numba cache, so that the first calls measure compile time
    # (asv imports this module and keeps the usual cache: its setups would otherwise compile every kernel)
    os.environ.setdefault("NUMBA_CACHE_DIR", tempfile.mkdtemp(prefix="popstransport-bench-"))

import numba  # noqa: E402
import numpy as np  # noqa: E402

DT_S = 1800.0
#: Timing windows per case (see :func:`timing_windows`).
WINDOWS = 7
#: Repeats of each triad measured between the advection timing windows (best of; see :func:`paired_fractions`).
PAIRED_TRIAD_REPEATS = 3
#: Wall time (s) and windows of the asv suite's ``track_*`` rates (:func:`timing_windows`: the median).
TRACK_SECONDS, TRACK_WINDOWS = 0.6, 3


def machine() -> dict:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {"python": platform.python_version(), "numpy": np.__version__, "numba": numba.__version__}
    for mod in ("popstransport", "PyMPDATA", "scipy"):
        try:
            versions[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001 - optional
            versions[mod] = None
    a = np.zeros(64)
    _triad(a, a, a, 0.0)  # (a parallel region: Numba chooses its threading layer at the first)
    return {
        "platform": platform.platform(),
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "numba_threads": numba.get_num_threads(),
        "numba_threading_layer": numba.threading_layer(),
        "versions": versions,
    }


def grid_info(grid) -> dict:
    """The grid of a benchmark, for its JSON: topology, size, layers, and a one-line description."""
    return {"topology": grid.topology, "nlon": int(grid.nlon), "nlat": int(grid.nlat), "layers": int(grid.nlayer),
            "description": grid.describe()}


@numba.njit(parallel=True, cache=True)
def _triad(a, b, c, s):
    for i in numba.prange(a.size):
        a[i] = b[i] + s * c[i]


def last_level_cache_bytes() -> int | None:
    """The summed size of the machine's last-level caches (bytes), from Linux's ``/sys`` (``None`` elsewhere): each
    distinct cache of the highest level counted once, however many CPUs share it."""
    found: dict[tuple[str, str], int] = {}  # (CPUs sharing it, index) -> bytes, of the highest level seen
    level_seen = 0
    units = {"K": 1024, "M": 1024**2, "G": 1024**3}
    for index in sorted(Path("/sys/devices/system/cpu").glob("cpu[0-9]*/cache/index[0-9]*")):
        try:
            level = int((index / "level").read_text())
            kind = (index / "type").read_text().strip()
            size = (index / "size").read_text().strip()
            shared = (index / "shared_cpu_list").read_text().strip()
        except (OSError, ValueError):
            continue
        if kind == "Instruction" or not size:
            continue
        nbytes = int(size[:-1]) * units[size[-1]] if size[-1] in units else int(size)
        if level > level_seen:
            found, level_seen = {}, level
        if level == level_seen:
            found[(shared, index.name)] = nbytes
    return sum(found.values()) if found else None


def triad_elements(cache_bytes: int | None, quick: bool = False) -> int:
    """Doubles per triad array: at least 2**25 (256 MiB), and at least four times the last-level caches, as the
    STREAM run rules ask (McCalpin, https://www.cs.virginia.edu/stream/ref.html), so that the triad reads memory
    and not a cache (a 2-core guest of a host with a 260 MiB shared cache saw 256 MiB arrays partly served from
    it); rounded up to whole MiB. ``quick``: 2**22, for smoke tests (in the cache: not a bandwidth figure)."""
    if quick:
        return 2**22
    need = 2**25 if cache_bytes is None else max(2**25, -(-4 * cache_bytes // 8))
    return -(-need // 2**17) * 2**17


class Triad:
    """A STREAM-like triad ``a = b + s c`` on three arrays of ``n`` doubles allocated (and touched) once, so that it
    can be measured again and again within a run: :meth:`measure` gives the best-of-``repeats`` bandwidth in GB/s,
    counting 24 bytes per element, on ``threads`` Numba threads (default: all)."""

    def __init__(self, n: int = 2**25):
        self.n = n
        self.a = np.zeros(n)
        self.b = np.random.default_rng(0).random(n)
        self.c = np.random.default_rng(1).random(n)
        _triad(self.a, self.b, self.c, 3.0)

    def measure(self, repeats: int = 10, threads: int | None = None) -> float:
        before = numba.get_num_threads()
        numba.set_num_threads(threads or before)
        try:
            _triad(self.a, self.b, self.c, 3.0)
            best = np.inf
            for _ in range(repeats):
                t0 = time.perf_counter()
                _triad(self.a, self.b, self.c, 3.0)
                best = min(best, time.perf_counter() - t0)
        finally:
            numba.set_num_threads(before)
        return 24.0 * self.n / best / 1e9


def stream_triad(n: int = 2**25, repeats: int = 10) -> dict:
    """Best-of-``repeats`` STREAM triad bandwidth (GB/s, 24 bytes per element) on fresh arrays of ``n`` doubles."""
    gbs = Triad(n).measure(repeats)
    return {"elements": n, "seconds": 24.0 * n / gbs / 1e9, "GB_per_s": gbs}


@numba.njit(parallel=True, cache=True)
def _tag_stencil(m, wx, wy, nchunk):
    """Both 1-D passes of a bare two-point tag split on ``m (T, L, J, I)`` in place: a plane's zonal pass (periodic
    rows) and then its meridional pass (closed ends), the planes dealt to ``nchunk`` work items. The flux through a
    face is ``max(w, 0) m_below + min(w, 0) m_above`` with tag-independent weights ``wx (L, J, I + 1)``,
    ``wy (L, J + 1, I)``, as in the advection kernel's tag passes."""
    nt, nl, nj, ni = m.shape
    nplane = nt * nl
    for c in numba.prange(nchunk):
        fs = np.empty(ni)
        for q in range(c * nplane // nchunk, (c + 1) * nplane // nchunk):
            plane = m[q // nl, q % nl]
            l = q % nl
            for j in range(nj):
                row = plane[j]
                w = wx[l, j]
                first = row[0]
                f_lo = max(w[0], 0.0) * row[ni - 1] + min(w[0], 0.0) * first
                for i in range(ni - 1):
                    f_hi = max(w[i + 1], 0.0) * row[i] + min(w[i + 1], 0.0) * row[i + 1]
                    row[i] -= f_hi - f_lo
                    f_lo = f_hi
                f_hi = max(w[ni], 0.0) * row[ni - 1] + min(w[ni], 0.0) * first
                row[ni - 1] -= f_hi - f_lo
            for i in range(ni):
                fs[i] = 0.0
            for j in range(nj - 1):
                row = plane[j]
                up = plane[j + 1]
                w = wy[l, j + 1]
                for i in range(ni):
                    f_n = max(w[i], 0.0) * row[i] + min(w[i], 0.0) * up[i]
                    row[i] -= f_n - fs[i]
                    fs[i] = f_n
            row = plane[nj - 1]
            for i in range(ni):
                row[i] += fs[i]


def tag_stencil_floor(shape: tuple[int, int, int, int], seconds: float) -> dict:
    """Wall time of :func:`_tag_stencil` on a state of ``shape``: the least time in which this machine splits given
    face weights among the tags in both directions (every tag read and written once per pass, one multiply-add per
    face and side, the planes dealt to the threads). The advection kernel does this and more: it first sweeps the
    total over tags (reconstruction, limiter, weights), and its faces that pass whole cells and its polar rows take
    longer stencils. Weights are uniform in -0.45 .. 0.45 (Courant numbers below one), so masses stay positive, and
    every other step runs them backwards: always in one direction the split drains the cells that only lose mass
    into subnormal numbers within a few hundred steps (a tenth of the state after 1500), whose arithmetic is slow
    (8 tags on the 1-degree grid, one thread: 0.8 ms a step growing to 2.1 ms), so that the time would depend on how
    long it was measured."""
    nt, nl, nj, ni = shape
    rng = np.random.default_rng(2)
    m = rng.random(shape) + 0.5
    wx = rng.uniform(-0.45, 0.45, (nl, nj, ni + 1))
    wx[:, :, ni] = wx[:, :, 0]
    wy = rng.uniform(-0.45, 0.45, (nl, nj + 1, ni))
    back_x, back_y = -wx, -wy
    nchunk = min(numba.get_num_threads(), nt * nl)

    def there_and_back():
        _tag_stencil(m, wx, wy, nchunk)
        _tag_stencil(m, back_x, back_y, nchunk)

    there_and_back()
    timing = timing_windows(there_and_back, 2, seconds)
    return {"seconds_per_step": timing["seconds_per_step"], "seconds_per_step_min": timing["seconds_per_step_min"],
            "seconds_per_step_max": timing["seconds_per_step_max"], "work_items": nchunk}


def write_results(result: dict, path: str | Path) -> Path:
    """Write a benchmark's results as JSON (creating the folder) and say where."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=lambda o: o.item() if hasattr(o, "item") else str(o)))
    print(f"\nwritten: {out}")
    return out


def timing_windows(step, steps_per_call: int, seconds: float, windows: int = WINDOWS, reference=None) -> dict:
    """Wall time per step of ``step()`` (which advances ``steps_per_call`` steps) in ``windows`` consecutive windows
    of at least ``seconds / windows`` and three calls each: the median over the windows, and the fastest and slowest
    window. (On a shared virtual machine the speed drifts over minutes; the median of short windows is steadier than
    the mean of one long window.) With ``reference`` (a callable returning a number, such as :meth:`Triad.measure`),
    it is called before the first window and after every window, untimed, and the result lists these readings
    (``reference_readings``, one more than the windows) beside the windows' times (``seconds_per_step_windows``)."""
    per = []
    readings = [reference()] if reference is not None else None
    steps = 0
    for _ in range(windows):
        n = 0
        t0 = time.perf_counter()
        while True:
            step()
            n += 1
            el = time.perf_counter() - t0
            if el > seconds / windows and n >= 3:
                break
        per.append(el / (n * steps_per_call))
        steps += n * steps_per_call
        if readings is not None:
            readings.append(reference())
    out = {
        "seconds_per_step": float(np.median(per)),
        "seconds_per_step_min": float(min(per)),
        "seconds_per_step_max": float(max(per)),
        "windows": windows,
        "steps_timed": steps,
    }
    if readings is not None:
        out["seconds_per_step_windows"] = per
        out["reference_readings"] = readings
    return out


def paired_fractions(bytes_per_step: float, timing: dict) -> dict:
    """The bandwidth of each timing window of :func:`timing_windows` (``bytes_per_step`` over its seconds per step)
    as a fraction of the higher of the two triad readings on either side of it: on a shared host whose bandwidth
    changes from one minute to the next, this pairs the kernel with what the machine could move at that moment
    and never flatters it (a window during which the bandwidth changed is divided by the higher reading). Returns the
    median, lowest and highest fraction over the windows and each window's triad."""
    r = timing["reference_readings"]
    triads = [max(r[k], r[k + 1]) for k in range(len(r) - 1)]
    fr = [bytes_per_step / s / 1e9 / t for s, t in zip(timing["seconds_per_step_windows"], triads)]
    return {"median": float(np.median(fr)), "min": float(min(fr)), "max": float(max(fr)), "fractions": fr,
            "triad_GB_per_s": triads}


def _advection_problem(resolution_deg: float, ntag: int, scheme: str):
    """The advection benchmark's grid, air mass, fluxes, state ``(ntag, 2, J, I)`` and process."""
    from popstransport.grid import AirLayers, LatLonGrid
    from popstransport.io.met.testcases import solid_body_rotation
    from popstransport.processes.advection import HorizontalAdvection

    grid = LatLonGrid.global_grid(resolution_deg, layers=AirLayers((0.0, 1000.0, 10000.0)))
    flow = solid_body_rotation(np.pi / 4)
    U, V = flow.mass_fluxes(grid, 0.0, DT_S)
    M = grid.air_mass_kg()
    air = np.ascontiguousarray(np.broadcast_to(flow.initial_mixing_ratio(grid) * M, (ntag,) + M.shape)).copy()
    return grid, M, U, V, air, HorizontalAdvection(scheme, grid=grid)


def fresh_process_output(code: str, what: str) -> str:
    """Run the Python ``code`` in a new process (this process's environment, so its Numba cache directory) and return
    the last line it printed; a failure raises with ``what`` and the end of its error output."""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{what} in a fresh process failed: {proc.stderr[-800:]}")
    return proc.stdout.strip().splitlines()[-1]


def numba_cache_files() -> int | None:
    """Number of files in this process's Numba cache directory (``NUMBA_CACHE_DIR``; ``None`` when it is not set)."""
    folder = os.environ.get("NUMBA_CACHE_DIR")
    if not folder:
        return None
    return sum(len(files) for _, _, files in os.walk(folder))


def first_call_in_fresh_process(resolution_deg: float, ntag: int, scheme: str) -> tuple[float, bool | None]:
    """Wall time (s) of the first advection call of the benchmark problem in a new Python process (with this
    process's Numba cache directory: it compiles there if the cache lacks the kernels, and leaves them for later),
    and whether it compiled: whether the cache gained files (``None`` without ``NUMBA_CACHE_DIR``). Only the first
    case of a run with a fresh cache compiles; later cases, or a run with a warm cache, load the kernels."""
    code = (
        "import sys, time\n"
        f"sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})\n"
        "import run\n"
        f"run.DT_S = DT_S = {DT_S!r}\n"
        "from run import _advection_problem\n"
        f"grid, M, U, V, air, adv = _advection_problem({resolution_deg!r}, {ntag!r}, {scheme!r})\n"
        "t0 = time.perf_counter()\n"
        "adv.advect(air, M, U, V, DT_S, record_key=0)\n"
        "print(time.perf_counter() - t0)\n"
    )
    before = numba_cache_files()
    seconds = float(fresh_process_output(code, "the first advection call"))
    return seconds, None if before is None else numba_cache_files() > before


def advection(resolution_deg: float, ntag: int, scheme: str, seconds: float, triad: Triad | None = None) -> dict:
    """One case of the advection benchmark: compile time, timing windows and throughput, with ``triad`` (if given)
    measured between the windows (best of :data:`PAIRED_TRIAD_REPEATS`) for :func:`paired_fractions`."""
    first, compiled = first_call_in_fresh_process(resolution_deg, ntag, scheme)
    grid, M, U, V, air, adv = _advection_problem(resolution_deg, ntag, scheme)
    t0 = time.perf_counter()
    # one met record, as the model runs it: it passes its record key, so the step limits (a pass over the fluxes)
    # are worked out once per record
    adv.advect(air, M, U, V, DT_S, record_key=0)
    first_here = time.perf_counter() - t0
    timing = timing_windows(lambda: adv.advect(air, M, U, V, DT_S, record_key=0), 1, seconds,
                            reference=(lambda: triad.measure(PAIRED_TRIAD_REPEATS)) if triad else None)
    per_step = timing["seconds_per_step"]
    tcs = air.size / per_step
    sweeps = 2 * adv.last_substeps
    paired = paired_fractions(air.size * 16.0 * sweeps, timing) if triad else None
    floor = tag_stencil_floor(air.shape, seconds / 2) if ntag > 1 else None
    # the same triad on arrays of the tags' state (working set three times the state): what the machine moves when
    # the data fit where the state does; against a last-level cache larger than the state it reads the cache
    at_state_size = Triad(air.size).measure()
    return {
        "tags": ntag,
        "grid": grid_info(grid),
        "layers": grid.nlayer,
        "cells": grid.nlat * grid.nlon,
        "scheme": scheme,
        "dt_s": DT_S,
        "substeps": adv.last_substeps,
        "max_courant_x": adv.last_courant[0],
        "max_courant_y": adv.last_courant[1],
        **timing,
        "first_call_seconds": first,
        "first_call_compiled": compiled,
        # (a first call that found the kernels in the cache did not compile: it has no compile time to report)
        "compile_seconds": None if compiled is False else max(first - per_step, 0.0),
        "first_call_seconds_timing_process": first_here,
        "tag_cell_steps_per_s": tcs,
        "state_bytes_per_tag_cell_step": 16.0 * sweeps,
        "state_bytes": int(air.nbytes),
        "triad_at_state_size_GB_per_s": at_state_size,
        "fraction_of_paired_triad": paired,
        "tag_stencil_floor": floor,
        "ratio_to_tag_stencil_floor": per_step / floor["seconds_per_step"] if floor else None,
    }


class CourantFields:
    """G factor and G-weighted Courant numbers of PyMPDATA from our C-grid fluxes; PyMPDATA's layout is (lon, lat)."""

    def __init__(self, grid):
        sigma = float(grid.layers.air_mass_per_area_kg_m2()[0])
        dlon = float(grid.dlon_rad[0])
        dlat = float(grid.dlat_rad[0])
        self.unit_kg = sigma * grid.radius_m**2 * dlon * dlat  # air of a cell with G = 1
        self.g = np.ascontiguousarray((grid.cell_area_m2 / (grid.radius_m**2 * dlon * dlat)).T)  # (I, J)

    def gc_per_s(self, U: np.ndarray, V: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """G C per second: x component (I + 1, J), y component (I, J + 1)."""
        return U[0].T / self.unit_kg, V[0].T / self.unit_kg

    def outflow_courant(self, gcx: np.ndarray, gcy: np.ndarray) -> float:
        """Largest over cells of the outflowing G C over G (upwind stability needs <= 1)."""
        out = (np.maximum(gcx[1:], 0.0) + np.maximum(-gcx[:-1], 0.0) + np.maximum(gcy[:, 1:], 0.0)
               + np.maximum(-gcy[:, :-1], 0.0))
        return float((out / self.g).max())

    def solver(self, options, courant_x: np.ndarray, courant_y: np.ndarray, mixing_ratio: np.ndarray):
        """A PyMPDATA solver of one field on the global grid (Periodic in longitude, Polar in latitude, G factor
        :attr:`g`) with the G-weighted Courant numbers ``courant_x (I + 1, J)``, ``courant_y (I, J + 1)`` of a step and
        the initial ``mixing_ratio (J, I)``: ``(solver, stepper, advector, advectee)``."""
        from PyMPDATA import ScalarField, Solver, Stepper, VectorField
        from PyMPDATA.boundary_conditions import Periodic, Polar

        nx, ny = self.g.shape
        bcs = (Periodic(), Polar(grid=(nx, ny), longitude_idx=0, latitude_idx=1))
        advector = VectorField((courant_x, courant_y), halo=options.n_halo, boundary_conditions=bcs)
        gfac = ScalarField(self.g, halo=options.n_halo, boundary_conditions=bcs)
        field = ScalarField(mixing_ratio.T.copy(), halo=options.n_halo, boundary_conditions=bcs)
        stepper = Stepper(options=options, grid=(nx, ny), non_unit_g_factor=True)
        return Solver(stepper, field, advector, g_factor=gfac), stepper, advector, field


#: PyMPDATA's options in the peer comparison.
PYMPDATA_OPTIONS = "n_iters=2, nonoscillatory=True, Polar/Periodic, G = cell area / (a^2 dlon dlat)"
#: PyMPDATA's steps per ``Solver.advance`` call in the timings (see :func:`pympdata`).
PYMPDATA_STEPS_PER_CALL = 100


def pympdata_solver(resolution_deg: float):
    """PyMPDATA's solver for one field of the benchmark problem on the same global grid, with its longest stable
    step: ``(solver, dt_s, cells)``, or ``None`` when PyMPDATA is not installed (``pip install -e '.[bench]'``)."""
    try:
        from PyMPDATA import Options
    except ImportError:
        return None
    from popstransport.grid import AirLayers, LatLonGrid
    from popstransport.io.met.testcases import solid_body_rotation

    grid = LatLonGrid.global_grid(resolution_deg, layers=AirLayers((0.0, 1000.0)))
    flow = solid_body_rotation(np.pi / 4)
    U, V = flow.mass_fluxes(grid, 0.0, 1.0)
    cf = CourantFields(grid)
    gx, gy = cf.gc_per_s(U, V)
    # explicit Eulerian MPDATA needs every cell's outflow Courant number at most one, including the polar cells': its
    # longest step (as in deformational.py)
    dt = 1.0 / cf.outflow_courant(gx, gy)
    solver, _, _, _ = cf.solver(Options(n_iters=2, nonoscillatory=True), gx * dt, gy * dt, flow.initial_mixing_ratio(grid))
    return solver, dt, grid.nlon * grid.nlat


def pympdata(resolution_deg: float, seconds: float) -> dict | None:
    built = pympdata_solver(resolution_deg)
    if built is None:
        return None
    solver, dt, cells = built
    t0 = time.perf_counter()
    solver.advance(1)
    first = time.perf_counter() - t0
    # every Solver.advance call costs about 3 ms of Numba argument typing, three steps' worth here: timed in calls of
    # PYMPDATA_STEPS_PER_CALL steps, as a run of many steps calls it (in calls of 10 steps, 1.0 ms a step against
    # 0.73-0.88 ms in calls of 100-400)
    timing = timing_windows(lambda: solver.advance(PYMPDATA_STEPS_PER_CALL), PYMPDATA_STEPS_PER_CALL, seconds)
    per_step = timing["seconds_per_step"]
    return {
        "cells": cells,
        "options": PYMPDATA_OPTIONS,
        "steps_per_advance_call": PYMPDATA_STEPS_PER_CALL,
        "dt_s": dt,
        **timing,
        "first_call_seconds": first,
        "compile_seconds": max(first - per_step, 0.0),
        "cell_steps_per_s": cells / per_step,
    }


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=None, help="JSON output file (default benchmarks/results.json, or "
                   "benchmarks/results_quick.json with --quick, so that a smoke test leaves the full results alone)")
    p.add_argument("--resolution", type=float, default=1.0, help="grid spacing in degrees (default 1)")
    p.add_argument("--seconds", type=float, default=3.0, help="minimum timed wall time per case")
    p.add_argument("--dt", type=float, default=DT_S, help=f"advection step in seconds (default {DT_S:g}; on finer "
                   "grids a step in proportion to the spacing keeps the Courant numbers of the default problem)")
    p.add_argument("--scheme", default="ppm")
    p.add_argument("--tags", default="1,8,32")
    p.add_argument("--no-pympdata", action="store_true")
    p.add_argument("--quick", action="store_true", help="short timings, small triad (for smoke tests)")
    args = p.parse_args(argv)
    globals()["DT_S"] = args.dt  # (the module's step, read by the cases and by the fresh processes they start)
    if args.out is None:
        args.out = "benchmarks/results_quick.json" if args.quick else "benchmarks/results.json"
    secs = 0.3 if args.quick else args.seconds
    result: dict = {"machine": machine(), "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
    print(f"machine: {result['machine']['cpu']}, {result['machine']['logical_cpus']} logical CPUs, "
          f"Numba threads {result['machine']['numba_threads']}")
    cache = last_level_cache_bytes()
    n_triad = triad_elements(cache, args.quick)
    triad = Triad(n_triad)
    tri = {"elements": n_triad, "array_bytes": 8 * n_triad, "last_level_cache_bytes": cache, "GB_per_s": triad.measure()}
    print(f"triad arrays: 3 x {8 * n_triad / 2**20:.0f} MiB (last-level cache: "
          + ("unknown" if cache is None else f"{cache / 2**20:.0f} MiB") + ")")
    one_thread = triad.measure(threads=1)
    print(f"STREAM-like triad: {tri['GB_per_s']:.2f} GB/s ({one_thread:.2f} GB/s on one thread)")
    runs = [advection(args.resolution, int(t), args.scheme, secs, triad) for t in args.tags.split(",")]
    result["advection"] = runs
    # on a shared machine the bandwidth left to this run changes within seconds to minutes (the 2-core host of the
    # committed results switches between about 49 and 84 GB/s, one thread reading 43 at both): the triad is measured
    # again after the advection timings, and between their windows, and the highest reading of the run is the
    # reference, so that the fractions are never flattered by a slow moment; each window's fraction of the triad on
    # either side of it is reported too
    after = triad.measure()
    print(f"STREAM-like triad after the advection timings: {after:.2f} GB/s")
    between = [g for r in runs for g in r["reference_readings"]]
    tri = dict(tri, GB_per_s=max([tri["GB_per_s"], after] + between), GB_per_s_before_and_after=[tri["GB_per_s"], after],
               GB_per_s_between_windows=[min(between), float(np.median(between)), max(between)],
               GB_per_s_one_thread=one_thread)
    result["stream_triad"] = tri
    ref = None if args.no_pympdata else pympdata(args.resolution, secs)
    result["pympdata"] = ref
    print(f"\nadvection ({args.scheme}) on a {args.resolution:g}-degree global grid, 2 layers, dt = {DT_S:g} s "
          f"(solid-body rotation, alpha = pi/4; substeps {runs[0]['substeps']}, max zonal Courant "
          f"{runs[0]['max_courant_x']:.1f})")
    lo, med, hi = tri["GB_per_s_between_windows"]
    print(f"reference bandwidth: {tri['GB_per_s']:.2f} GB/s (the highest triad of the run; between the timing windows "
          f"{lo:.1f}-{hi:.1f} GB/s, median {med:.1f}; one thread {one_thread:.1f})")
    print(f"{'tags':>5}{'ms/step':>10}{'windows ms':>14}{'tag-cell-steps/s':>18}{'bandwidth':>11}{'of triad':>10}"
          f"{'of paired (range)':>20}{'vs PyMPDATA':>13}{'compile s':>11}{'floor ms':>10}{'x floor':>9}")
    for r in runs:
        gbs = r["tag_cell_steps_per_s"] * r["state_bytes_per_tag_cell_step"] / 1e9
        r["effective_GB_per_s"] = gbs
        r["fraction_of_triad"] = gbs / tri["GB_per_s"]
        r["fraction_of_triad_at_state_size"] = gbs / r["triad_at_state_size_GB_per_s"]
        r["state_fits_in_last_level_cache"] = None if cache is None else r["state_bytes"] < cache
        # (the cache a guest gets of a shared last-level cache is smaller than /sys says: whether the state is
        # served by it is read from the triad on arrays of its size, against the memory triad)
        r["state_served_by_cache"] = r["triad_at_state_size_GB_per_s"] > 1.2 * tri["GB_per_s"]
        r["ratio_to_pympdata_per_tracer"] = (
            r["tag_cell_steps_per_s"] / ref["cell_steps_per_s"] if ref else None
        )
        ratio = f"{r['ratio_to_pympdata_per_tracer']:.2f}" if ref else "-"
        spread = f"{r['seconds_per_step_min'] * 1e3:.2f}-{r['seconds_per_step_max'] * 1e3:.2f}"
        pf = r["fraction_of_paired_triad"]
        paired = f"{pf['median']:.1%} ({pf['min']:.0%}-{pf['max']:.0%})"
        print(f"{r['tags']:>5}{r['seconds_per_step'] * 1e3:>10.2f}{spread:>14}{r['tag_cell_steps_per_s']:>18.3e}"
              f"{gbs:>9.2f}GB{r['fraction_of_triad']:>10.2%}{paired:>20}{ratio:>13}"
              + (f"{r['compile_seconds']:>11.1f}" if r["compile_seconds"] is not None else f"{'-':>11}")
              + (f"{r['tag_stencil_floor']['seconds_per_step'] * 1e3:>10.2f}{r['ratio_to_tag_stencil_floor']:>9.2f}"
                 if r["tag_stencil_floor"] else f"{'-':>10}{'-':>9}"))
    for r in runs:
        print(f"{r['tags']:>5} tag(s): state {r['state_bytes'] / 2**20:.0f} MiB"
              + ("" if cache is None else f" ({'inside' if r['state_fits_in_last_level_cache'] else 'beyond'} the "
                 f"{cache / 2**20:.0f} MiB last-level cache)")
              + f"; triad on arrays of the state's size {r['triad_at_state_size_GB_per_s']:.1f} GB/s "
              + ("(served by the cache)" if r["state_served_by_cache"] else "(memory)")
              + f", of which the step is {r['fraction_of_triad_at_state_size']:.1%}")
    inside = [r for r in runs if r["state_served_by_cache"]]
    if inside:
        big = max(inside, key=lambda r: r["state_bytes"])
        finer = args.resolution * (big["state_bytes"] / (4 * (cache or 4 * big["state_bytes"]))) ** 0.5
        print(f"A state served by the cache flatters its fraction of the memory triad: for the fraction of memory "
              f"bandwidth with {big['tags']} tags, run a grid whose state is four times the cache (--resolution "
              f"{finer:.2g} or finer, with --dt in proportion).")
    if ref:
        sim = runs[0]["tag_cell_steps_per_s"] * DT_S / (ref["cell_steps_per_s"] * ref["dt_s"])
        result["ratio_to_pympdata_per_simulated_time_1_tag"] = sim
        print(f"\nPyMPDATA (one field, {ref['options']}): {ref['cell_steps_per_s']:.3e} cell-steps/s, "
              f"{ref['seconds_per_step'] * 1e3:.2f} ms/step, compile {ref['compile_seconds']:.1f} s.\n"
              f"Its explicit scheme is stable here only for dt <= {ref['dt_s']:.3g} s (polar cells), against "
              f"{DT_S:g} s for the flux-form semi-Lagrangian core: per simulated time the core is {sim:.0f} x faster.")
    write_results(result, args.out)
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
