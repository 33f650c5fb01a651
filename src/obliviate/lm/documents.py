"""Reading a user's forget / retain documents from a UTF-8 text file.

Two layouts, chosen explicitly (guessing would silently merge or split documents):
- ``paragraphs`` (default): documents are separated by one or more blank lines; the lines of one
  document are joined with ``\\n``, as written.
- ``lines``: one document per non-blank line.
Leading and trailing whitespace of each document is stripped. Files are read line by line
(:func:`iter_documents`), so a large file never sits in memory whole.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
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


def _checked_file(path: str | Path, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise MissingDataError(f"{what} file {path} does not exist" if not path.exists()
                               else f"{what} file {path} is not a regular file")
    return path


def _lines(path: Path, what: str) -> Iterator[str]:
    """The lines of the UTF-8 file ``path`` without their ends, one at a time; ``\r\n`` and a lone
    ``\r`` end a line too (Python's universal newlines, as ``Path.read_text``)."""
    offset = 0
    try:
        with path.open("rb") as f:
            for raw in f:  # a UTF-8 sequence never contains the byte \n: lines decode independently
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise ForgetSpecError(f"{what} file {path} is not UTF-8 text ({exc.reason} at byte "
                                          f"{offset + exc.start})") from None
                offset += len(raw)
                if text.endswith("\n"):
                    text = text[:-2] if text.endswith("\r\n") else text[:-1]
                yield from text.split("\r")
    except OSError as exc:
        raise MissingDataError(f"cannot read {what} file {path}: {exc.strerror or exc}") from None


def _is_blank(line: str) -> bool:
    return not line.strip(" \t\r\f\v")  # the separator's whitespace, as _BLANK_LINES


def iter_documents(path: str | Path, layout: str = "paragraphs", *, what: str = "documents") -> Iterator[str]:
    """The documents of the text file ``path``, streamed: the same documents as :func:`read_documents`
    (without its emptiness check), holding one document at a time."""
    if layout not in LAYOUTS:
        raise ConfigError(f"unknown document layout {layout!r}; known: {', '.join(LAYOUTS)}")
    lines = _lines(_checked_file(path, what), what)
    if layout == "lines":
        yield from (line.strip() for line in lines if line.strip())
        return
    current: list[str] = []
    for line in itertools.chain(lines, [""]):
        if not _is_blank(line):
            current.append(line)
            continue
        document = "\n".join(current).strip()
        current = []
        if document:
            yield document


class _DocumentsDigest:
    """SHA-256 of ``json.dumps(documents, ensure_ascii=False)``, fed one document at a time."""

    def __init__(self) -> None:
        self.count, self._sha = 0, hashlib.sha256(b"[")

    def update(self, document: str) -> None:
        self._sha.update((", " if self.count else "").encode() + json.dumps(document, ensure_ascii=False).encode())
        self.count += 1

    def hexdigest(self) -> str:
        final = self._sha.copy()
        final.update(b"]")
        return final.hexdigest()


def documents_hash(documents: Iterable[str]) -> str:
    """SHA-256 of the documents as a JSON list (independent of the file layout they came from), computed
    as they stream by: ``json.dumps(list(documents), ensure_ascii=False)`` without building the list."""
    digest = _DocumentsDigest()
    for document in documents:
        digest.update(document)
    return digest.hexdigest()


@dataclass(frozen=True)
class DocumentFile:
    """A checked text file of documents: their number and hash, and the documents again on iteration
    (read anew from the file each time, so they are never all in memory; a file that changed since the
    check is an error once the iteration ends)."""

    path: Path
    layout: str
    what: str
    count: int
    sha256: str

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[str]:
        digest = _DocumentsDigest()
        for document in iter_documents(self.path, self.layout, what=self.what):
            digest.update(document)
            yield document
        if (digest.count, digest.hexdigest()) != (self.count, self.sha256):
            raise ForgetSpecError(f"{self.what} file {self.path} changed while obliviate was reading it "
                                  f"({self.count} documents at first, {digest.count} now); run again")


def scan_documents(path: str | Path, layout: str = "paragraphs", *, what: str = "documents") -> DocumentFile:
    """Read ``path`` once, streaming, to check it (UTF-8, at least one document) and count and hash its
    documents; raises as :func:`read_documents` does."""
    digest = _DocumentsDigest()
    for document in iter_documents(path, layout, what=what):
        digest.update(document)
    if not digest.count:
        raise ForgetSpecError(f"{what} file {path} holds no documents (it is empty or only whitespace)")
    return DocumentFile(Path(path), layout, what, digest.count, digest.hexdigest())


def read_documents(path: str | Path, layout: str = "paragraphs", *, what: str = "documents") -> list[str]:
    """The documents of the text file ``path``; ``what`` ("forget", "retain") names it in errors."""
    documents = list(iter_documents(path, layout, what=what))
    if not documents:
        raise ForgetSpecError(f"{what} file {path} holds no documents (it is empty or only whitespace)")
    return documents
