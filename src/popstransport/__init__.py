"""popstransport: a gridded multimedia fate and transport model for persistent organic pollutants."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("popstransport")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"
