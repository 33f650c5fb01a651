"""Atomic file writes: write to a temporary file beside the target, then rename over it.

An interrupted run therefore never leaves a half-written file under the final name. Temporary
names follow one pattern, ``.<name>.~obliviate-<host>-<pid>-<random>``, so that a later write to the
same target recognises the leftovers of a killed run (its process is gone) and removes them
(:func:`clean_stale_temps`); a live process's temporaries are never touched.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

#: marks our temporary names: ``.<target name><TEMP_TAG><host>-<pid>-<random>``
TEMP_TAG = ".~obliviate-"
_HOST = re.sub(r"[^A-Za-z0-9_]", "_", socket.gethostname()) or "host"
_OWNER = re.compile(r"([A-Za-z0-9_]+)-(\d+)-")


def temp_prefix(name: str) -> str:
    """The prefix of this process's temporary names for a target called ``name``."""
    return f".{name}{TEMP_TAG}{_HOST}-{os.getpid()}-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def is_stale_temp(name: str, target_name: str | None = None) -> bool:
    """Whether ``name`` is one of our temporaries (of ``target_name``, or of any target) left by a
    process of this host that no longer runs."""
    if not name.startswith("."):
        return False
    if target_name is not None:
        head = f".{target_name}{TEMP_TAG}"
        if not name.startswith(head):
            return False
        rest = name[len(head):]
    else:
        _, tag, rest = name.partition(TEMP_TAG)
        if not tag:
            return False
    owner = _OWNER.match(rest)
    return bool(owner) and owner.group(1) == _HOST and not _alive(int(owner.group(2)))


def clean_stale_temps(directory: str | Path, target_name: str | None = None) -> list[Path]:
    """Remove the stale temporaries (see :func:`is_stale_temp`) in ``directory``; returns what was removed."""
    directory = Path(directory)
    removed: list[Path] = []
    try:
        entries = list(os.scandir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return removed
    for entry in entries:
        if is_stale_temp(entry.name, target_name):
            remove_path(Path(entry.path))
            removed.append(Path(entry.path))
    return removed


def remove_path(path: Path) -> None:
    """Remove a file, link or directory tree (what is already gone is fine)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_path(target: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path in the target's directory; rename it to ``target`` on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temps(target.parent, target.name)
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(target.name), suffix=suffix or ".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes it private (0600)
        yield tmp_path
        os.replace(tmp_path, target)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def atomic_write_text(target: str | Path, text: str) -> Path:
    with atomic_path(target) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
    return Path(target)


def atomic_write_json(target: str | Path, data: Any) -> Path:
    return atomic_write_text(target, json.dumps(data, indent=2, sort_keys=False, default=_json_default) + "\n")


@contextlib.contextmanager
def atomic_dir(target: str | Path) -> Iterator[Path]:
    """Yield a temporary directory; it replaces ``target`` only when the block finishes."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temps(target.parent, target.name)
    tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(target.name), dir=target.parent))
    try:
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private (0700); a saved model is an ordinary folder
        yield tmp
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=temp_prefix(target.name), suffix=".old", dir=target.parent))
            if target.is_symlink() or not target.is_dir():
                old.rmdir()  # a file or link is renamed to the free name
            os.replace(target, old)  # onto the empty placeholder: a directory may replace an empty one
            os.replace(tmp, target)
            remove_path(old)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _json_default(obj: Any) -> Any:
    try:
        import numpy as np

        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, np.ndarray):
            return obj.tolist()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")
