"""The lm bench's corpora: name -> how to build it for a seed from the bench's settings.

A corpus entry turns the bench (its ``people``, ``kjv_books``, ... fields) into the keyword arguments of
its maker (recorded in config.json and in the model-cache keys) and builds the corpus from them. Adding a
corpus is one :func:`register_corpus` call; the makers are imported lazily, so this module stays light
(the CLI's help lists the names).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..registry import Registry


@dataclass(frozen=True)
class Corpus:
    name: str
    description: str
    #: (bench, seed) -> the maker's keyword arguments
    args: Callable[[Any, int], dict[str, Any]]
    #: "module:function" of the maker, imported when the corpus is built
    maker: str

    def make(self, **kwargs: Any) -> Any:
        module, _, function = self.maker.partition(":")
        return getattr(importlib.import_module(module), function)(**kwargs)


CORPORA: Registry[Corpus] = Registry("lm corpus")


def register_corpus(corpus: Corpus) -> Corpus:
    return CORPORA.register(corpus.name, corpus)


register_corpus(Corpus(
    "bios", "embedded fictitious biographies (forget / retain / holdout people)",
    lambda bench, seed: {"n_people": bench.people, "seed": seed, "docs_per_person": bench.docs_per_person,
                         "forget_fraction": bench.forget_fraction, "holdout_fraction": bench.holdout_fraction,
                         "n_general": bench.n_general},
    "obliviate.lm.bios:make_bios",
))
register_corpus(Corpus(
    "kjv", "King James Bible books (forget one book; needs: sudo apt-get install bible-kjv)",
    lambda bench, seed: {"books": list(bench.kjv_books), "forget_book": bench.forget_book, "seed": seed,
                         "holdout_fraction": bench.holdout_fraction, "holdout": bench.kjv_holdout},
    "obliviate.lm.kjv:make_kjv",
))
