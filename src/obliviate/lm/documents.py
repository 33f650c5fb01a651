"""Reading a user's forget / retain documents from a UTF-8 text file.

Two layouts, chosen explicitly (guessing would silently merge or split documents):
- ``paragraphs`` (default): documents are separated by one or more blank lines; the lines of one
  document are joined with ``\\n``, as written.
- ``lines``: one document per non-blank line.
Leading and trailing whitespace of each document is stripped.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import ConfigError, ForgetSpecError, MissingDataError

LAYOUTS: tuple[str, ...] = ("paragraphs", "lines")
_BLANK_LINES = re.compile(r"\n[ \t\r\f\v]*\n")


def split_documents(text: str, layout: str = "paragraphs") -> list[str]:
    """The non-empty documents of ``text`` in the given layout (see the module doc)."""
    if layout not in LAYOUTS:
        raise ConfigError(f"unknown document layout {layout!r}; known: {', '.join(LAYOUTS)}")
    text = text.replace("\r\n", "\n")
    parts = _BLANK_LINES.split(text) if layout == "paragraphs" else text.split("\n")
    return [p.strip() for p in parts if p.strip()]


def read_documents(path: str | Path, layout: str = "paragraphs", *, what: str = "documents") -> list[str]:
    """The documents of the text file ``path``; ``what`` ("forget", "retain") names it in errors."""
    path = Path(path)
    if not path.is_file():
        raise MissingDataError(f"{what} file {path} does not exist" if not path.exists()
                               else f"{what} file {path} is not a regular file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ForgetSpecError(f"{what} file {path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    documents = split_documents(text, layout)
    if not documents:
        raise ForgetSpecError(f"{what} file {path} holds no documents (it is empty or only whitespace)")
    return documents
