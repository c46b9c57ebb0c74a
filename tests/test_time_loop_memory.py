"""The time loop allocates nothing of the size of the state: the advection, vertical exchange and fate kernels work in
arrays made once for a shape, and the fields that depend only on the forcing are made once per met record. Checked
with tracemalloc, which also sees the arrays that compiled code makes."""

from __future__ import annotations

import tracemalloc

import numpy as np

from popstransport.grid import AirLayers, LatLonGrid
from popstransport.io.met.testcases import solid_body_rotation
from popstransport.kernels.fate import apply_propagators
from popstransport.processes.advection import HorizontalAdvection
from popstransport.processes.base import Forcing
from popstransport.processes.vertical import VerticalExchange


def _peak_bytes(fn, calls: int = 2) -> int:
    """Peak of the memory traced above what was held before, over ``calls`` calls of ``fn``."""
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        for _ in range(calls):
            fn()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def _global_case(ntag: int):
    grid = LatLonGrid.global_grid(4.0, layers=AirLayers((0.0, 1000.0, 5000.0)))
    flow = solid_body_rotation(np.pi / 4)
    dt = 4.0 * 1800.0
    U, V = flow.mass_fluxes(grid, 0.0, dt)
    M = grid.air_mass_kg()
    rng = np.random.default_rng(7)
    air = np.ascontiguousarray(flow.initial_mixing_ratio(grid)[None] * M[None] * rng.uniform(0.5, 1.5, (ntag, 1, 1, 1)))
    return grid, M, U, V, dt, air


def test_advection_steps_allocate_nothing_of_the_state_size_and_share_no_state():
    grid, M, U, V, dt, air = _global_case(8)
    nt, nl, nj, ni = air.shape
    adv = HorizontalAdvection("ppm", grid=grid)
    fu, fv = np.zeros((2, nt, nl, nj, ni + 1)), np.zeros((2, nt, nl, nj + 1, ni))
    a = air.copy()

    def step():
        adv.advect(a, M, U, V, dt, face_mass_u_kg=fu, face_mass_v_kg=fv)

    step()
    step()  # (both sweep orders compiled and their work arrays made)
    peak = _peak_bytes(step)
    # the work arrays made in every step before (air and total over tags, meridional weights, per-line tables) came
    # to several times the state; what is left is bookkeeping of the Python side
    assert peak < 0.02 * air.nbytes, f"{peak} bytes allocated in two steps (state {air.nbytes} bytes)"

    # the work arrays are reused, not carried: a run interleaved with another run of the same shape gives the same
    # result, bit for bit, as the run alone
    alone, mixed, other = air.copy(), air.copy(), air[::-1].copy()
    adv_a, adv_b, adv_c = (HorizontalAdvection("ppm", grid=grid) for _ in range(3))
    for _ in range(3):
        adv_a.advect(alone, M, U, V, dt)
        adv_b.advect(mixed, M, U, V, dt)
        adv_c.advect(other, M, 0.5 * U, -0.5 * V, dt)
    np.testing.assert_array_equal(mixed, alone)


def test_advection_works_out_its_sub_steps_once_per_record():
    grid, M, U, V, dt, air = _global_case(2)
    adv, plain = HorizontalAdvection("ppm", grid=grid), HorizontalAdvection("ppm", grid=grid)
    calls = []
    substeps = adv.substeps
    adv.substeps = lambda *a, **k: calls.append(1) or substeps(*a, **k)
    a, b = air.copy(), air.copy()
    for _ in range(3):
        adv.advect(a, M, U, V, dt, record_key=0)
        plain.advect(b, M, U, V, dt)
    assert len(calls) == 1
    np.testing.assert_array_equal(a, b)
    assert (adv.last_substeps, adv.last_courant) == (plain.last_substeps, plain.last_courant)
    # a new record (new flux arrays, or a new key with the same arrays) or another step length works them out anew
    U2 = U.copy()
    adv.advect(a, M, U2, V, dt, record_key=0)
    adv.advect(a, M, U2, V, dt, record_key=1)
    adv.advect(a, M, U2, V, 0.5 * dt, record_key=1)
    assert len(calls) == 4
    # faster flow in a new record: more sub-steps, not the kept ones
    adv.advect(a, M, 4.0 * U2, 4.0 * V, dt, record_key=2)
    assert len(calls) == 5 and adv.last_substeps > plain.last_substeps


