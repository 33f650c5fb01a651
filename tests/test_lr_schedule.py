"""The shared loop's ``linear`` schedule (config.py WarmupConfig / OptimConfig): a linear warm-up over
``warmup_epochs`` or ``warmup_steps``, then a linear decay to 0 (Hugging Face's
get_linear_schedule_with_warmup, the TOFU authors' fine-tune), against hand-computed learning rates."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from obliviate.config import OptimConfig
from obliviate.errors import ConfigError
from obliviate.lm.train import LMTrainConfig
from obliviate.training import fit

# 8 steps, warm-up 2 steps: lr x [0, 1/2] then (8 - s) / (8 - 2) for s = 2..7
HAND = [0.0, 0.5, 1.0, 5 / 6, 4 / 6, 3 / 6, 2 / 6, 1 / 6]


def lrs_of(config: OptimConfig, total: int, steps_per_epoch: int | None) -> list[float]:
    opt, sched = config.build([nn.Parameter(torch.zeros(1))], total, steps_per_epoch)
    out = []
    for _ in range(total):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


@pytest.mark.parametrize("warmup", [{"warmup_epochs": 1.0}, {"warmup_steps": 2}])
def test_linear_warmup_then_decay_by_hand(warmup):
    config = OptimConfig(optimizer="sgd", lr=0.3, momentum=0.0, weight_decay=0.0, schedule="linear", **warmup)
    assert lrs_of(config, 8, steps_per_epoch=2) == pytest.approx([0.3 * f for f in HAND])


def test_without_warmup_the_decay_starts_at_lr():
    config = OptimConfig(lr=1.0, schedule="linear")
    assert lrs_of(config, 4, None) == pytest.approx([1.0, 0.75, 0.5, 0.25])


def test_fit_steps_the_schedule_with_the_loop_s_steps_per_epoch():
    """Through the loop: SGD without momentum on loss = w moves w by exactly -lr each step."""

    class Scalar(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.zeros(()))

    model, seen = Scalar(), []
    fit(model, lambda m, batch: m.w * 1.0, {"train": TensorDataset(torch.zeros(4, 1))}, epochs=4, batch_size=2,
        optim=OptimConfig(optimizer="sgd", lr=0.3, momentum=0.0, weight_decay=0.0, schedule="linear",
                          warmup_epochs=1.0),
        step_hook=lambda m: seen.append(m.w.item()))
    steps = [-(b - a) for a, b in zip([0.0] + seen[:-1], seen)]
    assert steps == pytest.approx([0.3 * f for f in HAND], abs=1e-6)


def test_warmup_is_declared_once_and_validated():
    config = LMTrainConfig.from_params({"schedule": "linear", "warmup_epochs": "1"})
    assert config.optim().warmup_epochs == 1.0 and config.optim().schedule == "linear"
    with pytest.raises(ConfigError, match="warm-up needs schedule='linear'"):
        LMTrainConfig.from_params({"warmup_steps": 10})  # LMTrainConfig's schedule is cosine
    with pytest.raises(ConfigError, match="not both"):
        OptimConfig.from_params({"schedule": "linear", "warmup_epochs": 1, "warmup_steps": 3})
    with pytest.raises(ConfigError, match="warmup_epochs"):
        OptimConfig.from_params({"schedule": "linear", "warmup_epochs": -1})
    with pytest.raises(ConfigError, match="steps per epoch"):
        OptimConfig(schedule="linear", warmup_epochs=1.0).build([nn.Parameter(torch.zeros(1))], 4)
