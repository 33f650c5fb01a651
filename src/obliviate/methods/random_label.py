"""RL: relabel the forget set with random labels and fine-tune on it together with the retain set."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import ConcatDataset

from ..tasks import UnlearnData
from ..training import fit
from .base import Method, TrainingConfig, param, register_method
from .losses import cross_entropy


@dataclass
class RandomLabelConfig(TrainingConfig):
    epochs: int = param(10, "epochs over forget (random labels) + retain (Fan et al. 2024: 10)")
    lr: float = param(0.01, "learning rate (Fan et al. 2024 use ~0.01)")


def random_labels(n: int, num_classes: int, seed: int) -> torch.Tensor:
    """Uniform random labels, fixed once per run (as in the SalUn reference code)."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, num_classes, (n,), generator=gen)


@register_method
class RandomLabel(Method):
    name = "random_label"
    paper = "SalUn (Fan et al., ICLR 2024), baseline RL"
    summary = "cross-entropy on forget samples with random labels plus retain samples with true labels"
    Config = RandomLabelConfig

    def run(self, model: nn.Module, data: UnlearnData, config: RandomLabelConfig, *, seed: int) -> nn.Module:
        relabelled = data.forget.with_labels(random_labels(len(data.forget), data.num_classes, seed))
        mixed = ConcatDataset([relabelled.as_torch(), data.retain.as_torch()])
        fit(
            model,
            cross_entropy("train"),
            {"train": mixed},
            epochs=config.epochs,
            batch_size=config.batch_size,
            optim=config.optim(),
            seed=seed,
            desc="random_label",
        )
        return model
