"""The classifier bench's forget specs and the tasks they become.

Forget specs (``--forget``, repeatable) are those of :class:`~obliviate.tasks.ForgetRequest`, plus:

- ``worst_case:N[,lower=M][,mode=easiest]`` / ``worst_classes:K[,...]``: the bi-level search of Fan et al.
  (2024) runs once per seed on the (dense) original model; the chosen set is cached like a model
  (``worst-case-<hash>/indices.txt``, an ``indices:FILE`` file) and its search time is recorded in the
  rows (``search``). ``--param worst_case.NAME=VALUE`` sets the search (:class:`WorstCaseConfig`).
- ``scaling:P1,P2,...``: nested random forget sets of P1 < P2 < ... percent of the training set (one
  seeded permutation, point i = its first Pi%), each unlearned from the original in one request.
- ``sequential:K[:SPEC]``: the forget set of SPEC (default ``random:0.1``) cut into K seeded folds that
  arrive as K requests; each method unlearns fold i from its own result of request i - 1 (retain: the
  training set without folds 1..i), metrics and gaps after every request.

Series points (scaling, sequential) follow the series row convention: ``task.series`` = {kind, id, x,
x_label} and a ``forget_spec`` unique per point; point i is compared with the retrain reference trained
without everything forgotten up to i. A sequential chain is all or nothing on resume (as in the lm bench).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..data.images import ImageSplits
from ..errors import ForgetSpecError
from ..tasks import ForgetRequest, Task
from ..tasks.forget import SEARCHED_KINDS
from ..bench.rows import retrain_timing

if TYPE_CHECKING:
    from .bench import ClassifierBench, _SeedRun


@dataclass(frozen=True)
class PointRequest:
    """The request label of one point of a series (what :class:`Task` reads: ``spec`` and ``scenario``)."""

    spec: str
    scenario: str


@dataclass(frozen=True)
class BenchSpec:
    """A bench forget spec: one request (``kind="single"``), a ``scaling`` or a ``sequential`` series."""

    text: str
    kind: str
    inner: ForgetRequest | None = None
    steps: int = 1
    percents: tuple[float, ...] = ()

    @classmethod
    def parse(cls, spec: str) -> "BenchSpec":
        text = spec.strip() if isinstance(spec, str) else spec
        head, _, rest = text.partition(":") if isinstance(text, str) else ("", "", "")
        if head == "scaling":
            try:
                percents = tuple(sorted(float(v) for v in rest.split(",") if v.strip()))
            except ValueError:
                raise ForgetSpecError(f"{text!r}: scaling:P1,P2,... takes percents of the training set, e.g. scaling:1,5,10,25") from None
            if not percents or any(not 0 < p < 100 for p in percents) or len(set(percents)) != len(percents):
                raise ForgetSpecError(f"{text!r}: scaling needs distinct percents strictly between 0 and 100, e.g. scaling:1,5,10,25")
            return cls(text, "scaling", percents=percents)
        if head == "sequential":
            steps, _, inner = rest.partition(":")
            if not steps.strip().isdigit() or int(steps) < 2:
                raise ForgetSpecError(f"{text!r}: sequential:K[:SPEC] needs an integer K >= 2 requests, e.g. sequential:4:random:0.1")
            return cls(text, "sequential", ForgetRequest.parse(inner.strip() or "random:0.1"), steps=int(steps))
        return cls(text, "single", ForgetRequest.parse(text))


@dataclass
class Point:
    """One task of a spec: its series coordinates, and for a sequential request the new indices alone."""

    task: Task
    series: dict[str, Any] | None = None
    fold: np.ndarray | None = None



def check_spec(spec: BenchSpec, splits: ImageSplits, bench: "ClassifierBench", seeds: list[int]) -> None:
    """Resolve what can be resolved without a model, so a bad spec fails before any training."""
    from .worst_case import resolve_size

    n = len(splits.train)
    request = spec.inner
    if request is not None and request.kind in SEARCHED_KINDS:
        bench.search_config(request)
        if request.kind == "worst_classes":
            if not 0 < request.count < splits.num_classes:
                raise ForgetSpecError(f"{request.spec}: choose 1..{splits.num_classes - 1} of {splits.num_classes} classes")
        else:
            size = resolve_size(request.count if request.count is not None else request.fraction, n)
            if spec.kind == "sequential" and size < spec.steps:
                raise ForgetSpecError(f"{spec.text}: {size} samples cannot arrive as {spec.steps} requests")
    elif request is not None:
        for seed in seeds:
            idx = Task.build(splits, request, seed).forget_idx
            if spec.kind == "sequential" and len(idx) < spec.steps:
                raise ForgetSpecError(f"{spec.text}: {len(idx)} samples cannot arrive as {spec.steps} requests")
    for p in spec.percents:
        if not 0 < round(p / 100 * n) < n:
            raise ForgetSpecError(f"{spec.text}: {p:g}% of {n} training samples selects no sample or all of them")


def points_of(ctx: "_SeedRun", spec: BenchSpec) -> tuple[list[Point], dict[str, Any] | None]:
    """The tasks of ``spec`` for this seed (and the search record when a worst-case search chose the set)."""
    splits, seed, n = ctx.splits, ctx.seed, len(ctx.splits.train)
    if spec.kind == "scaling":
        order = np.random.default_rng(seed).permutation(n)
        points = []
        for p in spec.percents:
            task = Task.from_indices(splits, order[: int(round(p / 100 * n))], seed, PointRequest(f"{spec.text} @{p:g}%", "scaling"))
            points.append(Point(task, {"kind": "scaling", "id": spec.text, "x": p, "x_label": "forget size (% of train)"}))
        return points, None
    request, search = spec.inner, None
    if request is None:  # BenchSpec.parse gives every non-scaling spec an inner request
        raise ValueError(f"forget spec {spec.text!r} has no request")
    if request.kind in SEARCHED_KINDS:
        idx, meta = ctx.worst_case(request)
        search = {"spec": request.spec, "seconds": float(meta["seconds"]), "size": int(len(idx)),
                  "lower": meta["key"]["config"]["lower"], "timing": retrain_timing(meta)}
        base = Task.from_indices(splits, idx, seed, request)
    else:
        base = Task.build(splits, request, seed)
    if spec.kind == "single":
        return [Point(base)], search
    folds = np.array_split(np.random.default_rng(seed).permutation(base.forget_idx), spec.steps)
    points = []
    for i in range(spec.steps):
        done = np.concatenate(folds[: i + 1])
        task = Task.from_indices(splits, done, seed, PointRequest(f"{spec.text} @{i + 1}/{spec.steps}", "sequential"))
        series = {"kind": "sequential", "id": spec.text, "x": i + 1, "x_label": "request"}
        points.append(Point(task, series, np.sort(folds[i])))
    return points, search
