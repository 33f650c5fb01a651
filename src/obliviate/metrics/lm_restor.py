"""RESTOR's knowledge-recovery metrics (Rezaei et al., arXiv 2411.00204).

A model answers questions about the facts that a corruption changed; each answer is checked for the
true fact and for the false one separately, so "forgot the false fact" and "recovered the true one"
are two numbers:

- ``true_rate``: % of affected questions whose answer states the true fact (RESTOR's accuracy);
- ``false_rate``: % whose answer still states the false fact;
- :func:`recovery_ratio` ``(unlearned - corrupted) / (clean - corrupted)`` on ``true_rate``: 1 = back to
  the clean model, 0 = no better than the corrupted one; the same formula on ``false_rate`` gives the
  share of the corruption's false assertions that are gone.

Decisions:
- An answer "states" a fact when the fact's words appear in it as one contiguous run of lower-cased
  alphanumeric words (ROUGE-L's tokens): "2 May 1900" is not stated by "12 May 1900", and an answer
  may be longer than the fact. Greedy generation in the KnowMem prompt format (``lm_muse``).
- :func:`recovery_ratio` is ``None`` (undefined, shown as such) when the corruption did not move the
  rate (|clean - corrupted| below ``tol``): there is nothing to recover, and dividing would turn noise
  into any number.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from torch import nn

from ..errors import ConfigError
from ..lm.data import encode_all
from ..lm.prompts import cut_answer, knowmem_prompt
from .lm_muse import greedy_generate
from .registry import Metric, register_metric

# RESTOR's rows (family lm, dataset restor); registration order is the average gap's summation order and
# the main table's column order (the standard ones).
for _metric in (
    Metric("restor_true", "lm", "True (affected)", higher_is_better=True, in_gap=True, standard=True,
           benchmark="restor", description="% of affected questions answered with the true fact"),
    Metric("restor_false", "lm", "False (affected)", higher_is_better=False, in_gap=True, standard=True,
           benchmark="restor", description="% of affected questions answered with the false fact"),
    Metric("restor_neither", "lm", "Neither (affected)", higher_is_better=None, benchmark="restor",
           description="% of affected questions answered with neither fact"),
    Metric("unaffected_true", "lm", "True (unaffected)", higher_is_better=True, in_gap=True, standard=True,
           benchmark="restor", description="% of unaffected questions answered with the true fact"),
    Metric("recovery", "lm", "Recovery", unit="", higher_is_better=True, standard=True, benchmark="restor",
           description="recovery ratio of restor_true: 1 = clean, 0 = corrupted"),
    Metric("false_removed", "lm", "False removed", unit="", higher_is_better=True, standard=True,
           benchmark="restor",
           description="share of the corruption's false assertions gone (recovery ratio of restor_false)"),
):
    register_metric(_metric)

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

_WORD = re.compile(r"[a-z0-9]+")


def words(text: str) -> list[str]:
    """Lower-cased alphanumeric words (rouge-score's tokens without stemming)."""
    return _WORD.findall(text.lower())


def states(answer: str, fact: str) -> bool:
    """Whether ``answer`` contains ``fact``'s words as one contiguous run."""
    a, f = words(answer), words(fact)
    if not f:
        raise ConfigError(f"a fact needs at least one word, got {fact!r}")
    return any(a[i:i + len(f)] == f for i in range(len(a) - len(f) + 1))


def recovery_ratio(clean: float, corrupted: float, unlearned: float, *, tol: float = 1e-9) -> float | None:
    """``(unlearned - corrupted) / (clean - corrupted)``, or None when ``|clean - corrupted| <= tol``."""
    span = clean - corrupted
    if abs(span) <= tol:
        return None
    return (unlearned - corrupted) / span


@dataclass(frozen=True)
class FactQuestion:
    """A question about one fact, with the true answer and (for corrupted facts) the false one."""

    question: str
    true: str
    false: str | None = None


@dataclass
class FactRates:
    """Percentages over the questions, and per question the answer and what it states."""

    true_rate: float
    false_rate: float | None
    neither_rate: float
    items: list[dict[str, Any]]


def answer_questions(model: nn.Module, tokenizer: "PreTrainedTokenizerBase", questions: Sequence[str], *,
                     max_new_tokens: int = 32, batch_size: int = 16) -> list[str]:
    """Greedy answers in the KnowMem prompt format, cut at a blank line or the next question."""
    prompts = encode_all(tokenizer, [knowmem_prompt(q) for q in questions])
    outputs = greedy_generate(model, tokenizer, prompts, max_new_tokens=max_new_tokens, batch_size=batch_size)
    return [cut_answer(tokenizer.decode(o, skip_special_tokens=True)) for o in outputs]


def rates(answers: Sequence[str], facts: Sequence[FactQuestion]) -> FactRates:
    """:class:`FactRates` of given answers (``false_rate`` None when no fact has a false answer)."""
    if not facts or len(answers) != len(facts):
        raise ConfigError(f"need one answer per fact and at least one fact, got {len(answers)} and {len(facts)}")
    items = []
    for answer, fact in zip(answers, facts):
        is_true = states(answer, fact.true)
        is_false = fact.false is not None and states(answer, fact.false)
        items.append({"question": fact.question, "true": fact.true, "false": fact.false, "answer": answer,
                      "states_true": is_true, "states_false": is_false})
    n = len(items)
    has_false = any(f.false is not None for f in facts)
    return FactRates(
        true_rate=100.0 * sum(i["states_true"] for i in items) / n,
        false_rate=100.0 * sum(i["states_false"] for i in items) / n if has_false else None,
        neither_rate=100.0 * sum(not i["states_true"] and not i["states_false"] for i in items) / n,
        items=items,
    )


def fact_rates(model: nn.Module, tokenizer: "PreTrainedTokenizerBase", facts: Sequence[FactQuestion], *,
               max_new_tokens: int = 32, batch_size: int = 16) -> FactRates:
    """Ask ``model`` every question and score the answers (:func:`rates`)."""
    answers = answer_questions(model, tokenizer, [f.question for f in facts], max_new_tokens=max_new_tokens,
                               batch_size=batch_size)
    return rates(answers, facts)
