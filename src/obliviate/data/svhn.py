"""SVHN (cropped digits) from the ``.mat`` files of its site or the Hugging Face parquet files.

``.mat`` layout (http://ufldl.stanford.edu/housenumbers/, "Format 2: Cropped Digits"):
``train_32x32.mat`` (73,257 images) and ``test_32x32.mat`` (26,032) each hold ``X``, uint8 of shape
(32, 32, 3, N) = (height, width, channel, image), and ``y`` of shape (N, 1) with labels 1-10, where
10 stands for the digit 0 (torchvision's ``SVHN`` maps it to 0 and transposes ``X`` by (3, 2, 0, 1)
to (N, C, H, W), as done here). Read with ``scipy.io.loadmat``, which parses MATLAB arrays and never
unpickles. ``extra_32x32.mat`` is not used: the unlearning papers train on ``train`` only.

Parquet layout: ufldl-stanford/svhn, ``cropped_digits/{train,test}-00000-of-00001.parquet`` with
columns ``image`` (PNG) and ``label`` (0-9, digit 0 is label 0); see :mod:`obliviate.data.parquet`.

Normalisation: SalUn's SVHN statistics (:data:`obliviate.data.pixels.SVHN_STATS`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import MissingDataError
from .images import IMAGE_DATASETS, ImageSplits
from .parquet import find_parquet_dir, load_parquet_splits
from .pixels import SVHN_STATS, dataset_root, make_splits

MAT_FILES = {"train": "train_32x32.mat", "test": "test_32x32.mat"}
CLASS_NAMES = tuple(str(d) for d in range(10))


def read_mat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One SVHN ``.mat`` file -> uint8 images (N, 3, 32, 32) and int64 labels 0-9."""
    from scipy.io import loadmat

    if not path.is_file():
        raise MissingDataError(f"SVHN file {path} not found")
    try:
        mat = loadmat(str(path), variable_names=["X", "y"])
    except Exception as exc:  # scipy's parser raises MatReadError, ValueError, IndexError... on a damaged file
        raise MissingDataError(f"{path} is not a readable MATLAB file ({exc})") from None
    for key in ("X", "y"):
        if key not in mat:
            raise MissingDataError(f"{path} holds no variable {key!r} (an SVHN cropped-digits file holds X and y)")
    x, y = np.asarray(mat["X"]), np.asarray(mat["y"]).reshape(-1)
    if x.ndim != 4 or x.shape[2] != 3 or x.shape[3] != len(y):
        raise MissingDataError(f"{path}: X has shape {x.shape} and y {len(y)} labels; expected X (32, 32, 3, N)")
    labels = y.astype(np.int64)
    if len(labels) and (labels.min() < 1 or labels.max() > 10):
        raise MissingDataError(f"{path}: labels span {labels.min()}..{labels.max()}, expected 1..10")
    labels[labels == 10] = 0
    return np.ascontiguousarray(x.astype(np.uint8, copy=False).transpose(3, 2, 0, 1)), labels


def _svhn(data_dir: str | Path | None = None) -> ImageSplits:
    """SVHN cropped digits (73,257/26,032, 32x32 RGB) from train/test_32x32.mat or ufldl-stanford/svhn parquet."""
    root = dataset_root(data_dir, "OBLIVIATE_SVHN_DIR", "SVHN")
    if any((root / f).is_file() for f in MAT_FILES.values()):
        train, test = read_mat(root / MAT_FILES["train"]), read_mat(root / MAT_FILES["test"])
        return make_splits("svhn", train, test, CLASS_NAMES, SVHN_STATS, channels_last=False)
    folder = find_parquet_dir(root, "cropped_digits")
    if folder is not None:
        return load_parquet_splits(folder, name="svhn", stats=SVHN_STATS)
    raise MissingDataError(f"no SVHN files in {root}: expected {MAT_FILES['train']} and {MAT_FILES['test']} "
                           "(http://ufldl.stanford.edu/housenumbers/) or the parquet files of ufldl-stanford/svhn "
                           "(cropped_digits/train-*.parquet)")


IMAGE_DATASETS.register("svhn", _svhn)
