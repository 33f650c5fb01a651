"""A WMDP-format fixture from the embedded bios corpus (issue 17, evidence (c)): multiple-choice questions on
the forget people (config ``wmdp-bio``) and on the retain people (``wmdp-chem``) in cais/wmdp's published
layout, forget and retain corpora, and a tiny Llama that knows both topics.

Used by tests/test_wmdp.py's slow test (in memory) and by ``benchmarks/wmdp_fixture.py`` (written to disk and
run through ``obliviate bench wmdp``).

Decisions:
- A question asks one QA pair of a person; its four choices are the true answer and three other people's
  answers to the same attribute, shuffled (seeded).
- The model is trained on the people's documents and QA texts, the general text, and every question
  answered in lm-evaluation-harness's prompt (:func:`~obliviate.lm.benchmarks.wmdp.context` + the letter),
  so it knows both topics in the format the benchmark asks them.
- Forget corpus: the forget people's documents and QA texts, plus (``questions_in_corpus``, the default, as
  the slow test measured it) their answered questions; retain corpus: every other training text. Unlike the
  real WMDP, whose forget corpus is papers and never its questions, the default corpus holds the forget-topic
  questions themselves; ``questions_in_corpus=False`` leaves them out.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import ConfigError
from .wmdp import CONTINUATIONS, MCQuestion, context

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from ..bios import BiosCorpus

#: the fixture's configs: forget-topic questions and retain-topic questions
TOPICS: dict[str, str] = {"forget": "wmdp-bio", "retain": "wmdp-chem"}
#: every question is asked about this subject (the forget config's)
SUBJECT = "biology"


def bios_questions(corpus: "BiosCorpus", split: str, rng: random.Random) -> list[dict[str, Any]]:
    """One WMDP-format row (answer, question, choices) per QA pair of ``split``'s people: the true answer
    among 3 other people's answers to the same attribute."""
    rows = []
    for qa in corpus.qa_of(split):  # type: ignore[arg-type]
        others = sorted({o.answer for o in corpus.qa if o.attribute == qa.attribute and o.answer != qa.answer})
        if len(others) < 3:
            raise ConfigError(f"bios attribute {qa.attribute!r} has {len(others)} other answers; 3 are needed "
                              "(use more people)")
        choices = rng.sample(others, 3) + [qa.answer]
        rng.shuffle(choices)
        rows.append({"answer": choices.index(qa.answer), "question": qa.question, "choices": choices})
    return rows


@dataclass(frozen=True)
class WmdpFixture:
    """The fixture's content: WMDP rows per config, the answered questions, the two corpora."""

    corpus: "BiosCorpus"
    rows: dict[str, list[dict[str, Any]]]
    #: split -> its questions in lm-evaluation-harness's prompt followed by the right letter
    answered: dict[str, list[str]]
    forget_texts: list[str]
    retain_texts: list[str]

    def questions(self, config: str) -> list[MCQuestion]:
        return [MCQuestion(r["question"], tuple(r["choices"]), r["answer"]) for r in self.rows[config]]

    def training_texts(self) -> list[str]:
        """The original's data: the forget people's texts and answered questions, then the retain corpus."""
        return self.corpus.texts("forget", with_qa=True) + self.answered["forget"] + self.retain_texts

    def tokenizer_texts(self) -> list[str]:
        return self.corpus.all_text() + self.answered["forget"] + self.answered["retain"]


def build_fixture(n_people: int = 12, *, seed: int = 0, questions_in_corpus: bool = True) -> WmdpFixture:
    """The fixture of ``n_people`` bios people (a quarter forget, a quarter holdout), seeded."""
    from ..bios import make_bios

    corpus = make_bios(n_people=n_people, seed=seed, forget_fraction=0.25, holdout_fraction=0.25, n_general=12)
    rng = random.Random(seed)
    rows = {config: bios_questions(corpus, split, rng) for split, config in TOPICS.items()}
    answered = {split: [context(MCQuestion(r["question"], tuple(r["choices"]), r["answer"]), SUBJECT)
                        + CONTINUATIONS[r["answer"]] for r in rows[config]] for split, config in TOPICS.items()}
    forget = corpus.texts("forget", with_qa=True) + (answered["forget"] if questions_in_corpus else [])
    retain = corpus.training_texts(include_forget=False, with_qa=True) + answered["retain"]
    return WmdpFixture(corpus, rows, answered, forget, retain)


def train_fixture_model(fixture: WmdpFixture, *, seed: int = 0, epochs: int = 60):
    """(tiny Llama, tokenizer) trained on :meth:`WmdpFixture.training_texts`: the original knows both topics."""
    from ..data import lm_dataset
    from ..model import tiny_llama
    from ..tokenizer import train_bpe_tokenizer
    from ..train import LMTrainConfig, train_lm

    tok = train_bpe_tokenizer(fixture.tokenizer_texts(), vocab_size=400)
    model = tiny_llama(len(tok), seed=seed)
    train_lm(model, lm_dataset(tok, fixture.training_texts(), max_length=256),
             LMTrainConfig(epochs=epochs, lr=3e-3, batch_size=16), seed=seed, desc="wmdp fixture original")
    return model, tok


def write_fixture(fixture: WmdpFixture, out: Path, model: Any = None, tokenizer: "PreTrainedTokenizerBase | None" = None
                  ) -> dict[str, Path]:
    """Write ``data/<config>/test-00000-of-00001.parquet`` (cais/wmdp's layout and features), the corpora as
    ``forget.jsonl`` / ``retain.jsonl`` (a ``text`` field per line) and, when given, the model as a Hugging
    Face directory ``model/``; returns the paths."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    from ...utils.io import atomic_path, atomic_write_text
    from ..model import save_causal_lm

    schema = pa.schema([("answer", pa.int64()), ("question", pa.string()), ("choices", pa.list_(pa.string()))])
    paths = {"data": out / "data", "forget": out / "forget.jsonl", "retain": out / "retain.jsonl"}
    for config, rows in fixture.rows.items():
        target = paths["data"] / config / "test-00000-of-00001.parquet"
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(target) as tmp:
            pq.write_table(pa.Table.from_pylist(rows, schema=schema), tmp)
    for name, texts in (("forget", fixture.forget_texts), ("retain", fixture.retain_texts)):
        atomic_write_text(paths[name], "".join(json.dumps({"text": t}) + "\n" for t in texts))
    if model is not None and tokenizer is not None:
        paths["model"] = save_causal_lm(model, tokenizer, out / "model")
    return paths
