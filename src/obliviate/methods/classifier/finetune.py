"""FT: fine-tune the original model on the retain set only (catastrophic forgetting of D_f)."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ...tasks import UnlearnData
from ..base import Method, TrainingConfig, param, register_method
from .retrain import train_classifier


@dataclass
class FinetuneConfig(TrainingConfig):
    epochs: int = param(10, "fine-tuning epochs on the retain set (Jia et al. 2023: 10)")
    lr: float = param(0.01, "learning rate (Jia et al. 2023: 0.01)")


@register_method
class Finetune(Method):
    name = "finetune"
    paper = "Model Sparsity Can Simplify Machine Unlearning (Jia et al., NeurIPS 2023), baseline FT"
    summary = "fine-tune on the retain set with cross-entropy"
    Config = FinetuneConfig

    def run(self, model: nn.Module, data: UnlearnData, config: FinetuneConfig, *, seed: int) -> nn.Module:
        return train_classifier(model, data.retain, config, seed=seed, desc="finetune")
