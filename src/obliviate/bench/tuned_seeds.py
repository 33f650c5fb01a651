"""Held-out seeds: a bench does not report on a seed that a recipe it uses was tuned on.

``obliviate tune`` writes each tuned value's provenance with the validation seeds it was chosen on
(:func:`seeds_text`, e.g. ``"tuned: study ..., validation seeds [100, 101], ..."``); this module reads them
back (:func:`tuned_seeds`) from any family's recipe record, the ``resolved()["recipe"]`` of a bench
(``{"path", "provenance": {key: source}}``). A provenance key ``methods.X`` / ``methods.X.P`` concerns the
rows of method X; any other key (``train.*``: the original and the reference) concerns every row.

- :func:`check_tuned_seeds`: a :class:`ConfigError` naming the recipe, the overlapping seeds and the way out,
  before anything is written (``obliviate bench`` calls it through :func:`obliviate.bench.run.run_suite`);
- :func:`mark_tuned_rows`: with ``--allow-tuned-seeds``, the rows on such seeds get ``tuned_on_seed: true``
  and the report marks them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import ConfigError

__all__ = ["ALLOW_FLAG", "ROW_FIELD", "Overlap", "check_tuned_seeds", "mark_tuned_rows", "overlaps", "seeds_text",
           "tuned_seeds"]

#: the row field of a row on a seed its method's (or its training's) recipe values were tuned on
ROW_FIELD = "tuned_on_seed"
#: the command-line way out of the refusal
ALLOW_FLAG = "--allow-tuned-seeds"
_LABEL = "validation seeds"
_SEEDS = re.compile(re.escape(_LABEL) + r" \[([0-9, ]*)\]")
#: a provenance key that concerns one method's rows: methods.NAME or methods.NAME.PARAM
_METHOD_KEY = re.compile(r"methods\.([^.]+)(?:\..+)?$")


class _Bench(Protocol):
    def resolved(self) -> dict[str, Any]: ...


def seeds_text(seeds: Iterable[int]) -> str:
    """How a provenance names its validation seeds: ``validation seeds [100, 101]``."""
    return f"{_LABEL} {list(seeds)}"


def tuned_seeds(source: str) -> set[int]:
    """The validation seeds a provenance source names (:func:`seeds_text`); empty for a value not tuned."""
    return {int(s) for m in _SEEDS.finditer(source) for s in m.group(1).split(",") if s.strip()}


@dataclass(frozen=True)
class Overlap:
    """Seeds of a bench that a recipe's values were tuned on, per method (``"*"``: every row)."""

    recipe: str
    #: method name (or "*") -> the bench's seeds its recipe values were tuned on
    seeds: dict[str, list[int]]
    #: method name (or "*") -> the provenance keys tuned on them
    keys: dict[str, list[str]]

    def seeds_of(self, method: str) -> set[int]:
        return set(self.seeds.get(method, [])) | set(self.seeds.get("*", []))

    def describe(self) -> str:
        return "; ".join(f"{'every row' if m == '*' else m} (tuned on seeds {s}: {', '.join(self.keys[m])})"
                         for m, s in self.seeds.items())


def _methods(resolved: Mapping[str, Any]) -> set[str] | None:
    """The bench's method names, or None when its configuration does not list them."""
    methods = resolved.get("methods")
    if isinstance(methods, Mapping):
        return {str(m) for m in methods}
    if isinstance(methods, (list, tuple)):
        return {str(m) for m in methods}
    return None


def overlaps(bench: _Bench) -> Overlap | None:
    """Where ``bench``'s seeds meet the validation seeds of its recipe's tuned values (None: nowhere)."""
    resolved = bench.resolved()
    record = resolved.get("recipe")
    if not isinstance(record, Mapping):
        return None
    provenance = record.get("provenance") or {}
    bench_seeds = {int(s) for s in resolved.get("seeds") or []}
    methods = _methods(resolved)
    seeds: dict[str, set[int]] = {}
    keys: dict[str, list[str]] = {}
    for key, source in provenance.items():
        hit = bench_seeds & tuned_seeds(str(source))
        if not hit:
            continue
        match = _METHOD_KEY.match(str(key))
        who = match.group(1) if match else "*"
        if who != "*" and methods is not None and who not in methods:
            continue  # a method this bench does not run
        seeds.setdefault(who, set()).update(hit)
        keys.setdefault(who, []).append(str(key))
    if not seeds:
        return None
    return Overlap(recipe=str(record.get("path", "?")), seeds={m: sorted(s) for m, s in seeds.items()}, keys=keys)


def check_tuned_seeds(benches: Iterable[_Bench], allow: bool = False) -> None:
    """Refuse (:class:`ConfigError`) a bench whose seeds include a seed its recipe was tuned on, unless ``allow``."""
    if allow:
        return
    for bench in benches:
        found = overlaps(bench)
        if found is None:
            continue
        every = sorted({s for v in found.seeds.values() for s in v})
        raise ConfigError(
            f"recipe {found.recipe} was tuned on seeds {every} that this bench reports: {found.describe()}. "
            "Numbers on those seeds would be partly tuned on themselves. Report on held-out seeds instead "
            f"(e.g. --seeds 10,11,12), or pass {ALLOW_FLAG} to run them anyway with those rows marked "
            f"{ROW_FIELD} in results.json and the report")


def mark_tuned_rows(bench: _Bench, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` of ``bench``, those on a seed their method's (or training's) recipe values were tuned on
    marked ``tuned_on_seed: true`` (in place; returned)."""
    found = overlaps(bench)
    if found is None:
        return rows
    for row in rows:
        method = row.get("method")
        name = str(method.get("name")) if isinstance(method, Mapping) else str(method)
        if row.get("seed") in found.seeds_of(name):
            row[ROW_FIELD] = True
    return rows
