"""Evaluation metrics: accuracies, membership-inference efficacy, gaps to a retrained model; every
metric a family reports is declared in the metric registry (:mod:`obliviate.metrics.registry`).

The membership-inference names load lazily, so importing the registry does not import scikit-learn.
"""

from __future__ import annotations

from typing import Any

from .accuracy import accuracy, classifier_metrics
from .gap import gap_to_retrain, time_ratio

__all__ = [
    "CLASSIFIER_GAP_METRICS",
    "MIA_FEATURES",
    "accuracy",
    "classifier_metrics",
    "gap_to_retrain",
    "mia_features",
    "svc_mia_efficacy",
    "time_ratio",
]

_MIA = ("MIA_FEATURES", "mia_features", "svc_mia_efficacy")


def __getattr__(name: str) -> Any:
    if name == "CLASSIFIER_GAP_METRICS":  # the registry's classifier gap metrics
        from .registry import gap_metrics

        return gap_metrics("classifier")
    if name in _MIA:
        from . import mia

        return getattr(mia, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
