"""The one-page summary across task groups: per group, the method closest to retrain (lowest average gap)
or, where a group has no gap to retrain, the best on its headline metric (the first main-table column with
a direction), what it reached next to doing nothing (the unmodified original) and what it cost (its time
ratio to retrain, else its seconds). Shown as the first table of report.html and after the terminal tables."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .cards import esc
from .stats import group_title, grouped, summarize
from .text import fmt_pm
from .verdict import all_tie, ranking, winners

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
    """One :class:`GroupSummary` per task group of ``summary`` (:func:`~obliviate.report.stats.summarize`),
    judged as the group's card judges it (:mod:`obliviate.report.verdict`): the best among the methods
    better than not unlearning; none when every method ties with the original."""
    out = []
    for key, entries in grouped(summary):
        by_method = {e["method"]: e for e in entries}
        rank = ranking(key[0], entries)
        if rank is None:
            out.append(GroupSummary(group_title(key), "no method to compare", (), "-", "-", "-"))
            continue
        best = sorted(winners(entries, rank))
        way = "lower" if rank.lower_is_better else "higher"
        first = by_method[best[0]] if best else None
        original = by_method.get("original")
        mine = rank.value(first) if first is not None else None
        theirs = rank.value(original) if original is not None else None
        beats = None if original is None else (False if all_tie(entries, rank) else bool(best) or None)
        out.append(GroupSummary(group_title(key), f"{rank.label} ({way} is better)", tuple(best), fmt_pm(mine, 2),
                                fmt_pm(theirs, 2), _cost(first), beats))
    return out


def _cost(entry: dict | None) -> str:
    if entry is None:
        return "-"
    if entry.get("time_ratio"):  # ≈: retrain's time was read from the cache (verdict.TIME_NOTE)
        return ("≈ " if entry.get("time_ratio_cached") else "") + fmt_pm(entry["time_ratio"], None, "× retrain")
    if entry.get("seconds"):
        return fmt_pm(entry["seconds"], None, " s")
    return "-"


_HEAD = ("Task group", "Best method", "Judged by", "Its value", "Original (no unlearning)", "Cost")


def _cells(line: GroupSummary) -> tuple[str, ...]:
    best = ", ".join(line.best) or ("none*" if line.beats_original is False else "-")
    return (line.group, best, line.criterion, line.value, line.original, line.cost)


#: what a "none*" best method means (under the summary table)
NONE_NOTE = "* none: no method is better than not unlearning (the unmodified original); the group's card says why."


def _has_none(lines: Sequence[GroupSummary]) -> bool:
    return any(not line.best and line.beats_original is False for line in lines)


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
        "retrain, the best on the family's headline metric) among those better than not unlearning, its value next "
        "to the unmodified original's, and its "
        "cost (time ratio to retrain, else seconds); mean ± std over seeds.</p>"
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'
        + (f'<p class="legend">{esc(NONE_NOTE)}</p>' if _has_none(lines) else "") + "</section>"
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
    note = [NONE_NOTE] if _has_none(group_summaries(summarize(results))) else []
    return "\n".join([title, "=" * len(title), fmt(_HEAD), "-+-".join("-" * w for w in widths), *map(fmt, lines),
                      *note]) + "\n"
