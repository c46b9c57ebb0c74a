"""popstransport: a gridded multimedia fate and transport model for persistent organic pollutants.

Public API (see each object's ``help``):

- :func:`load_config` (a TOML file or the built-in default, with ``section.key=value`` overrides) returns a frozen
  ``Config``; ``Config.with_overrides`` and :func:`popstransport.config.config_from_dict` make others;
- :func:`validate` checks a configuration and every input it names without running it (``popstransport
  validate``), and returns its summary;
- :func:`run` runs a configuration and writes its run directory (``popstransport run``);
  :func:`popstransport.ensemble.run_ensemble` runs an ``[ensemble]``;
- :func:`open_run` reads a run directory back as xarray objects (``RunResults``), with period selection, source-receptor
  tables, border fluxes and plots; :func:`popstransport.io.attribution_writer.write_scenario` and
  :func:`popstransport.compare.compare_runs` are ``popstransport scenario`` and ``compare``;
- :class:`Model` and :class:`Simulation` to step a model by hand: :func:`build_model` assembles the model a
  configuration describes, ``Simulation(model, start, stop, dt_s).run()`` returns its periods;
- :func:`screen`: overall persistence, travel distance and transfer efficiency in the OECD-like unit world.

>>> import popstransport as pt
>>> cfg = pt.load_config(None, ["domain.resolution_deg=5", "time.stop=2010-03-01"])
>>> results = pt.open_run(pt.run(cfg, "runs/small"))             # doctest: +SKIP
"""

import sys
import types
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # (what type checkers and IDEs see: the names below are imported lazily at run time)
    from .config import load_config as load_config
    from .model import Model as Model
    from .results import open_run as open_run
    from .run import build_model as build_model
    from .run import run as run
    from .run import validate as validate
    from .screening import screen as screen
    from .simulation import Simulation as Simulation

try:
    __version__ = version("popstransport")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"


def __getattr__(name: str):
    """Lazy public API: ``open_run``, ``load_config``, ``validate``, ``build_model``, ``Model``, ``Simulation``,
    ``screen`` (keeps imports light)."""
    if name == "open_run":
        from .results import open_run

        return open_run
    if name == "load_config":
        from .config import load_config

        return load_config
    if name == "Model":
        from .model import Model

        return Model
    if name == "Simulation":
        from .simulation import Simulation

        return Simulation
    if name in ("build_model", "validate"):
        import importlib

        return getattr(importlib.import_module(f"{__name__}.run"), name)
    if name == "screen":
        from .screening import screen

        return screen
    raise AttributeError(f"module 'popstransport' has no attribute {name!r}")


class _Package(types.ModuleType):
    """This package, whose attribute ``run`` is the function :func:`popstransport.run.run` (imported when first
    asked for), never the submodule of that name: the import of the submodule (by the function's first call, or by
    ``from popstransport.run import ...``) binds the submodule to the package's ``run``, which would then no longer
    be callable. The submodule stays in ``sys.modules`` and ``from popstransport.run import ...`` finds it."""

    @property
    def run(self):
        if "run" in self.__dict__:  # (set by a user, e.g. a test's monkeypatch)
            return self.__dict__["run"]
        from .run import run

        return run

    @run.setter
    def run(self, value: object) -> None:
        if not isinstance(value, types.ModuleType):
            self.__dict__["run"] = value


sys.modules[__name__].__class__ = _Package

__all__ = ["Model", "Simulation", "__version__", "build_model", "load_config", "open_run", "run", "screen", "validate"]
