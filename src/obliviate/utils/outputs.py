"""Where a command may write: one rule for every output (bench, unlearn, train, worst-case, report, tune and
the side directory ``OUT.checkpoints``).

An output target is accepted when it

- does not exist yet, or is an empty directory (created fresh);
- is a directory the same kind of command wrote before (its marker file :data:`MARKER` names the kind;
  outputs older than the marker by the files only obliviate writes; a worst-case indices file by its
  header line): the command resumes or replaces it;
- or the user passed ``--overwrite``;

and never when it is a file where a directory is written (or the reverse), a symbolic link to a
directory, the filesystem root, the home directory or one of its parents, or overlaps an input of the
run (is an input, lies inside one, or holds one); ``--overwrite`` never replaces the working directory
or one of its parents. All checks only read: a command runs them before writing anything
(:func:`check_output`), then creates and marks its directory (:func:`prepare_dir`); an output that
appears atomically (a model directory) carries the marker written inside it (:func:`mark`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from .io import TEMP_TAG, atomic_write_json, clean_stale_temps, remove_path

MARKER = ".obliviate-output.json"
#: the kinds of output (the command that writes each)
KINDS = ("bench", "unlearn", "train", "worst-case", "report", "checkpoints", "tune")
#: the first line of a worst-case indices file (obliviate.classifier.worst_case.WorstCaseResult.write)
WORST_CASE_HEADER = "# obliviate worst-case forget set"


@dataclass(frozen=True)
class Output:
    """A checked output target."""

    path: Path
    kind: str
    #: what was there: None (nothing, or an empty directory), the same kind (resume) or "foreign"
    found: str | None
    overwrite: bool

    @property
    def fresh(self) -> bool:
        return self.found is None


def output_kind(path: str | Path) -> str | None:
    """The kind of obliviate output at ``path``: its marker's kind (a directory), "worst-case" (an
    indices file with our header), else None."""
    path = Path(path)
    if path.is_dir():
        marker = _read_json(path / MARKER)
        if marker is None:
            return _legacy_kind(path)
        kind = marker.get("kind")
        return kind if kind in KINDS else None
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            first = fh.readline(200)
    except OSError:
        return None
    return "worst-case" if first.startswith(WORST_CASE_HEADER) else None


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _legacy_kind(directory: Path) -> str | None:
    """The kind of an output written before markers existed, from the files only obliviate writes: a
    bench's config.json (suite + benches), an unlearning record.json, a trained model's config.json."""
    record = _read_json(directory / "record.json")
    if record is not None and str(record.get("kind", "")).startswith("obliviate unlearning record"):
        return "unlearn"
    config = _read_json(directory / "config.json")
    if config is None:
        return None
    if isinstance(config.get("suite"), str) and isinstance(config.get("benches"), list):
        return "bench"
    if config.get("family") == "classifier" and "arch" in config and "trained_on" in config:
        return "train"
    return None


def mark(directory: str | Path, kind: str) -> None:
    """Write the marker that lets a later run of ``kind`` recognise ``directory`` as its own."""
    if kind not in KINDS:
        raise ValueError(f"unknown output kind {kind!r}")
    from ..version import __version__

    atomic_write_json(Path(directory) / MARKER, {"tool": "obliviate", "kind": kind, "version": __version__})


def _protected(path: Path) -> str | None:
    """Why ``path`` (resolved) may never be an output, or None."""
    if path == Path(path.anchor):
        return "the filesystem root"
    home = Path.home().resolve()
    if path == home or path in home.parents:
        return "your home directory" if path == home else f"a parent of your home directory {home}"
    return None


def check_not_protected(target: str | Path, flag: str = "--out") -> Path:
    """The resolved ``target``; raise when it is the filesystem root, the home directory or a parent of it."""
    path = Path(target).resolve()
    reason = _protected(path)
    if reason:
        raise ConfigError(f"{flag} {target} is {reason}: obliviate never writes there; choose another {flag}")
    return path


def _overlap(path: Path, inputs: Iterable[str | Path | None]) -> str | None:
    for given in inputs:
        if given is None or str(given) == "":
            continue
        inp = Path(given).resolve()
        if path == inp:
            return f"is an input of this run ({given})"
        if path in inp.parents:
            return f"holds an input of this run ({given})"
        if inp in path.parents:
            return f"lies inside an input of this run ({given})"
    return None


def check_output(target: str | Path, kind: str, *, inputs: Iterable[str | Path | None] = (), overwrite: bool = False,
                 is_file: bool = False, flag: str = "--out") -> Output:
    """Check that ``kind`` may write ``target`` (a directory, or a file when ``is_file``); raise
    :class:`ConfigError` otherwise. Reads only: nothing is created or removed."""
    if kind not in KINDS:
        raise ValueError(f"unknown output kind {kind!r}")
    given = Path(target)  # as the command will use it (no ~ expansion: the shell does that)
    path = check_not_protected(given, flag)
    what = f"{flag} {target}"
    other_flag = "--out" if kind == "checkpoints" else flag  # OUT.checkpoints moves with --out
    if is_file and given.is_dir():
        raise ConfigError(f"{what} is a directory; give the path of the file to write")
    reason = _overlap(path, inputs)
    if reason:
        raise ConfigError(f"{what} {reason}: obliviate never writes there; choose another {other_flag}")
    if not os.path.lexists(given):
        return Output(given, kind, None, overwrite)
    hint = f"choose another {other_flag}, remove it first, or pass --overwrite to replace it"
    if is_file:
        found = output_kind(given)
        if found == kind:
            return Output(given, kind, kind, overwrite)
        if overwrite:
            return Output(given, kind, "foreign", overwrite)
        raise ConfigError(f"{what} exists and is not a file `obliviate {kind}` wrote; {hint}")
    if not given.is_dir():
        raise ConfigError(f"{what} exists and is not a directory; choose another {other_flag} (a directory is written)")
    if given.is_symlink():
        raise ConfigError(f"{what} is a symbolic link; give the directory itself")
    cwd = Path.cwd().resolve()
    if overwrite and (path == cwd or path in cwd.parents):
        raise ConfigError(f"{what} is the current directory or holds it: --overwrite would replace it; "
                          f"choose another {other_flag}")
    found = output_kind(given)
    if found == kind:
        return Output(given, kind, kind, overwrite)
    if not any(name != MARKER and TEMP_TAG not in name for name in os.listdir(given)):  # nothing but ours
        return Output(given, kind, None, overwrite)
    if overwrite:
        return Output(given, kind, "foreign", overwrite)
    other = f"was written by `obliviate {found}`" if found else "is a non-empty directory obliviate did not write"
    raise ConfigError(f"{what} {other}; {hint}")


def prepare_dir(output: Output) -> Path:
    """Create the checked directory ``output`` and mark it; what was there is removed first when it is not
    ours (allowed by ``--overwrite``). Stale temporaries of a killed run beside and inside it are removed."""
    path = output.path
    if output.found == "foreign":
        remove_path(path)
    path.mkdir(parents=True, exist_ok=True)
    clean_stale_temps(path.parent, path.name)
    clean_stale_temps(path)
    mark(path, output.kind)
    return path
