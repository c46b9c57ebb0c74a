import tomllib
from pathlib import Path

import pytest

from popstransport.config import Config, ConfigError, config_from_dict, load_config

REPO = Path(__file__).resolve().parents[1]


def test_default_config_file_equals_builtin_default():
    from_file = load_config(REPO / "configs" / "asia_pacific.toml")
    builtin = load_config(None)
    assert from_file.to_dict() == builtin.to_dict()
    g = builtin.domain
    assert (g.lon_min_deg, g.lon_max_deg, g.lat_min_deg, g.lat_max_deg, g.resolution_deg) == (60, 180, -15, 60, 1)


def test_roundtrip_toml():
    cfg = load_config(None, ["time.stop=2010-02-01", "domain.layer_edges_m=[0, 1000, 8000]"])
    again = config_from_dict(tomllib.loads(cfg.to_toml()))
    assert again == cfg
    assert cfg.time.stop == "2010-02-01"
    assert cfg.domain.layer_edges_m == (0.0, 1000.0, 8000.0)


def test_overrides_types():
    cfg = load_config(None, ["domain.resolution_deg=2.5", "output.frequency=daily", "chemical.name=HCB"])
    assert cfg.domain.resolution_deg == 2.5 and isinstance(cfg.domain.resolution_deg, float)
    assert cfg.output.frequency == "daily"
    assert cfg.chemical.name == "HCB"
    cfg2 = cfg.with_overrides(["time.step_hours=1"])
    assert cfg2.time.step_hours == 1.0 and cfg2.output.frequency == "daily"


def _write(tmp_path, text):
    p = tmp_path / "c.toml"
    p.write_text(text)
    return p


