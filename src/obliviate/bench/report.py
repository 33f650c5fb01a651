"""Turn a benchmark's ``results.json`` into something people would rather look at than read.

Three entry points:

* :func:`summarize` - one entry per (family, dataset, forget_spec, method) group of ok rows with the
  mean and sample std (ddof=1, :data:`STD_NOTE`) over seeds of every metric, every ``gap_to_retrain`` key, the
  unlearning seconds and the time ratio ``seconds / retrain_seconds``.
* :func:`format_table_text` - fixed-width plain-text tables for the terminal.
* :func:`write_report` - ``out_dir/report.html`` (inline CSS, no JS, no external resources) plus PNG
  plots in ``out_dir/plots/`` referenced by relative path.

The report never trusts its input to be complete: missing keys, ``None`` values, failed rows with empty
metrics and families it does not know about (lm, clip, ...) all render; the classifier-only plot
(UA vs RA) is drawn only for classifier groups; lm groups get MUSE's pass/fail criteria
(:data:`MUSE_CRITERIA`), a KnowMem forget-vs-retain plot and PrivLeak bars.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..utils.io import atomic_path, atomic_write_text

__all__ = ["STD_NOTE", "format_table_text", "muse_verdicts", "sample_std", "summarize", "write_report"]

#: Methods that are not unlearning methods but references: never "best", drawn distinctly.
#: (clean / corrupted: the RESTOR bench; dp2_base: DP2's DP-trained base before any request.)
REFERENCE_METHODS: tuple[str, ...] = ("retrain", "original", "clean", "corrupted", "dp2_base")

#: Standard metrics per family, in display order (others found in the rows follow, sorted).
FAMILY_METRICS: dict[str, tuple[str, ...]] = {
    "classifier": ("unlearning_accuracy", "retain_accuracy", "test_accuracy", "mia_efficacy"),
    "lm": ("verbmem_forget", "knowmem_forget", "knowmem_retain", "privleak", "utility"),
    "clip": ("mem", "for", "h"),
}

#: Short column labels for well-known metrics.
METRIC_LABELS: dict[str, str] = {
    "unlearning_accuracy": "UA",
    "retain_accuracy": "RA",
    "test_accuracy": "TA",
    "mia_efficacy": "MIA",
    "forget_accuracy": "FA",
    "mia_entropy": "MIA (entropy)",
    "mia_modified_entropy": "MIA (m-entropy)",
    "mia_correctness": "MIA (correct)",
    "mia_prob": "MIA (prob)",
    "verbmem_forget": "VerbMem (forget)",
    "knowmem_forget": "KnowMem (forget)",
    "knowmem_retain": "KnowMem (retain)",
    "privleak": "PrivLeak",
    "utility": "Utility",
    "mem": "Mem",
    "for": "For",
    "h": "H",
}

#: MUSE-style criteria for lm groups, each judged on the mean over seeds against the same group's
#: references: (name, metric, description). See :func:`muse_verdicts`.
MUSE_CRITERIA: tuple[tuple[str, str, str], ...] = (
    ("No VerbMem", "verbmem_forget", "VerbMem on forget at or below retrain's"),
    ("No KnowMem", "knowmem_forget", "KnowMem on forget at or below retrain's"),
    ("No privacy leak", "privleak", "PrivLeak within [-5, 5]"),
    ("Utility kept", "utility", "utility (KnowMem on retain) at least 95% of the original's"),
)
PRIVLEAK_BAND = 5.0
UTILITY_KEPT = 0.95

_DPI = 120
_REF_STYLE = {"retrain": ("black", "*"), "original": ("#8c8c8c", "X"), "clean": ("#2ca02c", "P"),
              "corrupted": ("#d62728", "X"), "dp2_base": ("#9467bd", "D")}
_MARKERS = ("o", "s", "D", "^", "v", "P", "<", ">", "p", "h")


# ------------------------------------------------------------------------------------------------
# small helpers


def _is_num(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


#: The one std convention of every report, script and doc: the sample standard deviation over seeds.
STD_NOTE = "± = sample standard deviation over seeds (ddof=1; 0 for a single seed)"


def sample_std(values: Sequence[float]) -> float:
    """Sample standard deviation (ddof=1) of ``values``; 0.0 for fewer than two values."""
    if len(values) < 2:
        return 0.0
    mean = math.fsum(values) / len(values)
    return math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1))


def _stats(values: Iterable[Any]) -> dict[str, float] | None:
    """Mean and sample std (ddof=1) of the finite numbers in ``values``; None when there are none."""
    vals = [float(v) for v in values if _is_num(v)]
    if not vals:
        return None
    return {"mean": math.fsum(vals) / len(vals), "std": sample_std(vals), "n": len(vals)}


def _runs(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    runs = results.get("runs") if isinstance(results, Mapping) else None
    return [r for r in (runs or []) if isinstance(r, Mapping)]  # type: ignore[misc]


def _method_name(row: Mapping[str, Any]) -> str:
    method = row.get("method")
    if isinstance(method, Mapping):
        return str(method.get("name", "?"))
    return str(method) if method is not None else "?"


def _group_key(row: Mapping[str, Any]) -> tuple[str, str, str]:
    task = row.get("task") if isinstance(row.get("task"), Mapping) else {}
    spec = str(task.get("forget_spec") or task.get("scenario") or "")
    if task.get("prune"):  # prune-first rows form their own group
        spec += f" (pruned {task['prune']})"
    return (str(row.get("family", "?")), str(task.get("dataset", "?")), spec)


def _time_ratio(row: Mapping[str, Any]) -> float | None:
    seconds, ref = row.get("seconds"), row.get("retrain_seconds")
    if not _is_num(seconds) or not _is_num(ref) or ref <= 0:
        return None
    return float(seconds) / float(ref)


def _method_order(names: Iterable[str]) -> list[str]:
    """References first (retrain, original), then the others in order of first appearance."""
    seen: list[str] = []
    for name in names:
        if name not in seen:
            seen.append(name)
    return [m for m in REFERENCE_METHODS if m in seen] + [m for m in seen if m not in REFERENCE_METHODS]


def _metric_columns(family: str, keys: Iterable[str]) -> list[str]:
    keys = set(keys)
    std = [k for k in FAMILY_METRICS.get(family, ()) if k in keys]
    return std + sorted(k for k in keys if k not in std)


def _label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric)


def _decimals(mean: float, minimum: int = 2) -> int:
    """Enough decimals for about three significant digits on small numbers."""
    if mean == 0 or abs(mean) >= 1:
        return minimum
    return min(6, max(minimum, -math.floor(math.log10(abs(mean))) + 2))


def _fmt_pm(stat: Mapping[str, float] | None, decimals: int | None = None, suffix: str = "") -> str:
    if not stat:
        return "-"
    d = _decimals(stat["mean"]) if decimals is None else decimals
    return f"{stat['mean']:.{d}f} ± {stat['std']:.{d}f}{suffix}"


def _esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _mpl_text(value: Any) -> str:
    """Text safe for matplotlib labels: a '$' would otherwise switch on mathtext."""
    return str(value).replace("$", r"\$")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:60] or "group"


def _atomic_save_figure(fig: Any, target: Path) -> None:
    with atomic_path(target, suffix=".png") as tmp:  # a killed run's temporaries are cleaned by the next
        fig.savefig(tmp, format="png", dpi=_DPI, bbox_inches="tight", facecolor="white")


# ------------------------------------------------------------------------------------------------
# summary


def summarize(results: dict) -> list[dict]:
    """Aggregate ok rows over seeds, one entry per (family, dataset, forget_spec, method).

    Each entry: ``family, dataset, forget_spec, method, n_seeds, seeds, metric_keys`` (every metric
    name seen, even when all its values are None) and the statistics
    ``metrics``/``gap_to_retrain`` (key -> ``{"mean", "std", "n"}``), ``seconds`` and ``time_ratio``
    (``{"mean", "std", "n"}`` or None when no row has the value). The std is the sample std
    (ddof=1), so a single seed gives 0. ``None`` and non-finite values are left out of the statistics.
    Groups keep the order in which they first appear; within a group retrain and original come first.
    """
    groups: dict[tuple[str, str, str], dict[str, list[dict[str, Any]]]] = {}
    for row in _runs(results):
        if row.get("status") != "ok":
            continue
        groups.setdefault(_group_key(row), {}).setdefault(_method_name(row), []).append(row)

    out: list[dict] = []
    for (family, dataset, spec), by_method in groups.items():
        for method in _method_order(by_method):
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
            metrics = {k: _stats((r.get("metrics") or {}).get(k) for r in rows) for k in metric_keys}
            gaps = {k: _stats((r.get("gap_to_retrain") or {}).get(k) for r in rows) for k in gap_keys}
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
                    "seconds": _stats(r.get("seconds") for r in rows),
                    "time_ratio": _stats(_time_ratio(r) for r in rows),
                }
            )
    return out


def _grouped(summary: Sequence[dict]) -> list[tuple[tuple[str, str, str], list[dict]]]:
    groups: dict[tuple[str, str, str], list[dict]] = {}
    for entry in summary:
        groups.setdefault((entry["family"], entry["dataset"], entry["forget_spec"]), []).append(entry)
    return list(groups.items())


def _table_columns(family: str, entries: Sequence[dict]) -> list[str]:
    """Main table metric columns: the family's standard metrics present, else everything found."""
    keys: set[str] = set()
    for e in entries:
        keys.update(e.get("metric_keys", e["metrics"]))
    std = [k for k in FAMILY_METRICS.get(family, ()) if k in keys]
    return std if std else _metric_columns(family, keys)


