"""GA for causal LMs: maximise the next-token loss of the forget texts (MUSE's GA baseline)."""

from __future__ import annotations

from ...training.loop import LossFn
from ..base import register_method
from .common import ForgetRetainMethod, LMUnlearnConfig, nll


def ascent(stream: str = "forget") -> LossFn:
    """``loss_fn``: the negated mean NLL of ``stream``."""
    descent = nll(stream)
    return lambda model, batch: -descent(model, batch)


@register_method
class LMGradAscent(ForgetRetainMethod):
    name = "grad_ascent"
    paper = "MUSE (Shi et al. 2024) baseline GA; Jang et al. 2023"
    summary = "gradient ascent on the forget texts' next-token loss"
    Config = LMUnlearnConfig

    def forget_loss(self, config: LMUnlearnConfig) -> LossFn:
        return ascent()
