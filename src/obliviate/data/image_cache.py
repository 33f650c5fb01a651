"""A decoded-image cache for image folders: decoding thousands of PNG / JPEG files with Pillow costs far
more than reading one uint8 array, so the first load writes the decoded pixels to
``<cache>/decoded-images/<key>.npy`` and later loads read them back.

The key hashes the file list (absolute paths, in order), each file's size and modification time
(ns), the colour mode and the resize: editing, adding, removing or touching an image makes a new key.
Next to the array, ``<key>.json`` holds its shape and the SHA-256 of its bytes; a read recomputes both
and re-decodes on any mismatch (a torn or edited cache file), so a bad entry can cost time but never
change pixels. Writes are atomic. ``np.load`` runs with ``allow_pickle=False``.

``OBLIVIATE_IMAGE_CACHE=0`` turns the cache off; the root is the model cache's
(:func:`~obliviate.utils.cache_root.default_cache_dir`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..utils.cache_root import default_cache_dir
from ..utils.io import atomic_path, atomic_write_json

log = logging.getLogger(__name__)

FORMAT = 1
SUBDIR = "decoded-images"


def enabled() -> bool:
    return os.environ.get("OBLIVIATE_IMAGE_CACHE", "1").strip() not in ("0", "false", "no", "off")


def cache_key(paths: list[Path], mode: str, size: int | None) -> str:
    """SHA-256 over the format, mode, resize and every file's resolved path, size and mtime (ns)."""
    digest = hashlib.sha256(json.dumps({"format": FORMAT, "mode": mode, "size": size}).encode())
    for path in paths:  # abspath, not resolve(): one stat per file, no symlink walk
        name = os.path.abspath(path)
        stat = os.stat(name)
        digest.update(f"\0{name}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def _read(array_path: Path, meta_path: Path) -> np.ndarray | None:
    """The cached array when it matches its meta (shape, dtype, SHA-256), else None."""
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        array = np.load(array_path, allow_pickle=False)
    except (OSError, ValueError):
        return None
    if (not isinstance(meta, dict) or array.dtype != np.uint8 or list(array.shape) != meta.get("shape")
            or hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest() != meta.get("sha256")):
        log.warning("decoded-image cache entry %s does not match its meta; decoding again", array_path)
        return None
    return array


def cached_decode(paths: list[Path], mode: str, size: int | None, decode: Callable[[], np.ndarray],
                  cache_dir: str | Path | None = None) -> np.ndarray:
    """``decode()`` (uint8 images of ``paths``) through the cache; the cache is skipped when disabled."""
    if not enabled() or not paths:
        return decode()
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    key = cache_key(paths, mode, size)
    array_path, meta_path = root / SUBDIR / f"{key}.npy", root / SUBDIR / f"{key}.json"
    if array_path.is_file() and meta_path.is_file():
        found = _read(array_path, meta_path)
        if found is not None:
            return found
    images = np.ascontiguousarray(decode())
    try:
        array_path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(array_path, suffix=".npy") as tmp:
            np.save(tmp, images, allow_pickle=False)
        atomic_write_json(meta_path, {"format": FORMAT, "shape": list(images.shape), "files": len(paths),
                                      "sha256": hashlib.sha256(images.tobytes()).hexdigest()})
    except OSError as exc:  # a read-only or full cache costs time, never the run
        log.warning("cannot write the decoded-image cache %s: %s", array_path, exc)
    return images
