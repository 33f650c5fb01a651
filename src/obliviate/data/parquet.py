"""Hugging Face image datasets stored as parquet files (read with pyarrow, decoded with Pillow).

Layout written by the ``datasets`` library (and the Hub's parquet converter): an image column is a
struct ``{bytes: binary, path: string}`` holding the encoded PNG/JPEG; a label column holds int64
class ids; the schema's metadata key ``huggingface`` holds ``{"info": {"features": {...}}}`` where a
``ClassLabel`` feature lists the class ``names``. Files of a split are ``<split>-NNNNN-of-NNNNN[-hash].parquet``
in a configuration folder. Verified on the Hub (dataset cards, file trees and their "Convert dataset
to Parquet" commits):

============================  ==============================================  ==========================  ============
repository                    files                                           columns                     splits
============================  ==============================================  ==========================  ============
uoft-cs/cifar10               plain_text/{train,test}-00000-of-00001.parquet  img, label                  train, test
uoft-cs/cifar100              cifar100/{train,test}-00000-of-00001.parquet    img, fine_label,            train, test
                                                                              coarse_label
ufldl-stanford/svhn           cropped_digits/{train,test}-00000-of-00001      image, label (0-9)          train, test,
                              .parquet, extra-0000{0,1}-of-00002.parquet                                  extra
zh-plus/tiny-imagenet         data/{train,valid}-00000-of-00001-<hash>        image, label (200 wnids)    train, valid
                              .parquet
============================  ==============================================  ==========================  ============

Sources: https://huggingface.co/datasets/uoft-cs/cifar10/tree/main/plain_text and its commit e025e64
(README features ``img``, ``label``); https://huggingface.co/datasets/uoft-cs/cifar100 commit aadb3af
(``cifar100/train-00000-of-00001.parquet``) and its dataset_infos.json (``img``, ``fine_label``,
``coarse_label``); https://huggingface.co/datasets/ufldl-stanford/svhn/tree/main/cropped_digits (commit
f9e1717) and its viewer (``image``, ``label``); https://huggingface.co/datasets/zh-plus/tiny-imagenet/tree/main/data
and its dataset_infos.json (commit 7d7dcc5: ``image``, ``label`` with the 200 wnids as names). Image
struct and schema metadata: how ``datasets`` writes parquet (``pa.schema(..., metadata={"huggingface":
json.dumps({"info": {"features": ...}})})``).

The Hub's automatic conversion branch (``refs/convert/parquet``) names files ``<config>/<split>/0000.parquet``
and older snapshots ``<config>/<dataset>-<split>.parquet``; both are found too. pyarrow is an optional
dependency (``pip install obliviate[vision]``).

Tiny-ImageNet: zh-plus/tiny-imagenet's ``valid`` split (50 images per class) is the test split here;
the SalUn code splits the same 10,000 validation images into 25 validation + 25 test per class.
Normalisation: the ImageNet statistics SalUn uses for Tiny-ImageNet.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import MissingDataError
from .images import IMAGE_DATASETS, ImageSplits, Normalization
from .pixels import IMAGENET_STATS, MODES, channel_stats, check_size, dataset_root, decode_image, make_splits

TEST_SPLITS = ("test", "valid", "validation")


def _pyarrow():
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise MissingDataError("reading parquet files needs pyarrow: pip install 'obliviate[vision]' (or pyarrow)") from None
    return pq


def split_files(folder: Path, split: str) -> list[Path]:
    """The parquet files of ``split`` in ``folder`` (sorted), in any of the Hub's naming schemes."""
    patterns = (f"{split}-*.parquet", f"{split}.parquet", f"{split}/*.parquet", f"*-{split}.parquet", f"*-{split}-*.parquet")
    found: set[Path] = set()
    for pattern in patterns:
        found.update(p for p in folder.glob(pattern) if p.is_file())
    return sorted(found)


def find_parquet_dir(root: Path, config: str | None = None) -> Path | None:
    """The folder under ``root`` holding train parquet files: root, root/<config> or root/data."""
    candidates = [root] + ([root / config] if config else []) + [root / "data"]
    for folder in candidates:
        if folder.is_dir() and split_files(folder, "train"):
            return folder
    return None


