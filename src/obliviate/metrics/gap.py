"""Distance of an unlearned model's metrics to those of a model retrained without the forget set."""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..errors import ObliviateError
from .registry import gap_metrics

__all__ = ["gap_to_retrain", "time_ratio"]


def gap_to_retrain(
    metrics: dict[str, float | None],
    reference: dict[str, float | None],
    average_over: Sequence[str] | None = None,
) -> dict[str, float | None]:
    """Absolute difference ``|metrics[k] - reference[k]|`` for every key present and non-None in both.

    Keys found in only one dict (or None in either) are skipped. The extra key ``"average"`` is the
    mean gap over ``average_over`` (default: the classifier's gap metrics in the metric registry); it
    is None when any of those keys has no gap. An input key named ``"average"`` is ignored so it
    cannot clash with the computed one.
    """
    if average_over is None:
        average_over = gap_metrics("classifier")
    if not average_over:
        raise ObliviateError("average_over must name at least one metric")
    gaps: dict[str, float | None] = {}
    for key, value in metrics.items():
        if key == "average" or key not in reference:
            continue
        ref = reference[key]
        if value is None or ref is None:
            continue
        gaps[key] = abs(float(value) - float(ref))
    parts = [gaps.get(key) for key in average_over]
    gaps["average"] = None if any(p is None for p in parts) else sum(parts) / len(parts)  # type: ignore[arg-type]
    return gaps


def time_ratio(seconds: float, retrain_seconds: float | None) -> float | None:
    """``seconds / retrain_seconds``; None when the retrain time is None, non-finite or <= 0."""
    if retrain_seconds is None or not math.isfinite(retrain_seconds) or retrain_seconds <= 0:
        return None
    return float(seconds) / float(retrain_seconds)