@pytest.mark.parametrize(
    "text, match",
    [
        ("[domain]\nresolutoin_deg = 1.0\n", r"unknown key domain\.resolutoin_deg; did you mean 'resolution_deg'"),
        ("[domian]\nresolution_deg = 1.0\n", r"unknown section \[domian\]; did you mean 'domain'"),
        ("[domain]\nresolution_deg = 'one'\n", r"domain\.resolution_deg = 'one': expected a number"),
        ("[domain]\nresolution_deg = -1.0\n", r"domain\.resolution_deg = -1\.0: must be a positive"),
        ("[domain]\nresolution_deg = 0.7\n", r"domain\.resolution_deg = 0\.7: the lon extent 120 degrees"),
        ("[domain]\nkind = 'sphere'\n", r"domain\.kind = 'sphere': allowed values are 'regional', 'global', 'box'"),
        ("[domain]\nlon_min_deg = 190.0\n", r"domain\.lon_min_deg = 190\.0 must be less than domain\.lon_max_deg"),
        ("[domain]\nlat_min_deg = 70.0\n", r"domain\.lat_min_deg = 70\.0 must be less than"),
        ("[domain]\nlon_min_deg = 150.0\nlon_max_deg = -150.0\nlat_min_deg = -30.0\nlat_max_deg = 0.0\n",
         r"domain\.lon_min_deg = 150\.0 must be less than domain\.lon_max_deg = -150\.0; for a domain that runs east "
         r"from 150 across the 180th meridian to -150, write domain\.lon_max_deg = 210 .*lon_min_deg = -210 with"),
        ("[domain]\nlat_min_deg = -95.0\n", r"within -90\.\.90"),
        ("[domain]\nlayer_edges_m = [100.0, 1000.0]\n", r"domain\.layer_edges_m = \[100\.0, 1000\.0\]"),
        ("[domain]\nlayer_edges_m = 1000.0\n", r"domain\.layer_edges_m = 1000\.0: expected a list"),
        ("[domain]\nbox_land_fraction = 1.5\n", r"domain\.box_land_fraction = 1\.5: must lie within 0\.\.1"),
        ("[time]\nstart = 'yesterday'\n", r"time\.start = 'yesterday': expected an ISO 8601 date"),
        # (numpy read '' as NaT, refused as "time.stop must be later than time.start = ''", and '20100101' as the
        # year 20 100 101, a valid run of two centuries; an offset shifted the start silently)
        ("[time]\nstart = ''\n", r"time\.start = '': expected an ISO 8601 date"),
        ("[time]\nstart = '20100101'\nstop = '20100301'\n", r"time\.start = '20100101': expected an ISO 8601 date"),
        ("[time]\nstart = 2010-01-01T00:00:00+05:00\n", r"time\.start = '2010-01-01T00:00:00\+05:00': model times are UTC"),
        ("[time]\nstop = 2009-01-01\n", r"time\.stop = '2009-01-01' must be later than time\.start"),
        ("[time]\nstep_hours = 0.0\n", r"time\.step_hours = 0\.0: must be a positive"),
        ("[time]\nmet_update_hours = 1.0\n", r"time\.met_update_hours = 1\.0: must be at least time\.step_hours"),
        ("[processes]\nfate = 'full'\n", r"processes\.fate = 'full': allowed values are 'simple', 'multimedia'"),
        ("[processes]\nmax_courant = 2.0\n", r"processes\.max_courant = 2\.0: must lie in \(0, 1\]"),
        ("[processes]\nair_half_life_days = 0.0\n", r"processes\.air_half_life_days = 0\.0: must be positive"),
        ("[processes]\ndry_deposition_velocity_m_s = -1.0\n", r"processes\.dry_deposition_velocity_m_s"),
        ("[emissions]\nscale = -1.0\n", r"emissions\.scale = -1\.0"),
        ("[emissions]\nyear = 2010.5\n", r"emissions\.year = 2010\.5: expected an integer"),
        ("[output]\noverwrite = 'yes'\n", r"output\.overwrite = 'yes': expected true or false"),
        ("[output]\nfrequency = 'weekly'\n", r"output\.frequency = 'weekly': allowed values"),
        ("[domain]\nkind = 'box'\n[met]\nsource = 'era5.nc'\n",
         r"met\.source = '[^']*/era5\.nc' with domain\.kind = 'box': a single box runs with uniform met"),
        ("[output]\nfrequency = 'run'\ncheckpoint_every_months = 1\n",
         r"output\.checkpoint_every_months = 1 with output\.frequency = 'run': checkpoints are written at the ends of"),
        ("[chemical]\noverrides = 3\n", r"chemical\.overrides = 3: expected a table"),
        ("[chemical]\nname = 5\n", r"chemical\.name = 5: expected a string"),
        ("domain = 3\n", r"\[domain\] must be a table"),
        ("scenarios = 3\n", r"scenarios must be an array of tables"),
        ("[[scenarios]]\nname = 'half'\nfactor = { CHN = 0.5 }\n", r"unknown key scenarios\[0\]\.factor"),
        ("[[scenarios]]\nname = 'half'\n", r"scenarios\[0\]\.scale must be a table such as \{ CHN = 0\.5"),
        ("[[scenarios]]\nscale = {}\n", r"scenarios\[0\]\.scale must be a table"),
        ("[[scenarios]]\nscale = { CHN = -0.5 }\n", r"scenarios\[0\]\.scale\.CHN = -0\.5: expected a factor >= 0"),
        ("[[scenarios]]\nscale = { CHN = true }\n", r"scenarios\[0\]\.scale\.CHN = True: expected a factor >= 0"),
        ("[[scenarios]]\nscale = { CHN = 'half' }\n", r"scenarios\[0\]\.scale\.CHN = 'half': expected a factor"),
        ("[[scenarios]]\nname = 2\nscale = { CHN = 0.5 }\n", r"scenarios\[0\]\.name must be a string"),
        ("[domain]\nlon_min_deg = 0.0\nlon_max_deg = 400.0\nresolution_deg = 1.0\n",
         r"domain\.lon_min_deg/lon_max_deg: the domain spans more than 360 degrees"),
        ("[spinup]\nyears = 0\n", r"spinup\.years = 0: must be >= 1"),
        ("[spinup]\ntolerance = 1.5\n", r"spinup\.tolerance = 1\.5: must lie within \(0, 1\)"),
        ("[output]\ncheckpoint_every_months = -1\n", r"output\.checkpoint_every_months = -1: must be >= 0"),
        ("[emissions]\nuniform_total_kg_yr = -5.0\n", r"emissions\.uniform_total_kg_yr = -5\.0: must be >= 0"),
        ("[domain\n", r"not valid TOML"),
        ("[attribution]\ntags = 'list'\nregions = ['CHN', 'CHN']\n",
         r"attribution\.regions = \['CHN', 'CHN'\]: 'CHN' given more than once; list each region once"),
        ("[attribution]\ntags = 'countries'\nreceptors = ['JPN', 'KOR', 'JPN']\n",
         r"attribution\.receptors = \['JPN', 'KOR', 'JPN'\]: 'JPN' given more than once"),
        ("[[scenarios]]\nname = 'half'\nscale = { CHN = 0.5 }\n", r"\[\[scenarios\]\] need a tagged run: set attribution\.tags"),
        ("[attribution]\ntags = 'list'\nregions = ['CHN']\n[[scenarios]]\nscale = { CHN = 0.5 }\n[[scenarios]]\n"
         "name = 'scenario1'\nscale = { CHN = 0.2 }\n", r"scenarios\[1\]\.name = 'scenario1': scenarios\[0\] has that name too"),
        ("[attribution]\ntags = 'list'\nregions = ['CHN']\n[[scenarios]]\nname = '../half'\nscale = { CHN = 0.5 }\n",
         r"scenarios\[0\]\.name = '\.\./half': a scenario's results go to RUN_DIR/scenarios/<name>, so its name must be"),
        ("[time]\nstep_hours = inf\n", r"time\.step_hours = inf: expected a finite number"),
        # (a resolution larger than the domain made zero cells, and a box off the globe or a global grid that the
        # resolution does not divide was refused by the grid without naming the key)
        ("[domain]\nresolution_deg = 1e30\n", r"domain\.resolution_deg = 1e\+30: the lon extent 120 degrees"),
        ("[domain]\nkind = 'global'\nresolution_deg = 7.0\n", r"domain\.resolution_deg = 7\.0: the lon extent 360"),
        ("[domain]\nkind = 'global'\nresolution_deg = 1e30\n", r"domain\.resolution_deg = 1e\+30: the lon extent"),
        ("[domain]\nkind = 'box'\nbox_lat_deg = 95.0\n", r"domain\.box_lat_deg = 95\.0: .* within -90\.\.90"),
        ("[domain]\nkind = 'box'\nbox_lon_deg = 1e30\n", r"domain\.box_lon_deg = 1e\+30: .* within -180\.\.360"),
        ("[domain]\nkind = 'box'\nresolution_deg = 400.0\n", r"domain\.resolution_deg = 400\.0: .* at most 180"),
        # (an empty source was read as the current folder: ".: file: does not exist")
        ("[met]\nsource = ''\n", r"met\.source = '': empty; give 'synthetic', 'uniform' or a NetCDF file or pattern, or "
                                  r"remove the key for the default \('synthetic'\)"),
        ("[emissions]\nsource = ' '\n", r"emissions\.source = ' ': empty; give 'builtin'"),
        ("[regions]\nsource = ''\n", r"regions\.source = '': empty; give 'natural_earth' or a GeoJSON"),
    ],
)
def test_config_errors(tmp_path, text, match):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError, match=match) as info:
        load_config(path)
    assert str(path) in str(info.value) or "TOML" in str(info.value)


