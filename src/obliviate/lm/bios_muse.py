"""The embedded ``bios`` corpus written as a MUSE dataset directory (the layout of ``muse-bench/MUSE-News`` that
:mod:`obliviate.lm.benchmarks.muse` loads), so MUSE's own protocol runs offline on it (issue 17 item 5).

Layout: JSON files ``<config>/<split>.json`` (muse_bench's ``load_data.py`` layout; the hub's parquet needs
pyarrow, which obliviate does not require), written once per corpus and tokenizer as a verified cache entry
``<cache>/bios-muse-<hash>/`` by :func:`obliviate.lm.bench_muse_trained.bios_muse_dir` (staged, manifest,
renamed: :func:`obliviate.bench.cache.cached_directory`).

Mapping (MUSE-News's dataset card: ``retain1`` is "data used optionally as a calibrator for unlearning",
``retain2`` "data seen by the target model and used for evaluation", ``holdout`` "never seen"; ``scal``
folds nested, ``sust`` folds pairwise disjoint):

- ``raw/forget``: the forget people's documents and their QA pairs as text -- exactly what the bios original
  was trained on for them (bios trains on QA text, TOFU-style, see :mod:`obliviate.lm.bios`; MUSE's target
  never sees its QA verbatim: the one deliberate difference, kept so that the MUSE target *is* the cached
  bios original and nothing is trained twice).
- The retain people are split in two halves (people in id order, first half ``retain1``): ``raw/retain1`` =
  the first half's documents and QA text plus the general training text (the calibrator: every method's
  retain term reads it, as muse_bench's scripts read ``retain1``), ``raw/retain2`` = the second half's
  documents and QA text (evaluated, never given to a method). ``forget + retain1 + retain2`` is the bios
  original's training text and ``retain1 + retain2`` the retrain reference's, so the bios bench's cached
  models are MUSE's target and retrained models.
- ``raw/holdout``: the holdout people's documents and QA text (never trained on).
- ``verbmem/forget``: per forget document (documents only, not QA text) ``prompt`` = its first 32 tokens
  (the paper's l = 32) decoded, ``gt`` = the rest, with the corpus's tokenizer (MUSE cuts with Llama's).
  Documents not longer than 32 tokens have no continuation and are left out (none at the default sizes).
- ``knowmem/forget_qa``: the forget people's QA pairs; ``knowmem/retain_qa``: the ``retain2`` people's (MUSE's
  retain QA is about ``retain2``). ``forget_qa_icl`` / ``retain_qa_icl``: :data:`ICL_SHOTS` few-shot
  examples each, QA pairs of ``retain1`` people (trained, like MUSE's shots, but read by no metric: nobody
  in a shot is ever evaluated), different attributes in each shot, different people for the two splits
  where ``retain1`` has enough people.
- ``privleak/forget``, ``privleak/retain``, ``privleak/holdout``: the documents (no QA text) of the forget,
  ``retain2`` and holdout people, as the bios bench's membership inference reads documents.
- ``scal/forget_1..4`` and ``sust/forget_1..4``: the forget people in 4 folds, the folds of the bios bench's
  ``scaling:4`` / ``sequential:4`` (:meth:`obliviate.lm.bench_series.LMForgetSpec.folds`, seeded by the corpus
  seed; given by the caller): ``scal/forget_k`` = folds 1..k (nested; ``forget_4`` = ``raw/forget``),
  ``sust/forget_k`` = fold k (pairwise disjoint). Each fold holds its people's documents and QA text. Needs
  at least 4 forget people.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from .benchmarks.muse import FOLDS, VERBMEM_PREFIX_TOKENS
from .bios import ATTRIBUTES, BiosCorpus
from .prompts import qa_text

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

#: few-shot examples per ``_icl`` split (MUSE-News's icl parquet files are ~2.9 kB against ~10 kB for
#: 100 QA pairs: a handful; 3 keeps the prompt well inside the tiny Llama's 128-token training length)
ICL_SHOTS = 3


def retain_halves(corpus: BiosCorpus) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(retain1 people, retain2 people): the retain people in id order, split in halves (retain1 gets the
    larger half when odd, so it has a person for the shots)."""
    people = corpus.people_of("retain")
    if len(people) < 2:
        raise ConfigError(f"bios as MUSE needs at least 2 retain people (retain1 and retain2), got {len(people)}; "
                          "use more people")
    cut = (len(people) + 1) // 2
    return people[:cut], people[cut:]


def _texts(corpus: BiosCorpus, people: tuple[int, ...], *, with_qa: bool = True) -> list[str]:
    ids = set(people)
    docs = [d.text for d in corpus.documents if d.person in ids]
    qa = [q for q in corpus.qa if q.person in ids]
    return docs + ([qa_text(q.question, q.answer) for q in qa] if with_qa else [])


