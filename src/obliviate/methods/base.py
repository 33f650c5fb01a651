"""The method contract and registry.

A method is one class with a typed config dataclass whose defaults come from its paper. It turns
(model, :class:`~obliviate.tasks.UnlearnData`) into an unlearned model; it never sees the test set
or the retrained model, and declares whether it needs labels.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from torch import nn

from ..errors import ConfigError, UnknownNameError
from ..registry import Registry
from ..tasks import UnlearnData
from ..training import OptimConfig


def param(default: Any, help: str, noop: Any = None) -> Any:
    """A config field with help text (shown by ``obliviate ls methods -v`` and the CLI). ``noop``: a value
    at which the method would do nothing (return the original model); :meth:`MethodConfig.validate` refuses it."""
    metadata = {"help": help} if noop is None else {"help": help, "noop": noop}
    return field(default=default, metadata=metadata)


#: fields that make any method a no-op at a value, whichever config declares them: ``epochs=0`` trains
#: nothing. A field declares its own with ``param(..., noop=VALUE)``.
NOOP_VALUES: dict[str, Any] = {"epochs": 0, "steps": 0}


class MethodFamilyError(UnknownNameError, ConfigError):
    """A method of another family than the model or bench it is asked to run on."""


@dataclass
class MethodConfig:
    """Base of every method config: parsing from a ``{name: value}`` dict and validation."""

    @classmethod
    def from_params(cls, params: dict[str, Any] | None = None) -> "MethodConfig":
        params = dict(params or {})
        hints = typing.get_type_hints(cls)
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = [k for k in params if k not in names]
        if unknown:
            msgs = []
            for k in unknown:
                close = difflib.get_close_matches(k, names, n=1)
                msgs.append(f"{k!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            raise ConfigError(f"{cls.__name__}: unknown parameter {', '.join(msgs)}; known: {', '.join(names)}")
        values = {k: _coerce(k, v, hints[k]) for k, v in params.items()}
        config = cls(**values)
        config.validate()
        return config

    def validate(self) -> None:
        """Generic checks; subclasses extend with their own and call ``super().validate()``."""
        problems = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            noop = f.metadata.get("noop", NOOP_VALUES.get(f.name))
            if noop is not None and not isinstance(value, bool) and value == noop:
                problems.append(f"{f.name}={value!r} makes the method a no-op: it would train nothing and hand "
                                "back its starting model as if unlearned")
                continue
            if isinstance(value, float) and not math.isfinite(value):
                problems.append(f"{f.name} must be finite, got {value}")
            if f.name in ("epochs", "steps") and isinstance(value, int) and value < 0:
                problems.append(f"{f.name} must be >= 0, got {value}")
            if f.name in ("lr", "batch_size") and isinstance(value, (int, float)) and value <= 0:
                problems.append(f"{f.name} must be > 0, got {value}")
            if f.name in ("max_grad_norm", "retain_weight") and isinstance(value, (int, float)) and value < 0:
                problems.append(f"{f.name} must be >= 0, got {value}")
        if problems:
            raise ConfigError(f"{type(self).__name__}: " + "; ".join(problems))

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def describe(cls) -> list[tuple[str, str, Any, str]]:
        """(name, type, default, help) for every field."""
        hints = typing.get_type_hints(cls)
        return [
            (f.name, getattr(hints[f.name], "__name__", str(hints[f.name])), f.default, f.metadata.get("help", ""))
            for f in dataclasses.fields(cls)
        ]


def _coerce(name: str, value: Any, hint: Any) -> Any:
    """Convert CLI strings to the field's type (int, float, bool, str, Literal, Optional)."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            if type(None) in args:
                return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(name, value, inner[0]) if len(inner) == 1 else value
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{name} must be one of {list(args)}, got {value!r}")
        return value
    if not isinstance(value, str):
        if hint is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        return value
    try:
        if hint is bool:
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if hint in (int, float):
            return hint(value)
    except ValueError:
        raise ConfigError(f"{name} expects {hint.__name__}, got {value!r}") from None
    return value


