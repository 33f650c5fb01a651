"""Family adapters: one object per benchmark kind (``obliviate bench <name>``) that knows its command-line
options, how to build and run its benches, its part of the quick default suite, and what it lists for
``obliviate ls``. The CLI, the bench driver and the quick suite iterate over the registered adapters; none
of them names a family.

A benchmark kind belongs to a model family (``Family.family``): the family of its result rows, its
methods (``methods/<family>/``) and its metrics. RESTOR is a benchmark of the lm family.

Adding a family: a folder with its bench, its adapter (a :class:`Family` subclass registered with
:func:`register_family`) and its report section, plus one line in :data:`BUILTIN` (or, for a plugin, an
import of the adapter's module before the CLI runs). See docs/extending.md.
"""

from __future__ import annotations

import argparse
import importlib
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from .registry import Registry

if TYPE_CHECKING:
    from .bench.options import BenchOptions

#: Benchmark kind -> the module that registers its adapter (importing it registers it).
BUILTIN: dict[str, str] = {
    "classifier": "obliviate.classifier.family",
    "lm": "obliviate.lm.family",
    "restor": "obliviate.lm.restor_family",
    "clip": "obliviate.clip.family",
    "tofu": "obliviate.lm.benchmarks_family",
    "muse": "obliviate.lm.benchmarks_family",
    "wmdp": "obliviate.lm.benchmarks_family",
}


class Bench(Protocol):
    """What the bench driver needs from a bench of any family."""

    cache_dir: str | None

    def validate(self) -> None:
        """Raise an :class:`~obliviate.errors.ObliviateError` on any bad name, spec or parameter, before any training."""

    def resolved(self) -> dict[str, Any]:
        """Everything that determines the results (recorded in config.json and results.json)."""

    def inputs(self) -> list[Path]:
        """Files and folders the bench reads besides its model cache, which its output must not overlap
        (data folders, model directories, forget files)."""

    def run(self, out_dir: Path) -> list[dict[str, Any]]:
        """Run (or resume) the bench into ``out_dir``; the result rows in order."""

    def row_count(self) -> int:
        """How many rows :meth:`run` emits (the suite's progress bar counts them all from the start)."""


class Family(ABC):
    """The adapter of one benchmark kind."""

    #: the bench command's name (``obliviate bench <name>``)
    name: ClassVar[str]
    #: the model family of its rows, methods and metrics
    family: ClassVar[str]
    #: one line for ``obliviate bench --help``
    help: ClassVar[str]
    description: ClassVar[str] = ""
    #: the default of --methods, as its help shows it
    methods_help: ClassVar[str] = ""
    #: its part of the report (an :class:`obliviate.report.sections.Section`: plots per group, extra html, cards)
    report_section: ClassVar[Any] = None
    #: what --train overrides
    train_help: ClassVar[str] = "override the original-training / retrain recipe (NAME=VALUE), repeatable"

    @abstractmethod
    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Add this bench's own options (the driver adds --methods, --seeds, --param, --out, ...)."""

    @abstractmethod
    def benches(self, args: argparse.Namespace, options: "BenchOptions") -> list[Bench]:
        """The benches the parsed command line asks for (``options``: the options every bench has)."""

    def quick_benches(self, cache_dir: str | None, seeds: int) -> list[Bench]:
        """This family's part of the quick default suite (``obliviate bench`` with no family)."""
        return []

    def datasets(self) -> list[tuple[str, str]]:
        """(name, one-line description) of what ``obliviate ls datasets`` lists for this family."""
        return []

    def models(self) -> list[tuple[str, str]]:
        """(name, one-line description) of what ``obliviate ls models`` lists for this family."""
        return []


FAMILIES: Registry[Family] = Registry("bench family")
_loaded = False


def register_family(adapter: Family) -> Family:
    """Register ``adapter`` under its ``name`` (``obliviate bench <name>``)."""
    return FAMILIES.register(adapter.name, adapter)


def load_all() -> Registry[Family]:
    """Import every built-in adapter module once; the registry of all adapters."""
    global _loaded
    if not _loaded:
        _loaded = True
        for module in BUILTIN.values():
            importlib.import_module(module)
    return FAMILIES


def first_line(obj: object) -> str:
    """The first line of ``obj``'s docstring (what ``obliviate ls`` shows)."""
    return (obj.__doc__ or "").strip().splitlines()[0] if obj.__doc__ else ""


def get_family(name: str) -> Family:
    return load_all().get(name)


def model_families() -> list[str]:
    """The model families of the registered benchmark kinds (classifier, lm, clip, ...), in registration order."""
    return list(dict.fromkeys(adapter.family for adapter in load_all().values()))
