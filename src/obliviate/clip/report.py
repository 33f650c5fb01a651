"""The clip family's report section: the per-domain accuracy plot of each group."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from ..report.plots import mpl_text, new_figure, save_figure
from ..report.sections import Plot, Section


def plot_domain_accuracy(entries: Sequence[dict], colors: Mapping[str, str], title: str, target: Path) -> bool:
    """Per domain, each method's class accuracy when the domain is forgotten (bars, lower = forgotten
    more) and when it is memorised (dots, higher = kept more); mean ± std over seeds."""
    keys = {k for e in entries for k in e["metrics"]}
    domains = list(dict.fromkeys(k[len("acc_"):].rsplit("_", 1)[0] for k in sorted(keys) if k.startswith("acc_")
                                 and (k.endswith("_forgotten") or k.endswith("_memorised"))))
    shown = [e for e in entries if any(f"acc_{d}_{s}" in e["metrics"] for d in domains for s in ("forgotten", "memorised"))]
    if not domains or not shown:
        return False
    fig, ax = new_figure(max(6.0, 1.6 * len(domains) + 2.5), 4.4)
    width = 0.8 / len(shown)
    for i, e in enumerate(shown):
        xs = [j - 0.4 + width * (i + 0.5) for j in range(len(domains))]
        color = colors.get(e["method"], "#8c8c8c")
        fgt = [e["metrics"].get(f"acc_{d}_forgotten") for d in domains]
        mem = [e["metrics"].get(f"acc_{d}_memorised") for d in domains]
        ax.bar([x for x, s in zip(xs, fgt) if s], [s["mean"] for s in fgt if s], width * 0.9,
               yerr=[s["std"] for s in fgt if s], color=color, label=mpl_text(e["method"]), zorder=3,
               error_kw={"ecolor": "#333333", "capsize": 2, "elinewidth": 1})
        ax.errorbar([x for x, s in zip(xs, mem) if s], [s["mean"] for s in mem if s], yerr=[s["std"] for s in mem if s],
                    fmt="o", color="black", markerfacecolor=color, markersize=6, capsize=2, zorder=4)
    ax.set_xticks(range(len(domains)), [mpl_text(d) for d in domains])
    ax.set_ylim(0, 105)
    ax.set_ylabel("class accuracy (%)")
    ax.grid(True, axis="y", alpha=0.3, zorder=0)
    ax.set_title(mpl_text(f"Per-domain accuracy — {title}\nbars: domain forgotten (lower forgets more); "
                          "dots: domain memorised (higher keeps more)"), fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=9, frameon=False, borderaxespad=0)
    save_figure(fig, target)
    return True


SECTION = Section(plots=(Plot("domains", plot_domain_accuracy, "per-domain accuracy"),))