def _qa_rows(corpus: BiosCorpus, people: tuple[int, ...]) -> list[dict[str, str]]:
    ids = set(people)
    return [{"question": q.question, "answer": q.answer} for q in corpus.qa if q.person in ids]


def icl_shots(corpus: BiosCorpus, people: tuple[int, ...], offset: int) -> list[dict[str, str]]:
    """:data:`ICL_SHOTS` QA pairs of ``people`` (retain1): shot i is attribute ``(offset + i) % 5`` of person
    ``(offset + i) % len(people)``."""
    by_key = {(q.person, q.attribute): q for q in corpus.qa}
    shots = []
    for i in range(ICL_SHOTS):
        person = people[(offset + i) % len(people)]
        q = by_key[(person, ATTRIBUTES[(offset + i) % len(ATTRIBUTES)])]
        shots.append({"question": q.question, "answer": q.answer})
    return shots


def verbmem_rows(documents: list[str], tokenizer: "PreTrainedTokenizerBase",
                 prefix_tokens: int = VERBMEM_PREFIX_TOKENS) -> list[dict[str, str]]:
    """``{"prompt": first prefix_tokens tokens, "gt": the rest}`` of every document longer than the prompt."""
    rows = []
    for text, ids in zip(documents, tokenizer(documents, add_special_tokens=False)["input_ids"]):
        if len(ids) > prefix_tokens:
            prompt = tokenizer.decode(ids[:prefix_tokens])
            rows.append({"prompt": prompt, "gt": text[len(prompt):] if text.startswith(prompt)
                         else tokenizer.decode(ids[prefix_tokens:])})
    if not rows:
        raise ConfigError(f"no bios forget document is longer than the {prefix_tokens}-token VerbMem prompt")
    return rows


def check_fold_people(corpus: BiosCorpus) -> None:
    """A clear error when the forget people are too few for MUSE's :data:`FOLDS`."""
    pool = corpus.people_of("forget")
    if len(pool) < len(FOLDS):
        raise ConfigError(f"bios as MUSE needs at least {len(FOLDS)} forget people for MUSE's scal / sust folds, got "
                          f"{len(pool)}; use more people (e.g. --people 20 with forget fraction 0.2)")


def check_folds(corpus: BiosCorpus, groups: list[tuple[int, ...]]) -> None:
    """``groups`` are :data:`FOLDS`-many disjoint non-empty folds covering the forget people."""
    check_fold_people(corpus)
    pool = corpus.people_of("forget")
    flat = [p for g in groups for p in g]
    if len(groups) != len(FOLDS) or not all(groups) or sorted(flat) != sorted(pool):
        raise ConfigError(f"bios as MUSE: the {len(FOLDS)} folds must split the forget people {list(pool)}, "
                          f"got {groups}")


def muse_splits(corpus: BiosCorpus, tokenizer: "PreTrainedTokenizerBase",
                groups: list[tuple[int, ...]]) -> dict[str, dict[str, list[Any]]]:
    """config -> split -> rows of the MUSE layout (see the module doc for every mapping); ``groups`` are the
    4 folds of the forget people."""
    retain1, retain2 = retain_halves(corpus)
    forget, holdout = corpus.people_of("forget"), corpus.people_of("holdout")
    check_folds(corpus, groups)
    forget_docs = _texts(corpus, forget, with_qa=False)
    second = ICL_SHOTS if len(retain1) > ICL_SHOTS else 1  # other people for retain_qa_icl when retain1 has them
    return {
        "raw": {"forget": _texts(corpus, forget), "retain1": _texts(corpus, retain1) + list(corpus.general_train),
                "retain2": _texts(corpus, retain2), "holdout": _texts(corpus, holdout)},
        "verbmem": {"forget": verbmem_rows(forget_docs, tokenizer)},
        "knowmem": {"forget_qa": _qa_rows(corpus, forget), "retain_qa": _qa_rows(corpus, retain2),
                    "forget_qa_icl": icl_shots(corpus, retain1, 0),
                    "retain_qa_icl": icl_shots(corpus, retain1, second)},
        "privleak": {"forget": forget_docs, "retain": _texts(corpus, retain2, with_qa=False),
                     "holdout": _texts(corpus, holdout, with_qa=False)},
        "scal": {name: _texts(corpus, tuple(p for g in groups[:k + 1] for p in g)) for k, name in enumerate(FOLDS)},
        "sust": {name: _texts(corpus, groups[k]) for k, name in enumerate(FOLDS)},
    }


def write_layout(directory: Path, splits: dict[str, dict[str, list[Any]]]) -> None:
    """``<directory>/<config>/<split>.json`` for every split (a list of strings or of row objects)."""
    for config, parts in splits.items():
        (directory / config).mkdir(parents=True, exist_ok=True)
        for split, rows in parts.items():
            (directory / config / f"{split}.json").write_text(json.dumps(rows, ensure_ascii=False, indent=0),
                                                              encoding="utf-8")
