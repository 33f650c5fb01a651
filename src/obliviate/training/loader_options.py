"""Data-loader worker processes and pinned memory for the training loop.

On the CPU the defaults are what they always were (no workers, no pinning): the tensors are in memory
and a worker process only adds copies. On CUDA, pinned host memory makes the host-to-device copies
asynchronous and cheap, so it is on by default; workers stay 0 unless asked for, since in-memory tensor
datasets gain nothing from them (benchmarks/vision_pipeline.py measures it). ``OBLIVIATE_LOADER_WORKERS``
and ``OBLIVIATE_PIN_MEMORY`` (0/1) set them per process, :func:`set_loader_options` (the CLI's
``--loader-workers`` / ``--pin-memory``) for a run. Neither changes the batches or their order: the
sampler's seeded generator decides the order in the main process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..errors import ConfigError


@dataclass(frozen=True)
class LoaderOptions:
    workers: int = 0
    pin_memory: bool = False

    def __post_init__(self) -> None:
        if self.workers < 0:
            raise ConfigError(f"loader workers must be >= 0, got {self.workers}")


_override: LoaderOptions | None = None


def _env_int(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"${name} must be an integer, got {value!r}") from None


def set_loader_options(workers: int | None = None, pin_memory: bool | None = None) -> None:
    """Set the loader options for this process (None: keep the environment's / device's default)."""
    global _override
    base = loader_options()
    _override = LoaderOptions(base.workers if workers is None else int(workers),
                              base.pin_memory if pin_memory is None else bool(pin_memory))


def reset_loader_options() -> None:
    global _override
    _override = None


def loader_options() -> LoaderOptions:
    """The options in force: :func:`set_loader_options`, else the environment, else 0 workers and
    pinned memory exactly when CUDA is available."""
    if _override is not None:
        return _override
    import torch

    workers = _env_int("OBLIVIATE_LOADER_WORKERS")
    pin = _env_int("OBLIVIATE_PIN_MEMORY")
    return LoaderOptions(workers if workers is not None else 0,
                         bool(pin) if pin is not None else torch.cuda.is_available())
