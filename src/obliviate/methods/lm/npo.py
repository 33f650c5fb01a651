"""NPO (Zhang et al. 2024): negative preference optimisation on the forget texts, bounded unlike GA.

L = (2/beta) * mean over forget sequences of log(1 + (pi_theta(y|x) / pi_ref(y|x))^beta), with the
sequence probabilities of the whole text; ``retain_loss`` adds MUSE's variants NPO_GDR / NPO_KLR.
pi_ref's log-probs are computed once per forget sequence before training.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ...lm.data import sequence_logprobs
from ...training.loop import LossFn
from ..base import param, METHODS, register_method
from .common import ForgetRetainMethod, RetainChoiceConfig


def npo_loss(logp: torch.Tensor, ref_logp: torch.Tensor, beta: float) -> torch.Tensor:
    """Mean of (2/beta) * log(1 + exp(beta * (logp - ref_logp))) = -(2/beta) log sigmoid(-beta * log ratio)."""
    return -(2.0 / beta) * F.logsigmoid(-beta * (logp - ref_logp)).mean()


@dataclass
class NPOConfig(RetainChoiceConfig):
    beta: float = param(0.1, "inverse temperature (NPO paper and MUSE: 0.1)", gt=0)


@register_method
class NPO(ForgetRetainMethod):
    name = "npo"
    paper = "Negative Preference Optimization (Zhang et al. 2024); variants NPO_GDR / NPO_KLR as in MUSE"
    summary = "bounded preference-style loss pushing forget texts below the original's likelihood"
    Config = NPOConfig
    needs_forget_reference = True

    def forget_loss(self, config: NPOConfig) -> LossFn:
        def loss_fn(model, batch):
            logp, _ = sequence_logprobs(model, batch["forget"][:3])
            return npo_loss(logp, batch["forget"][3], config.beta)

        return loss_fn


# MUSE's table names for NPO with a retain term
METHODS.register_variant("lm", "npo_gdr", "npo", {"retain_loss": "gdr"})
METHODS.register_variant("lm", "npo_klr", "npo", {"retain_loss": "klr"})
