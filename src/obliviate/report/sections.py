"""What a family adds to the report, registered by the family itself (``register_section``).

The generic report never names a family: for each group it asks :func:`sections_for` for the sections
of its family's adapters (``Family.report_section``; an unknown family has none and gets only the
generic tables and plots), and after the series it asks every section for whole-results cards.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Plot", "PlotMaker", "Section", "all_sections", "sections_for"]

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


def sections_for(family: str) -> list[Section]:
    """The report sections of the adapters of ``family`` (none for an unknown family)."""
    from ..families import load_all

    found = [a.report_section for a in load_all().values() if a.family == family and a.report_section is not None]
    return list(dict.fromkeys(found))


def all_sections() -> list[Section]:
    """Every adapter's report section, families in registration order."""
    from ..families import load_all

    return list(dict.fromkeys(a.report_section for a in load_all().values() if a.report_section is not None))
