"""The results document (``results.json``), following ``schema/results.schema.json``."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

from ..version import __version__
from ..utils.env import environment, git_commit
from ..utils.io import atomic_write_json

SCHEMA_VERSION = 1


def load_schema() -> dict[str, Any]:
    """The shared results schema, with a run's ``family`` also allowed to be any registered family (a
    family added through :mod:`obliviate.families` writes valid results without editing the schema)."""
    from ..families import model_families

    schema = json.loads(resources.files("obliviate").joinpath("schema/results.schema.json").read_text(encoding="utf-8"))
    family = schema["$defs"]["run"]["properties"]["family"]
    family["enum"] = list(dict.fromkeys([*family["enum"], *model_families()]))
    return schema


def build_results(suite: str, runs: list[dict[str, Any]], config: dict[str, Any], command: str | None = None) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "obliviate", "version": __version__, "git_commit": git_commit()},
        "suite": suite,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": command if command is not None else " ".join(["obliviate", *sys.argv[1:]]),
        "environment": environment(),
        "config": config,
        "runs": runs,
    }


def validate_results(doc: dict[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` if ``doc`` does not follow the results schema."""
    import jsonschema

    jsonschema.validate(doc, load_schema())


def write_results(out_dir: Path, doc: dict[str, Any]) -> Path:
    validate_results(doc)
    return atomic_write_json(Path(out_dir) / "results.json", doc)
