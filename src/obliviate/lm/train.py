"""Training a causal LM with the shared loop: the original model (forget + retain documents) and the
exact-retrain reference (retain documents only) both go through :func:`train_lm`.

Decisions: Adam (``OptimConfig`` has no AdamW; Adam's coupled weight decay is left at 0), cosine
schedule, gradient-norm clipping at 1.0 through ``fit``'s ``grad_hook``. The defaults memorise the
tiny ``bios`` corpus on a CPU in seconds (see ``benchmarks/lm_memorisation.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn
from torch.utils.data import Dataset

from ..config import ClippedTrainingConfig, WarmupConfig, param
from ..training import FitStats, fit
from ..training.hooks import clip_grad_hook
from .data import causal_lm_loss


@dataclass
class LMTrainConfig(ClippedTrainingConfig, WarmupConfig):
    """Recipe for training a causal LM on documents (``schedule="linear"`` with ``warmup_epochs`` /
    ``warmup_steps``: the Hugging Face Trainer's warm-up then linear decay, TOFU's fine-tune)."""

    epochs = param(30, "passes over the training documents")
    lr = param(3e-3, "peak learning rate")
    batch_size = param(16, "documents per mini-batch")
    optimizer = param("adam", "optimiser")
    weight_decay = param(0.0, "L2 weight decay (Adam's coupled form)")
    schedule = param("cosine", "learning-rate schedule")


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
