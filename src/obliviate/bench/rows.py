"""Result rows on disk: one JSON file per (task, method, seed, config), written atomically.

A rerun with the same ``--out`` finds finished rows and skips them; a row file exists only once its
run is complete, so an interrupted run never leaves a row that looks finished.
"""

from __future__ import annotations

import json
import logging
import re
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from ..utils.io import atomic_write_json
from ..utils.resources import PeakMemory, peak_memory
from ..utils.warmup import warm_up
from .cache import built_here, config_hash

log = logging.getLogger("obliviate.bench")


class RowStore:
    def __init__(self, out_dir: Path) -> None:
        self.dir = Path(out_dir) / "rows"

    def path(self, key: dict[str, Any]) -> Path:
        label = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{key.get('dataset')}_{key.get('forget')}_{key.get('method')}_s{key.get('seed')}")
        return self.dir / f"{label}-{config_hash(key)}.json"

    def get(self, key: dict[str, Any]) -> dict[str, Any] | None:
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:  # cannot happen with atomic writes, but never trust a bad row
            return None

    def put(self, key: dict[str, Any], row: dict[str, Any]) -> None:
        atomic_write_json(self.path(key), row)


#: ``retrain_timing`` values: the retrain reference was trained and timed by the process that timed the
#: row's method (same machine load, same warm-up), or its seconds were read from the model cache (timed
#: by another process, under other load). The report marks ratios of the second kind ``≈``.
MEASURED, CACHED = "measured", "cached"


def retrain_timing(meta: dict[str, Any]) -> str:
    """The ``retrain_timing`` of rows whose retrain seconds come from the cache entry ``meta``."""
    return MEASURED if built_here(meta) else CACHED


def result_row(
    family: str, task: dict[str, Any], method: str, params: dict, seed: int, evaluation: dict,
    seconds: float, retrain_seconds: float | None, timing: str | None = None,
) -> dict[str, Any]:
    """One ``runs[]`` entry of results.json (schema ``$defs/run``) for a finished method run; ``timing``
    (:data:`MEASURED` / :data:`CACHED`) says where ``retrain_seconds`` was measured."""
    from ..metrics.gap import time_ratio

    row = {
        "family": family,
        "task": task,
        "method": {"name": method, "params": params},
        "seed": seed,
        "status": "ok",
        "error": None,
        "seconds": seconds,
        "retrain_seconds": retrain_seconds,
        "time_ratio": time_ratio(seconds, retrain_seconds),
        "metrics": evaluation["metrics"],
        "gap_to_retrain": evaluation.get("gap_to_retrain", {}),
    }
    if timing is not None and retrain_seconds is not None:
        row["retrain_timing"] = timing
    return row


class _Timer:
    """Wall time of a ``with`` block (also when it raises; CUDA work it queued included); 0 if the
    block never started."""

    seconds = 0.0

    def __enter__(self) -> "_Timer":
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.seconds = time.perf_counter() - self._start


def run_method_row(
    store: RowStore,
    row_key: dict[str, Any],
    label: str,
    unlearn: Callable[[], Any],
    evaluate: Callable[[Any], dict[str, Any]],
    make_row: Callable[[dict[str, Any], float], dict[str, Any]],
    *,
    reuse: bool = True,
) -> dict[str, Any]:
    """The stored row for ``row_key`` if it finished (and ``reuse``); else time ``unlearn()``, ``evaluate``
    its model and store ``make_row(evaluation, seconds)`` with the unlearning step's ``peak_memory_mb``
    (:mod:`obliviate.utils.resources`). Only ``unlearn()`` is timed: the process is warmed up first
    (:mod:`obliviate.utils.warmup`) and the peak-memory bookkeeping runs outside the timer. A method
    that raises becomes a failed row (retried on the next run) with the error message; the grid goes on."""
    row = store.get(row_key) if reuse else None
    if row is not None and row["status"] == "ok":
        log.info("skip finished row %s", label)
        return row
    log.info("run %s", label)
    warm_up()  # the process's one-time torch costs are nobody's method time
    memory, timer = PeakMemory(), _Timer()
    try:
        with peak_memory() as memory, timer:  # the timer runs inside the memory bookkeeping
            model = unlearn()
        row = make_row(evaluate(model), timer.seconds)
    except Exception as exc:  # a failing method becomes a failed row; the grid goes on
        seconds = timer.seconds
        log.error("%s failed:\n%s", label, traceback.format_exc())
        row = make_row({"metrics": {}}, seconds)
        row.update(status="failed", error=f"{type(exc).__name__}: {exc}", time_ratio=None)
    if memory.source:
        row["peak_memory_mb"] = memory.peak_mb
        row["peak_memory_source"] = memory.source
    store.put(row_key, row)
    return row


#: Called with every row a :class:`RowSink` receives (``--report-to`` loggers); see :func:`row_listener`.
_LISTENERS: list[Callable[[dict[str, Any]], None]] = []


@contextmanager
def row_listener(listener: Callable[[dict[str, Any]], None]) -> Iterator[None]:
    """Call ``listener(row)`` for every row any bench emits inside the block."""
    _LISTENERS.append(listener)
    try:
        yield
    finally:
        _LISTENERS.remove(listener)


class RowSink:
    """A bench's rows in the order they are emitted, with its overall progress bar (one row a step)."""

    def __init__(self, total: int, desc: str) -> None:
        from ..utils.progress import progress

        self.rows: list[dict[str, Any]] = []
        self._bar = progress(total=total, desc=desc, unit="row", always=True, leave=True)

    def __call__(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        for listener in list(_LISTENERS):
            listener(row)
        label = f"{row['task'].get('forget_spec') or ''} {row['method']['name']} s{row['seed']}".strip()
        self._bar.set_postfix_str(label, refresh=False)
        self._bar.update(1)

    def close(self) -> list[dict[str, Any]]:
        """Close the bar; the rows."""
        self._bar.close()
        return self.rows
