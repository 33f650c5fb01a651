"""Which metric columns a group's tables show, and their labels: read from the metric registry.

A group whose dataset names a benchmark of its family's registry (RESTOR's ``restor``, ``tofu``,
``wmdp``) uses that benchmark's standard metrics; others the family's main set. Settings recorded with
the metrics (``Metric.setting``, e.g. DP's epsilon) are never metric columns (:func:`settings`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..metrics.registry import find_metric, metric_label, metrics_of, standard_metrics

__all__ = ["benchmark_of", "is_setting", "label", "metric_columns", "settings", "table_columns"]


def benchmark_of(family: str, dataset: str) -> str:
    """The registry benchmark of a group: ``dataset`` when the family declares metrics for it, else ``""``."""
    return dataset if dataset and any(m.benchmark == dataset for m in metrics_of(family)) else ""


def is_setting(metric: str, family: str) -> bool:
    """Whether an emitted key is a setting recorded with the metrics (``Metric.setting``), not a metric."""
    found = find_metric(metric, family)
    return found is not None and found.setting


def _keys(entries: Sequence[dict]) -> set[str]:
    keys: set[str] = set()
    for e in entries:
        keys.update(e.get("metric_keys", e["metrics"]))
    return keys


def metric_columns(family: str, keys: Iterable[str], benchmark: str = "") -> list[str]:
    """Every metric in ``keys`` (settings left out): the standard metrics in display order, then the rest sorted."""
    keys = {k for k in keys if not is_setting(k, family)}
    std = [k for k in standard_metrics(family, benchmark) if k in keys]
    return std + sorted(k for k in keys if k not in std)


def table_columns(family: str, entries: Sequence[dict]) -> list[str]:
    """Main table metric columns: the group's standard metrics present, else every metric found."""
    keys = _keys(entries)
    benchmark = benchmark_of(family, entries[0].get("dataset", "")) if entries else ""
    std = [k for k in standard_metrics(family, benchmark) if k in keys]
    return std if std else metric_columns(family, keys, benchmark)


def settings(family: str, entries: Sequence[dict]) -> list[str]:
    """The settings (``Metric.setting``) some entry records, sorted."""
    return sorted(k for k in _keys(entries) if is_setting(k, family))


def label(metric: str, family: str | None = None) -> str:
    """A metric's short column label (its name when none is registered)."""
    return metric_label(metric, family)
