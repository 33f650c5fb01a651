"""Training a causal LM with the shared loop: the original model (forget + retain documents) and the
exact-retrain reference (retain documents only) both go through :func:`train_lm`.

Decisions: Adam (``OptimConfig`` has no AdamW; Adam's coupled weight decay is left at 0), cosine
schedule, gradient-norm clipping at 1.0 through ``fit``'s ``grad_hook``. The defaults memorise the
tiny ``bios`` corpus on a CPU in seconds (see ``benchmarks/lm_memorisation.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn
from torch.utils.data import Dataset

from ..methods.base import TrainingConfig, param
from ..training import FitStats, fit, get_accelerator
from ..training.loop import Hook
from .data import causal_lm_loss


@dataclass
class LMTrainConfig(TrainingConfig):
    """Recipe for training a causal LM on documents."""

    epochs: int = param(30, "passes over the training documents")
    lr: float = param(3e-3, "peak learning rate")
    batch_size: int = param(16, "documents per mini-batch")
    optimizer: Literal["sgd", "adam"] = param("adam", "optimiser")
    weight_decay: float = param(0.0, "L2 weight decay (Adam's coupled form)")
    schedule: Literal["constant", "cosine"] = param("cosine", "learning-rate schedule")
    max_grad_norm: float = param(1.0, "clip the gradient norm to this value (0 = no clipping)")


def clip_grad_hook(max_norm: float) -> Hook | None:
    """A ``fit`` grad_hook that clips the gradient norm (None when ``max_norm`` is 0)."""
    if max_norm <= 0:
        return None

    def hook(model: nn.Module) -> None:
        accelerator = get_accelerator()
        if accelerator.distributed_type.value in ("FSDP", "DEEPSPEED"):
            # sharded gradients: accelerate computes the global norm (DeepSpeed clips with its own
            # gradient_clipping setting instead; see configs/accelerate/deepspeed_zero3.yaml)
            accelerator.clip_grad_norm_(model.parameters(), max_norm)
            return
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.grad is not None], max_norm)

    return hook


def train_lm(
    model: nn.Module, dataset: Dataset, config: LMTrainConfig, *, seed: int, desc: str = "train lm"
) -> FitStats:
    """Train ``model`` in place on ``dataset`` (from :func:`~obliviate.lm.data.lm_dataset`) with the
    next-token loss; returns the loop's statistics (steps, seconds, per-epoch losses)."""
    config.validate()
    return fit(
        model,
        causal_lm_loss("train"),
        {"train": dataset},
        epochs=config.epochs,
        batch_size=config.batch_size,
        optim=config.optim(),
        seed=seed,
        grad_hook=clip_grad_hook(config.max_grad_norm),
        desc=desc,
    )
