"""Progress bars that a single global switch (``--quiet``) silences."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")
_quiet = False


def set_quiet(quiet: bool) -> None:
    global _quiet
    _quiet = quiet


def is_quiet() -> bool:
    return _quiet


def progress(iterable: Iterable[T] | None = None, *, always: bool = False, **kwargs: Any) -> tqdm:
    """A tqdm bar, disabled when quiet.

    Off a terminal (logs, CI) inner bars stay silent and only ``always=True`` bars (the bench's
    overall bar) print, at most one line every 30 seconds.
    """
    kwargs.setdefault("leave", False)
    kwargs.setdefault("dynamic_ncols", True)
    disable = kwargs.pop("disable", False) or _quiet
    if not sys.stderr.isatty():
        disable = disable or not always
        kwargs.setdefault("mininterval", 30.0)
    return tqdm(iterable, disable=disable, **kwargs)


def note(text: str) -> None:
    """A one-line status message on stderr (``obliviate: text``), above any bar; silent when quiet."""
    if not _quiet:
        tqdm.write(f"obliviate: {text}", file=sys.stderr)
