"""End-to-end command-line runs on tiny grids."""

import csv
import subprocess
import sys

import pytest
import xarray as xr

from popstransport import __version__
from popstransport.cli import main

TINY = [
    "--set", "domain.resolution_deg=5", "--set", "time.stop=2010-03-01", "--set", "met.source=uniform",
    "--set", "emissions.source=none",
]


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_console_script_entry_point():
    out = subprocess.run([sys.executable, "-m", "popstransport.cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and "popstransport" in out.stdout


def test_config_error_is_one_line(capsys, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[domain]\nresolutoin_deg = 1.0\n")
    code = main(["validate", str(bad)])
    err = capsys.readouterr().err.strip()
    assert code == 1
    assert err.count("\n") == 0
    assert "unknown key domain.resolutoin_deg; did you mean 'resolution_deg'" in err


def test_debug_shows_traceback(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[domain]\nresolution_deg = -1.0\n")
    from popstransport.config import ConfigError

    with pytest.raises(ConfigError):
        main(["--debug", "validate", str(bad)])


def test_run_refuses_existing_directory(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "--out", str(out), "--quiet", *TINY]) == 0
    assert main(["run", "--out", str(out), "--quiet", *TINY]) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert main(["run", "--out", str(out), "--quiet", "--overwrite", *TINY]) == 0
    with open(out / "budget.csv") as fh:
        rows = list(csv.DictReader(line for line in fh if not line.startswith("#")))
    assert len(rows) == 2
    ds = xr.open_dataset(out / "fields.nc")
    assert ds.sizes["time"] == 2
    ds.close()
    assert "[domain]" in (out / "config.toml").read_text()
