"""What every rank of ``bench classifier --accelerate N`` runs (launched by :mod:`obliviate.classifier.launch`):
train and cache the bench's originals and exact-retrain references, the main rank writing the cache."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from .bench import ClassifierBench, _SeedRun, _train_original, setup
from .specs import BenchSpec, points_of


def _valid_entry(directory: Path) -> bool:
    from ..bench.cache_entry import BadEntry, verify_entry

    if not os.path.lexists(directory):
        return False
    try:
        verify_entry(directory)
        return True
    except BadEntry:
        return False  # the main rank's cached_classifier moves it aside and retrains; every rank trains


def _train_on_every_rank(cache_dir: Path, kind: str, key: dict[str, Any], build) -> None:
    """``build`` on every rank unless the entry is cached; the main rank caches the result."""
    from ..bench.cache import cached_classifier, config_hash
    from ..training import distributed

    cached = _valid_entry(cache_dir / f"{kind}-{config_hash(key)}")  # every rank decides the same
    distributed.wait_for_everyone()
    if cached:
        return
    if distributed.is_main_process():
        cached_classifier(cache_dir, kind, key, build)
    else:
        build()
    distributed.wait_for_everyone()


def warm_references(bench: ClassifierBench) -> None:
    """Train and cache every original and retrain reference of ``bench`` (all ranks run this)."""
    from ..bench.cache import default_cache_dir
    from ..methods.classifier.retrain import RetrainConfig
    from ..utils.warmup import warm_up

    warm_up()
    conf = bench.resolved()
    splits, model_kwargs, base_key = setup(bench, conf)
    cache_dir = Path(bench.cache_dir) if bench.cache_dir else default_cache_dir()
    train_cfg = RetrainConfig.from_params(conf["train"])
    specs = [BenchSpec.parse(spec) for spec in conf["forget"]]
    for seed in conf["seeds"]:
        _train_on_every_rank(cache_dir, "original", {**base_key, "seed": seed},
                             lambda: _train_original(conf, splits, model_kwargs, seed))
        ctx = _SeedRun(bench, conf, splits, seed, None, None, None, None, cache_dir, base_key, model_kwargs, train_cfg)
        for spec in specs:
            for point in points_of(ctx, spec)[0]:
                _train_on_every_rank(cache_dir, "retrain", ctx.reference_key(point.task),
                                     lambda task=point.task: ctx.train_reference(task))


def main(argv: list[str] | None = None) -> int:
    from ..utils.progress import set_quiet

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: accelerate launch ... -m obliviate.classifier.launch_worker JOB.json", file=sys.stderr)
        return 2
    set_quiet(True)
    bench = ClassifierBench(**json.loads(Path(args[0]).read_text(encoding="utf-8"))["bench"])
    if bench.model_factory:
        sys.path.insert(0, os.getcwd())
    warm_references(bench)
    return 0


if __name__ == "__main__":  # pragma: no cover - run by accelerate launch
    sys.exit(main())
