"""Warnings on the console: each kind once, with a count, instead of one line per occurrence.

A command can emit the same warning hundreds of times (a truncation note per evaluated batch of texts)
and libraries emit deprecation notices the user cannot act on. Inside :func:`grouped_warnings` every
warning is logged (``obliviate.warnings``: bench.log when a bench runs); at the end each kind of
warning is printed once to stderr with how often it occurred, except library deprecation notices
(``FutureWarning`` / ``DeprecationWarning`` raised outside obliviate), which stay in the log. Python's
own ``-W`` / ``PYTHONWARNINGS`` settings turn this off: then warnings print as Python prints them.
Errors are never affected.
"""

from __future__ import annotations

import logging
import re
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("obliviate.warnings")


@dataclass
class _Kind:
    first: str
    count: int = 0


def _key(category: type[Warning], message: str) -> tuple[str, str]:
    """Warnings that differ only in their numbers are one kind."""
    return category.__name__, re.sub(r"\d+(\.\d+)?", "#", message)


_PACKAGE = Path(__file__).resolve().parents[1]  # src/obliviate


def _is_library_notice(category: type[Warning], filename: str) -> bool:
    """A deprecation notice raised in another package's code."""
    if not issubclass(category, (FutureWarning, DeprecationWarning)):
        return False
    try:
        Path(filename).resolve().relative_to(_PACKAGE)
    except (ValueError, OSError):
        return True
    return False


@contextmanager
def grouped_warnings(stream=None) -> Iterator[None]:
    """Collect the warnings of a block; print each kind once, with a count, when it ends (see the module)."""
    if sys.warnoptions:  # the user chose how warnings show
        yield
        return
    kinds: dict[tuple[str, str], _Kind] = {}

    def collect(message, category, filename, lineno, file=None, line=None) -> None:
        text = str(message)
        log.info("%s: %s (%s:%s)", category.__name__, text, filename, lineno)
        if _is_library_notice(category, filename):
            return
        kinds.setdefault(_key(category, text), _Kind(f"{category.__name__}: {text}")).count += 1

    with warnings.catch_warnings():
        warnings.filterwarnings("always", category=UserWarning, module=r"obliviate(\.|$)")  # count every occurrence
        warnings.showwarning = collect
        try:
            yield
        finally:
            out = stream if stream is not None else sys.stderr
            for kind in kinds.values():
                more = f" [and {kind.count - 1} more like it]" if kind.count > 1 else ""
                print(f"obliviate: warning: {kind.first}{more}", file=out)
