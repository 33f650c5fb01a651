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
            row = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:  # cannot happen with atomic writes, but never trust a bad row
            return None
        if _suite is not None:
            _suite.loaded(path, row)
        return row

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


def finished_rows(out_dir: Path) -> set[Path]:
    """The row files under ``out_dir`` whose run finished (status ok): what a resume skips."""
    found = set()
    for path in (Path(out_dir) / "rows").glob("*.json"):
        try:
            if json.loads(path.read_text(encoding="utf-8")).get("status") == "ok":
                found.add(path.resolve())
        except (OSError, json.JSONDecodeError, AttributeError):
            continue
    return found


def _fingerprint(row: dict[str, Any]) -> str:
    """What a row keeps when a bench copies or annotates it before emitting it (method, seed, time, metrics)."""
    return json.dumps([row.get("method"), row.get("seed"), row.get("seconds"), row.get("metrics")], sort_keys=True,
                      default=str)


class SuiteProgress:
    """One bar over every row of a suite (all its benches), starting at the rows a resume finds done.

    A row finished before the run (its file in ``done``) was counted at the start: when a bench emits it
    again, read back from its file, the bar does not move, so the rate and the ETA count new rows only.
    The bar never passes ``total`` (a sequential chain resumed halfway reruns rows counted at the start)."""

    def __init__(self, total: int, done: set[Path], desc: str) -> None:
        from collections import Counter

        from ..utils.progress import progress

        self._done = done
        self._credit = min(len(done), total)  # rows counted at the start that no emit has matched yet
        self._loaded: Counter[str] = Counter()  # fingerprints of rows read back from a done file
        self.bar = progress(total=total, initial=self._credit, desc=desc, unit="row", always=True, leave=True)

    def loaded(self, path: Path, row: dict[str, Any]) -> None:
        if row.get("status") == "ok" and path.resolve() in self._done:
            self._loaded[_fingerprint(row)] += 1

    def emitted(self, row: dict[str, Any], label: str) -> None:
        self.bar.set_postfix_str(label, refresh=False)
        key = _fingerprint(row)
        if self._loaded[key] > 0 and self._credit > 0:
            self._loaded[key] -= 1
            self._credit -= 1  # counted at the start
            self.bar.refresh()
        elif self.bar.n < self.bar.total:
            self.bar.update(1)


_suite: SuiteProgress | None = None


@contextmanager
def suite_progress(total: int, done: set[Path], desc: str = "bench") -> Iterator[SuiteProgress]:
    """While active, every :class:`RowSink` advances this one bar of ``total`` rows instead of its own;
    ``done``: the row files finished before (:func:`finished_rows`), counted from the start."""
    global _suite
    if _suite is not None:
        raise RuntimeError("suite_progress is already active")
    _suite = SuiteProgress(total, done, desc)
    try:
        yield _suite
    finally:
        _suite.bar.close()
        _suite = None


class RowSink:
    """A bench's rows in the order they are emitted, with a progress bar (one row a step): the suite's
    (:func:`suite_progress`) when one is active, else the bench's own."""

    def __init__(self, total: int, desc: str) -> None:
        from ..utils.progress import progress

        self.rows: list[dict[str, Any]] = []
        self._bar = None if _suite is not None else progress(total=total, desc=desc, unit="row", always=True,
                                                              leave=True)

    def __call__(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        for listener in list(_LISTENERS):
            listener(row)
        label = f"{row['task'].get('forget_spec') or ''} {row['method']['name']} s{row['seed']}".strip()
        if self._bar is None:
            if _suite is None:
                raise RuntimeError("a RowSink made inside suite_progress was used after it ended")
            _suite.emitted(row, label)
            return
        self._bar.set_postfix_str(label, refresh=False)
        self._bar.update(1)

    def close(self) -> list[dict[str, Any]]:
        """Close the bar (its own); the rows."""
        if self._bar is not None:
            self._bar.close()
        return self.rows
