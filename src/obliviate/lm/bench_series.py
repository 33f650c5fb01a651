"""LM forget specs, and MUSE's C5 scalability and C6 sustainability series for the LM bench.

Specs (``obliviate bench lm --forget SPEC``, repeatable):

- ``documents`` (default): every method unlearns the whole forget split from the original.
- ``scaling:K``: the forget split ("the pool") is cut into ``K`` folds in a seeded order; point ``i``
  forgets the first ``i`` folds (nested sets of growing size), each from the original, in one request.
- ``sequential:K``: the same folds arrive as ``K`` requests; each method unlearns fold ``i`` from its own
  result of request ``i - 1``; metrics after every request.

Decisions:
- Point ``i`` of both series has the same task (the first ``i`` folds forgotten) and the same retrain
  reference (trained without them), so the two series share their ``K`` references; the last one is the
  ``documents`` reference. A series costs ``K - 1`` extra retrains per seed.
- Folds not forgotten yet are still training data: they join the retain split (what the methods' retain
  terms and the references train on, and what KnowMem-retain asks about), see
  :meth:`~obliviate.lm.task.LMTask.with_forget`. The original's row at each point shows the start.
- Scaling's last point is the ``documents`` row (computed once). Sequential's first request is the same
  run as scaling's first point, but a chain keeps its own rows: it needs the model, not just the row.
- A sequential chain is all or nothing on resume: unless every request's row is stored, the chain runs
  again from the original (methods are deterministic under the seed, so finished rows come out the same).
- dp2 starts every point from its DP-SGD base, the checkpoint its design answers every request from,
  so its sequential points equal its scaling points.
- Every point is a complete row whose ``task.series`` (``kind``, ``id``, ``x``, ``x_label``) lets the
  report draw metric-vs-x curves (:mod:`obliviate.report.series`).
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ForgetSpecError
from ..methods.base import resolve_method
from ..bench.series import sequential_chain
from ..utils.seeding import seed_everything
from ..bench.rows import run_method_row

if TYPE_CHECKING:
    from ..lm.task import LMTask
    from .bench import SeedRun

LM_FORGET_KINDS = ("documents", "scaling", "sequential")


@dataclass(frozen=True)
class LMForgetSpec:
    """A parsed LM forget spec: ``documents``, ``scaling:K`` or ``sequential:K``."""

    kind: str
    steps: int = 1

    @classmethod
    def parse(cls, spec: str) -> "LMForgetSpec":
        text = spec.strip()
        if text == "documents":
            return cls("documents")
        kind, sep, count = text.partition(":")
        if kind in ("scaling", "sequential") and sep:
            if count.strip().isdigit() and int(count) >= 2:
                return cls(kind, int(count))
            raise ForgetSpecError(f"lm forget spec {text!r}: {kind}:K needs an integer K >= 2 "
                                  f"({'requests' if kind == 'sequential' else 'nested forget sizes'})")
        raise ForgetSpecError(f"unknown lm forget spec {text!r}; known: documents, scaling:K, sequential:K")

    def __str__(self) -> str:
        return self.kind if self.kind == "documents" else f"{self.kind}:{self.steps}"

    @property
    def rows_per_method(self) -> int:
        return self.steps

    def folds(self, pool: tuple[int, ...], seed: int) -> list[tuple[int, ...]]:
        """``steps`` folds of the forget pool, as equal as possible, in a seeded order."""
        if self.steps > len(pool):
            raise ForgetSpecError(f"{self}: the forget split has only {len(pool)} units; use K <= {len(pool)} "
                                  "or a larger forget split (e.g. more --people)")
        order = list(pool)
        random.Random(f"lm-series-{seed}").shuffle(order)
        bounds = [round(i * len(order) / self.steps) for i in range(self.steps + 1)]
        return [tuple(sorted(order[a:b])) for a, b in zip(bounds, bounds[1:])]


def _point(row: dict[str, Any], spec: LMForgetSpec, index: int, task: "LMTask") -> dict[str, Any]:
    """``row`` marked as point ``index`` (0-based) of ``spec``'s series."""
    row = copy.deepcopy(row)
    unit = task.corpus.size_unit
    size = len(task.corpus.units_of("forget"))
    if spec.kind == "sequential":
        x, x_label, at = index + 1, "request", f"@{index + 1}/{spec.steps}"
    else:
        x, x_label, at = size, f"forget size ({unit})", f"@{size} {unit}"
    row["task"].update(scenario=spec.kind, forget_spec=f"{spec} {at}",
                       series={"kind": spec.kind, "id": str(spec), "x": x, "x_label": x_label})
    return row


