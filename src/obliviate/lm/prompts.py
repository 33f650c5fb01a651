"""The question-answer text format, shared by training data and the KnowMem evaluation.

Decision: a prompt ends with ``"Answer:"`` without a trailing space. Byte-level BPE tokenizers
attach the space to the next word (" Paris" is one token), so a trailing space would force the
model to continue with an unusual space-less token; the generated answer is stripped instead.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_ANSWER_END = re.compile(r"\n\s*\n|Question")


def qa_text(question: str, answer: str) -> str:
    """One question-answer pair as text: ``Question: ...\\nAnswer: ...``."""
    return f"Question: {question}\nAnswer: {answer}"


def knowmem_prompt(question: str, few_shot: Sequence[tuple[str, str]] = ()) -> str:
    """Few-shot pairs separated by blank lines, then the question and ``Answer:``."""
    shots = "".join(qa_text(q, a) + "\n\n" for q, a in few_shot)
    return f"{shots}Question: {question}\nAnswer:"


def cut_answer(generated: str) -> str:
    """The answer part of a generation: up to the first blank line or the next ``Question``."""
    match = _ANSWER_END.search(generated)
    return (generated[: match.start()] if match else generated).strip()