def _closeness(entries: Sequence[dict], metric: str) -> dict[str, float]:
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


def _argmins(dist: Mapping[str, float]) -> set[str]:
    if not dist:
        return set()
    best = min(dist.values())
    return {m for m, d in dist.items() if d <= best + 1e-9}


def _best_average(entries: Sequence[dict]) -> set[str]:
    return _argmins(
        {
            e["method"]: e["gap_to_retrain"]["average"]["mean"]
            for e in entries
            if e["method"] not in REFERENCE_METHODS and "average" in e["gap_to_retrain"]
        }
    )


def _group_title(key: tuple[str, str, str]) -> str:
    family, dataset, spec = key
    return " · ".join(p for p in (family, dataset, spec) if p)


# ------------------------------------------------------------------------------------------------
# plain text


def format_table_text(results: dict) -> str:
    """Fixed-width tables, one per (family, dataset, forget_spec), values ``mean ± std`` over seeds.

    Classifier columns: Method | UA | RA | TA | MIA | Avg.Gap | Time ratio; other families show their
    own metrics in place of UA..MIA. The lowest average gap among non-reference methods is marked ``*``.
    """
    summary = summarize(results)
    blocks: list[str] = []
    for key, entries in _grouped(summary):
        cols = _table_columns(key[0], entries)
        best = _best_average(entries)
        header = ["Method", *(_label(c) for c in cols), "Avg.Gap", "Time ratio"]
        lines = []
        for e in entries:
            avg = _fmt_pm(e["gap_to_retrain"].get("average"), 2)
            if e["method"] in best:
                avg += " *"
            n = f" (n={e['n_seeds']})"
            lines.append(
                [
                    e["method"] + n,
                    *(_fmt_pm(e["metrics"].get(c), 2) for c in cols),
                    avg,
                    _fmt_pm(e["time_ratio"], None, ""),
                ]
            )
        widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]

        def fmt(row: Sequence[str]) -> str:
            cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
            return " | ".join(cells).rstrip()

        title = _group_title(key)
        rule = "-+-".join("-" * w for w in widths)
        block = [title, "=" * len(title), fmt(header), rule, *(fmt(r) for r in lines)]
        if best:
            block.append("* lowest average gap to retrain (retrain/original excluded)")
        block.append(STD_NOTE)
        blocks.append("\n".join(block))
    failed = [r for r in _runs(results) if r.get("status") == "failed"]
    if failed:
        blocks.append(f"{len(failed)} failed run(s): " + ", ".join(
            f"{_method_name(r)}[{'/'.join(p for p in _group_key(r)[1:] if p)}, seed {r.get('seed')}]" for r in failed
        ))
    if not blocks:
        return "(no successful runs)\n"
    return "\n\n".join(blocks) + "\n"


