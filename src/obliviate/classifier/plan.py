"""``--dry-run`` for the classifier bench: its rows and the models it would train, computed like
:func:`~obliviate.classifier.bench.run_classifier_bench` computes them, with nothing trained or searched."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..bench.cache import default_cache_dir
from ..bench.plan import Plan, PlannedModel, PlannedRows, entry_path
from ..methods import get_method
from ..methods.classifier.retrain import RetrainConfig
from ..tasks import ForgetRequest, read_indices_file
from ..tasks.forget import SEARCHED_KINDS
from .bench import ClassifierBench, _SeedRun, setup
from .specs import BenchSpec, check_spec, points_of


class _NotSearched(Exception):
    """The worst-case set of a spec is not in the cache yet: its reference depends on the search."""


class _PlanRun(_SeedRun):
    """A seed's run that reads a worst-case set from the cache and never searches."""

    def worst_case(self, request: ForgetRequest) -> tuple[np.ndarray, dict[str, Any]]:
        entry = entry_path(self.cache_dir, "worst-case", self.search_key(request)[0])
        if not (entry / "indices.txt").is_file():
            raise _NotSearched
        return read_indices_file(entry / "indices.txt"), {"seconds": 0.0}


def plan_classifier_bench(bench: ClassifierBench) -> Plan:
    """The rows (per forget spec and method) and the originals, pruned originals, worst-case searches and
    retrain references ``bench`` needs, each with its cache entry."""
    bench.validate()
    conf = bench.resolved()
    splits, model_kwargs, base_key = setup(bench, conf)
    cache_dir = Path(bench.cache_dir) if bench.cache_dir else default_cache_dir()
    specs = [BenchSpec.parse(spec) for spec in conf["forget"]]
    for spec in specs:
        check_spec(spec, splits, bench, conf["seeds"])
    methods = [m for m in conf["methods"] if not get_method(m, family="classifier").is_exact]
    plan = Plan(f"classifier {conf['dataset']} ({conf['model']}, seeds {', '.join(map(str, conf['seeds']))})")
    seeds = conf["seeds"]
    for spec in specs:
        points = spec.steps if spec.kind == "sequential" else max(len(spec.percents), 1)
        n = len(seeds) * points
        plan.rows += [PlannedRows(spec.text, "original", n, "reference"), PlannedRows(spec.text, "retrain", n, "reference")]
        plan.rows += [PlannedRows(spec.text, m, n) for m in methods]
    models: dict[Path | str, PlannedModel] = {}
    for seed in seeds:
        key = {**base_key, "seed": seed}
        _add(models, PlannedModel("original", f"{conf['model']} on {conf['dataset']}, seed {seed}",
                                  entry_path(cache_dir, "original", key)))
        pruning = None
        if conf["prune"]:
            pruning = {"spec": conf["prune"]}
            _add(models, PlannedModel("pruned", f"{conf['prune']} of the seed {seed} original",
                                      entry_path(cache_dir, "pruned", {**key, "prune": conf["prune"]})))
        ctx = _PlanRun(bench, conf, splits, seed, None, None, pruning, None, cache_dir, base_key, model_kwargs,  # type: ignore[arg-type]
                       RetrainConfig.from_params(conf["train"]))
        for spec in specs:
            request = spec.inner
            if request is not None and request.kind in SEARCHED_KINDS:
                _add(models, PlannedModel("search", f"{request.spec} search, seed {seed}",
                                          entry_path(cache_dir, "worst-case", ctx.search_key(request)[0])))
            try:
                points, _ = points_of(ctx, spec)
            except _NotSearched:
                _add(models, PlannedModel("reference", f"retrain without the {spec.text} set, seed {seed} "
                                          "(its set comes from the search)", None))
                continue
            for point in points:
                ref_key = {k: v for k, v in ctx.key(point.task).items() if k != "prune"}
                _add(models, PlannedModel("reference", f"retrain without {point.task.request.spec}, seed {seed}",
                                          entry_path(cache_dir, "retrain", ref_key)))
    plan.models = list(models.values())
    return plan


def _add(models: dict[Path | str, PlannedModel], model: PlannedModel) -> None:
    """Add ``model`` once (two specs can share a reference)."""
    models.setdefault(model.entry if model.entry is not None else model.label, model)
