"""nacre's version (one place: the package, checkpoints and the build read it)."""

__version__ = "0.1.0"
