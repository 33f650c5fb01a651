"""How many torch intra-op threads a run uses, chosen to fit the machine.

Torch's default is one thread per core of the whole machine (``os.cpu_count()``), which ignores
the CPU affinity and cgroup quota this process runs under and the other processes sharing the cores.
On shared or small machines that default is ruinous for the small models obliviate trains: on a
loaded 2-core machine one finetune epoch of the digits CNN ran 89x slower with 2 threads than with 1
(each op is too small to pay for waking a second thread, and a descheduled one stalls the rest).

The choice, in order: an explicit count (``--threads N``, else ``OBLIVIATE_THREADS``, else
``OMP_NUM_THREADS``) wins; otherwise one thread for a model of at most :data:`TINY_PARAMS`
parameters (the digits CNN, the tiny and small Llamas, the tiny CLIP); otherwise the CPUs this
process may use divided among the processes sharing them on this host (pytest-xdist workers,
``torchrun`` / ``accelerate launch`` local world size). Every choice is remembered and reported in
``results.json`` / ``record.json``'s environment (:func:`recorded_choices`).
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ..errors import ConfigError

#: Models with at most this many parameters train on one thread (the digits CNN has 0.16M, the
#: small Llama ~1M with its embeddings, ResNet-18 11M, SmolLM2-135M 135M).
TINY_PARAMS = 5_000_000
ENV_VAR = "OBLIVIATE_THREADS"
#: Environment variables that say how many processes of one job share this host's cores.
_SHARING_VARS = ("PYTEST_XDIST_WORKER_COUNT", "LOCAL_WORLD_SIZE")

_cli_override: int | None = None
_choices: list[dict] = []


@dataclass(frozen=True)
class ThreadChoice:
    """A thread count and how it was chosen: ``source`` is ``--threads``, ``OBLIVIATE_THREADS``,
    ``OMP_NUM_THREADS`` or ``auto``; ``cpus`` the CPUs this process may use; ``processes`` how many
    processes of this job share them; ``params`` the model size hint (None: unknown)."""

    threads: int
    source: str
    reason: str
    cpus: int
    processes: int
    params: int | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def set_cli_override(threads: int | None) -> None:
    """The CLI's ``--threads`` (None: not given); it wins over every other source."""
    global _cli_override
    if threads is not None and threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {threads}")
    _cli_override = threads


def cgroup_cpu_limit(root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """Whole CPUs the cgroup quota allows (at least 1), or None without a quota (cgroup v2
    ``cpu.max``, else v1 ``cpu/cpu.cfs_quota_us``)."""
    try:
        quota, _, period = (root / "cpu.max").read_text().strip().partition(" ")
        if quota == "max":
            return None
        return max(1, math.floor(int(quota) / int(period or 100000)))
    except (OSError, ValueError):
        pass
    try:
        quota_us = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return max(1, math.floor(quota_us / period_us)) if quota_us > 0 and period_us > 0 else None


def usable_cpus(cgroup_root: Path = Path("/sys/fs/cgroup")) -> int:
    """The CPUs this process may run on: its affinity mask, capped by the cgroup quota."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    limit = cgroup_cpu_limit(cgroup_root)
    return max(1, min(cpus, limit) if limit else cpus)


def sharing_processes(env: Mapping[str, str] = os.environ) -> int:
    """How many processes of this job share the host's cores (pytest-xdist workers, local world size)."""
    counts = [1]
    for name in _SHARING_VARS:
        try:
            counts.append(int(env.get(name, "")))
        except ValueError:
            pass
    return max(counts)


def _explicit(override: int | None, env: Mapping[str, str]) -> tuple[int, str] | None:
    if override is not None:
        return override, "--threads"
    if _cli_override is not None:
        return _cli_override, "--threads"
    for name in (ENV_VAR, "OMP_NUM_THREADS"):
        value = env.get(name, "").strip()
        if not value:
            continue
        try:
            threads = int(value)
        except ValueError:
            raise ConfigError(f"{name}={value!r} is not a thread count") from None
        if threads < 1:
            raise ConfigError(f"{name} must be >= 1, got {threads}")
        return threads, name
    return None


def choose_threads(params: int | None = None, *, override: int | None = None,
                   env: Mapping[str, str] = os.environ, cgroup_root: Path = Path("/sys/fs/cgroup")) -> ThreadChoice:
    """The intra-op thread count for a model of ``params`` parameters (None: unknown size)."""
    cpus, processes = usable_cpus(cgroup_root), sharing_processes(env)
    explicit = _explicit(override, env)
    if explicit is not None:
        threads, source = explicit
        return ThreadChoice(threads, source, f"set by {source}", cpus, processes, params)
    if params is not None and params <= TINY_PARAMS:
        return ThreadChoice(1, "auto", f"model of {params} parameters: too small to split across threads",
                            cpus, processes, params)
    threads = max(1, cpus // processes)
    return ThreadChoice(threads, "auto", f"{cpus} usable CPUs shared by {processes} process(es)", cpus, processes,
                        params)


def model_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def built_params(build: Callable[[], torch.nn.Module]) -> int:
    """The parameter count of the model ``build()`` makes, built on the meta device (no memory, no init cost)."""
    with torch.device("meta"):
        return model_params(build())


def configure_threads(params: int | None = None, *, scope: str, override: int | None = None) -> ThreadChoice:
    """Choose (:func:`choose_threads`), apply with ``torch.set_num_threads`` and remember the choice
    for ``scope`` (e.g. ``classifier bench``, ``unlearn``)."""
    choice = choose_threads(params, override=override)
    torch.set_num_threads(choice.threads)
    entry = {"scope": scope, **choice.as_dict()}
    if entry not in _choices:
        _choices.append(entry)
    return choice


def configure_for_model(model: torch.nn.Module, *, scope: str) -> ThreadChoice:
    """Process-wide thread count for a one-model command (``unlearn``, ``train``): earlier choices are
    forgotten, so its record reports this one only."""
    clear_choices()
    return configure_threads(model_params(model), scope=scope)


@contextlib.contextmanager
def thread_scope(params: int | None = None, *, scope: str, override: int | None = None) -> Iterator[ThreadChoice]:
    """:func:`configure_threads` for the block; the previous thread count is restored afterwards."""
    previous = torch.get_num_threads()
    try:
        yield configure_threads(params, scope=scope, override=override)
    finally:
        torch.set_num_threads(previous)


def recorded_choices() -> list[dict]:
    """Every distinct choice made since the last :func:`clear_choices`, in order."""
    return [dict(entry) for entry in _choices]


def clear_choices() -> None:
    _choices.clear()
