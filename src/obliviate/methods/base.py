"""The method contract and registry.

A method is one class with a typed config dataclass whose defaults come from its paper. It turns
(model, :class:`~obliviate.tasks.UnlearnData`) into an unlearned model; it never sees the test set
or the retrained model, and declares whether it needs labels. Configs live in :mod:`obliviate.config`;
``param``, ``MethodConfig`` and ``TrainingConfig`` are re-exported here for the method modules.
"""

from __future__ import annotations

import difflib
from abc import ABC, abstractmethod
from typing import Any, ClassVar
from collections.abc import Iterator

from torch import nn

from ..config import MethodConfig, TrainingConfig, param
from ..errors import ConfigError, UnknownNameError
from ..tasks import UnlearnData

__all__ = ["METHODS", "Method", "MethodConfig", "MethodFamilyError", "MethodRegistry", "TrainingConfig",
           "get_method", "param", "register_method", "resolve_method"]


class MethodFamilyError(UnknownNameError, ConfigError):
    """A method of another family than the model or bench it is asked to run on."""


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


class MethodRegistry:
    """Methods keyed by (family, name): names are unique within a family, so the lm family's
    ``grad_ascent`` and the classifier's need no prefix. A method is named ``family/name`` or, where that
    is unambiguous (or the family is known from the bench or the model), by its short name."""

    def __init__(self) -> None:
        self._items: dict[tuple[str, str], type[Method]] = {}
        #: named variants (as MUSE's tables name them): (family, name) -> (base name, fixed params)
        self._variants: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}

    def register(self, cls: type[Method]) -> type[Method]:
        key = (cls.family, cls.name)
        if key in self._items:
            raise ValueError(f"method {cls.family}/{cls.name} is already registered")
        self._items[key] = cls
        return cls

    def register_variant(self, family: str, name: str, base: str, fixed: dict[str, Any]) -> None:
        """``name`` runs the ``family`` method ``base`` with ``fixed`` params (e.g. lm ``npo_gdr``)."""
        key = (family, name)
        if key in self._items or key in self._variants:
            raise ValueError(f"method {family}/{name} is already registered")
        self._variants[key] = (base, dict(fixed))

    def variants(self, family: str) -> list[str]:
        return sorted(n for f, n in self._variants if f == family)

    def resolve(self, name: str, family: str | None = None) -> tuple[type[Method], dict[str, Any]]:
        """(class, params fixed by the name): a variant's base method and its fixed params, else ``({}``)."""
        cls = self.get(name, family)
        short = name.rpartition("/")[2]
        base, fixed = self._variants.get((cls.family, short), (short, {}))
        return cls, dict(fixed)

    def names(self, family: str | None = None) -> list[str]:
        """Qualified names ``family/name``, grouped by family (of ``family`` only, when given)."""
        return [f"{f}/{n}" for f, n in sorted(self._items) if family is None or f == family]

    def short_names(self, family: str) -> list[str]:
        return [n for f, n in sorted(self._items) if f == family]

    def families(self) -> list[str]:
        return sorted({f for f, _ in self._items})

    def classes(self, family: str | None = None) -> list[type[Method]]:
        return [self._items[k] for k in sorted(self._items) if family is None or k[0] == family]

    def get(self, name: str, family: str | None = None) -> type[Method]:
        """The method ``name`` (``family/name`` or a short name) of ``family`` (any family when None)."""
        asked = name
        qualifier, slash, short = name.rpartition("/")
        if slash:
            if family is not None and qualifier != family:
                return self._wrong_family(asked, qualifier, family)
            family, name = qualifier, short
        if (family, name) in self._variants:
            return self._items[(family, self._variants[(family, name)][0])]
        if family is not None:
            if (family, name) in self._items:
                return self._items[(family, name)]
            others = [f for f, n in [*self._items, *self._variants] if n == name]
            if others:
                return self._wrong_family(asked, others[0], family)
            if family not in self.families():
                raise UnknownNameError(f"unknown method family {family!r} in {asked!r}; known: "
                                       f"{', '.join(self.families())}")
            return self._unknown(name, self.short_names(family), f"{family} method")
        found = [f for f, n in [*self._items, *self._variants] if n == name]
        if len(found) == 1:
            return self.get(name, found[0])
        if found:
            options = ", ".join(f"{f}/{name}" for f in found)
            raise UnknownNameError(f"method {name!r} is ambiguous: it names {options}; say which one "
                                   "(family/name) or run it on a bench of its family")
        return self._unknown(name, sorted({n for _, n in self._items}), "method")

    def _unknown(self, name: str, known: list[str], kind: str) -> type[Method]:
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise UnknownNameError(f"unknown {kind} {name!r}.{hint} Known: {', '.join(known)}.")

    def _wrong_family(self, asked: str, actual: str, family: str) -> type[Method]:
        own = ", ".join(self.short_names(family))
        raise MethodFamilyError(f"method {asked!r} belongs to the {actual} family, not {family}: it cannot run "
                                f"on a {family} model; {family} methods: {own}")

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        try:
            self.get(name)
        except UnknownNameError:
            return False
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)


METHODS = MethodRegistry()


def register_method(cls: type[Method]) -> type[Method]:
    """Class decorator adding a method to the registry under ``(cls.family, cls.name)``."""
    return METHODS.register(cls)


def resolve_method(name: str, family: str | None = None) -> tuple[type[Method], dict[str, Any]]:
    """(class, params fixed by the name) of ``name``: a named variant (lm ``npo_gdr``) gives its base
    method and the params it fixes; any other method gives ``(class, {})``."""
    from .builtin import load_all

    load_all()
    return METHODS.resolve(name, family)


def get_method(name: str, family: str | None = None) -> type[Method]:
    """The method registered as ``name`` (``family/name``, or a short name: within ``family`` when given,
    else the one family that has it). A method of another family than ``family`` raises
    :class:`MethodFamilyError` (a :class:`ConfigError` and an :class:`UnknownNameError`) naming both."""
    from .builtin import load_all

    load_all()
    return METHODS.get(name, family)
