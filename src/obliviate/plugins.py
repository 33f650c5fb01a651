"""Extensions from outside the package. Before the CLI builds its parser it imports every module named
in ``$OBLIVIATE_PLUGINS`` (comma-separated) and every ``obliviate.plugins`` entry point of the installed
packages, so the methods, metrics, datasets, models and families they register show up in every command
(``obliviate ls``, ``obliviate bench <family>``). See docs/extending.md.
"""

from __future__ import annotations

import importlib
import os
from importlib.metadata import entry_points

from .errors import ConfigError

ENV = "OBLIVIATE_PLUGINS"
GROUP = "obliviate.plugins"
_loaded: list[str] = []


def plugin_names() -> list[str]:
    """The modules to import: ``$OBLIVIATE_PLUGINS``, then the entry points of group ``obliviate.plugins``."""
    named = [m.strip() for m in os.environ.get(ENV, "").split(",") if m.strip()]
    return named + [ep.value.partition(":")[0] for ep in entry_points(group=GROUP)]


def load_plugins() -> list[str]:
    """Import every plugin module once; the modules imported. A plugin that fails to import is an error
    naming it (and where it was declared)."""
    for name in plugin_names():
        if name in _loaded:
            continue
        try:
            importlib.import_module(name)
        except Exception as exc:
            raise ConfigError(f"plugin {name!r} (from ${ENV} or the {GROUP!r} entry points) failed to import: "
                              f"{type(exc).__name__}: {exc}") from exc
        _loaded.append(name)
    return list(_loaded)
