"""The package version (also in pyproject.toml); a leaf, so any module may import it."""

__version__ = "0.1.0"
