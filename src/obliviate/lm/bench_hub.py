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
  (:data:`~obliviate.lm.bench.PRETRAINED_METHOD_PARAMS`: MUSE's lr 1e-5, TOFU's 5 epochs), then a recipe
  file's (``--recipe``, :class:`UsesRecipe`), then ``--param``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from ..bench.recipe_files import RecipeFile, check_no_section, check_recipe_for, load_recipe
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


@dataclass(kw_only=True)
class UsesRecipe:
    """A published-benchmark bench's ``--recipe FILE`` (:mod:`obliviate.bench.recipe_files`): the file's
    [train] over the bench's fine-tune recipe, [methods.X] over its method defaults, [eval] over its evaluation
    settings, each under the command line's ``--train`` / ``--param`` / ``--eval``. A file for another family
    or bench, or with a [train] a bench without training cannot use, is a clear error."""

    #: the recipe file (None: the bench's built-in recipe only)
    recipe: str | None = None
    #: the bench's name (``obliviate bench NAME``), which a recipe's ``bench`` must match
    bench_name: ClassVar[str] = "lm"
    #: whether the bench trains a model of its own (uses [train])
    trains: ClassVar[bool] = False

    def recipe_file(self) -> RecipeFile | None:
        """The parsed, checked ``recipe`` file (read once), or None."""
        if self.recipe is None:
            return None
        cached = self.__dict__.get("_recipe_file")
        if cached is None or cached.path != str(self.recipe):
            cached = load_recipe(self.recipe)
            check_recipe_for(cached, "lm", self.bench_name)
            if not self.trains:
                check_no_section(cached, "train", self.bench_name, "it trains no model of its own")
            self.__dict__["_recipe_file"] = cached
        return cached

    def recipe_section(self, section: str) -> dict[str, Any]:
        """The file's ``train`` or ``eval`` table ({} without a file)."""
        file = self.recipe_file()
        return dict(getattr(file, section)) if file else {}

    def with_recipe(self, params: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Per-method parameters: the file's [methods.X] under ``params`` (the command line's)."""
        file = self.recipe_file()
        if file is None:
            return params
        return {m: {**file.method_params(m), **params.get(m, {})} for m in {*file.methods, *params}}

    def eval_params(self) -> dict[str, Any]:
        """Evaluation settings: the file's [eval] under the bench's ``eval`` (``--eval``)."""
        return {**self.recipe_section("eval"), **getattr(self, "eval", {})}

    def recipe_inputs(self) -> list[Path]:
        """The recipe file, an input of the run (``--out`` never replaces it)."""
        return [Path(self.recipe)] if self.recipe else []

    def recipe_record(self) -> dict[str, Any]:
        """``{"recipe": record}`` for ``resolved()`` when a file is given, else {} (unchanged configs)."""
        file = self.recipe_file()
        return {"recipe": file.record()} if file else {}

    def stamp(self, row: dict[str, Any]) -> dict[str, Any]:
        """``row`` with the file's path and its method's provenance, when a file is given; a value the
        command line overrides (``--param``, ``--train``) says so instead."""
        file = self.recipe_file()
        if file is None:
            return row
        file.stamp(row)
        name = row["method"]["name"]
        given = getattr(self, "train", {}) if name in ("original", "retrain") else self.params.get(name, {})
        flag = "--train" if name in ("original", "retrain") else "--param"
        row["method"]["provenance"].update({k: f"command line: {flag}" for k in given})
        return row
