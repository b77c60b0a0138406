"""The package version, in a leaf module: saving a result need not import the package."""

__version__ = "0.1.0"
