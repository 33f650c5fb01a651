"""Report sections for series rows: metric-vs-x curves (sequential requests, forget-size scaling).

A row is a point of a curve when ``row["task"]["series"]`` is ``{"kind", "id", "x", "x_label"}`` (as the
benches' sequential and scaling runners write it). Such rows
are left out of the ordinary per-forget-spec tables; instead each (family, dataset, series id) gets one
section with a grid of curves (each standard metric of the family and the average gap to retrain, mean
± std over seeds, one line per method) and a table of the average gap at every point, with the full
per-point tables folded away below it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..metrics.registry import find_metric, standard_metrics
from .cards import esc, seeds_text, table_html
from .columns import label, table_columns
from .plots import MARKERS, REF_STYLE, mpl_text, save_figure, slug
from .stats import REFERENCE_METHODS, STD_NOTE, is_num, method_order, runs, summarize
from .text import fmt_pm

SERIES_TITLES = {"sequential": "sustainability: sequential requests", "scaling": "scalability: forget size"}


def series_key(row: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """(family, dataset, series id) of a series row, else None."""
    task = row.get("task") if isinstance(row.get("task"), Mapping) else {}
    series = task.get("series") if isinstance(task, Mapping) else None
    if not isinstance(series, Mapping) or "id" not in series or not is_num(series.get("x")):
        return None
    return (str(row.get("family", "?")), str(task.get("dataset", "?")), str(series["id"]))


def split_series(results: Mapping[str, Any]) -> tuple[dict[str, Any], dict[tuple[str, str, str], list[dict]]]:
    """(results without series rows, series key -> its rows in order)."""
    plain, series = [], {}
    for row in runs(results):
        key = series_key(row)
        if key is None:
            plain.append(row)
        else:
            series.setdefault(key, []).append(row)
    return {**results, "runs": plain}, series


def summarize_series(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One series: its kind, x label, the sorted x values and, per x, the summary entries of that point."""
    first = rows[0]["task"]["series"]
    points: dict[float, list[dict]] = {}
    for x in sorted({float(r["task"]["series"]["x"]) for r in rows}):
        at_x = [r for r in rows if float(r["task"]["series"]["x"]) == x]
        points[x] = summarize({"runs": at_x})
    return {"kind": str(first.get("kind", "")), "x_label": str(first.get("x_label", "x")), "xs": list(points),
            "points": points}


def _curve(series: Mapping[str, Any], method: str, metric: str, gap: bool = False) -> tuple[list, list, list]:
    xs, means, stds = [], [], []
    for x in series["xs"]:
        entry = next((e for e in series["points"][x] if e["method"] == method), None)
        stat = None if entry is None else (entry["gap_to_retrain"] if gap else entry["metrics"]).get(metric)
        if stat is not None:
            xs.append(x)
            means.append(stat["mean"])
            stds.append(stat["std"])
    return xs, means, stds


def _methods(series: Mapping[str, Any]) -> list[str]:
    return method_order(e["method"] for x in series["xs"] for e in series["points"][x])


