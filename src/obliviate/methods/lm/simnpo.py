"""SimNPO (Fan et al. 2024): NPO without a reference model, normalised by sequence length.

L = -(2/beta) * mean over forget sequences of log sigmoid(-(beta/|y|) * log pi_theta(y|x) - gamma),
plus a retain term (``retain_loss``, NLL by default as in the paper).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ...lm.data import sequence_logprobs
from ...training.loop import LossFn
from ..base import param, METHODS, register_method
from .common import ForgetRetainMethod, RetainChoiceConfig, RetainLoss


def simnpo_loss(logp: torch.Tensor, n_tokens: torch.Tensor, beta: float, gamma: float) -> torch.Tensor:
    """Mean of -(2/beta) * log sigmoid(-(beta / n_tokens) * logp - gamma)."""
    return -(2.0 / beta) * F.logsigmoid(-(beta / n_tokens.to(logp.dtype)) * logp - gamma).mean()


@dataclass
class SimNPOConfig(RetainChoiceConfig):
    beta: float = param(2.5, "inverse temperature (SimNPO paper, TOFU setting: 2.5)", gt=0)
    gamma: float = param(0.0, "reward margin (SimNPO paper, TOFU setting: 0)")
    retain_loss: RetainLoss = param("gdr", "retain term: gdr (NLL on retain, the paper's), klr or none")


@register_method
class SimNPO(ForgetRetainMethod):
    name = "simnpo"
    paper = "Simplicity Prevails: Rethinking Negative Preference Optimization (Fan et al. 2024)"
    summary = "reference-free, length-normalised NPO on forget + NLL on retain"
    Config = SimNPOConfig

    def forget_loss(self, config: SimNPOConfig) -> LossFn:
        def loss_fn(model, batch):
            logp, n_tokens = sequence_logprobs(model, batch["forget"][:3])
            return simnpo_loss(logp, n_tokens, config.beta, config.gamma)

        return loss_fn


METHODS.register_variant("lm", "simnpo_klr", "simnpo", {"retain_loss": "klr"})  # SimNPO with MUSE's KL retain term