def hf_features(path: Path) -> dict:
    """The ``features`` dict of the ``huggingface`` schema metadata (empty when absent)."""
    meta = _pyarrow().read_schema(path).metadata or {}
    try:
        info = json.loads(meta.get(b"huggingface", b"{}"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}
    features = info.get("info", {}).get("features", {}) if isinstance(info, dict) else {}
    return features if isinstance(features, dict) else {}


def _class_names(features: dict, label_column: str, labels: np.ndarray) -> tuple[str, ...]:
    feature = features.get(label_column, {})
    names = feature.get("names") if isinstance(feature, dict) and feature.get("_type") == "ClassLabel" else None
    if names:
        return tuple(str(n) for n in names)
    return tuple(str(i) for i in range(int(labels.max()) + 1 if len(labels) else 0))


def read_parquet_images(
    files: list[Path], image_column: str, label_column: str, mode: str = "RGB", size: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Decode every row of ``files`` -> uint8 images (N, H, W, C) and int64 labels (N,)."""
    pq = _pyarrow()
    total = 0
    for path in files:
        names = pq.read_schema(path).names
        for column in (image_column, label_column):
            if column not in names:
                raise MissingDataError(f"{path} has no column {column!r}; its columns are {', '.join(names)}")
        total += pq.ParquetFile(path).metadata.num_rows
    images: np.ndarray | None = None
    labels = np.empty(total, dtype=np.int64)
    row = 0
    for path in files:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=2048, columns=[image_column, label_column]):
            for cell, label in zip(batch.column(0).to_pylist(), batch.column(1).to_pylist()):
                data = cell.get("bytes") if isinstance(cell, dict) else cell
                source = f"{path} row {row}" + (f" ({cell['path']})" if isinstance(cell, dict) and cell.get("path") else "")
                if not isinstance(data, (bytes, bytearray)) or label is None:
                    raise MissingDataError(f"{source}: no image bytes or no label in columns {image_column!r}/{label_column!r}")
                array = decode_image(data, source, mode, size)
                if images is None:
                    images = np.empty((total, *array.shape), dtype=np.uint8)
                check_size(array, images.shape[1:], source)
                images[row] = array
                labels[row] = int(label)
                row += 1
    if images is None:
        raise MissingDataError(f"{', '.join(map(str, files))} hold no rows")
    return images, labels


def load_parquet_splits(
    folder: str | Path,
    *,
    name: str,
    image_column: str = "image",
    label_column: str = "label",
    train_split: str = "train",
    test_split: str | None = None,
    stats: Normalization | None = None,
    mode: str = "RGB",
    size: int | None = None,
) -> ImageSplits:
    """Train and test splits from the parquet files of ``folder``.

    ``test_split`` defaults to the first of test / valid / validation present. ``stats`` defaults to
    the train split's own per-channel mean and std. Class names come from the label column's
    ``ClassLabel`` feature, else are the label ids.
    """
    if mode not in MODES:
        raise MissingDataError(f"image mode must be one of {sorted(MODES)}, got {mode!r}")
    folder = Path(folder)
    train_files = split_files(folder, train_split)
    if not train_files:
        raise MissingDataError(f"no parquet files of split {train_split!r} in {folder} (expected {train_split}-*.parquet)")
    if test_split is None:
        test_split = next((s for s in TEST_SPLITS if split_files(folder, s)), None)
        if test_split is None:
            raise MissingDataError(f"no parquet files of a test split ({', '.join(TEST_SPLITS)}) in {folder}")
    test_files = split_files(folder, test_split)
    if not test_files:
        raise MissingDataError(f"no parquet files of split {test_split!r} in {folder} (expected {test_split}-*.parquet)")
    train = read_parquet_images(train_files, image_column, label_column, mode, size)
    test = read_parquet_images(test_files, image_column, label_column, mode, size)
    if train[0].shape[1:] != test[0].shape[1:]:
        raise MissingDataError(f"{name}: train images are {train[0].shape[1:]} but test images {test[0].shape[1:]}")
    names = _class_names(hf_features(train_files[0]), label_column, np.concatenate([train[1], test[1]]))
    return make_splits(name, train, test, names, stats or channel_stats(train[0]))


def load_hub_parquet(
    data_dir: str | Path | None, *, name: str, env: str, config: str, repo: str, stats: Normalization,
    image_column: str = "image", label_column: str = "label",
) -> ImageSplits:
    """A Hub dataset's parquet files under ``data_dir`` (itself, its ``config`` folder or ``data/``)."""
    root = dataset_root(data_dir, env, name)
    folder = find_parquet_dir(root, config)
    if folder is None:
        raise MissingDataError(f"no {name} parquet files in {root} (expected those of {repo}: {config}/train-*.parquet)")
    return load_parquet_splits(folder, name=name, image_column=image_column, label_column=label_column, stats=stats)


def _parquet(data_dir: str | Path | None = None) -> ImageSplits:
    """Any Hugging Face image dataset as parquet: columns image + label, splits train + test/valid."""
    root = dataset_root(data_dir, "OBLIVIATE_PARQUET_DIR", "the parquet dataset")
    folder = find_parquet_dir(root)
    if folder is None:
        raise MissingDataError(f"no train-*.parquet files in {root} or {root / 'data'}")
    return load_parquet_splits(folder, name="parquet")


def _tiny_imagenet(data_dir: str | Path | None = None) -> ImageSplits:
    """Tiny-ImageNet (100k train, 10k valid as test, 64x64 RGB, 200 classes) from zh-plus/tiny-imagenet parquet."""
    return load_hub_parquet(data_dir, name="tiny-imagenet", env="OBLIVIATE_TINY_IMAGENET_DIR", config="data",
                            repo="zh-plus/tiny-imagenet", stats=IMAGENET_STATS)


IMAGE_DATASETS.register("parquet", _parquet)
IMAGE_DATASETS.register("tiny-imagenet", _tiny_imagenet)
