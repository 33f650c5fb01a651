"""``--dry-run`` for the lm bench: its rows and the models it would train, with nothing trained (the
per-seed tokenizer, which the cache keys hash, is built in memory)."""

from __future__ import annotations

from pathlib import Path

from ..bench.cache import default_cache_dir
from ..bench.plan import Plan, PlannedModel, PlannedRows, entry_path
from ..methods import resolve_method
from .bench import LMBench, SeedRun
from .bench_series import LMForgetSpec


def plan_lm_bench(bench: LMBench) -> Plan:
    """Per forget spec the original's, the retrain reference's and each method's rows (dp2 adds its base's
    rows on ``documents``); per seed the original, each point's retrain reference and dp2's DP-SGD base,
    with their cache entries (for obliviate's own model sizes; a pretrained model's are found when it runs)."""
    from .model import LM_SIZES

    bench.validate()
    conf = bench.resolved()
    seeds = list(bench.seeds)
    methods = [m for m in conf["methods"] if not resolve_method(m, family="lm")[0].is_exact]
    dp = [m for m in methods if resolve_method(m, family="lm")[0].base_model == "dp"]
    specs = [LMForgetSpec.parse(f) for f in bench.forget]
    plan = Plan(f"lm {bench.corpus} ({bench.model}, seeds {', '.join(map(str, seeds))})")
    for spec in specs:
        n = len(seeds) * spec.rows_per_method
        plan.rows += [PlannedRows(str(spec), "original", n, "reference"), PlannedRows(str(spec), "retrain", n, "reference")]
        if spec.kind == "documents" and dp:
            plan.rows.append(PlannedRows(str(spec), "dp2_base", len(seeds) * len(dp), "reference"))
        plan.rows += [PlannedRows(str(spec), m, n) for m in methods]
    if bench.model not in LM_SIZES or bench.pretrain:
        start = f"pretrained on {bench.pretrain}" if bench.pretrain else "a pretrained model"
        plan.notes.append(f"model {bench.model}: {start}; its cached entries are found when the run starts")
        return plan
    cache_dir = Path(bench.cache_dir) if bench.cache_dir else default_cache_dir()
    for seed in seeds:
        ctx = SeedRun(bench, seed, conf, cache_dir, None, None, train=False)  # type: ignore[arg-type]
        plan.models.append(PlannedModel("original", f"{bench.model} on {bench.corpus}, seed {seed}",
                                        entry_path(cache_dir, "lm-original", ctx.key)))
        tasks = {}
        for spec in specs:
            if spec.kind == "documents":
                tasks.setdefault(str(spec), ctx.task)
                continue
            folds = spec.folds(ctx.task.corpus.units_of("forget"), seed)
            for i in range(spec.steps):
                task = ctx.task.with_forget([u for fold in folds[: i + 1] for u in fold])
                tasks.setdefault(f"{spec} point {i + 1}/{spec.steps}", task)
        seen = set()
        for label, task in tasks.items():
            entry = entry_path(cache_dir, "lm-retrain", ctx.task_key(task))
            if entry not in seen:  # nested points can share a reference (the last = the whole split)
                seen.add(entry)
                plan.models.append(PlannedModel("reference", f"retrain without {label}, seed {seed}", entry))
        for name in dp:
            from ..methods.lm.dp2 import DP2

            key = {**ctx.key, "dp": DP2.Config.from_params(conf["methods"][name]).dp_config().as_dict()}
            plan.models.append(PlannedModel("dp-base", f"DP-SGD base for {name}, seed {seed}",
                                            entry_path(cache_dir, "lm-dp2-base", key)))
    return plan
