"""Helpers shared by the vision loaders: locating a dataset's folder, decoding one image with
Pillow, and turning uint8 pixel arrays into normalised :class:`ImageSplits`.

Memory: every loader decodes into one preallocated uint8 array (N, H, W, C) per split and converts
it to float32 exactly once, normalising in place (CIFAR-10's 50,000 train images are 154 MB as uint8
and 614 MB as float32; the uint8 arrays are dropped when the loader returns, so the peak is about
1.25x the float32 size). The float32 tensors are what the training loop and every method consume,
so keeping uint8 longer would only move the conversion into each batch of each method. At
Tiny-ImageNet's 100,000 64x64 images the float32 train split is 4.9 GB.

The published per-channel statistics are the ones the Model Sparsity / SalUn code normalises with
(``setup_model_dataset`` in OPTML-Group/Unlearn-Saliency, Classification/utils.py; the same values in
OPTML-Group/Unlearn-Sparse): the model there holds a ``NormalizeByChannelMeanStd`` layer applied to
ToTensor's [0, 1] pixels, which is what normalising the data once here computes.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import torch

from ..errors import MissingDataError
from .images import ImageDataset, ImageSplits, Normalization

CIFAR10_STATS = Normalization((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))
CIFAR100_STATS = Normalization((0.5071, 0.4866, 0.4409), (0.2673, 0.2564, 0.2762))
SVHN_STATS = Normalization((0.4377, 0.4438, 0.4728), (0.1201, 0.1231, 0.1052))
# Tiny-ImageNet: SalUn normalises with the ImageNet statistics.
IMAGENET_STATS = Normalization((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))

MODES = {"RGB": 3, "L": 1}


def dataset_root(data_dir: str | Path | None, env: str, what: str) -> Path:
    """``data_dir``, else the folder in environment variable ``env``; it must exist."""
    raw = data_dir if data_dir is not None else os.environ.get(env)
    if raw is None:
        raise MissingDataError(f"{what} is not bundled: pass --data-dir (data_dir=...) or set {env} to its folder")
    root = Path(raw)
    if not root.is_dir():
        raise MissingDataError(f"{what} folder {root} does not exist")
    return root


def decode_image(data: bytes, source: str, mode: str = "RGB", size: int | None = None) -> np.ndarray:
    """One encoded image (PNG, JPEG, ...) as uint8 (H, W, C); ``source`` names it in errors."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            if img.mode != mode:
                img = img.convert(mode)
            if size is not None and img.size != (size, size):
                img = img.resize((size, size), Image.BILINEAR)
            array = np.asarray(img, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise MissingDataError(f"{source}: cannot decode the image ({exc})") from None
    return array.reshape(array.shape[0], array.shape[1], MODES[mode])


def check_size(array: np.ndarray, expected: tuple[int, ...], source: str) -> None:
    if array.shape != expected:
        raise MissingDataError(
            f"{source}: image is {array.shape[1]}x{array.shape[0]} but earlier images are "
            f"{expected[1]}x{expected[0]}; pass an image size to resize every image to one square size"
        )


def normalise(images: np.ndarray, stats: Normalization, channels_last: bool = True) -> torch.Tensor:
    """uint8 images (N, H, W, C) or (N, C, H, W) -> float32 (N, C, H, W), ``(x / 255 - mean) / std``
    (to float32 rounding)."""
    x = torch.from_numpy(np.ascontiguousarray(images))
    if channels_last:
        x = x.permute(0, 3, 1, 2).contiguous()  # reorder while still uint8 (a quarter of the float32 bytes)
    x = x.to(torch.float32)
    if x.shape[1] != len(stats.mean):
        raise MissingDataError(f"images have {x.shape[1]} channels but the statistics {len(stats.mean)}")
    mean = torch.tensor(stats.mean, dtype=torch.float64).view(1, -1, 1, 1)
    std = torch.tensor(stats.std, dtype=torch.float64).view(1, -1, 1, 1)
    # (x / 255 - mean) / std as two in-place passes: x * (1 / (255 std)) - mean / std
    return x.mul_((1.0 / (255.0 * std)).float()).sub_((mean / std).float())


def channel_stats(images: np.ndarray, channels_last: bool = True, chunk: int = 4096) -> Normalization:
    """Per-channel mean and sample std (ddof=1) of uint8 images, in [0, 1] units: exact, from each
    channel's 256-bin histogram (counted over chunks of ``chunk`` images, so no float copy is made)."""
    c = images.shape[3] if channels_last else images.shape[1]
    hist = np.zeros((c, 256), dtype=np.int64)
    for start in range(0, len(images), chunk):
        block = images[start:start + chunk]
        for k in range(c):
            plane = block[..., k] if channels_last else block[:, k]
            hist[k] += np.bincount(plane.ravel(), minlength=256)
    n = int(hist[0].sum())
    if n < 2:
        raise MissingDataError("at least two pixels per channel are needed to normalise a dataset")
    values = np.arange(256, dtype=np.float64)
    mean = hist @ values / n
    var = ((values[None, :] - mean[:, None]) ** 2 * hist).sum(axis=1) / (n - 1)
    std = np.sqrt(np.maximum(var, 1e-12)) / 255.0
    return Normalization(tuple(float(m) for m in mean / 255.0), tuple(float(s) for s in std))


def make_splits(
    name: str,
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    class_names: tuple[str, ...],
    stats: Normalization,
    channels_last: bool = True,
) -> ImageSplits:
    """ImageSplits from uint8 (images, labels) pairs; labels must lie in range(len(class_names))."""
    num_classes = len(class_names)
    for split, (_, y) in (("train", train), ("test", test)):
        if len(y) and (int(y.min()) < 0 or int(y.max()) >= num_classes):
            raise MissingDataError(f"{name} {split} labels span {int(y.min())}..{int(y.max())} "
                                   f"but the dataset has {num_classes} classes")

    def part(images: np.ndarray, labels: np.ndarray) -> ImageDataset:
        return ImageDataset(normalise(images, stats, channels_last), torch.from_numpy(labels.astype(np.int64)))

    return ImageSplits(name, part(*train), part(*test), num_classes, class_names, stats)
