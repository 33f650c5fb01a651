"""Task vector negation (Ilharco et al. 2023), as MUSE applies it: fine-tune a copy of the original on
the forget texts (theta_ft), then theta_u = theta_o - alpha * (theta_ft - theta_o)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from ...errors import ConfigError
from ...lm.task import LMUnlearnData
from ..base import param, register_method
from .common import LMMethod, LMUnlearnConfig, fit_lm, nll


def negate_task_vector(
    original: Mapping[str, torch.Tensor], finetuned: Mapping[str, torch.Tensor], alpha: float
) -> dict[str, torch.Tensor]:
    """``original - alpha * (finetuned - original)`` for every floating-point tensor; others are copied."""
    if set(original) != set(finetuned):
        missing = sorted(set(original) ^ set(finetuned))
        raise ConfigError(f"task vector: the state dicts differ in keys {missing[:5]}")
    out = {}
    for key, theta in original.items():
        ft = finetuned[key]
        if theta.shape != ft.shape:
            raise ConfigError(f"task vector: {key} has shape {tuple(theta.shape)} vs {tuple(ft.shape)}")
        out[key] = theta - alpha * (ft - theta) if theta.is_floating_point() else theta.clone()
    return out


@dataclass
class TaskVectorConfig(LMUnlearnConfig):
    alpha: float = param(1.0, "scale of the negated forget direction (MUSE: 1)", gt=0)


@register_method
class TaskVector(LMMethod):
    name = "task_vector"
    paper = "Editing Models with Task Arithmetic (Ilharco et al. 2023), as evaluated in MUSE"
    summary = "fine-tune on forget, then subtract the fine-tuning direction from the original"
    Config = TaskVectorConfig

    def run(self, model: nn.Module, data: LMUnlearnData, config: TaskVectorConfig, *, seed: int) -> nn.Module:
        finetuned = fit_lm(copy.deepcopy(model), nll("forget"), {"forget": data.forget}, config, seed=seed,
                           desc=self.name)
        with torch.no_grad():
            model.load_state_dict(negate_task_vector(model.state_dict(), finetuned.state_dict(), config.alpha))
        return model
