"""Image-classification datasets: sklearn's bundled digits and Fashion-MNIST from Debian's package.

Every dataset is held in memory as normalised float tensors of shape (N, C, H, W) with int64
labels; the train/test split is fixed (it never depends on the experiment seed), so every seed of
a benchmark shares one test set. The vision formats (CIFAR, SVHN, parquet, image folders) live in
their own modules and register here too.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import TensorDataset

from ..errors import ConfigError, MissingDataError
from ..registry import Registry

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)


@dataclass(frozen=True)
class ImageDataset:
    """Images ``x`` (N, C, H, W) float32 and labels ``y`` (N,) int64; ``y`` is None when unlabelled."""

    x: torch.Tensor
    y: torch.Tensor | None
    #: the statistics ``x`` was normalised with (augmentation pads with their black); kept by subsets
    normalization: Normalization | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.y is not None and len(self.y) != len(self.x):
            raise ValueError(f"{len(self.x)} images but {len(self.y)} labels")

    def __len__(self) -> int:
        return len(self.x)

    def subset(self, indices: np.ndarray | torch.Tensor) -> "ImageDataset":
        idx = torch.as_tensor(np.asarray(indices), dtype=torch.long)
        return ImageDataset(self.x[idx], None if self.y is None else self.y[idx], self.normalization)

    def without_labels(self) -> "ImageDataset":
        return ImageDataset(self.x, None, self.normalization)

    def with_labels(self, y: torch.Tensor) -> "ImageDataset":
        return ImageDataset(self.x, y, self.normalization)

    def as_torch(self) -> TensorDataset:
        """A ``TensorDataset`` of (x, y), or of (x,) when unlabelled, for the training loop."""
        return TensorDataset(self.x) if self.y is None else TensorDataset(self.x, self.y)


@dataclass(frozen=True)
class Normalization:
    """Per-channel ``mean`` and ``std`` the pixels (scaled to [0, 1]) were normalised with."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.mean) != len(self.std) or not all(s > 0 for s in self.std):
            raise ValueError(f"bad normalisation: mean {self.mean}, std {self.std}")

    def black(self) -> tuple[float, ...]:
        """The normalised value of a 0 pixel per channel (what torchvision's zero padding becomes)."""
        return tuple(-m / s for m, s in zip(self.mean, self.std))


@dataclass(frozen=True)
class ImageSplits:
    """A dataset's fixed train and test splits plus what a model needs to know about it."""

    name: str
    train: ImageDataset
    test: ImageDataset
    num_classes: int
    class_names: tuple[str, ...]
    normalization: Normalization | None = None

    def __post_init__(self) -> None:  # the splits' statistics travel with their datasets (and their subsets)
        if self.normalization is not None:
            for name in ("train", "test"):
                part = getattr(self, name)
                if part.normalization is None:
                    object.__setattr__(self, name, replace(part, normalization=self.normalization))

    @property
    def image_shape(self) -> tuple[int, int, int]:
        c, h, w = self.train.x.shape[1:]
        return int(c), int(h), int(w)


IMAGE_DATASETS: Registry[Callable[..., ImageSplits]] = Registry("dataset")


def load_image_dataset(name: str, *, data_dir: str | Path | None = None, max_train: int | None = None) -> ImageSplits:
    """Load a registered image dataset; ``max_train`` keeps a class-stratified subset of train."""
    splits = IMAGE_DATASETS.get(name)(data_dir=data_dir)
    if max_train is not None:
        if max_train < splits.num_classes:
            raise ConfigError(f"max_train={max_train} is smaller than the number of classes ({splits.num_classes})")
        if max_train < len(splits.train):
            keep = _stratified_subset(splits.train.y.numpy(), max_train, seed=0)
            splits = replace(splits, train=splits.train.subset(keep))
    return splits


def _stratified_subset(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    from sklearn.model_selection import train_test_split

    keep, _ = train_test_split(np.arange(len(labels)), train_size=size, stratify=labels, random_state=seed)
    return np.sort(keep)


def _normalise(x: np.ndarray, mean: float, std: float) -> torch.Tensor:
    return torch.from_numpy(((x - mean) / std).astype(np.float32))


def _digits(data_dir: str | Path | None = None) -> ImageSplits:
    """sklearn's 1,797 8x8 digits, split 80/20 (stratified, fixed seed 0)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    images = bunch.images.astype(np.float32)[:, None] / 16.0
    labels = bunch.target.astype(np.int64)
    tr, te = train_test_split(np.arange(len(labels)), test_size=0.2, stratify=labels, random_state=0)
    tr, te = np.sort(tr), np.sort(te)
    mean, std = float(images[tr].mean()), float(images[tr].std())
    x = _normalise(images, mean, std)
    y = torch.from_numpy(labels)
    return ImageSplits(
        "digits",
        ImageDataset(x[tr], y[tr]),
        ImageDataset(x[te], y[te]),
        10,
        tuple(str(i) for i in range(10)),
        Normalization((mean,), (std,)),
    )


def _read_idx(path: Path) -> np.ndarray:
    """Parse one (gzipped) IDX file as used by MNIST-style datasets."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        data = fh.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise MissingDataError(f"{path} is not an unsigned-byte IDX file")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    expected = int(np.prod(dims))
    if len(data) - offset != expected:
        raise MissingDataError(f"{path} is truncated: expected {expected} bytes of data, found {len(data) - offset}")
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(dims)


def _find_idx(root: Path, stem: str) -> Path:
    for name in (f"{stem}.gz", stem):
        if (root / name).is_file():
            return root / name
    raise MissingDataError(
        f"Fashion-MNIST file {stem}(.gz) not found in {root}. Install it with "
        "`apt-get install -y dataset-fashion-mnist` (files go to /usr/share/datasets/fashion-mnist) "
        "or pass --data-dir pointing at a folder with the four IDX files."
    )


def _fashion_mnist(data_dir: str | Path | None = None) -> ImageSplits:
    """Fashion-MNIST (60k train / 10k test, 28x28) from the IDX files of Debian's package."""
    root = Path(data_dir or os.environ.get("OBLIVIATE_FASHION_MNIST_DIR", FASHION_MNIST_DIR))
    arrays = {
        stem: _read_idx(_find_idx(root, stem))
        for stem in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    }
    xtr = arrays["train-images-idx3-ubyte"].astype(np.float32)[:, None] / 255.0
    xte = arrays["t10k-images-idx3-ubyte"].astype(np.float32)[:, None] / 255.0
    ytr = torch.from_numpy(arrays["train-labels-idx1-ubyte"].astype(np.int64))
    yte = torch.from_numpy(arrays["t10k-labels-idx1-ubyte"].astype(np.int64))
    if len(xtr) != len(ytr) or len(xte) != len(yte):
        raise MissingDataError(f"Fashion-MNIST files in {root} disagree on the number of samples")
    mean, std = 0.2860, 0.3530  # the training set's pixel statistics
    return ImageSplits(
        "fashion-mnist",
        ImageDataset(_normalise(xtr, mean, std), ytr),
        ImageDataset(_normalise(xte, mean, std), yte),
        10,
        FASHION_CLASSES,
        Normalization((mean,), (std,)),
    )


IMAGE_DATASETS.register("digits", _digits)
IMAGE_DATASETS.register("fashion-mnist", _fashion_mnist)
