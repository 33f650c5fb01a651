"""Unlearning methods, grouped by model family: ``methods/<family>/<name>.py``, one module per method,
all in one registry keyed by (family, name) (``METHODS``)."""

from __future__ import annotations

from .builtin import BUILTIN, load_all
from .base import METHODS, Method, MethodConfig, TrainingConfig, get_method, register_method, resolve_method

__all__ = ["METHODS", "Method", "MethodConfig", "TrainingConfig", "get_method", "register_method", "load_all", "resolve_method", "BUILTIN"]
