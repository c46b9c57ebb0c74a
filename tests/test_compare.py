"""compare: differences of fields, receptor tables and budgets between two runs."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import xarray as xr

from popstransport.compare import CompareError, compare_runs
from popstransport.config import load_config
from popstransport.run import run

TINY = ["domain.resolution_deg=5", "time.stop=2010-03-01", "met.source=uniform", "emissions.source=uniform"]
TAGGED = [*TINY, "attribution.tags=list", "attribution.regions=['CHN','IND']"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("compare")
    return {
        "a": run(load_config(None, TAGGED), base / "a"),
        "b": run(load_config(None, [*TAGGED, "emissions.scale=2"]), base / "b"),
        "whole": run(load_config(None, [*TAGGED, "output.frequency=run"]), base / "whole"),
        "coarse": run(load_config(None, [*TINY, "domain.resolution_deg=7.5"]), base / "coarse"),
    }


@pytest.fixture(scope="module")
def doubled(runs, tmp_path_factory):
    return compare_runs(runs["a"], runs["b"], tmp_path_factory.mktemp("cmp") / "out")


def read_csv(path):
    with open(path, encoding="utf-8") as fh:
        return list(csv.DictReader(line for line in fh if not line.startswith("#")))


def test_relative_difference_is_against_the_magnitude_of_a_and_nan_where_a_is_noise():
    """``(B - A) / |A|``: a negative A (an upward net exchange flux) that grows in magnitude gives a negative relative
    difference of the same size as a positive one; NaN where A is zero or below 1e-12 of A's largest magnitude."""
    from popstransport.compare import _relative

    a = np.array([-2.0, 2.0, 0.0, 1e-13, 5e-12, -4.0])
    b = np.array([-3.0, 3.0, 1.0, 2e-13, 1e-11, -4.0])
    r = _relative(a, b)
    assert r[0] == -0.5 and r[1] == 0.5 and r[5] == 0.0
    assert np.isnan(r[2]) and np.isnan(r[3])
    assert r[4] == pytest.approx(1.0)
    assert float(_relative(-2.0, -1.0, 2.0)) == 0.5


def test_doubled_emissions_double_every_field(doubled):
    """The model is linear: doubling emissions doubles every field; relative differences are exactly 1."""
    f = doubled.fields
    assert f.attrs["compared"] == "all 2 output periods"
    for v in ("air_concentration", "soil_burden", "vegetation_burden", "dry_deposition_flux", "emission_flux"):
        a, d, rel = f[f"{v}_a"].values, f[f"{v}_difference"].values, f[f"{v}_relative_difference"].values
        np.testing.assert_allclose(d, a, rtol=1e-9, atol=0)
        pos = a > 0
        np.testing.assert_allclose(rel[pos], 1.0, rtol=1e-9)
    if "ocean_burden_a" in f and not np.any(f["ocean_burden_a"].values):  # a compartment with nothing in it
        assert np.all(np.isnan(f["ocean_burden_relative_difference"].values))


def test_files_are_written_with_provenance(doubled, runs):
    out = doubled.out_dir
    assert sorted(p.name for p in out.iterdir()) == ["budget_difference.csv", "fields_difference.nc",
                                                      "receptor_difference.csv", "summary.txt"]
    with xr.open_dataset(out / "fields_difference.nc") as ds:
        assert ds.attrs["run_a"] == str(runs["a"].resolve()) and "emissions" in ds.attrs["configuration_b"]
        assert "popstransport_version" in ds.attrs and ds["soil_burden_difference"].attrs["units"] == "kg m-2"
    assert (out / "summary.txt").read_text().startswith("comparison of run B")


