"""RL: relabel the forget set with random labels and fine-tune on it together with the retain set."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import ConcatDataset

from ...tasks import UnlearnData
from ...training import FitStats, fit
from ...training.loop import Hook
from ..base import Method, TrainingConfig, param, register_method
from .losses import cross_entropy


@dataclass
class RandomLabelConfig(TrainingConfig):
    epochs: int = param(10, "epochs over forget (random labels) + retain (Fan et al. 2024: 10)")
    lr: float = param(0.01, "learning rate (Fan et al. 2024 use ~0.01)")


def random_labels(n: int, num_classes: int, seed: int) -> torch.Tensor:
    """Uniform random labels, fixed once per run (as in the SalUn reference code)."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, num_classes, (n,), generator=gen)


def random_label_fit(
    model: nn.Module,
    data: UnlearnData,
    config: TrainingConfig,
    *,
    seed: int,
    grad_hook: Hook | None = None,
    step_hook: Hook | None = None,
    desc: str = "random_label",
) -> FitStats:
    """RL training in place: CE on the forget set with random labels (fixed per ``seed``) mixed with
    the retain set with true labels, one shuffled stream. Hooks go to :func:`~obliviate.training.fit`
    (SalUn masks the updates with them)."""
    relabelled = data.forget.with_labels(random_labels(len(data.forget), data.num_classes, seed))
    mixed = ConcatDataset([relabelled.as_torch(), data.retain.as_torch()])
    return fit(
        model,
        cross_entropy("train"),
        {"train": mixed},
        epochs=config.epochs,
        batch_size=config.batch_size,
        optim=config.optim(),
        seed=seed,
        grad_hook=grad_hook,
        step_hook=step_hook,
        desc=desc,
    )


@register_method
class RandomLabel(Method):
    name = "random_label"
    paper = "SalUn (Fan et al., ICLR 2024), baseline RL"
    summary = "cross-entropy on forget samples with random labels plus retain samples with true labels"
    Config = RandomLabelConfig

    def run(self, model: nn.Module, data: UnlearnData, config: RandomLabelConfig, *, seed: int) -> nn.Module:
        random_label_fit(model, data, config, seed=seed, desc="random_label")
        return model
