"""The HTML report: self-contained, complete, and rendered by a real headless browser."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

from popstransport.config import load_config
from popstransport.report import write_report
from popstransport.results import open_run
from popstransport.run import run

TINY = ["domain.resolution_deg=5", "time.stop=2010-03-01", "met.source=uniform", "emissions.source=uniform"]
TAGGED = [*TINY, "attribution.tags=list", "attribution.regions=['CHN','IND']"]
QUICK = [*TINY, "domain.resolution_deg=15", "time.stop=2010-01-11", "time.step_hours=12"]


@pytest.fixture(scope="module")
def tagged_run(tmp_path_factory):
    path = run(load_config(None, TAGGED), tmp_path_factory.mktemp("report") / "run")
    (path / "warnings.txt").write_text("emissions: 3 point sources outside the domain were dropped\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def report(tagged_run):
    return write_report(tagged_run)


def test_report_is_self_contained(report):
    text = report.read_text(encoding="utf-8")
    assert report.name == "report.html" and text.startswith("<!DOCTYPE html>")
    sources = re.findall(r'(?:src|href)="([^"]*)"', text)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert "<script" not in text and "http://" not in text and "https://" not in text
    assert len(sources) == 7  # budget, three maps, source-receptor, border fluxes, region air budgets


def test_report_has_every_section(report, tagged_run):
    text = report.read_text(encoding="utf-8")
    for heading in ("Warnings", "Mass budget", "Maps", "Source-receptor deposition", "Largest border fluxes",
                    "Configuration"):
        assert f"<h2>{heading}</h2>" in text
    assert "emissions: 3 point sources outside the domain were dropped" in text
    assert "[domain]" in text and "resolution_deg = 5.0" in text
    assert "<td class=\"name\">CHN</td>" in text and "foreign share" in text
    with open_run(tagged_run) as r:
        top = r.largest_border_fluxes(1)[0]
    assert f"<td class=\"name\">{top['region_from']}</td><td class=\"name\">{top['region_to']}</td>" in text
    assert "relative closure error" in text and "2010-02" in text


def test_report_names_the_code_libraries_and_input_files_of_the_run(report, tagged_run):
    """A reviewer re-creating a run from its report needs the commit, the libraries and the input files."""
    import netCDF4

    text = report.read_text(encoding="utf-8")
    with netCDF4.Dataset(tagged_run / "fields.nc") as nc:
        source, libraries = nc.source, nc.software_versions
    assert f"<td>{source}, " in text and f"<td>{libraries}</td>" in text
    from popstransport.chemicals.database import builtin_database_path

    assert f'<td class="name">input files</td><td>{builtin_database_path().resolve()}: built-in chemical property table, ' \
        in text


def test_report_of_an_untagged_run(tmp_path):
    path = run(load_config(None, TINY), tmp_path / "untagged")
    text = write_report(path, tmp_path / "out" / "r.html").read_text(encoding="utf-8")
    assert "This run was not tagged" in text and "No border fluxes" in text and "Region air budgets" not in text
    assert "No warnings" in text


def test_cli_report(tagged_run, tmp_path, cli_main, capsys):
    out = tmp_path / "page.html"
    assert cli_main(["report", str(tagged_run), "--out", str(out)]) == 0
    assert f"wrote {out} (1 warning(s) listed)" in capsys.readouterr().out
    assert out.stat().st_size > 100_000
    assert not list(tmp_path.glob(".*partial"))


def _browser() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.mark.skipif(_browser() is None, reason="no chromium/chromium-browser/google-chrome binary on PATH")
def test_report_renders_in_headless_chromium(report, tmp_path):
    import matplotlib.image as mpimg

    shot = tmp_path / "report.png"
    profile = tmp_path / "profile"
    profile.mkdir()
    cmd = [_browser(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={profile}", f"--screenshot={shot}", "--window-size=1280,2000", report.resolve().as_uri()]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert shot.is_file(), f"chromium wrote no screenshot (exit {done.returncode}): {done.stderr[-2000:]}"
    img = mpimg.imread(shot)[..., :3]
    assert img.shape[:2] == (2000, 1280)
    assert float(img.var()) > 1e-3
    dark = (img.sum(axis=-1) < 1.5).mean()
    assert dark > 0.005, "the page looks blank: almost no dark pixels (text, figures)"
    assert len(np.unique((img * 255).astype(np.uint8).reshape(-1, 3), axis=0)) > 50


def test_report_lists_the_scenarios_with_their_headline_results(tmp_path):
    """The report did not name a run's scenarios; it now lists those of [[scenarios]] and any other scenario folder of
    the run, with what each scales and its emission and deposition against the run's (or that it is not written)."""
    import xarray as xr

    from popstransport.io.attribution_writer import write_scenario

    config = tmp_path / "scenarios.toml"
    config.write_text("[[scenarios]]\nname = 'chn_half'\nscale = { CHN = 0.5 }\n\n"
                      "[[scenarios]]\nname = 'ind_off'\nscale = { IND = 0.0, CHN = 2.0 }\n")
    path = run(load_config(config, TAGGED), tmp_path / "run")
    shutil.rmtree(path / "scenarios" / "ind_off")  # (as if the run was stopped before it wrote this one)
    write_scenario(path, {"IND": 3.0}, "ind_triple")  # (written afterwards with `popstransport scenario`)
    text = write_report(path).read_text(encoding="utf-8")
    assert "<h2>Scenarios</h2>" in text
    with xr.open_dataset(path / "attribution.nc") as att:
        emission = att["emission"].sum("time")
        base, chn, ind = float(emission.sum()), float(emission.sel(source="CHN")), float(emission.sel(source="IND"))
        deposition = float(att["deposition"].sum())
    half = base - 0.5 * chn
    assert (f'<td class="name">chn_half</td><td class="name">CHN x 0.5</td><td>{half:.4g}</td>'
            f"<td>{100 * (half - base) / base:+.3g}%</td>") in text
    assert '<td class="name">ind_off</td><td class="name">IND x 0, CHN x 2</td><td>not written</td>' in text
    assert f"popstransport scenario {path} --scale SOURCE=FACTOR,... --name NAME" in text
    triple = base + 2.0 * ind
    assert f'<td class="name">ind_triple</td><td class="name">IND x 3</td><td>{triple:.4g}</td>' in text
    assert f"net deposition onto the receptors {deposition:.4g} kg" in text
    # a run without scenarios has no such section
    assert "<h2>Scenarios</h2>" not in write_report(run(load_config(None, TINY), tmp_path / "plain")).read_text(
        encoding="utf-8")


