"""The lm family's report section: MUSE's pass/fail criteria table, the KnowMem forget-vs-retain
scatter and the PrivLeak bars of each group. The criteria and their thresholds are the lm metrics'
:class:`~obliviate.metrics.registry.Criterion` declarations."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from ..metrics.registry import criteria, get_metric, judge
from ..report.cards import esc
from ..report.plots import barh, mpl_text, new_figure, save_figure, scatter
from ..report.sections import Plot, Section
from ..report.stats import REFERENCE_METHODS

FAMILY = "lm"


def muse_criteria() -> tuple[tuple[str, str, str], ...]:
    """(criterion name, metric, description) of MUSE's criteria, in order."""
    return tuple((m.criterion.name, m.name, m.criterion.description) for m in criteria(FAMILY) if m.criterion)


def muse_verdicts(entries: Sequence[dict]) -> dict[str, dict[str, bool | None]]:
    """method -> {criterion name: passed?} for the non-reference methods of one lm group, judged on
    means over seeds against the same group's retrain / original (None when a metric or the reference
    it is judged against is missing)."""
    means = {e["method"]: {k: v["mean"] for k, v in e["metrics"].items()} for e in entries}
    retrain, original = means.get("retrain", {}), means.get("original", {})
    out: dict[str, dict[str, bool | None]] = {}
    for method, m in means.items():
        if method in REFERENCE_METHODS:
            continue
        out[method] = {
            metric.criterion.name: judge(metric, m.get(metric.name),
                                         {"retrain": retrain.get(metric.name), "original": original.get(metric.name)})
            for metric in criteria(FAMILY) if metric.criterion
        }
    return out


def muse_html(entries: Sequence[dict]) -> str:
    """The pass/fail table of a group (empty when it has no non-reference method)."""
    verdicts = muse_verdicts(entries)
    measured = {m for e in entries for m in e["metrics"]}
    if not verdicts or not any(metric in measured for _, metric, _ in muse_criteria()):  # e.g. a TOFU group
        return ""
    rules = muse_criteria()
    mark = {True: '<td class="closest"><span class="val">pass</span></td>', False: "<td>fail</td>", None: "<td>-</td>"}
    head = "".join(f'<th title="{esc(desc)}">{esc(name)}</th>' for name, _, desc in rules)
    rows = []
    for method, verdict in verdicts.items():
        passed = sum(v is True for v in verdict.values())
        rows.append(f"<tr><td>{esc(method)}</td>" + "".join(mark[v] for v in verdict.values())
                    + f"<td>{passed}/{len(verdict)}</td></tr>")
    legend = "; ".join(f"<b>{esc(n)}</b>: {esc(d)}" for n, _, d in rules)
    return (f"<h3>MUSE criteria (pass/fail against the references, means over seeds)</h3>"
            f'<div class="scroll"><table><thead><tr><th>Method</th>{head}<th>Passed</th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div><p class="legend">{legend}.</p>')


def plot_knowmem(entries: Sequence[dict], colors: Mapping[str, str], title: str, target: Path) -> bool:
    """KnowMem on forget against KnowMem on retain (utility), mean ± std over seeds."""
    return scatter(entries, colors, target, x="knowmem_forget", y="knowmem_retain",
                   xlabel="KnowMem on forget (ROUGE-L F1 ×100)  ←  lower forgets more",
                   ylabel="KnowMem on retain = utility  →  higher keeps more",
                   title=f"KnowMem forget vs retain — {title}\nmean ± std over seeds; ★ retrain")


def plot_privleak(entries: Sequence[dict], colors: Mapping[str, str], title: str, target: Path) -> bool:
    """PrivLeak per method with its pass band around 0."""
    pts = [e for e in entries if "privleak" in e["metrics"] and e["method"] != "retrain"]
    if not pts:
        return False
    band = get_metric("privleak", FAMILY).criterion.band  # type: ignore[union-attr]
    means = [e["metrics"]["privleak"]["mean"] for e in pts]
    stds = [e["metrics"]["privleak"]["std"] for e in pts]
    fig, ax = new_figure(7.6, 1.3 + 0.5 * len(pts))
    barh(ax, [e["method"] for e in pts], means, stds, [colors[e["method"]] for e in pts])
    ax.axvspan(-band, band, color="#34a853", alpha=0.15, zorder=1)
    ax.axvline(0, color="black", lw=1, zorder=2)
    ax.set_xlabel(f"PrivLeak (%): > 0 under-unlearned, < 0 over-unlearned; green band ±{band:g} passes")
    ax.set_title(mpl_text(f"PrivLeak (Min-40% AUC vs retrain) — {title}"), fontsize=11)
    save_figure(fig, target)
    return True


SECTION = Section(
    plots=(Plot("knowmem", plot_knowmem, "KnowMem forget vs retain"), Plot("privleak", plot_privleak, "PrivLeak")),
    html=muse_html,
)
