"""The metric registry: every metric a family's evaluation emits, declared once where it is computed.

A :class:`Metric` states its name, family, label, unit, direction, whether it enters the average gap
to retrain, and optionally a pass/fail :class:`Criterion`. Evaluation (which metrics the average gap
averages), the report (columns, labels, curves) and pass/fail verdicts read it; nothing else lists
metric names. Each metric module registers its own metrics on import (:data:`BUILTIN`); the lookups
import them first (:func:`load_all`), so they never see a half-filled registry.

Decisions:
- Keyed by (family, name). A family with two metric sets (RESTOR's rows are family ``lm``, dataset
  ``restor``, with their own gap metrics) tells them apart by ``benchmark`` (``""`` = the family's
  main set), which :func:`standard_metrics` and :func:`gap_metrics` filter on.
- Display and gap order is registration order: the average gap is a float sum over it, so a metric
  module registers its gap metrics in the order the average has always been summed.
- A name with ``<...>`` (``mia_auc_<attack>``, ``acc_<domain>_forgotten``) stands for a family of
  emitted names; lookups try exact names first, then these patterns in registration order.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import ObliviateError, UnknownNameError

__all__ = [
    "BUILTIN", "Criterion", "Metric", "computed_metrics", "criteria", "find_metric", "gap_metrics", "get_metric",
    "headline_metric", "judge",
    "load_all", "metric_label", "metrics_of", "register_metric", "standard_metrics",
]

#: Modules whose import registers the built-in metrics.
BUILTIN: tuple[str, ...] = ("classifier", "lm_eval", "lm_restor", "domain", "tofu", "lm_wmdp")


@dataclass(frozen=True)
class Criterion:
    """A pass/fail rule on a metric's mean over seeds (MUSE's criteria C1-C4 are four of these).

    ``against="retrain"`` or ``"original"``: the value must not be worse than ``factor`` times that
    reference's value (worse per the metric's ``higher_is_better``), with slack ``tol``;
    ``against=None``: ``|value - target| <= band``.
    """

    name: str
    description: str
    against: Literal["retrain", "original"] | None = "retrain"
    factor: float = 1.0
    tol: float = 0.0
    target: float = 0.0
    band: float = 0.0


@dataclass(frozen=True)
class Metric:
    """One metric: ``higher_is_better`` None means best at a target (e.g. PrivLeak at 0);
    ``standard`` metrics are the family's main table columns and curves, in registration order;
    ``same_as`` names a metric this one repeats under another name (drawn once, averaged once);
    ``headline``: the one metric that ranks the family's methods when a group has no retrain reference
    (no gap to rank by), e.g. ADU's H; ``setting``: a setting of how the model was made that the row
    records with its metrics (e.g. DP's epsilon), shown by the report as a note, never as a metric column."""

    name: str
    family: str
    label: str = ""
    unit: str = "%"
    higher_is_better: bool | None = True
    in_gap: bool = False
    standard: bool = False
    benchmark: str = ""
    same_as: str = ""
    description: str = ""
    criterion: Criterion | None = None
    headline: bool = False
    setting: bool = False
    #: for a metric a family's evaluation does not compute itself (e.g. one a user adds): ``(model,
    #: task) -> value``, called by the family's evaluator after its own metrics (:func:`computed_metrics`)
    compute: Callable[[Any, Any], float | None] | None = field(default=None, compare=False)
    _pattern: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.name or not self.family:
            raise ObliviateError(f"a metric needs a name and a family, got {self.name!r} / {self.family!r}")
        if "<" in self.name:
            parts = re.split(r"(<[^<>]+>)", self.name)
            regex = "".join(".+" if p.startswith("<") else re.escape(p) for p in parts)
            object.__setattr__(self, "_pattern", re.compile(regex))
        if self._pattern is not None and (self.standard or self.in_gap):
            raise ObliviateError(f"pattern metric {self.name!r} cannot be standard or enter the gap")
        if self.setting and (self.standard or self.in_gap or self.headline or self.criterion is not None):
            raise ObliviateError(f"setting {self.name!r} cannot be standard, enter the gap, rank or be judged")
        if self.headline and (self._pattern is not None or self.higher_is_better is None):
            raise ObliviateError(f"headline metric {self.name!r} needs a plain name and a direction")
        if self.criterion is not None and self.criterion.against is not None and self.higher_is_better is None:
            raise ObliviateError(f"metric {self.name!r}: a criterion against a reference needs a direction")

    def matches(self, name: str) -> bool:
        """Whether an emitted metric ``name`` is this metric (exact, or an instance of the pattern)."""
        return name == self.name if self._pattern is None else self._pattern.fullmatch(name) is not None

    def label_of(self, name: str | None = None) -> str:
        """The display label (``name``, the emitted name, when no label is declared)."""
        return self.label or (name or self.name)


_METRICS: dict[tuple[str, str], Metric] = {}
_loaded = False


def register_metric(metric: Metric) -> Metric:
    """Add ``metric``; registering an equal one again is a no-op, a different one under its key an error."""
    key = (metric.family, metric.name)
    old = _METRICS.get(key)
    if old is not None and old != metric:
        raise ObliviateError(f"metric {metric.family}/{metric.name} is already registered differently")
    _METRICS[key] = metric
    return metric


def load_all() -> None:
    """Import every built-in metric module once (lazy, so importing the registry stays light)."""
    global _loaded
    if not _loaded:
        _loaded = True  # first: a module that looks a metric up while it loads sees the registry so far
        try:
            for mod in BUILTIN:
                importlib.import_module(f"{__package__}.{mod}")
        except BaseException:
            _loaded = False  # a failed import is retried (and raises again) on the next lookup
            raise


def metrics_of(family: str | None = None) -> Iterator[Metric]:
    """The registered metrics (of ``family``), in registration order."""
    load_all()
    return (m for m in list(_METRICS.values()) if family is None or m.family == family)


def find_metric(name: str, family: str | None = None) -> Metric | None:
    """The metric an emitted ``name`` is (of ``family``, else of any family): exact names first, then
    patterns; None when unregistered."""
    candidates = list(metrics_of(family))
    exact = next((m for m in candidates if m.name == name), None)
    return exact or next((m for m in candidates if m._pattern is not None and m.matches(name)), None)


def get_metric(name: str, family: str) -> Metric:
    """:func:`find_metric` that raises :class:`~obliviate.errors.UnknownNameError` for an unknown name."""
    metric = find_metric(name, family)
    if metric is None:
        known = ", ".join(sorted(m.name for m in metrics_of(family)))
        raise UnknownNameError(f"unknown {family} metric {name!r}. Known: {known}.")
    return metric


def computed_metrics(family: str, model: Any, task: Any, benchmark: str = "") -> dict[str, float | None]:
    """The values of ``family``'s registered metrics that compute themselves (``Metric.compute``) on
    ``model`` and ``task``, in registration order."""
    return {m.name: m.compute(model, task) for m in metrics_of(family)
            if m.compute is not None and m.benchmark == benchmark}


def standard_metrics(family: str, benchmark: str = "") -> tuple[str, ...]:
    """The family's main metrics (of ``benchmark``) in display order."""
    return tuple(m.name for m in metrics_of(family) if m.standard and m.benchmark == benchmark)


def gap_metrics(family: str, benchmark: str = "") -> tuple[str, ...]:
    """The metrics whose gaps the average gap to retrain averages, in summation order."""
    return tuple(m.name for m in metrics_of(family) if m.in_gap and m.benchmark == benchmark)


def headline_metric(family: str, benchmark: str = "") -> Metric | None:
    """The family's (``benchmark``'s) headline metric, None when it declares none; two is an error."""
    found = [m for m in metrics_of(family) if m.headline and m.benchmark == benchmark]
    if len(found) > 1:
        raise ObliviateError(f"{family} declares {len(found)} headline metrics: {[m.name for m in found]}")
    return found[0] if found else None


def criteria(family: str, benchmark: str = "") -> tuple[Metric, ...]:
    """The family's metrics that carry a pass/fail criterion, in registration order."""
    return tuple(m for m in metrics_of(family) if m.criterion is not None and m.benchmark == benchmark)


def metric_label(name: str, family: str | None = None) -> str:
    """The label of an emitted metric ``name`` (looked up in ``family`` first, then in every family);
    the name itself when nothing declares a label."""
    metric = (find_metric(name, family) if family is not None else None) or find_metric(name)
    return name if metric is None else metric.label_of(name)


def judge(metric: Metric, value: float | None, references: dict[str, float | None]) -> bool | None:
    """Whether ``value`` passes ``metric``'s criterion; None when it or the reference it needs is missing.
    ``references`` maps "retrain" / "original" to that reference's value of the same metric."""
    c = metric.criterion
    if c is None:
        raise ObliviateError(f"metric {metric.name!r} has no pass/fail criterion")
    if value is None:
        return None
    if c.against is None:
        return abs(value - c.target) <= c.band
    ref = references.get(c.against)
    if ref is None:
        return None
    bound = c.factor * ref
    return value >= bound - c.tol if metric.higher_is_better else value <= bound + c.tol
