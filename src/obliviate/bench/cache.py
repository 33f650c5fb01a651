"""On-disk cache of trained models (original and retrain reference), keyed by a config hash.

An entry ``<cache>/<kind>-<hash>/`` is staged in a hidden directory beside it, gets its SHA-256
manifest last (:mod:`.cache_entry`) and is then renamed into place, so it exists only once complete.
Every read verifies it first. An entry that fails (a changed, missing or extra file, no or a bad
manifest, or a load error) is reported once with its path (a warning in the log and on stderr),
moved to ``<cache>/quarantine/<entry>-<UTC time>`` and rebuilt, so the run goes on with results
identical to a fresh run's. ``obliviate cache ls|verify|clear`` (:mod:`.cache_cli`) manages the cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from tqdm import tqdm

from ..errors import ObliviateError
from ..models.classifier import Classifier
from ..models.io import load_classifier, read_config, save_classifier
from .cache_entry import BadEntry, verify_entry, write_manifest
from ..utils.warmup import warm_up
from ..utils.cache_root import default_cache_dir  # noqa: F401 (re-exported: the bench's cache root)

CACHE_FORMAT = 1
QUARANTINE = "quarantine"
#: The name of a cache entry: ``<kind>-<16 hex digits>``.
ENTRY_NAME = re.compile(r"^(?P<kind>[a-z0-9][a-z0-9_-]*?)-(?P<hash>[0-9a-f]{16})$")
#: This process's token, stamped on every entry it builds: a row can tell a reference timed by this
#: process (same conditions as its own timing) from one read from the cache (:func:`built_here`).
PROCESS = uuid.uuid4().hex
M = TypeVar("M")
log = logging.getLogger("obliviate.cache")
log.addHandler(logging.NullHandler())  # the stderr line is ours; logging's last-resort handler would repeat it


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
    """Load the model for ``key`` from ``cache_dir/<kind>-<hash>`` after verifying it, or build (train)
    it, time it and ``save(model, directory, meta)`` it (``save`` creates ``directory``).

    Returns the model and its metadata (``seconds`` = training wall time, ``key``, ``hash``, ``process``
    = the building process's :data:`PROCESS`).
    """
    digest = config_hash(key)
    directory = Path(cache_dir) / f"{kind}-{digest}"
    if os.path.lexists(directory):
        try:
            verify_entry(directory)
            return load(directory)
        except Exception as exc:  # noqa: BLE001 - any failure to use the entry: move it aside, rebuild
            quarantine(directory, _reason(exc))
    warm_up()  # the process's one-time torch costs are not the training's time
    start = time.perf_counter()
    model = build()
    seconds = time.perf_counter() - start
    meta = {"kind": kind, "hash": digest, "seconds": seconds, "key": key, "process": PROCESS}
    _write_entry(directory, lambda target: save(model, target, meta), key)
    return model, meta


def built_here(meta: dict[str, Any]) -> bool:
    """Whether the entry of ``meta`` was built (and timed) by this process."""
    return meta.get("process") == PROCESS


def cached_directory(cache_dir: Path, kind: str, key: dict[str, Any], write: Callable[[Path], Any]) -> Path:
    """The verified entry directory for ``key``, written by ``write(directory)`` when absent or bad
    (for entries used by path, e.g. a converted pretrained model)."""
    directory = Path(cache_dir) / f"{kind}-{config_hash(key)}"
    if os.path.lexists(directory):
        try:
            verify_entry(directory)
            return directory
        except BadEntry as exc:
            quarantine(directory, _reason(exc))
    _write_entry(directory, write, key)
    return directory


def cached_classifier(
    cache_dir: Path, kind: str, key: dict[str, Any], build: Callable[[], Classifier]
) -> tuple[Classifier, dict[str, Any]]:
    """:func:`cached_model` for classifiers (safetensors + config.json holding the metadata)."""
    return cached_model(
        cache_dir, kind, key, build,
        save=lambda model, directory, meta: save_classifier(model, directory, extra={"cache": meta}),
        load=lambda directory: (load_classifier(directory), read_config(directory)["cache"]),
    )


def quarantine(directory: Path, reason: str) -> Path:
    """Move the bad entry ``directory`` to ``<cache>/quarantine/<name>-<UTC time>`` and say so once
    (log warning + stderr line); returns the new path. :class:`ObliviateError` when it cannot be moved
    (unless another run moved it meanwhile)."""
    directory = Path(directory)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    target = directory.parent / QUARANTINE / f"{directory.name}-{stamp}"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        os.rename(directory, target)
    except OSError as exc:
        if not os.path.lexists(directory):  # another run moved it aside first (and said so)
            return target
        raise ObliviateError(f"cache entry {directory} is unusable ({reason}) and cannot be moved aside ({exc}): "
                             f"remove it (obliviate cache clear --yes {directory.name} --cache-dir {directory.parent}) "
                             "and rerun") from None
    message = f"cache entry {directory} is unusable: {reason}; moved it to {target} and rebuilding it"
    log.warning(message)
    tqdm.write(f"obliviate: warning: {message}", file=sys.stderr)
    return target


def is_stale_staging(name: str) -> bool:
    """True for the hidden directory of an entry write that no live process owns: one of a process that
    has ended on this machine, or from before staging names carried their writer (``.<entry>.<random>``)."""
    if not name.startswith("."):
        return False
    entry, _, rest = name[1:].partition(".")
    if ENTRY_NAME.match(entry) is None:
        return False
    owner = re.match(r"^(?P<host>[^.]+)-(?P<pid>\d+)\.", rest)
    if owner is None:
        return True
    return owner["host"] == _host() and not _alive(int(owner["pid"]))


def clean_stale_staging(cache_dir: Path, entry: str | None = None) -> list[Path]:
    """Remove the stale staging directories (:func:`is_stale_staging`) of ``entry`` (or of every entry)
    in ``cache_dir``; returns them."""
    removed = []
    for path in sorted(Path(cache_dir).glob(f".{entry or '*'}.*")):
        if path.is_dir() and not path.is_symlink() and is_stale_staging(path.name):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", os.uname().nodename) or "host"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def _write_entry(directory: Path, write: Callable[[Path], Any], key: dict[str, Any]) -> None:
    """``write(staged)`` into a hidden staging directory, add the manifest, rename it to ``directory``."""
    match = ENTRY_NAME.match(directory.name)
    if match is None:  # a caller's bug, never a user's input
        raise ValueError(f"not a cache entry name: {directory.name}")
    directory.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_staging(directory.parent, directory.name)  # a killed run's half-written copy
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.{_host()}-{os.getpid()}.", suffix=".staging",
                                    dir=directory.parent))
    try:
        staged = staging / directory.name
        write(staged)
        if not staged.is_dir():
            raise RuntimeError(f"the cache writer made no directory {staged}")
        write_manifest(staged, match["kind"], match["hash"], key)
        try:
            os.rename(staged, directory)
        except OSError:
            if not directory.is_dir():
                raise
            # another run wrote the same entry meanwhile: keep it (it is verified when read)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _reason(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, BadEntry) else f"loading it failed ({type(exc).__name__}: {exc})"