def test_missing_file():
    with pytest.raises(ConfigError, match="does not exist"):
        load_config("/nonexistent/config.toml")


@pytest.mark.parametrize(
    "override, match",
    [
        ("domain.resolution_deg", r"expected section\.key=value"),
        ("resolution_deg=1", r"the key must be section\.key"),
        ("domain.resolution_deg=abc", r"domain\.resolution_deg = 'abc': expected a number"),
    ],
)
def test_override_errors(override, match):
    with pytest.raises(ConfigError, match=match):
        load_config(None, [override])


def test_override_below_a_value_is_refused():
    with pytest.raises(ConfigError, match=r"--set 'time\.stop\.day=1': 'stop' is not a section"):
        load_config(None, ["time.stop=2010-02-01", "time.stop.day=1"])


def test_override_of_a_quoted_key_path_such_as_an_ensemble_parameter(tmp_path):
    """An ensemble parameter's key is a quoted key path (``"emissions.scale"``); ``--set`` split its path at every
    dot, quotes included, so that widening a distribution from the command line failed with "ensemble.parameters.
    '"emissions' must be a table". The path is now read as TOML reads a key, quotes and all."""
    p = tmp_path / "e.toml"
    p.write_text('[ensemble]\nmembers = 2\n[ensemble.parameters]\n'
                 '"emissions.scale" = { distribution = "uniform", low = 0.5, high = 1.5 }\n')
    for override in ['ensemble.parameters."emissions.scale".high=2.5', "ensemble.parameters.'emissions.scale'.high=2.5"]:
        cfg = load_config(p, [override])
        assert cfg.ensemble["parameters"] == {"emissions.scale": {"distribution": "uniform", "low": 0.5, "high": 2.5}}
    with pytest.raises(ConfigError, match=r"--set 'ensemble\.\"bad=1': the key must be section\.key"):
        load_config(p, ['ensemble."bad=1'])


