"""SalUn: saliency-based unlearning. Random-label unlearning that only moves the salient weights.

A weight saliency mask is computed once at theta_o from the gradient of the forget loss; RL
(random labels on D_f plus CE on D_r) then updates only the weights inside the mask. Every other
parameter entry stays exactly at theta_o: its gradient is zeroed before each step and, because
weight decay and momentum act inside ``optimizer.step``, it is also restored from a snapshot of
theta_o after each step. BatchNorm running statistics are buffers, not weights: as in the reference
code they keep updating during the RL epochs (the mask covers parameters only).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ...data.images import ImageDataset
from ...errors import ConfigError
from ...tasks import UnlearnData
from ...training.loop import Hook
from ..base import Method, TrainingConfig, param, register_method
from .random_label import random_label_fit

Masks = dict[str, torch.Tensor]


@dataclass
class SalUnConfig(TrainingConfig):
    epochs: int = param(10, "RL epochs over forget (random labels) + retain (Fan et al. 2024 README, CIFAR-10: 10)")
    lr: float = param(0.013, "learning rate (Fan et al. 2024 README, ResNet-18 on CIFAR-10, 10% random forgetting: 0.013)")
    mask_ratio: float = param(
        0.5,
        "fraction of parameter entries the mask lets move: the top |grad| of the forget loss, one global "
        "threshold over all parameters (Fan et al. 2024: 0.5; the reference code offers 0.1..1.0)",
        gt=0, le=1,
    )


@torch.no_grad()
def _zeros_like_params(params: dict[str, nn.Parameter]) -> dict[str, torch.Tensor]:
    return {name: torch.zeros_like(p) for name, p in params.items()}


def forget_gradient(model: nn.Module, forget: ImageDataset, *, batch_size: int = 256) -> dict[str, torch.Tensor]:
    """Gradient at the current weights of the forget loss ``-mean CE(model(x), y)`` over all of
    ``forget`` (the reference code's sign; SalUn only uses its magnitude), in eval mode as the
    reference code does. Batching only bounds memory: the result is the full-set mean gradient.
    Parameter ``.grad`` fields and the train/eval mode are left as they were."""
    if forget.y is None:
        raise ConfigError("SalUn's saliency mask needs the forget set's labels")
    if len(forget) == 0:
        raise ConfigError("SalUn needs a non-empty forget set")
    params = {name: p for name, p in model.named_parameters() if p.requires_grad}
    grads = _zeros_like_params(params)
    device = next(iter(params.values())).device
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(forget), batch_size):
            x = forget.x[start : start + batch_size].to(device)
            y = forget.y[start : start + batch_size].to(device)
            loss = -F.cross_entropy(model(x), y, reduction="sum") / len(forget)
            for g, part in zip(grads.values(), torch.autograd.grad(loss, list(params.values()))):
                g.add_(part)
    finally:
        model.train(was_training)
    return grads


def saliency_mask(model: nn.Module, forget: ImageDataset, ratio: float, *, batch_size: int = 256) -> Masks:
    """SalUn's hard mask ``{param name: bool tensor}``: True for the ``floor(ratio * N)`` entries with
    the largest ``|gradient of the forget loss|`` among all N parameter entries (one global threshold;
    weights, biases and BatchNorm affine parameters alike, as in the reference ``generate_mask.py``).
    Ties are broken by parameter order, so the mask is deterministic."""
    if not 0 < ratio <= 1:
        raise ConfigError(f"mask ratio must be in (0, 1], got {ratio}")
    grads = forget_gradient(model, forget, batch_size=batch_size)
    flat = torch.cat([g.abs().flatten() for g in grads.values()])
    k = int(flat.numel() * ratio)
    order = torch.sort(flat, descending=True, stable=True).indices
    keep = torch.zeros(flat.numel(), dtype=torch.bool, device=flat.device)
    keep[order[:k]] = True
    masks: Masks = {}
    start = 0
    for name, g in grads.items():
        masks[name] = keep[start : start + g.numel()].view_as(g)
        start += g.numel()
    return masks


def masked_update_hooks(model: nn.Module, masks: Masks) -> tuple[Hook, Hook]:
    """``(grad_hook, step_hook)`` for :func:`~obliviate.training.fit` that confine training to
    ``masks``: masked-out gradients are zeroed, and after every step masked-out entries are reset to
    their current values (snapshotted now), so momentum and weight decay cannot move them either."""
    unknown = sorted(set(masks) - {name for name, _ in model.named_parameters()})
    if unknown:
        raise ConfigError(f"masks name parameters the model does not have: {unknown[:5]}")
    with torch.no_grad():
        snapshot = {name: p.detach().clone() for name, p in model.named_parameters() if name in masks}
    on_device: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def mask_and_origin(name: str, p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # the loop may move the model to an accelerator after the snapshot: follow it once
        cached = on_device.get(name)
        if cached is None or cached[0].device != p.device:
            cached = (masks[name].to(p.device), snapshot[name].to(p.device))
            on_device[name] = cached
        return cached

    @torch.no_grad()
    def grad_hook(m: nn.Module) -> None:
        for name, p in m.named_parameters():
            if name in masks and p.grad is not None:
                p.grad.mul_(mask_and_origin(name, p)[0].to(p.grad.dtype))

    @torch.no_grad()
    def step_hook(m: nn.Module) -> None:
        for name, p in m.named_parameters():
            if name in masks:
                mask, origin = mask_and_origin(name, p)
                p.copy_(torch.where(mask, p, origin))

    return grad_hook, step_hook


@register_method
class SalUn(Method):
    name = "salun"
    paper = "SalUn: Empowering Machine Unlearning via Gradient-based Weight Saliency (Fan et al., ICLR 2024)"
    summary = "random-label unlearning restricted to the weights most salient for the forget loss"
    Config = SalUnConfig

    def run(self, model: nn.Module, data: UnlearnData, config: SalUnConfig, *, seed: int) -> nn.Module:
        masks = saliency_mask(model, data.forget, config.mask_ratio, batch_size=config.batch_size)
        grad_hook, step_hook = masked_update_hooks(model, masks)
        random_label_fit(model, data, config, seed=seed, grad_hook=grad_hook, step_hook=step_hook, desc="salun")
        return model