def test_receptor_table_differences(doubled):
    rows = read_csv(doubled.out_dir / "receptor_difference.csv")
    chn = [r for r in rows if r["quantity"] == "net_deposition_kg" and r["receptor"] == "CHN" and r["source"] == "ALL"]
    assert len(chn) == 1
    a, b = float(chn[0]["a"]), float(chn[0]["b"])
    assert b == pytest.approx(2 * a, rel=1e-6)
    assert float(chn[0]["difference"]) == pytest.approx(a, rel=1e-6)
    assert float(chn[0]["relative_difference"]) == pytest.approx(1.0, rel=1e-6)
    sources = {r["source"] for r in rows if r["receptor"] == "CHN"}
    assert {"ALL", "CHN", "IND", "OTHER"} <= sources
    assert any(r["quantity"] == "air_concentration_kg_m3" for r in rows)


def test_budget_differences(doubled):
    rows = {r["term"]: r for r in read_csv(doubled.out_dir / "budget_difference.csv")}
    em = rows["emitted_air_0_kg"]
    assert float(em["b"]) == pytest.approx(2 * float(em["a"]), rel=1e-9)
    assert float(rows["burden_start_soil_kg"]["a"]) == 0.0


def test_summary_names_the_changes(doubled):
    s = doubled.summary
    assert "soil_burden: largest |B - A|" in s and "domain total change +100%" in s
    assert "vegetation_burden: largest |B - A|" in s
    assert "receptors with the largest change in net deposition" in s and "CHN:" in s
    assert "emitted: 161.6 -> 323.3 kg" in s


def test_same_run_is_identical(runs):
    c = compare_runs(runs["a"], runs["a"])
    assert c.out_dir is None
    assert all(np.all(c.fields[v].values == 0) for v in c.fields.data_vars if str(v).endswith("_difference")
               and not str(v).endswith("relative_difference"))
    assert "air_concentration: identical" in c.summary


def test_different_output_periods_compare_whole_run_means(runs):
    """Monthly output against one whole-run period: the duration-weighted monthly means equal the run mean."""
    c = compare_runs(runs["a"], runs["whole"])
    assert "whole-run means" in c.summary and "time" not in c.fields.dims
    a = c.fields["soil_burden_a"].values
    np.testing.assert_allclose(c.fields["soil_burden_b"].values, a, rtol=1e-9)


def test_runs_of_different_spans_without_a_common_period_are_refused(runs, tmp_path):
    """Two runs with no output period in common were compared by their whole-run means, each over its own span
    (January-February against March-April here), without a word: the comparison is now refused, naming both spans."""
    later = run(load_config(None, [*TAGGED, "time.start=2010-03-01", "time.stop=2010-05-01"]), tmp_path / "later")
    with pytest.raises(CompareError, match=r"/a \(2010-01-01 to 2010-03-01, 2 output periods\) and .*/later \(2010-03-01 "
                       r"to 2010-05-01, 2 output periods\) have no output period in common and simulate different "
                       r"spans.*rerun one of them with the other's time\.start and time\.stop"):
        compare_runs(runs["a"], later, tmp_path / "cmp")
    assert not (tmp_path / "cmp").exists()


def test_whole_run_means_are_written_without_a_warning(runs, tmp_path):
    """Written, the whole-run comparison kept fields.nc's unlimited time dimension in its encoding, and xarray warned
    the user 'Unlimited dimension(s) {'time'} declared in 'dataset.encoding', but not part of current dataset
    dimensions'."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        c = compare_runs(runs["a"], runs["whole"], tmp_path / "cmp")
    with xr.open_dataset(c.out_dir / "fields_difference.nc") as ds:
        assert "time" not in ds.dims and "soil_burden_difference" in ds


def test_different_grids_are_refused(runs):
    with pytest.raises(CompareError, match=r"different grids \(24 x 15 cells.*16 x 10.*same domain and resolution"):
        compare_runs(runs["a"], runs["coarse"])


def test_the_same_domain_in_longitudes_shifted_by_360_degrees_is_the_same_grid(runs, tmp_path):
    """A domain across the dateline may be written 150..210 or -210..-150: compare pairs the cells, on A's lons."""
    shifted = run(load_config(None, [*TAGGED, "domain.lon_min_deg=-300", "domain.lon_max_deg=-180"]), tmp_path / "w")
    c = compare_runs(runs["a"], shifted)
    with xr.open_dataset(runs["a"] / "fields.nc") as fa:
        np.testing.assert_array_equal(c.fields["lon"].values, fa["lon"].values)
    assert float(abs(c.fields["air_concentration_relative_difference"]).max()) < 1e-12


