"""``obliviate cache ls|verify|clear``: list, check and remove the entries of the model cache.

Only what the cache itself made is listed as an entry or removed: ``<kind>-<hash>`` directories, the
``quarantine/`` folder of entries that failed verification, and stale staging directories of killed
writes. Anything else in the directory (a user's file, a directory of an older obliviate) is listed
as "other" and never removed, so ``--cache-dir`` pointing at the wrong place cannot delete it.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .cache import ENTRY_NAME, QUARANTINE, default_cache_dir, is_stale_staging
from .cache_entry import MANIFEST, BadEntry, memo_covers, read_manifest, verify_entry

#: Key fields shown first in ``cache ls`` (the rest follow in key order while they fit).
_SUMMARY_FIRST = ("family", "dataset", "corpus", "model", "seed", "forget", "search", "size", "prune", "gguf")
_SUMMARY_WIDTH = 70


@dataclass
class Entry:
    path: Path
    kind: str
    digest: str

    @property
    def name(self) -> str:
        return self.path.name


def cache_command(action: str, cache_dir: str | None, *, targets: list[str] | None = None, kind: str | None = None,
                  quarantined: bool = False, yes: bool = False) -> int:
    """Run ``obliviate cache ACTION``; returns the exit status (1: ``verify`` found a bad entry)."""
    root = Path(cache_dir) if cache_dir else default_cache_dir()
    if action == "ls":
        print("\n".join(list_lines(root)))
        return 0
    if action == "verify":
        lines, bad = verify_lines(root)
        print("\n".join(lines))
        return 1 if bad else 0
    if action == "clear":
        print("\n".join(clear(root, targets or [], kind, quarantined, yes)))
        return 0
    raise ConfigError(f"unknown cache action {action!r} (ls, verify, clear)")


def entries(root: Path) -> list[Entry]:
    """The cache entries in ``root`` (sorted by name)."""
    if not root.is_dir():
        return []
    found = []
    for path in sorted(root.iterdir()):
        match = ENTRY_NAME.match(path.name)
        if match and path.is_dir() and not path.is_symlink():
            found.append(Entry(path, match["kind"], match["hash"]))
    return found


def list_lines(root: Path) -> list[str]:
    """``cache ls``: one line per entry (kind, hash, size, created, verified, key summary), then totals."""
    listed = entries(root)
    rows = [("KIND", "HASH", "SIZE", "CREATED (UTC)", "VERIFIED", "KEY")]
    for entry in listed:
        try:
            manifest = read_manifest(entry.path)
        except BadEntry:
            problem = "bad manifest" if (entry.path / MANIFEST).is_file() else "no manifest"
            rows.append((entry.kind, entry.digest, _size(entry.path), "?", problem, ""))
            continue
        verified = "yes" if memo_covers(entry.path, manifest) else "not yet"
        rows.append((entry.kind, entry.digest, _size(entry.path), _created(manifest), verified,
                     summarise_key(manifest.get("key"))))
    lines = [f"cache {root}: {len(listed)} entries, {_fmt_bytes(sum(_bytes(e.path) for e in listed))}"]
    if listed:
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        lines += ["  ".join(c.ljust(w) for c, w in zip(r[:5], widths)) + "  " + r[5] for r in rows]
        lines.append("VERIFIED: yes = its files are unchanged since they last matched their checksums; not yet = "
                     "checked on next use (or run obliviate cache verify)")
    quarantined = _quarantined(root)
    if quarantined:
        lines.append(f"quarantine: {len(quarantined)} entries that failed verification, "
                     f"{_fmt_bytes(sum(_bytes(p) for p in quarantined))} ({root / QUARANTINE}; "
                     "obliviate cache clear --quarantine --yes removes them)")
    stale = _stale(root)
    if stale:
        lines.append(f"unfinished writes of killed runs: {len(stale)}, {_fmt_bytes(sum(_bytes(p) for p in stale))} "
                     "(removed by the next write of the same entry or by obliviate cache clear --yes)")
    others = _others(root)
    if others:
        lines.append(f"other (not cache entries; never removed by obliviate cache clear): "
                     f"{', '.join(p.name for p in others)}")
    return lines


def verify_lines(root: Path) -> tuple[list[str], list[str]]:
    """``cache verify``: rehash every entry (ignoring the memo); returns (report lines, bad entry names)."""
    listed = entries(root)
    lines, bad = [], []
    for entry in listed:
        try:
            verify_entry(entry.path, use_memo=False)
        except BadEntry as exc:
            bad.append(entry.name)
            lines.append(f"BAD {entry.path}: {exc}")
        else:
            lines.append(f"ok  {entry.name}")
    summary = f"{len(listed)} entries in {root} checked, {len(bad)} bad"
    if bad:
        summary += ("; the next run that needs a bad entry moves it to quarantine and rebuilds it, or remove "
                    f"them now: obliviate cache clear --yes --cache-dir {root} {' '.join(bad)}")
    return lines + [summary], bad


def clear(root: Path, targets: list[str], kind: str | None, quarantined: bool, yes: bool) -> list[str]:
    """``cache clear``: remove the named entries (name or hash prefix), those of ``kind``, the quarantine
    (``quarantined``), or with no selection every entry, the quarantine and stale staging directories.
    Without ``yes`` nothing is removed: :class:`ConfigError` lists what would be."""
    listed = entries(root)
    everything = not (targets or kind or quarantined)
    chosen: list[Path] = []
    for target in targets:
        matches = [e for e in listed if target in (e.name, e.digest) or (len(target) >= 4 and e.digest.startswith(target))]
        if len(matches) != 1:
            what = "no entry" if not matches else f"{len(matches)} entries ({', '.join(e.name for e in matches)})"
            raise ConfigError(f"{target!r} names {what} in {root}; give an entry name or hash from obliviate cache ls")
        chosen.append(matches[0].path)
    if kind is not None:
        kinds = sorted({e.kind for e in listed})
        of_kind = [e.path for e in listed if e.kind == kind]
        if not of_kind:
            raise ConfigError(f"no {kind!r} entries in {root} (kinds there: {', '.join(kinds) or 'none'})")
        chosen += of_kind
    if everything:
        chosen += [e.path for e in listed]
    if everything or quarantined:
        chosen += [root / QUARANTINE] if (root / QUARANTINE).is_dir() else []
    stale = _stale(root) if everything else []
    chosen = list(dict.fromkeys(chosen))
    total = _fmt_bytes(sum(_bytes(p) for p in chosen + stale))
    if not chosen and not stale:
        return [f"nothing to remove in {root}"]
    if not yes:
        listing = "\n".join(f"  {p}" for p in chosen + stale)
        raise ConfigError(f"obliviate cache clear would remove {len(chosen) + len(stale)} items ({total}):\n{listing}\n"
                          "nothing was removed: rerun with --yes to remove them")
    for path in chosen:
        _remove(path)
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    return [f"removed {len(chosen) + len(stale)} items ({total}) from {root}"]


def summarise_key(key: Any) -> str:
    """A one-line summary of a cache key: its short scalar fields, the usual identifying ones first."""
    if not isinstance(key, dict):
        return ""
    order = [k for k in _SUMMARY_FIRST if k in key] + [k for k in key if k not in _SUMMARY_FIRST]
    parts = [f"{k}={key[k]}" for k in order if isinstance(key[k], (str, int, float, bool)) and len(str(key[k])) <= 24]
    text = " ".join(parts)
    return text if len(text) <= _SUMMARY_WIDTH else text[: _SUMMARY_WIDTH - 3] + "..."


def _remove(path: Path) -> None:
    # rename first: a removal cut short leaves a hidden directory, never a half-deleted entry
    trash = path.with_name(f".{path.name}.removing")
    shutil.rmtree(trash, ignore_errors=True)
    os.rename(path, trash)
    shutil.rmtree(trash)


def _quarantined(root: Path) -> list[Path]:
    folder = root / QUARANTINE
    return sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def _stale(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink() and is_stale_staging(p.name))


def _others(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir()
                  if not ENTRY_NAME.match(p.name) and p.name != QUARANTINE and not p.name.startswith("."))


def _created(manifest: dict[str, Any]) -> str:
    try:
        when = datetime.fromisoformat(str(manifest.get("created"))).astimezone(timezone.utc)
    except ValueError:
        return "?"
    return when.strftime("%Y-%m-%d %H:%M")


def _bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def _size(path: Path) -> str:
    return _fmt_bytes(_bytes(path))


def _fmt_bytes(n: float) -> str:
    if n < 1000:
        return f"{n:.0f} B"
    for unit in ("KB", "MB", "GB"):
        n /= 1000
        if n < 1000 or unit == "GB":
            break
    return f"{n:.1f} {unit}"
