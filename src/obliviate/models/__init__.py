"""Model adapters: image classifiers now; causal LMs and CLIP later."""

from .classifier import CLASSIFIERS, build_classifier, reinitialize
from .io import load_classifier, save_classifier

__all__ = ["CLASSIFIERS", "build_classifier", "reinitialize", "load_classifier", "save_classifier"]
