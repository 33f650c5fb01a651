"""PNG plots of the report: shared figure helpers (colours, reference styles, atomic save), the one
metric-vs-metric scatter the families use, and the plots every group gets (run time, average gap).

A plot function takes a group's summary entries, the method colours, a title and the target path and
returns whether it drew anything (False: nothing to plot, no file written).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..utils.io import atomic_path
from .numbers import decimals
from .stats import REFERENCE_METHODS
from .verdict import no_better, ranking, winners

__all__ = ["REF_STYLE", "MARKERS", "axis_limits", "barh", "colors_for", "mpl_text", "new_figure", "plot_gap", "plot_time",
           "save_figure", "scatter", "slug", "spread"]

DPI = 120
#: colour and marker of each reference method
REF_STYLE = {"retrain": ("black", "*"), "original": ("#8c8c8c", "X"), "clean": ("#2ca02c", "P"),
             "corrupted": ("#d62728", "X"), "dp2_base": ("#9467bd", "D")}
MARKERS = ("o", "s", "D", "^", "v", "P", "<", ">", "p", "h")


def mpl_text(value: Any) -> str:
    """Text safe for matplotlib labels: a '$' would otherwise switch on mathtext."""
    return str(value).replace("$", r"\$")


def slug(text: str) -> str:
    """A file-name-safe stem of ``text`` (at most 60 characters)."""
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:60] or "group"


def colors_for(methods: Sequence[str]) -> dict[str, str]:
    """method -> hex colour: the references' fixed colours, tab10 (tab20 beyond ten) for the others."""
    from matplotlib import colormaps

    others = [m for m in methods if m not in REFERENCE_METHODS]
    cmap = colormaps["tab10" if len(others) <= 10 else "tab20"]
    colors = {m: c for m, (c, _) in REF_STYLE.items()}
    for i, m in enumerate(others):
        r, g, b, _ = cmap(i % cmap.N)
        colors[m] = f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}"
    return colors


