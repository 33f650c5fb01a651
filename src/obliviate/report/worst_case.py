"""Worst-case vs random forget sets in the report: per method, the average gap to retrain on each
worst-case set next to a random set of the same size (same dataset, same pruning), mean ± std over
seeds, plus the search time relative to one retrain.

Rows pair up when both are ``ok`` rows of one family (the one asked for, else any) and dataset with the
same ``forget_size``: the worst-case side is any ``worst_case`` / ``worst_classes`` spec, the random side
any ``random`` spec. The classifier family shows these cards (:mod:`obliviate.classifier.report`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .cards import esc
from .plots import mpl_text, new_figure, save_figure, slug
from .stats import STD_NOTE, TIMING_MEASURED, runs, stats
from .numbers import fmt_pm

WORST_SCENARIOS = ("worst_case", "worst_classes")
REFERENCES = ("retrain",)
#: the sign convention of every worst-case comparison: difference = worst − random, per seed
SIGN_NOTE = ("difference = worst-case − random, per seed: positive = the method ends farther from retrain on the "
             "worst-case set (harder for it), negative = closer (easier)")


def verdict(difference: Mapping[str, float] | None) -> str:
    """``harder`` / ``easier`` when the mean difference exceeds its sample std, else ``no clear difference``."""
    if not difference:
        return "-"
    mean, std = difference["mean"], difference["std"]
    if abs(mean) <= max(std, 1e-9):
        return "no clear difference"
    return "harder" if mean > 0 else "easier"


def search_target(results: Mapping[str, Any], spec: str, dataset: Any, recorded: str | None) -> str | None:
    """The lower-level method the search for ``spec`` optimised against: the row's search record, else the
    spec's ``lower=`` option, else the run config's ``worst_case_search.lower`` for ``dataset``."""
    if recorded:
        return recorded
    for option in str(spec).split(",")[1:]:
        name, _, value = option.partition("=")
        if name.strip() == "lower" and value.strip():
            return value.strip()
    config = results.get("config") if isinstance(results.get("config"), Mapping) else {}
    for bench in config.get("benches") or []:
        if isinstance(bench, Mapping) and bench.get("dataset") in (dataset, None):
            lower = (bench.get("worst_case_search") or {}).get("lower")
            if lower:
                return str(lower)
    return None


def _gap(row: Mapping[str, Any]) -> float | None:
    gap = row.get("gap_to_retrain") or {}
    return gap.get("average") if isinstance(gap, Mapping) else None


def worst_case_comparison(results: Mapping[str, Any], family: str | None = None) -> list[dict[str, Any]]:
    """One entry per (dataset, prune, forget size, worst-case spec) that has a random counterpart:
    ``{"dataset", "prune", "forget_size", "worst_spec", "random_spec", "search_time_ratio", "target" (the
    search's lower-level method, None when unknown), "methods": {name: {"worst": stats, "random": stats,
    "difference": stats of worst - random per seed, "verdict": harder / easier / no clear difference}}}``
    (:data:`SIGN_NOTE`)."""
    cells: dict[tuple, dict[str, dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
    search: dict[tuple, list[float]] = defaultdict(list)
    lower: dict[tuple, str] = {}
    search_cached: set[tuple] = set()
    for row in runs(results):
        task = row.get("task") or {}
        if row.get("status") != "ok" or task.get("series") or (family is not None and row.get("family") != family):
            continue
        scenario = task.get("scenario")
        if scenario not in WORST_SCENARIOS and scenario != "random":
            continue
        method = (row.get("method") or {}).get("name", "?")
        gap = _gap(row)
        if method in REFERENCES or gap is None:
            continue
        key = (task.get("dataset"), task.get("prune"), task.get("forget_size"), task.get("forget_spec"), scenario)
        cells[key][method][row.get("seed")] = float(gap)
        if (row.get("search") or {}).get("lower"):
            lower[key] = str(row["search"]["lower"])
        ratio = (row.get("search") or {}).get("time_ratio")
        if method == "original" and ratio is not None:
            search[key].append(float(ratio))
            if row["search"].get("timing") != TIMING_MEASURED:
                search_cached.add(key)
    out = []
    for wkey in sorted((k for k in cells if k[4] in WORST_SCENARIOS), key=lambda k: tuple(str(v) for v in k)):
        dataset, prune, size, spec, _ = wkey
        for rkey in sorted(k for k in cells if k[4] == "random" and k[:3] == (dataset, prune, size)):
            methods = {}
            for name in cells[wkey]:
                worst, rand = cells[wkey][name], cells[rkey].get(name, {})
                if not rand:
                    continue
                seeds = sorted(set(worst) & set(rand))
                methods[name] = {
                    "worst": stats(worst.values()), "random": stats(rand.values()),
                    "difference": stats(worst[s] - rand[s] for s in seeds),
                }
                methods[name]["verdict"] = verdict(methods[name]["difference"])
            if methods:
                out.append({"dataset": dataset, "prune": prune, "forget_size": size, "worst_spec": spec,
                            "random_spec": rkey[3], "search_time_ratio": stats(search.get(wkey, [])),
                            "search_time_cached": wkey in search_cached,
                            "target": search_target(results, spec, dataset, lower.get(wkey)), "methods": methods})
    return out


def _plot(entry: Mapping[str, Any], target: Path) -> bool:
    names = [m for m in entry["methods"] if m != "original"] + (["original"] if "original" in entry["methods"] else [])
    if not names:
        return False
    fig, ax = new_figure(1.6 + 1.1 * len(names), 3.8)
    width = 0.38
    for j, (side, color, label) in enumerate((("random", "#7f9fbf", entry["random_spec"]),
                                              ("worst", "#c0504d", entry["worst_spec"]))):
        means = [entry["methods"][n][side]["mean"] for n in names]
        stds = [entry["methods"][n][side]["std"] for n in names]
        xs = [i + (j - 0.5) * width for i in range(len(names))]
        ax.bar(xs, means, width, yerr=stds, color=color, label=mpl_text(label), capsize=3, zorder=3)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels([mpl_text(n + (" (target)" if n == entry["target"] else "")) for n in names],
                       rotation=20, ha="right")
    ax.set_ylabel("average gap to retrain (points)")
    ax.grid(axis="y", alpha=0.3, zorder=0)
    ax.legend(fontsize=8)
    ax.set_title(mpl_text(f"{entry['dataset']}: worst-case vs random, {entry['forget_size']} samples"), fontsize=10)
    save_figure(fig, target)
    return True


def _search_ratio(entry: Mapping[str, Any]) -> str:
    """The search time over one retrain, ``≈`` with its reason when the two were not timed by one process."""
    text = fmt_pm(entry["search_time_ratio"])
    if entry["search_time_cached"] and entry["search_time_ratio"]:
        text = f"≈ {text} (the search or the retrain was timed by another process and read from the model cache)"
    return esc(text)


def _headline_html(entry: Mapping[str, Any]) -> str:
    """One line: what the worst-case set did to the method the search targeted."""
    target = entry["target"]
    m = entry["methods"].get(target) if target else None
    if m is None or not m["difference"]:
        return ""
    word = {"harder": "harder", "easier": "<b>easier</b>, not harder,"}.get(m["verdict"])
    what = f"is {word} for it" if word else "makes no clear difference to it"
    cls = "verdict" if m["verdict"] == "harder" else "verdict warn"
    return (f'<p class="{cls}">For the search target <b>{esc(target)}</b> the worst-case set {what} by the gap to '
            f"retrain: difference {esc(fmt_pm(m['difference']))}.</p>")


def worst_case_sections(results: Mapping[str, Any], plots_dir: Path, family: str | None = None) -> list[str]:
    """HTML cards (one per comparison of ``family``'s rows), plots written under ``plots_dir``."""
    sections = []
    for i, entry in enumerate(worst_case_comparison(results, family), start=1):
        name = f"worst-{i}-{slug(entry['dataset'] + ' ' + entry['worst_spec'])}.png"
        img = f'<img src="plots/{esc(name)}" alt="worst-case vs random gaps">' if _plot(entry, plots_dir / name) else ""
        target = entry["target"]
        rows = "".join(
            f"<tr><td>{esc(n)}{' <b>(search target)</b>' if n == target else ''}</td><td>{fmt_pm(m['random'])}</td>"
            f"<td>{fmt_pm(m['worst'])}</td><td>{fmt_pm(m['difference'])}</td><td>{esc(m['verdict'])}</td></tr>"
            for n, m in entry["methods"].items()
        )
        prune = f" (pruned {entry['prune']})" if entry["prune"] else ""
        title = f"Worst-case vs random · {entry['dataset']}{prune} · {entry['forget_size']} samples"
        sections.append(
            f'<section class="card"><h2>{esc(title)}</h2>{_headline_html(entry)}'
            f'<p class="sub">Average gap to retrain (mean ± std over seeds) on <code>{esc(entry["worst_spec"])}</code> '
            f'(searched against <b>{esc(target or "an unrecorded method")}</b>: the samples whose loss it keeps '
            f'{"highest" if "mode=easiest" in entry["worst_spec"] else "lowest"} after unlearning) and on <code>{esc(entry["random_spec"])}</code>; {esc(SIGN_NOTE)}; harder/easier when '
            f'|difference| exceeds its std. Search time / one retrain: {_search_ratio(entry)}.</p>'
            f"<table><thead><tr><th>method</th><th>random</th><th>worst-case</th><th>difference</th><th>verdict</th>"
            f'</tr></thead><tbody>{rows}</tbody></table><p class="legend">{esc(STD_NOTE)}</p>{img}</section>'
        )
    return sections


def format_worst_case_text(results: Mapping[str, Any], methods: Sequence[str] | None = None) -> str:
    """The comparison as markdown tables (for the evidence script and docs)."""
    lines = []
    for entry in worst_case_comparison(results):
        lines += [f"\n{entry['dataset']} · {entry['worst_spec']} vs {entry['random_spec']} "
                  f"({entry['forget_size']} samples; search target {entry['target'] or '?'}; "
                  f"search time / retrain {'≈' if entry['search_time_cached'] else ''}"
                  f"{fmt_pm(entry['search_time_ratio'])})\n",
                  "| method | random | worst-case | worst - random | verdict |", "|---|---|---|---|---|"]
        for name, m in entry["methods"].items():
            if methods is None or name in methods:
                star = " (search target)" if name == entry["target"] else ""
                lines.append(f"| {name}{star} | {fmt_pm(m['random'])} | {fmt_pm(m['worst'])} | "
                             f"{fmt_pm(m['difference'])} | {m['verdict']} |")
    if lines:
        lines += ["", SIGN_NOTE, STD_NOTE]
    return "\n".join(lines)
