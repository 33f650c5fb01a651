"""Classification accuracy and the standard forget / retain / test summary."""

from __future__ import annotations

import numpy as np

from ..errors import ObliviateError

__all__ = ["accuracy", "classifier_metrics"]


def accuracy(predictions: np.ndarray, labels: np.ndarray) -> float:
    """Percentage (0..100) of rows whose prediction equals the label.

    ``predictions`` is either 1-D class ids or 2-D scores / logits / probabilities of shape (n, C),
    in which case the predicted class is the argmax over axis 1. ``labels`` is 1-D of length n.
    Raises ``ValueError`` on empty input, mismatched lengths or wrong dimensionality.
    """
    preds = np.asarray(predictions)
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ObliviateError(f"labels must be 1-D, got shape {labels.shape}")
    if preds.ndim == 2:
        if preds.shape[1] == 0:
            raise ObliviateError(f"2-D predictions need at least one class column, got shape {preds.shape}")
        if preds.shape[0] > 0:
            preds = preds.argmax(axis=1)
        else:
            preds = np.empty(0, dtype=np.int64)
    elif preds.ndim != 1:
        raise ObliviateError(f"predictions must be 1-D class ids or 2-D scores, got shape {preds.shape}")
    if len(preds) != len(labels):
        raise ObliviateError(f"predictions and labels differ in length: {len(preds)} vs {len(labels)}")
    if len(labels) == 0:
        raise ObliviateError("accuracy of an empty set is undefined (predictions and labels are empty)")
    return float(100.0 * np.mean(preds == labels))


def classifier_metrics(forget_acc: float, retain_acc: float, test_acc: float) -> dict[str, float]:
    """Bundle the three accuracies (percent) plus unlearning accuracy UA = 100 - forget accuracy."""
    return {
        "forget_accuracy": float(forget_acc),
        "retain_accuracy": float(retain_acc),
        "test_accuracy": float(test_acc),
        "unlearning_accuracy": 100.0 - float(forget_acc),
    }
