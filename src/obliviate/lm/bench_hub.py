"""What the benches on published LM benchmarks (TOFU, MUSE, WMDP: ``lm/bench_tofu.py``, ``bench_muse.py``,
``bench_wmdp.py``) share: user model directories, their cache keys, the methods they run and their recipes.

Decisions:
- A model directory is identified in cache keys by :func:`model_fingerprint` (its ``config.json`` and the
  names and sizes of its files), not by its path, so a moved copy reuses the cache and a replaced model
  does not.
- Methods: every non-exact lm method (the exact reference is the benchmark's own: TOFU's retain-only
  model, MUSE's published retrained model); a method that needs an unlearning-ready DP base (dp2) is
  refused, since these benches start from a given model, not from initial weights.
- Method defaults are the LM bench's recipe for fine-tuned pretrained models
  (:data:`~obliviate.lm.bench.PRETRAINED_METHOD_PARAMS`: MUSE's lr 1e-5, TOFU's 5 epochs), then ``--param``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ..errors import ConfigError, MissingDataError
from ..methods.base import resolve_method
from .bench import PRETRAINED_METHOD_PARAMS, recipe_params


def model_fingerprint(directory: str | Path) -> str:
    """A digest of a model directory: ``config.json``'s text and every file's name and size."""
    root = Path(directory)
    if not root.is_dir():
        raise MissingDataError(f"model directory {root} does not exist")
    digest = hashlib.sha256()
    config = root / "config.json"
    digest.update(config.read_bytes() if config.is_file() else b"")
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(f"{path.relative_to(root)}:{path.stat().st_size}\n".encode())
    return digest.hexdigest()[:16]


def data_fingerprint(value: Any) -> str:
    """A digest of JSON-able benchmark content (the rows a bench read)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def check_model_dir(directory: str | Path, flag: str) -> None:
    """A clear error when ``directory`` (given as ``flag``) is no model directory."""
    path = Path(directory)
    if not path.is_dir() or not (path / "config.json").is_file():
        raise MissingDataError(f"{flag} {path}: expected a Hugging Face model directory (config.json and weights)")


def unlearning_methods(methods: list[str]) -> list[str]:
    """``methods`` without exact ones (the benchmark's reference plays that part); dp2-style methods refused."""
    out = []
    for name in methods:
        method, _ = resolve_method(name, family="lm")
        if method.is_exact:
            continue
        if method.base_model != "original":
            raise ConfigError(f"{name} unlearns from a {method.base_model!r} base trained from initial weights; "
                              "this benchmark starts from a given model, so it cannot run it")
        out.append(name)
    return out


def pretrained_params(name: str, params: dict[str, dict[str, Any]],
                      table: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The validated config of ``name``: the pretrained-model recipe (or ``table``) < ``params[name]``."""
    return recipe_params(name, table or PRETRAINED_METHOD_PARAMS, params.get(name))


def check_params(params: dict[str, dict[str, Any]], methods: list[str]) -> None:
    unknown = set(params) - set(methods)
    if unknown:
        raise ConfigError(f"--param given for {sorted(unknown)}, which are not among --methods {methods}")


def load_model(directory: str | Path, dtype: str):
    """(model, tokenizer) from a local directory (never the network)."""
    from .model import load_causal_lm

    return load_causal_lm(directory, dtype=dtype)
