"""The classifier family's report section: the UA-vs-RA scatter of each group and the worst-case vs
random forget-set cards."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..report.plots import scatter
from ..report.sections import Plot, Section
from ..report.worst_case import worst_case_sections

FAMILY = "classifier"


def plot_ua_ra(entries: Sequence[dict], colors: Mapping[str, str], title: str, target: Path) -> bool:
    """Unlearning accuracy against retain accuracy, mean ± std over seeds, retrain marked."""
    return scatter(entries, colors, target, x="retain_accuracy", y="unlearning_accuracy",
                   xlabel="Retain accuracy RA (%)  →  higher keeps more",
                   ylabel="Unlearning accuracy UA = 100 − forget acc. (%)",
                   title=f"UA vs RA — {title}\nmean ± std over seeds; closer to ★ retrain is better")


def worst_case_cards(results: Mapping[str, Any], plots_dir: Path) -> list[str]:
    return worst_case_sections(results, plots_dir, FAMILY)


SECTION = Section(plots=(Plot("ua_ra", plot_ua_ra, "UA vs RA"),), cards=worst_case_cards)
