"""Typed configs: one declaration per setting (default, help, constraints), parsed from ``{name: value}``
dicts (CLI strings included) and validated in one place.

A config is a dataclass deriving from :class:`Config` whose fields are declared with :func:`param`.
Constraints are declarative (``gt``/``ge``/``lt``/``le`` bounds, ``choices``, a ``Literal`` type, a
``noop`` value the run would do nothing at); every float must be finite. A rule that ties fields
together goes in ``check(self) -> list[str]``: each class's own ``check`` runs (base classes first), so
a subclass never calls ``super().check()``. :meth:`Config.validate` reports every problem at once, as
``"<ConfigName>: problem; problem"``.

A field whose type is a Config subclass nests: ``from_params({"dp": {"epsilon": 0.5}})`` and
``from_params({"dp.epsilon": "0.5"})`` both set it (mixed, a later key wins, as in ``{**a, **b}``);
:meth:`Config.as_dict` gives nested dicts and :meth:`Config.describe` dotted names (``dp.epsilon``).

A subclass changes an inherited field's default by re-declaring it, with or without a type: without
one it keeps the base's type; either way it keeps the base's constraints unless it gives its own
(``lr = param(3e-3, "peak learning rate")``).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import numbers
import types
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from .errors import ConfigError

C = TypeVar("C", bound="Config")

#: the constraint keywords of :func:`param`, in the order their problems are reported
CONSTRAINTS = ("gt", "ge", "lt", "le", "choices", "noop")

#: fields that make any run a no-op at a value, whichever config declares them: ``epochs=0`` trains
#: nothing. A field declares its own with ``param(..., noop=VALUE)``.
NOOP_VALUES: dict[str, Any] = {"epochs": 0, "steps": 0}


def param(default: Any, help: str, *, gt: float | None = None, ge: float | None = None, lt: float | None = None,
          le: float | None = None, choices: typing.Sequence[Any] | None = None, noop: Any = None) -> Any:
    """A config field with help text (shown by ``obliviate ls methods -v``) and constraints checked by
    :meth:`Config.validate`: bounds ``gt`` (>), ``ge`` (>=), ``lt`` (<), ``le`` (<=) on a number (None
    passes), ``choices`` (the allowed values; a ``Literal`` type gives them too) and ``noop``: a value
    at which the run would do nothing (return the original model), refused. A mutable default (a
    nested config) is copied per instance."""
    metadata: dict[str, Any] = {"help": help}
    given = {"gt": gt, "ge": ge, "lt": lt, "le": le, "choices": tuple(choices) if choices is not None else None,
             "noop": noop}
    metadata.update({k: v for k, v in given.items() if v is not None})
    if isinstance(default, Config):
        return field(default_factory=lambda: dataclasses.replace(default), metadata=metadata)
    return field(default=default, metadata=metadata)


class Config:
    """Base of every config dataclass: parsing, validation, nesting, description. Not a dataclass itself,
    so frozen and mutable configs can both derive from it."""

    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Runs before ``@dataclass``: a re-declared inherited field keeps the base's type when it gives
        none, and the base's constraints it does not set itself."""
        super().__init_subclass__(**kwargs)
        inherited: dict[str, dataclasses.Field] = getattr(cls, "__dataclass_fields__", {})
        if not inherited:
            return
        own = cls.__dict__.get("__annotations__")
        if own is None:
            own = {}
            cls.__annotations__ = own
        hints: dict[str, Any] | None = None
        for name, base_field in inherited.items():
            if name not in cls.__dict__:
                continue
            value = cls.__dict__[name]
            if isinstance(value, (property, classmethod, staticmethod, types.FunctionType)):
                continue  # not a field (dataclass will say so if it clashes)
            if not isinstance(value, dataclasses.Field):  # a bare new default keeps the base's help too
                value = field(default=value, metadata=base_field.metadata)
                setattr(cls, name, value)
            if name not in own:
                if hints is None:
                    hints = typing.get_type_hints(cls.__mro__[1])
                own[name] = hints[name]
            kept = {k: v for k, v in base_field.metadata.items() if k in CONSTRAINTS and k not in value.metadata}
            if kept:
                value.metadata = types.MappingProxyType({**kept, **value.metadata})

    # -- parsing ---------------------------------------------------------------------------------

    @classmethod
    def from_params(cls: type[C], params: dict[str, Any] | None = None) -> C:
        """Build from ``{name: value}`` (values may be CLI strings; nested configs as dicts or dotted
        names) and validate; every unknown name, bad value and broken constraint in one ConfigError."""
        problems: list[str] = []
        config = cls._build(dict(params or {}), "", problems)
        if problems:
            raise ConfigError(f"{cls.__name__}: " + "; ".join(problems + config._problems("")))
        config.validate()
        return config

    @classmethod
    def _build(cls: type[C], params: dict[str, Any], prefix: str, problems: list[str], base: C | None = None) -> C:
        """An instance from ``params`` over ``base`` (the defaults when None); problems are appended."""
        hints = typing.get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        nested: dict[str, dict[str, Any]] = {}
        values: dict[str, Any] = {}
        unknown = []
        for key, value in params.items():
            name, dot, rest = key.partition(".")
            sub = _config_type(hints.get(name))
            if name not in fields or (dot and sub is None):
                unknown.append(key)
            elif sub is not None and (dot or isinstance(value, dict)):
                target = nested.setdefault(name, {})  # both forms merge; a later key wins, as in {**a, **b}
                target.update({rest: value} if dot else value)
            elif sub is not None and not isinstance(value, sub):
                problems.append(f"{prefix}{name} expects a {sub.__name__} or a dict of its params, got {value!r}")
            else:
                try:
                    values[name] = _coerce(prefix + name, value, hints[name])
                except ConfigError as exc:
                    problems.append(str(exc))
        if unknown:
            known = cls.names()
            msgs = []
            for key in unknown:
                close = difflib.get_close_matches(key, known, n=1)
                msgs.append(repr(prefix + key) + (f" (did you mean {prefix + close[0]!r}?)" if close else ""))
            problems.append(f"unknown parameter {', '.join(msgs)}; known: {', '.join(prefix + k for k in known)}")
        for name, sub_params in nested.items():
            sub = typing.cast(type[Config], _config_type(hints[name]))
            sub_base = getattr(base, name) if base is not None else _default(fields[name])
            values[name] = sub._build(sub_params, f"{prefix}{name}.", problems,
                                      None if sub_base is dataclasses.MISSING else sub_base)
        return cls(**values) if base is None else dataclasses.replace(base, **values)  # type: ignore[type-var]

    # -- validation ------------------------------------------------------------------------------

    def validate(self) -> None:
        """Raise one ConfigError listing every broken constraint and ``check`` problem (nested included)."""
        problems = self._problems("")
        if problems:
            raise ConfigError(f"{type(self).__name__}: " + "; ".join(problems))

    def check(self) -> list[str]:
        """Cross-field rules of this class (override; each class's own ``check`` runs, bases first)."""
        return []

    def _problems(self, prefix: str) -> list[str]:
        problems: list[str] = []
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if isinstance(value, Config):
                problems += value._problems(f"{prefix}{f.name}.")
            else:
                problems += _field_problems(prefix + f.name, value, f.metadata, hints[f.name])
        for klass in reversed(type(self).__mro__):
            own_check = klass.__dict__.get("check")
            if own_check is not None and klass is not Config:
                problems += [prefix + p if prefix else p for p in own_check(self)]
        return problems

    # -- output ----------------------------------------------------------------------------------

    def as_dict(self) -> dict[str, Any]:
        """``{name: value}``, nested configs as nested dicts."""
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    def as_flat_dict(self) -> dict[str, Any]:
        """``{name: value}`` with dotted names for nested fields (what :meth:`from_params` takes back)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if isinstance(value, Config):
                out.update({f"{f.name}.{k}": v for k, v in value.as_flat_dict().items()})
            else:
                out[f.name] = value
        return out

    @classmethod
    def names(cls) -> list[str]:
        """Every settable name, nested fields dotted."""
        return [name for name, *_ in cls.describe()]

    @classmethod
    def describe(cls) -> list[tuple[str, str, Any, str]]:
        """(name, type, default, help) for every field; a nested config's fields as ``field.name``."""
        hints = typing.get_type_hints(cls)
        out = []
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            hint, default = hints[f.name], _default(f)
            sub = _config_type(hint)
            if sub is not None:
                nested = default if isinstance(default, Config) else None
                for name, type_name, sub_default, help_text in sub.describe():
                    if nested is not None:
                        sub_default = _lookup(nested, name)
                    out.append((f"{f.name}.{name}", type_name, sub_default, help_text))
            else:
                out.append((f.name, getattr(hint, "__name__", str(hint)), default, f.metadata.get("help", "")))
        return out


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def _lookup(config: Config, dotted: str) -> Any:
    for part in dotted.split("."):
        config = getattr(config, part)
    return config


