"""Refusing model directories that ask for remote code: obliviate never runs a model directory's Python.

Hugging Face lets a model directory ship its own ``modeling_*.py`` / ``tokenization_*.py`` and name them
in an ``auto_map``; loading such a model executes that code (transformers asks "run the custom code?"
when ``trust_remote_code`` is left unset). Every loader here passes ``trust_remote_code=False`` and,
before loading, calls :func:`refuse_remote_code`, which reads the directory's JSON configs and refuses
an ``auto_map``, a ``model_type`` transformers does not know, or an architecture class it does not have.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import ConfigError, ModelLoadError

#: the configs whose ``auto_map`` would make transformers import code from the directory
CONFIG_FILES = ("config.json", "tokenizer_config.json", "preprocessor_config.json", "processor_config.json",
                "feature_extractor_config.json", "image_processor_config.json")


class RemoteCodeError(ModelLoadError, ConfigError):
    """A model directory that can only be loaded by running its own Python code."""


def _read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``; None when absent or unreadable (the loader reports a damaged file)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def remote_code_reasons(directory: str | Path) -> list[str]:
    """Why loading ``directory`` would run code from it (empty when it would not)."""
    import transformers
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    directory = Path(directory)
    reasons = []
    for name in CONFIG_FILES:
        data = _read_json(directory / name)
        if data is None:
            continue
        if data.get("auto_map"):
            reasons.append(f"{name} has an auto_map ({json.dumps(data['auto_map'])[:120]})")
        if name != "config.json":
            continue
        model_type = data.get("model_type")
        if isinstance(model_type, str) and model_type not in CONFIG_MAPPING:
            reasons.append(f"config.json's model_type {model_type!r} is not one transformers "
                           f"{transformers.__version__} implements (a newer transformers may)")
        architectures = data.get("architectures") or []
        unknown = [a for a in architectures if not isinstance(a, str) or not hasattr(transformers, a)]
        if unknown:
            reasons.append(f"config.json names architectures transformers does not have: {unknown[:3]}")
    return reasons


def refuse_remote_code(directory: str | Path, context: str | None = None) -> None:
    """Raise :class:`RemoteCodeError` if loading ``directory`` would need its own code (see the module doc);
    ``context`` starts the message (default: the directory)."""
    reasons = remote_code_reasons(directory)
    if reasons:
        raise RemoteCodeError(f"{context or directory}: the model needs remote code (the directory's own Python), "
                              f"which obliviate never runs: {'; '.join(reasons)}. Use a model whose architecture "
                              "transformers implements (or convert it to one)")