# ------------------------------------------------------------------------------------------------
# plots


def _colors(methods: Sequence[str]) -> dict[str, str]:
    from matplotlib import colormaps

    others = [m for m in methods if m not in REFERENCE_METHODS]
    cmap = colormaps["tab10" if len(others) <= 10 else "tab20"]
    colors = {m: c for m, (c, _) in _REF_STYLE.items()}
    for i, m in enumerate(others):
        r, g, b, _ = cmap(i % cmap.N)
        colors[m] = f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}"
    return colors


def _new_figure(width: float, height: float) -> Any:
    # A bare Figure renders through Agg without pyplot: no global backend switch, no figure registry.
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    return fig, fig.add_subplot(1, 1, 1)


def _plot_ua_ra(entries: Sequence[dict], colors: Mapping[str, str], title: str, target: Path) -> bool:
    pts = [e for e in entries if "unlearning_accuracy" in e["metrics"] and "retain_accuracy" in e["metrics"]]
    if not pts:
        return False
    from matplotlib.colors import to_rgba

    fig, ax = _new_figure(7.6, 5.0)
    others = [e for e in pts if e["method"] not in REFERENCE_METHODS]
    for e in pts:
        ua, ra = e["metrics"]["unlearning_accuracy"], e["metrics"]["retain_accuracy"]
        method = e["method"]
        if method in _REF_STYLE:
            color, marker = _REF_STYLE[method]
            size, z = (16, 5) if method == "retrain" else (10, 4)
            label = f"{method} (reference)" if method == "retrain" else f"{method} (before unlearning)"
        else:
            color, marker = colors[method], _MARKERS[others.index(e) % len(_MARKERS)]
            size, z, label = 8, 3, method
        ax.errorbar(
            ra["mean"], ua["mean"], xerr=ra["std"], yerr=ua["std"], fmt=marker, color=color,
            markersize=size, markeredgecolor="white" if method != "retrain" else "black",
            markeredgewidth=0.8, ecolor=to_rgba(color, 0.55), elinewidth=1.2, capsize=3, zorder=z,
            label=_mpl_text(label),
        )
        if method == "retrain":
            ax.axvline(ra["mean"], color="black", lw=0.8, ls=":", zorder=1)
            ax.axhline(ua["mean"], color="black", lw=0.8, ls=":", zorder=1)
    ax.set_xlabel("Retain accuracy RA (%)  →  higher keeps more")
    ax.set_ylabel("Unlearning accuracy UA = 100 − forget acc. (%)")
    ax.set_title(_mpl_text(f"UA vs RA — {title}\nmean ± std over seeds; closer to ★ retrain is better"), fontsize=11)
    ax.grid(True, alpha=0.3)
    ax.margins(0.12)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=9, frameon=False, borderaxespad=0)
    _atomic_save_figure(fig, target)
    return True


