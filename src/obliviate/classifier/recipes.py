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
        # paper defaults, except the curvature estimates' sample caps (a cost bound for the quick suite:
        # the Fisher takes num_classes per-sample gradients per sample)
        method_params={"influence": {"max_retain_samples": 300}, "fisher_forgetting": {"max_retain_samples": 300}},
    ),
    # Method epochs are scaled so that unlearning costs about the papers' share of training (SalUn / Jia
    # et al.: ~10 of 182 epochs, 5%): 1-2 epochs of retain data against 20 of training. Learning rates
    # stay the papers' except where a sweep on random:0.1 (seed 0, 10k subset; docs/benchmarks.md)
    # showed the paper value doing nothing at this scale (influence alpha, SCRUB lr, Fisher alpha).
    "fashion-mnist": Recipe(
        train={"epochs": 20, "lr": 0.05, "batch_size": 128, "schedule": "cosine"},
        method_defaults={"batch_size": 128},
        method_params={
            "finetune": {"epochs": 2},
            "l1_sparse": {"epochs": 2, "alpha": 2e-4},
            "random_label": {"epochs": 1},
            "salun": {"epochs": 1},
            "influence": {"alpha": 10.0},
            "fisher_forgetting": {"alpha": 3e-7, "max_retain_samples": 1000},
            "scrub": {"lr": 0.01},
        },
    ),
    # The papers' 32x32 colour benchmarks: ResNet-18 in its CIFAR form, with the crop + flip augmentation of
    # their training code for CIFAR (none for SVHN). The full paper recipes (182 epochs, SGD 0.1, batch 256,
    # multistep; each method's settings) are recipe files: recipes/*.toml, --recipe FILE (docs/recipes.md).
    "cifar10": Recipe(model="resnet18", train={"augment": True}),
    "cifar100": Recipe(model="resnet18", train={"augment": True}),
    "svhn": Recipe(model="resnet18"),
}


def recipe_for(dataset: str) -> Recipe:
    return RECIPES.get(dataset, Recipe())
