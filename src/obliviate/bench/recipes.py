"""Per-dataset training recipes for the embedded classifier benchmarks.

The unlearning papers tune on CIFAR-10 (45k images, batch 256, ~176 steps an epoch). Method
defaults keep the papers' learning rates and epoch counts; on a small dataset the recipe scales the
batch size down so that an epoch has a comparable number of steps (digits: 1,437 images at batch 32
= 45 steps). Users override any of it with ``--param`` / ``--train``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Recipe:
    model: str = "cnn"
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    #: original training and exact retrain (fields of RetrainConfig)
    train: dict[str, Any] = field(default_factory=dict)
    #: defaults applied to every method config that has the field, unless the user sets it
    method_defaults: dict[str, Any] = field(default_factory=dict)
    #: per-method settings for this dataset (over method_defaults), each justified by a measured sweep
    #: (benchmarks/sweep_classifier.py) and recorded in docs/benchmarks.md
    method_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    max_train: int | None = None


RECIPES: dict[str, Recipe] = {
    "digits": Recipe(
        train={"epochs": 20, "lr": 0.05, "batch_size": 32, "schedule": "cosine"},
        method_defaults={"batch_size": 32},
    ),
    "fashion-mnist": Recipe(
        train={"epochs": 20, "lr": 0.05, "batch_size": 128, "schedule": "cosine"},
        method_defaults={"batch_size": 128},
    ),
}


def recipe_for(dataset: str) -> Recipe:
    return RECIPES.get(dataset, Recipe())
