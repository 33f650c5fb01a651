"""Evaluation metrics: accuracies, membership-inference efficacy, gaps to a retrained model; every
metric a family reports is declared in the metric registry (:mod:`obliviate.metrics.registry`)."""

from typing import Any

from .accuracy import accuracy, classifier_metrics
from .gap import gap_to_retrain, time_ratio
from .mia import MIA_FEATURES, mia_features, svc_mia_efficacy

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


def __getattr__(name: str) -> Any:  # lazy: the registry imports the metric modules on first lookup
    if name == "CLASSIFIER_GAP_METRICS":
        from .registry import gap_metrics

        return gap_metrics("classifier")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
