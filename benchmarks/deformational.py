"""Time to solution against PyMPDATA at equal or better accuracy: the deformational flow on the sphere.

Usage::

    python benchmarks/deformational.py [--resolution 1.5] [--case cosine_bells] [--out FILE.json] [--quick]
                                       [--threads N] [--variants ...] [--refine-pympdata] [--no-pympdata]

Test case: the non-divergent, time-dependent, reversing deformational flow of Nair & Lauritzen (2010, J. Comput.
Phys. 229:8868), case 4, as test 1 of Lauritzen et al. (2012, Geosci. Model Dev. 5:887), with the cosine bells
(default), Gaussian hills or slotted cylinders; after one period (12 days) the exact solution is the initial field.
Both models run on the same global longitude-latitude grid (one air layer) for one whole period with the same
discretely non-divergent C-grid air-mass fluxes (``TransportTestCase.mass_fluxes``: the stream function at the
cell corners, taken at the middle of every step), recomputed every step.

Models:

- ours: ``HorizontalAdvection`` (default scheme ``"ppm"``), first at the step of ``popstransport verify`` (the
  number of steps per period that gives an equatorial Courant number of 0.8 for the fastest wind of the flow), then
  at *its own* longest step: the one at which the core needs no meridional sub-steps (largest meridional Courant
  number 0.95; zonal Courant numbers above one need none), on the given grid and on coarser ones; with 1 and with
  8 identical tags advanced by one call (time per tracer = time / tags). The flux-form semi-Lagrangian remap is
  least diffusive near Courant number one, so its longest step is also its most accurate;
- PyMPDATA (Bartman et al. 2022, Comput. Phys. Commun. 277:108388) as in ``benchmarks/run.py``: Periodic (x) and
  Polar (y) boundary conditions, G factor = the cell area over ``a^2 dlambda dphi`` (``cos(phi)`` integrated over
  the cell, so that ``G psi`` times ``sigma a^2 dlambda dphi`` is exactly our cell's tracer mass) and G-weighted
  Courant numbers ``G C = F dt / (sigma a^2 dlambda dphi)`` from the same air-mass fluxes ``F``. The G C fields of
  64 steps are computed ahead and ``Solver.advance(64, ante_step=hook)`` runs them: a Numba jitclass hook writes
  step k's field into the advector and marks its halo invalid so that PyMPDATA refills it (bit-identical to
  writing ``solver.advector.get_component(i)`` from Python before ``advance(1)``, without the ~3 ms of Numba
  argument typing that every ``advance`` call costs). One advectee per solver: with Polar boundaries every
  ScalarField gets its own halo-filling functions, which PyMPDATA 1.7 cannot take as a tuple of advectees (its
  step loops over advectees one after another anyway, so the time per tracer does not depend on their number). Explicit
  Eulerian MPDATA needs every cell's outflow Courant number ``sum(outflowing G C) / G`` at most one; its step is
  the largest that keeps this at or below ``--pympdata-courant`` (default 1) over the whole period (checked at every
  step). Variants: two non-oscillatory iterations (as in ``run.py``), three, and two with the infinite-gauge option.

Timing: wall time of the whole period excluding compilation (a warm-up call comes first and is reported as
``first_call_seconds``; ours on a scratch copy, PyMPDATA on its fields, which are then reset: its compiled step is
specific to the fields' halo functions, so a fresh solver would compile again) and excluding the evaluation of the
stream function, which both models share (``flux_seconds``). For PyMPDATA the conversion of the fluxes to Courant
numbers is counted (``advector_seconds``): it is part of driving it with time-varying winds. With more than one
Numba thread on a machine whose cores are busy, every parallel region waits for a descheduled thread (PyMPDATA
runs a dozen per step), which can slow it down a hundredfold; hence both run single-threaded by default
(``--threads 0``: all cores); the load average is recorded.

Accuracy: normalised l1, l2 and linf errors (Williamson et al. 1992) against the exact solution. "Equal or better
accuracy": for every PyMPDATA variant, the cheapest of our runs (either step, the given or a coarser grid, each about
1.1 times coarser, 12 of them) with ``l2`` at most PyMPDATA's; if no run of ours on the given grid is as accurate,
ours is rerun on finer grids. The
ratio is PyMPDATA seconds per tracer over our seconds per tracer (above one: ours is faster). If PyMPDATA is the
less accurate, this compares each at its own grid and step; ``--refine-pympdata`` adds the comparison the other way
round: the most accurate PyMPDATA variant on finer grids (about 1.25 times finer each) until its l2 is at most
ours, and its time interpolated to exactly our l2 (log time linear in log l2 between the two bracketing grids). """

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

