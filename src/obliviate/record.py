"""The unlearning record (``record.json``): what was unlearned, from which weights, how, and what came out.

Every model directory written by ``obliviate unlearn`` carries one: SHA-256 hashes of the original
weights, of the forget set and of the unlearned weights, the method and its full config, the seed,
versions, timings, and (with ``--eval`` / ``--reference``) the metrics before, after and of the
exact-retrain reference with the gaps to it. It is a record, not a certificate: approximate
unlearning promises nothing formal (DP2's epsilon, when present, is the one formal statement).

The model and its record appear together: both are written into a temporary directory that is
renamed to the output only when complete, so an interrupted job never leaves a model without its
record, or a record beside half-written weights.

Also what both unlearning APIs (:mod:`obliviate.api` for classifiers, :mod:`obliviate.lm.unlearn`
for LMs) share: their result (:class:`UnlearnResult`), the weight hashes and the output check.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .utils.io import atomic_dir, atomic_write_json
from .utils.outputs import check_output
from .version import __version__

if TYPE_CHECKING:
    import torch
    from torch import nn

RECORD_FILE = "record.json"
RECORD_KIND = "obliviate unlearning record (empirical; approximate unlearning promises nothing formal)"


@dataclass
class UnlearnResult:
    """What ``unlearn`` / ``unlearn_lm`` return: the unlearned model, the method, its full config, the
    seed, the unlearning seconds and family-specific extras (the LM's LoRA spec)."""

    model: nn.Module
    method: str
    params: dict[str, Any]
    seed: int
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)


def weights_hash(model: nn.Module) -> str:
    """SHA-256 over the state dict (names, shapes and bytes, in order)."""
    return tensors_hash(model.state_dict())


def tensors_hash(tensors: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 over named tensors (names, shapes and bytes, in order)."""
    import torch

    h = hashlib.sha256()
    for name, tensor in tensors.items():
        t = tensor.detach().cpu().contiguous()
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def check_unlearn_outputs(out: str | Path, inputs: list[Any], *, overwrite: bool, checkpoints: bool) -> None:
    """Refuse, before any work, an ``unlearn`` output (and its ``<out>.checkpoints`` when checkpointing)
    that :func:`obliviate.utils.outputs.check_output` does not allow."""
    from .training.checkpoint import checkpoint_dir_for

    check_output(out, "unlearn", inputs=inputs, overwrite=overwrite)
    if checkpoints:
        check_output(checkpoint_dir_for(out), "checkpoints", inputs=inputs, overwrite=overwrite,
                     flag="checkpoint directory")


def new_record(family: str, method: str, params: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """The fields every record starts with (tool, versions, method, config, seed)."""
    from .utils.env import environment, git_commit

    return {
        "kind": RECORD_KIND,
        "tool": {"name": "obliviate", "version": __version__, "git_commit": git_commit()},
        "family": family,
        "method": method,
        "params": dict(params),
        "seed": seed,
        "environment": environment(),
    }


def add_evaluation(record: dict[str, Any], before: Mapping[str, Any] | None, after: Mapping[str, Any] | None,
                   retrain: Mapping[str, Any] | None = None, gap: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Store metrics before / after unlearning and of the retrain reference, with the gaps to it
    (``gap``, else |after - retrain| for every numeric metric both have)."""
    if before is not None:
        record["metrics_before"] = dict(before)
    if after is not None:
        record["metrics"] = dict(after)
    if retrain is not None:
        record["metrics_retrain"] = dict(retrain)
        if gap is not None:
            record["gap_to_retrain"] = dict(gap)
        elif after is not None:
            record["gap_to_retrain"] = {
                k: abs(float(after[k]) - float(v)) for k, v in retrain.items()
                if isinstance(v, (int, float)) and isinstance(after.get(k), (int, float))
            }
    return record


def save_with_record(out: str | Path, save: Callable[[Path], Any], record: dict[str, Any]) -> Path:
    """Write the model (``save(directory)``) and ``record`` (plus the save time) to ``out``, atomically
    together: a temporary directory renamed over ``out`` once both are complete."""
    with atomic_dir(out) as tmp:
        start = time.perf_counter()
        save(tmp)
        record.setdefault("timings", {})["save"] = time.perf_counter() - start
        atomic_write_json(tmp / RECORD_FILE, record)
    return Path(out)
