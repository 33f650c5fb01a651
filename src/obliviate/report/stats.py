"""Summary statistics of a results file: rows grouped by (family, dataset, forget spec) and method,
mean and sample std (ddof=1, :data:`STD_NOTE`) over seeds, and who is closest to retrain."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = ["REFERENCE_METHODS", "STD_NOTE", "sample_std", "stats", "summarize"]

#: Methods that are not unlearning methods but references: never "best", drawn distinctly.
#: (clean / corrupted: the RESTOR bench; dp2_base: DP2's DP-trained base before any request.)
REFERENCE_METHODS: tuple[str, ...] = ("retrain", "original", "clean", "corrupted", "dp2_base")

#: The one std convention of every report, script and doc: the sample standard deviation over seeds.
STD_NOTE = "± = sample standard deviation over seeds (ddof=1; 0 for a single seed)"

GroupKey = tuple[str, str, str]

#: ``retrain_timing`` of a row whose retrain seconds were measured by the process that timed the
#: method (written by :mod:`obliviate.bench.rows`); any other value, or none, is a time from elsewhere.
TIMING_MEASURED = "measured"
#: the row field of a row on a seed its recipe values were tuned on (written by obliviate.bench.tuned_seeds)
TUNED_ON_SEED = "tuned_on_seed"
#: ... and of a row forgetting a class its recipe values were tuned on forgetting
TUNED_ON_CLASS = "tuned_on_class"


def is_num(value: Any) -> bool:
    """A finite int or float (bools are not numbers here)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def sample_std(values: Sequence[float]) -> float:
    """Sample standard deviation (ddof=1) of ``values``; 0.0 for fewer than two values."""
    if len(values) < 2:
        return 0.0
    mean = math.fsum(values) / len(values)
    return math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1))


def stats(values: Iterable[Any]) -> dict[str, float] | None:
    """Mean and sample std (ddof=1) of the finite numbers in ``values``; None when there are none."""
    vals = [float(v) for v in values if is_num(v)]
    if not vals:
        return None
    return {"mean": math.fsum(vals) / len(vals), "std": sample_std(vals), "n": len(vals)}