def test_a_list_of_strings_given_without_brackets_is_told_how_to_write_it():
    """``--set attribution.regions=CHN,JPN`` was refused with "expected a list, e.g. [1, 2]", an example of numbers
    for a list of region codes; the message now gives the list the user meant, and how to quote it in a shell."""
    with pytest.raises(ConfigError, match=r"attribution\.regions = 'CHN,JPN': expected a list of strings, e\.g\. "
                                          r"\[\"CHN\", \"JPN\"\] \(on the command line: --set 'attribution\.regions="
                                          r"\[\"CHN\", \"JPN\"\]'\)"):
        load_config(None, ["attribution.regions=CHN,JPN"])
    assert load_config(None, ['attribution.regions=["CHN", "JPN"]']).attribution.regions == ("CHN", "JPN")


def test_config_is_frozen():
    cfg = Config()
    with pytest.raises(AttributeError):
        cfg.domain.resolution_deg = 2.0  # type: ignore[misc]


@pytest.mark.parametrize("section, key, value, match", [
    ("time", "stop", "2009-12-01", r"time.stop = '2009-12-01' must be later than time.start"),
    ("output", "frequency", "Monthly", r"output.frequency = 'Monthly': allowed values are"),
    ("domain", "layer_edges_m", (500.0, 1000.0), r"domain.layer_edges_m = \[500.0, 1000.0\]: need increasing heights"),
])
def test_run_checks_a_configuration_changed_in_python(tmp_path, section, key, value, match):
    # (dataclasses.replace skips load_config's checks: a stop before the start ran and wrote a run whose one period
    # ended before it began; a misspelt frequency failed with a bare KeyError)
    import dataclasses

    from popstransport.run import run

    cfg = load_config(None, ["domain.resolution_deg=5", "met.source=uniform", "emissions.source=uniform"])
    changed = dataclasses.replace(cfg, **{section: dataclasses.replace(getattr(cfg, section), **{key: value})})
    with pytest.raises(ConfigError, match=match):
        run(changed, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_times_in_utc_forms():
    import numpy as np

    from popstransport.config import parse_time

    for text in ("2010-01-01", "2010-01-01T00:00", "2010-01-01 00:00:00", "2010-01-01T00:00:00Z", "2010-01-01T00:00+00:00"):
        assert parse_time(text) == np.datetime64("2010-01-01T00:00:00", "s")
    assert load_config(None, ["time.start=2010-01-01T00:00:00Z"]).time.start == "2010-01-01T00:00:00+00:00"


def test_config_file_with_byte_order_mark_or_not_utf8(tmp_path):
    path = tmp_path / "c.toml"
    # (an editor's byte-order mark was "not valid TOML (Invalid statement (at line 1, column 1))")
    path.write_bytes("\ufeff[domain]\nresolution_deg = 2.5\n".encode())
    assert load_config(path).domain.resolution_deg == 2.5
    path.write_bytes("[chemical]\nname = 'Sch\u00e4fer'\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"c\.toml: line 2: byte 0xe4 at column 12 is not UTF-8 .*TOML input is "
                       r"read as UTF-8.*Fix: save it as UTF-8, or convert it"):
        load_config(path)


def test_not_utf8_error_names_the_byte_and_column_after_a_byte_order_mark_and_accented_letters(tmp_path):
    """A file that begins with a byte-order mark and has a Latin-1 byte after UTF-8 accented letters (two files
    joined): the error named the byte three places before the bad one (the decoder's offsets start after the mark)
    and counted the column in bytes, not in the characters an editor shows."""
    from popstransport.io.errors import InputError, read_utf8_text

    path = tmp_path / "joined.csv"
    path.write_bytes("\ufeffR\u00e9union,x".encode() + b"\xe9\n")
    with pytest.raises(InputError, match=r"joined\.csv: line 1: byte 0xe9 at column 10 is not UTF-8"):
        read_utf8_text(path, "CSV")
    path.write_bytes("\ufeffR\u00e9union\n".encode())
    assert read_utf8_text(path, "CSV") == "R\u00e9union\n"


def test_overrides_as_one_string_and_data_that_is_not_a_dict_are_refused_with_the_fix():
    """``load_config(None, "time.stop=2010-02-01")`` (a string, not a list) was taken character by character and
    refused as ``--set 't'``; ``config_from_dict`` of a list or None raised AttributeError ('items')."""
    fix = r"overrides 'time.stop=2010-02-01': expected a list of section.key=value strings, e.g. \['time.stop="
    with pytest.raises(ConfigError, match=fix):
        load_config(None, "time.stop=2010-02-01")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=fix):
        load_config().with_overrides("time.stop=2010-02-01")  # type: ignore[arg-type]
    for bad in ([], None, "domain.kind = 'box'"):
        with pytest.raises(ConfigError, match=r"configuration data must be a dict of sections such as .* got "):
            config_from_dict(bad)  # type: ignore[arg-type]