if __name__ == "__main__":
    # a cache kept between runs: PyMPDATA compiles for about a minute per variant
    os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(tempfile.gettempdir(), "popstransport-bench-numba"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numba  # noqa: E402
import numba.experimental  # noqa: E402
import numpy as np  # noqa: E402

from popstransport.grid import AirLayers, LatLonGrid  # noqa: E402
from popstransport.io.met.testcases import deformational_flow  # noqa: E402
from popstransport.processes.advection import PARALLEL_MIN_CELLS, HorizontalAdvection  # noqa: E402
from popstransport.verification import error_norms  # noqa: E402
from run import CourantFields, machine, write_results  # noqa: E402

#: Largest wind speed of the flow in radians of great circle per period (Nair & Lauritzen 2010 case 4: k + 2 pi
#: with k = 10), as in ``popstransport.verification``.
SPEED_RAD_PER_PERIOD = 10.0 + 2.0 * np.pi

#: PyMPDATA variants: label -> Options keyword arguments.
PYMPDATA_VARIANTS: dict[str, dict] = {
    "n_iters=2 nonosc": {"n_iters": 2, "nonoscillatory": True},
    "n_iters=3 nonosc": {"n_iters": 3, "nonoscillatory": True},
    "n_iters=2 nonosc iga": {"n_iters": 2, "nonoscillatory": True, "infinite_gauge": True},
}


def make_grid(resolution_deg: float) -> LatLonGrid:
    """Global grid with one air layer (0-1000 m), cells from 0 degrees east (as ``popstransport verify``)."""
    return LatLonGrid.global_grid(resolution_deg, lon_start_deg=0.0, layers=AirLayers((0.0, 1000.0)))


def _summary(q: np.ndarray, grid: LatLonGrid, exact: np.ndarray, mass_error: float) -> dict:
    out = error_norms(q, exact, grid.cell_area_m2)
    out.update(min=float(q.min()), max=float(q.max()), mass_error=mass_error, finite=bool(np.all(np.isfinite(q))))
    return out


def ours(case: str, resolution_deg: float, ntag: int, scheme: str = "ppm", courant: float = 0.8) -> dict:
    """One period of the deformational flow with ``HorizontalAdvection`` and ``ntag`` identical tags."""
    flow = deformational_flow(case)
    grid = make_grid(resolution_deg)
    spacing_rad = np.deg2rad(min(resolution_deg, 180.0 / grid.nlat))
    steps = int(np.ceil(SPEED_RAD_PER_PERIOD / (courant * spacing_rad)))
    dt_s = flow.period_s / steps
    M = grid.air_mass_kg()
    q0 = flow.initial_mixing_ratio(grid)
    air = np.ascontiguousarray(np.broadcast_to(q0 * M[0], (ntag, 1) + q0.shape)).copy()
    mass0 = float(air[0].sum())

    U, V = flow.mass_fluxes(grid, 0.0, dt_s)
    warm = HorizontalAdvection(scheme, grid=grid)
    t0 = time.perf_counter()
    warm.advect(air.copy(), M, U, V, dt_s)
    first_s = time.perf_counter() - t0

    adv = HorizontalAdvection(scheme, grid=grid)
    flux_s = advect_s = 0.0
    max_sub, max_cx, max_cy = 0, 0.0, 0.0
    for n in range(steps):
        t0 = time.perf_counter()
        U, V = flow.mass_fluxes(grid, n * dt_s, dt_s)
        t1 = time.perf_counter()
        adv.advect(air, M, U, V, dt_s)
        t2 = time.perf_counter()
        flux_s += t1 - t0
        advect_s += t2 - t1
        max_sub = max(max_sub, adv.last_substeps)
        max_cx = max(max_cx, adv.last_courant[0])
        max_cy = max(max_cy, adv.last_courant[1])
    q = air[0, 0] / M[0]
    out = {
        "model": "popstransport",
        "scheme": scheme,
        "resolution_deg": float(resolution_deg),
        "nlon": grid.nlon,
        "nlat": grid.nlat,
        "tracers": ntag,
        "parallel_kernel": ntag * grid.nlat * grid.nlon >= PARALLEL_MIN_CELLS,
        "steps": steps,
        "dt_s": dt_s,
        "max_substeps": max_sub,
        "max_courant_zonal": max_cx,
        "max_courant_meridional": max_cy,
        "first_call_seconds": first_s,
        "flux_seconds": flux_s,
        "seconds": advect_s,
        "seconds_per_tracer": advect_s / ntag,
        "tags_identical": bool(np.array_equal(air[0], air[-1])),
    }
    out.update(_summary(q, grid, flow.exact_mixing_ratio(grid, steps * dt_s), float(air[0].sum()) / mass0 - 1.0))
    return out


def pympdata_steps(case: str, resolution_deg: float, courant: float, samples: int = 720) -> int:
    """Fewest steps per period that keep PyMPDATA's outflow Courant number <= ``courant`` (flow sampled in time)."""
    flow = deformational_flow(case)
    grid = make_grid(resolution_deg)
    cf = CourantFields(grid)
    rate = 0.0
    for t in np.linspace(0.0, flow.period_s, samples + 1):
        rate = max(rate, cf.outflow_courant(*cf.gc_per_s(*flow.mass_fluxes(grid, float(t), 0.0))))
    return int(np.ceil(rate * flow.period_s / courant * (1.0 + 1e-9)))


_HOOK_CLASS = None


def _advector_hook_class():
    """A PyMPDATA ante-step hook (Numba jitclass) that writes step ``k`` of a chunk of precomputed G C fields into
    the advector and marks its halo invalid, so that ``advance(chunk)`` runs a time-varying flow without a Python
    call per step (each ``Solver.advance`` call costs milliseconds of Numba argument typing)."""
    global _HOOK_CLASS
    if _HOOK_CLASS is None:
        spec = [("cx", numba.float64[:, :, ::1]), ("cy", numba.float64[:, :, ::1]), ("x0", numba.int64),
                ("x1", numba.int64), ("y0", numba.int64), ("y1", numba.int64)]

        @numba.experimental.jitclass(spec)
        class AdvectorFromChunk:
            def __init__(self, cx, cy, x0, x1, y0, y1):
                self.cx = cx
                self.cy = cy
                self.x0 = x0
                self.x1 = x1
                self.y0 = y0
                self.y1 = y1

            def call(self, traversals_data, advectees, advector, step, index, s_outer, s_mid3d, s_inner):
                if index == 0:
                    meta, comp_x, _, comp_y = advector.field
                    nx1, ny = self.cx.shape[1], self.cx.shape[2]
                    nx, ny1 = self.cy.shape[1], self.cy.shape[2]
                    comp_x[self.x0:self.x0 + nx1, self.x1:self.x1 + ny] = self.cx[step]
                    comp_y[self.y0:self.y0 + nx, self.y1:self.y1 + ny1] = self.cy[step]
                    meta[0] = 0  # PyMPDATA.impl.meta.META_HALO_VALID: refill the halo before use

        _HOOK_CLASS = AdvectorFromChunk
    return _HOOK_CLASS


def pympdata(case: str, resolution_deg: float, variant: str, steps: int, chunk: int = 64) -> dict | None:
    """One period of the deformational flow with PyMPDATA: ``chunk`` steps per ``Solver.advance`` call, the G C
    fields of every step written into the advector by an ante-step hook."""
    try:
        from PyMPDATA import Options
        from PyMPDATA.impl.meta import META_HALO_VALID
    except ImportError:
        return None
    flow = deformational_flow(case)
    grid = make_grid(resolution_deg)
    nx, ny = grid.nlon, grid.nlat
    cf = CourantFields(grid)
    dt_s = flow.period_s / steps
    q0 = flow.initial_mixing_ratio(grid)
    gcx, gcy = cf.gc_per_s(*flow.mass_fluxes(grid, 0.0, dt_s))
    opts = Options(**PYMPDATA_VARIANTS[variant])
    solver, stepper, advector, field = cf.solver(opts, gcx * dt_s, gcy * dt_s, q0)
    hook_class = _advector_hook_class()
    (sx, sy), (tx, ty) = advector.domain[0], advector.domain[1]
    cx = np.empty((chunk, nx + 1, ny))
    cy = np.empty((chunk, nx, ny + 1))
    cx[:] = gcx[None] * dt_s
    cy[:] = gcy[None] * dt_s

    # warm-up (compiles; the jitted step is specific to these very fields, so it runs on them, then resets them)
    t0 = time.perf_counter()
    solver.advance(1, ante_step=hook_class(cx, cy, sx.start, sy.start, tx.start, ty.start))
    first_s = time.perf_counter() - t0
    field.get()[:] = q0.T
    field.meta[META_HALO_VALID] = False
    t0 = time.perf_counter()
    for _ in range(20):
        solver.advance(0, ante_step=hook_class(cx, cy, sx.start, sy.start, tx.start, ty.start))
    call_overhead_s = (time.perf_counter() - t0) / 20

    mass0 = float((field.get() * cf.g).sum())
    flux_s = update_s = advance_s = 0.0
    max_c = 0.0
    scale = dt_s / cf.unit_kg
    for n0 in range(0, steps, chunk):
        k = min(chunk, steps - n0)
        for i in range(k):
            t0 = time.perf_counter()
            U, V = flow.mass_fluxes(grid, (n0 + i) * dt_s, dt_s)
            t1 = time.perf_counter()
            np.multiply(U[0].T, scale, out=cx[i])
            np.multiply(V[0].T, scale, out=cy[i])
            update_s += time.perf_counter() - t1
            flux_s += t1 - t0
            max_c = max(max_c, cf.outflow_courant(cx[i], cy[i]))
        t0 = time.perf_counter()
        solver.advance(k, ante_step=hook_class(cx, cy, sx.start, sy.start, tx.start, ty.start))
        advance_s += time.perf_counter() - t0
    psi = field.get()
    q = np.ascontiguousarray(psi.T)
    seconds = update_s + advance_s
    out = {
        "model": "PyMPDATA",
        "variant": variant,
        "options": str(opts),
        "resolution_deg": float(resolution_deg),
        "nlon": nx,
        "nlat": ny,
        "tracers": 1,
        "threads": stepper.n_threads,
        "steps": steps,
        "steps_per_advance_call": chunk,
        "dt_s": dt_s,
        "max_outflow_courant": max_c,
        "first_call_seconds": first_s,
        "advance_call_overhead_seconds": call_overhead_s,
        "flux_seconds": flux_s,
        "advector_seconds": update_s,
        "advance_seconds": advance_s,
        "seconds": seconds,
        "seconds_per_tracer": seconds,
    }
    mass_error = float((psi * cf.g).sum()) / mass0 - 1.0
    out.update(_summary(q, grid, flow.exact_mixing_ratio(grid, steps * dt_s), mass_error))
    return out


def _coarser_resolutions(resolution_deg: float, count: int = 12, factor: float = 1.1) -> list[float]:
    """Grid spacings 180/n degrees (n even), each about ``factor`` coarser than the last, above ``resolution_deg``."""
    nlat = int(round(180.0 / resolution_deg))
    out = []
    for _ in range(count):
        nlat = min(nlat - 2, int(round(nlat / factor / 2.0)) * 2)
        if nlat < 8:
            break
        out.append(180.0 / nlat)
    return out


def _finer_resolutions(resolution_deg: float, count: int = 8, factor: float = 1.12) -> list[float]:
    """Grid spacings 180/n degrees (n even), each about ``factor`` finer than the last, below ``resolution_deg``."""
    nlat = int(round(180.0 / resolution_deg))
    out = []
    for _ in range(count):
        nlat = max(nlat + 2, int(round(nlat * factor / 2.0)) * 2)
        out.append(180.0 / nlat)
    return out


def _row(r: dict) -> str:
    name = f"ours {r['scheme']}" if r["model"] == "popstransport" else f"PyMPDATA {r['variant']}"
    grid = f"{r['nlon']}x{r['nlat']}"
    ok = "" if r["finite"] else "  NOT FINITE"
    return (f"{name:<26}{grid:>9}{r['tracers']:>4}{r['steps']:>7}{r['dt_s']:>8.0f}{r['l1']:>9.4f}{r['l2']:>9.4f}"
            f"{r['linf']:>9.4f}{r['min']:>10.3g}{r['max']:>8.4f}{r['seconds']:>9.2f}{r['seconds_per_tracer']:>10.3f}"
            f"{r['first_call_seconds']:>9.1f}{ok}")


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--resolution", type=float, default=None, help="grid spacing in degrees (default 1.5; 5 with --quick)")
    p.add_argument("--case", default="cosine_bells", choices=["cosine_bells", "gaussian_hills", "slotted_cylinders"])
    p.add_argument("--out", default="benchmarks/deformational_results.json", help="JSON output file")
    p.add_argument("--scheme", default="ppm")
    p.add_argument("--tags", default="1,8", help="tracer counts of our core (one call advances all)")
    p.add_argument("--pympdata-courant", type=float, default=1.0, help="largest outflow Courant number of PyMPDATA")
    p.add_argument("--variants", default=None,
                   help=f"PyMPDATA variants, comma-separated (default: all; the first with --quick): {list(PYMPDATA_VARIANTS)}")
    p.add_argument("--threads", type=int, default=1,
                   help="Numba threads for both models (default 1: comparable on a shared machine; 0: all cores)")
    p.add_argument("--no-pympdata", action="store_true", help="our core only")
    p.add_argument("--refine-pympdata", action="store_true",
                   help="also rerun the most accurate PyMPDATA variant on finer grids until its l2 is at most ours "
                        "(equal accuracy the other way round; each grid costs a fresh PyMPDATA compilation)")
    p.add_argument("--quick", action="store_true", help="coarse grid (5 degrees) and one PyMPDATA variant, for a smoke test")
    args = p.parse_args(argv)
    if args.threads > 0:
        numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    res = args.resolution if args.resolution is not None else (5.0 if args.quick else 1.5)
    tags = [int(t) for t in args.tags.split(",")]
    if args.variants is None:
        variants = list(PYMPDATA_VARIANTS)[:1] if args.quick else list(PYMPDATA_VARIANTS)
    else:
        variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in PYMPDATA_VARIANTS]
    if unknown:
        p.error(f"unknown PyMPDATA variants {unknown}; valid: {list(PYMPDATA_VARIANTS)}")

    info = machine()
    info["numba_threads"] = numba.get_num_threads()
    try:
        info["numba_threading_layer"] = numba.threading_layer()
    except ValueError:
        pass
    load = os.getloadavg()
    info["load_average_1_5_15_min"] = list(load)
    result: dict = {"machine": info, "created": time.strftime("%Y-%m-%dT%H:%M:%S"), "case": args.case,
                    "resolution_deg": res, "period_s": deformational_flow(args.case).period_s}
    print(f"machine: {info['cpu']}, {info['logical_cpus']} logical CPUs, Numba threads {info['numba_threads']}")
    if info["numba_threads"] > 1 and load[0] > 0.5:
        print(f"warning: load average {load[0]:.2f} before the runs: with {info['numba_threads']} Numba threads the "
              "parallel regions wait for busy cores; use --threads 1 on a shared machine")
    print(f"deformational flow (Nair & Lauritzen 2010 case 4), {args.case}, one period, {res:g}-degree global grid")

    # our step: first the rule of ``popstransport verify`` (equatorial Courant number 0.8 for the fastest wind), then
    # the longest step at which the core needs no meridional sub-steps (largest meridional Courant number 0.95)
    first = [ours(args.case, res, t, args.scheme) for t in tags]
    courant = 0.8 * 0.95 / max(o["max_courant_meridional"] for o in first)
    runs = [ours(args.case, res, t, args.scheme, courant=courant) for t in tags]
    coarse = [ours(args.case, c, t, args.scheme, courant=courant) for c in _coarser_resolutions(res) for t in tags]
    n_pym = pympdata_steps(args.case, res, args.pympdata_courant)
    pym = []
    for v in [] if args.no_pympdata else variants:
        r = pympdata(args.case, res, v, n_pym)
        if r is None:
            print("PyMPDATA is not installed: only our core was run")
            break
        pym.append(r)

    # equal or better accuracy: refine our grid until our l2 is at most the best PyMPDATA l2
    target_l2 = min((r["l2"] for r in pym if r["finite"]), default=np.inf)
    refined = []
    if runs[0]["l2"] > target_l2:
        for fine in _finer_resolutions(res):
            rs = [ours(args.case, fine, t, args.scheme, courant=courant) for t in tags]
            refined.extend(rs)
            if rs[0]["l2"] <= target_l2:
                break
    ours_all = first + runs + coarse + refined

    ratios = []
    for r in pym:
        for t in tags:
            cands = [o for o in ours_all if o["tracers"] == t and o["l2"] <= r["l2"]]
            best = min(cands, key=lambda o: o["seconds_per_tracer"]) if cands else None
            ratios.append({
                "pympdata_variant": r["variant"],
                "pympdata_tracers": r["tracers"],
                "pympdata_l2": r["l2"],
                "pympdata_seconds_per_tracer": r["seconds_per_tracer"],
                "our_tracers": t,
                "our_resolution_deg": best["resolution_deg"] if best else None,
                "our_l2": best["l2"] if best else None,
                "our_seconds_per_tracer": best["seconds_per_tracer"] if best else None,
                "ratio_per_tracer": r["seconds_per_tracer"] / best["seconds_per_tracer"] if best else None,
            })
    # the other way round: PyMPDATA on finer grids until it is as accurate as our run on the given grid
    pym_refined = []
    if args.refine_pympdata and pym and runs[0]["l2"] < min(r["l2"] for r in pym):
        best_variant = min(pym, key=lambda r: r["l2"])["variant"]
        for fine in _finer_resolutions(res, count=6, factor=1.25):
            r = pympdata(args.case, fine, best_variant, pympdata_steps(args.case, fine, args.pympdata_courant))
            pym_refined.append(r)
            if r["l2"] <= runs[0]["l2"]:
                break
    reverse = []
    if pym_refined and pym_refined[-1]["l2"] <= runs[0]["l2"]:
        r = pym_refined[-1]
        for o in runs:
            reverse.append({
                "pympdata_variant": r["variant"],
                "pympdata_resolution_deg": r["resolution_deg"],
                "pympdata_l2": r["l2"],
                "pympdata_seconds_per_tracer": r["seconds_per_tracer"],
                "our_tracers": o["tracers"],
                "our_resolution_deg": o["resolution_deg"],
                "our_l2": o["l2"],
                "our_seconds_per_tracer": o["seconds_per_tracer"],
                "ratio_per_tracer": r["seconds_per_tracer"] / o["seconds_per_tracer"],
            })
    # PyMPDATA's time at exactly our l2: log-log interpolation between the two grids that bracket it
    interpolated = None
    if reverse:
        seq = [min(pym, key=lambda r: r["l2"])] + pym_refined
        a, b = seq[-2], seq[-1]
        w = np.log(a["l2"] / runs[0]["l2"]) / np.log(a["l2"] / b["l2"])
        sec = float(np.exp((1.0 - w) * np.log(a["seconds_per_tracer"]) + w * np.log(b["seconds_per_tracer"])))
        interpolated = {"l2": runs[0]["l2"], "pympdata_seconds_per_tracer": sec,
                        "between_resolutions_deg": [a["resolution_deg"], b["resolution_deg"]],
                        "ratio_per_tracer": {str(o["tracers"]): sec / o["seconds_per_tracer"] for o in runs}}
    result.update(ours=ours_all, pympdata=pym, pympdata_steps_per_period=n_pym, ratios=ratios,
                  pympdata_refined=pym_refined, ratios_pympdata_refined=reverse,
                  pympdata_at_our_l2_interpolated=interpolated)

    head = (f"{'model':<26}{'grid':>9}{'T':>4}{'steps':>7}{'dt s':>8}{'l1':>9}{'l2':>9}{'linf':>9}{'min':>10}"
            f"{'max':>8}{'wall s':>9}{'s/tracer':>10}{'first s':>9}")
    print("\n" + head + "\n" + "-" * len(head))
    for r in ours_all + pym + pym_refined:
        print(_row(r))
    print(f"\nours: max sub-steps {max(o['max_substeps'] for o in runs)}, max meridional Courant "
          f"{max(o['max_courant_meridional'] for o in runs):.2f}, max zonal Courant "
          f"{max(o['max_courant_zonal'] for o in runs):.2f}; kernel parallel for T = "
          f"{[o['tracers'] for o in runs if o['parallel_kernel']]}")
    if pym:
        print(f"PyMPDATA: {n_pym} steps per period (outflow Courant <= {args.pympdata_courant:g}; largest seen "
              f"{max(r['max_outflow_courant'] for r in pym):.3f}), {pym[0]['threads']} threads, "
              f"{pym[0]['steps_per_advance_call']} steps per advance() call "
              f"({pym[0]['advance_call_overhead_seconds'] * 1e3:.1f} ms overhead per call); advector update "
              f"{pym[0]['advector_seconds']:.2f} s of {pym[0]['seconds']:.2f} s")
        print("\nratio at equal or better accuracy (PyMPDATA s per tracer / our s per tracer; > 1: ours faster)")
        print(f"{'PyMPDATA variant':<24}{'T':>3}{'l2':>9}{'s/tracer':>10}   {'ours: T':>7}{'grid deg':>9}{'l2':>9}"
              f"{'s/tracer':>10}{'ratio':>8}")
        for q in ratios:
            ours_part = (f"{q['our_tracers']:>10}{q['our_resolution_deg']:>9.3g}{q['our_l2']:>9.4f}"
                         f"{q['our_seconds_per_tracer']:>10.3f}{q['ratio_per_tracer']:>8.2f}"
                         if q["ratio_per_tracer"] is not None else f"{q['our_tracers']:>10}   no run of ours as accurate")
            print(f"{q['pympdata_variant']:<24}{q['pympdata_tracers']:>3}{q['pympdata_l2']:>9.4f}"
                  f"{q['pympdata_seconds_per_tracer']:>10.3f}{ours_part}")
        if pym_refined:
            print("\nPyMPDATA refined until its l2 is at most ours on the given grid:")
            if not reverse:
                print(f"  not reached down to {pym_refined[-1]['resolution_deg']:.3g} degrees")
            for q in reverse:
                print(f"  {q['pympdata_variant']} at {q['pympdata_resolution_deg']:.3g} deg (l2 {q['pympdata_l2']:.4f}, "
                      f"{q['pympdata_seconds_per_tracer']:.3f} s) vs ours T = {q['our_tracers']} at "
                      f"{q['our_resolution_deg']:.3g} deg (l2 {q['our_l2']:.4f}, {q['our_seconds_per_tracer']:.3f} s per "
                      f"tracer): ratio {q['ratio_per_tracer']:.2f}")
            if interpolated:
                rr = ", ".join(f"T = {t}: {v:.2f}" for t, v in interpolated["ratio_per_tracer"].items())
                print(f"  interpolated (log l2 - log time) to l2 = {interpolated['l2']:.4f}: PyMPDATA "
                      f"{interpolated['pympdata_seconds_per_tracer']:.3f} s; ratio {rr}")
        valid = [q["ratio_per_tracer"] for q in ratios if q["ratio_per_tracer"] is not None]
        if valid:
            result["smallest_ratio_per_tracer"] = min(valid)
            print(f"\nsmallest ratio over PyMPDATA variants and tracer counts: {min(valid):.2f} (target: >= 5)")
    write_results(result, args.out)
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
