"""Exceptions raised by obliviate.

Every user-facing problem derives from :class:`ObliviateError`, itself a ``ValueError``, so callers
can catch one type and the CLI can print the message without a traceback.
"""

from __future__ import annotations


class ObliviateError(ValueError):
    """Base class for every error caused by bad input or a missing resource."""


class ForgetSpecError(ObliviateError):
    """A forget request that cannot be parsed or does not fit the dataset."""


class UnknownNameError(ObliviateError, KeyError):
    """A method, dataset, model or scenario name that is not registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ModelLoadError(ObliviateError):
    """A model directory that does not exist or holds no loadable weights."""


class ConfigError(ObliviateError):
    """A method or benchmark configuration with invalid values."""


class MissingDataError(ObliviateError):
    """A dataset whose files are not on this machine."""
