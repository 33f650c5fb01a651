"""KL (MUSE's GA_KLR): gradient ascent on forget + KL(pi_ref || pi_theta) to the original on retain."""

from __future__ import annotations

from ...training.loop import LossFn
from ..base import register_method
from .common import ForgetRetainMethod, RetainWeightConfig
from .grad_ascent import ascent


@register_method
class KL(ForgetRetainMethod):
    name = "kl"
    paper = "MUSE (Shi et al. 2024) baseline GA_KLR; TOFU (Maini et al. 2024)"
    summary = "gradient ascent on forget + token-level KL to the original on retain"
    Config = RetainWeightConfig
    retain = "klr"

    def forget_loss(self, config: RetainWeightConfig) -> LossFn:
        return ascent()