def _barh(
    ax: Any, labels: Sequence[str], means: Sequence[float], stds: Sequence[float] | None,
    colors: Sequence[str], hatches: Sequence[str] | None = None,
) -> None:
    y = list(range(len(labels)))
    bars = ax.barh(y, means, xerr=stds, color=colors, edgecolor="white", height=0.65,
                   error_kw={"ecolor": "#333333", "capsize": 3, "elinewidth": 1}, zorder=3)
    if hatches:
        for bar, hatch in zip(bars, hatches):
            if hatch:
                bar.set_hatch(hatch)
                bar.set_edgecolor("#555555")
    ax.set_yticks(y, [_mpl_text(lab) for lab in labels])
    ax.invert_yaxis()
    ax.grid(True, axis="x", alpha=0.3, zorder=0)
    ax.tick_params(axis="y", length=0)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _plot_time(entries: Sequence[dict], colors: Mapping[str, str], title: str, target: Path) -> bool:
    # "original" does no unlearning (0 s), so it has no place on a ratio axis.
    pts = [e for e in entries if e["time_ratio"] is not None and e["method"] != "original"]
    pts = [e for e in pts if e["time_ratio"]["mean"] > 0]
    if not pts:
        return False
    means = [e["time_ratio"]["mean"] for e in pts]
    stds = [e["time_ratio"]["std"] for e in pts]
    log = max(means) / min(means) > 20
    fig, ax = _new_figure(7.6, 1.3 + 0.5 * len(pts))
    bar_colors = ["#6b7280" if e["method"] == "retrain" else colors[e["method"]] for e in pts]
    _barh(ax, [e["method"] for e in pts], means, None if log else stds, bar_colors)
    if log:
        ax.set_xscale("log")
        ax.errorbar(means, range(len(pts)), xerr=[[min(s, m * 0.999) for s, m in zip(stds, means)], stds],
                    fmt="none", ecolor="#333333", capsize=3, elinewidth=1, zorder=4)
    ax.axvline(1.0, color="black", lw=1, ls="--", zorder=2)
    lo, hi = min(means), max(m + s for m, s in zip(means, stds))
    for i, m in enumerate(means):
        text = f"{m:.{_decimals(m)}f}×" if m < 10 else f"{m:.1f}×"
        xpos = (m + stds[i]) * 1.15 if log else m + stds[i] + 0.02 * max(hi, 1.0)
        ax.text(xpos, i, text, va="center", fontsize=9, zorder=5,
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 1.0, "alpha": 0.85})
    if log:
        ax.set_xlim(lo / 2.5, max(hi, 1.0) * 6)
    else:
        ax.set_xlim(0, max(hi, 1.0) * 1.25)
    ax.set_xlabel("unlearning time / retrain time" + (" (log scale)" if log else "") + "   (dashed: retrain = 1×)")
    ax.set_title(_mpl_text(f"Run time relative to retrain — {title}"), fontsize=11)
    _atomic_save_figure(fig, target)
    return True


