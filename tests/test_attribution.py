"""Source attribution: tags add up, linearity, scenarios, border flux against an analytic case."""

import re

import numpy as np
import pytest

from popstransport.attribution import (
    OTHER,
    AttributionError,
    apply_scenario,
    border_faces,
    border_flux_by_tag,
    border_flux_matrix,
    border_fraction,
    make_tags,
    parse_scale,
    receptor_deposition_kg,
    receptor_mean_concentration,
    scenario_weights,
)
from popstransport.grid import AirLayers, LatLonGrid
from popstransport.io.met.simple import UniformMet
from popstransport.massflux import BalancedMassFluxBuilder
from popstransport.model import Model
from popstransport.processes.advection import HorizontalAdvection
from popstransport.processes.emission import GriddedEmission
from popstransport.processes.simple import ConstantVelocityDryDeposition, FirstOrderDegradation
from popstransport.simulation import Simulation

DAY = 86400.0


def _two_regions(grid, split_lon):
    west = (grid.lon_deg < split_lon).astype(float)[None, :].repeat(grid.nlat, axis=0)
    return ["WST", "EST"], np.stack([west, 1 - west])


@pytest.mark.parametrize("periodic", [False, True])
def test_border_flux_by_tag_equals_the_dense_sum_over_all_region_pairs(periodic):
    """The border matrices form only the region pairs a face joins; the result must equal the plain sum over every
    face and every pair of regions, with region fractions that split cells (a shared cell joins several pairs, also
    across faces between two cells of the same mix) and OUTSIDE beyond the edges of a bounded grid."""
    rng = np.random.default_rng(5)
    nr, nt, nl, nj, ni = 4, 3, 2, 6, 8
    owner = rng.integers(0, nr, (nj, ni))
    frac = np.zeros((nr, nj, ni))
    frac[owner, np.arange(nj)[:, None], np.arange(ni)[None]] = 1.0
    frac[:, 2, 3] = [0.25, 0.25, 0.5, 0.0]  # cells shared by three regions, side by side
    frac[:, 2, 4] = [0.25, 0.25, 0.5, 0.0]
    ue, uw = rng.random((2, nt, nl, nj, ni + 1))
    vn, vs = rng.random((2, nt, nl, nj + 1, ni))
    got = border_flux_by_tag(frac, ue, uw, vn, vs, periodic)
    # the dense reference: every face, every (from, to) pair, the cells beyond the grid's edges OUTSIDE
    ext = np.concatenate([frac, np.zeros((1, nj, ni))])  # (R + 1, J, I), the last OUTSIDE
    out_col = np.zeros((nr + 1, nj, 1))
    out_col[nr] = 1.0
    out_row = np.zeros((nr + 1, 1, ni))
    out_row[nr] = 1.0
    if periodic:
        west = np.concatenate([ext[:, :, -1:], ext], axis=2)
        east = np.concatenate([ext, ext[:, :, :1]], axis=2)
    else:
        west = np.concatenate([out_col, ext], axis=2)
        east = np.concatenate([ext, out_col], axis=2)
    south = np.concatenate([out_row, ext], axis=1)
    north = np.concatenate([ext, out_row], axis=1)
    ue_s, uw_s, vn_s, vs_s = (a.sum(axis=1) for a in (ue, uw, vn, vs))
    if periodic:
        ue_s[..., -1] = 0.0
        uw_s[..., -1] = 0.0
    ref = np.zeros((nt, nr + 1, nr + 1))
    for a in range(nr + 1):
        for b in range(nr + 1):
            if a != b:
                ref[:, a, b] = ((west[a] * east[b] * ue_s).sum(axis=(1, 2)) + (east[a] * west[b] * uw_s).sum(axis=(1, 2))
                                + (south[a] * north[b] * vn_s).sum(axis=(1, 2))
                                + (north[a] * south[b] * vs_s).sum(axis=(1, 2)))
    np.testing.assert_allclose(got, ref, rtol=1e-13, atol=0.0)
    assert (got[:, np.arange(nr + 1), np.arange(nr + 1)] == 0.0).all()


