"""Plain-text output: ``mean ± std`` cells and the fixed-width tables of :func:`format_table_text`."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from .columns import label, table_columns
from .stats import STD_NOTE, best_average, group_key, group_title, grouped, method_name, runs, summarize

__all__ = ["decimals", "fmt_pm", "format_table_text"]


def decimals(mean: float, minimum: int = 2) -> int:
    """Enough decimals for about three significant digits on small numbers."""
    if mean == 0 or abs(mean) >= 1:
        return minimum
    return min(6, max(minimum, -math.floor(math.log10(abs(mean))) + 2))


def fmt_pm(stat: Mapping[str, float] | None, places: int | None = None, suffix: str = "") -> str:
    """``mean ± std`` with ``places`` decimals (automatic when None); ``-`` for no statistic."""
    if not stat:
        return "-"
    d = decimals(stat["mean"]) if places is None else places
    return f"{stat['mean']:.{d}f} ± {stat['std']:.{d}f}{suffix}"


def format_table_text(results: dict) -> str:
    """Fixed-width tables, one per (family, dataset, forget_spec), values ``mean ± std`` over seeds.

    Columns: Method | the family's standard metrics (all metrics when it has none) | Avg.Gap | Time
    ratio. The lowest average gap among non-reference methods is marked ``*``.
    """
    summary = summarize(results)
    blocks: list[str] = []
    for key, entries in grouped(summary):
        cols = table_columns(key[0], entries)
        best = best_average(entries)
        header = ["Method", *(label(c, key[0]) for c in cols), "Avg.Gap", "Time ratio"]
        lines = []
        for e in entries:
            avg = fmt_pm(e["gap_to_retrain"].get("average"), 2)
            if e["method"] in best:
                avg += " *"
            n = f" (n={e['n_seeds']})"
            lines.append(
                [
                    e["method"] + n,
                    *(fmt_pm(e["metrics"].get(c), 2) for c in cols),
                    avg,
                    fmt_pm(e["time_ratio"], None, ""),
                ]
            )
        widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]

        def fmt(row: Sequence[str]) -> str:
            cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
            return " | ".join(cells).rstrip()

        title = group_title(key)
        rule = "-+-".join("-" * w for w in widths)
        block = [title, "=" * len(title), fmt(header), rule, *(fmt(r) for r in lines)]
        if best:
            block.append("* lowest average gap to retrain (retrain/original excluded)")
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
