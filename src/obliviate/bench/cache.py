"""On-disk cache of trained models (original and retrain reference), keyed by a config hash.

A cache entry is a directory written atomically; it exists only once it is complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from ..models.classifier import Classifier
from ..models.io import load_classifier, read_config, save_classifier
from ..utils.warmup import warm_up

CACHE_FORMAT = 1
M = TypeVar("M")


def default_cache_dir() -> Path:
    root = os.environ.get("OBLIVIATE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "obliviate"
    )
    return Path(root)


def config_hash(key: dict[str, Any]) -> str:
    blob = json.dumps({"format": CACHE_FORMAT, **key}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def cached_model(
    cache_dir: Path,
    kind: str,
    key: dict[str, Any],
    build: Callable[[], M],
    save: Callable[[M, Path, dict[str, Any]], Any],
    load: Callable[[Path], tuple[M, dict[str, Any]]],
) -> tuple[M, dict[str, Any]]:
    """Load the model for ``key`` from ``cache_dir/<kind>-<hash>``, or build (train) it, time it and
    ``save(model, directory, meta)`` it; ``save`` must create the directory atomically.

    Returns the model and its metadata (``seconds`` = training wall time, ``key``, ``hash``).
    """
    digest = config_hash(key)
    directory = Path(cache_dir) / f"{kind}-{digest}"
    if directory.is_dir():  # written atomically: present means complete
        return load(directory)
    warm_up()  # the process's one-time torch costs are not the training's time
    start = time.perf_counter()
    model = build()
    seconds = time.perf_counter() - start
    meta = {"kind": kind, "hash": digest, "seconds": seconds, "key": key}
    save(model, directory, meta)
    return model, meta


def cached_classifier(
    cache_dir: Path, kind: str, key: dict[str, Any], build: Callable[[], Classifier]
) -> tuple[Classifier, dict[str, Any]]:
    """:func:`cached_model` for classifiers (safetensors + config.json holding the metadata)."""
    return cached_model(
        cache_dir, kind, key, build,
        save=lambda model, directory, meta: save_classifier(model, directory, extra={"cache": meta}),
        load=lambda directory: (load_classifier(directory), read_config(directory)["cache"]),
    )
