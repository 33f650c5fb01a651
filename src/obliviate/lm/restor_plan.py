"""``--dry-run`` for the RESTOR bench: its rows and the models it would train, with nothing trained (the
per-seed tokenizer, which the cache keys hash, is built in memory)."""

from __future__ import annotations

from pathlib import Path

from ..bench.plan import Plan, PlannedModel, PlannedRows, entry_path
from ..methods import resolve_method
from .bench_restor import RestorBench, _RestorSeed


def plan_restor_bench(bench: RestorBench) -> Plan:
    """Per seed: the clean, corrupted and retrain reference rows (dp2: its base's row) and one per method;
    the clean, corrupted and reference models and dp2's DP-SGD base, with their cache entries."""
    bench.validate()
    conf = bench.resolved()
    seeds = list(bench.seeds)
    methods = [m for m in conf["methods"] if not resolve_method(m, family="lm")[0].is_exact]
    dp = [m for m in methods if resolve_method(m, family="lm")[0].base_model == "dp"]
    plan = Plan(f"restor ({bench.model}, seeds {', '.join(map(str, seeds))})")
    plan.rows += [PlannedRows("restor", name, len(seeds), "reference") for name in ("clean", "corrupted", "retrain")]
    if dp:
        plan.rows.append(PlannedRows("restor", "dp2_base", len(seeds) * len(dp), "reference"))
    plan.rows += [PlannedRows("restor", m, len(seeds)) for m in methods]
    for seed in seeds:
        ctx = _RestorSeed(bench, seed, conf, Path("."))  # its row store is never read or written here
        corrupt_key = {**ctx.key, "corrupt": conf["corrupt"]}
        plan.models += [
            PlannedModel("clean", f"clean model, seed {seed}", entry_path(ctx.cache_dir, "restor-clean", ctx.key)),
            PlannedModel("corrupted", f"corrupted model, seed {seed}",
                         entry_path(ctx.cache_dir, "restor-corrupted", corrupt_key)),
            PlannedModel("reference", f"reference (clean + unrelated texts), seed {seed}",
                         entry_path(ctx.cache_dir, "restor-retrain", corrupt_key)),
        ]
        for name in dp:
            from ..methods.lm.dp2 import DP2

            key = {**corrupt_key, "dp": DP2.Config.from_params(conf["methods"][name]).dp_config().as_dict()}
            plan.models.append(PlannedModel("dp-base", f"DP-SGD base for {name}, seed {seed}",
                                            entry_path(ctx.cache_dir, "restor-dp2-base", key)))
    return plan
