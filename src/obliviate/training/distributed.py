"""What a job needs to run under ``accelerate launch`` / ``torchrun`` (DDP, FSDP, DeepSpeed ZeRO-3).

- the process-wide ``accelerate.Accelerator`` (:func:`get_accelerator`; the training loop and the
  checkpoints both use it, so it lives below them);
- the device of this process (``cuda:<local rank>`` under a launcher, not every rank on ``cuda:0``);
- whether this process writes files (only the main one does; the others wait for it);
- the full state dict of a model trained by :func:`~obliviate.training.fit`: under FSDP or ZeRO-3
  each process holds a shard and accelerate gathers them (a collective: every process must call it).
"""

from __future__ import annotations

import torch
from torch import nn

SHARDED = ("FSDP", "DEEPSPEED")

_accelerator = None


def get_accelerator():
    """The process-wide ``accelerate.Accelerator`` (CUDA when present, else CPU; DDP / FSDP / DeepSpeed
    under ``accelerate launch`` or ``torchrun``; see docs/scale-out.md)."""
    global _accelerator
    if _accelerator is None:
        from accelerate import Accelerator, DataLoaderConfiguration

        # split_batches: a config's batch_size is the global batch, cut across the processes, so a
        # method means the same thing on 1 or N devices (and N processes match one process's run)
        _accelerator = Accelerator(cpu=not torch.cuda.is_available(),
                                   dataloader_config=DataLoaderConfiguration(split_batches=True))
    return _accelerator


def process_device() -> torch.device:
    """This process's device: the accelerator's (CUDA of the local rank when present, else CPU)."""
    return get_accelerator().device


def is_main_process() -> bool:
    return get_accelerator().is_main_process


def num_processes() -> int:
    return get_accelerator().num_processes


def wait_for_everyone() -> None:
    get_accelerator().wait_for_everyone()


def is_sharded() -> bool:
    """Whether parameters are sharded across processes (FSDP or DeepSpeed)."""
    return get_accelerator().distributed_type.value in SHARDED


def full_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """``model``'s complete state dict; under FSDP / DeepSpeed gathered from the prepared wrapper of
    ``model`` (every process must call this; the main process gets the full tensors)."""
    accelerator = get_accelerator()
    if is_sharded():
        for wrapped in accelerator._models:  # the wrappers fit() prepared
            if accelerator.unwrap_model(wrapped) is model:
                return accelerator.get_state_dict(wrapped)
    return model.state_dict()