def plot_series(series: Mapping[str, Any], family: str, colors: Mapping[str, str], title: str, target: Path) -> bool:
    """A grid of panels: each standard metric of ``family`` and the average gap, vs the series' x."""
    from matplotlib.figure import Figure

    methods = _methods(series)
    keys = {k for x in series["xs"] for e in series["points"][x] for k in e["metrics"]}
    panels = [(m, False) for m in standard_metrics(family) if m in keys and not _repeats(m, family, keys)]
    if any("average" in e["gap_to_retrain"] for x in series["xs"] for e in series["points"][x]):
        panels.append(("average", True))
    if not panels or len(series["xs"]) < 2:
        return False
    cols = min(3, len(panels))
    rows = -(-len(panels) // cols)
    fig = Figure(figsize=(4.3 * cols, 3.3 * rows + 0.6))
    axes = [fig.add_subplot(rows, cols, i + 1) for i in range(len(panels))]
    others = [m for m in methods if m not in REFERENCE_METHODS]
    for ax, (metric, gap) in zip(axes, panels):
        for method in methods:
            if gap and method == "retrain":
                continue
            xs, means, stds = _curve(series, method, metric, gap)
            if not xs:
                continue
            if method in REF_STYLE:
                color, marker = REF_STYLE[method]
                style = {"ls": "--" if method == "original" else "-", "lw": 2.0 if method == "retrain" else 1.4}
            else:
                color, marker = colors[method], MARKERS[others.index(method) % len(MARKERS)]
                style = {"ls": "-", "lw": 1.4}
            ax.errorbar(xs, means, yerr=stds, color=color, marker=marker, markersize=5, capsize=3,
                        label=mpl_text(method), **style)
        ax.set_title(mpl_text("average gap to retrain (lower is better)" if gap else label(metric, family)),
                     fontsize=10)
        ax.set_xlabel(mpl_text(series["x_label"]), fontsize=9)
        ax.set_xticks(series["xs"])
        ax.grid(True, alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(6, len(labels)), fontsize=9, frameon=False,
               bbox_to_anchor=(0.5, -0.02))
    fig.suptitle(mpl_text(f"{title}\nmean ± std over seeds at each point"), fontsize=11)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    save_figure(fig, target)
    return True


def _repeats(metric: str, family: str, keys: set[str]) -> bool:
    """Whether ``metric`` repeats another metric in ``keys`` under its own name (one panel for both)."""
    declared = find_metric(metric, family)
    return declared is not None and bool(declared.same_as) and declared.same_as in keys


def _x_text(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def series_title(key: tuple[str, str, str], kind: str) -> str:
    family, dataset, sid = key
    what = SERIES_TITLES.get(kind)
    return " · ".join(p for p in (family, dataset, sid) if p) + (f" ({what})" if what else "")


def series_html(idx: int, key: tuple[str, str, str], series: Mapping[str, Any], plot: str | None) -> str:
    """The section: the curves, the average gap at every point, the per-point tables folded away."""
    family = key[0]
    title = series_title(key, series["kind"])
    methods = [m for m in _methods(series) if m != "retrain"]
    head = "".join(f"<th>{esc(series['x_label'])} = {_x_text(x)}</th>" for x in series["xs"])
    body = []
    for method in methods:
        cells = []
        for x in series["xs"]:
            entry = next((e for e in series["points"][x] if e["method"] == method), None)
            stat = None if entry is None else entry["gap_to_retrain"].get("average")
            cells.append(f"<td>{esc(fmt_pm(stat, 2))}</td>")
        tag = ' class="ref"' if method in REFERENCE_METHODS else ""
        body.append(f"<tr{tag}><td>{esc(method)}</td>{''.join(cells)}</tr>")
    table = (f'<div class="scroll"><table><thead><tr><th>Average gap to retrain</th>{head}</tr></thead>'
             f'<tbody>{"".join(body)}</tbody></table></div><p class="legend">{esc(STD_NOTE)}</p>')
    details = []
    for x in series["xs"]:
        entries = series["points"][x]
        cols = table_columns(family, entries)
        details.append(f"<h3>{esc(series['x_label'])} = {_x_text(x)}</h3>"
                       f"{table_html(family, entries, cols, main=True)}")
    seeds = sorted({s for x in series["xs"] for e in series["points"][x] for s in e["seeds"]})
    explain = {
        "sequential": "Each method handles the requests one after another, each from its own previous result; "
                      "retrain is retrained without everything forgotten so far.",
        "scaling": "Each point forgets a larger nested set, from the original in one request; retrain is "
                   "retrained without it.",
    }.get(series["kind"], "")
    figure = f'<div class="plots"><figure><img src="{esc(plot)}" alt="{esc(title)}" loading="lazy"></figure></div>' if plot else ""
    return (
        f'<section class="card" id="s{idx}"><h2>{esc(title)}</h2>'
        f'<p class="sub">{esc(explain)} {len(series["xs"])} points · {seeds_text(seeds)}</p>{figure}{table}'
        f'<details><summary>All metrics at every point</summary>{"".join(details)}</details></section>'
    )


def series_sections(series_rows: Mapping[tuple[str, str, str], list[dict]], colors: Mapping[str, str],
                     plots_dir: Path) -> list[tuple[str, str, str]]:
    """(anchor id, title, html) of every series section, plots written under ``plots_dir``."""
    out = []
    for idx, (key, rows) in enumerate(series_rows.items(), start=1):
        ok = [r for r in rows if r.get("status") == "ok"]
        if not ok:
            continue
        series = summarize_series(ok)
        title = series_title(key, series["kind"])
        name = f"s{idx}-{slug(title)}.png"
        plot = f"plots/{name}" if plot_series(series, key[0], colors, title, plots_dir / name) else None
        out.append((f"s{idx}", title, series_html(idx, key, series, plot)))
    return out
