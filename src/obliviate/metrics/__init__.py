"""Evaluation metrics: accuracies, membership-inference efficacy, gaps to a retrained model."""

from .accuracy import accuracy, classifier_metrics
from .gap import CLASSIFIER_GAP_METRICS, gap_to_retrain, time_ratio
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
