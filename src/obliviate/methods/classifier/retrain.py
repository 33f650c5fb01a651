"""Exact unlearning: train a freshly initialised model on the retain set only (the gold standard)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from torch import nn

from ...models.classifier import reinitialize
from ...tasks import UnlearnData
from ...training import fit
from ..base import Method, TrainingConfig, param, register_method
from .losses import cross_entropy


@dataclass
class RetrainConfig(TrainingConfig):
    """The training recipe; the bench sets it to the recipe that trained the original model."""

    epochs: int = param(30, "training epochs from scratch")
    lr: float = param(0.05, "peak learning rate")
    batch_size: int = param(128, "mini-batch size")
    schedule: Literal["constant", "cosine", "multistep"] = param("cosine", "learning-rate schedule")
    augment: bool = param(False, "random crop (padding 4) + horizontal flip of the training batches (data/augment.py; "
                          "the CIFAR recipes of Jia et al. 2023 / Fan et al. 2024)")


def train_classifier(
    model: nn.Module, dataset, config: TrainingConfig, *, seed: int, desc: str,
    epoch_hook: Callable[[nn.Module, int], None] | None = None,
) -> nn.Module:
    """Supervised training with cross-entropy: used for the original model, retrain, FT and pruning.
    With ``config.augment`` (a :class:`RetrainConfig` field) the batches get a seeded random crop + flip,
    padded with the dataset's normalised black."""
    transform = None
    if getattr(config, "augment", False):
        from ...data.augment import RandomCropFlip

        norm = getattr(dataset, "normalization", None)
        transform = RandomCropFlip(fill=norm.black() if norm is not None else 0.0, seed=seed)
    fit(
        model,
        cross_entropy("train"),
        {"train": dataset.as_torch()},
        epochs=config.epochs,
        batch_size=config.batch_size,
        optim=config.optim(),
        seed=seed,
        epoch_hook=epoch_hook,
        transform=transform,
        desc=desc,
    )
    return model


@register_method
class Retrain(Method):
    name = "retrain"
    paper = "exact unlearning (reference)"
    summary = "re-initialise and train from scratch on the retain set only"
    Config = RetrainConfig
    is_exact = True

    def run(self, model: nn.Module, data: UnlearnData, config: RetrainConfig, *, seed: int) -> nn.Module:
        reinitialize(model, seed)
        return train_classifier(model, data.retain, config, seed=seed, desc="retrain")
