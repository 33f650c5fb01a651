"""Integrity of one model-cache entry: a SHA-256 manifest written into it, checked before it is used.

An entry ``<cache>/<kind>-<hash>/`` holds the files its saver wrote plus ``manifest.json``, written
last, before the entry is renamed into place: ``{"format", "kind", "hash", "key", "created",
"files": {relative path: {"size", "sha256"}}}``. :func:`verify_entry` fails (:class:`BadEntry`) on a
missing or unreadable manifest (as in entries written before obliviate had manifests: they cannot be
checked, so they are not trusted), a missing, extra or non-regular file, a size or a hash that differs.

Cost (``benchmarks/cache_cost.py``, results in ``benchmarks/results/cache_cost/cache_cost.json``, a shared
2-core CPU): rehashing a SmolLM2-135M entry (542 MB) takes 1.22 s against 0.73 s to load it from the
page cache, so hashing on every read would more than double each load (a digits CNN entry, 0.64 MB:
0.5 ms against 11 ms). Reads therefore go through a verified-hash memo, ``<entry>/.verified.json``
(outside the manifest; 0.2 ms a read for either entry): a file whose (size, mtime_ns, ctime_ns,
inode, device) equal those recorded when its bytes last hashed to the manifest's digest is not
rehashed; the first read after a write hashes everything and records the memo.

What the memo trusts: that a file's bytes do not change unless its ctime does. Every write through
the filesystem sets ctime to the current time, and no user-space call can set it back (``os.utime``
resets mtime only, and itself moves ctime), so a rewritten, truncated or replaced (new inode) file is
always rehashed. So that a write within one clock tick of the hashing cannot go unseen, only files
whose ctime is over :data:`RACY_SECONDS` old are memoised (git's "racy clean" rule). Not seen: changes
below the filesystem (bit rot on the disk, writes to the raw block device) and a system clock set
back to the old ctime. ``obliviate cache verify`` ignores the memo and rehashes everything. The
checksums catch corruption, not tampering: whoever can write the cache can rewrite a manifest.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO

from ..utils.io import atomic_write_json

MANIFEST = "manifest.json"
MEMO = ".verified.json"
MANIFEST_FORMAT = 1
#: A file whose ctime is younger than this is hashed but not memoised (its timestamp may not yet
#: distinguish a later write).
RACY_SECONDS = 2.0
_CHUNK = 1 << 20


class BadEntry(Exception):
    """A cache entry that fails verification; the message says why (without the entry's path)."""


def sha256_file(path: Path) -> str:
    with open(path, "rb") as fh:
        return _sha256(fh)


def _sha256(fh: BinaryIO) -> str:
    digest = hashlib.sha256()
    while chunk := fh.read(_CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


def entry_files(directory: Path) -> dict[str, Path]:
    """Every file of the entry (relative POSIX path -> path) but the manifest and the memo; raises
    :class:`BadEntry` on anything that is not a regular file or a directory (a link, a device)."""
    files: dict[str, Path] = {}
    for root, dirs, names in os.walk(directory):
        for name in dirs + names:
            path = Path(root) / name
            mode = path.lstat().st_mode
            rel = path.relative_to(directory).as_posix()
            if stat.S_ISDIR(mode):
                continue
            if not stat.S_ISREG(mode):
                raise BadEntry(f"{rel} is not a regular file")
            if rel not in (MANIFEST, MEMO):
                files[rel] = path
    return files


def write_manifest(directory: Path, kind: str, digest: str, key: dict[str, Any]) -> dict[str, Any]:
    """Hash every file of ``directory`` and write its manifest (atomically, fsynced); returns it."""
    files = {rel: {"size": path.stat().st_size, "sha256": sha256_file(path)}
             for rel, path in sorted(entry_files(directory).items())}
    manifest = {"format": MANIFEST_FORMAT, "kind": kind, "hash": digest, "key": key,
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "files": files}
    atomic_write_json(directory / MANIFEST, manifest)
    return manifest


def read_manifest(directory: Path) -> dict[str, Any]:
    """The entry's manifest; :class:`BadEntry` when it is missing, unreadable or malformed."""
    path = directory / MANIFEST
    if not directory.is_dir():
        raise BadEntry("it is not a directory")
    if not path.is_file():
        raise BadEntry(f"it has no {MANIFEST} (written by an obliviate without cache checksums, or "
                       "damaged), so it cannot be verified")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadEntry(f"its {MANIFEST} is unreadable ({exc})") from None
    if not isinstance(manifest, dict):
        manifest = {}
    files = manifest.get("files")
    if manifest.get("format") != MANIFEST_FORMAT or not isinstance(files, dict) or not all(
        isinstance(v, dict) and isinstance(v.get("size"), int) and isinstance(v.get("sha256"), str)
        for v in files.values()
    ):
        raise BadEntry(f"its {MANIFEST} is malformed or of another format")
    return manifest


def verify_entry(directory: Path, *, use_memo: bool = True) -> dict[str, Any]:
    """Check every file of ``directory`` against its manifest (see the module docstring for the memo);
    returns the manifest, or raises :class:`BadEntry` naming the first problem."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    expected: dict[str, dict[str, Any]] = manifest["files"]
    try:
        found = entry_files(directory)
    except OSError as exc:
        raise BadEntry(f"it cannot be listed ({exc})") from None
    missing = sorted(set(expected) - set(found))
    if missing:
        raise BadEntry(f"{missing[0]} is missing" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    extra = sorted(set(found) - set(expected))
    if extra:
        raise BadEntry(f"{extra[0]} is not in its {MANIFEST}")
    memo = _read_memo(directory) if use_memo else {}
    fresh: dict[str, dict[str, Any]] = {}
    for rel, path in sorted(found.items()):
        want = expected[rel]
        try:
            fresh_record = _check_file(rel, path, want, memo.get(rel))
        except OSError as exc:
            raise BadEntry(f"{rel} is unreadable ({exc})") from None
        if fresh_record is not None:
            fresh[rel] = fresh_record
    if fresh:
        _write_memo(directory, {**{k: v for k, v in memo.items() if k in expected}, **fresh})
    return manifest


def memo_covers(directory: Path, manifest: dict[str, Any]) -> bool:
    """True when the memo vouches for every file of the manifest as it is now (no hashing)."""
    memo = _read_memo(directory)
    for rel, want in manifest["files"].items():
        try:
            st = os.lstat(directory / rel)
        except OSError:
            return False
        if not _memo_matches(memo.get(rel), st, want["sha256"]):
            return False
    return True


def _check_file(rel: str, path: Path, want: dict[str, Any], memo_record: Any) -> dict[str, Any] | None:
    """Raise :class:`BadEntry` when ``path`` differs from ``want``; returns a new memo record for it,
    or None when the memo already vouched for it or it is too fresh (or changed while hashed) to memoise."""
    with open(path, "rb") as fh:
        before = os.fstat(fh.fileno())
        if before.st_size != want["size"]:
            raise BadEntry(f"{rel} is {before.st_size} bytes, its manifest says {want['size']}")
        if _memo_matches(memo_record, before, want["sha256"]):
            return None
        digest = _sha256(fh)
        after = os.fstat(fh.fileno())
    if digest != want["sha256"]:
        raise BadEntry(f"{rel} does not match its SHA-256 in the manifest (its bytes changed on disk)")
    if _signature(before) != _signature(after) or time.time_ns() - before.st_ctime_ns < RACY_SECONDS * 1e9:
        return None
    return {"sha256": want["sha256"], **_signature(before)}


def _signature(st: os.stat_result) -> dict[str, int]:
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ctime_ns": st.st_ctime_ns, "ino": st.st_ino,
            "dev": st.st_dev}


def _memo_matches(record: Any, st: os.stat_result, sha256: str) -> bool:
    return isinstance(record, dict) and record.get("sha256") == sha256 and stat.S_ISREG(st.st_mode) and all(
        record.get(k) == v for k, v in _signature(st).items())


def _read_memo(directory: Path) -> dict[str, Any]:
    try:
        memo = json.loads((directory / MEMO).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    files = memo.get("files") if isinstance(memo, dict) else None
    return files if isinstance(files, dict) else {}


def _write_memo(directory: Path, files: dict[str, Any]) -> None:
    try:
        atomic_write_json(directory / MEMO, {"format": 1, "files": files})
    except OSError:  # a read-only cache: every read rehashes
        pass


__all__ = ["BadEntry", "MANIFEST", "MEMO", "RACY_SECONDS", "entry_files", "memo_covers", "read_manifest",
           "sha256_file", "verify_entry", "write_manifest"]