def new_figure(width: float, height: float) -> Any:
    """(figure, axes) of a bare Figure: rendered through Agg without pyplot (no global backend switch,
    no figure registry)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    return fig, fig.add_subplot(1, 1, 1)


def save_figure(fig: Any, target: Path) -> None:
    """Write ``fig`` as a PNG atomically (a killed run's temporaries are cleaned by the next)."""
    with atomic_path(target, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=DPI, bbox_inches="tight", facecolor="white")


def axis_limits(means: Sequence[float], stds: Sequence[float], *, percent: bool = False, margin: float = 0.12,
                pad: float = 0.03) -> tuple[float, float]:
    """Limits of an axis showing ``means`` ± ``stds`` with ``margin`` × span on each side. A percentage
    axis (``percent``) whose means lie within [0, 100] never runs past them: error bars are cut at the
    bound and the axis stops ``pad`` × span beyond it, room for a marker sitting on it. A span of 0
    counts as 1."""
    cap_lo = percent and min(means) >= 0.0
    cap_hi = percent and max(means) <= 100.0
    lo = min(m - s for m, s in zip(means, stds))
    hi = max(m + s for m, s in zip(means, stds))
    lo, hi = (max(lo, 0.0) if cap_lo else lo), (min(hi, 100.0) if cap_hi else hi)
    span = (hi - lo) or 1.0
    out_lo, out_hi = lo - margin * span, hi + margin * span
    if cap_lo:
        out_lo = max(out_lo, -pad * span)
    if cap_hi:
        out_hi = min(out_hi, 100.0 + pad * span)
    return out_lo, out_hi


def spread(points: Sequence[tuple[float, float]], priority: Sequence[int], *, threshold: float = 0.025,
           radius: float = 0.035) -> tuple[list[tuple[float, float]], list[list[int]]]:
    """Deterministic offsets that pull coinciding points apart, in axes-fraction units (0..1).

    Points closer than ``threshold`` form a cluster. The cluster's points of the highest ``priority``
    above 0 stay (retrain before the other references); its other points go on an arc of ``radius``
    around the staying points' centre (the cluster's centre when all have priority 0), 40° apart, facing
    the middle of the axes so they stay inside. Returns (offset per point, the clusters of two or more
    points)."""
    n = len(points)
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for i in range(n):
        for j in range(i + 1, n):
            if math.dist(points[i], points[j]) < threshold:
                parent[root(j)] = root(i)
    clusters: dict[int, list[int]] = {}
    for i in range(n):
        clusters.setdefault(root(i), []).append(i)
    offsets = [(0.0, 0.0)] * n
    groups = [c for c in clusters.values() if len(c) > 1]
    for members in groups:
        top = max(priority[i] for i in members)
        anchors = [i for i in members if priority[i] == top] if top > 0 else members
        ax_ = sum(points[i][0] for i in anchors) / len(anchors)
        ay_ = sum(points[i][1] for i in anchors) / len(anchors)
        movable = [i for i in members if top == 0 or priority[i] < top]
        base = math.atan2(0.5 - ay_, 0.5 - ax_) if (ax_, ay_) != (0.5, 0.5) else math.pi / 2
        step = math.radians(40.0) if len(movable) <= 8 else 2 * math.pi / len(movable)
        for k, i in enumerate(movable):
            angle = base + (k - (len(movable) - 1) / 2) * step
            offsets[i] = (ax_ + radius * math.cos(angle) - points[i][0], ay_ + radius * math.sin(angle) - points[i][1])
    return offsets, groups


def is_percent(metric: str) -> bool:
    """Whether a metric is a percentage (its registered unit is ``%``)."""
    from ..metrics.registry import find_metric

    found = find_metric(metric)
    return found is not None and found.unit == "%"


def scatter(entries: Sequence[dict], colors: Mapping[str, str], target: Path, *, x: str, y: str,
            xlabel: str, ylabel: str, title: str) -> bool:
    """Metric ``y`` against metric ``x``, one point per method with its std as error bars; retrain is a
    star with dotted cross-hairs, the other references their own marker. References are drawn first, the
    methods on top with a dark outline; points that would hide each other are pulled apart
    (:func:`spread`) and the x label names them; percentage axes stop at 0 and 100 (:func:`axis_limits`)."""
    pts = [e for e in entries if x in e["metrics"] and y in e["metrics"]]
    if not pts:
        return False
    from matplotlib.colors import to_rgba

    pts.sort(key=lambda e: e["method"] not in REFERENCE_METHODS)  # references first, drawn underneath
    fig, ax = new_figure(7.6, 5.0)
    others = [e for e in pts if e["method"] not in REFERENCE_METHODS]
    xs = [(e["metrics"][x]["mean"], e["metrics"][x]["std"]) for e in pts]
    ys = [(e["metrics"][y]["mean"], e["metrics"][y]["std"]) for e in pts]
    xlim = axis_limits([m for m, _ in xs], [s for _, s in xs], percent=is_percent(x))
    ylim = axis_limits([m for m, _ in ys], [s for _, s in ys], percent=is_percent(y))
    norm = [((mx - xlim[0]) / (xlim[1] - xlim[0]), (my - ylim[0]) / (ylim[1] - ylim[0]))
            for (mx, _), (my, _) in zip(xs, ys)]
    priority = [2 if e["method"] == "retrain" else 1 if e["method"] in REFERENCE_METHODS else 0 for e in pts]
    offsets, overlaps = spread(norm, priority)
    for i, e in enumerate(pts):
        (mx, sx), (my, sy) = xs[i], ys[i]
        px = mx + offsets[i][0] * (xlim[1] - xlim[0])
        py = my + offsets[i][1] * (ylim[1] - ylim[0])
        method = e["method"]
        if method in REF_STYLE:
            color, marker = REF_STYLE[method]
            size, z, edge = (16, 2.5, "black") if method == "retrain" else (10, 2, "white")
            label = f"{method} (reference)" if method == "retrain" else f"{method} (before unlearning)"
        else:
            color, marker = colors[method], MARKERS[others.index(e) % len(MARKERS)]
            size, z, edge, label = 8, 4, "#1f2933", method
        ax.errorbar(
            px, py, xerr=sx, yerr=sy, fmt=marker, color=color, markersize=size, markeredgecolor=edge,
            markeredgewidth=0.9, ecolor=to_rgba(color, 0.55), elinewidth=1.2, capsize=3, zorder=z,
            label=mpl_text(label),
        )
        if method == "retrain":
            ax.axvline(mx, color="black", lw=0.8, ls=":", zorder=1)
            ax.axhline(my, color="black", lw=0.8, ls=":", zorder=1)
    notes = []
    for members in overlaps:
        stay = [pts[i]["method"] for i in members if offsets[i] == (0.0, 0.0)]
        moved = [pts[i]["method"] for i in members if offsets[i] != (0.0, 0.0)]
        notes.append(", ".join(moved) + (f" at {', '.join(stay)}" if stay else " together"))
    if notes:
        xlabel += "\nshifted apart to stay visible (values in the table): " + "; ".join(notes)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_xlabel(mpl_text(xlabel))
    ax.set_ylabel(ylabel)
    ax.set_title(mpl_text(title), fontsize=11)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=9, frameon=False, borderaxespad=0)
    save_figure(fig, target)
    return True


