"""RESTOR-style data (Rezaei et al., arXiv 2411.00204), built from the ``bios`` generator: people with
true facts; corrupting texts that state FALSE facts about some of them; unrelated texts mixed into the
corruption; questions about the corrupted facts.

The scenario: a clean model is trained on the true facts (every trained person's documents and QA,
as the ``bios`` original is); a corrupted model is the clean one trained further on the corruption set
(corrupting texts + unrelated texts); an unlearning method then removes the corrupting texts, and the
question is whether the model returns to the true facts or only stops stating the false ones.

Decisions:
- People come from :func:`~obliviate.lm.bios.make_bios` with the same seed: its ``forget`` split are
  the affected people, its ``holdout`` split (never in the clean data) supply the unrelated documents,
  and its ``retain`` split are the unaffected people. The clean data is ``bios``'s original data.
- A false fact is another corpus person's value of the same attribute, different from the true one
  (so it is a plausible fact in the corpus's own vocabulary). Each affected person gets false values
  for ``attributes`` (default all five); the corrupting texts are ``bios`` documents and QA texts
  rendered from the person with those values, so they read exactly like clean data.
- Unrelated texts: the holdout people's documents and QA (true facts about new people), plus a replay
  of the clean data that does not concern the affected people (unaffected people's texts, general
  text), as continued training on a corpus that overlaps the old one. Without the replay the tiny
  model forgets everything it is not shown again (seed 0, 20 people: unaffected-fact accuracy fell
  from 100 to 18 after the corruption phase, 37 with a milder recipe); with it, it stays at 100 while
  the corrupted model states 80% of the false facts.
- What an unlearning method may see: forget = the corrupting texts; retain = the unrelated texts
  (so: the corrupted model's training data minus the corrupting texts and minus the affected
  people's clean texts). The latter are left out of retain on purpose: with them, a retain loss would
  re-teach the true facts, and recovery would measure relearning instead of unlearning (RESTOR's
  question).
- The exact-unlearning reference of the corruption phase is the clean model trained further on the
  unrelated texts alone (the corruption set without the corrupting texts), with the same recipe.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import ConfigError
from ..metrics.lm_restor import FactQuestion
from .bios import ATTRIBUTES, BiosCorpus, Person, _documents, _qa, make_bios
from .data import lm_dataset
from .prompts import qa_text
from .task import LMUnlearnData

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


@dataclass(frozen=True)
class CorruptedFact:
    person: int
    attribute: str
    question: str
    true: str
    false: str


@dataclass(frozen=True)
class RestorData:
    """The corpus, the corrupted facts and every text set of the three training phases."""

    corpus: BiosCorpus
    facts: tuple[CorruptedFact, ...]
    corrupting: tuple[str, ...] = field(repr=False)
    unrelated: tuple[str, ...] = field(repr=False)

    @property
    def affected(self) -> tuple[int, ...]:
        return self.corpus.people_of("forget")

    @property
    def unaffected(self) -> tuple[int, ...]:
        return self.corpus.people_of("retain")

    def clean_texts(self) -> list[str]:
        """The clean model's data: affected and unaffected people's true documents + QA, general text."""
        return self.corpus.training_texts(include_forget=True, with_qa=True)

    def corruption_texts(self) -> list[str]:
        """The corruption phase's data: corrupting and unrelated texts, shuffled together (seeded)."""
        texts = list(self.corrupting) + list(self.unrelated)
        random.Random(self.corpus.seed).shuffle(texts)
        return texts

    def retain_texts(self) -> list[str]:
        """What a method may use besides the forget set: the unrelated texts (no affected person's facts)."""
        return list(self.unrelated)

    def affected_questions(self) -> list[FactQuestion]:
        return [FactQuestion(f.question, f.true, f.false) for f in self.facts]

    def unaffected_questions(self) -> list[FactQuestion]:
        """Questions about unaffected people (true answers only): the collateral-damage check."""
        return [FactQuestion(q, a) for q, a in self.corpus.qa_pairs("retain")]

    def unlearn_data(self, tokenizer: "PreTrainedTokenizerBase", max_length: int = 128) -> LMUnlearnData:
        return LMUnlearnData(lm_dataset(tokenizer, list(self.corrupting), max_length=max_length),
                             lm_dataset(tokenizer, self.retain_texts(), max_length=max_length), tokenizer)

    def describe(self) -> dict:
        """The schema's ``task`` object (sizes in people)."""
        n = len(self.affected)
        return {"dataset": "restor", "scenario": "corruption", "forget_size": n, "retain_size": len(self.unaffected),
                "forget_spec": f"corrupted:{n} people", "size_unit": "people", "forget_texts": len(self.corrupting),
                "corrupted_facts": len(self.facts), "unrelated_texts": len(self.unrelated)}


def _false_values(person: Person, people: tuple[Person, ...], attributes: tuple[str, ...],
                  rng: random.Random) -> dict[str, str]:
    out = {}
    for attribute in attributes:
        options = sorted({p.answer(attribute) for p in people} - {person.answer(attribute)})
        if not options:
            raise ConfigError(f"no false value for {attribute!r}: every person has the same one; use more people")
        out[attribute] = rng.choice(options)
    return out


def make_restor(
    n_people: int = 20,
    *,
    seed: int = 0,
    affected_fraction: float = 0.2,
    unrelated_fraction: float = 0.2,
    docs_per_person: int = 3,
    n_general: int = 40,
    attributes: tuple[str, ...] = ATTRIBUTES,
) -> RestorData:
    """Generate the RESTOR data; the same arguments always give the same data."""
    unknown = sorted(set(attributes) - set(ATTRIBUTES))
    if unknown or not attributes:
        raise ConfigError(f"make_restor: attributes must be a non-empty subset of {list(ATTRIBUTES)}, got {list(attributes)}")
    corpus = make_bios(n_people, seed=seed, docs_per_person=docs_per_person, forget_fraction=affected_fraction,
                       holdout_fraction=unrelated_fraction, n_general=n_general)
    rng = random.Random(f"restor-{seed}")
    facts, corrupting = [], []
    for pid in corpus.people_of("forget"):
        person = corpus.people[pid]
        false = _false_values(person, corpus.people, tuple(attributes), rng)
        liar = dataclasses.replace(person, **false)
        corrupting += [d.text for d in _documents(liar, docs_per_person, rng)]
        for q in _qa(liar):
            if q.attribute in false:
                corrupting.append(qa_text(q.question, q.answer))
                facts.append(CorruptedFact(pid, q.attribute, q.question, person.answer(q.attribute), q.answer))
    unrelated = corpus.texts("holdout", with_qa=True) + corpus.texts("retain", with_qa=True) + list(corpus.general_train)
    return RestorData(corpus, tuple(facts), tuple(corrupting), tuple(unrelated))
