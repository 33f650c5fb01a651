"""Held-out tasks: a bench does not report on a seed (or a forgotten class) that a recipe it uses was tuned on.

``obliviate tune`` writes each tuned value's provenance with the validation seeds and forget specs it was
chosen on (:func:`seeds_text`: ``"tuned: study ..., validation seeds [100, 101], forget [class:1, class:7],
..."``); this module reads them back from any family's recipe record, the ``resolved()["recipe"]`` of a
bench (``{"path", "provenance": {key: source}}``). A provenance key ``methods.X`` / ``methods.X.P`` concerns
the rows of method X; any other key (``train.*``: the original and the reference) concerns every row.

A seed draws the model and a random forget set, so other seeds are other tasks. A class-wise forget set
(``class:K``) is the same on every seed: a value tuned on forgetting class K is also tuned on any report
forgetting class K, so the validation classes count as well.

- :func:`check_tuned_seeds`: a :class:`ConfigError` naming the recipe, the overlapping seeds or classes and
  the way out, before anything is written (``obliviate bench`` calls it through
  :func:`obliviate.bench.run.run_suite`);
- :func:`mark_tuned_rows`: with ``--allow-tuned-seeds``, such rows get ``tuned_on_seed: true`` (and
  ``tuned_on_class: true`` for a shared forgotten class) and the report marks them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import ConfigError

__all__ = ["ALLOW_FLAG", "CLASS_FIELD", "ROW_FIELD", "Overlap", "check_tuned_seeds", "forget_classes", "forget_text",
           "mark_tuned_rows", "overlaps", "seeds_text", "tuned_classes", "tuned_seeds"]

#: the row field of a row on a seed its method's (or its training's) recipe values were tuned on
ROW_FIELD = "tuned_on_seed"
#: the row field of a row forgetting a class its method's recipe values were tuned on forgetting
CLASS_FIELD = "tuned_on_class"
#: the command-line way out of the refusal
ALLOW_FLAG = "--allow-tuned-seeds"
_LABEL = "validation seeds"
_SEEDS = re.compile(re.escape(_LABEL) + r" \[([0-9, ]*)\]")
_FORGET = re.compile(r"\bforget \[([^\]]*)\]")
#: a provenance key that concerns one method's rows: methods.NAME or methods.NAME.PARAM
_METHOD_KEY = re.compile(r"methods\.([^.]+)(?:\..+)?$")


class _Bench(Protocol):
    def resolved(self) -> dict[str, Any]: ...


def seeds_text(seeds: Iterable[int]) -> str:
    """How a provenance names its validation seeds: ``validation seeds [100, 101]``."""
    return f"{_LABEL} {list(seeds)}"


def forget_text(specs: Iterable[str]) -> str:
    """How a provenance names its validation forget specs: ``forget [class:1, class:7]``."""
    return f"forget [{', '.join(specs)}]"


def tuned_seeds(source: str) -> set[int]:
    """The validation seeds a provenance source names (:func:`seeds_text`); empty for a value not tuned."""
    return {int(s) for m in _SEEDS.finditer(source) for s in m.group(1).split(",") if s.strip()}


def forget_classes(spec: str) -> set[int]:
    """The classes a class-wise forget spec (``class:3`` or ``class:3,5``) forgets; empty for any other spec."""
    kind, sep, rest = str(spec).strip().partition(":")
    if kind != "class" or not sep:
        return set()
    try:
        return {int(c) for c in rest.split(",") if c.strip()}
    except ValueError:
        return set()


def tuned_classes(source: str) -> set[int]:
    """The classes of the class-wise validation forget specs a provenance source names (:func:`forget_text`)."""
    return {c for m in _FORGET.finditer(source) for spec in m.group(1).split(", ") for c in forget_classes(spec)}


@dataclass(frozen=True)
class Overlap:
    """Seeds and forgotten classes of a bench that a recipe's values were tuned on, per method (``"*"``:
    every row)."""

    recipe: str
    #: method name (or "*") -> the bench's seeds its recipe values were tuned on
    seeds: dict[str, list[int]]
    #: method name (or "*") -> the bench's forgotten classes its recipe values were tuned on forgetting
    classes: dict[str, list[int]]
    #: method name (or "*") -> the provenance keys tuned on them
    keys: dict[str, list[str]]

    def seeds_of(self, method: str) -> set[int]:
        return set(self.seeds.get(method, [])) | set(self.seeds.get("*", []))

    def classes_of(self, method: str) -> set[int]:
        return set(self.classes.get(method, [])) | set(self.classes.get("*", []))

    def describe(self) -> str:
        parts = []
        for m, keys in self.keys.items():
            what = ([f"seeds {self.seeds[m]}"] if self.seeds.get(m) else []) + (
                [f"forgetting classes {self.classes[m]}"] if self.classes.get(m) else [])
            parts.append(f"{'every row' if m == '*' else m} (tuned on {' and '.join(what)}: {', '.join(keys)})")
        return "; ".join(parts)


def _methods(resolved: Mapping[str, Any]) -> set[str] | None:
    """The bench's method names, or None when its configuration does not list them."""
    methods = resolved.get("methods")
    if isinstance(methods, Mapping):
        return {str(m) for m in methods}
    if isinstance(methods, (list, tuple)):
        return {str(m) for m in methods}
    return None