def test_vertical_exchange_prepares_the_forcing_fields_once_per_record():
    grid, M, U, V, dt, air = _global_case(4)
    vert = VerticalExchange(grid=grid)

    class Model:
        pass

    model = Model()
    model.grid, model.air_kg, model.air_mass_kg = grid, air.copy(), M
    model.mass_flux_u_kg_s, model.mass_flux_v_kg_s, model.forcing = U, V, Forcing({}, 0)
    calls = []
    prepare = vert.prepare
    vert.prepare = lambda *a: calls.append(1) or prepare(*a)
    reference = air.copy()
    for _ in range(3):
        vert.apply(model, dt)
        VerticalExchange(grid=grid).mix(reference, M, U, V, dt)
    assert len(calls) == 1
    np.testing.assert_array_equal(model.air_kg, reference)
    # a new record (new flux arrays, or a new key with the same arrays) or another step length prepares anew
    model.mass_flux_u_kg_s = U.copy()
    vert.apply(model, dt)
    model.forcing = Forcing({}, 1)
    vert.apply(model, dt)
    vert.apply(model, 0.5 * dt)
    assert len(calls) == 4
    # and the step itself allocates nothing of the state size (the kernel's scratch is made once for a shape)
    peak = _peak_bytes(lambda: vert.apply(model, 0.5 * dt))
    assert peak < 0.05 * air.nbytes, f"{peak} bytes allocated in two steps (state {air.nbytes} bytes)"


def test_fate_propagators_allocate_nothing_of_the_state_size():
    rng = np.random.default_rng(3)
    nt, nl, ns, nj, ni = 6, 2, 2, 40, 90
    n = nl + ns
    air, surface = rng.random((nt, nl, nj, ni)), rng.random((nt, ns, nj, ni))
    rates, weights = rng.random((1, n, nj, ni)), np.full((nt, nj, ni), 1.0 / nt)
    phi, psi, gamma = (0.1 * rng.random((nj, n, n, ni)) for _ in range(3))
    ia, isf = np.zeros_like(air), np.zeros_like(surface)

    def step():
        apply_propagators(air, surface, rates, weights, phi, psi, gamma, ia, isf)

    step()
    peak = _peak_bytes(step)
    assert peak < 0.02 * air.nbytes, f"{peak} bytes allocated in two steps (state {air.nbytes} bytes)"


def test_output_files_keep_no_more_than_a_few_chunks_of_each_period_variable_in_memory(tmp_path, monkeypatch):
    """The variables of fields.nc and tag_fields.nc, written one period at a time, get a chunk cache of about two
    chunks (at least 1 MB) instead of the netCDF library's 64 MB each, which held the written chunks: a tagged decade
    of monthly output peaked 230 MB above a single year (3 tagged years: 617 MB before, 479 MB after)."""
    from popstransport.config import load_config
    from popstransport.io.attribution_writer import AttributionWriter
    from popstransport.io.writers import FieldsWriter
    from popstransport.run import run

    opened = []

    def recording(original):
        def close(self, success):
            ds = (getattr(self, "parts", None) or self.tag_fields).ds
            if ds is not None and ds.isopen():
                opened.extend((name, v.get_var_chunk_cache()[0], v.chunking()) for name, v in ds.variables.items()
                              if "time" in v.dimensions and v.ndim > 2)
            return original(self, success)

        return close

    for cls in (FieldsWriter, AttributionWriter):
        monkeypatch.setattr(cls, "close", recording(cls.close))
    run(load_config(None, ["domain.resolution_deg=5", "time.stop=2010-02-01", "attribution.tags=countries"]),
        tmp_path / "run")
    names = {name for name, _, _ in opened}
    assert {"air_concentration", "soil_burden", "deposition_flux"} <= names
    for name, size, chunks in opened:
        assert size <= max(2 * 8 * int(np.prod(chunks)), 1 << 20), (name, size, chunks)