def _plot_gap(entries: Sequence[dict], colors: Mapping[str, str], title: str, target: Path) -> bool:
    # retrain is the reference (gap 0 by definition); original is kept as the do-nothing baseline.
    pts = [e for e in entries if e["method"] != "retrain" and "average" in e["gap_to_retrain"]]
    if not pts:
        return False
    pts.sort(key=lambda e: (e["method"] == "original", e["gap_to_retrain"]["average"]["mean"]))
    best = _best_average(entries)
    means = [e["gap_to_retrain"]["average"]["mean"] for e in pts]
    stds = [e["gap_to_retrain"]["average"]["std"] for e in pts]
    fig, ax = _new_figure(7.6, 1.3 + 0.5 * len(pts))
    labels = [e["method"] + ("  (best)" if e["method"] in best else "") for e in pts]
    _barh(ax, labels, means, stds, [colors[e["method"]] for e in pts],
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
    ax.set_title(_mpl_text(f"Average gap to retrain — {title}"), fontsize=11)
    _atomic_save_figure(fig, target)
    return True


def muse_verdicts(entries: Sequence[dict]) -> dict[str, dict[str, bool | None]]:
    """method -> {criterion name: passed?} for the non-reference methods of one lm group (None when a
    metric or the reference it is judged against is missing); thresholds in :data:`MUSE_CRITERIA`."""
    means = {e["method"]: {k: v["mean"] for k, v in e["metrics"].items()} for e in entries}
    retrain, original = means.get("retrain", {}), means.get("original", {})
    out: dict[str, dict[str, bool | None]] = {}
    for method, m in means.items():
        if method in REFERENCE_METHODS:
            continue
        verdict: dict[str, bool | None] = {}
        for name, metric, _ in MUSE_CRITERIA:
            value = m.get(metric)
            if metric == "privleak":
                ok = None if value is None else abs(value) <= PRIVLEAK_BAND
            elif metric == "utility":
                ref = original.get(metric)
                ok = None if value is None or ref is None else value >= UTILITY_KEPT * ref
            else:
                ref = retrain.get(metric)
                ok = None if value is None or ref is None else value <= ref + 1e-9
            verdict[name] = ok
        out[method] = verdict
    return out


def _muse_html(entries: Sequence[dict]) -> str:
    verdicts = muse_verdicts(entries)
    if not verdicts:
        return ""
    mark = {True: '<td class="closest"><span class="val">pass</span></td>', False: "<td>fail</td>", None: "<td>-</td>"}
    head = "".join(f'<th title="{_esc(desc)}">{_esc(name)}</th>' for name, _, desc in MUSE_CRITERIA)
    rows = []
    for method, verdict in verdicts.items():
        passed = sum(v is True for v in verdict.values())
        rows.append(f"<tr><td>{_esc(method)}</td>" + "".join(mark[v] for v in verdict.values())
                    + f"<td>{passed}/{len(verdict)}</td></tr>")
    rules = "; ".join(f"<b>{_esc(n)}</b>: {_esc(d)}" for n, _, d in MUSE_CRITERIA)
    return (f"<h3>MUSE criteria (pass/fail against the references, means over seeds)</h3>"
            f'<div class="scroll"><table><thead><tr><th>Method</th>{head}<th>Passed</th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div><p class="legend">{rules}.</p>')


def _plot_knowmem(entries: Sequence[dict], colors: Mapping[str, str], title: str, target: Path) -> bool:
    pts = [e for e in entries if "knowmem_forget" in e["metrics"] and "knowmem_retain" in e["metrics"]]
    if not pts:
        return False
    fig, ax = _new_figure(7.6, 5.0)
    others = [e for e in pts if e["method"] not in REFERENCE_METHODS]
    for e in pts:
        kf, kr = e["metrics"]["knowmem_forget"], e["metrics"]["knowmem_retain"]
        method = e["method"]
        if method in _REF_STYLE:
            color, marker = _REF_STYLE[method]
        else:
            color, marker = colors[method], _MARKERS[others.index(e) % len(_MARKERS)]
        ax.errorbar(kf["mean"], kr["mean"], xerr=kf["std"], yerr=kr["std"], fmt=marker, color=color,
                    markersize=14 if method == "retrain" else 8, capsize=3, label=_mpl_text(method), zorder=4)
    ax.set_xlabel("KnowMem on forget (ROUGE-L F1 ×100)  ←  lower forgets more")
    ax.set_ylabel("KnowMem on retain = utility  →  higher keeps more")
    ax.set_title(_mpl_text(f"KnowMem forget vs retain — {title}\nmean ± std over seeds; ★ retrain"), fontsize=11)
    ax.grid(True, alpha=0.3)
    ax.margins(0.12)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=9, frameon=False, borderaxespad=0)
    _atomic_save_figure(fig, target)
    return True


def _plot_privleak(entries: Sequence[dict], colors: Mapping[str, str], title: str, target: Path) -> bool:
    pts = [e for e in entries if "privleak" in e["metrics"] and e["method"] != "retrain"]
    if not pts:
        return False
    means = [e["metrics"]["privleak"]["mean"] for e in pts]
    stds = [e["metrics"]["privleak"]["std"] for e in pts]
    fig, ax = _new_figure(7.6, 1.3 + 0.5 * len(pts))
    _barh(ax, [e["method"] for e in pts], means, stds, [colors[e["method"]] for e in pts])
    ax.axvspan(-PRIVLEAK_BAND, PRIVLEAK_BAND, color="#34a853", alpha=0.15, zorder=1)
    ax.axvline(0, color="black", lw=1, zorder=2)
    ax.set_xlabel(f"PrivLeak (%): > 0 under-unlearned, < 0 over-unlearned; green band ±{PRIVLEAK_BAND:g} passes")
    ax.set_title(_mpl_text(f"PrivLeak (Min-40% AUC vs retrain) — {title}"), fontsize=11)
    _atomic_save_figure(fig, target)
    return True


# ------------------------------------------------------------------------------------------------
# HTML

