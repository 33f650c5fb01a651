"""``kjv``: an optional real corpus, the King James Bible (public domain) from Debian's ``bible-kjv``.

The text is rendered once per process with ``bible -m 8192 -l 100000 gen1:1-rev22:21`` (about 35 ms;
the output is kept in memory, :func:`kjv_verses`), then parsed: a header line ``Book N`` after a
blank line starts a chapter, ``  V text`` starts a verse, any other non-blank line continues the
previous verse (the package wraps at the terminal width when ``-l`` is absent).

Decisions:
- Documents are passages: runs of ``verses_per_passage`` consecutive verses of one chapter (default
  2: median 120 tokens with the bench's 512-token BPE; the longer third is cut at its max_length 128,
  alike in training and evaluation), so a tiny model can memorise them. Sizes in rows are counted in
  passages (``task.size_unit``).
- Only a handful of short books are used by default (:data:`DEFAULT_BOOKS`, 400 verses, 206
  passages) so that ``obliviate bench lm --corpus kjv`` with the tiny model takes minutes on a CPU.
- Holdout (never trained on: the non-members of membership inference) is, by default
  (``holdout="forget_book"``), a seeded fraction of the forget book's own chapters (at least one);
  forget = the book's other chapters, retain = every other book. Members and non-members then share
  the book's names and style, so the retrain reference, which saw neither, cannot tell them apart.
  ``holdout="other_books"`` forgets the whole book and holds out a seeded fraction of the other books'
  chapters instead; measured (default books, seed 0) the retrain reference's Min-40% AUC is then 0.15,
  not 0.5: the forget book shares its names and style with no trained text while holdout chapters
  share theirs with retain chapters, which makes PrivLeak meaningless. Kept for forgetting a whole
  book; PrivLeak numbers of that mode should not be read as privacy leakage.
- KnowMem is a reference-cued cloze, one per passage on its last verse: "Complete Ruth 1:16: <first
  half of the verse>" -> "<second half>". As in ``bios`` the QA text of trained passages is training
  text too (TOFU-style). It is closer to verbatim memory than MUSE's knowledge questions (the answer
  is scripture text), but it is cued by the reference and starts mid-passage, unlike VerbMem.
- There is no separate general text: ``general_train`` is empty and ``general_eval`` (the held-out
  text of the perplexity check) is the holdout passages, never trained on.
"""

from __future__ import annotations

import functools
import random
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import ClassVar

from ..errors import ConfigError, MissingDataError
from .bios import SPLITS, Split
from .prompts import qa_text

INSTALL_HINT = "sudo apt-get install bible-kjv"
#: Short books used by default; the first is the default forget book.
DEFAULT_BOOKS: tuple[str, ...] = ("ruth", "jonah", "joel", "nahum", "habakkuk", "zephaniah", "haggai")
DEFAULT_FORGET_BOOK = "ruth"
#: Where the holdout chapters come from (see the module docstring).
HOLDOUT_MODES: tuple[str, ...] = ("forget_book", "other_books")
_HEADER = re.compile(r"^(\S.*) (\d+)$")
_VERSE = re.compile(r"^\s+(\d+) (.*)$")


@dataclass(frozen=True)
class Verse:
    book: str
    chapter: int
    verse: int
    text: str


@dataclass(frozen=True)
class Passage:
    """Consecutive verses of one chapter, joined by spaces."""

    book: str
    chapter: int
    first: int
    last: int
    text: str


def book_key(name: str) -> str:
    """The lower-case, space-less key of a book name: ``"1 John"`` -> ``"1john"``."""
    return name.lower().replace(" ", "")


