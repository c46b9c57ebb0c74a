"""asv benchmarks of the transport core (run with ``asv run --config benchmarks/asv.conf.json``).

Throughput is reported in tag-cell-steps per second: tags x layers x cells advanced by one model step.
``benchmarks/run.py`` is the quick runner with the bandwidth and PyMPDATA references measured in the same run.
"""

from __future__ import annotations

import numpy as np

from popstransport.grid import AirLayers, LatLonGrid
from popstransport.io.met.testcases import solid_body_rotation
from popstransport.processes.advection import HorizontalAdvection
from popstransport.processes.vertical import VerticalExchange

DT_S = 1800.0


def _problem(resolution_deg: float, ntag: int):
    grid = LatLonGrid.global_grid(resolution_deg, layers=AirLayers((0.0, 1000.0, 10000.0)))
    flow = solid_body_rotation(np.pi / 4)
    U, V = flow.mass_fluxes(grid, 0.0, DT_S)
    M = grid.air_mass_kg()
    q = flow.initial_mixing_ratio(grid)
    air = np.ascontiguousarray(np.broadcast_to(q * M, (ntag,) + M.shape)).copy()
    return grid, M, U, V, air


class HorizontalAdvectionSuite:
    """One advection step on a 1-degree global grid with two layers."""

    params = ([1, 8, 32], ["ppm", "upwind"])
    param_names = ["tags", "scheme"]
    timeout = 600

    def setup(self, ntag, scheme):
        self.grid, self.M, self.U, self.V, self.air = _problem(1.0, ntag)
        self.adv = HorizontalAdvection(scheme, grid=self.grid)
        # (record_key: one met record, as the model runs it; the step limits are worked out once per record)
        self.adv.advect(self.air, self.M, self.U, self.V, DT_S, record_key=0)  # compile outside the timing

    def time_step(self, ntag, scheme):
        self.adv.advect(self.air, self.M, self.U, self.V, DT_S, record_key=0)

    def track_tag_cell_steps_per_second(self, ntag, scheme):
        import time

        n = 5
        t0 = time.perf_counter()
        for _ in range(n):
            self.adv.advect(self.air, self.M, self.U, self.V, DT_S, record_key=0)
        return self.air.size * n / (time.perf_counter() - t0)

    track_tag_cell_steps_per_second.unit = "tag-cell-steps/s"

    def track_percent_of_triad(self, ntag, scheme):
        """The throughput as memory traffic of the state (8 bytes read and 8 written per tag-cell and sweep) in per
        cent of a STREAM-like triad measured in the same process right after (see ``run.py``)."""
        from .run import stream_triad

        rate = self.track_tag_cell_steps_per_second(ntag, scheme)
        traffic = rate * 16.0 * 2 * self.adv.last_substeps
        return 100.0 * traffic / (stream_triad(2**25, 5)["GB_per_s"] * 1e9)

    track_percent_of_triad.unit = "%"


class AdvectionCompileTime:
    """Compile time of the advection kernel: its first call in a fresh process with an empty Numba cache (32 tags on
    the 1-degree global grid: the tagged kernel, parallel build), once per machine and kernel version."""

    timeout = 600
    repeat = 1
    number = 1

    def timeraw_first_tagged_call(self):
        setup = (
            "import os, tempfile\n"
            "os.environ['NUMBA_CACHE_DIR'] = tempfile.mkdtemp(prefix='popstransport-asv-cold-')\n"
            "import numpy as np\n"
            "from popstransport.grid import AirLayers, LatLonGrid\n"
            "from popstransport.io.met.testcases import solid_body_rotation\n"
            "from popstransport.processes.advection import HorizontalAdvection\n"
            "grid = LatLonGrid.global_grid(1.0, layers=AirLayers((0.0, 1000.0, 10000.0)))\n"
            "flow = solid_body_rotation(np.pi / 4)\n"
            f"U, V = flow.mass_fluxes(grid, 0.0, {DT_S!r})\n"
            "M = grid.air_mass_kg()\n"
            "air = np.ascontiguousarray(np.broadcast_to(flow.initial_mixing_ratio(grid) * M, (32,) + M.shape)).copy()\n"
            "adv = HorizontalAdvection('ppm', grid=grid)\n"
        )
        return f"adv.advect(air, M, U, V, {DT_S!r}, record_key=0)", setup


class VerticalExchangeSuite:
    """One implicit vertical exchange step on a 1-degree global grid with two layers."""

    params = [1, 8, 32]
    param_names = ["tags"]

    def setup(self, ntag):
        self.grid, self.M, self.U, self.V, self.air = _problem(1.0, ntag)
        self.vert = VerticalExchange(grid=self.grid)
        self.vert.mix(self.air, self.M, self.U, self.V, DT_S)

    def time_step(self, ntag):
        self.vert.mix(self.air, self.M, self.U, self.V, DT_S)
