"""Unlearning methods: one module per method, all in one registry (``METHODS``)."""

from __future__ import annotations

import importlib

from .base import METHODS, Method, MethodConfig, TrainingConfig, get_method, local_name, register_method

#: Modules of the built-in methods; importing one registers it.
BUILTIN = (
    "retrain", "finetune", "grad_ascent", "random_label",
    "l1_sparse", "influence", "fisher_forgetting", "salun", "scrub", "laf",
    # language models (family "lm")
    "lm_retrain", "lm_grad_ascent", "grad_diff", "kl", "npo", "simnpo", "task_vector",
    "dp2",
    "whp", "eco",
    # vision-language models (family "clip")
    "domain_baseline", "adu",
)

_loaded = False


def load_all() -> None:
    """Import every built-in method module once (lazy, so `import obliviate` stays light)."""
    global _loaded
    if not _loaded:
        _loaded = True
        for mod in BUILTIN:
            importlib.import_module(f"{__name__}.{mod}")


__all__ = ["METHODS", "Method", "MethodConfig", "TrainingConfig", "get_method", "local_name", "register_method", "load_all"]