def runs(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The rows of a results document that are mappings (none for a malformed document)."""
    rows = results.get("runs") if isinstance(results, Mapping) else None
    return [r for r in (rows or []) if isinstance(r, Mapping)]  # type: ignore[misc]


def method_name(row: Mapping[str, Any]) -> str:
    method = row.get("method")
    if isinstance(method, Mapping):
        return str(method.get("name", "?"))
    return str(method) if method is not None else "?"


def group_key(row: Mapping[str, Any]) -> GroupKey:
    """(family, dataset, forget spec) of a row; prune-first rows form their own group."""
    task = row.get("task") if isinstance(row.get("task"), Mapping) else {}
    spec = str(task.get("forget_spec") or task.get("scenario") or "")
    if task.get("prune"):
        spec += f" (pruned {task['prune']})"
    return (str(row.get("family", "?")), str(task.get("dataset", "?")), spec)


def group_title(key: GroupKey) -> str:
    return " · ".join(p for p in key if p)


def _time_ratio(row: Mapping[str, Any]) -> float | None:
    seconds, ref = row.get("seconds"), row.get("retrain_seconds")
    if not is_num(seconds) or not is_num(ref) or ref <= 0:
        return None
    return float(seconds) / float(ref)


def _cached_ratio(row: Mapping[str, Any]) -> bool:
    """Whether ``row`` has a time ratio whose retrain seconds were not measured alongside the method."""
    return _time_ratio(row) is not None and row.get("retrain_timing") != TIMING_MEASURED


def method_order(names: Iterable[str]) -> list[str]:
    """References first (retrain, original, ...), then the others in order of first appearance."""
    seen: list[str] = []
    for name in names:
        if name not in seen:
            seen.append(name)
    return [m for m in REFERENCE_METHODS if m in seen] + [m for m in seen if m not in REFERENCE_METHODS]


def summarize(results: dict) -> list[dict]:
    """Aggregate ok rows over seeds, one entry per (family, dataset, forget_spec, method).

    Each entry: ``family, dataset, forget_spec, method, n_seeds, seeds, metric_keys`` (every metric
    name seen, even when all its values are None) and the statistics
    ``metrics``/``gap_to_retrain`` (key -> ``{"mean", "std", "n"}``), ``seconds`` and ``time_ratio``
    (``{"mean", "std", "n"}`` or None when no row has the value), ``time_ratio_cached`` (some ratio
    divides by a retrain time not measured by the same process: read from the model cache, or not
    recorded), ``tuned_seeds`` (the seeds whose row is marked ``tuned_on_seed``: its recipe values
    were tuned on that seed, run with ``--allow-tuned-seeds``), ``tuned_class`` (some row is marked
    ``tuned_on_class``: they were tuned on forgetting this group's class) and ``per_seed`` (seed ->
    ``{"metrics", "gap_to_retrain"}`` of that seed's row, for
    paired comparisons). The std is the sample std
    (ddof=1), so a single seed gives 0. ``None`` and non-finite values are left out of the statistics.
    Groups keep the order in which they first appear; within a group retrain and original come first.
    """
    groups: dict[GroupKey, dict[str, list[dict[str, Any]]]] = {}
    for row in runs(results):
        if row.get("status") != "ok":
            continue
        groups.setdefault(group_key(row), {}).setdefault(method_name(row), []).append(row)

    out: list[dict] = []
    for (family, dataset, spec), by_method in groups.items():
        for method in method_order(by_method):
            rows = by_method[method]
            metric_keys: list[str] = []
            gap_keys: list[str] = []
            for row in rows:
                for key in row.get("metrics") or {}:
                    if key not in metric_keys:
                        metric_keys.append(key)
                for key in row.get("gap_to_retrain") or {}:
                    if key not in gap_keys:
                        gap_keys.append(key)
            metrics = {k: stats((r.get("metrics") or {}).get(k) for r in rows) for k in metric_keys}
            gaps = {k: stats((r.get("gap_to_retrain") or {}).get(k) for r in rows) for k in gap_keys}
            seeds = sorted({r["seed"] for r in rows if isinstance(r.get("seed"), int)})
            out.append(
                {
                    "family": family,
                    "dataset": dataset,
                    "forget_spec": spec,
                    "method": method,
                    "n_seeds": len(rows),
                    "seeds": seeds,
                    "metric_keys": metric_keys,
                    "metrics": {k: v for k, v in metrics.items() if v is not None},
                    "gap_to_retrain": {k: v for k, v in gaps.items() if v is not None},
                    "seconds": stats(r.get("seconds") for r in rows),
                    "time_ratio": stats(_time_ratio(r) for r in rows),
                    "time_ratio_cached": any(_cached_ratio(r) for r in rows),
                    "tuned_seeds": sorted({r["seed"] for r in rows
                                           if r.get(TUNED_ON_SEED) is True and isinstance(r.get("seed"), int)}),
                    "tuned_class": any(r.get(TUNED_ON_CLASS) is True for r in rows),
                    "per_seed": {
                        r["seed"]: {"metrics": dict(r.get("metrics") or {}),
                                    "gap_to_retrain": dict(r.get("gap_to_retrain") or {})}
                        for r in rows if isinstance(r.get("seed"), int)
                    },
                }
            )
    return out


def grouped(summary: Sequence[dict]) -> list[tuple[GroupKey, list[dict]]]:
    """The summary's entries per (family, dataset, forget spec), in order of first appearance."""
    groups: dict[GroupKey, list[dict]] = {}
    for entry in summary:
        groups.setdefault((entry["family"], entry["dataset"], entry["forget_spec"]), []).append(entry)
    return list(groups.items())


def closeness(entries: Sequence[dict], metric: str) -> dict[str, float]:
    """method -> distance to retrain for ``metric`` (mean per-seed gap; else |mean - retrain mean|)."""
    ref = next((e for e in entries if e["method"] == "retrain"), None)
    out: dict[str, float] = {}
    for e in entries:
        if e["method"] in REFERENCE_METHODS:
            continue
        gap = e["gap_to_retrain"].get(metric)
        if gap is not None:
            out[e["method"]] = gap["mean"]
        elif ref is not None and metric in e["metrics"] and metric in ref["metrics"]:
            out[e["method"]] = abs(e["metrics"][metric]["mean"] - ref["metrics"][metric]["mean"])
    return out


def argmins(dist: Mapping[str, float]) -> set[str]:
    if not dist:
        return set()
    best = min(dist.values())
    return {m for m, d in dist.items() if d <= best + 1e-9}
