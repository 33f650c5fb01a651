"""The one training loop every fine-tuning-style method, original training and retrain share."""

from .distributed import get_accelerator
from .loop import FitStats, OptimConfig, fit
from .predict import predict_probs

__all__ = ["FitStats", "OptimConfig", "fit", "get_accelerator", "predict_probs"]