_CSS = """
:root { --ink:#1f2933; --muted:#6b7785; --line:#e3e8ee; --card:#fff; --bg:#f4f6f9; --accent:#2563eb;
        --good:#e3f6e8; --good-ink:#126b32; --bad:#fdecec; --bad-ink:#a61b1b; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--ink);
       font:14px/1.45 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width:1240px; margin:0 auto; padding:28px 24px 60px; }
h1 { margin:0 0 4px; font-size:26px; }
h1 small { font-weight:400; color:var(--muted); font-size:16px; }
h2 { margin:0 0 4px; font-size:19px; }
h3 { margin:18px 0 8px; font-size:15px; color:var(--muted); font-weight:600; }
a { color:var(--accent); text-decoration:none; }
code { font:12.5px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background:#eef1f5;
       padding:1px 5px; border-radius:4px; word-break:break-all; }
.card { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:20px 22px;
        margin:18px 0; box-shadow:0 1px 2px rgba(16,24,40,.04); }
.meta { display:grid; grid-template-columns:repeat(auto-fit, minmax(210px, 1fr)); gap:10px 24px; margin-top:14px; }
.meta div span { display:block; color:var(--muted); font-size:11.5px; text-transform:uppercase; letter-spacing:.04em; }
.pills { margin-top:14px; display:flex; gap:8px; flex-wrap:wrap; }
.pill { border-radius:999px; padding:3px 11px; font-size:12.5px; background:#eef1f5; }
.pill.ok { background:var(--good); color:var(--good-ink); }
.pill.fail { background:var(--bad); color:var(--bad-ink); }
.sub { color:var(--muted); margin:0 0 12px; }
.scroll { overflow-x:auto; }
table { border-collapse:collapse; width:100%; font-variant-numeric:tabular-nums; }
th, td { padding:7px 10px; border-bottom:1px solid var(--line); text-align:right; vertical-align:top; white-space:nowrap; }
th { font-size:12px; text-transform:uppercase; letter-spacing:.04em; color:var(--muted); font-weight:600;
     border-bottom:2px solid var(--line); }
th:first-child, td:first-child { text-align:left; }
td .gap { display:block; font-size:11.5px; color:var(--muted); }
tr.ref td { color:#7b8794; font-style:italic; background:#fafbfc; }
tr.ref td:first-child::after { content:attr(data-tag); margin-left:8px; font-size:10.5px; font-style:normal;
     text-transform:uppercase; letter-spacing:.05em; background:#e9edf2; color:#52606d; padding:1px 6px; border-radius:4px; }
td.closest { background:var(--good); }
td.closest .val { color:var(--good-ink); font-weight:600; }
td.best { background:var(--good); color:var(--good-ink); font-weight:700; }
td .bar { display:block; height:4px; margin-top:4px; border-radius:2px; background:#cbd5e1; }
td.best .bar { background:#34a853; }
.legend { color:var(--muted); font-size:12.5px; margin-top:8px; }
.legend .sw { display:inline-block; width:11px; height:11px; vertical-align:-1px; border-radius:2px; margin:0 4px 0 12px; }
.plots { display:grid; grid-template-columns:repeat(auto-fit, minmax(460px, 1fr)); gap:14px; margin-top:16px; }
.plots figure { margin:0; border:1px solid var(--line); border-radius:8px; padding:8px; background:#fff; }
.plots img { width:100%; height:auto; display:block; }
details { margin-top:14px; }
summary { cursor:pointer; color:var(--accent); }
table.fail td { white-space:normal; text-align:left; }
table.fail td.err { font:12.5px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; color:var(--bad-ink); }
nav ul { margin:8px 0 0; padding-left:18px; columns:2; }
footer { color:var(--muted); font-size:12px; margin-top:30px; text-align:center; }
"""


def _header_html(results: Mapping[str, Any], summary: Sequence[dict], n_failed: int) -> str:
    tool = results.get("tool") if isinstance(results.get("tool"), Mapping) else {}
    env = results.get("environment") if isinstance(results.get("environment"), Mapping) else {}
    commit = tool.get("git_commit")
    version = _esc(f"{tool.get('name', 'obliviate')} {tool.get('version', '?')}")
    if commit:
        version += f' <code title="{_esc(commit)}">{_esc(str(commit)[:12])}</code>'
    env_bits = [
        ("Python", env.get("python")), ("Torch", env.get("torch")), ("Device", env.get("device")),
        ("Threads", env.get("threads")), ("Platform", env.get("platform")),
    ]
    meta = [("Created", _esc(results.get("created", "?"))), ("Tool", version)]
    meta += [(k, _esc(v)) for k, v in env_bits if v is not None]
    packages = env.get("packages")
    if isinstance(packages, Mapping) and packages:
        meta.append(("Packages", _esc(", ".join(f"{k} {v}" for k, v in packages.items()))))
    cells = "".join(f"<div><span>{k}</span>{v}</div>" for k, v in meta)
    command = results.get("command")
    cmd = f'<p class="sub" style="margin-top:12px">Command: <code>{_esc(command)}</code></p>' if command else ""
    runs = _runs(results)
    n_ok = sum(1 for r in runs if r.get("status") == "ok")
    groups = {(e["family"], e["dataset"], e["forget_spec"]) for e in summary}
    methods = {e["method"] for e in summary}
    pills = [
        f'<span class="pill">{len(runs)} runs</span>',
        f'<span class="pill ok">{n_ok} ok</span>',
        f'<a class="pill fail" href="#failed">{n_failed} failed</a>' if n_failed else "",
        f'<span class="pill">{len(groups)} task group(s)</span>',
        f'<span class="pill">{len(methods)} method(s)</span>',
    ]
    return (
        f'<section class="card"><h1>obliviate benchmark <small>suite: {_esc(results.get("suite", "?"))}</small></h1>'
        f'{cmd}<div class="meta">{cells}</div><div class="pills">{"".join(pills)}</div></section>'
    )


