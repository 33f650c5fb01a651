"""Per-sample gradients and flat-parameter helpers for the one-shot (non-training) methods.

Influence unlearning (IU) and Fisher forgetting (FF) need the gradient of every sample's loss, not
the batch mean. They are computed with ``torch.func`` (``functional_call`` + ``vmap`` + ``grad``),
one vectorised chunk of ``batch_size`` samples at a time, always in eval mode so that BatchNorm
uses its running statistics and samples stay independent.

Every gradient is returned *flat*: one vector over the model's trainable parameters, concatenated in
``named_parameters()`` order (:func:`trainable_params`). A pruned model's ``weight_masks`` (see
:func:`obliviate.training.fit`) zero the pruned entries of every gradient and update, so pruned
weights stay exactly zero.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, vmap

from ...data.images import ImageDataset
from ...errors import ConfigError
from ...training.predict import eval_mode
from ...utils.progress import progress

#: ``sample_loss(logits (C,), target ()) -> scalar``: the loss of one sample.
SampleLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def sample_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of one sample (``logits`` of shape (C,), ``target`` a 0-d class index)."""
    return F.cross_entropy(logits.unsqueeze(0), target.unsqueeze(0))


def trainable_params(model: nn.Module) -> dict[str, nn.Parameter]:
    """The parameters gradients are taken for, in the order every flat vector uses."""
    return {name: p for name, p in model.named_parameters() if p.requires_grad}


def num_params(model: nn.Module) -> int:
    return sum(p.numel() for p in trainable_params(model).values())


def flatten(tensors: dict[str, torch.Tensor]) -> torch.Tensor:
    """Concatenate tensors (in dict order) into one flat vector."""
    return torch.cat([t.reshape(-1) for t in tensors.values()])


def unflatten_like(flat: torch.Tensor, like: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Split a flat vector back into tensors shaped like ``like`` (views of ``flat``)."""
    total = sum(t.numel() for t in like.values())
    if flat.numel() != total:
        raise ValueError(f"flat vector has {flat.numel()} entries, the parameters {total}")
    out, start = {}, 0
    for name, t in like.items():
        out[name] = flat[start : start + t.numel()].view_as(t)
        start += t.numel()
    return out


def flat_weight_mask(model: nn.Module) -> torch.Tensor | None:
    """The model's pruning mask (``model.weight_masks``) as a flat float vector, or None if unpruned."""
    masks: dict[str, torch.Tensor] | None = getattr(model, "weight_masks", None)
    if not masks:
        return None
    params = trainable_params(model)
    unknown = sorted(set(masks) - set(params))
    if unknown:
        raise ConfigError(f"weight_masks name parameters the model does not have: {unknown[:5]}")
    return flatten(
        {n: (masks[n].to(p.device, p.dtype) if n in masks else torch.ones_like(p)) for n, p in params.items()}
    ).detach()


@torch.no_grad()
def add_to_params(model: nn.Module, delta: torch.Tensor) -> None:
    """``theta += delta`` for a flat ``delta``; pruned entries (``weight_masks``) stay zero."""
    mask = flat_weight_mask(model)
    if mask is not None:
        delta = delta * mask
    for p, d in zip(trainable_params(model).values(), unflatten_like(delta, trainable_params(model)).values()):
        p.add_(d.to(p.dtype))


def _functional(model: nn.Module) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    params = {n: p.detach() for n, p in trainable_params(model).items()}
    buffers = {n: b.detach() for n, b in model.named_buffers()}
    return params, buffers


def per_sample_grads(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, sample_loss: SampleLoss = sample_cross_entropy
) -> torch.Tensor:
    """Flat gradients ``(B, P)`` of ``sample_loss(model(x_i), y_i)`` for every row of one chunk, in one
    vectorised call. The model should be in eval mode (see :func:`eval_mode`)."""
    params, buffers = _functional(model)

    def loss_one(p: dict[str, torch.Tensor], xi: torch.Tensor, yi: torch.Tensor) -> torch.Tensor:
        return sample_loss(functional_call(model, (p, buffers), (xi.unsqueeze(0),))[0], yi)

    grads = vmap(grad(loss_one), in_dims=(None, 0, 0))(params, x, y)
    return torch.cat([g.reshape(len(x), -1) for g in grads.values()], dim=1)


def iter_per_sample_grads(
    model: nn.Module,
    data: ImageDataset,
    *,
    batch_size: int,
    sample_loss: SampleLoss = sample_cross_entropy,
    desc: str = "per-sample grads",
) -> Iterator[torch.Tensor]:
    """Yield flat per-sample gradients ``(b, P)`` chunk by chunk over ``data`` (in order), in eval
    mode, pruned entries zeroed; peak memory is one chunk, ``batch_size * P`` floats."""
    if data.y is None:
        raise ConfigError(f"{desc}: per-sample gradients of the loss need labels")
    device = next(model.parameters()).device
    mask = flat_weight_mask(model)
    with eval_mode(model):
        bar = progress(total=len(data), desc=desc, unit="sample")
        try:
            for start in range(0, len(data), batch_size):
                x = data.x[start : start + batch_size].to(device)
                y = data.y[start : start + batch_size].to(device)
                g = per_sample_grads(model, x, y, sample_loss)
                bar.update(len(x))
                yield g if mask is None else g * mask
        finally:
            bar.close()


def mean_loss_grad(model: nn.Module, data: ImageDataset, *, batch_size: int, desc: str = "mean grad") -> torch.Tensor:
    """Flat gradient of the mean cross-entropy over all of ``data`` (batched ordinary autograd, eval
    mode; batching only bounds memory). Pruned entries are zero."""
    if data.y is None:
        raise ConfigError(f"{desc}: the gradient of the loss needs labels")
    if len(data) == 0:
        raise ConfigError(f"{desc}: the data set is empty")
    params = trainable_params(model)
    device = next(iter(params.values())).device
    total = torch.zeros(sum(p.numel() for p in params.values()), device=device)
    with eval_mode(model):
        for start in progress(range(0, len(data), batch_size), desc=desc, unit="batch"):
            x = data.x[start : start + batch_size].to(device)
            y = data.y[start : start + batch_size].to(device)
            loss = F.cross_entropy(model(x), y, reduction="sum") / len(data)
            total += torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, list(params.values()))])
    mask = flat_weight_mask(model)
    return total if mask is None else total * mask


def seeded_subset(data: ImageDataset, max_samples: int | None, seed: int) -> ImageDataset:
    """``data`` itself when it has at most ``max_samples`` rows (or no cap), else a uniformly random
    subset of ``max_samples`` rows drawn with ``seed``, kept in the data set's order."""
    if max_samples is None or len(data) <= max_samples:
        return data
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(data), generator=gen)[:max_samples].sort().values
    return data.subset(idx)
