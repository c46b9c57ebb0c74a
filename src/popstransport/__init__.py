"""popstransport: a gridded multimedia fate and transport model for persistent organic pollutants."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("popstransport")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"


def __getattr__(name: str):
    """Lazy public API: ``open_run``, ``load_config``, ``Model``, ``Simulation``, ``screen`` (keeps imports light)."""
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
    if name == "screen":
        from .screening import screen

        return screen
    if name == "run":
        from .run import run

        return run
    raise AttributeError(f"module 'popstransport' has no attribute {name!r}")


__all__ = ["Model", "Simulation", "__version__", "load_config", "open_run", "run", "screen"]