def _config_type(hint: Any) -> type[Config] | None:
    """The Config subclass ``hint`` names (a nested config), else None."""
    return hint if isinstance(hint, type) and issubclass(hint, Config) else None


def _choices(metadata: typing.Mapping[str, Any], hint: Any) -> tuple[Any, ...] | None:
    if "choices" in metadata:
        return tuple(metadata["choices"])
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        hint = inner[0] if len(inner) == 1 else hint
    if typing.get_origin(hint) is typing.Literal:
        return typing.get_args(hint)
    return None


def _field_problems(name: str, value: Any, metadata: typing.Mapping[str, Any], hint: Any) -> list[str]:
    """The broken constraints of one value (a no-op value or a non-finite float hides the others)."""
    noop = metadata.get("noop", NOOP_VALUES.get(name.rpartition(".")[2]))
    if noop is not None and not isinstance(value, bool) and value == noop:
        return [f"{name}={value!r} makes the method a no-op: it would train nothing and hand back its starting "
                "model as if unlearned"]
    if isinstance(value, float) and not math.isfinite(value):
        return [f"{name} must be finite, got {value}"]
    choices = _choices(metadata, hint)
    if choices is not None and value not in choices and not (value is None and _optional(hint)):
        return [f"{name} must be one of {list(choices)}, got {value!r}"]
    bounds = {k: metadata[k] for k in ("gt", "ge", "lt", "le") if k in metadata}
    if not bounds or value is None:
        return []
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        return [f"{name} must be a number, got {value!r}"]
    ok = all({"gt": value > b, "ge": value >= b, "lt": value < b, "le": value <= b}[k] for k, b in bounds.items())
    return [] if ok else [f"{name} must be {_bounds_text(bounds)}, got {value}"]


