"""asv benchmarks of the transport core (run with ``asv run --config benchmarks/asv.conf.json``).

Throughput is reported in tag-cell-steps per second: tags x layers x cells advanced by one model step.
``benchmarks/run.py`` is the quick runner with the bandwidth and PyMPDATA references measured in the same run.
"""

from __future__ import annotations

from pathlib import Path

from popstransport.processes.vertical import VerticalExchange

from .run import (
    DT_S,
    PYMPDATA_STEPS_PER_CALL,
    TRACK_SECONDS,
    TRACK_WINDOWS,
    Triad,
    _advection_problem,
    last_level_cache_bytes,
    pympdata_solver,
    timing_windows,
    triad_elements,
)


class HorizontalAdvectionSuite:
    """One advection step on a 1-degree global grid with two layers."""

    params = ([1, 8, 32], ["ppm", "upwind"])
    param_names = ["tags", "scheme"]
    timeout = 600

    def setup(self, ntag, scheme):
        self.grid, self.M, self.U, self.V, self.air, self.adv = _advection_problem(1.0, ntag, scheme)
        # (record_key: one met record, as the model runs it; the step limits are worked out once per record)
        self.adv.advect(self.air, self.M, self.U, self.V, DT_S, record_key=0)  # compile outside the timing

    def time_step(self, ntag, scheme):
        self.adv.advect(self.air, self.M, self.U, self.V, DT_S, record_key=0)

    def track_tag_cell_steps_per_second(self, ntag, scheme):
        step = timing_windows(lambda: self.adv.advect(self.air, self.M, self.U, self.V, DT_S, record_key=0), 1,
                              TRACK_SECONDS, TRACK_WINDOWS)
        return self.air.size / step["seconds_per_step"]

    track_tag_cell_steps_per_second.unit = "tag-cell-steps/s"

    def track_percent_of_triad(self, ntag, scheme):
        """The throughput as memory traffic of the state (8 bytes read and 8 written per tag-cell and sweep) in per
        cent of a STREAM-like triad measured in the same process just before and just after (the higher of the two,
        as ``run.py`` pairs its timing windows: a shared host's bandwidth can change between minutes)."""
        triad = Triad(triad_elements(last_level_cache_bytes()))
        before = triad.measure(5)
        rate = self.track_tag_cell_steps_per_second(ntag, scheme)
        traffic = rate * 16.0 * 2 * self.adv.last_substeps
        return 100.0 * traffic / (max(before, triad.measure(5)) * 1e9)

    track_percent_of_triad.unit = "%"


class PyMPDATAPeer:
    """PyMPDATA (Bartman et al. 2022, Comput. Phys. Commun. 277:108388) on the same advection problem, as the peer
    of ``run.py``: one field on the 1-degree global grid, two non-oscillatory MPDATA iterations at its longest stable
    step. Skipped when PyMPDATA is not installed (``pip install -e '.[bench]'``). PyMPDATA keeps no compiled code on
    disk, so every benchmark process compiles it (about a minute): one process, few repeats, two benchmarks."""

    processes = 1
    repeat = 5
    timeout = 900

    def setup(self):
        built = pympdata_solver(1.0)
        if built is None:
            raise NotImplementedError("PyMPDATA is not installed")
        self.solver, self.dt_s, self.cells = built
        self.solver.advance(1)  # compile outside the timing
        self.grid, self.M, self.U, self.V, self.air, self.adv = _advection_problem(1.0, 1, "ppm")
        self.adv.advect(self.air, self.M, self.U, self.V, DT_S, record_key=0)

    def time_pympdata_100_steps(self):
        # (in one Solver.advance call: each call costs about 3 ms of Numba argument typing, as run.py says)
        self.solver.advance(PYMPDATA_STEPS_PER_CALL)

    def track_ratio_per_tracer(self):
        """Cell-steps per second per tracer of the default scheme (one tag, every layer a tracer) over PyMPDATA's,
        measured back to back, both at their own step (per simulated second, times ``DT_S / dt_s``: PyMPDATA's
        explicit scheme needs a step of about 35 s here against 1800 s). The accuracy comparison is
        ``deformational.py``'s."""
        ours = timing_windows(lambda: self.adv.advect(self.air, self.M, self.U, self.V, DT_S, record_key=0), 1,
                              TRACK_SECONDS, TRACK_WINDOWS)
        peer = timing_windows(lambda: self.solver.advance(PYMPDATA_STEPS_PER_CALL), PYMPDATA_STEPS_PER_CALL,
                              TRACK_SECONDS, TRACK_WINDOWS)
        return (self.air.size / ours["seconds_per_step"]) / (self.cells / peer["seconds_per_step"])

    track_ratio_per_tracer.unit = "x"


class AdvectionCompileTime:
    """Compile time of the advection kernel: its first call in a fresh process with an empty Numba cache (32 tags on
    the 1-degree global grid: the tagged kernel, parallel build), once per machine and kernel version."""

    timeout = 600
    repeat = 1
    number = 1

    def timeraw_first_tagged_call(self):
        setup = (
            "import os, sys, tempfile\n"
            "os.environ['NUMBA_CACHE_DIR'] = tempfile.mkdtemp(prefix='popstransport-asv-cold-')\n"
            f"sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})\n"
            "from run import DT_S, _advection_problem\n"
            "grid, M, U, V, air, adv = _advection_problem(1.0, 32, 'ppm')\n"
        )
        return "adv.advect(air, M, U, V, DT_S, record_key=0)", setup


class VerticalExchangeSuite:
    """One implicit vertical exchange step on a 1-degree global grid with two layers, as the model's step runs it:
    the diagnosed vertical air-mass flux only (a configured model mixes the layers in the fate solve, with
    ``TurbulentMixing``, since 1a93da2), the fields that depend on the forcing prepared once (the model does so once
    per met record), no upward fluxes reported, no conservation sums (the run's budget covers them)."""

    params = [1, 8, 32]
    param_names = ["tags"]

    def setup(self, ntag):
        self.grid, self.M, self.U, self.V, self.air, _ = _advection_problem(1.0, ntag, "ppm")
        self.vert = VerticalExchange(0.0, grid=self.grid)
        self.prepared = self.vert.prepare(self.M, self.U, self.V, DT_S)
        self.time_step(ntag)

    def time_step(self, ntag):
        self.vert.mix(self.air, self.M, self.U, self.V, DT_S, prepared=self.prepared, check_conservation=False,
                      report_upward=False)


class VerticalExchangePrepare:
    """The per-record part of vertical exchange on the same grid, as the model's step prepares it: the diagnosed
    vertical air-mass flux and the (zero) turbulent exchange rates (the same for any number of tags)."""

    def setup(self):
        self.grid, self.M, self.U, self.V, _, _ = _advection_problem(1.0, 1, "ppm")
        self.vert = VerticalExchange(0.0, grid=self.grid)

    def time_prepare(self):
        self.vert.prepare(self.M, self.U, self.V, DT_S)
