"""GradDiff (MUSE's GA_GDR): gradient ascent on forget + ordinary next-token loss on retain."""

from __future__ import annotations

from ...training.loop import LossFn
from ..base import register_method
from .common import ForgetRetainMethod, RetainWeightConfig
from .grad_ascent import ascent


@register_method
class GradDiff(ForgetRetainMethod):
    name = "grad_diff"
    paper = "MUSE (Shi et al. 2024) baseline GA_GDR; Liu et al. 2022"
    summary = "gradient ascent on forget + NLL on retain"
    Config = RetainWeightConfig
    retain = "gdr"

    def forget_loss(self, config: RetainWeightConfig) -> LossFn:
        return ascent()
