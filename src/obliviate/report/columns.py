"""Which metric columns a group's tables show, and their labels: read from the metric registry."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..metrics.registry import metric_label, standard_metrics

__all__ = ["label", "metric_columns", "table_columns"]


def metric_columns(family: str, keys: Iterable[str]) -> list[str]:
    """Every metric in ``keys``: the family's standard metrics in display order, then the rest sorted."""
    keys = set(keys)
    std = [k for k in standard_metrics(family) if k in keys]
    return std + sorted(k for k in keys if k not in std)


def table_columns(family: str, entries: Sequence[dict]) -> list[str]:
    """Main table metric columns: the family's standard metrics present, else everything found."""
    keys: set[str] = set()
    for e in entries:
        keys.update(e.get("metric_keys", e["metrics"]))
    std = [k for k in standard_metrics(family) if k in keys]
    return std if std else metric_columns(family, keys)


def label(metric: str, family: str | None = None) -> str:
    """A metric's short column label (its name when none is registered)."""
    return metric_label(metric, family)
