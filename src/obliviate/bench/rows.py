"""Result rows on disk: one JSON file per (task, method, seed, config), written atomically.

A rerun with the same ``--out`` finds finished rows and skips them; a row file exists only once its
run is complete, so an interrupted run never leaves a row that looks finished.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ..utils.io import atomic_write_json
from .cache import config_hash


class RowStore:
    def __init__(self, out_dir: Path) -> None:
        self.dir = Path(out_dir) / "rows"

    def path(self, key: dict[str, Any]) -> Path:
        label = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{key.get('dataset')}_{key.get('forget')}_{key.get('method')}_s{key.get('seed')}")
        return self.dir / f"{label}-{config_hash(key)}.json"

    def get(self, key: dict[str, Any]) -> dict[str, Any] | None:
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:  # cannot happen with atomic writes, but never trust a bad row
            return None

    def put(self, key: dict[str, Any], row: dict[str, Any]) -> None:
        atomic_write_json(self.path(key), row)
