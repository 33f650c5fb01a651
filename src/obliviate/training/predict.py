"""Batched inference helpers shared by metrics and methods."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from ..utils.progress import progress


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode (dropout off, BatchNorm statistics frozen) inside; the previous mode restored after."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


@torch.inference_mode()
def predict_logits(model: nn.Module, x: torch.Tensor, batch_size: int = 1024, desc: str = "predict") -> torch.Tensor:
    """Logits for every row of ``x`` in eval mode; the model's train/eval mode is restored after."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    chunks = []
    for start in progress(range(0, len(x), batch_size), desc=desc, unit="batch"):
        chunks.append(model(x[start : start + batch_size].to(device)).float().cpu())
    model.train(was_training)
    if not chunks:
        return torch.empty(0)
    return torch.cat(chunks)


def predict_probs(model: nn.Module, x: torch.Tensor, batch_size: int = 1024, desc: str = "predict") -> np.ndarray:
    """Softmax probabilities as a float64 numpy array (N, C)."""
    return torch.softmax(predict_logits(model, x, batch_size, desc).double(), dim=1).numpy()
