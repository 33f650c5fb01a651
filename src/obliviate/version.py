"""The package version, in a module of its own so that modules of the package can read it without
importing the package's ``__init__`` (whose lazy API imports them back)."""

__version__ = "0.1.0"
