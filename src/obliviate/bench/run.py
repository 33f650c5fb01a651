"""Run benchmark suites and write results.json, config.json, bench.log and report.html."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Union

from ..errors import ObliviateError
from ..utils.io import atomic_write_json, remove_path
from ..utils.outputs import check_output, prepare_dir
from ..utils.threads import clear_choices
from ..classifier.bench import ClassifierBench, run_classifier_bench
from .results import build_results, write_results

if TYPE_CHECKING:
    from ..clip.bench import ClipBench
    from ..lm.bench import LMBench

Bench = Union[ClassifierBench, "LMBench", "ClipBench"]


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


def run_bench(bench: Bench, out_dir: Path) -> list[dict[str, Any]]:
    """Run one bench of either family (classifier or lm) into ``out_dir``."""
    if isinstance(bench, ClassifierBench):
        return run_classifier_bench(bench, out_dir)
    from ..clip.bench import ClipBench, run_clip_bench

    if isinstance(bench, ClipBench):
        return run_clip_bench(bench, out_dir)
    from ..lm.bench_restor import RestorBench, run_restor_bench

    if isinstance(bench, RestorBench):
        return run_restor_bench(bench, out_dir)
    from ..lm.bench import run_lm_bench

    return run_lm_bench(bench, out_dir)


def bench_inputs(benches: list[Bench]) -> list[Path]:
    """What a suite reads and the output must not overlap: data folders, model caches, model
    directories and ``indices:FILE`` forget files."""
    from .cache import default_cache_dir

    found: list[Path] = []
    for bench in benches:
        found.append(Path(bench.cache_dir) if bench.cache_dir else default_cache_dir())
        if getattr(bench, "data_dir", None):
            found.append(Path(bench.data_dir))
        model = getattr(bench, "model", None)
        if isinstance(model, str) and ("/" in model or Path(model).is_dir()):
            found.append(Path(model))
        for spec in getattr(bench, "forget", None) or []:
            _, sep, path = str(spec).partition("indices:")
            if sep:
                found.append(Path(path.strip()))
    return found


def run_suite(suite: str, benches: list[Bench], out_dir: Path, command: str | None = None, *,
              overwrite: bool = False) -> dict[str, Any]:
    """Run every bench of a suite into ``out_dir`` (resuming finished rows); write all artifacts.

    ``out_dir`` follows :mod:`obliviate.utils.outputs` (new, empty, an earlier bench output to resume,
    or ``overwrite``: what was there is replaced). Every bench and the output are checked before the first file is
    written; a user error before the first row removes what this run wrote (and the directory if it made it)."""
    for bench in benches:  # every problem is reported before anything is trained
        bench.validate()
    output = check_output(out_dir, "bench", inputs=bench_inputs(benches), overwrite=overwrite)
    clear_choices()  # results.json's environment reports the thread counts of this suite's benches only
    config = {"suite": suite, "benches": [bench.resolved() | {"cache_dir": bench.cache_dir} for bench in benches]}
    existed = output.path.exists()
    out_dir = prepare_dir(output)
    try:
        with _log_to(out_dir / "bench.log"):
            logging.getLogger("obliviate.bench").info("suite %s: %s", suite, config)
            atomic_write_json(out_dir / "config.json", config)
            runs: list[dict[str, Any]] = []
            for bench in benches:
                runs.extend(run_bench(bench, out_dir))
            doc = build_results(suite, runs, config, command)
            write_results(out_dir, doc)
            from .report import write_report

            write_report(doc, out_dir)
    except ObliviateError:
        if output.found != "bench" and not any((out_dir / "rows").glob("*.json")):
            for path in list(out_dir.iterdir()):  # all of it this run's, and no result was reached
                remove_path(path)
            if not existed:
                out_dir.rmdir()
        raise
    return doc


def quick_suite(cache_dir: str | None = None, seeds: int = 3) -> list[Bench]:
    """The embedded default: every family, small enough for minutes on 2 CPU cores: every classifier
    method on digits (random and class forgetting) plus a worst-case vs random set, the LM methods on
    bios with MUSE's scalability and sustainability series, and CLIP domain unlearning.

    The lm documents part (tiny Llama, 20 bios people, at most 2 seeds, 7 methods) took 59 s on the
    2-core CPU with a cold model cache and 10 s once the original and retrain models were cached.
    """
    from ..clip.bench import ClipBench
    from ..lm.bench import LMBench

    return [
        ClassifierBench(
            dataset="digits",
            forget=["random:0.1", "class:3"],
            methods=[
                "retrain", "finetune", "grad_ascent", "random_label", "l1_sparse", "influence",
                "fisher_forgetting", "salun", "scrub", "laf",
            ],
            seeds=list(range(seeds)),
            cache_dir=cache_dir,
        ),
        # Challenging Forgets: a searched worst-case set, reported against random:0.1 (the same size)
        ClassifierBench(
            dataset="digits",
            forget=["worst_case:0.1"],
            methods=["retrain", "finetune", "grad_ascent", "random_label"],
            seeds=list(range(seeds)),
            cache_dir=cache_dir,
        ),
        LMBench(
            methods=["retrain", "grad_ascent", "grad_diff", "npo", "npo_gdr", "simnpo", "task_vector", "whp", "eco"],
            seeds=list(range(min(seeds, 2))),
            people=20,  # half the lm bench's default, for speed
            cache_dir=cache_dir,
        ),
        # MUSE's scalability and sustainability on the same corpus, original and references (the
        # 4 forget people in 2 folds: one extra retrain per seed), for the two NPO-family methods
        LMBench(
            methods=["retrain", "npo_gdr", "simnpo"],
            forget=["scaling:2", "sequential:2"],
            seeds=list(range(min(seeds, 2))),
            people=20,
            cache_dir=cache_dir,
        ),
        # domain unlearning for CLIP: one pretrained tiny CLIP, every single forgotten domain
        ClipBench(forget=["domain:any=1"], seeds=[0], cache_dir=cache_dir),
    ]
