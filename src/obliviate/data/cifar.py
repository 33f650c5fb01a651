"""CIFAR-10 and CIFAR-100 from the authors' *binary* version or from Hugging Face parquet files.

Binary layout (https://www.cs.toronto.edu/~kriz/cifar.html, "Binary version"):

- CIFAR-10, ``cifar-10-batches-bin/``: ``data_batch_1.bin`` .. ``data_batch_5.bin`` (train) and
  ``test_batch.bin``, each 10,000 records of 3,073 bytes: 1 label byte (0-9), then 3,072 pixel bytes,
  the 1,024 red values, the 1,024 green, the 1,024 blue, each plane row-major (so a record reshapes
  to (3, 32, 32)). ``batches.meta.txt`` holds the 10 class names, one per line.
- CIFAR-100, ``cifar-100-binary/``: ``train.bin`` (50,000) and ``test.bin`` (10,000), records of
  3,074 bytes: the coarse label byte (0-19), the fine label byte (0-99), then the same 3,072 pixels;
  ``fine_label_names.txt`` and ``coarse_label_names.txt`` hold the names.

The *python* version (``cifar-10-batches-py``, ``cifar-100-python``) is a set of pickles; loading
never unpickles (it can run code), so it is refused with a message naming the two safe versions.

Parquet (Hugging Face, see :mod:`obliviate.data.parquet`): uoft-cs/cifar10 holds
``plain_text/{train,test}-00000-of-00001.parquet`` with columns ``img`` (PNG) and ``label``;
uoft-cs/cifar100 holds ``cifar100/{train,test}-00000-of-00001.parquet`` with ``img``,
``fine_label`` and ``coarse_label`` (dataset cards and commit "Convert dataset to Parquet" of both
repositories).

Splits: the published 50,000 train / 10,000 test. (The Model Sparsity / SalUn code additionally
holds out 10% of train as a validation set it does not report on; obliviate keeps all 50,000.)
Normalisation: the per-channel statistics of :mod:`obliviate.data.pixels` (SalUn's values).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import MissingDataError
from .images import IMAGE_DATASETS, ImageSplits
from .parquet import find_parquet_dir, load_parquet_splits
from .pixels import CIFAR10_STATS, CIFAR100_STATS, dataset_root, make_splits

PIXELS = 3 * 32 * 32
BINARY_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"

CIFAR10_BIN = {"dir": "cifar-10-batches-bin", "train": [f"data_batch_{i}.bin" for i in range(1, 6)],
               "test": ["test_batch.bin"], "labels": 1}
CIFAR100_BIN = {"dir": "cifar-100-binary", "train": ["train.bin"], "test": ["test.bin"], "labels": 2}
# files of the pickled python version, and the folder the authors' archives unpack to
PICKLED = {"cifar10": ("cifar-10-batches-py", ("data_batch_1", "test_batch", "batches.meta")),
           "cifar100": ("cifar-100-python", ("train", "test", "meta"))}
HUB = {"cifar10": ("uoft-cs/cifar10", "plain_text", "cifar-10-binary.tar.gz"),
       "cifar100": ("uoft-cs/cifar100", "cifar100", "cifar-100-binary.tar.gz")}


def read_records(path: Path, label_bytes: int) -> tuple[np.ndarray, np.ndarray]:
    """One binary batch file -> uint8 images (N, 3, 32, 32) and its label bytes (N, label_bytes)."""
    if not path.is_file():
        raise MissingDataError(f"CIFAR binary file {path} not found")
    record = label_bytes + PIXELS
    data = np.fromfile(path, dtype=np.uint8)
    if data.size == 0 or data.size % record:
        raise MissingDataError(f"{path} is truncated or not a CIFAR binary batch: {data.size} bytes is not a "
                               f"positive multiple of the {record}-byte record")
    rows = data.reshape(-1, record)
    return rows[:, label_bytes:].reshape(-1, 3, 32, 32), rows[:, :label_bytes]


def read_names(path: Path, expected: int) -> tuple[str, ...]:
    """A names file of the binary version: one class name per line (blank lines ignored)."""
    if not path.is_file():
        raise MissingDataError(f"CIFAR class-name file {path} not found")
    names = tuple(line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip())
    if len(names) != expected:
        raise MissingDataError(f"{path} lists {len(names)} class names, expected {expected}")
    return names


def _refuse_pickled(root: Path, name: str) -> None:
    folder, files = PICKLED[name]
    for base in (root, root / folder):
        if (base / files[0]).is_file() or (base / files[1]).is_file():
            repo, _, archive = HUB[name]
            raise MissingDataError(
                f"{base} holds the python (pickled) version of {name.upper()}, which obliviate never loads "
                f"because unpickling can run code. Use the binary version ({archive} from {BINARY_URL}) "
                f"or the parquet files of the Hugging Face dataset {repo}, and pass that folder."
            )


def _binary_dir(root: Path, layout: dict) -> Path | None:
    for base in (root, root / layout["dir"]):
        if (base / layout["train"][0]).is_file() or (base / layout["test"][0]).is_file():
            return base
    return None


def _read_binary(base: Path, layout: dict, label_index: int, classes: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    out = {}
    for split in ("train", "test"):
        images, labels = [], []
        for name in layout[split]:
            x, y = read_records(base / name, layout["labels"])
            y = y[:, label_index]
            if int(y.max()) >= classes:
                raise MissingDataError(f"{base / name}: label {int(y.max())} is outside 0..{classes - 1}")
            images.append(x)
            labels.append(y)
        out[split] = (np.concatenate(images), np.concatenate(labels))
    return out


def load_cifar(name: str, data_dir: str | Path | None = None, coarse: bool = False) -> ImageSplits:
    """CIFAR-10 or CIFAR-100 (fine labels, or the 20 ``coarse`` ones) from the binary version or
    parquet files found under ``data_dir``."""
    if name not in HUB or (coarse and name != "cifar100"):
        raise ValueError(f"load_cifar: unknown variant {name!r} (coarse={coarse})")
    root = dataset_root(data_dir, f"OBLIVIATE_{name.upper()}_DIR", name.upper())
    title = name + ("-coarse" if coarse else "")
    stats = CIFAR10_STATS if name == "cifar10" else CIFAR100_STATS
    layout = CIFAR10_BIN if name == "cifar10" else CIFAR100_BIN
    # (names file of the binary version, label byte of a record, classes, parquet label column)
    names_file, label_index, classes, column = {
        "cifar10": ("batches.meta.txt", 0, 10, "label"),
        "cifar100": ("fine_label_names.txt", 1, 100, "fine_label"),
        "cifar100-coarse": ("coarse_label_names.txt", 0, 20, "coarse_label"),
    }[title]
    base = _binary_dir(root, layout)
    if base is not None:
        names = read_names(base / names_file, classes)
        splits = _read_binary(base, layout, label_index, classes)
        return make_splits(title, splits["train"], splits["test"], names, stats, channels_last=False)
    repo, config, archive = HUB[name]
    parquet_dir = find_parquet_dir(root, config)
    if parquet_dir is not None:
        return load_parquet_splits(parquet_dir, name=title, image_column="img", label_column=column, stats=stats)
    _refuse_pickled(root, name)
    raise MissingDataError(
        f"no {name.upper()} files in {root}: expected the binary version ({layout['dir']}/{layout['train'][0]}, "
        f"{archive} from {BINARY_URL}) or the parquet files of {repo} ({config}/train-*.parquet)"
    )


def _cifar10(data_dir: str | Path | None = None) -> ImageSplits:
    """CIFAR-10 (50k/10k, 32x32 RGB) from the binary version or uoft-cs/cifar10 parquet files."""
    return load_cifar("cifar10", data_dir)


def _cifar100(data_dir: str | Path | None = None) -> ImageSplits:
    """CIFAR-100, fine labels (50k/10k, 32x32 RGB) from the binary version or uoft-cs/cifar100 parquet."""
    return load_cifar("cifar100", data_dir)


IMAGE_DATASETS.register("cifar10", _cifar10)
IMAGE_DATASETS.register("cifar100", _cifar100)
