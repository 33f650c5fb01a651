"""Throughput (images/s) of the training loop's data path against a bare torch loop over the same tensors.

    python benchmarks/vision_pipeline.py [--images 20000] [--batch 256] [--reps 3] [--device cpu|cuda]
        [--out benchmarks/results/vision_pipeline/vision_pipeline-<device>.json]

Variants, each timed over one epoch of ``--images`` 32x32 RGB float32 images (median of ``--reps`` after a
warm-up epoch), every batch moved to ``--device`` (and synchronised there):

- ``bare``: ``torch.randperm`` + fancy indexing of the two tensors (the least any loop does);
- ``loader``: :func:`obliviate.training.loop.make_loader` (a seeded ``DataLoader`` over a ``TensorDataset``)
  with the loader options in force (:mod:`obliviate.training.loader_options`);
- ``loader+augment``: the same plus :class:`~obliviate.data.augment.RandomCropFlip` on the device;
- ``loader_workers2`` / ``loader_pinned``: 2 worker processes / pinned host memory.

And the image-folder load of ``--folder-images`` PNGs: decoding with Pillow vs the decoded-image cache hit.
Ratios are each variant's images/s over ``bare``. No model runs: this is the data path alone.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import TensorDataset

from obliviate.data.augment import RandomCropFlip
from obliviate.training.loader_options import reset_loader_options, set_loader_options
from obliviate.training.loop import make_loader
from obliviate.utils.io import atomic_write_json


def _median(fn: Callable[[], None], reps: int) -> float:
    fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def epoch_bare(x: torch.Tensor, y: torch.Tensor, batch: int, device: torch.device) -> Callable[[], None]:
    def run() -> None:
        order = torch.randperm(len(x))
        for i in range(0, len(x), batch):
            idx = order[i:i + batch]
            x[idx].to(device, non_blocking=True), y[idx].to(device, non_blocking=True)
        _sync(device)
    return run


def epoch_loader(x: torch.Tensor, y: torch.Tensor, batch: int, device: torch.device,
                 augment: RandomCropFlip | None = None) -> Callable[[], None]:
    loader = make_loader(TensorDataset(x, y), batch, seed=0)

    def run() -> None:
        for xb, yb in loader:
            xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
            if augment is not None:
                xb = augment(xb)
        _sync(device)
    return run


def folder_load(n: int, reps: int) -> dict[str, float]:
    """images/s of load_image_folder: Pillow decoding (cache off) vs a decoded-image cache hit."""
    from obliviate.data.folders import load_image_folder
    from obliviate.data.writers import write_image_folder

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "folder"
        write_image_folder(root, rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), [i % 10 for i in range(n)],
                           [f"class{i}" for i in range(10)])
        saved = {k: os.environ.get(k) for k in ("OBLIVIATE_CACHE", "OBLIVIATE_IMAGE_CACHE")}
        os.environ["OBLIVIATE_CACHE"] = str(Path(tmp) / "cache")
        try:
            os.environ["OBLIVIATE_IMAGE_CACHE"] = "0"
            decode = _median(lambda: load_image_folder(root), reps)
            os.environ["OBLIVIATE_IMAGE_CACHE"] = "1"
            cached = _median(lambda: load_image_folder(root), reps)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    return {"decode_images_per_s": n / decode, "cache_hit_images_per_s": n / cached, "speedup": decode / cached}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--folder-images", type=int, default=2000)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    device = torch.device(args.device)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(args.images, 3, 32, 32, generator=gen)
    y = torch.randint(0, 10, (args.images,), generator=gen)
    augment = RandomCropFlip(fill=[-2.0, -2.0, -2.0], seed=0)
    variants: dict[str, Callable[[], None]] = {}
    variants["bare"] = epoch_bare(x, y, args.batch, device)
    set_loader_options(workers=0, pin_memory=False)
    variants["loader"] = epoch_loader(x, y, args.batch, device)
    variants["loader+augment"] = epoch_loader(x, y, args.batch, device, augment)
    set_loader_options(workers=2, pin_memory=False)
    variants["loader_workers2"] = epoch_loader(x, y, args.batch, device)
    if device.type == "cuda":
        set_loader_options(workers=0, pin_memory=True)
        variants["loader_pinned"] = epoch_loader(x, y, args.batch, device)
        variants["loader_pinned+augment"] = epoch_loader(x, y, args.batch, device, augment)
    reset_loader_options()
    seconds = {name: _median(fn, args.reps) for name, fn in variants.items()}
    rate = {name: args.images / s for name, s in seconds.items()}
    result = {
        "command": "python benchmarks/vision_pipeline.py " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v is not None),
        "device": str(device), "images": args.images, "batch": args.batch, "reps": args.reps,
        "torch": torch.__version__, "python": platform.python_version(), "threads": torch.get_num_threads(),
        "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "images_per_s": rate,
        "ratio_to_bare": {name: r / rate["bare"] for name, r in rate.items()},
        "image_folder": folder_load(args.folder_images, args.reps),
    }
    out = Path(args.out or f"benchmarks/results/vision_pipeline/vision_pipeline-{device.type}.json")
    atomic_write_json(out, result)
    for name in rate:
        print(f"{name:<24} {rate[name]:>12,.0f} images/s  x{result['ratio_to_bare'][name]:.2f} of bare")
    print(f"image folder: decode {result['image_folder']['decode_images_per_s']:,.0f} images/s, cache hit "
          f"{result['image_folder']['cache_hit_images_per_s']:,.0f} images/s (x{result['image_folder']['speedup']:.1f})")
    print(f"-> {out}")


if __name__ == "__main__":
    main()
