"""``obliviate bench classifier --accelerate N``: train the originals and the exact-retrain references
(the expensive part of a CIFAR-scale bench: 182 epochs each) in N processes through accelerate, as the
lm family runs (docs/scale-out.md); the unlearning methods then run in this process as before.

The bench launches ``accelerate launch --multi_gpu --num_processes N -m obliviate.classifier.launch_worker JOB``
(one process per GPU; on a CPU-only machine DDP over gloo) with the bench's fields in a JSON job file.
Every rank trains with the global batch split across the ranks (``training/distributed.py``); the main
rank writes each model into the model cache, the others wait. The grid then finds every original and
reference in the cache. The cache keys carry ``train_processes: N``: DDP keeps BatchNorm statistics per
shard, so N processes train other weights than one (and the rows' retrain seconds are N-process times).

The worker (what every rank runs) is :mod:`obliviate.classifier.launch_worker`; this module only launches
it, so the bench can import it without an import cycle.

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
from typing import Any

from ..errors import ConfigError, ObliviateError


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def launch_command(job: Path, processes: int) -> list[str]:
    return [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes),
            "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
            "--main_process_port", str(_free_port()), "-m", "obliviate.classifier.launch_worker", str(job)]


def launch_references(bench: Any) -> None:
    """Run ``launch_worker.warm_references`` for ``bench`` (a ClassifierBench, a dataclass) in
    ``bench.accelerate`` processes; raise when it fails."""
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
