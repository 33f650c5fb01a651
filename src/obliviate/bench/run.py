"""Run benchmark suites and write results.json, config.json, bench.log and report.html."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

from ..utils.io import atomic_write_json
from .classifier import ClassifierBench, run_classifier_bench
from .results import build_results, write_results


def default_out_dir() -> Path:
    return Path("runs") / datetime.now().strftime("%Y%m%d-%H%M%S")


@contextmanager
def _log_to(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("obliviate")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        handler.close()


def run_suite(suite: str, benches: list[ClassifierBench], out_dir: Path, command: str | None = None) -> dict[str, Any]:
    """Run every bench of a suite into ``out_dir`` (resuming finished rows); write all artifacts."""
    out_dir = Path(out_dir)
    for bench in benches:  # every problem is reported before anything is trained
        bench.validate()
    config = {"suite": suite, "benches": [bench.resolved() | {"cache_dir": bench.cache_dir} for bench in benches]}
    with _log_to(out_dir / "bench.log"):
        logging.getLogger("obliviate.bench").info("suite %s: %s", suite, config)
        atomic_write_json(out_dir / "config.json", config)
        runs: list[dict[str, Any]] = []
        for bench in benches:
            runs.extend(run_classifier_bench(bench, out_dir))
        doc = build_results(suite, runs, config, command)
        write_results(out_dir, doc)
        from .report import write_report

        write_report(doc, out_dir)
    return doc


def quick_suite(cache_dir: str | None = None, seeds: int = 3) -> list[ClassifierBench]:
    """The embedded default: every family that exists so far, small enough for minutes on 2 CPU cores."""
    return [
        ClassifierBench(
            dataset="digits",
            forget=["random:0.1", "class:3"],
            methods=["retrain", "finetune", "grad_ascent", "random_label"],
            seeds=list(range(seeds)),
            cache_dir=cache_dir,
        )
    ]
