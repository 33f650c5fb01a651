"""Is any of it better than doing nothing? The report's verdicts on one group of summary entries.

Rules (docs/architecture.md "Report verdicts"):

- **Ranking.** A group with a retrain reference ranks its methods by the average gap to retrain (lower is
  better); a group without one by its family's headline metric (``Metric.headline`` in the metric
  registry, e.g. ADU's H) in that metric's direction; with neither, nothing is ranked.
- **No better than not unlearning.** A method is better than the unmodified original only when it beats
  it by more than the seeds' noise: per shared seed (same original, same retrain) the improvement over
  the original, and the mean improvement must exceed the improvements' sample std (and 1e-9). Without
  shared seeds the difference of the means must exceed the larger of the two stds. With one seed any
  improvement above 1e-9 counts. A method that is not better is never "best" nor "closest".
- **Winners.** The best ranking value among the methods better than the original (among all of the
  group's methods when it has no original row). When every method ties with the original, none wins and
  the group says so.
- **A metric that separates nothing.** Every method has the original's value (mean and std within 1e-9).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..metrics.registry import headline_metric, metric_label
from .stats import REFERENCE_METHODS, is_num, stats
from .numbers import fmt_pm

__all__ = ["NO_BETTER", "TIME_NOTE", "TUNED_MARK", "Ranking", "flat_metrics", "group_notes", "no_better", "ranking",
           "tuned_note", "tuned_what", "winner_note", "winners"]

TOL = 1e-9
#: the words of the "no better" flag (text footnote, HTML tag)
NO_BETTER = "no better than not unlearning"
#: the mark of a method with rows on seeds its recipe values were tuned on (``tuned_on_seed``)
TUNED_MARK = "‡"
#: the footnote of a time ratio marked ``≈``
TIME_NOTE = ("≈ time ratio: retrain's seconds come from the model cache or were not recorded (timed by another "
             "process, under other load), so the ratio compares times not measured under the same conditions")


@dataclass(frozen=True)
class Ranking:
    """What ranks a group: ``entry[section][key]``; ``label`` names it in prose."""

    key: str
    section: str
    lower_is_better: bool
    label: str

    def value(self, entry: Mapping[str, Any]) -> Mapping[str, float] | None:
        return entry[self.section].get(self.key)

    def seed_value(self, entry: Mapping[str, Any], seed: int) -> float | None:
        value = entry.get("per_seed", {}).get(seed, {}).get(self.section, {}).get(self.key)
        return float(value) if is_num(value) else None

    def better(self, a: float, b: float) -> float:
        """How much better ``a`` is than ``b`` (negative: worse)."""
        return b - a if self.lower_is_better else a - b


def ranking(family: str, entries: Sequence[Mapping[str, Any]]) -> Ranking | None:
    """The group's ranking: the average gap when it has a retrain reference, else the headline metric."""
    if any(e["method"] == "retrain" for e in entries) or any("average" in e["gap_to_retrain"] for e in entries):
        return Ranking("average", "gap_to_retrain", True, "average gap to retrain")
    head = headline_metric(family)
    if head is None or not any(head.name in e["metrics"] for e in entries):
        return None
    return Ranking(head.name, "metrics", not head.higher_is_better, head.label_of())


def winner_note(rank: Ranking) -> str:
    """What the winner's mark means."""
    if rank.section == "gap_to_retrain":
        return "lowest average gap to retrain among the methods better than the original (retrain/original excluded)"
    best = "lowest" if rank.lower_is_better else "highest"
    return f"{best} {rank.label} (the family's headline metric) among the methods better than the original"


def _methods(entries: Sequence[Mapping[str, Any]], rank: Ranking) -> list[Mapping[str, Any]]:
    return [e for e in entries if e["method"] not in REFERENCE_METHODS and rank.value(e) is not None]


