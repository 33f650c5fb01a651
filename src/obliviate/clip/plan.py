"""``--dry-run`` for the CLIP bench: its rows and the tiny CLIPs it would pretrain, with nothing trained."""

from __future__ import annotations

from pathlib import Path

from ..bench.cache import default_cache_dir
from ..bench.plan import Plan, PlannedModel, PlannedRows, entry_path
from .bench import ClipBench, pretrain_key


def plan_clip_bench(bench: ClipBench) -> Plan:
    """Per forget spec: the zero-shot original's rows and each method's (one per seed; a row averages the
    spec's domain combinations); per seed the pretrained tiny CLIP (none for a user's model)."""
    bench.validate()
    seeds = list(bench.seeds)
    plan = Plan(f"clip {bench.dataset} ({bench.model}, domains {', '.join(bench.domains)}, seeds "
                f"{', '.join(map(str, seeds))})")
    for spec in bench.forget:
        n = len(seeds)
        combos = len(bench.combinations(spec))
        plan.rows.append(PlannedRows(spec, "original", n, "reference"))
        plan.rows += [PlannedRows(spec, m, n) for m in bench.methods]
        plan.notes.append(f"{spec}: {combos} domain combination(s), each unlearned by every method in every row")
    if bench.model == "tiny":
        cache_dir = Path(bench.cache_dir) if bench.cache_dir else default_cache_dir()
        plan.models = [PlannedModel("pretrain", f"tiny CLIP pretrained for seed {seed}",
                                    entry_path(cache_dir, "clip-pretrained", pretrain_key(bench, seed)))
                       for seed in seeds]
    else:
        plan.notes.append(f"the CLIP model {bench.model} is loaded, not trained")
    return plan
