"""GA: gradient ascent on the forget set (maximise its cross-entropy)."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ...tasks import UnlearnData
from ...training import fit
from ..base import Method, TrainingConfig, param, register_method
from .losses import cross_entropy


@dataclass
class GradAscentConfig(TrainingConfig):
    epochs: int = param(5, "ascent epochs over the forget set (Jia et al. 2023: 5)")
    lr: float = param(1e-4, "learning rate (Jia et al. 2023: 1e-4 at batch 256 on CIFAR-10)")


@register_method
class GradAscent(Method):
    name = "grad_ascent"
    paper = "Model Sparsity Can Simplify Machine Unlearning (Jia et al., NeurIPS 2023), baseline GA"
    summary = "maximise the cross-entropy of the forget set"
    Config = GradAscentConfig

    def run(self, model: nn.Module, data: UnlearnData, config: GradAscentConfig, *, seed: int) -> nn.Module:
        fit(
            model,
            cross_entropy("forget", sign=-1.0),
            {"forget": data.forget.as_torch()},
            epochs=config.epochs,
            batch_size=config.batch_size,
            optim=config.optim(),
            seed=seed,
            desc="grad_ascent",
        )
        return model
