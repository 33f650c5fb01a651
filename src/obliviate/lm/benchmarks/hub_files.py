"""Read one split of a Hugging Face hub dataset: from a local copy of its repository, or by hub id.

A local copy is the dataset repository as published (e.g. after ``huggingface-cli download --repo-type
dataset``): the hub's parquet layout ``<config>/<split>-00000-of-00001.parquet`` (the ``data_files``
pattern ``<config>/<split>-*`` of the dataset cards of cais/wmdp and muse-bench/MUSE-*), or JSON files
``<config>/<split>.json`` (a list of objects, or a list of strings read as column ``text``), the layout
that muse_bench's ``load_data.py`` writes under ``data/<corpus>/``. Parquet needs ``pyarrow``; reading by
hub id needs ``datasets`` and the network, and is never used by the tests.

A missing file, split or column raises :class:`~obliviate.errors.MissingDataError` naming the file, the
split and the column expected.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ...errors import MissingDataError

Columns = dict[str, list[Any]]


_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


def is_local(source: str | Path) -> bool:
    """True unless ``source`` is a hub id (``owner/name``, e.g. ``cais/wmdp``) that names no local path."""
    return isinstance(source, Path) or Path(source).exists() or not _HUB_ID.fullmatch(str(source))


def split_files(root: Path, config: str, split: str) -> list[Path]:
    """The parquet shards of ``config``/``split`` under ``root``, else its JSON file; [] when neither exists."""
    shards = sorted((root / config).glob(f"{split}-*.parquet"))
    if shards:
        return shards
    single = root / config / f"{split}.json"
    return [single] if single.is_file() else []


def read_split(source: str | Path, config: str, split: str, columns: Sequence[str]) -> Columns:
    """``{column: values}`` of ``config``/``split`` from a local copy (see the module doc) or a hub id."""
    if not is_local(source):
        return _from_hub(str(source), config, split, columns)
    root = Path(source)
    if not root.is_dir():
        raise MissingDataError(f"dataset directory {root} does not exist (expected a local copy of the hub "
                               f"dataset repository, holding {config}/{split}-*.parquet)")
    files = split_files(root, config, split)
    if not files:
        raise MissingDataError(f"{root}: no file for config {config!r}, split {split!r} (expected "
                               f"{root / config / f'{split}-00000-of-00001.parquet'} as published on the hub, or "
                               f"{root / config / f'{split}.json'}) with columns {', '.join(columns)}")
    parts = [_read_parquet(f, split, columns) if f.suffix == ".parquet" else _read_json(f, split, columns)
             for f in files]
    return {c: [v for part in parts for v in part[c]] for c in columns}


def _missing_column(path: Path, split: str, column: str, found: Sequence[str]) -> MissingDataError:
    return MissingDataError(f"{path}: split {split!r} has no column {column!r} (found: {', '.join(found) or 'none'})")


def _read_parquet(path: Path, split: str, columns: Sequence[str]) -> Columns:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise MissingDataError(f"{path} is parquet, which needs pyarrow: pip install pyarrow") from None
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises its own ArrowInvalid / OSError types on a damaged file
        raise MissingDataError(f"{path}: cannot read split {split!r} as parquet: {exc}") from None
    for column in columns:
        if column not in table.column_names:
            raise _missing_column(path, split, column, table.column_names)
    return {c: table.column(c).to_pylist() for c in columns}


def _read_json(path: Path, split: str, columns: Sequence[str]) -> Columns:
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MissingDataError(f"{path}: cannot read split {split!r} as JSON: {exc}") from None
    if not isinstance(rows, list):
        raise MissingDataError(f"{path}: split {split!r} should be a JSON list of rows, got {type(rows).__name__}")
    rows = [{"text": r} if isinstance(r, str) else r for r in rows]
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise MissingDataError(f"{path}: row {i} of split {split!r} is a {type(row).__name__}, not an object")
        for column in columns:
            if column not in row:
                raise _missing_column(path, split, column, list(row))
    return {c: [row[c] for row in rows] for c in columns}


def _from_hub(hub_id: str, config: str, split: str, columns: Sequence[str]) -> Columns:
    try:
        from datasets import load_dataset
    except ImportError:
        raise MissingDataError(f"{hub_id!r} is not a local directory, and reading it from the hub needs the "
                               "datasets package (pip install datasets); or download the dataset repository "
                               "and pass its directory") from None
    try:
        data = load_dataset(hub_id, config, split=split)
    except Exception as exc:  # network, authentication (gated sets) and unknown-split errors of several types
        raise MissingDataError(f"cannot load {hub_id} config {config!r} split {split!r} from the hub: {exc}") from None
    for column in columns:
        if column not in data.column_names:
            raise MissingDataError(f"{hub_id} config {config!r}: split {split!r} has no column {column!r} "
                                   f"(found: {', '.join(data.column_names)})")
    return {c: list(data[c]) for c in columns}