def parse_kjv(text: str) -> list[Verse]:
    """Verses of the ``bible`` command's output (wrapped or not), in order."""
    verses: list[Verse] = []
    book, chapter, after_blank = None, 0, True
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            after_blank = True
            continue
        header, verse = _HEADER.match(line), _VERSE.match(line)
        if after_blank and header and not line[0].isspace():
            book, chapter = header.group(1), int(header.group(2))
        elif verse and book is not None:
            verses.append(Verse(book, chapter, int(verse.group(1)), verse.group(2).strip()))
        elif verses and not after_blank:
            last = verses[-1]
            verses[-1] = Verse(last.book, last.chapter, last.verse, f"{last.text} {line.strip()}")
        else:
            raise MissingDataError(f"unexpected line {n} in the bible-kjv text: {line[:80]!r}")
        after_blank = False
    return verses


@functools.lru_cache(maxsize=1)
def kjv_verses() -> tuple[Verse, ...]:
    """Every verse of the installed ``bible-kjv`` (rendered and parsed once per process)."""
    exe = shutil.which("bible")
    if exe is None:
        raise MissingDataError(f"the kjv corpus needs Debian's bible-kjv package (the `bible` command is not "
                               f"on PATH); install it with: {INSTALL_HINT}")
    try:
        done = subprocess.run([exe, "-m", "8192", "-l", "100000", "gen1:1-rev22:21"], capture_output=True,
                              text=True, check=True, timeout=120)
    except (subprocess.SubprocessError, OSError) as e:
        raise MissingDataError(f"`bible` failed to render the KJV text ({e}); reinstall with: {INSTALL_HINT}") from e
    verses = parse_kjv(done.stdout)
    if not verses:
        raise MissingDataError(f"`bible` rendered no verses; reinstall with: {INSTALL_HINT}")
    return tuple(verses)


def _passages(verses: list[Verse], size: int) -> list[Passage]:
    out: list[Passage] = []
    for i, v in enumerate(verses):
        if out and i and verses[i - 1].chapter == v.chapter and out[-1].last - out[-1].first + 1 < size:
            p = out[-1]
            out[-1] = Passage(p.book, p.chapter, p.first, v.verse, f"{p.text} {v.text}")
        else:
            out.append(Passage(v.book, v.chapter, v.verse, v.verse, v.text))
    return out


