"""Recipe files (``--recipe FILE``), for every family: a paper's training recipe, its methods' unlearning
settings and a bench's evaluation settings as TOML, each value with its source. docs/recipes.md has the format.

    [recipe]      name, family ("classifier", "lm"), bench (optional: the one bench it is for, e.g. "tofu"),
                  dataset, model, sources (list of strings), description
    [train]       fields of the family's training config (classifier: RetrainConfig; lm: LMTrainConfig)
    [methods.X]   parameters of method X (a nested table is a nested config: [methods.X.dp] -> dp.NAME)
    [eval]        the bench's evaluation settings (checked by the bench that applies the file)
    [provenance]  "train[.P]", "methods.X[.P]" or "eval[.P]" -> where the value came from

Loading validates every value against the family's configs, so a typo fails before any training; a bench
applies a file only after :func:`check_recipe_for` (the family and bench it was written for). Precedence,
lowest first: a method's paper defaults < the bench's built-in recipe < the recipe file < ``--param`` /
``--train`` / ``--eval``.
"""

from __future__ import annotations

import hashlib
import importlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, ObliviateError

#: family -> "module:attribute" of the config class its [train] table must parse in (loaded lazily, so this
#: module stays below the families; a family without an entry has no recipe files yet)
TRAIN_CONFIGS: dict[str, str] = {
    "classifier": "obliviate.methods.classifier.retrain:RetrainConfig",
    "lm": "obliviate.lm.train:LMTrainConfig",
}
#: family -> "module:attribute" of the registry its [recipe] model must be in (a family without one takes any
#: string, e.g. a Hugging Face model id)
MODEL_REGISTRIES: dict[str, str] = {"classifier": "obliviate.models:CLASSIFIERS"}
RECIPE_KEYS = {"name", "family", "bench", "dataset", "model", "max_train", "sources", "description"}
SECTIONS = ("train", "methods", "eval")
TOP_KEYS = {"recipe", "provenance", *SECTIONS}


def _load_attr(spec: str) -> Any:
    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr)


@dataclass(frozen=True)
class RecipeFile:
    """A parsed, validated recipe file."""

    path: str
    sha256: str
    name: str
    family: str
    dataset: str | None
    model: str | None
    sources: tuple[str, ...]
    #: the stratified training subset the recipe is for (``--max-train`` overrides it); None: the whole set
    max_train: int | None = None
    train: dict[str, Any] = field(default_factory=dict)
    methods: dict[str, dict[str, Any]] = field(default_factory=dict)
    provenance: dict[str, str] = field(default_factory=dict)
    #: the one bench the file is for (None: any bench of its family)
    bench: str | None = None
    eval: dict[str, Any] = field(default_factory=dict)

    def method_params(self, name: str) -> dict[str, Any]:
        """The file's parameters of method ``name`` (dotted keys for nested configs; {} when absent)."""
        return dict(self.methods.get(name, {}))

    def provenance_of(self, name: str) -> dict[str, str]:
        """``{param: source}`` for method ``name`` (``"*"``: the whole method's entry); ``train`` for the
        original training and the retrain reference; ``eval`` for the evaluation settings."""
        if name in ("train", "retrain", "original", "eval"):
            whole = "eval" if name == "eval" else "train"
        else:
            whole = f"methods.{name}"
        prefix = f"{whole}."
        out = {"*": self.provenance[whole]} if whole in self.provenance else {}
        out.update({k[len(prefix):]: v for k, v in self.provenance.items() if k.startswith(prefix)})
        return out

    def record(self) -> dict[str, Any]:
        """What results record about the file (config.json; rows add their method's provenance)."""
        return {"path": self.path, "sha256": self.sha256, "name": self.name, "sources": list(self.sources),
                "provenance": dict(self.provenance)}

    def stamp(self, row: dict[str, Any]) -> dict[str, Any]:
        """``row`` with the file's path and the provenance of its method's values (``method.recipe``,
        ``method.provenance``; ``original`` and ``retrain`` rows get the ``train`` entries)."""
        row["method"]["recipe"] = self.path
        row["method"]["provenance"] = self.provenance_of(row["method"]["name"])
        return row


def check_recipe_for(recipe: RecipeFile, family: str, bench: str | None) -> None:
    """A clear error unless ``recipe`` may be applied by ``bench`` of ``family`` (None: a command of the family
    that is no bench, e.g. ``unlearn``, which takes any recipe of the family)."""
    if recipe.family != family or (bench is not None and recipe.bench is not None and recipe.bench != bench):
        written = f"the {recipe.family} family" + (f", bench {recipe.bench}" if recipe.bench else "")
        target = f"bench {bench} (family {family})" if bench else f"the {family} family"
        raise ConfigError(f"recipe {recipe.path} is written for {written}; it cannot be applied to {target}")