@dataclass
class TrainingConfig(MethodConfig):
    """Fields shared by every method that runs the training loop."""

    epochs: int = param(10, "passes over the method's main data stream")
    lr: float = param(0.01, "learning rate")
    batch_size: int = param(256, "mini-batch size")
    optimizer: typing.Literal["sgd", "adam"] = param("sgd", "optimiser")
    momentum: float = param(0.9, "SGD momentum")
    weight_decay: float = param(5e-4, "weight decay")
    schedule: typing.Literal["constant", "cosine"] = param("constant", "learning-rate schedule")

    def optim(self) -> OptimConfig:
        return OptimConfig(self.optimizer, self.lr, self.momentum, self.weight_decay, self.schedule)

    def validate(self) -> None:
        super().validate()
        self.optim().validate()


class Method(ABC):
    """An unlearning method. Subclasses set the class attributes and implement :meth:`run`."""

    name: ClassVar[str]
    family: ClassVar[str] = "classifier"
    paper: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    Config: ClassVar[type[MethodConfig]] = MethodConfig
    uses_labels: ClassVar[bool] = True
    #: True only for exact retraining: the bench reuses its cached reference model for this method.
    is_exact: ClassVar[bool] = False

    @classmethod
    def needs_labels(cls, config: MethodConfig) -> bool:
        """Whether this run needs labels; a method whose need depends on its config overrides this."""
        return cls.uses_labels

    @abstractmethod
    def run(self, model: nn.Module, data: UnlearnData, config: MethodConfig, *, seed: int) -> nn.Module:
        """Return the unlearned model (may modify ``model`` in place and return it)."""


METHODS: Registry[type[Method]] = Registry("method")


def register_method(cls: type[Method]) -> type[Method]:
    """Class decorator adding a method to the registry under ``cls.name``."""
    METHODS.register(cls.name, cls)
    return cls


def get_method(name: str, family: str | None = None) -> type[Method]:
    """The method registered as ``name``; with ``family``, ``name`` may be the family-local name.

    Registry names are unique across families. A method whose natural name is taken by another family
    is registered as ``<family>_<name>`` (``lm_grad_ascent``, ``lm_retrain``); within its family's
    bench it answers to the short name, so ``get_method("grad_ascent", family="lm")`` finds
    ``lm_grad_ascent``. A method of another family raises :class:`MethodFamilyError` (a
    :class:`ConfigError` and an :class:`UnknownNameError`) naming both families.
    """
    from . import load_all  # noqa: F401  (registers built-in methods on first use)

    load_all()
    asked = name
    if family is None:
        return METHODS.get(name)
    if f"{family}_{name}" in METHODS:
        return METHODS.get(f"{family}_{name}")
    if name not in METHODS:
        from .lm_common import VARIANTS  # the LM family's named variants (npo_gdr, ...)

        if name in VARIANTS and family != "lm":
            name = VARIANTS[name][0]  # reported below as a method of the lm family
    if name not in METHODS:
        own = [local_name(METHODS.get(n)) for n in METHODS.names() if METHODS.get(n).family == family]
        close = difflib.get_close_matches(name, own, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise UnknownNameError(f"unknown {family} method {name!r}.{hint} Known: {', '.join(sorted(own))}.")
    cls = METHODS.get(name)
    if cls.family != family:
        own = sorted(local_name(METHODS.get(n)) for n in METHODS.names() if METHODS.get(n).family == family)
        raise MethodFamilyError(f"method {asked!r} belongs to the {cls.family} family, not {family}: it cannot run "
                                f"on a {family} model; {family} methods: {', '.join(own)}")
    return cls


def local_name(cls: type[Method]) -> str:
    """The name a method has within its family: its registry name without a ``<family>_`` prefix."""
    prefix = f"{cls.family}_"
    return cls.name[len(prefix):] if cls.name.startswith(prefix) else cls.name