def _bounds_text(bounds: dict[str, float]) -> str:
    lower = [(k, b) for k, b in bounds.items() if k in ("gt", "ge")]
    upper = [(k, b) for k, b in bounds.items() if k in ("lt", "le")]
    if len(lower) == 1 and len(upper) == 1:
        (lk, lb), (uk, ub) = lower[0], upper[0]
        return f"in {'(' if lk == 'gt' else '['}{lb}, {ub}{')' if uk == 'lt' else ']'}"
    ops = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}
    return " and ".join(f"{ops[k]} {b}" for k, b in bounds.items())


def _optional(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in typing.get_args(hint)


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
class MethodConfig(Config):
    """Base of every method config (a :class:`Config` with no fields of its own)."""


#: the learning-rate schedules of the shared training loop (:meth:`OptimConfig.build`)
Schedule = typing.Literal["constant", "cosine", "multistep", "linear"]
_SCHEDULE_HELP = ("learning-rate schedule (multistep: x0.1 at 50% and 75% of the steps, the paper code's 91/136 of "
                  "182 epochs; linear: warm-up from 0 to lr over warmup_epochs / warmup_steps, then linear decay to 0, "
                  "as Hugging Face's get_linear_schedule_with_warmup)")


@dataclass(kw_only=True)
class WarmupConfig(Config):
    """The linear schedule's warm-up, declared once for every config that has it (:class:`OptimConfig`, and
    training configs that mix it in). Keyword-only, so it never shifts the positional fields of a config."""

    warmup_epochs: float = param(0.0, "linear schedule: warm-up length in epochs (TOFU: 1); exclusive with "
                                 "warmup_steps", ge=0)
    warmup_steps: int = param(0, "linear schedule: warm-up length in optimiser steps; exclusive with warmup_epochs",
                              ge=0)

    def check(self) -> list[str]:
        problems = []
        if self.warmup_epochs and self.warmup_steps:
            problems.append(f"give warmup_epochs or warmup_steps, not both (got {self.warmup_epochs} and "
                            f"{self.warmup_steps})")
        schedule = getattr(self, "schedule", "linear")
        if (self.warmup_epochs or self.warmup_steps) and schedule != "linear":
            problems.append(f"a warm-up needs schedule='linear', got schedule={schedule!r}")
        return problems

    def warmup(self) -> dict[str, Any]:
        """The warm-up fields, to pass on to an :class:`OptimConfig`."""
        return {"warmup_epochs": self.warmup_epochs, "warmup_steps": self.warmup_steps}

    def warmup_total(self, steps_per_epoch: int | None) -> int:
        """Warm-up length in optimiser steps: ``warmup_steps``, or ``warmup_epochs`` x ``steps_per_epoch``
        (at least 1 when a warm-up is asked for: the TOFU authors' ``max(1, max_steps // num_epochs)``)."""
        if not self.warmup_epochs:
            return self.warmup_steps
        if steps_per_epoch is None:
            raise ConfigError("warmup_epochs needs the number of steps per epoch (give warmup_steps instead)")
        return max(1, round(self.warmup_epochs * steps_per_epoch))


def linear_with_warmup(warmup: int, total: int) -> typing.Callable[[int], float]:
    """The lr factor after ``step`` optimiser steps: ``step / warmup`` during the warm-up, then a linear decay
    to 0 at ``total`` steps (Hugging Face's get_linear_schedule_with_warmup: the first step runs at lr 0 when
    there is a warm-up)."""

    def factor(step: int) -> float:
        if step < warmup:
            return step / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    return factor


@dataclass
class OptimConfig(WarmupConfig):
    """Optimiser and schedule. Defaults follow the unlearning papers' SGD recipe."""

    optimizer: typing.Literal["sgd", "adam", "adamw"] = param("sgd", "optimiser (adamw: decoupled weight decay)")
    lr: float = param(0.01, "learning rate", gt=0)
    momentum: float = param(0.9, "SGD momentum", ge=0, lt=1)
    weight_decay: float = param(5e-4, "weight decay", ge=0)
    schedule: Schedule = param("constant", _SCHEDULE_HELP)

    def build(self, params, total_steps: int, steps_per_epoch: int | None = None) -> tuple[Any, Any]:
        """(optimizer, scheduler) over the trainable ``params``; ``steps_per_epoch`` turns ``warmup_epochs``
        into steps."""
        import torch

        self.validate()
        params = [p for p in params if p.requires_grad]
        if self.optimizer == "sgd":
            opt: torch.optim.Optimizer = torch.optim.SGD(
                params, lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay
            )
        elif self.optimizer == "adamw":
            opt = torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)
        else:
            opt = torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)
        if self.schedule == "cosine":
            sched: torch.optim.lr_scheduler.LRScheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
                opt, T_max=max(total_steps, 1)
            )
        elif self.schedule == "multistep":  # Model Sparsity / SalUn main_train.py: MultiStepLR([91, 136], 0.1) of 182
            milestones = [int(total_steps * 0.5), int(total_steps * 0.75)]
            sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=milestones, gamma=0.1)
        elif self.schedule == "linear":  # TOFU finetune.py: HF Trainer's default, warm-up max(1, steps // epochs)
            sched = torch.optim.lr_scheduler.LambdaLR(
                opt, linear_with_warmup(self.warmup_total(steps_per_epoch), max(total_steps, 1)))
        else:
            sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
        return opt, sched


