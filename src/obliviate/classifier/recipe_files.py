"""Recipe files (``--recipe FILE``): a paper's original-training recipe and its methods' unlearning
settings as TOML, each value with its source. The format is documented in docs/recipes.md.

    [recipe]      name, family ("classifier"), dataset, model, max_train, sources (list of URLs), description
    [train]       fields of RetrainConfig (original training and the exact-retrain reference)
    [methods.X]   parameters of method X (a nested table is a nested config: [methods.X.dp] -> dp.NAME)
    [provenance]  "train.P", "methods.X.P" or "methods.X" -> where the value came from

Precedence, lowest first: a method's paper defaults < the built-in dataset recipe
(:mod:`obliviate.classifier.recipes`) < the recipe file < ``--param`` / ``--train``. Loading a file
validates every value against the method configs, so a typo fails before any training.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, ObliviateError

FAMILIES = ("classifier",)
RECIPE_KEYS = {"name", "family", "dataset", "model", "max_train", "sources", "description"}
TOP_KEYS = {"recipe", "train", "methods", "provenance"}


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

    def method_params(self, name: str) -> dict[str, Any]:
        """The file's parameters of method ``name`` (dotted keys for nested configs; {} when absent)."""
        return dict(self.methods.get(name, {}))

    def provenance_of(self, name: str) -> dict[str, str]:
        """``{param: source}`` for method ``name`` (``"*"``: the whole method's entry); ``train`` for the
        original training and the retrain reference."""
        prefix = "train." if name in ("train", "retrain", "original") else f"methods.{name}."
        whole = "train" if prefix == "train." else f"methods.{name}"
        out = {"*": self.provenance[whole]} if whole in self.provenance else {}
        out.update({k[len(prefix):]: v for k, v in self.provenance.items() if k.startswith(prefix)})
        return out

    def record(self) -> dict[str, Any]:
        """What results record about the file (config.json; rows add their method's provenance)."""
        return {"path": self.path, "sha256": self.sha256, "name": self.name, "sources": list(self.sources),
                "provenance": dict(self.provenance)}


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
    if head["family"] not in FAMILIES:
        raise ConfigError(f"recipe {path}: family {head['family']!r} has no recipe files yet; known: {list(FAMILIES)}")
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
        provenance=dict(provenance),
    )
    validate_recipe(recipe)
    return recipe


def validate_recipe(recipe: RecipeFile) -> None:
    """Every method exists in the family, every parameter parses in its config, every provenance key names
    a value the file sets (or a whole method / ``train``)."""
    from ..methods import get_method
    from ..methods.classifier.retrain import RetrainConfig
    from ..models import CLASSIFIERS

    where = f"recipe {recipe.path}"
    if recipe.model is not None and recipe.model not in CLASSIFIERS:
        raise ConfigError(f"{where}: unknown model {recipe.model!r}; known: {CLASSIFIERS.names()}")
    try:
        RetrainConfig.from_params(dict(recipe.train))
    except ConfigError as exc:
        raise ConfigError(f"{where}: [train]: {exc}") from None
    for name, params in recipe.methods.items():
        try:
            method = get_method(name, family=recipe.family)
            method.Config.from_params(dict(params))
        except ObliviateError as exc:  # an unknown method or a bad parameter
            raise ConfigError(f"{where}: [methods.{name}]: {exc}") from None
    known = {"train"} | {f"train.{k}" for k in recipe.train}
    for name, params in recipe.methods.items():
        known |= {f"methods.{name}"} | {f"methods.{name}.{k}" for k in params}
    stale = sorted(set(recipe.provenance) - known)
    if stale:
        raise ConfigError(f"{where}: [provenance] names values the file does not set: {stale}")
