"""obliviate: machine unlearning toolkit.

    >>> import obliviate
    >>> result = obliviate.unlearn(model, task, "finetune", epochs=5)
    >>> obliviate.evaluate(result.model, task, reference=retrained)
    >>> lm = obliviate.unlearn_lm(model, tokenizer, forget_texts, retain_texts, "npo", lr=1e-5)
"""

from __future__ import annotations

from typing import Any

from .version import __version__

__all__ = ["__version__", "unlearn", "unlearn_lm", "evaluate", "Task", "ForgetRequest", "METHODS"]


def __getattr__(name: str) -> Any:  # lazy: `import obliviate` does not import torch
    if name in ("unlearn", "evaluate", "unlearn_lm"):
        from . import api

        return getattr(api, name)
    if name in ("Task", "ForgetRequest"):
        from . import tasks

        return getattr(tasks, name)
    if name == "METHODS":
        from .methods import METHODS, load_all

        load_all()
        return METHODS
    raise AttributeError(f"module 'obliviate' has no attribute {name!r}")
