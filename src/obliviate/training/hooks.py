"""``fit`` hooks shared by several trainers."""

from __future__ import annotations

import torch
from torch import nn

from .loop import Hook, get_accelerator


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
