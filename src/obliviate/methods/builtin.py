"""The built-in methods' modules, imported on first use (so `import obliviate` stays light)."""

from __future__ import annotations

import importlib

#: Modules of the built-in methods, per family; importing one registers it.
BUILTIN: dict[str, tuple[str, ...]] = {
    "classifier": ("retrain", "finetune", "grad_ascent", "random_label", "l1_sparse", "influence",
                   "fisher_forgetting", "salun", "scrub", "laf"),
    "lm": ("retrain", "grad_ascent", "grad_diff", "kl", "npo", "simnpo", "task_vector", "dp2", "whp", "eco", "rmu"),
    "clip": ("domain_baseline", "adu"),
}

_loaded = False


def load_all() -> None:
    """Import every built-in method module once (lazy, so `import obliviate` stays light)."""
    global _loaded
    if not _loaded:
        _loaded = True
        for family, modules in BUILTIN.items():
            for mod in modules:
                importlib.import_module(f"obliviate.methods.{family}.{mod}")


