"""The one training loop every fine-tuning-style method, original training and retrain share."""

from .loop import FitStats, OptimConfig, fit, get_accelerator
from .predict import predict_probs

__all__ = ["FitStats", "OptimConfig", "fit", "get_accelerator", "predict_probs"]