def _original(entries: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    return next((e for e in entries if e["method"] == "original"), None)


def better_than_original(entry: Mapping[str, Any], original: Mapping[str, Any], rank: Ranking) -> bool | None:
    """Whether ``entry`` beats ``original`` beyond the seeds' noise (module docstring); None when unknown."""
    paired = []
    for seed in entry.get("per_seed", {}):
        a, b = rank.seed_value(entry, seed), rank.seed_value(original, seed)
        if a is not None and b is not None:
            paired.append(rank.better(a, b))
    diff = stats(paired)
    if diff is not None:
        return diff["mean"] > max(diff["std"], TOL)
    a_stat, b_stat = rank.value(entry), rank.value(original)
    if a_stat is None or b_stat is None:
        return None
    return rank.better(a_stat["mean"], b_stat["mean"]) > max(a_stat["std"], b_stat["std"], TOL)


def no_better(entries: Sequence[Mapping[str, Any]], rank: Ranking | None) -> set[str]:
    """The methods that are no better than not unlearning (none when the group has no original row)."""
    original = _original(entries)
    if rank is None or original is None or rank.value(original) is None:
        return set()
    return {e["method"] for e in _methods(entries, rank) if better_than_original(e, original, rank) is False}


def winners(entries: Sequence[Mapping[str, Any]], rank: Ranking | None) -> set[str]:
    """The best methods by ``rank`` among those better than the original (empty when all tie with it)."""
    if rank is None:
        return set()
    losers = no_better(entries, rank)
    scores = {e["method"]: rank.value(e)["mean"] for e in _methods(entries, rank) if e["method"] not in losers}
    if not scores:
        return set()
    best = min(scores.values()) if rank.lower_is_better else max(scores.values())
    return {m for m, v in scores.items() if abs(v - best) <= TOL}


def all_tie(entries: Sequence[Mapping[str, Any]], rank: Ranking | None) -> bool:
    """Whether the group has methods and every one is no better than not unlearning."""
    methods = {e["method"] for e in _methods(entries, rank)} if rank is not None else set()
    return bool(methods) and methods <= no_better(entries, rank)


def _same(a: Mapping[str, float], b: Mapping[str, float]) -> bool:
    return all(math.isclose(a[k], b[k], rel_tol=TOL, abs_tol=TOL) for k in ("mean", "std"))


def unchanged(entries: Sequence[Mapping[str, Any]], metric: str) -> tuple[list[str], int]:
    """(methods whose ``metric`` equals the original's, how many methods have ``metric``)."""
    original = _original(entries)
    ref = original["metrics"].get(metric) if original is not None else None
    have = [e for e in entries if e["method"] not in REFERENCE_METHODS and metric in e["metrics"]]
    if ref is None:
        return [], len(have)
    return [e["method"] for e in have if _same(e["metrics"][metric], ref)], len(have)


def _same_as_retrain(original: Mapping[str, Any], retrain: Mapping[str, Any] | None, metric: str) -> bool:
    """Whether retrain has the original's value of ``metric`` (keeping it is then no failure)."""
    ref = retrain["metrics"].get(metric) if retrain is not None else None
    return ref is not None and math.isclose(ref["mean"], original["metrics"][metric]["mean"], rel_tol=TOL, abs_tol=TOL)


def flat_metrics(entries: Sequence[Mapping[str, Any]], cols: Sequence[str]) -> list[str]:
    """The metrics of ``cols`` on which every method has the original's value: they separate nothing."""
    out = []
    for col in cols:
        same, n = unchanged(entries, col)
        if n and len(same) == n:
            out.append(col)
    return out


def group_notes(family: str, entries: Sequence[Mapping[str, Any]], cols: Sequence[str]) -> list[str]:
    """Plain-text notes of a group: every method ties with the original; metrics that separate nothing,
    or that keep the original's value for two or more methods where retrain moved away from it."""
    notes = []
    rank = ranking(family, entries)
    if all_tie(entries, rank):
        notes.append(f"No method is better than not unlearning here: every method's {rank.label} is within the "
                     "seeds' noise of the original's, or worse.")
    original = _original(entries)
    retrain = next((e for e in entries if e["method"] == "retrain"), None)
    for col in cols:
        same, n = unchanged(entries, col)
        if not same or (len(same) < n and (len(same) < 2 or _same_as_retrain(original, retrain, col))):
            continue
        value = fmt_pm(original["metrics"][col], 2)
        name = metric_label(col, family)
        if len(same) == n:
            notes.append(f"{name} separates nothing here: every method has the original's value ({value}).")
        else:
            notes.append(f"{name} keeps the original's value ({value}) for {len(same)} of {n} methods: "
                         f"{', '.join(same)}.")
    tuned = tuned_note(entries)
    return notes + ([tuned] if tuned else [])


def tuned_note(entries: Sequence[Mapping[str, Any]]) -> str | None:
    """The footnote of the methods marked :data:`TUNED_MARK`: their recipe values were tuned on some of the
    group's seeds (run with --allow-tuned-seeds), so those numbers are not held out; None when none is."""
    tuned = [f"{e['method']} ({tuned_what(e)})" for e in entries if tuned_what(e)]
    if not tuned:
        return None
    return (f"{TUNED_MARK} tuned on a reported task: {', '.join(tuned)}: the recipe's values were tuned on these "
            "seeds or this forgotten class (run with --allow-tuned-seeds), so their numbers are partly tuned on "
            "themselves, not held out.")


def tuned_what(entry: Mapping[str, Any]) -> str:
    """What a summary entry's recipe values were tuned on among its rows (``seeds 100, 101``, ``the forgotten
    class``); empty when nothing."""
    seeds = entry.get("tuned_seeds") or []
    parts = ([f"seed{'s' if len(seeds) > 1 else ''} {', '.join(str(s) for s in seeds)}"] if seeds else []) + (
        ["the forgotten class"] if entry.get("tuned_class") else [])
    return " and ".join(parts)
