"""Write images in the published formats the vision loaders read: CIFAR binary records, Hugging Face
parquet, SVHN ``.mat``, image folders and domain folders. For fixtures (tests, the loading
benchmark, end-to-end bench runs on rendered datasets); the layouts are documented in
:mod:`obliviate.data.cifar`, :mod:`~obliviate.data.parquet`, :mod:`~obliviate.data.svhn` and
:mod:`~obliviate.data.folders`. Images are uint8 arrays (N, H, W, C) with C = 3 (or (H, W) grey).
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def png_bytes(image: np.ndarray) -> bytes:
    """One uint8 image (H, W, 3) or (H, W) encoded as PNG."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


def cifar_records(images: np.ndarray, *label_columns: np.ndarray) -> bytes:
    """Records of the CIFAR binary version: the label bytes, then the R, G and B planes (row-major)."""
    planes = np.ascontiguousarray(images.transpose(0, 3, 1, 2)).reshape(len(images), -1)
    labels = [np.asarray(col, dtype=np.uint8)[:, None] for col in label_columns]
    return np.concatenate([*labels, planes], axis=1).astype(np.uint8).tobytes()


def write_cifar10_binary(folder: str | Path, train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray],
                         class_names: Sequence[str]) -> Path:
    """``folder`` as ``cifar-10-batches-bin``: train split over data_batch_1..5.bin, test_batch.bin, batches.meta.txt."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    x, y = train
    for i, part in enumerate(np.array_split(np.arange(len(x)), 5), start=1):
        (folder / f"data_batch_{i}.bin").write_bytes(cifar_records(x[part], y[part]))
    (folder / "test_batch.bin").write_bytes(cifar_records(*test))
    (folder / "batches.meta.txt").write_text("\n".join(class_names) + "\n\n", encoding="utf-8")
    return folder


def write_cifar100_binary(folder: str | Path, train: tuple[np.ndarray, np.ndarray, np.ndarray],
                          test: tuple[np.ndarray, np.ndarray, np.ndarray],
                          fine_names: Sequence[str], coarse_names: Sequence[str]) -> Path:
    """``folder`` as ``cifar-100-binary``: (images, coarse, fine) per split in train.bin / test.bin, name files."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, (x, coarse, fine) in (("train.bin", train), ("test.bin", test)):
        (folder / name).write_bytes(cifar_records(x, coarse, fine))
    (folder / "fine_label_names.txt").write_text("\n".join(fine_names) + "\n", encoding="utf-8")
    (folder / "coarse_label_names.txt").write_text("\n".join(coarse_names) + "\n", encoding="utf-8")
    return folder


def write_hf_parquet(path: str | Path, images: Sequence[bytes] | np.ndarray, labels: Sequence[int], *,
                     image_column: str = "image", label_column: str = "label", class_names: Sequence[str] | None = None,
                     extra: dict[str, Sequence[int]] | None = None) -> Path:
    """One parquet file as the ``datasets`` library writes it: an Image struct column {bytes, path}, an
    int64 label column (a ClassLabel feature when ``class_names`` is given) and int64 ``extra`` columns."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    encoded = [png_bytes(a) for a in images] if isinstance(images, np.ndarray) else list(images)
    label_feature = ({"names": list(class_names), "_type": "ClassLabel"} if class_names
                     else {"dtype": "int64", "_type": "Value"})
    features = {image_column: {"_type": "Image"}, label_column: label_feature}
    fields = [pa.field(image_column, pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
              pa.field(label_column, pa.int64())]
    columns: dict[str, list] = {image_column: [{"bytes": b, "path": f"{i}.png"} for i, b in enumerate(encoded)],
                                label_column: [int(v) for v in labels]}
    for key, values in (extra or {}).items():
        fields.append(pa.field(key, pa.int64()))
        features[key] = {"dtype": "int64", "_type": "Value"}
        columns[key] = [int(v) for v in values]
    schema = pa.schema(fields, metadata={"huggingface": json.dumps({"info": {"features": features}})})
    pq.write_table(pa.table(columns, schema=schema), path)
    return path


def write_svhn_mat(path: str | Path, images: np.ndarray, digits: np.ndarray) -> Path:
    """An SVHN cropped-digits ``.mat``: X (H, W, C, N) uint8 and y (N, 1) with 10 for the digit 0."""
    from scipy.io import savemat

    y = np.asarray(digits, dtype=np.uint8).copy()
    y[y == 0] = 10
    savemat(str(path), {"X": np.ascontiguousarray(images.transpose(1, 2, 3, 0)), "y": y[:, None]})
    return Path(path)


def write_image_folder(root: str | Path, images: np.ndarray, labels: Sequence[int], class_names: Sequence[str],
                       ext: str = ".png") -> Path:
    """``root/<class>/<index><ext>`` for every image (Pillow picks the encoder from ``ext``)."""
    from PIL import Image

    root = Path(root)
    for i, (image, label) in enumerate(zip(images, labels)):
        folder = root / class_names[int(label)]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{i:06d}{ext}")
    return root