@dataclass
class TrainingConfig(MethodConfig):
    """The optimiser fields every config that runs the training loop shares, declared once here: a
    subclass re-declares only the defaults (and help) it changes."""

    epochs: int = param(10, "passes over the method's main data stream", ge=0)
    lr: float = param(0.01, "learning rate", gt=0)
    batch_size: int = param(256, "mini-batch size", gt=0)
    optimizer: typing.Literal["sgd", "adam", "adamw"] = param("sgd", "optimiser (adamw: decoupled weight decay)")
    momentum: float = param(0.9, "SGD momentum", ge=0, lt=1)
    weight_decay: float = param(5e-4, "weight decay", ge=0)
    schedule: Schedule = param("constant", _SCHEDULE_HELP)

    def optim(self) -> OptimConfig:
        """The optimiser config (with the warm-up of a config that mixes in :class:`WarmupConfig`)."""
        warmup = self.warmup() if isinstance(self, WarmupConfig) else {}
        return OptimConfig(self.optimizer, self.lr, self.momentum, self.weight_decay, self.schedule, **warmup)


@dataclass
class ClippedTrainingConfig(TrainingConfig):
    """:class:`TrainingConfig` with gradient-norm clipping (``training.hooks.clip_grad_hook``)."""

    max_grad_norm: float = param(1.0, "clip the gradient norm to this value (0 = no clipping)", ge=0)


__all__ = ["CONSTRAINTS", "ClippedTrainingConfig", "Config", "MethodConfig", "NOOP_VALUES", "OptimConfig", "Schedule",
           "TrainingConfig", "WarmupConfig", "linear_with_warmup", "param"]
