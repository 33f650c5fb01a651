"""What a family adds to the report, registered by the family itself (``register_section``).

The generic report never names a family: for each group it asks :func:`sections_for` its family's
sections (an unknown family has none and gets only the generic tables and plots), and after the
series it asks every registered section for whole-results cards. The families' report modules
register on import; :func:`sections_for` imports them through :func:`obliviate.families.load_all`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Plot", "PlotMaker", "Section", "all_sections", "register_section", "sections_for"]

#: (a group's summary entries, method colours, group title, target PNG) -> whether it drew anything
PlotMaker = Callable[[Sequence[dict], Mapping[str, str], str, Path], bool]


@dataclass(frozen=True)
class Plot:
    """A per-group plot, saved as ``<group stem>-<suffix>.png``."""

    suffix: str
    draw: PlotMaker
    alt: str


@dataclass(frozen=True)
class Section:
    """A family's additions: ``plots`` drawn for each of its groups (before the generic ones),
    ``html(entries)`` inserted in each group's card after the main table, and ``cards(results,
    plots_dir)``: whole-results cards placed after the series sections."""

    plots: tuple[Plot, ...] = ()
    html: Callable[[Sequence[dict]], str] | None = None
    cards: Callable[[Mapping[str, Any], Path], list[str]] | None = None


_SECTIONS: dict[str, list[Section]] = {}


def register_section(family: str, section: Section) -> Section:
    """Add ``section`` to ``family``'s (in order; registering the same object twice is a no-op)."""
    sections = _SECTIONS.setdefault(family, [])
    if section not in sections:
        sections.append(section)
    return section


def _load() -> None:
    from ..families import load_all

    load_all()


def sections_for(family: str) -> list[Section]:
    """The sections registered for ``family`` (none for an unknown family)."""
    _load()
    return list(_SECTIONS.get(family, ()))


def all_sections() -> list[Section]:
    """Every registered section, families in registration order."""
    _load()
    return [s for sections in list(_SECTIONS.values()) for s in sections]