def overlaps(bench: _Bench) -> Overlap | None:
    """Where ``bench``'s seeds and class-wise forget sets meet those its recipe's tuned values were chosen on
    (None: nowhere)."""
    resolved = bench.resolved()
    record = resolved.get("recipe")
    if not isinstance(record, Mapping):
        return None
    provenance = record.get("provenance") or {}
    bench_seeds = {int(s) for s in resolved.get("seeds") or []}
    bench_classes = {c for spec in resolved.get("forget") or [] for c in forget_classes(str(spec))}
    methods = _methods(resolved)
    seeds: dict[str, set[int]] = {}
    classes: dict[str, set[int]] = {}
    keys: dict[str, list[str]] = {}
    for key, source in provenance.items():
        seed_hit, class_hit = bench_seeds & tuned_seeds(str(source)), bench_classes & tuned_classes(str(source))
        if not seed_hit and not class_hit:
            continue
        match = _METHOD_KEY.match(str(key))
        who = match.group(1) if match else "*"
        if who != "*" and methods is not None and who not in methods:
            continue  # a method this bench does not run
        seeds.setdefault(who, set()).update(seed_hit)
        classes.setdefault(who, set()).update(class_hit)
        keys.setdefault(who, []).append(str(key))
    if not keys:
        return None
    return Overlap(recipe=str(record.get("path", "?")), seeds={m: sorted(s) for m, s in seeds.items()},
                   classes={m: sorted(c) for m, c in classes.items()}, keys=keys)


def check_tuned_seeds(benches: Iterable[_Bench], allow: bool = False) -> None:
    """Refuse (:class:`ConfigError`) a bench that reports a seed or forgets a class its recipe was tuned on,
    unless ``allow``."""
    if allow:
        return
    for bench in benches:
        found = overlaps(bench)
        if found is None:
            continue
        every = sorted({s for v in found.seeds.values() for s in v})
        classes = sorted({c for v in found.classes.values() for c in v})
        what = " and ".join(([f"seeds {every}"] if every else [])
                            + ([f"forgetting classes {classes}"] if classes else []))
        raise ConfigError(
            f"recipe {found.recipe} was tuned on {what} that this bench reports: {found.describe()}. "
            "Numbers on those tasks would be partly tuned on themselves. Report on held-out seeds "
            f"(e.g. --seeds 10,11,12){' and other classes' if classes else ''} instead, or pass {ALLOW_FLAG} to run "
            f"them anyway with those rows marked {ROW_FIELD}{f' / {CLASS_FIELD}' if classes else ''} in results.json "
            "and the report")


def mark_tuned_rows(bench: _Bench, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` of ``bench``, those on a seed (or forgetting a class) their method's or training's recipe
    values were tuned on marked ``tuned_on_seed: true`` (``tuned_on_class: true``), in place; returned."""
    found = overlaps(bench)
    if found is None:
        return rows
    for row in rows:
        method = row.get("method")
        name = str(method.get("name")) if isinstance(method, Mapping) else str(method)
        if row.get("seed") in found.seeds_of(name):
            row[ROW_FIELD] = True
        task = row.get("task") if isinstance(row.get("task"), Mapping) else {}
        if forget_classes(str(task.get("forget_spec", ""))) & found.classes_of(name):
            row[CLASS_FIELD] = True
    return rows
