"""What a trial of ``obliviate tune`` scores, from the result rows of one validation seed (lower is better).

- ``retrain`` (default): the mean over the method's rows (one per forget spec) of the row's average gap
  to retrain (``gap_to_retrain.average``: UA, RA, TA, MIA-efficacy; points).
- ``retrain-free``: for users who cannot afford an exact-retrain reference; it reads no reference metric.
  Per row, the mean of a forget term and a utility term (points):

  - forget: class-wise forgetting (``class:...``): the forget accuracy FA, toward 0 (a model retrained
    without a class never predicts it); every other scenario: |FA - TA|, the forget accuracy toward the same
    model's test accuracy (forgotten samples should look like unseen ones);
  - utility: max(0, RA_original - RA), the retain accuracy lost against the original model.

With ``retrain-free`` no exact-retrain model is trained (the bench runs without its reference), unless the
search measures the agreement (``--agreement``): then every trial also records the retrain-based score,
and the command reports where the retrain-free choice ranks under it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ..errors import ObliviateError

Rows = list[dict[str, Any]]


def _method_rows(rows: Rows, method: str) -> Rows:
    found = [r for r in rows if r["method"]["name"] == method]
    failed = [r for r in found if r.get("status") != "ok"]
    if not found or failed:
        raise ObliviateError(f"{method} failed: {failed[0].get('error') if failed else 'no rows'}")
    return found


def _original(rows: Rows, spec: str | None) -> dict[str, Any]:
    for row in rows:
        if row["method"]["name"] == "original" and row["task"].get("forget_spec") == spec:
            return row
    raise ObliviateError(f"no original-model row for forget spec {spec!r}")


def retrain_gap(rows: Rows, method: str) -> float:
    """The mean average gap to retrain of ``method``'s rows."""
    gaps = [float(r["gap_to_retrain"]["average"]) for r in _method_rows(rows, method)]
    return sum(gaps) / len(gaps)


def retrain_free(rows: Rows, method: str) -> float:
    """The mean over ``method``'s rows of (forget term + utility term) / 2 (see the module's docstring)."""
    values = []
    for row in _method_rows(rows, method):
        m = row["metrics"]
        fa, ta, ra = float(m["forget_accuracy"]), float(m["test_accuracy"]), float(m["retain_accuracy"])
        forget = fa if row["task"].get("scenario") == "class" else abs(fa - ta)
        ra_original = float(_original(rows, row["task"].get("forget_spec"))["metrics"]["retain_accuracy"])
        values.append((forget + max(0.0, ra_original - ra)) / 2)
    return sum(values) / len(values)


#: --objective name -> (score of one seed's rows, what its value means)
OBJECTIVES: dict[str, tuple[Callable[[Rows, str], float], str]] = {
    "retrain": (retrain_gap, "mean average gap to retrain"),
    "retrain-free": (retrain_free, "mean retrain-free score: forget accuracy toward test accuracy (0 for "
                     "class-wise) and retain accuracy lost, averaged"),
}


#: the objectives that read the exact-retrain reference (its gap to retrain)
NEEDS_REFERENCE: frozenset[str] = frozenset({"retrain"})
#: objective -> the families whose rows it can score (absent: every family)
FAMILIES: dict[str, tuple[str, ...]] = {"retrain-free": ("classifier",)}  # it reads classification accuracies


def applicable(family: str, reference: bool) -> list[str]:
    """The objectives a search of ``family`` can record (those needing the reference only with it)."""
    return [name for name in OBJECTIVES
            if (reference or name not in NEEDS_REFERENCE) and family in FAMILIES.get(name, (family,))]


def scores(rows: Rows, method: str, names: list[str] | None = None) -> dict[str, float]:
    """The objectives ``names`` (default: every one) scored on one seed's rows."""
    return {name: fn(rows, method) for name, (fn, _) in OBJECTIVES.items() if names is None or name in names}


def spearman(xs: list[float], ys: list[float]) -> float | None:
    """Spearman's rank correlation (average ranks for ties); None when a side has under 3 distinct values
    (the ranks of two groups of ties correlate +-1 whatever they measure)."""
    if len(set(xs)) < 3 or len(set(ys)) < 3:
        return None
    rx, ry = _ranks(xs), _ranks(ys)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    sx = math.sqrt(sum((a - mx) ** 2 for a in rx))
    sy = math.sqrt(sum((b - my) ** 2 for b in ry))
    return cov / (sx * sy) if sx > 0 and sy > 0 else None


def _ranks(values: list[float]) -> list[float]:
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks
