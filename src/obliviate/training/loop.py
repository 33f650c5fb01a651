"""The shared, accelerate-aware training loop.

Original training, exact retrain and every fine-tuning-style method call :func:`fit` with their own
loss function; none writes its own loop. A loss function receives the model and a batch dict that
maps each stream name (e.g. ``"forget"``, ``"retain"``) to that stream's list of tensors. The first
stream defines an epoch; the others cycle (and reshuffle) as often as needed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field


import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ..config import OptimConfig
from ..errors import ConfigError, ObliviateError
from ..utils.progress import progress
from .checkpoint import active_session, set_rng_state
from .distributed import get_accelerator
from .loader_options import loader_options

Batch = dict[str, list[torch.Tensor]]
LossFn = Callable[[nn.Module, Batch], torch.Tensor]
Hook = Callable[[nn.Module], None]
Prepare = Callable[[nn.Module, torch.optim.Optimizer, DataLoader], tuple[nn.Module, torch.optim.Optimizer, DataLoader]]
BatchTransform = Callable[[torch.Tensor], torch.Tensor]

class TrainingDiverged(ObliviateError):
    """The loss became NaN or infinite."""


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
    """A seeded loader; worker processes and pinned memory as :func:`~.loader_options.loader_options` says
    (off on the CPU; the same batches in the same order either way)."""
    gen = torch.Generator()
    gen.manual_seed(seed)
    options = loader_options()
    # a dataset with its own ``collate`` (the LM's TokenDataset: unpadded sequences) pads each batch itself
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=gen, drop_last=False,
                      collate_fn=getattr(dataset, "collate", None), num_workers=options.workers,
                      pin_memory=options.pin_memory, persistent_workers=options.workers > 0)


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
    prepare: Prepare | None = None,
    transform: BatchTransform | None = None,
    desc: str = "train",
) -> FitStats:
    """Train ``model`` in place for ``epochs`` passes over the first stream.

    ``grad_hook`` runs after backward and before the optimiser step (e.g. to mask gradients);
    ``step_hook`` after each step (e.g. to re-apply a pruning mask); ``epoch_hook(model, epoch)``
    before each epoch (e.g. to update a regularisation weight). ``prepare(model, optimizer, loader)``
    replaces the three (the loader of the first stream) before accelerate prepares them, e.g. with
    opacus's DP-SGD wrappers (:mod:`obliviate.lm.dp`); the scheduler keeps driving the same optimiser.
    ``transform`` maps the first stream's inputs (its first tensor, on the device) before the loss, e.g.
    :class:`~obliviate.data.augment.RandomCropFlip`; its ``state_dict`` is checkpointed.
    Inside a :func:`~obliviate.training.checkpoint.checkpointing` session the call saves periodic
    checkpoints and resumes from the newest one (see that module).
    """
    if epochs < 0 or batch_size <= 0:
        raise ConfigError(f"epochs must be >= 0 and batch_size > 0, got epochs={epochs}, batch_size={batch_size}")
    if not streams:
        raise ConfigError("fit() needs at least one data stream")
    for name, ds in streams.items():
        if len(ds) == 0:
            raise ConfigError(f"data stream {name!r} is empty")
    accelerator = get_accelerator()
    if accelerator.num_processes > 1 and batch_size % accelerator.num_processes:
        raise ConfigError(f"{desc}: batch_size {batch_size} is the global batch and must be a multiple of the "
                          f"{accelerator.num_processes} processes")
    stateful = {"loss_fn": loss_fn, "grad_hook": grad_hook, "step_hook": step_hook, "epoch_hook": epoch_hook,
                "transform": transform}
    grad_hook, step_hook = _with_weight_masks(model, grad_hook, step_hook)
    names = list(streams)
    loaders = [make_loader(streams[n], batch_size, seed + i) for i, n in enumerate(names)]
    steps_per_epoch = len(loaders[0])
    total_steps = epochs * steps_per_epoch
    opt, sched = optim.build(model.parameters(), total_steps, steps_per_epoch)
    own_loader = None
    if prepare is not None:
        model, opt, own_loader = prepare(model, opt, loaders[0])
    # a loader from ``prepare`` (opacus: Poisson-sampled, variable batch sizes, which accelerate's
    # batch splitting would cut or drop) is not sharded by accelerate; its batches are only moved
    model, opt, *loaders = accelerator.prepare(model, opt, *(loaders[1:] if own_loader is not None else loaders))
    if own_loader is not None:
        loaders.insert(0, _DeviceLoader(own_loader, accelerator.device))
    others = [_cycle(ld) for ld in loaders[1:]]
    stats = FitStats()
    session = active_session()
    ckpt = session.next_call(desc, total_steps, stateful, checkpointable=prepare is None) if session else None
    resumed = ckpt.load(accelerator.unwrap_model(model), opt, sched) if ckpt is not None else None
    if resumed is not None:
        stats = FitStats(**resumed.stats)
        if resumed.done:  # finished before the interruption: its weights are loaded, skip the training
            set_rng_state(resumed.rng)
            model.eval()
            return stats
    start_step = resumed.step if resumed is not None else 0
    start = time.perf_counter() - stats.seconds
    model.train()
    bar = progress(total=total_steps, initial=start_step, desc=desc, unit="step",
                   disable=not accelerator.is_local_main_process)
    step = 0  # steps taken or replayed in this call
    pending_rng = [resumed.rng] if resumed is not None else []

    def at_resume_point() -> None:  # the data streams have replayed up to the checkpoint: restore the RNGs once
        if pending_rng and step == start_step:
            set_rng_state(pending_rng.pop())

    try:
        for epoch in range(epochs):
            if start_step - epoch * steps_per_epoch >= steps_per_epoch:  # finished before a resume: replay its data order
                for _ in loaders[0]:
                    for it in others:
                        next(it)
                step += steps_per_epoch
                continue
            at_resume_point()
            if epoch_hook is not None:
                epoch_hook(accelerator.unwrap_model(model), epoch)
            total, count = (resumed.epoch_total, resumed.epoch_count) if step < start_step else (0.0, 0)
            for main_batch in loaders[0]:
                batch: Batch = {names[0]: list(main_batch)}
                for name, it in zip(names[1:], others):
                    batch[name] = list(next(it))
                if step < start_step:  # fast-forward after a resume: nothing is computed
                    step += 1
                    continue
                at_resume_point()
                step += 1
                if transform is not None:
                    batch[names[0]][0] = transform(batch[names[0]][0])
                loss = loss_fn(model, batch)
                if not _all_finite(accelerator, loss):
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
                if stats.steps % steps_per_epoch == 0:
                    stats.epoch_losses.append(total / max(count, 1))
                if ckpt is not None and ckpt.due(stats.steps):
                    stats.seconds = time.perf_counter() - start
                    ckpt.save(stats.steps, accelerator.unwrap_model(model), opt, sched, stats.as_dict(), total, count)
    finally:
        bar.close()
    stats.final_loss = stats.epoch_losses[-1] if stats.epoch_losses else None
    stats.seconds = time.perf_counter() - start
    if ckpt is not None:
        ckpt.save(total_steps, accelerator.unwrap_model(model), opt, sched, stats.as_dict(), done=True)
    model.eval()
    return stats


class _DeviceLoader:
    """Iterate ``loader`` with every batch's tensors moved to ``device`` (a loader accelerate must not prepare)."""

    def __init__(self, loader: DataLoader, device: torch.device) -> None:
        self.loader, self.device = loader, device

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[list[torch.Tensor]]:
        for batch in self.loader:
            yield [t.to(self.device) for t in batch]


def _all_finite(accelerator, loss: torch.Tensor) -> bool:
    """Whether the loss is finite on every process (all of them must stop at the same step, or DDP hangs)."""
    finite = torch.isfinite(loss.detach()).float().reshape(1)
    if accelerator.num_processes > 1:
        finite = accelerator.reduce(finite, reduction="sum") / accelerator.num_processes
    return bool(finite.item() == 1.0)
