"""Exact unlearning for causal LMs: re-initialise with the seed and train on the retain data only."""

from __future__ import annotations

import torch
from torch import nn

from ...lm.model import model_device
from ...lm.task import LMUnlearnData
from ...lm.train import LMTrainConfig, train_lm
from ..base import register_method
from .common import LMMethod


def reinitialize_lm(model: nn.Module, seed: int) -> nn.Module:
    """A fresh model of ``model``'s class and config, initialised under ``seed`` exactly as
    :func:`~obliviate.lm.model.tiny_llama` does (so retrain starts where the original started)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        fresh = type(model)(model.config)
    return fresh.to(model_device(model))


@register_method
class LMRetrain(LMMethod):
    name = "retrain"
    paper = "exact unlearning (reference)"
    summary = "re-initialise and train from scratch on the retain texts (the original's recipe)"
    Config = LMTrainConfig
    is_exact = True

    def run(self, model: nn.Module, data: LMUnlearnData, config: LMTrainConfig, *, seed: int) -> nn.Module:
        fresh = reinitialize_lm(model, seed)
        train_lm(fresh, data.retain, config, seed=seed, desc="retrain lm")
        return fresh
