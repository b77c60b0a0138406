"""The package version, in a leaf module: saving a result need not import the package."""

from importlib.metadata import PackageNotFoundError, version

try:  # one source of the version: pyproject.toml, read from the installed metadata
    __version__ = version("hteformula")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
