"""Resumable training: periodic, atomic checkpoints of the shared loop and resume after a crash or SIGKILL.

A job opens a :func:`checkpointing` session around its method run; every :func:`~obliviate.training.fit`
call inside the session (a method may call ``fit`` several times) gets an index and, when the
session is active, saves

- a *mid-run* checkpoint every ``every`` optimiser steps: model, optimiser, scheduler, RNG states
  (torch, CUDA, numpy, Python), the step, the running epoch loss and the state of any hook or loss
  object that has ``state_dict`` / ``load_state_dict``; only the newest one of a call is kept;
- a *done* checkpoint when the call finishes: model, RNG and the call's statistics, so a rerun skips
  the finished call instead of training it again (kept until the job succeeds).

A rerun of the same job (same fingerprint ``job``) resumes each call from its newest complete
checkpoint: the data streams are fast-forwarded to the saved step without any forward or backward
pass (their shuffling generators replay exactly), then the RNG states are restored, so on a CPU the
result is bit-identical to an uninterrupted run. Each checkpoint is a directory written with
:func:`~obliviate.utils.io.atomic_dir` whose ``meta.json`` says ``"complete": true``: a checkpoint
is either complete or absent. Tensors are stored as safetensors and the optimiser state with
``torch.save``, read back with ``torch.load(weights_only=True)`` (nothing is unpickled).

Limits: a hook or loss *object* without ``state_dict`` (e.g. LAF's alignment step, which owns its
own optimiser) and a ``prepare``-wrapped loop (opacus DP-SGD, whose privacy accountant is not
saved) are not checkpointed: those calls rerun from their start. Under FSDP or DeepSpeed the
checkpoints would need sharded state: refused with a clear error (use DDP or no checkpoints).
Only the main process writes; every process reads (multi-node jobs need a shared filesystem).
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import random
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ..errors import ConfigError, ObliviateError
from ..utils.io import atomic_dir, atomic_write_json, clean_stale_temps, remove_path
from ..utils.outputs import MARKER, check_output, prepare_dir

log = logging.getLogger("obliviate.checkpoint")

FORMAT = 1
JOB_FILE = "job.json"
MODEL_FILE = "model.safetensors"
STATE_FILE = "state.pt"
META_FILE = "meta.json"

_session: "CheckpointSession | None" = None


def checkpoint_dir_for(out: str | Path) -> Path:
    """Where the checkpoints of a job writing ``out`` live: ``<out>.checkpoints`` beside it."""
    out = Path(out)
    return out.with_name(out.name + ".checkpoints")


class CheckpointSession:
    """The checkpoints of one job: a directory, a step interval and the job's fingerprint."""

    def __init__(self, root: Path, every: int, job: Mapping[str, Any], is_main: bool, overwrite: bool = False) -> None:
        self.root, self.every, self.job, self.is_main = Path(root), every, json.loads(json.dumps(job, default=str)), is_main
        self.calls = 0
        if not self.is_main:  # only the main process writes (and checks: the others could see its writes)
            return
        output = check_output(self.root, "checkpoints", overwrite=overwrite, flag="checkpoint directory")
        prepare_dir(output)  # marks it ours; --overwrite removed foreign content; stale temporaries go
        if (self.root / JOB_FILE).is_file():
            try:
                stored = json.loads((self.root / JOB_FILE).read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                stored = None
            if stored != {"format": FORMAT, "job": self.job}:
                log.warning("checkpoints in %s belong to another job: starting over", self.root)
                self._remove_ours()
        if not (self.root / JOB_FILE).is_file():
            atomic_write_json(self.root / JOB_FILE, {"format": FORMAT, "job": self.job})

    def _remove_ours(self) -> None:
        """Remove the checkpoints and the job file (anything else in the directory is left alone)."""
        for path in [self.root / JOB_FILE, *self.root.glob("fit-*")]:
            remove_path(path)
        clean_stale_temps(self.root)

    def next_call(self, desc: str, total_steps: int, stateful: Mapping[str, Any],
                  checkpointable: bool = True) -> "FitCheckpoints | None":
        """The checkpoints of the next ``fit`` call, or None when that call cannot be checkpointed
        (``checkpointable`` False, or a stateful hook / loss object without ``state_dict``)."""
        index = self.calls
        self.calls += 1
        if not checkpointable:
            log.info("fit call %d (%s) is not checkpointed: its prepare() wrappers keep state", index, desc)
            return None
        objects = {name: obj for name, obj in stateful.items() if obj is not None and not _is_plain_function(obj)}
        opaque = [name for name, obj in objects.items() if not _has_state(obj)]
        if opaque:
            log.info("fit call %d (%s) is not checkpointed: %s keep state obliviate cannot save", index, desc,
                     ", ".join(opaque))
            return None
        return FitCheckpoints(self, index, desc, total_steps, objects)

    def clear(self) -> None:
        """Delete every checkpoint (after the job's results are safely written): what this job wrote,
        then the directory itself when nothing else is left in it."""
        if not self.is_main:
            return
        self._remove_ours()
        if {p.name for p in self.root.iterdir()} <= {MARKER}:
            remove_path(self.root)
        else:
            log.info("kept %s: it holds files obliviate did not write", self.root)


def _is_plain_function(obj: Any) -> bool:
    return inspect.isfunction(obj) or inspect.ismethod(obj) or inspect.isbuiltin(obj)


def _has_state(obj: Any) -> bool:
    return callable(getattr(obj, "state_dict", None)) and callable(getattr(obj, "load_state_dict", None))


@contextlib.contextmanager
def checkpointing(root: str | Path | None, every: int | None, job: Mapping[str, Any],
                  overwrite: bool = False) -> Iterator["CheckpointSession | None"]:
    """Checkpoint every ``fit`` call inside the block into ``root`` every ``every`` steps (None: off).

    The checkpoints are deleted when the block raises an :class:`~obliviate.errors.ObliviateError`
    (bad input or divergence: resuming would not help) and kept on any other exception or a kill, so
    that rerunning the same job resumes. The caller calls ``session.clear()`` once its results are written.
    """
    global _session
    if every is None or root is None:
        yield None
        return
    if not isinstance(every, int) or every <= 0:
        raise ConfigError(f"--checkpoint-every must be a positive number of steps, got {every!r}")
    if _session is not None:
        raise ConfigError("checkpointing sessions cannot be nested")
    from .distributed import get_accelerator

    accelerator = get_accelerator()
    if accelerator.distributed_type.value in ("FSDP", "DEEPSPEED"):
        raise ConfigError(f"--checkpoint-every is not supported under {accelerator.distributed_type.value} "
                          "(sharded state); use DDP or run without checkpoints")
    session = CheckpointSession(Path(root), every, job, accelerator.is_main_process, overwrite)
    _session = session
    try:
        yield session
    except ObliviateError:
        session.clear()
        raise
    finally:
        _session = None


def active_session() -> CheckpointSession | None:
    return _session


# ----------------------------------------------------------------------------------------------- RNG


def rng_state() -> dict[str, Any]:
    """The global RNG states (torch, CUDA, numpy, Python) in a ``weights_only``-loadable form."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "gauss": float(gauss)},
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# -------------------------------------------------------------------------------------- per fit call


@dataclass
class Resumed:
    """A loaded checkpoint of one fit call."""

    step: int
    done: bool
    stats: dict[str, Any]
    epoch_total: float
    epoch_count: int
    rng: dict[str, Any]


class FitCheckpoints:
    """Checkpoints of fit call number ``index``: ``<root>/fit-<index>-<step>/``."""

    def __init__(self, session: CheckpointSession, index: int, desc: str, total_steps: int,
                 objects: Mapping[str, Any]) -> None:
        self.session, self.index, self.desc, self.total_steps, self.objects = session, index, desc, total_steps, objects

    @property
    def every(self) -> int:
        return self.session.every

    def _dirs(self) -> list[Path]:
        """This call's complete checkpoints, oldest first."""
        found = []
        for path in self.session.root.glob(f"fit-{self.index:03d}-*"):
            meta = _read_meta(path)
            if meta is not None:
                found.append((meta["step"], path))
        return [path for _, path in sorted(found)]

    def load(self, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any) -> Resumed | None:
        """Load the newest complete checkpoint into the model, optimiser, scheduler and hook objects."""
        dirs = self._dirs()
        if not dirs:
            return None
        path = dirs[-1]
        meta = _read_meta(path)
        if meta is None:  # _dirs() lists complete checkpoints only, each with its meta
            raise ValueError(f"checkpoint {path} has no readable meta")
        if meta["desc"] != self.desc or meta["total_steps"] != self.total_steps:
            raise ConfigError(f"checkpoint {path} was written by another training run ({meta['desc']}, "
                              f"{meta['total_steps']} steps; this one: {self.desc}, {self.total_steps} steps); "
                              f"delete {self.session.root} to start over")
        try:
            weights = load_file(str(path / MODEL_FILE))
            state = torch.load(path / STATE_FILE, map_location="cpu", weights_only=True)
        except Exception as exc:  # an atomic checkpoint cannot be torn; a disk error can still hit it
            raise ConfigError(f"cannot read checkpoint {path}: {exc}; delete {self.session.root} to start over") from None
        device_weights = model.state_dict()
        model.load_state_dict({k: v.to(device_weights[k].device) if k in device_weights else v for k, v in weights.items()})
        if not meta["done"]:
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
        for name, obj in self.objects.items():
            obj.load_state_dict(state["objects"][name])
        log.info("resumed %s from %s (step %d of %d)", self.desc, path, meta["step"], self.total_steps)
        return Resumed(meta["step"], meta["done"], state["stats"], state["epoch_total"], state["epoch_count"], state["rng"])

    def due(self, step: int) -> bool:
        return step % self.every == 0 and step < self.total_steps

    def save(self, step: int, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any, stats: dict[str, Any],
             epoch_total: float = 0.0, epoch_count: int = 0, done: bool = False) -> None:
        """Write a checkpoint atomically (main process only) and drop this call's older mid-run ones."""
        if not self.session.is_main:
            return
        weights = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in model.state_dict().items()}
        state = {
            "optimizer": None if done else optimizer.state_dict(),
            "scheduler": None if done else scheduler.state_dict(),
            "objects": {name: obj.state_dict() for name, obj in self.objects.items()},
            "stats": stats,
            "epoch_total": float(epoch_total),
            "epoch_count": int(epoch_count),
            "rng": rng_state(),
        }
        meta = {"format": FORMAT, "fit": self.index, "desc": self.desc, "step": step, "total_steps": self.total_steps,
                "done": done, "complete": True}
        older = self._dirs()
        target = self.session.root / f"fit-{self.index:03d}-{step:09d}"
        with atomic_dir(target) as tmp:
            save_file(weights, str(tmp / MODEL_FILE), metadata={"format": "pt"})
            torch.save(state, tmp / STATE_FILE)
            (tmp / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")  # written last
        for path in older:
            if path != target:
                shutil.rmtree(path, ignore_errors=True)


def _read_meta(path: Path) -> dict[str, Any] | None:
    """A checkpoint directory's meta.json when the checkpoint is complete, else None."""
    try:
        meta = json.loads((path / META_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    if not isinstance(meta, dict) or meta.get("complete") is not True or meta.get("format") != FORMAT:
        return None
    if not ((path / MODEL_FILE).is_file() and (path / STATE_FILE).is_file()):
        return None
    return meta