def run_series(ctx: "SeedRun", spec: LMForgetSpec, methods: list[str], emit: Callable[[dict], None]) -> None:
    """Emit every point's original and retrain rows, then each method's rows, for one seed."""
    folds = spec.folds(ctx.task.corpus.units_of("forget"), ctx.seed)
    tasks = [ctx.task.with_forget([u for fold in folds[:i + 1] for u in fold]) for i in range(spec.steps)]
    pairs = [ctx.reference_rows(task) for task in tasks]
    for i, (task, (ref_row, original_row)) in enumerate(zip(tasks, pairs)):
        emit(_point(original_row, spec, i, task))
        emit(_point(ref_row, spec, i, task))
    references = [ref_row for ref_row, _ in pairs]
    for name in methods:
        run = _sequential if spec.kind == "sequential" else _scaling
        for i, row in enumerate(run(ctx, name, tasks, folds, references)):
            emit(_point(row, spec, i, tasks[i]))


def _method_key(ctx: "SeedRun", task: "LMTask", name: str, chain: str | None = None) -> dict[str, Any]:
    key = {**ctx.task_key(task), "method": name, "params": ctx.conf["methods"][name], "eval": ctx.conf["eval"]}
    return key | ({"chain": chain} if chain else {})


def _base(ctx: "SeedRun", name: str) -> tuple[Any, dict[str, float]]:
    """The model ``name`` starts from (the original; dp2: its DP base) and its extra row metrics."""
    method, _ = resolve_method(name, family="lm")
    return ctx.method_start(method, ctx.conf["methods"][name], ctx.reference_rows(ctx.task)[0])


def _runner(ctx: "SeedRun", name: str, task: "LMTask", ref_row: dict, start: Callable[[], Any],
            data: Callable[[], Any], key: dict[str, Any], label: str, reuse: bool = True,
            keep: Callable[[Any], None] = lambda model: None, extra: dict[str, float] | None = None) -> dict[str, Any]:
    """One method run on ``task`` from the model ``start()`` returns, as a stored row (``extra`` metrics
    added to its evaluation)."""
    from .bench_dp import with_metrics

    method, _ = resolve_method(name, family="lm")
    params = ctx.conf["methods"][name]
    config = method.Config.from_params(params)

    def unlearn():
        model = start()
        seed_everything(ctx.seed)
        model = method().run(model, data(), config, seed=ctx.seed)
        keep(model)
        return model

    return run_method_row(
        ctx.store, key, label, unlearn,
        lambda unlearned: with_metrics(ctx.evaluate(unlearned, task, ref_row["metrics"]), extra or {}),
        lambda evaluation, seconds: ctx.row(task, name, params, evaluation, seconds, ref_row["retrain_seconds"]),
        reuse=reuse,
    )


def _scaling(ctx: "SeedRun", name: str, tasks: list["LMTask"], folds, references: list[dict]) -> list[dict]:
    """Point i: unlearn the first i folds from the original (dp2: its DP base) in one request."""
    base, extra = _base(ctx, name)
    return [
        _runner(ctx, name, task, ref, lambda: copy.deepcopy(base), task.unlearn_data,
                _method_key(ctx, task, name), f"{name} scaling @{len(task.corpus.units_of('forget'))} seed {ctx.seed}",
                extra=extra)
        for task, ref in zip(tasks, references)
    ]


def _sequential(ctx: "SeedRun", name: str, tasks: list["LMTask"], folds, references: list[dict]) -> list[dict]:
    """Request i: unlearn fold i from the model request i - 1 left (retain: everything not forgotten yet).
    dp2 answers every request from its DP base (that is its design), so its points are scaling's."""
    from ..lm.data import lm_dataset
    from ..lm.task import LMUnlearnData

    if resolve_method(name, family="lm")[0].base_model == "dp":
        return _scaling(ctx, name, tasks, folds, references)

    chain = f"sequential:{len(tasks)}"
    keys = [_method_key(ctx, task, name, chain) for task in tasks]

    def request_data(i: int) -> LMUnlearnData:
        """Forget: fold i only (the new request); retain: the training data without folds 0..i."""
        fold_texts = ctx.task.with_forget(folds[i]).forget_texts()
        forget = lm_dataset(ctx.tok, fold_texts, max_length=ctx.task.max_length)
        return LMUnlearnData(forget, tasks[i].unlearn_data().retain, ctx.tok)

    def run_request(i: int, model_in: Callable[[], Any], keep: Callable[[Any], None]) -> dict[str, Any]:
        return _runner(ctx, name, tasks[i], references[i], model_in, lambda: request_data(i), keys[i],
                       f"{name} request {i + 1}/{len(tasks)} seed {ctx.seed}", reuse=False, keep=keep)

    return sequential_chain(ctx.store, keys, lambda: copy.deepcopy(ctx.original), run_request)