def _border_matrix_of_a_day(grid, frac, u_m_s, q, faces):
    """A day of a uniform zonal wind ``u_m_s`` carrying the uniform mixing ratio ``q`` (also in the air from outside
    a bounded grid), transport only, with the faces ``faces`` accumulated (``True``: all): ``(model, period, border
    matrix of the regions frac)``."""
    model = Model(grid, fate_processes=[], met=UniformMet(grid, u_m_s=u_m_s),
                  emissions=GriddedEmission(lambda t: np.zeros(grid.shape), 1, 1),
                  mass_flux_builder=BalancedMassFluxBuilder(), advection=HorizontalAdvection(boundary_mixing_ratio=q),
                  surface_compartments=("soil",))
    model.air_kg[:] = q * model.air_mass_kg[None]
    sim = Simulation(model, np.datetime64("2010-01-01"), np.datetime64("2010-01-02"), 3600.0, frequency="run",
                     track_faces=faces)
    (period,) = sim.run()
    matrix = border_flux_matrix(frac, **{f"gross_{k}_kg": v for k, v in period.face_mass_kg.items()},
                                periodic=grid.is_periodic, faces=period.face_index)
    return model, period, matrix


@pytest.mark.parametrize("border_only", [False, True])
def test_border_flux_uniform_zonal_wind_analytic(border_only):
    """Uniform wind u carrying mixing ratio q across a straight meridional border: flux = u c A_face dt per face.
    The same with only the faces on the borders accumulated (as a run with border fluxes does)."""
    layers = AirLayers((0.0, 1000.0))
    grid = LatLonGrid.regional(0, 20, 0, 10, 1.0, layers)
    u = 7.5
    q = 1e-9  # kg chemical per kg air
    codes, frac = _two_regions(grid, 10.0)
    faces = border_faces(frac, False) if border_only else True
    if border_only:
        # the border between the regions (column 10) and the domain's edges
        assert faces[0].sum() == 3 * grid.nlat and faces[1].sum() == 2 * grid.nlon
    model, period, m = _border_matrix_of_a_day(grid, frac, u, q, faces)
    assert (period.face_index is not None) == border_only
    rho = layers.air_density_kg_m3()[0]
    conc = q * rho
    face_area = grid.u_face_length_m[:, 10] * 1000.0
    expected = u * conc * face_area.sum() * DAY
    assert m[0, 1] == pytest.approx(expected, rel=1e-12)
    assert m[1, 0] == 0.0
    # inflow from OUTSIDE into WST through the west edge, outflow from EST to OUTSIDE at the east edge
    assert m[2, 0] == pytest.approx(expected, rel=1e-12)
    assert m[1, 2] == pytest.approx(expected, rel=1e-12)
    # the field stays uniform
    assert np.allclose(model.air_kg[0] / model.air_mass_kg, q, rtol=1e-12)


def test_border_fraction_fills_every_cell():
    """The border matrices' regions are the receptors and OTHER, the rest of every cell: the fractions sum to 1 in
    every cell (a sea cell is all OTHER), also where the receptors' fractions add up to a little more than 1."""
    rng = np.random.default_rng(2)
    receptors = rng.random((3, 4, 5))
    receptors /= receptors.sum(axis=0) * rng.choice([0.5, 1.0, 1.0 + 1e-12, np.inf], (4, 5))
    frac = border_fraction(receptors)
    np.testing.assert_array_equal(frac[:3], receptors)
    np.testing.assert_allclose(frac.sum(axis=0), np.maximum(receptors.sum(axis=0), 1.0), rtol=0, atol=1e-15)
    assert frac[3].min() >= 0.0 and (frac[3][receptors.sum(axis=0) == 0.0] == 1.0).all()