def test_the_warnings_a_run_gives_are_kept_in_its_folder_and_shown_in_its_report(tmp_path):
    """A run's warnings (here, a receptor mostly outside the domain) were printed and lost: nothing wrote warnings.txt,
    so the report of a run that warned said "No warnings"."""
    settings = [*TINY, "attribution.tags=list", "attribution.regions=['CHN']", "attribution.receptors=['CHN', 'RUS']"]
    with pytest.warns(UserWarning, match="only part of RUS"):
        path = run(load_config(None, settings), tmp_path / "warned")
    lines = (path / "warnings.txt").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1 and lines[0].startswith("attribution.receptors: only part of RUS (")
    text = write_report(path).read_text(encoding="utf-8")
    assert "attribution.receptors: only part of RUS (" in text and "No warnings" not in text
    with open_run(path) as r:
        assert lines[0] in r.warnings()
    # (a run without warnings writes none, and removes the earlier run's)
    assert not (run(load_config(None, TINY), tmp_path / "quiet") / "warnings.txt").exists()
    run(load_config(None, TINY), path, overwrite=True)
    assert not (path / "warnings.txt").exists()


def _config_with_a_path_from_the_working_directory(tmp_path, monkeypatch):
    """``configs/old.toml`` naming ``data/chemicals.csv`` as the working directory ``tmp_path`` has it (not its own
    folder), read with the warning that says so; returns the configuration and the warning's text."""
    from importlib.resources import files

    (tmp_path / "configs").mkdir()
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "chemicals.csv").write_bytes(files("popstransport").joinpath("data/chemicals.csv").read_bytes())
    (tmp_path / "configs" / "old.toml").write_text("[chemical]\nfile = 'data/chemicals.csv'\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    with pytest.warns(UserWarning, match="is read from the working directory") as warned:
        cfg = load_config("configs/old.toml", QUICK)
    assert len(warned) == 1
    return cfg, str(warned[0].message)


def test_a_warning_given_while_the_configuration_was_read_is_in_the_runs_warnings(tmp_path, monkeypatch):
    """A path of the configuration file found only from the working directory was warned about while the file was
    read, before the run began recording its warnings: it was printed, but not in the run's warnings.txt nor its
    report. A path replaced with --set has no such warning to keep."""
    cfg, message = _config_with_a_path_from_the_working_directory(tmp_path, monkeypatch)
    assert cfg.load_warnings == (message,) and message.startswith("configs/old.toml: chemical.file = 'data/chemicals")
    path = run(cfg, tmp_path / "run")
    assert (path / "warnings.txt").read_text(encoding="utf-8") == message + "\n"
    with open_run(path) as r:
        assert message in r.warnings()
    with pytest.warns(UserWarning, match="is read from the working directory"):
        cfg = load_config("configs/old.toml", [*QUICK, "chemical.file=data/chemicals.csv"])
    assert cfg.load_warnings == () and cfg.chemical.file == f"{tmp_path}/data/chemicals.csv"


def test_report_shows_the_region_air_budgets_of_the_whole_run(report, tagged_run):
    """The region air budgets were in region_air_budget.csv and attribution.nc but not in the report: it now has a
    table of the regions with the largest emitted + net inflow over the whole run, the others summed in one row, and
    says to what the budgets close."""
    from popstransport.report import _region_air_budget_section

    text = report.read_text(encoding="utf-8")
    assert "<h2>Region air budgets</h2>" in text
    with open_run(tagged_run) as r:
        b = r.region_air_budgets
        regions = [str(x) for x in b["region"].values]
        inputs = b["emitted"].values + np.maximum(b["net_inflow"].values, 0.0)
        top = int(np.argmax(inputs))
        terms = ["burden_start", "emitted", "net_inflow", "wet_deposition", "dry_deposition", "air_surface_exchange",
                 "degraded", "burden_end"]
        cells = "".join(f"<td>{float(b[t][top]):.4g}</td>" for t in terms)
        assert f'<tr><td class="name">{regions[top]}</td>{cells}' in text
        worst = int(np.argmax(b["relative_residual"].values))
        assert (f"closes to {float(b['relative_residual'][worst]):.1e} of its largest term or better (the largest "
                f"relative residual, of {regions[worst]})") in text
        assert float(b["relative_residual"].max()) < 1e-9
        # with room for fewer regions than the run has, the others are summed in one row
        order = np.argsort(-inputs, kind="stable")
        short = _region_air_budget_section(r, n=1)
        rest = order[1:]
        summed = "".join(f"<td>{float(b[t].values[rest].sum()):.4g}</td>" for t in terms)
        assert f'<tr><td class="name">the other {len(rest)} regions</td>{summed}' in short
        assert short.count("<tr>") == 1 + 1 + 1  # header, the top region, the others
    assert "Air budget of the regions of the table over the whole run" in text