def _cloze(p: Passage, last: Verse) -> tuple[str, str]:
    words = last.text.split()
    cut = max(1, len(words) // 2)
    return f"Complete {p.book} {p.chapter}:{last.verse}: {' '.join(words[:cut])}", " ".join(words[cut:])


@dataclass(frozen=True)
class KJVCorpus:
    """Passages of some KJV books, one cloze QA pair per passage, split by book (forget) and chapter."""

    name: ClassVar[str] = "kjv"
    size_unit: ClassVar[str] = "passages"

    seed: int
    forget_book: str
    passages: tuple[Passage, ...]
    qa: tuple[tuple[str, str], ...] = field(repr=False)  # qa[i] belongs to passages[i]
    splits: dict[str, tuple[int, ...]] = field(repr=False)
    general_train: tuple[str, ...] = ()

    def units_of(self, split: Split) -> tuple[int, ...]:
        """Indices of the split's passages."""
        if split not in self.splits:
            raise ConfigError(f"unknown kjv split {split!r}; known: {', '.join(SPLITS)}")
        return self.splits[split]

    def forget_label(self) -> str:
        """What is forgotten, the same for every seed: the book and how many of its chapters."""
        chapters = {self.passages[i].chapter for i in self.units_of("forget")}
        return f"{self.forget_book}, {len(chapters)} chapter{'s' if len(chapters) != 1 else ''}"

    def texts(self, split: Split, *, with_qa: bool = False) -> list[str]:
        """The split's passages, followed by its cloze QA pairs as text when ``with_qa``."""
        return [self.passages[i].text for i in self.units_of(split)] + (self.qa_texts(split) if with_qa else [])

    def qa_pairs(self, split: Split) -> list[tuple[str, str]]:
        return [self.qa[i] for i in self.units_of(split)]

    def qa_texts(self, split: Split) -> list[str]:
        return [qa_text(q, a) for q, a in self.qa_pairs(split)]

    def training_texts(self, *, include_forget: bool, with_qa: bool = True) -> list[str]:
        """The original's data (forget + retain passages) or, without forget, the retrain reference's."""
        splits: tuple[Split, ...] = ("forget", "retain") if include_forget else ("retain",)
        return [t for split in splits for t in self.texts(split, with_qa=with_qa)]

    @property
    def general_eval(self) -> tuple[str, ...]:
        """Held-out text of the perplexity check: the holdout passages."""
        return tuple(self.texts("holdout"))

    def all_text(self) -> list[str]:
        """Every passage and QA text (holdout included): what the tokenizer is trained on."""
        return [p.text for p in self.passages] + [qa_text(q, a) for q, a in self.qa]


def make_kjv(
    books: tuple[str, ...] | list[str] = DEFAULT_BOOKS,
    forget_book: str = DEFAULT_FORGET_BOOK,
    *,
    seed: int = 0,
    holdout_fraction: float = 0.2,
    holdout: str = "forget_book",
    verses_per_passage: int = 2,
    verses: tuple[Verse, ...] | list[Verse] | None = None,
) -> KJVCorpus:
    """The corpus over ``books`` plus ``forget_book`` (keys as :func:`book_key` makes them); ``verses``
    defaults to the installed ``bible-kjv`` text. The seed picks the holdout chapters: a fraction of the
    forget book's (``holdout="forget_book"``) or of the other books' (``"other_books"``)."""
    if not 0 < holdout_fraction < 1:
        raise ConfigError(f"make_kjv: holdout_fraction must be in (0, 1), got {holdout_fraction}")
    if holdout not in HOLDOUT_MODES:
        raise ConfigError(f"make_kjv: holdout must be one of {', '.join(HOLDOUT_MODES)}, got {holdout!r}")
    if verses_per_passage < 1:
        raise ConfigError(f"make_kjv: verses_per_passage must be >= 1, got {verses_per_passage}")
    all_verses = kjv_verses() if verses is None else tuple(verses)
    known = list(dict.fromkeys(book_key(v.book) for v in all_verses))
    wanted = list(dict.fromkeys([book_key(forget_book), *(book_key(b) for b in books)]))
    unknown = [b for b in wanted if b not in known]
    if unknown:
        raise ConfigError(f"unknown kjv book(s) {unknown}; known: {', '.join(known)}")
    forget = book_key(forget_book)
    passages: list[Passage] = []
    qa: list[tuple[str, str]] = []
    for book in wanted:
        chosen = [v for v in all_verses if book_key(v.book) == book]
        for p in _passages(chosen, verses_per_passage):
            passages.append(p)
            qa.append(_cloze(p, next(v for v in chosen if v.chapter == p.chapter and v.verse == p.last)))
    in_forget_book = holdout == "forget_book"
    chapters = sorted({(book_key(p.book), p.chapter) for p in passages if (book_key(p.book) == forget) == in_forget_book},
                      key=lambda c: (wanted.index(c[0]), c[1]))
    n_holdout = max(1, round(len(chapters) * holdout_fraction))
    if n_holdout >= len(chapters):
        where = f"the forget book {forget!r} has" if in_forget_book else f"the books other than {forget!r} have"
        fix = "pick a longer forget book or holdout='other_books'" if in_forget_book else "add books"
        raise ConfigError(f"make_kjv: {where} {len(chapters)} chapter(s), too few to hold out {n_holdout} and keep "
                          f"the rest with holdout_fraction={holdout_fraction}; {fix}")
    rng = random.Random(seed)
    held = set(rng.sample(chapters, n_holdout))

    def split_of(p: Passage) -> Split:
        key = book_key(p.book)
        if (key, p.chapter) in held:
            return "holdout"
        return "forget" if key == forget else "retain"

    splits = {s: tuple(i for i, p in enumerate(passages) if split_of(p) == s) for s in SPLITS}
    return KJVCorpus(seed, forget, tuple(passages), tuple(qa), splits)
