"""What a bench would do, for ``obliviate bench --dry-run``: its rows and the models it would train.

A family registers a planner for its bench class (:func:`register_planner`, from its adapter's module);
the dry run prints the plan of each bench without training or writing anything. A model's cache entry is known from its key, so the plan says which are cached and
how long they took to build (the seconds the cache recorded with them).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cache import config_hash
from .cache_entry import MANIFEST

__all__ = ["Plan", "PlannedModel", "PlannedRows", "entry_path", "plan_of", "recorded_seconds", "register_planner"]


def entry_path(cache_dir: Path, kind: str, key: dict[str, Any]) -> Path:
    """The cache entry directory the model of ``kind`` and ``key`` is stored in (see :mod:`.cache`)."""
    return Path(cache_dir) / f"{kind}-{config_hash(key)}"


def recorded_seconds(entry: Path) -> float | None:
    """The build seconds a cache entry recorded (``cache.json``, ``search.json`` or a classifier's
    ``config.json`` ``cache`` block); None when it has none."""
    for name, path in (("cache.json", ()), ("search.json", ()), ("config.json", ("cache",))):
        file = entry / name
        if not file.is_file():
            continue
        try:
            meta: Any = json.loads(file.read_text(encoding="utf-8"))
            for part in path:
                meta = meta[part]
            seconds = meta["seconds"]
        except (ValueError, KeyError, TypeError):
            continue
        if isinstance(seconds, (int, float)) and not isinstance(seconds, bool):
            return float(seconds)
    return None


@dataclass(frozen=True)
class PlannedModel:
    """A model (or searched forget set) a bench needs: ``role`` (original, reference, search, ...), a label,
    and its cache entry (None when the entry depends on something not yet computed, e.g. a search)."""

    role: str
    label: str
    entry: Path | None

    @property
    def cached(self) -> bool:
        return self.entry is not None and (self.entry / MANIFEST).is_file()

    @property
    def seconds(self) -> float | None:
        """The build seconds recorded with the cached entry (None when not cached or not recorded)."""
        return recorded_seconds(self.entry) if self.cached and self.entry is not None else None


@dataclass(frozen=True)
class PlannedRows:
    """``count`` rows of ``method`` on forget spec ``spec`` (``role``: reference rows are not unlearning runs)."""

    spec: str
    method: str
    count: int
    role: str = "method"


@dataclass
class Plan:
    """A bench's rows and models."""

    title: str
    rows: list[PlannedRows] = field(default_factory=list)
    models: list[PlannedModel] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


#: a bench class's dotted name (module.QualName) -> its planner
_PLANNERS: dict[str, Callable[[Any], Plan]] = {}


def register_planner(bench_class: str, planner: Callable[[Any], Plan]) -> None:
    """Plan the benches of the class named ``bench_class`` (``module.QualName``: the adapter registers it
    without importing the bench) with ``planner(bench)`` in ``--dry-run``."""
    _PLANNERS[bench_class] = planner


def plan_of(bench: Any) -> Plan | None:
    """The plan of ``bench`` (None when its class has no planner)."""
    planner = _PLANNERS.get(f"{type(bench).__module__}.{type(bench).__qualname__}")
    return planner(bench) if planner is not None else None
