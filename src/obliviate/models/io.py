"""Save and load classifiers as a directory: ``model.safetensors`` + ``config.json`` (+
``weight_masks.safetensors`` for a pruned model, so it stays pruned when reloaded).

Weights are never pickled. Saving is atomic: the directory appears complete or not at all.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

try:
    from safetensors import SafetensorError as _SafetensorsError
except ImportError:  # older safetensors
    _SafetensorsError = Exception  # type: ignore[misc,assignment]
from safetensors.torch import load_file, save_file

from ..errors import ModelLoadError, ObliviateError
from ..utils.io import atomic_dir
from .classifier import CLASSIFIERS, Classifier, build_classifier

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
MASKS = "weight_masks.safetensors"


def save_classifier(model: Classifier, directory: str | Path, extra: dict[str, Any] | None = None) -> Path:
    """Write weights and the architecture config (plus optional metadata) into ``directory``."""
    directory = Path(directory)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    config = {"family": "classifier", "arch": model.arch, "kwargs": model.kwargs, **(extra or {})}
    masks = getattr(model, "weight_masks", None)
    with atomic_dir(directory) as tmp:
        save_file(state, str(tmp / WEIGHTS), metadata={"format": "pt", "arch": model.arch})
        if masks:
            from ..pruning import save_masks

            save_masks(masks, tmp / MASKS)
        (tmp / CONFIG).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return directory


def read_config(directory: str | Path) -> dict[str, Any]:
    directory = Path(directory)
    if not directory.exists():
        raise ModelLoadError(f"model directory {directory} does not exist")
    if not directory.is_dir():
        raise ModelLoadError(f"{directory} is not a directory (expected a folder with {WEIGHTS} and {CONFIG})")
    if not (directory / WEIGHTS).is_file():
        found = sorted(p.name for p in directory.glob("*.safetensors"))
        hint = f" (found {', '.join(found)})" if found else ""
        raise ModelLoadError(f"{directory} holds no {WEIGHTS}{hint}")
    if not (directory / CONFIG).is_file():
        raise ModelLoadError(f"{directory} holds no {CONFIG}: obliviate cannot tell which architecture to build")
    try:
        config = json.loads((directory / CONFIG).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelLoadError(f"{directory / CONFIG} is not valid JSON: {exc}") from None
    if not isinstance(config, dict):
        raise ModelLoadError(f"{directory / CONFIG} must hold a JSON object, got {type(config).__name__}")
    return config


def load_classifier(directory: str | Path) -> Classifier:
    """Rebuild the architecture named in config.json and load its safetensors weights."""
    directory = Path(directory)
    config = read_config(directory)
    arch, kwargs = config.get("arch"), config.get("kwargs", {})
    if not isinstance(arch, str) or arch not in CLASSIFIERS:
        raise ModelLoadError(f"{directory / CONFIG}: unknown classifier architecture {arch!r}; known: {CLASSIFIERS.names()}")
    if not isinstance(kwargs, dict):
        raise ModelLoadError(f"{directory / CONFIG}: 'kwargs' must be a JSON object, got {type(kwargs).__name__}")
    try:
        model = build_classifier(arch, **kwargs)
    except (TypeError, ValueError, RuntimeError, ObliviateError) as exc:
        raise ModelLoadError(f"{directory / CONFIG}: cannot build a {arch!r} with kwargs {kwargs}: {exc}") from None
    try:
        state = load_file(str(directory / WEIGHTS))
    except (_SafetensorsError, OSError, ValueError, RuntimeError) as exc:
        raise ModelLoadError(f"{directory / WEIGHTS} is corrupted or truncated: {exc}") from None
    missing, unexpected = _diff_keys(model.state_dict().keys(), state.keys())
    if missing or unexpected:
        raise ModelLoadError(
            f"{directory / WEIGHTS} does not match architecture {arch!r}: "
            f"missing {missing[:5]}{'...' if len(missing) > 5 else ''}, unexpected {unexpected[:5]}"
        )
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise ModelLoadError(f"{directory / WEIGHTS} does not fit architecture {arch!r}: {exc}") from None
    if (directory / MASKS).is_file():
        from ..errors import ConfigError
        from ..pruning import attach_masks, load_masks

        try:
            attach_masks(model, load_masks(directory / MASKS))
        except ConfigError as exc:
            raise ModelLoadError(f"{directory / MASKS} does not fit the model: {exc}") from None
    return model


def _diff_keys(expected: Any, found: Any) -> tuple[list[str], list[str]]:
    expected, found = set(expected), set(found)
    return sorted(expected - found), sorted(found - expected)


def check_classifier_fits(model: Classifier, num_classes: int, in_channels: int, source: str | Path, dataset: str) -> None:
    """Raise a :class:`ConfigError` when a loaded classifier cannot run on ``dataset`` (class count or
    input channels differ), before any work uses it."""
    from ..errors import ConfigError

    want = {"num_classes": num_classes, "in_channels": in_channels}
    for name, value in want.items():
        have = model.kwargs.get(name)
        if have is not None and have != value:
            raise ConfigError(f"{source} was built with {name}={have} but {dataset} needs {value}")

