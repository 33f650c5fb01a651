"""Metrics as a plain-text table for the console: one row per metric, one column per model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .registry import metric_label, standard_metrics


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return f"{value:.2f}"


def metric_table(columns: Mapping[str, Mapping[str, Any] | None], family: str) -> str:
    """``{"before": metrics, "after": metrics, ...}`` as aligned text: a row per metric ("label [name]"; the
    family's standard metrics first, then the others in the columns' order), a column per non-empty mapping,
    "-" where a column lacks a metric."""
    cols = {name: dict(values) for name, values in columns.items() if values}
    names: list[str] = [name for name in standard_metrics(family) if any(name in v for v in cols.values())]
    for values in cols.values():
        names.extend(k for k in values if k not in names)
    header = ["metric", *cols]
    rows = [header]
    for name in names:
        label = metric_label(name, family)
        rows.append([name if label == name else f"{label} [{name}]", *(_cell(v.get(name)) for v in cols.values())])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)
