"""``obliviate bench classifier --accelerate N``: train the originals and the exact-retrain references
(the expensive part of a CIFAR-scale bench: 182 epochs each) in N processes through accelerate, as the
lm family runs (docs/scale-out.md); the unlearning methods then run in this process as before.

The bench launches ``accelerate launch --multi_gpu --num_processes N -m obliviate.classifier.launch JOB``
(one process per GPU; on a CPU-only machine DDP over gloo) with the bench's fields in a JSON job file.
Every rank trains with the global batch split across the ranks (``training/distributed.py``); the main
rank writes each model into the model cache, the others wait. The grid then finds every original and
reference in the cache. The cache keys carry ``train_processes: N``: DDP keeps BatchNorm statistics per
shard, so N processes train other weights than one (and the rows' retrain seconds are N-process times).

Limits: worst-case forget specs (their search runs on the original, in one process) and ``--prune``
are refused with ``--accelerate`` for now; ``batch_size`` must be a multiple of N.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, ObliviateError

if TYPE_CHECKING:
    from .bench import ClassifierBench


def check_launchable(bench: "ClassifierBench") -> None:
    """What ``--accelerate N`` supports, checked before any work."""
    from ..tasks.forget import SEARCHED_KINDS
    from .bench import BenchSpec

    n = bench.accelerate
    if n is None:
        return
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"--accelerate takes a number of processes >= 1, got {n!r}")
    if n == 1:
        return
    searched = [f for f in bench.forget if (r := BenchSpec.parse(f).inner) is not None and r.kind in SEARCHED_KINDS]
    if searched:
        raise ConfigError(f"--accelerate does not run worst-case searches yet ({', '.join(searched)}); drop one of them")
    if bench.prune:
        raise ConfigError("--accelerate does not train pruned originals yet; drop --prune or --accelerate")
    batch = int(bench.resolved()["train"]["batch_size"])
    if batch % n:
        raise ConfigError(f"--accelerate {n}: the training batch_size {batch} is the global batch and must be a "
                          f"multiple of {n} (set --train batch_size=...)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def launch_command(job: Path, processes: int) -> list[str]:
    return [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes),
            "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
            "--main_process_port", str(_free_port()), "-m", "obliviate.classifier.launch", str(job)]


def launch_references(bench: "ClassifierBench") -> None:
    """Run :func:`warm_references` for ``bench`` in ``bench.accelerate`` processes; raise when it fails."""
    from ..training import distributed

    if not bench.accelerate or bench.accelerate < 2:
        return
    if distributed.num_processes() > 1:
        raise ConfigError("--accelerate launches its own processes; run the bench itself without accelerate launch")
    with tempfile.TemporaryDirectory(prefix="obliviate-launch-") as tmp:
        job = Path(tmp) / "job.json"
        job.write_text(json.dumps({"bench": dataclasses.asdict(bench)}), encoding="utf-8")
        done = subprocess.run(launch_command(job, bench.accelerate), env={**os.environ}, check=False)
    if done.returncode != 0:
        raise ObliviateError(f"--accelerate {bench.accelerate}: the training processes failed (exit {done.returncode}); "
                             "their output is above")


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


def warm_references(bench: "ClassifierBench") -> None:
    """Train and cache every original and retrain reference of ``bench`` (all ranks run this)."""
    from ..bench.cache import default_cache_dir
    from ..methods.classifier.retrain import RetrainConfig
    from ..utils.warmup import warm_up
    from .bench import BenchSpec, _points, _SeedRun, _setup, _train_original

    warm_up()
    conf = bench.resolved()
    splits, model_kwargs, base_key = _setup(bench, conf)
    cache_dir = Path(bench.cache_dir) if bench.cache_dir else default_cache_dir()
    train_cfg = RetrainConfig.from_params(conf["train"])
    specs = [BenchSpec.parse(spec) for spec in conf["forget"]]
    for seed in conf["seeds"]:
        _train_on_every_rank(cache_dir, "original", {**base_key, "seed": seed},
                             lambda: _train_original(conf, splits, model_kwargs, seed))
        ctx = _SeedRun(bench, conf, splits, seed, None, None, None, None, cache_dir, base_key, model_kwargs, train_cfg)
        for spec in specs:
            for point in _points(ctx, spec)[0]:
                _train_on_every_rank(cache_dir, "retrain", ctx.reference_key(point.task),
                                     lambda task=point.task: ctx.train_reference(task))


def main(argv: list[str] | None = None) -> int:
    from .bench import ClassifierBench
    from ..utils.progress import set_quiet

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: accelerate launch ... -m obliviate.classifier.launch JOB.json", file=sys.stderr)
        return 2
    set_quiet(True)
    bench = ClassifierBench(**json.loads(Path(args[0]).read_text(encoding="utf-8"))["bench"])
    if bench.model_factory:
        sys.path.insert(0, os.getcwd())
    warm_references(bench)
    return 0


if __name__ == "__main__":  # pragma: no cover - run by accelerate launch
    sys.exit(main())
