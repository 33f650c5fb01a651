"""Loss functions shared by classifier methods and original training.

Each factory returns a ``loss_fn(model, batch)`` for :func:`obliviate.training.fit`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...training.loop import Batch, LossFn


def cross_entropy(stream: str, sign: float = 1.0) -> LossFn:
    """Mean CE on ``stream``'s (x, y); ``sign=-1`` gives gradient ascent."""

    def loss_fn(model: nn.Module, batch: Batch) -> torch.Tensor:
        x, y = batch[stream]
        return sign * F.cross_entropy(model(x), y)

    return loss_fn
