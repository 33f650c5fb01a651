"""An LM unlearning task: a corpus (``bios`` or ``kjv``), its tokenizer and a forget request.

:class:`LMUnlearnData` is what an LM method may see (the analogue of the classifier's
``UnlearnData``): token datasets of the forget and retain texts and the tokenizer, built only from
the forget and retain splits, so a method cannot reach holdout people or held-out general text.

Decisions:
- Scenario ``documents``: the forget set is the ``forget`` split's people, all their documents and
  their QA texts (TOFU-style: the QA pairs of trained people are training text, see ``bios``).
  Sizes are counted in the corpus's unit (``corpus.size_unit``: people for ``bios``, passages for
  ``kjv``; ``forget_size`` / ``retain_size`` of the results schema).
- The retain stream is what the retrain reference is trained on: retain people's documents and QA
  plus the general training text.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import ForgetSpecError
from .bios import BiosCorpus
from .data import TokenDataset, lm_dataset

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from .kjv import KJVCorpus

SCENARIOS: tuple[str, ...] = ("documents",)


@dataclass(frozen=True)
class LMUnlearnData:
    """What an LM method may see: forget and retain token datasets and the tokenizer.

    Each dataset holds ``(input_ids, attention_mask, labels)`` as :func:`~obliviate.lm.data.lm_dataset`
    makes them; methods may derive new datasets from them (e.g. append reference log-probs).
    """

    forget: TokenDataset
    retain: TokenDataset
    tokenizer: "PreTrainedTokenizerBase" = field(repr=False)


@dataclass(frozen=True)
class LMTask:
    """One corpus + tokenizer + forget request; the evaluation side reads the holdout split from here."""

    corpus: "BiosCorpus | KJVCorpus"
    tokenizer: "PreTrainedTokenizerBase" = field(repr=False)
    scenario: str = "documents"
    max_length: int = 128

    def __post_init__(self) -> None:
        if self.scenario not in SCENARIOS:
            raise ForgetSpecError(f"unknown lm forget scenario {self.scenario!r}; known: {', '.join(SCENARIOS)}")

    def with_forget(self, units: Sequence[int]) -> "LMTask":
        """The same task forgetting only ``units`` of the forget split; the forget split's other units join
        retain, since they stay in the training data (the nested sets of MUSE's scalability and
        sustainability scenarios). Holdout is unchanged."""
        pool = self.corpus.units_of("forget")
        chosen = tuple(sorted(set(units)))
        if not chosen:
            raise ForgetSpecError("an LM forget request needs at least one unit to forget")
        outside = sorted(set(chosen) - set(pool))
        if outside:
            raise ForgetSpecError(f"units {outside[:5]} are not in the forget split; forget {self.corpus.size_unit}: "
                                  f"{list(pool)}")
        splits = dict(self.corpus.splits)
        splits["forget"] = chosen
        splits["retain"] = tuple(sorted(set(splits["retain"]) | (set(pool) - set(chosen))))
        return dataclasses.replace(self, corpus=dataclasses.replace(self.corpus, splits=splits))

    def forget_texts(self) -> list[str]:
        return self.corpus.texts("forget", with_qa=True)

    def retain_texts(self) -> list[str]:
        return self.corpus.training_texts(include_forget=False, with_qa=True)

    def original_texts(self) -> list[str]:
        """The original model's training data (forget + retain + general text)."""
        return self.corpus.training_texts(include_forget=True, with_qa=True)

    def unlearn_data(self) -> LMUnlearnData:
        """Forget and retain token datasets only (never holdout, never general_eval)."""
        tok, n = self.tokenizer, self.max_length
        return LMUnlearnData(lm_dataset(tok, self.forget_texts(), max_length=n),
                             lm_dataset(tok, self.retain_texts(), max_length=n), tok)

    def describe(self) -> dict:
        """The schema's ``task`` object; sizes are in the corpus's unit."""
        corpus = self.corpus
        return {
            "dataset": corpus.name,
            "scenario": self.scenario,
            "forget_size": len(corpus.units_of("forget")),
            "retain_size": len(corpus.units_of("retain")),
            "forget_spec": f"{self.scenario}:{corpus.forget_label()}",
            "size_unit": corpus.size_unit,
            "forget_texts": len(self.forget_texts()),
            "holdout_size": len(corpus.units_of("holdout")),
        }