def check_no_section(recipe: RecipeFile, section: str, bench: str, why: str) -> None:
    """A clear error when ``recipe`` sets ``[section]``, which ``bench`` has no use for (``why``)."""
    if getattr(recipe, section):
        raise ConfigError(f"recipe {recipe.path}: [{section}] does not apply to bench {bench} ({why})")


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested tables as dotted keys: {"dp": {"epsilon": 8}} -> {"dp.epsilon": 8}."""
    out: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _table(doc: dict[str, Any], key: str, path: Path) -> dict[str, Any]:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: [{key}] must be a table, got {type(value).__name__}")
    return value


def load_recipe(path: str | Path) -> RecipeFile:
    """Read and validate a recipe file; :class:`ConfigError` naming the file and the key on any problem."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read recipe {path}: {exc.strerror or exc}") from None
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"recipe {path} is not valid TOML: {exc}") from None
    unknown = sorted(set(doc) - TOP_KEYS)
    if unknown:
        raise ConfigError(f"recipe {path}: unknown top-level keys {unknown}; expected {sorted(TOP_KEYS)}")
    head = _table(doc, "recipe", path)
    bad = sorted(set(head) - RECIPE_KEYS)
    if bad:
        raise ConfigError(f"recipe {path}: unknown keys in [recipe]: {bad}; expected {sorted(RECIPE_KEYS)}")
    for key in ("name", "family"):
        if not isinstance(head.get(key), str) or not head[key]:
            raise ConfigError(f"recipe {path}: [recipe] needs a string {key!r}")
    if head["family"] not in TRAIN_CONFIGS:
        raise ConfigError(f"recipe {path}: family {head['family']!r} has no recipe files yet; known: "
                          f"{list(TRAIN_CONFIGS)}")
    sources = head.get("sources", [])
    if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
        raise ConfigError(f"recipe {path}: [recipe] sources must be a list of strings")
    max_train = head.get("max_train")
    if max_train is not None and (isinstance(max_train, bool) or not isinstance(max_train, int) or max_train < 1):
        raise ConfigError(f"recipe {path}: [recipe] max_train must be a positive integer, got {max_train!r}")
    methods = _table(doc, "methods", path)
    for name, table in methods.items():
        if not isinstance(table, dict):
            raise ConfigError(f"recipe {path}: methods.{name} must be a table ([methods.{name}])")
    provenance = _table(doc, "provenance", path)
    if not all(isinstance(v, str) and v.strip() for v in provenance.values()):
        raise ConfigError(f"recipe {path}: every [provenance] value must be a non-empty string (a source)")
    recipe = RecipeFile(
        path=str(path), sha256=hashlib.sha256(raw).hexdigest(), name=head["name"], family=head["family"],
        dataset=head.get("dataset"), model=head.get("model"), sources=tuple(sources), max_train=max_train,
        train=_flatten(_table(doc, "train", path)),
        methods={name: _flatten(table) for name, table in methods.items()},
        provenance=dict(provenance), bench=head.get("bench"), eval=_flatten(_table(doc, "eval", path)),
    )
    validate_recipe(recipe)
    return recipe


def validate_recipe(recipe: RecipeFile) -> None:
    """The bench is one of the family's, the model is registered (where the family has a registry), every
    method exists in the family, every parameter parses in its config, every provenance key names a value
    the file sets (or a whole section / method). [eval] is checked by the bench that applies the file."""
    from ..families import load_all
    from ..methods.base import resolve_method

    where = f"recipe {recipe.path}"
    if recipe.bench is not None:
        benches = sorted(adapter.name for adapter in load_all().values() if adapter.family == recipe.family)
        if recipe.bench not in benches:
            raise ConfigError(f"{where}: bench {recipe.bench!r} is not a bench of the {recipe.family} family; "
                              f"known: {benches}")
    registry = MODEL_REGISTRIES.get(recipe.family)
    if recipe.model is not None and registry is not None:
        models = _load_attr(registry)
        if recipe.model not in models:
            raise ConfigError(f"{where}: unknown model {recipe.model!r}; known: {models.names()}")
    try:
        _load_attr(TRAIN_CONFIGS[recipe.family]).from_params(dict(recipe.train))
    except ConfigError as exc:
        raise ConfigError(f"{where}: [train]: {exc}") from None
    for name, params in recipe.methods.items():
        try:
            method, fixed = resolve_method(name, family=recipe.family)  # a variant (npo_gdr) fixes some values
            method.Config.from_params({**fixed, **params})
        except ObliviateError as exc:  # an unknown method or a bad parameter
            raise ConfigError(f"{where}: [methods.{name}]: {exc}") from None
    known = {"train", "eval"} | {f"train.{k}" for k in recipe.train} | {f"eval.{k}" for k in recipe.eval}
    for name, params in recipe.methods.items():
        known |= {f"methods.{name}"} | {f"methods.{name}.{k}" for k in params}
    stale = sorted(set(recipe.provenance) - known)
    if stale:
        raise ConfigError(f"{where}: [provenance] names values the file does not set: {stale}")