def _cell(stat: Mapping[str, float] | None, gap: Mapping[str, float] | None, cls: str = "",
          decimals: int | None = 2, suffix: str = "") -> str:
    attr = f' class="{cls}"' if cls else ""
    body = f'<span class="val">{_esc(_fmt_pm(stat, decimals, suffix))}</span>'
    if gap is not None:
        body += f'<span class="gap">Δ {gap["mean"]:.2f} ± {gap["std"]:.2f}</span>'
    return f"<td{attr}>{body}</td>"


def _table_html(family: str, entries: Sequence[dict], cols: Sequence[str], main: bool) -> str:
    best = _best_average(entries) if main else set()
    closest = {c: _argmins(_closeness(entries, c)) for c in cols}
    avg_max = max((e["gap_to_retrain"]["average"]["mean"] for e in entries if "average" in e["gap_to_retrain"]),
                  default=0.0)
    head = ["Method", "Seeds", *(_label(c) for c in cols)]
    if main:
        head += ["Avg. gap", "Seconds", "Time ratio"]
    rows = []
    for e in entries:
        m = e["method"]
        tag = {"retrain": "reference", "original": "before unlearning"}.get(m)
        tr = '<tr class="ref">' if tag else "<tr>"
        first = f'<td data-tag="{_esc(tag)}">' if tag else "<td>"
        cells = [f"{first}{_esc(m)}</td>", f"<td>{e['n_seeds']}</td>"]
        for c in cols:
            gap = e["gap_to_retrain"].get(c) if m != "retrain" else None
            cells.append(_cell(e["metrics"].get(c), gap, "closest" if m in closest[c] else ""))
        if main:
            avg = e["gap_to_retrain"].get("average")
            if avg is not None and m != "retrain":
                width = 0.0 if avg_max <= 0 else 100.0 * avg["mean"] / avg_max
                cls = ' class="best"' if m in best else ""
                cells.append(f'<td{cls}>{_esc(_fmt_pm(avg, 2))}<span class="bar" style="width:{width:.1f}%"></span></td>')
            else:
                cells.append("<td>0.00</td>" if m == "retrain" else "<td>-</td>")
            cells.append(_cell(e["seconds"], None, decimals=None))
            cells.append(_cell(e["time_ratio"], None, decimals=None, suffix="×"))
        rows.append(tr + "".join(cells) + "</tr>")
    thead = "".join(f"<th>{_esc(h)}</th>" for h in head)
    return f'<div class="scroll"><table><thead><tr>{thead}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'


def _group_html(idx: int, key: tuple[str, str, str], entries: Sequence[dict], results: Mapping[str, Any],
                plots: Sequence[tuple[str, str]]) -> str:
    family = key[0]
    title = _group_title(key)
    task = next((r.get("task") for r in _runs(results) if _group_key(r) == key and isinstance(r.get("task"), Mapping)),
                {})
    facts = []
    for name, label in (("model", "model"), ("scenario", "scenario"), ("forget_size", "forget"),
                        ("retain_size", "retain")):
        if task.get(name) is not None:
            facts.append(f"{label} <b>{_esc(task[name])}</b>")
    seeds = sorted({s for e in entries for s in e["seeds"]})
    if seeds:
        facts.append("seeds <b>" + _esc(", ".join(map(str, seeds))) + "</b>")
    cols = _table_columns(family, entries)
    main_table = _table_html(family, entries, cols, main=True)
    legend = (
        f'<p class="legend">mean ± std over seeds ({_esc(STD_NOTE)}); Δ = mean |metric − retrain metric| per seed.'
        '<span class="sw" style="background:#e3f6e8"></span>closest to retrain in its column'
        '<span class="sw" style="background:#34a853"></span><b>lowest average gap</b> (retrain/original excluded)'
        '<span class="sw" style="background:#e9edf2"></span><i>reference rows</i>. Time ratio = seconds / retrain seconds.</p>'
    )
    all_keys: set[str] = set()
    for e in entries:
        all_keys.update(e.get("metric_keys", e["metrics"]))
    extra_cols = _metric_columns(family, all_keys)
    details = ""
    if set(extra_cols) - set(cols):
        details = (
            f"<details><summary>All metrics ({len(extra_cols)})</summary>"
            f"{_table_html(family, entries, extra_cols, main=False)}</details>"
        )
    figs = "".join(
        f'<figure><img src="{_esc(src)}" alt="{_esc(alt)}" loading="lazy"></figure>' for src, alt in plots
    )
    plots_html = f'<div class="plots">{figs}</div>' if figs else ""
    muse = _muse_html(entries) if family == "lm" else ""
    return (
        f'<section class="card" id="g{idx}"><h2>{_esc(title)}</h2>'
        f'<p class="sub">{" · ".join(facts)}</p>{main_table}{legend}{muse}{details}{plots_html}</section>'
    )


