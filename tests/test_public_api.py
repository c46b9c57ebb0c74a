"""The package's public names as type checkers see them and as they are at run time."""

import ast
import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import popstransport

INIT = Path(popstransport.__file__)


def _type_checking_imports() -> dict[str, tuple[str, str]]:
    """``name: (module, attribute)`` of the imports under ``if TYPE_CHECKING:`` in ``__init__.py``."""
    out = {}
    for node in ast.parse(INIT.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for imp in node.body:
                assert isinstance(imp, ast.ImportFrom) and imp.level == 1
                for alias in imp.names:
                    out[alias.asname or alias.name] = (f"popstransport.{imp.module}", alias.name)
    return out


def test_type_checkers_see_every_public_name_as_the_object_it_is_at_run_time():
    """The lazy ``__getattr__`` (and the ``run`` property) hid the public API from type checkers and IDEs: mypy saw
    ``Any`` for ``load_config``, ``Model``, ... and the submodule for ``popstransport.run`` ("Module not callable"
    on the README's ``popstransport.run(cfg, DIR)``), pyright a union of all five lazy objects."""
    static = _type_checking_imports()
    public = {n for n in popstransport.__all__ if n != "__version__"}
    assert set(static) == public
    for name, (module, attribute) in static.items():
        assert getattr(importlib.import_module(module), attribute) is getattr(popstransport, name), name
    assert callable(popstransport.run) and popstransport.run.__module__ == "popstransport.run"


@pytest.mark.skipif(shutil.which("mypy") is None, reason="mypy is not installed")
def test_mypy_reveals_the_public_functions_types(tmp_path):
    script = tmp_path / "user.py"
    script.write_text("import popstransport as pt\nreveal_type(pt.run)\nreveal_type(pt.load_config)\n")
    command = ["mypy", "--ignore-missing-imports", "--follow-imports=silent", "--cache-dir", str(tmp_path / "cache"),
               "--python-executable", sys.executable, str(script)]
    res = subprocess.run(command, capture_output=True, text=True,
                         env={"MYPYPATH": str(INIT.parent.parent), "PATH": str(Path(shutil.which("mypy")).parent)})
    assert "-> pathlib.Path" in res.stdout and "-> popstransport.config.Config" in res.stdout, res.stdout


def test_validate_from_python_returns_the_summary_the_command_prints(capsys):
    """`popstransport validate` had no Python form: a notebook user had to run a model to find a bad input."""
    from popstransport.cli import main
    from popstransport.config import ConfigError

    settings = ["domain.resolution_deg=5", "attribution.tags=countries"]
    summary = popstransport.validate(popstransport.load_config(None, settings))
    assert "CHN" in summary.receptors and summary.setup.model.tags[0] != "ALL"
    assert summary.emission_kg_yr > 0 and any(line.startswith("RU (RUS)") for line in summary.outside)
    assert main(["validate", *[a for s in settings for a in ("--set", s)]]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed == ["configuration (built-in default) is valid", *[f"  {line}" for line in summary.lines]]
    assert str(summary) == "\n".join(summary.lines)
    with pytest.raises(ConfigError, match=r"attribution.receptors \['XXX'\] are not regions of the domain"):
        popstransport.validate(popstransport.load_config(None, [*settings, "attribution.receptors=['XXX']"]))