def test_a_regional_domain_around_the_whole_globe_is_a_zonal_band_periodic_in_longitude():
    """An Arctic band -180..180 x 60..85 written as a regional domain is a zonal band: periodic in longitude, open at
    its south and north edges, and without the warning that its seam (180 E) is an open boundary, which it was
    before; a domain short of 360 degrees stays bounded; 360 degrees from pole to pole is refused (no open boundary:
    a global domain), naming the keys and the fix."""
    import warnings

    from popstransport.run import build_grid

    band = ["domain.lon_min_deg=-180", "domain.lon_max_deg=180", "domain.lat_min_deg=60", "domain.lat_max_deg=85",
            "domain.resolution_deg=5"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        grid = build_grid(load_config(None, band))
        short = build_grid(load_config(None, [*band[:2], "domain.lon_max_deg=175", *band[2:]]))
    assert grid.topology == "regional" and grid.nlon == 72 and grid.is_band and grid.is_periodic and not grid.is_global
    assert "zonal band (periodic in longitude)" in grid.describe()
    assert not (short.is_band or short.is_periodic)
    # a band that reaches one pole is allowed (the pole is a wall), one from pole to pole is not
    assert build_grid(load_config(None, [*band[:3], "domain.lat_max_deg=90"])).is_band
    with pytest.raises(ConfigError, match=r"domain.kind = 'regional' with domain.lon_min_deg..lon_max_deg = 0..360 \(360 "
                                          r"degrees\) and domain.lat_min_deg..lat_max_deg = -90..90: .* no open boundary; "
                                          r"set domain.kind = \"global\""):
        load_config(None, ["domain.lon_min_deg=0", "domain.lon_max_deg=360", "domain.lat_min_deg=-90",
                           "domain.lat_max_deg=90"])


def test_relative_paths_in_a_configuration_file_are_read_from_its_folder(tmp_path, monkeypatch):
    """Every path key of a configuration file (met files and globs, emission file, sector profiles, chemical file,
    region file) is read from the file's folder, whatever the working directory, and recorded absolute; the
    built-in choices and empty values stay as they are."""
    from popstransport.config import PATH_KEYS

    study = tmp_path / "study"
    (study / "met").mkdir(parents=True)
    for name in ("met/a.nc", "met/b.nc", "points.csv", "profiles.csv", "substances.csv", "zones.geojson"):
        (study / name).write_text("x")
    (study / "study.toml").write_text(
        "[met]\nsource = ['met/*.nc', 'met/b.nc']\n[emissions]\nsource = 'points.csv'\nsector_profiles = "
        "'./profiles.csv'\n[chemical]\nfile = 'substances.csv'\n[regions]\nsource = 'zones.geojson'\nname_attribute = 'n'\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    cfg = load_config("../study/study.toml")
    assert cfg.met.source == (f"{study}/met/*.nc", f"{study}/met/b.nc")
    assert (cfg.emissions.source, cfg.emissions.sector_profiles) == (f"{study}/points.csv", f"{study}/profiles.csv")
    assert (cfg.chemical.file, cfg.regions.source) == (f"{study}/substances.csv", f"{study}/zones.geojson")
    assert set(PATH_KEYS) == {"met.source", "emissions.source", "emissions.sector_profiles", "chemical.file",
                              "regions.source"}
    (study / "builtin.toml").write_text("[met]\nsource = 'synthetic'\n[emissions]\nsource = 'none'\n")
    cfg = load_config(study / "builtin.toml")
    assert (cfg.met.source, cfg.emissions.source, cfg.emissions.sector_profiles, cfg.chemical.file,
            cfg.regions.source) == ("synthetic", "none", "", "", "natural_earth")


def test_set_paths_are_read_from_the_working_directory_and_dict_configurations_keep_theirs(tmp_path, monkeypatch):
    """A path given with --set is read from the working directory (where the shell user typed it), also beside a
    configuration file; a configuration made in Python from a dict has no file and keeps its paths, which
    ``absolute_paths`` (what a run records) reads from the working directory."""
    from popstransport.config import absolute_paths

    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "x.toml").write_text("[emissions]\nsource = 'inventory.csv'\n")
    (tmp_path / "configs" / "inventory.csv").write_text("x")
    (tmp_path / "mine.csv").write_text("x")
    monkeypatch.chdir(tmp_path)
    cfg = load_config("configs/x.toml", ["emissions.source=mine.csv", "met.source=['era5/*.nc']"])
    assert cfg.emissions.source == f"{tmp_path}/mine.csv"
    assert cfg.met.source == (f"{tmp_path}/era5/*.nc",)
    assert load_config(None, ["chemical.file=mine.csv"]).chemical.file == f"{tmp_path}/mine.csv"
    cfg = config_from_dict({"emissions": {"source": "mine.csv"}, "met": {"source": "synthetic"}})
    assert cfg.emissions.source == "mine.csv"
    assert absolute_paths(cfg).emissions.source == f"{tmp_path}/mine.csv"
    assert absolute_paths(cfg).met.source == "synthetic"


def test_a_path_found_only_from_the_working_directory_is_used_with_a_warning(tmp_path, monkeypatch):
    """Compatibility with configurations written when paths were read from the working directory: a relative path
    that is not in the file's folder but is in the working directory is used, with one warning naming both places
    and how to write it; a path found in neither place is read from the file's folder (the error names it there)."""
    (tmp_path / "configs").mkdir()
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "inventory.csv").write_text("x")
    (tmp_path / "configs" / "old.toml").write_text("[emissions]\nsource = 'data/inventory.csv'\n")
    (tmp_path / "configs" / "missing.toml").write_text("[emissions]\nsource = 'data/nowhere.csv'\n")
    monkeypatch.chdir(tmp_path)
    with pytest.warns(UserWarning) as warned:
        cfg = load_config("configs/old.toml")
    assert cfg.emissions.source == f"{tmp_path}/data/inventory.csv"
    assert len(warned) == 1
    assert str(warned[0].message) == (
        f"configs/old.toml: emissions.source = 'data/inventory.csv' is read from the working directory "
        f"({tmp_path}/data/inventory.csv): it is not in the configuration file's folder ({tmp_path}/configs/data/"
        "inventory.csv), where the paths of a configuration file are read from; write it relative to the configuration "
        "file, as '../data/inventory.csv', or as an absolute path")
    assert load_config("configs/missing.toml").emissions.source == f"{tmp_path}/configs/data/nowhere.csv"


def test_a_checkpoint_tag_with_paths_from_the_working_directory_is_the_same_configuration(tmp_path, monkeypatch):
    """A checkpoint written before paths were read from the configuration file's folder holds them as written,
    relative to the working directory of the run; a resume from there compares them made absolute."""
    from popstransport.simulation import _differing_keys, same_configuration

    monkeypatch.chdir(tmp_path)
    old = "[met]\nsource = ['era5/*.nc']\n[emissions]\nsource = 'data/inventory.csv'\nscale = 1.0\n"
    new = (f"[met]\nsource = ['{tmp_path}/era5/*.nc']\n[emissions]\nsource = '{tmp_path}/data/inventory.csv'\n"
           "scale = 1.0\n")
    assert same_configuration(old, new)
    assert not same_configuration(old.replace("data/", "other/"), new)
    assert _differing_keys(old.replace("scale = 1.0", "scale = 2.0"), new) == [
        "emissions.scale = 2.0 in the checkpoint, 1.0 now"]
