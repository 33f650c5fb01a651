"""The shared, accelerate-aware training loop.

Original training, exact retrain and every fine-tuning-style method call :func:`fit` with their own
loss function; none writes its own loop. A loss function receives the model and a batch dict that
maps each stream name (e.g. ``"forget"``, ``"retain"``) to that stream's list of tensors. The first
stream defines an epoch; the others cycle (and reshuffle) as often as needed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Literal

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ..errors import ConfigError, ObliviateError
from ..utils.progress import progress

Batch = dict[str, list[torch.Tensor]]
LossFn = Callable[[nn.Module, Batch], torch.Tensor]
Hook = Callable[[nn.Module], None]

_accelerator = None


def get_accelerator():
    """The process-wide ``accelerate.Accelerator`` (CUDA when present, else CPU; DDP under a launcher)."""
    global _accelerator
    if _accelerator is None:
        from accelerate import Accelerator

        _accelerator = Accelerator(cpu=not torch.cuda.is_available())
    return _accelerator


class TrainingDiverged(ObliviateError):
    """The loss became NaN or infinite."""


@dataclass
class OptimConfig:
    """Optimiser and schedule. Defaults follow the unlearning papers' SGD recipe."""

    optimizer: Literal["sgd", "adam"] = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: Literal["constant", "cosine"] = "constant"

    def validate(self) -> None:
        problems = []
        if self.optimizer not in ("sgd", "adam"):
            problems.append(f"optimizer must be 'sgd' or 'adam', got {self.optimizer!r}")
        if not self.lr > 0 or not math.isfinite(self.lr):
            problems.append(f"lr must be a positive number, got {self.lr}")
        if not 0 <= self.momentum < 1:
            problems.append(f"momentum must be in [0, 1), got {self.momentum}")
        if self.weight_decay < 0:
            problems.append(f"weight_decay must be >= 0, got {self.weight_decay}")
        if self.schedule not in ("constant", "cosine"):
            problems.append(f"schedule must be 'constant' or 'cosine', got {self.schedule!r}")
        if problems:
            raise ConfigError("; ".join(problems))

    def build(self, params, total_steps: int) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
        self.validate()
        params = [p for p in params if p.requires_grad]
        if self.optimizer == "sgd":
            opt: torch.optim.Optimizer = torch.optim.SGD(
                params, lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay
            )
        else:
            opt = torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)
        if self.schedule == "cosine":
            sched: torch.optim.lr_scheduler.LRScheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
                opt, T_max=max(total_steps, 1)
            )
        else:
            sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
        return opt, sched


@dataclass
class FitStats:
    steps: int = 0
    seconds: float = 0.0
    final_loss: float | None = None
    epoch_losses: list[float] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def _with_weight_masks(model: nn.Module, grad_hook: Hook | None, step_hook: Hook | None) -> tuple[Hook | None, Hook | None]:
    """Keep a pruned model pruned: if ``model.weight_masks`` ({param name: bool tensor}) is set,
    masked-out weights start at zero, get zero gradient and are re-zeroed after every step
    (weight decay or momentum cannot revive them)."""
    masks: dict[str, torch.Tensor] | None = getattr(model, "weight_masks", None)
    if not masks:
        return grad_hook, step_hook
    params = dict(model.named_parameters())
    unknown = sorted(set(masks) - set(params))
    if unknown:
        raise ConfigError(f"weight_masks name parameters the model does not have: {unknown[:5]}")

    @torch.no_grad()
    def zero_weights(m: nn.Module) -> None:
        for name, mask in masks.items():
            params[name].mul_(mask.to(device=params[name].device, dtype=params[name].dtype))
        if step_hook is not None:
            step_hook(m)

    @torch.no_grad()
    def zero_grads(m: nn.Module) -> None:
        for name, mask in masks.items():
            if params[name].grad is not None:
                params[name].grad.mul_(mask.to(device=params[name].grad.device, dtype=params[name].grad.dtype))
        if grad_hook is not None:
            grad_hook(m)

    with torch.no_grad():
        for name, mask in masks.items():
            params[name].mul_(mask.to(params[name].dtype))
    return zero_grads, zero_weights


def make_loader(dataset: Dataset, batch_size: int, seed: int, shuffle: bool = True) -> DataLoader:
    gen = torch.Generator()
    gen.manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=gen, drop_last=False)


def _cycle(loader: DataLoader) -> Iterator:
    while True:
        yield from loader


def fit(
    model: nn.Module,
    loss_fn: LossFn,
    streams: Mapping[str, Dataset],
    *,
    epochs: int,
    batch_size: int,
    optim: OptimConfig,
    seed: int = 0,
    grad_hook: Hook | None = None,
    step_hook: Hook | None = None,
    epoch_hook: Callable[[nn.Module, int], None] | None = None,
    desc: str = "train",
) -> FitStats:
    """Train ``model`` in place for ``epochs`` passes over the first stream.

    ``grad_hook`` runs after backward and before the optimiser step (e.g. to mask gradients);
    ``step_hook`` after each step (e.g. to re-apply a pruning mask); ``epoch_hook(model, epoch)``
    before each epoch (e.g. to update a regularisation weight).
    """
    if epochs < 0 or batch_size <= 0:
        raise ConfigError(f"epochs must be >= 0 and batch_size > 0, got epochs={epochs}, batch_size={batch_size}")
    if not streams:
        raise ConfigError("fit() needs at least one data stream")
    for name, ds in streams.items():
        if len(ds) == 0:
            raise ConfigError(f"data stream {name!r} is empty")
    accelerator = get_accelerator()
    grad_hook, step_hook = _with_weight_masks(model, grad_hook, step_hook)
    names = list(streams)
    loaders = [make_loader(streams[n], batch_size, seed + i) for i, n in enumerate(names)]
    steps_per_epoch = len(loaders[0])
    opt, sched = optim.build(model.parameters(), epochs * steps_per_epoch)
    model, opt, *loaders = accelerator.prepare(model, opt, *loaders)
    others = [_cycle(ld) for ld in loaders[1:]]
    stats = FitStats()
    start = time.perf_counter()
    model.train()
    bar = progress(total=epochs * steps_per_epoch, desc=desc, unit="step")
    try:
        for epoch in range(epochs):
            if epoch_hook is not None:
                epoch_hook(accelerator.unwrap_model(model), epoch)
            total, count = 0.0, 0
            for main_batch in loaders[0]:
                batch: Batch = {names[0]: list(main_batch)}
                for name, it in zip(names[1:], others):
                    batch[name] = list(next(it))
                loss = loss_fn(model, batch)
                if not torch.isfinite(loss):
                    raise TrainingDiverged(
                        f"{desc}: the loss became {loss.item()} at epoch {epoch + 1}, step {stats.steps + 1}; "
                        "lower the learning rate or the number of epochs"
                    )
                opt.zero_grad(set_to_none=True)
                accelerator.backward(loss)
                if grad_hook is not None:
                    grad_hook(accelerator.unwrap_model(model))
                opt.step()
                sched.step()
                if step_hook is not None:
                    step_hook(accelerator.unwrap_model(model))
                value = float(loss.detach())
                total, count = total + value, count + 1
                stats.steps += 1
                bar.update(1)
                if stats.steps % 10 == 0:
                    bar.set_postfix(epoch=epoch + 1, loss=f"{value:.4f}", refresh=False)
            stats.epoch_losses.append(total / max(count, 1))
    finally:
        bar.close()
    stats.final_loss = stats.epoch_losses[-1] if stats.epoch_losses else None
    stats.seconds = time.perf_counter() - start
    model.eval()
    return stats