def test_refuses_to_overwrite(runs, tmp_path):
    compare_runs(runs["a"], runs["b"], tmp_path / "c")
    with pytest.raises(CompareError, match=r"already holds a comparison.*--overwrite"):
        compare_runs(runs["a"], runs["b"], tmp_path / "c")
    compare_runs(runs["a"], runs["b"], tmp_path / "c", overwrite=True)
    assert not list((tmp_path / "c").glob(".*partial"))


def test_cli_compare(runs, tmp_path, cli_main, capsys):
    out = tmp_path / "cli"
    assert cli_main(["compare", str(runs["a"]), str(runs["b"]), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "comparison of run B" in printed and "fields_difference.nc" in printed
    assert cli_main(["compare", str(runs["a"]), str(runs["b"]), "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--overwrite" in err


def test_domain_total_change_of_a_concentration_is_the_change_of_the_airs_mass():
    """Per-layer fields are weighted by the layers' thickness as well as the cells' area: doubling the
    concentration of a 1000 m layer under a 9000 m one adds 10 % to the air's mass (not 50 %)."""
    from types import SimpleNamespace

    from popstransport.compare import _summary

    dims = ("layer", "lat", "lon")
    coords = {"layer": [500.0, 5500.0], "lat": [0.5, 1.5], "lon": [0.5]}
    a_vals = np.ones((2, 2, 1))
    b_vals = a_vals.copy()
    b_vals[0] *= 2.0
    fields = xr.Dataset({"air_concentration_a": (dims, a_vals), "air_concentration_b": (dims, b_vals),
                         "air_concentration_difference": (dims, b_vals - a_vals, {"units": "kg m-3"})}, coords=coords)
    run_fields = xr.Dataset({"cell_area": (("lat", "lon"), np.array([[1.0], [3.0]])),
                             "layer_bnds": (("layer", "nv"), np.array([[0.0, 1000.0], [1000.0, 10000.0]]))})
    a = SimpleNamespace(path="A", fields=run_fields, attribution=None)
    text = _summary(a, SimpleNamespace(path="B", fields=run_fields, attribution=None), fields, "test", [], [])
    assert "air_concentration: largest |B - A| = 1.000e+00 kg m-3" in text and "domain total change +10%" in text


def test_a_scenario_compares_with_its_run_and_with_a_model_run(runs, tmp_path):
    """A scenario folder is compared on the fields it has (net deposition flux, lowest-layer air concentration) and its
    receptor tables, without a budget. The scenario that doubles every tag, a weighted sum with no model run, equals
    the model run with doubled emissions (the model is linear in its emissions); halving one source lowers its rows
    by exactly half and the net deposition map by half its tag's map."""
    from popstransport.io.attribution_writer import write_scenario

    with xr.open_dataset(runs["a"] / "attribution.nc") as att:
        sources = [str(s) for s in att["source"].values]
    doubled = write_scenario(runs["a"], {s: 2.0 for s in sources}, "doubled")
    result = compare_runs(runs["b"], doubled, tmp_path / "doubled")
    f = result.fields
    assert sorted(v[:-len("_difference")] for v in f.data_vars if str(v).endswith("_difference")
                  and not str(v).endswith("relative_difference")) == ["air_concentration", "deposition_flux"]
    for v in ("deposition_flux", "air_concentration"):
        a = f[f"{v}_a"].values
        assert np.abs(a).max() > 0
        np.testing.assert_allclose(f[f"{v}_b"].values, a, rtol=1e-9, atol=1e-9 * np.abs(a).max())
    dep = [r for r in result.receptors if r["quantity"] == "net_deposition_kg"]
    assert dep and all(abs(r["difference"]) <= 1e-9 * abs(r["a"]) for r in dep)
    assert result.budget == [] and "budget not compared" in result.summary
    assert (tmp_path / "doubled" / "budget_difference.csv").is_file()

    half = write_scenario(runs["a"], {"CHN": 0.5}, "half")
    with xr.open_dataset(half / "fields.nc") as sf:
        assert "time_bnds" in sf and sf.attrs["title"].startswith("popstransport scenario fields")
    result = compare_runs(runs["a"], half)
    rows = {(r["quantity"], r["source"], r["receptor"]): r for r in result.receptors}
    chn = [r for (q, s, _), r in rows.items() if q == "net_deposition_kg" and s == "CHN" and r["a"] != 0]
    assert chn and all(r["b"] == pytest.approx(0.5 * r["a"], rel=1e-12) for r in chn)
    ind = [r for (q, s, _), r in rows.items() if s == "IND" and r["a"] != 0]
    assert ind and all(r["difference"] == 0 for r in ind)
    with xr.open_dataset(runs["a"] / "tag_fields.nc") as tf:
        chn_map = tf["deposition_flux"].sel(source="CHN").values
    d = result.fields["deposition_flux_difference"].values
    np.testing.assert_allclose(d, -0.5 * chn_map, rtol=1e-6, atol=1e-9 * np.abs(chn_map).max())


def test_a_scenario_without_its_run_is_refused(runs, tmp_path):
    """A scenario folder moved away from its run cannot be placed on a grid: the error says which run it needs."""
    import shutil

    from popstransport.io.attribution_writer import write_scenario

    folder = write_scenario(runs["a"], {"IND": 0.0}, "no_ind")
    moved = tmp_path / "scenarios" / "no_ind"
    shutil.copytree(folder, moved)
    with pytest.raises(CompareError, match="scenario folder .*cannot be read.*fields.nc not found"):
        compare_runs(runs["a"], moved)


def test_a_scenario_given_by_a_relative_path_finds_its_run(runs, tmp_path, monkeypatch):
    """From inside the scenarios folder (`compare .. NAME`) or the scenario's own (`compare ../.. .`), the scenario's run
    is two folders above the folder itself, not above the path as typed ('.' was taken for the run)."""
    from popstransport.io.attribution_writer import write_scenario

    folder = write_scenario(runs["a"], {"CHN": 0.0}, "no_chn_relative")
    expected = compare_runs(runs["a"], folder)
    monkeypatch.chdir(folder.parent)
    relative = compare_runs("..", "no_chn_relative")
    monkeypatch.chdir(folder)
    here = compare_runs("../..", ".")
    for result in (relative, here):
        np.testing.assert_array_equal(result.fields["deposition_flux_difference"].values,
                                      expected.fields["deposition_flux_difference"].values)
        assert [r["b"] for r in result.receptors] == [r["b"] for r in expected.receptors]


def test_domain_total_change_weights_the_periods_by_their_length():
    """Doubling a flux in a 10-day period followed by an unchanged 30-day one adds 25 % to the mass it moves, not the
    50 % of a sum that counts every period alike (monthly periods differ by up to 3 days)."""
    from types import SimpleNamespace

    from popstransport.compare import _summary

    dims = ("time", "lat", "lon")
    bnds = np.array([["2010-01-01", "2010-01-11"], ["2010-01-11", "2010-02-10"]], dtype="datetime64[s]")
    coords = {"time": bnds[:, 0] + (bnds[:, 1] - bnds[:, 0]) / 2, "lat": [0.5], "lon": [0.5]}
    a_vals = np.ones((2, 1, 1))
    b_vals = np.array([2.0, 1.0]).reshape(2, 1, 1)
    fields = xr.Dataset({"wet_deposition_flux_a": (dims, a_vals), "wet_deposition_flux_b": (dims, b_vals),
                         "wet_deposition_flux_difference": (dims, b_vals - a_vals, {"units": "kg m-2 s-1"}),
                         "time_bnds": (("time", "bnds"), bnds)}, coords=coords)
    run_fields = xr.Dataset({"cell_area": (("lat", "lon"), np.array([[2.0]]))})
    a = SimpleNamespace(path="A", fields=run_fields, attribution=None)
    text = _summary(a, SimpleNamespace(path="B", fields=run_fields, attribution=None), fields, "test", [], [])
    assert "wet_deposition_flux: largest |B - A| = 1.000e+00 kg m-2 s-1" in text and "domain total change +25%" in text


def test_the_summary_says_when_the_runs_simulate_different_chemicals():
    """Runs of two chemicals can be compared (a screening of substitutes), and the summary says that they differ."""
    from types import SimpleNamespace

    from popstransport.compare import _summary

    fields = xr.Dataset(coords={"lat": [0.5], "lon": [0.5]})
    same = _summary(SimpleNamespace(path="A", fields=fields, attribution=None, chemical="HCB"),
                    SimpleNamespace(path="B", fields=fields, attribution=None, chemical="HCB"), fields, "test", [], [])
    other = _summary(SimpleNamespace(path="A", fields=fields, attribution=None, chemical="PCB-153"),
                     SimpleNamespace(path="B", fields=fields, attribution=None, chemical="HCB"), fields, "test", [], [])
    assert "different chemicals" not in same
    assert "note: the runs simulate different chemicals (A PCB-153, B HCB)" in other


def test_the_summary_names_the_configuration_keys_and_the_input_files_that_differ():
    """Two runs that should agree and do not: the summary names the keys and the input files that differ (an
    emission file edited between the runs keeps its path and changes its SHA-256); the output folder is not a
    difference."""
    from types import SimpleNamespace

    from popstransport.compare import _summary

    def side(path, stop, digit):
        fields = xr.Dataset(coords={"lat": [0.5], "lon": [0.5]}, attrs={"input_files": (
            f"/data/emissions.csv: 40 bytes, modified 2026-01-0{digit}T00:00:00+00:00, sha256 {digit * 64}")})
        config = f'[time]\nstop = "{stop}"\n\n[output]\ndirectory = "{path}"\n'
        return SimpleNamespace(path=path, fields=fields, attribution=None, chemical="HCB", config_text=config)

    a, b = side("A", "2010-03-01", "1"), side("B", "2010-04-01", "2")
    s = _summary(a, b, a.fields, "test", [], [])
    assert "note: the configurations differ: time.stop = '2010-03-01' in A, '2010-04-01' in B\n" in s
    assert "note: the runs read different input files: A /data/emissions.csv (sha256 111111111111); B " \
           "/data/emissions.csv (sha256 222222222222)" in s
    same = _summary(a, side("C", "2010-03-01", "1"), a.fields, "test", [], [])
    assert "note:" not in same
    # decades of CMIP files, one per variable and year: the first four of each run and a count
    for r, digit in ((a, "1"), (b, "2")):
        r.fields.attrs["input_files"] = "\n".join(f"/cmip/tas_{y}.nc: 1 bytes, modified x, sha256 {digit}{y}{'0' * 59}"
                                                   for y in range(2030, 2070))
    s = _summary(a, b, a.fields, "test", [], [])
    assert "A /cmip/tas_2033.nc (sha256 120330000000); A 36 more (the runs' input_files attribute lists them); " \
           "B /cmip/tas_2030.nc" in s and "tas_2034" not in s and s.count("sha256") == 8


def test_the_summary_names_budget_terms_that_only_one_run_has():
    """A term that one run lacks (a process the other did not run, or a run of another version) is NaN in that run's
    column, and the summary says which terms and why, rather than leaving a NaN to explain itself."""
    from types import SimpleNamespace

    from popstransport.compare import _summary

    fields = xr.Dataset(coords={"lat": [0.5], "lon": [0.5]})
    budget = [{"term": "emitted_air_0_kg", "a": 1.0, "b": 1.0}, {"term": "turbulent_mixing_air_0_to_air_1_kg",
                                                                  "a": float("nan"), "b": 0.5}]
    text = _summary(SimpleNamespace(path="A", fields=fields, attribution=None),
                    SimpleNamespace(path="B", fields=fields, attribution=None), fields, "test", [], budget)
    assert "budget terms only run B has (NaN in the other's column of budget_difference.csv" in text
    assert text.rstrip().count("turbulent_mixing_air_0_to_air_1_kg") == 1 and "only run A has" not in text


def test_the_comparison_names_the_commit_of_the_code_that_wrote_it(runs, tmp_path, monkeypatch):
    """Every package version spans many commits: the comparison's NetCDF attributes (``source``, ``history``,
    ``popstransport_git_commit``) and its CSV headers name the commit, as a run's outputs do."""
    import popstransport.io.writers as writers

    monkeypatch.setattr(writers, "git_commit", lambda: "0123abc-dirty")
    cmp = compare_runs(runs["a"], runs["b"], tmp_path / "out")
    code = "popstransport " + writers.__version__ + " (git 0123abc-dirty)"
    with xr.open_dataset(cmp.out_dir / "fields_difference.nc") as ds:
        assert ds.attrs["source"] == code and ds.attrs["popstransport_git_commit"] == "0123abc-dirty"
        assert ds.attrs["history"].startswith(f"{ds.attrs['created']} {code} compare ")
    for name in ("receptor_difference.csv", "budget_difference.csv"):
        assert (cmp.out_dir / name).read_text().startswith(f"# {code} comparison, B minus A;")


def test_the_summary_compares_package_data_files_only_when_both_runs_record_them():
    """The package data files a run read (marked built-in) are compared as input files when both runs name them; a run
    of an earlier version read them without naming them, which is no difference to note."""
    from types import SimpleNamespace

    from popstransport.compare import _summary

    user = "/data/emissions.csv: 40 bytes, modified 2026-01-01T00:00:00+00:00, sha256 " + "1" * 64
    table = "/pkg/chemicals.csv: built-in chemical property table, 9 bytes, modified 2026-01-01T00:00:00+00:00, sha256 "

    def side(path, input_files):
        fields = xr.Dataset(coords={"lat": [0.5], "lon": [0.5]}, attrs={"input_files": input_files})
        return SimpleNamespace(path=path, fields=fields, attribution=None, chemical="HCB", config_text="")

    earlier, now = side("A", user), side("B", f"{user}\n{table}{'3' * 64}")
    assert "note:" not in _summary(earlier, now, earlier.fields, "test", [], [])
    edited = side("C", f"{user}\n{table}{'4' * 64}")
    assert "note: the runs read different input files: A /pkg/chemicals.csv (sha256 333333333333); B " \
           "/pkg/chemicals.csv (sha256 444444444444)" in _summary(now, edited, now.fields, "test", [], [])


def test_the_summary_says_when_two_tagged_runs_have_no_receptor_in_common():
    """Two tagged runs on different region sets (provinces, river basins): the summary said nothing of the receptor
    tables, whose rows were all NaN on one side."""
    from types import SimpleNamespace

    from popstransport.compare import _summary

    fields = xr.Dataset(coords={"lat": [0.5], "lon": [0.5]})
    nan = float("nan")
    rows = [{"quantity": "net_deposition_kg", "receptor": "Central, China", "source": "ALL", "a": 2.0, "b": nan,
             "difference": nan}, {"quantity": "net_deposition_kg", "receptor": "Mekong basin", "source": "ALL", "a": nan,
                                  "b": 1.0, "difference": nan}]
    tagged = xr.Dataset()
    text = _summary(SimpleNamespace(path="A", fields=fields, attribution=tagged),
                    SimpleNamespace(path="B", fields=fields, attribution=tagged), fields, "test", rows, [])
    assert "receptor tables not compared: the runs have no receptor in common (A: 'Central, China'; B: Mekong basin)" \
        in text
