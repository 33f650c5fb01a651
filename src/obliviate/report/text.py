"""Plain-text output: ``mean ± std`` cells and the fixed-width tables of :func:`format_table_text`."""

from __future__ import annotations

from collections.abc import Sequence

from .columns import label, table_columns
from .numbers import decimals, fmt_pm
from .stats import REFERENCE_METHODS, STD_NOTE, group_key, group_title, grouped, method_name, runs, summarize
from .verdict import NO_BETTER, TIME_NOTE, TUNED_MARK, group_notes, no_better, ranking, tuned_what, winner_note, winners

__all__ = ["decimals", "fmt_pm", "format_table_text"]


def format_table_text(results: dict) -> str:
    """Fixed-width tables, one per (family, dataset, forget_spec), values ``mean ± std`` over seeds.

    Columns: Method | the family's standard metrics (all metrics when it has none) | Avg.Gap | Time
    ratio (the last two only when some row has them). The winner (:mod:`.verdict`: lowest average gap
    among the methods better than the original, or the best headline metric in a group without
    retrain) is marked ``*``, a method no better than not unlearning ``†``, a time ratio against a
    retrain time from another process ``≈``, a method with rows on tasks its recipe was tuned on ``‡``; the
    group's notes follow the table.
    """
    summary = summarize(results)
    blocks: list[str] = []
    for key, entries in grouped(summary):
        family = key[0]
        cols = table_columns(family, entries)
        rank = ranking(family, entries)
        best, losers = winners(entries, rank), no_better(entries, rank)
        show_gap = any("average" in e["gap_to_retrain"] for e in entries)
        show_ratio = any(e["time_ratio"] for e in entries)
        header = ["Method", *(label(c, family) for c in cols)]
        header += (["Avg.Gap"] if show_gap else []) + (["Time ratio"] if show_ratio else [])
        cached = False
        lines = []
        for e in entries:
            mark = " *" if e["method"] in best else " †" if e["method"] in losers else ""
            cells = [fmt_pm(e["metrics"].get(c), 2) + (mark if rank and rank.key == c else "") for c in cols]
            if show_gap:
                cells.append(fmt_pm(e["gap_to_retrain"].get("average"), 2)
                             + (mark if rank and rank.key == "average" else ""))
            if show_ratio:
                approx = e["time_ratio_cached"] and e["method"] not in REFERENCE_METHODS and e["time_ratio"]
                cached = cached or bool(approx)
                cells.append(("≈" if approx else "") + fmt_pm(e["time_ratio"], None, ""))
            tuned = f" {TUNED_MARK}" if tuned_what(e) else ""
            lines.append([f"{e['method']} (n={e['n_seeds']}){tuned}", *cells])
        widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]

        def fmt(row: Sequence[str]) -> str:
            cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
            return " | ".join(cells).rstrip()

        title = group_title(key)
        rule = "-+-".join("-" * w for w in widths)
        block = [title, "=" * len(title), fmt(header), rule, *(fmt(r) for r in lines)]
        if best:
            block.append(f"* {winner_note(rank)}")
        if losers:
            block.append(f"† {NO_BETTER}: its {rank.label} is not better than the original's beyond the seeds' noise")
        block += group_notes(family, entries, cols)
        if cached:
            block.append(TIME_NOTE)
        block.append(STD_NOTE)
        blocks.append("\n".join(block))
    failed = [r for r in runs(results) if r.get("status") == "failed"]
    if failed:
        blocks.append(f"{len(failed)} failed run(s): " + ", ".join(
            f"{method_name(r)}[{'/'.join(p for p in group_key(r)[1:] if p)}, seed {r.get('seed')}]" for r in failed
        ))
    if not blocks:
        return "(no successful runs)\n"
    return "\n\n".join(blocks) + "\n"
