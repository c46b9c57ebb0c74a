"""The kernels that the model builds at run time are loaded from Numba's disk cache by a later process.

The fate and vertical builds are closures (over the threading, the fate mode and the number of compartments); a
closure that Numba cannot cache would compile again in every run, several seconds each, without any error. A first
process compiles into an empty cache directory, a second one must find every build there and compile none.
"""

import json
import os
import subprocess
import sys

SCRIPT = """
import json
import numpy as np
from popstransport.kernels import fate
from popstransport.kernels.vertical import make_vertical_exchange

T, L, S, J, I = 3, 2, 3, 8, 90
C = L + S
rng = np.random.default_rng(0)
air, surface = rng.random((T, L, J, I)), rng.random((T, S, J, I))
rates, weights = rng.random((1, C, J, I)), rng.random((T, J, I))
phi, psi, gamma = (rng.random((J, C, C, I)) for _ in range(3))
fate.advance_propagators(air, surface, rates, weights, phi, psi, np.zeros_like(air), np.zeros_like(surface))
fate.integrate_start_sums(air, surface, rates, weights, psi, gamma, np.zeros_like(air), np.zeros_like(surface))
vertical = make_vertical_exchange(True)
Mh, E = 1.0 + rng.random((L, J, I)), 1e-3 * rng.random((L + 1, J, I))
vertical(air, Mh, np.zeros((L + 1, J, I)), E, 600.0, None, np.zeros(J, dtype=np.int64))
kernels = {"advance": fate._build(True, fate.ADVANCE, C).kernel, "integrate": fate._build(True, fate.INTEGRATE, C).kernel,
           "vertical": vertical.kernel}
stats = {}
for name, kernel in kernels.items():
    s = kernel.stats
    stats[name] = [sum(s.cache_hits.values()), sum(s.cache_misses.values())]
print(json.dumps({"stats": stats, "sum": float(air.sum() + surface.sum())}))
"""


def _run(cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir))
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_fate_and_vertical_builds_are_loaded_from_the_disk_cache(tmp_path):
    first = _run(tmp_path)
    second = _run(tmp_path)
    assert all(misses == 1 and hits == 0 for hits, misses in first["stats"].values()), first
    assert all(hits == 1 and misses == 0 for hits, misses in second["stats"].values()), second
    assert second["sum"] == first["sum"]
