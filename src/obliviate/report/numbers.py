"""Numbers as the report writes them: ``mean ± std`` with enough decimals."""

from __future__ import annotations

import math
from collections.abc import Mapping

__all__ = ["decimals", "fmt_pm"]


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
