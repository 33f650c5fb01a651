"""The CIFAR-10 recipe file end to end on a 32x32 fixture in CIFAR-10's binary format (this CPU has no GPU).

    python benchmarks/recipe_fixture.py [--out benchmarks/results/recipe_fixture] [--max-train 300] [--epochs 12] [--batch 64]

Writes scikit-learn's digits (8x8, upscaled 4x to 32x32, grey in three channels) as ``cifar-10-batches-bin``
and runs ``obliviate bench classifier --recipe recipes/cifar10-resnet18.toml`` on it: ResNet-18 (CIFAR form),
crop + flip augmentation, SGD with the multistep schedule, the recipe's method settings, with the epoch
counts and batch sizes cut (``--train`` / ``--param``, which override the file) so that it finishes on a CPU.
Its results.json shows the recipe path and each value's provenance in the rows.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

from obliviate.cli import main as cli
from obliviate.data.writers import write_cifar10_binary

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("retrain", "finetune", "salun", "l1_sparse")


def fixture(folder: Path) -> Path:
    from sklearn.datasets import load_digits

    digits = load_digits()
    grey = (digits.images / 16.0 * 255).round().astype(np.uint8)  # (N, 8, 8) in 0..255
    big = np.kron(grey, np.ones((1, 4, 4), dtype=np.uint8))  # (N, 32, 32)
    images = np.repeat(big[..., None], 3, axis=3)
    order = np.random.default_rng(0).permutation(len(images))
    train, test = order[:1437], order[1437:]
    return write_cifar10_binary(folder / "cifar-10-batches-bin", (images[train], digits.target[train]),
                                (images[test], digits.target[test]), [str(i) for i in range(10)])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "recipe_fixture"))
    parser.add_argument("--max-train", type=int, default=300)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = fixture(Path(tmp))
        argv = ["bench", "classifier", "--recipe", str(ROOT / "recipes" / "cifar10-resnet18.toml"),
                "--data-dir", str(data), "--max-train", str(args.max_train), "--forget", "random:0.1",
                "--methods", ",".join(METHODS), "--seeds", "1", "--train", f"epochs={args.epochs}",
                "--train", f"batch_size={args.batch}", "--cache-dir", str(Path(tmp) / "cache"), "--out", args.out,
                "--overwrite", "--quiet"]
        for method in METHODS[1:]:
            argv += ["--param", f"{method}.epochs=1", "--param", f"{method}.batch_size={args.batch}"]
        return cli(argv)


if __name__ == "__main__":
    sys.exit(main())
