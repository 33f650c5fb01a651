"""The one-page summary across task groups: per group, the method closest to retrain (lowest average gap)
or, where a group has no gap to retrain, the best on its headline metric (the first main-table column with
a direction), what it reached next to doing nothing (the unmodified original) and what it cost (its time
ratio to retrain, else its seconds). Shown as the first table of report.html and after the terminal tables."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..metrics.registry import find_metric
from .cards import esc
from .columns import label, table_columns
from .stats import REFERENCE_METHODS, argmins, best_average, group_title, grouped, summarize
from .text import fmt_pm

__all__ = ["GroupSummary", "group_summaries", "summary_card", "summary_text"]


@dataclass(frozen=True)
class GroupSummary:
    """One line of the summary."""

    group: str
    #: what "best" means here: "average gap to retrain" or "<metric label> (higher/lower is better)"
    criterion: str
    #: the best methods (ties all named); empty when the group has no unlearning method with the value
    best: tuple[str, ...]
    #: the best's value on the criterion and the unmodified original's ("-" when absent)
    value: str
    original: str
    #: its time ratio to retrain ("1.23 ± 0.04×"), else its seconds ("12.3 ± 0.5 s"), else "-"
    cost: str
    #: whether the best's mean is better than the original's (None: no original to compare with)
    beats_original: bool | None = None


def group_summaries(summary: Sequence[dict]) -> list[GroupSummary]:
    """One :class:`GroupSummary` per task group of ``summary`` (:func:`~obliviate.report.stats.summarize`)."""
    out = []
    for key, entries in grouped(summary):
        by_method = {e["method"]: e for e in entries}
        best = best_average(entries)
        if best:
            criterion, sign = "average gap to retrain", 1.0
            stat_of = (lambda e: e["gap_to_retrain"].get("average"))
        else:
            criterion, sign, stat_of, best = _headline(key[0], entries)
        ranked = sorted(best)
        first = by_method[ranked[0]] if ranked else None
        original = by_method.get("original")
        mine = stat_of(first) if first is not None and stat_of is not None else None
        theirs = stat_of(original) if original is not None and stat_of is not None else None
        beats = None if mine is None or theirs is None else sign * mine["mean"] < sign * theirs["mean"]
        out.append(GroupSummary(group_title(key), criterion, tuple(ranked), fmt_pm(mine, 2), fmt_pm(theirs, 2),
                                _cost(first), beats))
    return out


def _headline(family: str, entries: Sequence[dict]):
    """(criterion, sign (-1: higher is better), entry -> statistic, best methods) on the first main-table
    metric with a direction."""
    for metric in table_columns(family, entries):
        found = find_metric(metric, family)
        if found is None or found.higher_is_better is None:
            continue
        sign = -1.0 if found.higher_is_better else 1.0
        scores = {e["method"]: sign * e["metrics"][metric]["mean"] for e in entries
                  if e["method"] not in REFERENCE_METHODS and metric in e["metrics"]}
        if scores:
            way = "higher" if found.higher_is_better else "lower"
            return (f"{label(metric, family)} ({way} is better)", sign, (lambda e, m=metric: e["metrics"].get(m)),
                    argmins(scores))
    return "no method to compare", 1.0, None, set()


def _cost(entry: dict | None) -> str:
    if entry is None:
        return "-"
    if entry.get("time_ratio"):
        return fmt_pm(entry["time_ratio"], None, "× retrain")
    if entry.get("seconds"):
        return fmt_pm(entry["seconds"], None, " s")
    return "-"


_HEAD = ("Task group", "Best method", "Judged by", "Its value", "Original (no unlearning)", "Cost")


def _cells(line: GroupSummary) -> tuple[str, ...]:
    value = line.value + (" (no better than the original)" if line.beats_original is False else "")
    return (line.group, ", ".join(line.best) or "-", line.criterion, value, line.original, line.cost)


def summary_card(summary: Sequence[dict]) -> str:
    """The summary as the report's first card (empty when there is no group)."""
    lines = group_summaries(summary)
    if not lines:
        return ""
    head = "".join(f"<th>{esc(h)}</th>" for h in _HEAD)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in _cells(line)) + "</tr>" for line in lines)
    return (
        '<section class="card" id="summary"><h2>At a glance</h2>'
        '<p class="sub">Per task group: the method closest to retrain (lowest average gap; where there is no '
        "retrain, the best on the group's headline metric), its value next to the unmodified original's, and its "
        "cost (time ratio to retrain, else seconds); mean ± std over seeds.</p>"
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div></section>'
    )


def summary_text(results: dict) -> str:
    """The summary as a fixed-width terminal table ("" when there is no group)."""
    lines = [_cells(line) for line in group_summaries(summarize(results))]
    if not lines:
        return ""
    rows = [_HEAD, *lines]
    widths = [max(len(r[i]) for r in rows) for i in range(len(_HEAD))]

    def fmt(row: Sequence[str]) -> str:
        return " | ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip()

    title = "At a glance"
    return "\n".join([title, "=" * len(title), fmt(_HEAD), "-+-".join("-" * w for w in widths), *map(fmt, lines)]) + "\n"