def _failed_html(failed: Sequence[Mapping[str, Any]]) -> str:
    if not failed:
        return ""
    rows = []
    for r in failed:
        fam, ds, spec = _group_key(r)
        rows.append(
            f"<tr><td>{_esc(_method_name(r))}</td><td>{_esc(fam)}</td><td>{_esc(ds)}</td><td>{_esc(spec)}</td>"
            f"<td>{_esc(r.get('seed'))}</td><td class=\"err\">{_esc(r.get('error') or '(no error message)')}</td></tr>"
        )
    head = "".join(f"<th>{h}</th>" for h in ("Method", "Family", "Dataset", "Forget spec", "Seed", "Error"))
    return (
        f'<section class="card" id="failed"><h2>Failed runs ({len(failed)})</h2>'
        f'<p class="sub">These rows are left out of every table and plot above.</p>'
        f'<div class="scroll"><table class="fail"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div></section>'
    )


def write_report(results: dict, out_dir: Path | str) -> Path:
    """Write ``out_dir/report.html`` and its PNG plots (``out_dir/plots/``); return the report path.

    Every file is written to a temp file in its directory and renamed into place, and the HTML is
    written last, so a report never points at a plot that is not there yet.
    """
    out_dir = Path(out_dir)
    plots_dir = out_dir / "plots"
    plots_dir.mkdir(parents=True, exist_ok=True)
    from .report_series import series_sections, split_series

    plain, series_rows = split_series(results)  # curve points get their own sections, after the tables
    summary = summarize(plain)
    failed = [r for r in _runs(results) if r.get("status") == "failed"]
    colors = _colors(_method_order([e["method"] for e in summary]
                                   + [_method_name(r) for rows in series_rows.values() for r in rows]))

    sections = []
    toc = []
    for idx, (key, entries) in enumerate(_grouped(summary), start=1):
        title = _group_title(key)
        stem = f"g{idx}-{_slug(title)}"
        plots: list[tuple[str, str]] = []
        makers = [("time_ratio", _plot_time, "run-time ratio"), ("avg_gap", _plot_gap, "average gap to retrain")]
        if key[0] == "classifier":
            makers.insert(0, ("ua_ra", _plot_ua_ra, "UA vs RA"))
        if key[0] == "lm":
            makers[:0] = [("knowmem", _plot_knowmem, "KnowMem forget vs retain"), ("privleak", _plot_privleak, "PrivLeak")]
        if key[0] == "clip":
            from ..clip.bench import plot_domain_accuracy

            makers.insert(0, ("domains", plot_domain_accuracy, "per-domain accuracy"))
        for suffix, maker, alt in makers:
            name = f"{stem}-{suffix}.png"
            if maker(entries, colors, title, plots_dir / name):
                plots.append((f"plots/{name}", f"{alt}: {title}"))
        sections.append(_group_html(idx, key, entries, results, plots))
        toc.append(f'<li><a href="#g{idx}">{_esc(title)}</a> <span class="sub">({len(entries)} methods)</span></li>')

    for anchor, title, section in series_sections(series_rows, colors, plots_dir):
        sections.append(section)
        toc.append(f'<li><a href="#{anchor}">{_esc(title)}</a></li>')

    from .report_worst_case import worst_case_sections

    sections += worst_case_sections(results, plots_dir)  # worst-case vs random forget sets, when both ran
    if not sections:
        sections.append('<section class="card"><h2>No successful runs</h2><p class="sub">Nothing to tabulate.</p></section>')
    nav = f'<section class="card"><h2>Task groups</h2><nav><ul>{"".join(toc)}</ul></nav></section>' if len(toc) > 1 else ""
    suite = _esc(results.get("suite", "?")) if isinstance(results, Mapping) else "?"
    doc = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>obliviate report — {suite}</title><style>{_CSS}</style></head><body><main>"
        + _header_html(results if isinstance(results, Mapping) else {}, summary, len(failed))
        + nav
        + "".join(sections)
        + _failed_html(failed)
        + "<footer>generated by obliviate.bench.report</footer></main></body></html>\n"
    )
    report = out_dir / "report.html"
    atomic_write_text(report, doc)
    return report
