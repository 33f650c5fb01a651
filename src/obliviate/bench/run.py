"""Run benchmark suites and write results.json, config.json, bench.log and report.html."""

from __future__ import annotations

import logging
import re
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping

from ..errors import ConfigError, ObliviateError
from ..families import Bench, load_all
from ..utils.io import atomic_write_json, atomic_write_text, remove_path
from ..utils.outputs import check_output, prepare_dir
from ..utils.threads import clear_choices
from ..utils.progress import is_quiet
from .cache import config_hash
from .results import build_results, write_results
from .rows import finished_rows, suite_progress
from .tuned_seeds import check_tuned_seeds, mark_tuned_rows


def suite_config(suite: str, benches: list[Bench]) -> dict[str, Any]:
    """The resolved configuration of a suite, as config.json records it."""
    return {"suite": suite, "benches": [bench.resolved() | {"cache_dir": bench.cache_dir} for bench in benches]}


def default_out_dir(suite: str, benches: list[Bench]) -> Path:
    """``runs/<suite>-<hash>``: a stable hash of what determines the suite's rows (each bench's resolved
    configuration and inputs), so rerunning the same command finds, and resumes, its earlier rows."""
    for bench in benches:  # a bad name or spec is reported as itself, not by resolved()
        bench.validate()
    identity = {"suite": suite, "benches": [{"resolved": bench.resolved(),
                                             "inputs": [str(Path(p).resolve()) for p in bench.inputs()]}
                                            for bench in benches]}
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", suite)
    return Path("runs") / f"{name}-{config_hash(identity)[:12]}"


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


def _say_resume(text: str) -> None:
    logging.getLogger("obliviate.bench").info(text)
    if not is_quiet():
        print(text, file=sys.stderr)


def bench_inputs(benches: list[Bench]) -> list[Path]:
    """What a suite reads and the output must not overlap: model caches and each bench's own inputs
    (data folders, model directories, ``indices:FILE`` forget files)."""
    from .cache import default_cache_dir

    found: list[Path] = []
    for bench in benches:
        found.append(Path(bench.cache_dir) if bench.cache_dir else default_cache_dir())
        found.extend(bench.inputs())
    return found


def run_suite(suite: str, benches: list[Bench], out_dir: Path, command: str | None = None, *,
              overwrite: bool = False, files: Mapping[str, str] | None = None,
              allow_tuned_seeds: bool = False) -> dict[str, Any]:
    """Run every bench of a suite into ``out_dir`` (resuming finished rows); write all artifacts
    (``files``: name -> text of more files written beside config.json, e.g. the saved bench.yaml).

    ``out_dir`` follows :mod:`obliviate.utils.outputs` (new, empty, an earlier bench output to resume,
    or ``overwrite``: what was there is replaced). Every bench and the output are checked before the first file is
    written; a user error before the first row removes what this run wrote (and the directory if it made it).
    A bench whose seeds include a seed its recipe was tuned on is refused (:mod:`.tuned_seeds`) unless
    ``allow_tuned_seeds``; then those rows are marked ``tuned_on_seed``."""
    for bench in benches:  # every problem is reported before anything is trained
        bench.validate()
    check_tuned_seeds(benches, allow=allow_tuned_seeds)
    output = check_output(out_dir, "bench", inputs=bench_inputs(benches), overwrite=overwrite)
    clear_choices()  # results.json's environment reports the thread counts of this suite's benches only
    config = suite_config(suite, benches)
    existed = output.path.exists()
    out_dir = prepare_dir(output)
    try:
        with _log_to(out_dir / "bench.log"):
            logging.getLogger("obliviate.bench").info("suite %s: %s", suite, config)
            atomic_write_json(out_dir / "config.json", config)
            for name, text in (files or {}).items():
                atomic_write_text(out_dir / name, text)
            runs: list[dict[str, Any]] = []
            total, done = sum(bench.row_count() for bench in benches), finished_rows(out_dir)
            if done:
                _say_resume(f"resuming {out_dir}: {min(len(done), total)} of {total} rows already done")
            with suite_progress(total, done, f"bench {suite}"):
                for bench in benches:
                    runs.extend(mark_tuned_rows(bench, bench.run(out_dir)))
            doc = build_results(suite, runs, config, command)
            write_results(out_dir, doc)
            from ..report import write_report

            write_report(doc, out_dir)
    except ObliviateError:
        if output.found != "bench" and not any((out_dir / "rows").glob("*.json")):
            for path in list(out_dir.iterdir()):  # all of it this run's, and no result was reached
                remove_path(path)
            if not existed:
                out_dir.rmdir()
        raise
    return doc


def quick_suite(cache_dir: str | None = None, seeds: int | list[int] = 3) -> list[Bench]:
    """The embedded default: every registered family's quick benches, small enough for minutes on 2 CPU
    cores (each adapter's ``quick_benches`` says what it runs)."""
    if not isinstance(seeds, int):
        raise ConfigError(f"the quick suite takes a number of seeds (--seeds N), got the list {seeds}")
    return [bench for family in load_all().values() for bench in family.quick_benches(cache_dir, seeds)]
