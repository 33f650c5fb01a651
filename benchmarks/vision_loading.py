"""Loading throughput (images/s) of each vision format against bare loops over the same bytes.

    python benchmarks/vision_loading.py [--images 5000] [--reps 3] [--out benchmarks/results/vision_loading/vision_loading.json]

Writes ``--images`` random 32x32 RGB train images (and a fifth as many test images) in each format
with :mod:`obliviate.data.writers`, then times ``load_image_dataset`` (decode, stack, normalise to
float32) per format: the median of ``--reps`` runs after one warm-up run (files in the page cache).
Baselines: ``numpy_binary`` reads the CIFAR binary records with ``np.fromfile`` and converts them to
float32 in [0, 1] (the least any loader of that format does); ``pillow_png`` decodes the same PNG
bytes with Pillow into uint8 arrays (the least any PNG-based format does). Single process.
"""

from __future__ import annotations

import argparse
import io
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from obliviate.data import load_image_dataset, read_domain_folder
from obliviate.data.writers import (png_bytes, write_cifar10_binary, write_hf_parquet, write_image_folder,
                                    write_svhn_mat)
from obliviate.utils.io import atomic_write_json

NAMES = tuple(f"class{i}" for i in range(10))


def _median_seconds(fn: Callable[[], object], reps: int) -> float:
    fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/results/vision_loading/vision_loading.json")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    n_train, n_test = args.images, max(10, args.images // 5)
    x = rng.integers(0, 256, (n_train + n_test, 32, 32, 3), dtype=np.uint8)
    y = np.arange(n_train + n_test) % 10
    train, test = (x[:n_train], y[:n_train]), (x[n_train:], y[n_train:])
    pngs = [png_bytes(a) for a in x]
    total = n_train + n_test
    with tempfile.TemporaryDirectory(prefix="obliviate-vision-bench-") as tmp:
        root = Path(tmp)
        binary = write_cifar10_binary(root / "cifar-10-batches-bin", train, test, NAMES)
        for split, sl in (("train", slice(0, n_train)), ("test", slice(n_train, None))):
            write_hf_parquet(root / "parquet" / f"{split}-00000-of-00001.parquet", pngs[sl], y[sl].tolist(), class_names=NAMES)
            write_image_folder(root / "folder" / split, x[sl], y[sl], NAMES)
            write_image_folder(root / "domains" / ("photo" if split == "train" else "sketch"), x[sl], y[sl], NAMES)
        (root / "svhn").mkdir()
        write_svhn_mat(root / "svhn" / "train_32x32.mat", *train)
        write_svhn_mat(root / "svhn" / "test_32x32.mat", *test)

        def numpy_binary() -> None:
            for path in sorted(binary.glob("*.bin")):
                rows = np.fromfile(path, dtype=np.uint8).reshape(-1, 3073)
                torch.from_numpy(rows[:, 1:].reshape(-1, 3, 32, 32)).to(torch.float32).div_(255.0)

        def pillow_png() -> None:
            from PIL import Image

            for data in pngs:
                np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))

        runs = {
            "numpy_binary (baseline)": numpy_binary,
            "cifar10 binary": lambda: load_image_dataset("cifar10", data_dir=root),
            "svhn .mat": lambda: load_image_dataset("svhn", data_dir=root / "svhn"),
            "pillow_png (baseline)": pillow_png,
            "parquet (PNG)": lambda: load_image_dataset("parquet", data_dir=root / "parquet"),
            "image folder (PNG)": lambda: load_image_dataset("image-folder", data_dir=root / "folder"),
            "domain folder (PNG, uint8 only)": lambda: read_domain_folder(root / "domains"),
        }
        rows = []
        for name, fn in runs.items():
            seconds = _median_seconds(fn, args.reps)
            rows.append({"format": name, "images": total, "seconds": round(seconds, 4), "images_per_s": round(total / seconds)})
            print(f"{name:34s} {total / seconds:10.0f} images/s   ({seconds:.3f} s for {total})", flush=True)
    atomic_write_json(Path(args.out), {
        "command": f"python benchmarks/vision_loading.py --images {args.images} --reps {args.reps}",
        "machine": {"python": platform.python_version(), "torch": torch.__version__, "threads": torch.get_num_threads(),
                    "processor": platform.processor() or platform.machine()},
        "rows": rows,
    })


if __name__ == "__main__":
    main()
