"""Describe the environment a run happened in (recorded next to every result)."""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path

import torch


def git_commit() -> str | None:
    """The obliviate source checkout's commit, or None when not in a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def device_name() -> str:
    if torch.cuda.is_available():
        return f"cuda ({torch.cuda.get_device_name(0)})"
    return f"cpu ({platform.processor() or platform.machine()})"


def environment() -> dict:
    """Versions, device and threads. ``threads`` is the intra-op thread count the run chose (the last
    choice when several were made, else torch's current count); ``thread_choices`` says how each scope
    (bench family, unlearn, train) chose its count (:mod:`obliviate.utils.threads`)."""
    import importlib.metadata as md

    from .threads import recorded_choices

    versions = {}
    for pkg in ("numpy", "scikit-learn", "accelerate", "safetensors", "transformers"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    choices = recorded_choices()
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device": device_name(),
        "threads": choices[-1]["threads"] if choices else torch.get_num_threads(),
        "thread_choices": choices,
        "platform": platform.platform(),
        "packages": versions,
    }
