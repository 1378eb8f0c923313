"""Project exceptions: every failure a user can cause raises one of these.

The CLI turns them into one line on stderr and a non-zero exit; the server into a 4xx.
"""

from __future__ import annotations


class ClapLdmError(Exception):
    """Base class: a message a user can act on."""

    exit_code = 2


class InvalidInputError(ClapLdmError, ValueError):
    """A request parameter (duration, steps, prompt, region, ...) is out of range."""


class AudioReadError(ClapLdmError):
    """An audio file cannot be read, is empty, or holds no finite samples."""


class ModelLoadError(ClapLdmError):
    """A model folder / checkpoint is missing, incomplete, inconsistent or corrupt."""


class ConfigError(ClapLdmError, ValueError):
    """A config file or dict has unknown keys, wrong types or inconsistent values."""


class OutputError(ClapLdmError):
    """An output path cannot be written."""


class DataError(ClapLdmError):
    """A training manifest or data shard is unusable."""