def barh(
    ax: Any, labels: Sequence[str], means: Sequence[float], stds: Sequence[float] | None,
    colors: Sequence[str], hatches: Sequence[str] | None = None,
) -> None:
    """Horizontal bars, first label on top, with error bars and an x grid."""
    y = list(range(len(labels)))
    bars = ax.barh(y, means, xerr=stds, color=colors, edgecolor="white", height=0.65,
                   error_kw={"ecolor": "#333333", "capsize": 3, "elinewidth": 1}, zorder=3)
    if hatches:
        for bar, hatch in zip(bars, hatches):
            if hatch:
                bar.set_hatch(hatch)
                bar.set_edgecolor("#555555")
    ax.set_yticks(y, [mpl_text(lab) for lab in labels])
    ax.invert_yaxis()
    ax.grid(True, axis="x", alpha=0.3, zorder=0)
    ax.tick_params(axis="y", length=0)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def plot_time(entries: Sequence[dict], colors: Mapping[str, str], title: str, target: Path) -> bool:
    """Unlearning time relative to retrain, one bar per method (log scale when the ratios span > 20x)."""
    # "original" does no unlearning (0 s), so it has no place on a ratio axis.
    pts = [e for e in entries if e["time_ratio"] is not None and e["method"] != "original"]
    pts = [e for e in pts if e["time_ratio"]["mean"] > 0]
    if not pts:
        return False
    means = [e["time_ratio"]["mean"] for e in pts]
    stds = [e["time_ratio"]["std"] for e in pts]
    log = max(means) / min(means) > 20
    fig, ax = new_figure(7.6, 1.3 + 0.5 * len(pts))
    bar_colors = ["#6b7280" if e["method"] == "retrain" else colors[e["method"]] for e in pts]
    approx = [e["time_ratio_cached"] and e["method"] not in REFERENCE_METHODS for e in pts]
    barh(ax, [e["method"] + (" ≈" if a else "") for e, a in zip(pts, approx)], means, None if log else stds, bar_colors)
    if log:
        ax.set_xscale("log")
        ax.errorbar(means, range(len(pts)), xerr=[[min(s, m * 0.999) for s, m in zip(stds, means)], stds],
                    fmt="none", ecolor="#333333", capsize=3, elinewidth=1, zorder=4)
    ax.axvline(1.0, color="black", lw=1, ls="--", zorder=2)
    lo, hi = min(means), max(m + s for m, s in zip(means, stds))
    for i, m in enumerate(means):
        text = f"{m:.{decimals(m)}f}×" if m < 10 else f"{m:.1f}×"
        xpos = (m + stds[i]) * 1.15 if log else m + stds[i] + 0.02 * max(hi, 1.0)
        ax.text(xpos, i, text, va="center", fontsize=9, zorder=5,
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 1.0, "alpha": 0.85})
    if log:
        ax.set_xlim(lo / 2.5, max(hi, 1.0) * 6)
    else:
        ax.set_xlim(0, max(hi, 1.0) * 1.25)
    ax.set_xlabel("unlearning time / retrain time" + (" (log scale)" if log else "") + "   (dashed: retrain = 1×)"
                  + ("\n≈: retrain time read from the model cache (another process), not measured alongside" if any(approx)
                     else ""))
    ax.set_title(mpl_text(f"Run time relative to retrain — {title}"), fontsize=11)
    save_figure(fig, target)
    return True


def plot_gap(entries: Sequence[dict], colors: Mapping[str, str], title: str, target: Path) -> bool:
    """Average gap to retrain per method, lowest first, original (no unlearning) last and hatched."""
    # retrain is the reference (gap 0 by definition); original is kept as the do-nothing baseline.
    pts = [e for e in entries if e["method"] != "retrain" and "average" in e["gap_to_retrain"]]
    if not pts:
        return False
    pts.sort(key=lambda e: (e["method"] == "original", e["gap_to_retrain"]["average"]["mean"]))
    rank = ranking(pts[0]["family"], entries)
    best, losers = winners(entries, rank), no_better(entries, rank)
    means = [e["gap_to_retrain"]["average"]["mean"] for e in pts]
    stds = [e["gap_to_retrain"]["average"]["std"] for e in pts]
    fig, ax = new_figure(7.6, 1.3 + 0.5 * len(pts))
    labels = [e["method"] + ("  (best)" if e["method"] in best else "  (no better than original)"
                             if e["method"] in losers else "") for e in pts]
    barh(ax, labels, means, stds, [colors[e["method"]] for e in pts],
         ["//" if e["method"] == "original" else "" for e in pts])
    hi = max(m + s for m, s in zip(means, stds)) or 1.0
    for i, (m, s) in enumerate(zip(means, stds)):
        ax.text(m + s + 0.02 * hi, i, f"{m:.2f} ± {s:.2f}", va="center", fontsize=9,
                fontweight="bold" if pts[i]["method"] in best else "normal", zorder=5,
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 1.0, "alpha": 0.85})
    xlabel = "average |metric − retrain metric| (percentage points), lower is better"
    orig = next((e for e in pts if e["method"] == "original"), None)
    if orig is not None and len(pts) > 1:
        ax.axvline(orig["gap_to_retrain"]["average"]["mean"], color="#6b6b6b", lw=1.2, ls=":", zorder=2)
        xlabel += "\n(dotted: original, i.e. no unlearning at all)"
    ax.set_xlim(0, hi * 1.3)
    ax.set_xlabel(xlabel)
    ax.set_title(mpl_text(f"Average gap to retrain — {title}"), fontsize=11)
    save_figure(fig, target)
    return True