def test_border_faces_of_a_global_grid_give_the_matrix_of_all_faces():
    """On a global grid with a border along the seam (face 0, which is face I again), accumulating only the faces
    that join two regions gives the border matrix of all faces: eastward air carries the chemical from EST over the
    seam (180 degrees) into WST, and from WST into EST at 0 degrees."""
    grid = LatLonGrid.global_grid(30.0, layers=AirLayers((0.0, 1000.0)))
    codes, frac = _two_regions(grid, 0.0)
    mask = border_faces(frac, True)
    assert mask[0][:, 0].all() and mask[0][:, grid.nlon // 2].all() and mask[0].sum() == 2 * grid.nlat
    assert not mask[1][1:-1].any()  # (the pole rows, walls that carry no air, join OUTSIDE)
    matrices = [_border_matrix_of_a_day(grid, frac, 7.5, 1e-9, faces)[2] for faces in (True, mask)]
    np.testing.assert_allclose(matrices[1], matrices[0], rtol=1e-12, atol=0.0)
    assert matrices[0][1, 0] > 0.0 and matrices[0][0, 1] == pytest.approx(matrices[0][1, 0], rel=1e-9)


def test_emitting_regions_get_tags_and_the_weights_share_every_cell():
    """``countries`` tags the regions that emit anything and nothing else (a region without emission gets no tag;
    its cells' emission goes to OTHER); every cell's emission weights are non-negative and sum to 1, also where the
    regions' fractions add up to more than 1 (overlapping or rounded fractions) and where no region lies."""
    codes = ["AAA", "BBB", "CCC"]
    frac = np.zeros((3, 2, 4))
    frac[0, :, :2] = 1.0
    frac[1, :, 2] = 0.7
    frac[2, :, 3] = 1.0
    frac[0, 0, 1] = 0.8  # (overlapping: 0.8 + 0.6 of cell (0, 1))
    frac[1, 0, 1] = 0.6
    emission = np.ones((2, 4))
    emission[:, 3] = 0.0  # CCC's cells do not emit
    ts = make_tags(codes, frac, emission, mode="countries")
    assert ts.names == ("AAA", "BBB", OTHER)
    w = ts.emission_weights
    assert w.min() >= 0.0
    np.testing.assert_allclose(w.sum(axis=0), 1.0, rtol=0, atol=1e-15)
    np.testing.assert_allclose(w[:, 0, 1], [0.8 / 1.4, 0.6 / 1.4, 0.0], rtol=1e-15)
    np.testing.assert_allclose(w[:, 1, 2], [0.0, 0.7, 0.3], rtol=1e-15)
    np.testing.assert_array_equal(w[:, :, 3], [[0.0, 0.0], [0.0, 0.0], [1.0, 1.0]])


def test_receptor_mean_concentration_is_area_weighted():
    """A receptor's concentration is the mean over its area (cell areas times its fractions), tag by tag; a
    receptor with no area in the domain has none (NaN), not a number made up."""
    area = np.array([[1.0, 3.0], [2.0, 2.0]])
    frac = np.zeros((3, 2, 2))
    frac[0, 0] = [1.0, 0.5]  # 1 m2 at 10 and 1.5 m2 at 20
    frac[1, 1] = [1.0, 1.0]
    conc = np.array([[[10.0, 20.0], [30.0, 50.0]], [[1.0, 1.0], [0.0, 4.0]]])
    got = receptor_mean_concentration(conc, frac, area)
    np.testing.assert_allclose(got[:, :2], [[(10.0 + 1.5 * 20.0) / 2.5, 40.0], [1.0, 2.0]], rtol=1e-15)
    assert np.isnan(got[:, 2]).all()


def _run(grid, emission, tags, weights, initial=None, scheme="upwind"):
    met = UniformMet(grid, u_m_s=8.0, v_m_s=0.0)
    model = Model(
        grid,
        fate_processes=[FirstOrderDegradation({"air_0": 20 * DAY, "soil": 400 * DAY}),
                        ConstantVelocityDryDeposition(0.004, "soil")],
        met=met,
        emissions=GriddedEmission(lambda t: emission, grid.nlayer, 1, tag_weights=weights),
        mass_flux_builder=BalancedMassFluxBuilder(),
        advection=HorizontalAdvection(scheme=scheme),
        surface_compartments=("soil",),
        tags=tags,
    )
    if initial is not None:
        model.air_kg[-1, 0] = initial
    sim = Simulation(model, np.datetime64("2010-01-01"), np.datetime64("2010-01-11"), 3 * 3600.0, frequency="daily",
                     per_tag=True, track_faces=True)
    return model, sim.run()


@pytest.fixture(scope="module", params=["upwind", "ppm"])
def tagged_and_untagged(request):
    grid = LatLonGrid.regional(0, 30, 0, 12, 1.5, AirLayers((0.0, 1000.0)))
    rng = np.random.default_rng(3)
    emission = rng.uniform(0, 1e-4, grid.shape)
    codes, frac = _two_regions(grid, 15.0)
    frac[0, :, :4] = 0.5  # a region boundary inside cells: fractional split
    frac[1, :, :4] = 0.3
    ts = make_tags(codes, frac, emission, mode="countries")
    assert ts.names == ("WST", "EST", OTHER)
    tagged = _run(grid, emission, ts.names, ts.emission_weights, scheme=request.param)
    untagged = _run(grid, emission, ("ALL",), None, scheme=request.param)
    return grid, emission, codes, frac, ts, tagged, untagged, request.param


def test_tags_sum_to_untagged(tagged_and_untagged):
    """Tags add up to the untagged run for every scheme (the limited default splits the total's fluxes)."""
    grid, emission, codes, frac, ts, (mt, pt), (mu, pu), scheme = tagged_and_untagged
    np.testing.assert_allclose(mt.air_kg.sum(axis=0), mu.air_kg[0], rtol=1e-10, atol=1e-30)
    for a, b in zip(pt, pu):
        dep_t = sum(a.tag_deposition_kg.values())
        dep_u = sum(b.tag_deposition_kg.values())
        np.testing.assert_allclose(dep_t.sum(axis=0), dep_u[0], rtol=1e-10, atol=1e-30)
        rt = receptor_deposition_kg(dep_t, frac)
        ru = receptor_deposition_kg(dep_u, frac)
        np.testing.assert_allclose(rt.sum(axis=0), ru[0], rtol=1e-10)
        bt = border_flux_matrix(frac, *(a.face_mass_kg[k] for k in ("u_east", "u_west", "v_north", "v_south")), False)
        bu = border_flux_matrix(frac, *(b.face_mass_kg[k] for k in ("u_east", "u_west", "v_north", "v_south")), False)
        np.testing.assert_allclose(bt, bu, rtol=1e-10, atol=1e-30)


def test_removing_a_source_equals_its_tag(tagged_and_untagged):
    """Exact for the linear schemes; the limited default is non-linear (its deviation is measured in the notes)."""
    grid, emission, codes, frac, ts, (mt, pt), (mu, pu), scheme = tagged_and_untagged
    if scheme != "upwind":
        pytest.skip("exact linearity holds for the linear (unlimited) schemes only")
    without_west = emission * (1 - ts.emission_weights[0])
    mw, pw = _run(grid, without_west, ("ALL",), None, scheme=scheme)
    diff = mu.air_kg[0] - mw.air_kg[0]
    np.testing.assert_allclose(diff, mt.air_kg[0], rtol=1e-10, atol=1e-12 * mt.air_kg[0].max())


def test_scenario_equals_rerun(tagged_and_untagged):
    grid, emission, codes, frac, ts, (mt, pt), (mu, pu), scheme = tagged_and_untagged
    if scheme != "upwind":
        pytest.skip("exact linearity holds for the linear (unlimited) schemes only")
    w = scenario_weights(ts.names, {"WST": 0.5, "EST": 0.2})
    scaled = emission * (w[:, None, None] * ts.emission_weights).sum(axis=0)
    ms, ps = _run(grid, scaled, ("ALL",), None, scheme=scheme)
    np.testing.assert_allclose(apply_scenario(mt.air_kg, w)[None], ms.air_kg, rtol=1e-10,
                               atol=1e-12 * ms.air_kg.max())
    dep_scen = apply_scenario(sum(pt[-1].tag_deposition_kg.values()), w)
    np.testing.assert_allclose(dep_scen, sum(ps[-1].tag_deposition_kg.values())[0], rtol=1e-10,
                               atol=1e-12 * np.abs(dep_scen).max())


def test_scale_parsing_errors():
    assert parse_scale("CHN=0.5, IND=0.8") == {"CHN": 0.5, "IND": 0.8}
    # a user region named with a comma: a pair ends at the comma after its factor
    assert parse_scale("Tokyo, Japan=0.5,CHN=0.8,") == {"Tokyo, Japan": 0.5, "CHN": 0.8}
    for bad in ("CHN=0.5,IND", "=0.5"):
        with pytest.raises(AttributionError, match="SOURCE=FACTOR"):
            parse_scale(bad)
    with pytest.raises(AttributionError, match="SOURCE=FACTOR"):
        parse_scale("CHN")
    with pytest.raises(AttributionError, match="is not a number"):
        parse_scale("CHN=half")
    with pytest.raises(AttributionError, match=">= 0"):
        parse_scale("CHN=-1")
    with pytest.raises(AttributionError, match="factor of 'CHN' must be finite and >= 0"):
        parse_scale("CHN=inf")
    with pytest.raises(AttributionError, match="'CHN' is given more than once; give each source one factor"):
        parse_scale("CHN=0.5,IND=1,CHN=0.8")
    with pytest.raises(AttributionError, match=r"unknown source.*a country without emissions there has no tag.*the "
                                               r"sources not listed are together in OTHER"):
        scenario_weights(("CHN", "OTHER"), {"XXX": 0.5})
    with pytest.raises(AttributionError, match=r"unknown source.*has no tag, and scaling it would change nothing\)$"):
        scenario_weights(("CHN", "IND"), {"TUV": 0.5})
    # (a region from a file named with a comma was listed as two: "tags are: West China, Central, China, OTHER")
    with pytest.raises(AttributionError, match=r"\['Central China'\]; the run's source tags are: West China, "
                                               r"'Central, China', OTHER; "):
        scenario_weights(("West China", "Central, China", "OTHER"), {"Central China": 0.5})
    with pytest.raises(AttributionError, match="not regions of the domain"):
        make_tags(["CHN"], np.ones((1, 2, 2)), mode="list", regions=("IND",))
    with pytest.raises(AttributionError, match="--scale is empty: give SOURCE=FACTOR pairs"):
        parse_scale(" , ")
    with pytest.raises(AttributionError, match="'countries' needs the emission field to find emitting regions"):
        make_tags(["CHN"], np.ones((1, 2, 2)), mode="countries")
    with pytest.raises(AttributionError, match=r"'list' needs attribution.regions, e.g. \['CHN', 'IND'\]"):
        make_tags(["CHN"], np.ones((1, 2, 2)), mode="list", regions=())


def test_scale_of_sources_named_with_equals_signs_and_commas():
    """A region file's regions may be named with '=' (the factor was taken after the first '=': 'Zone=A=0.5' was
    refused); the factor is after an entry's last '=', and a name with a comma after an '=' is quoted as the run's
    messages list it. A malformed entry is named, with the expected form."""
    from popstransport.attribution import scale_text

    assert parse_scale("Zone=A=0.5,CHN=1") == {"Zone=A": 0.5, "CHN": 1.0}
    assert parse_scale("CHN=0.5=1") == {"CHN=0.5": 1.0}
    quoted = {"Zone=A, north": 0.5, "IND": 2.0, "Tokyo, Japan": 0.25, "It's": 1.0}
    assert parse_scale(""" 'Zone=A, north' = 0.5, IND=2,"Tokyo, Japan"=0.25,"It's"=1""") == quoted
    assert scale_text(quoted) == "'Zone=A, north'=0.5,IND=2,'Tokyo, Japan'=0.25,It's=1"
    assert parse_scale(scale_text(quoted)) == quoted
    form = r"expected SOURCE=FACTOR entries separated by commas, such as CHN=0.5,IND=0.8 \(the factor is the text after"
    with pytest.raises(AttributionError, match=rf"^--scale 'A=B,C=0.5': entry 'A=B': factor 'B' of 'A' is not a number; "
                                               rf"{form} an entry's last '='; quote a source named with ',' or '=' as "
                                               r"'NAME'=FACTOR\)$"):
        parse_scale("A=B,C=0.5")
    for bad, what in (("CHN=0.5,IND", "entry 'IND' has no =FACTOR"), ("CHN=1,=0.5", "entry '=0.5' has no source"),
                      ("'Zone=A=0.5", """entry "'Zone=A=0.5": its closing quote is missing"""),
                      ("'Zone' 0.5,CHN=1", """entry "'Zone' 0.5": the quoted source is not followed by =FACTOR""")):
        with pytest.raises(AttributionError, match=rf"^--scale {re.escape(repr(bad))}: {re.escape(what)}.*; {form}"):
            parse_scale(bad)


def test_attribution_writer_and_scenario_misuse(tmp_path):
    """The attribution writer needs per-tag accumulations and, for border fluxes, face accumulation; a scenario needs a
    tagged run."""
    from types import SimpleNamespace

    from popstransport.io.attribution_writer import AttributionWriter, write_scenario
    from popstransport.io.writers import RunDirectory

    writer = AttributionWriter(RunDirectory(tmp_path / "run"), ("CHN", "OTHER"), ["CHN"], np.ones((1, 2, 2)), {})
    grid = LatLonGrid.regional(0, 2, 0, 2, 1.0)
    with pytest.raises(AttributionError, match="attribution needs per-tag accumulations: run the simulation with per_tag"):
        writer.write_period(SimpleNamespace(tag_mean_air_kg=None), SimpleNamespace(grid=grid))
    period = SimpleNamespace(
        start=np.datetime64("2010-01-01"), end=np.datetime64("2010-02-01"), face_mass_kg=None,
        tag_mean_air_kg=np.zeros((2, 1, 2, 2)), tag_emission_kg=np.zeros((2, 2, 2)),
        tag_deposition_kg={k: np.zeros((2, 2, 2)) for k in ("wet_deposition", "dry_deposition", "air_surface_exchange")},
    )
    with pytest.raises(AttributionError, match="border fluxes need face accumulation: run the simulation with track_faces"):
        writer.write_period(period, SimpleNamespace(grid=grid))
    by_source = AttributionWriter(RunDirectory(tmp_path / "run2"), ("CHN", "OTHER"), ["CHN"], np.ones((1, 2, 2)), {},
                                  border_fluxes_by_source=True)
    zu, zv = np.zeros((1, 1, 2, 3)), np.zeros((1, 1, 3, 2))
    period.face_mass_kg = {"u_east": zu, "u_west": zu, "v_north": zv, "v_south": zv}
    period.face_mass_per_tag = False
    with pytest.raises(AttributionError, match="border fluxes by source need face accumulation per tag"):
        by_source.write_period(period, SimpleNamespace(grid=grid))
    with pytest.raises(AttributionError, match=r"attribution\.nc not found: scenarios need a tagged run"):
        write_scenario(tmp_path / "untagged", {"CHN": 0.5})


def test_inflow_through_open_boundaries_from_the_configuration_is_the_boundary_tags(tmp_path):
    """``domain.inflow_mixing_ratio`` lets air of that mixing ratio in through a regional domain's open boundaries:
    the budget counts it as inflow and closes; with tags it is all the ``BOUNDARY`` tag's (the other tags receive
    none), the tags add up to the untagged run, and a batch without BOUNDARY (distributed runs) gives it to REST.
    Refused for domains without open boundaries and for negative values."""
    from popstransport.config import ConfigError, load_config
    from popstransport.run import REST_TAG, build_run, build_simulation

    base = ["domain.resolution_deg=5", "time.stop=2010-01-11", "met.source=uniform", "met.uniform_u_m_s=10",
            "met.uniform_v_m_s=3", "emissions.source=uniform", "emissions.uniform_total_kg_yr=100",
            "domain.inflow_mixing_ratio=1e-12", "output.frequency=run"]

    def run(sets, tag_subset=None):
        cfg = load_config(None, [*base, *sets])
        setup = build_run(cfg, tag_subset=tag_subset)
        periods = build_simulation(cfg, setup.model).run()
        return setup, periods[-1].budget, setup.model

    _, untagged_budget, untagged = run([])
    inflow = float(np.sum(untagged_budget.inflow))
    assert inflow > 1.0  # (kg in 10 days: 1e-12 kg/kg of the air crossing the western and southern edges)
    assert untagged_budget.relative_closure_error() < 1e-12
    setup, budget, tagged = run(["attribution.tags=countries"])
    names = list(setup.tags.names)
    b = names.index("BOUNDARY")
    assert budget.inflow[b] == pytest.approx(inflow, rel=1e-12)
    assert np.all(np.delete(budget.inflow, b) == 0.0)
    assert tagged.emissions.tag_weights[b].max() == 0.0
    np.testing.assert_allclose(tagged.air_kg.sum(axis=0), untagged.air_kg[0], rtol=1e-9, atol=1e-30)
    batch, batch_budget, _ = run(["attribution.tags=countries"], tag_subset=[0])
    assert batch.tags.names[-1] == REST_TAG and batch_budget.inflow[-1] == pytest.approx(inflow, rel=1e-12)
    with pytest.raises(ConfigError, match="a global domain has no open boundaries"):
        load_config(None, ["domain.kind=global", "domain.inflow_mixing_ratio=1e-12"])
    with pytest.raises(ConfigError, match=r"domain.inflow_mixing_ratio = -1.0: must be a finite number >= 0"):
        load_config(None, ["domain.inflow_mixing_ratio=-1"])
    # (a concentration in pg m-3 taken for a mixing ratio: refused, saying how to convert)
    with pytest.raises(ConfigError, match=r"domain.inflow_mixing_ratio = 120.0: must be below 0.001; it is a mixing "
                                          r"ratio, .* divide pg m-3 by 1.2e15"):
        load_config(None, ["domain.inflow_mixing_ratio=120"])


def test_scenario_weights_refuse_factors_that_are_not_finite_and_non_negative():
    """``write_scenario`` (the Python form of ``popstransport scenario``) took any factor: -1 wrote a scenario of
    negative deposition and NaN one of NaN files; a text scale was split into characters ('unknown source(s) ['C',
    'H', ...]')."""
    from popstransport.attribution import AttributionError, scenario_weights

    for bad in (-1.0, float("nan"), float("inf"), True, "0.5", None):
        with pytest.raises(AttributionError, match=r"scenario scale of 'CHN' = .*: expected a finite factor >= 0"):
            scenario_weights(["CHN", "OTHER"], {"CHN": bad})
    with pytest.raises(AttributionError, match=r"expected a mapping of source to factor .* with parse_scale"):
        scenario_weights(["CHN", "OTHER"], "CHN=0.5")
    assert scenario_weights(["CHN", "OTHER"], {"CHN": 0, "OTHER": np.float32(2.0)}).tolist() == [0.0, 2.0]


def test_scaling_boundary_in_a_run_without_inflow_says_where_the_tag_comes_from():
    """``BOUNDARY`` is a tag only with ``domain.inflow_mixing_ratio > 0``: a scenario that scales it in another run
    says so (the error told the user to tag that region with attribution.tags and attribution.regions)."""
    from popstransport.attribution import AttributionError, scenario_weights
    from popstransport.config import ConfigError
    from popstransport.io.attribution_writer import check_scenarios

    hint = r"BOUNDARY \(the inflow through a regional domain's open boundaries\) is a tag only of a tagged run with " \
           r"domain.inflow_mixing_ratio > 0"
    with pytest.raises(AttributionError, match=hint):
        scenario_weights(["CHN", "OTHER"], {"BOUNDARY": 0.0})
    with pytest.raises(ConfigError, match=hint):
        check_scenarios([{"name": "clean", "scale": {"BOUNDARY": 0.0}}], ["CHN", "OTHER"])
    with pytest.raises(AttributionError) as info:
        scenario_weights(["CHN", "OTHER"], {"IND": 0.0})
    assert "BOUNDARY" not in str(info.value)


def test_a_point_source_is_tagged_by_the_country_that_holds_it(tmp_path):
    """A plant in Vientiane sits in a 1-degree cell mostly in Thailand: its emission is Laos's tag's, all of it, not
    the cell's area shares (which gave most of it to THA); a source in the open sea goes to OTHER, with a warning
    that names it (it went there without a word), and one a little off a coast (a harbour) to that coast's
    country."""
    from popstransport.config import load_config
    from popstransport.io.regions import countries_of_points
    from popstransport.run import build_run

    assert countries_of_points([102.60, 100.5, 160.0, 121.505], [17.97, 13.75, 0.0, 31.40]) == ["LAO", "THA", "", "CHN"]
    points = tmp_path / "points.csv"
    points.write_text("name,lon,lat,rate,unit\nVientiane,102.60,17.97,10,kg/yr\nBangkok,100.50,13.75,5,kg/yr\n"
                      "buoy,108.5,10.5,1,kg/yr\n")
    cfg = load_config(None, ["domain.lon_min_deg=95", "domain.lon_max_deg=110", "domain.lat_min_deg=5",
                             "domain.lat_max_deg=25", "domain.resolution_deg=1", f"emissions.source={points}",
                             "attribution.tags=countries", "met.source=uniform"])
    with pytest.warns(UserWarning, match=r"points\.csv: 1 point source\(s\) lie at sea, more than 0.25 degrees from any "
                                         r"country's land: buoy \(108.5, 10.5\); a run tagged by country puts their "
                                         r"emissions in OTHER"):
        setup = build_run(cfg)
    tags = setup.tags
    grid = setup.model.grid
    j, i = int(np.searchsorted(grid.lat_edges_deg, 17.97)) - 1, int(np.searchsorted(grid.lon_edges_deg, 102.60)) - 1
    assert set(tags.names) >= {"LAO", "THA", "OTHER"} and "VNM" not in tags.names
    w = tags.emission_weights
    assert w[tags.names.index("LAO"), j, i] == 1.0
    jb, ib = int(np.searchsorted(grid.lat_edges_deg, 10.5)) - 1, int(np.searchsorted(grid.lon_edges_deg, 108.5)) - 1
    assert w[tags.names.index("OTHER"), jb, ib] == 1.0


def test_a_country_outside_the_domain_is_refused_as_receptor_or_listed_tag():
    """A country of regions.codes outside the domain has an all-zero mask: as a receptor it gave a row of zeros (with
    NaN shares) in source_receptor_deposition.csv, and as a listed tag a tag that emitted nothing, without a word."""
    import popstransport
    from popstransport.config import ConfigError

    # the default domain (60..180 E, 15 S..60 N) holds Fiji's western tip but not Samoa (172 W)
    settings = ["domain.resolution_deg=5", "attribution.tags=countries", "regions.codes=['FJI', 'WSM', 'CHN']"]
    with pytest.raises(ConfigError, match=r"regions.codes: \['WSM'\] cover no part of the domain .*row of zeros"):
        popstransport.validate(popstransport.load_config(None, settings))
    with pytest.raises(ConfigError, match=r"attribution.receptors: \['WSM'\] cover no part of the domain"):
        popstransport.validate(popstransport.load_config(None, [*settings, "attribution.receptors=['FJI', 'WSM']"]))
    with pytest.raises(ConfigError, match=r"attribution.regions \['WSM'\] cover no part of the domain"):
        popstransport.validate(popstransport.load_config(None, [*settings, "attribution.tags=list",
                                                                "attribution.regions=['WSM', 'CHN']",
                                                                "attribution.receptors=['FJI', 'CHN']"]))
    summary = popstransport.validate(popstransport.load_config(None, [*settings, "attribution.receptors=['FJI', 'CHN']"]))
    assert summary.receptors == ["FJI", "CHN"]


def test_a_receptor_partly_outside_the_domain_is_named_with_the_share_inside():
    """The default domain ends at 180 E and 15 S and holds 0.2 % of Fiji: its receptor row was the deposition onto that
    sliver under the whole country's code, with no word that the rest of Fiji was not counted."""
    import warnings

    import popstransport

    settings = ["domain.resolution_deg=5", "attribution.tags=countries", "attribution.receptors=['FJI', 'CHN', 'SGP']"]
    with pytest.warns(UserWarning, match=r"attribution.receptors: only part of FJI \(0.209% of its area\) lies in the "
                                         r"domain .*those of that part alone") as record:
        popstransport.validate(popstransport.load_config(None, settings))
    assert not any("CHN" in str(w.message) or "SGP" in str(w.message) for w in record
                   if "attribution.receptors" in str(w.message))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        popstransport.validate(popstransport.load_config(None, [*settings[:2], "attribution.receptors=['CHN', 'SGP']"]))


def test_a_code_that_is_no_natural_earth_country_is_not_called_outside_the_domain():
    """Tokelau (TKL) is not drawn by Natural Earth's countries: as a receptor it was "not a region of the domain", and
    a user whose domain holds Tokelau had no fix; a lower-case code had the same message."""
    import popstransport
    from popstransport.config import ConfigError

    settings = ["domain.resolution_deg=5", "attribution.tags=countries"]
    with pytest.raises(ConfigError, match=r"receptors \['TKL', 'chn'\] are not regions of the domain.*'TKL', 'chn' are not "
                                          r"among Natural Earth's countries, whatever the domain .*in capitals"):
        popstransport.validate(popstransport.load_config(None, [*settings, "attribution.receptors=['TKL', 'chn']"]))
    with pytest.raises(ConfigError, match=r"receptors \['WSM'\] are not regions of the domain; the regions are \[[^]]*\]$"):
        popstransport.validate(popstransport.load_config(None, [*settings, "attribution.receptors=['WSM']"]))
    with pytest.raises(ConfigError, match=r"attribution.regions \['TKL'\] are not regions.*'TKL' is not among Natural"):
        popstransport.validate(popstransport.load_config(None, [*settings[:1], "attribution.tags=list",
                                                                "attribution.regions=['TKL', 'CHN']"]))


def test_attribution_gives_each_receptors_area_in_the_domain_and_its_whole_area(tmp_path):
    """A receptor's deposition is summed over its area in the domain, which attribution.nc did not give: a reader of
    a sub-grid island's or a cut country's row could not turn it into deposition per area. Its area in the domain
    is the sum of its cell fractions times the cell areas, and its whole area that of the region set; their ratio is
    the share inside that validate warns of (0.209 % for Fiji on the default domain)."""
    import xarray as xr

    import popstransport

    settings = ["domain.resolution_deg=5", "time.stop=2010-01-03", "met.source=uniform", "attribution.tags=countries",
                "attribution.receptors=['FJI', 'CHN']", "output.frequency=run"]
    with pytest.warns(UserWarning, match="only part of FJI"):
        out = popstransport.run(popstransport.load_config(None, settings), tmp_path / "run")
    with xr.open_dataset(out / "attribution.nc") as att, xr.open_dataset(out / "fields.nc") as fields:
        inside = att["receptor_area"].sel(receptor=["FJI", "CHN"]).values
        whole = att["receptor_whole_area"].sel(receptor=["FJI", "CHN"]).values
        assert att["receptor_area"].attrs["units"] == "m2"
        cell_area = fields["cell_area"].values
    assert inside[0] / whole[0] == pytest.approx(0.00209, rel=0.01)
    assert inside[1] / whole[1] == pytest.approx(1.0, abs=1e-3)  # (China lies wholly in the default domain)
    assert 9.0e12 < whole[1] < 1.0e13 and 1.5e10 < whole[0] < 2.1e10  # (China about 9.4 million km2, Fiji 18 300)
    assert inside.sum() < cell_area.sum()
