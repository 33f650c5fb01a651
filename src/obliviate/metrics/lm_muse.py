"""MUSE's generation metrics (Shi et al. 2024) and perplexity, for any causal LM + tokenizer.

- :func:`verbmem` (C1): prompt with the first ``prefix_tokens`` tokens of each document, greedy-generate
  up to ``max_new_tokens``, ROUGE-L F1 against the true continuation (the next ``max_new_tokens``
  tokens); mean x 100. MUSE uses 32 / 128; shorter documents need a shorter prefix.
- :func:`knowmem` (C2 on forget QA, C4 on retain QA): ``Question: ...\\nAnswer:`` prompt after optional
  few-shot pairs, greedy generation of up to 32 tokens cut at a blank line or the next ``Question``,
  ROUGE-L F1 against the gold answer; mean x 100. MUSE prompts pretrained models few-shot; the
  default here is zero-shot, because a model trained from scratch on single QA texts breaks on
  several pairs in one prompt (tiny bios model, retain questions: ROUGE 8 with three shots, 100
  without).
- :func:`perplexity`: exp of the token-weighted mean NLL on held-out text (utility).

ROUGE-L is rouge-score's F1 without stemming. Generation is batched with left padding and is
greedy: batching changes no result (tested against one prompt at a time).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ..errors import ConfigError
from ..lm.data import encode_all, lm_dataset, pad_id, sequence_logprobs
from ..lm.model import eval_mode, model_device
from ..lm.prompts import cut_answer, knowmem_prompt

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


@lru_cache(maxsize=2)
def rouge_scorer(use_stemmer: bool = False):
    """rouge-score's ROUGE-L scorer (one cached instance per ``use_stemmer``)."""
    import logging

    root_handlers = list(logging.root.handlers)
    from rouge_score import rouge_scorer as rs

    scorer = rs.RougeScorer(["rougeL"], use_stemmer=use_stemmer)
    logging.root.handlers[:] = root_handlers  # its imports install a stderr handler on the root logger
    return scorer


def rouge_l_f1(prediction: str, reference: str) -> float:
    """ROUGE-L F1 in [0, 1] (rouge-score, no stemmer: lower-cased alphanumeric tokens)."""
    return float(rouge_scorer().score(reference, prediction)["rougeL"].fmeasure)


@dataclass
class GenerationScores:
    """Mean ROUGE-L F1 x 100 and, per item, the prompt's reference and the model's output."""

    score: float
    items: list[dict[str, Any]] = field(repr=False)


def left_pad(prompts: Sequence[Sequence[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask) with every prompt aligned to the right (generation's padding)."""
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, prompt in enumerate(prompts):
        ids[row, width - len(prompt):] = torch.tensor(list(prompt), dtype=torch.long)
        mask[row, width - len(prompt):] = 1
    return ids, mask


@torch.inference_mode()
def greedy_generate(
    model: nn.Module,
    tokenizer: "PreTrainedTokenizerBase",
    prompts: Sequence[Sequence[int]],
    *,
    max_new_tokens: int,
    batch_size: int = 16,
) -> list[list[int]]:
    """Greedy continuations (new token ids, cut before the first EOS) of token-id prompts.

    Prompts are batched by length and left-padded; results come back in input order.
    """
    from transformers import GenerationConfig

    if max_new_tokens < 1 or batch_size < 1:
        raise ConfigError(f"max_new_tokens and batch_size must be >= 1, got {max_new_tokens} and {batch_size}")
    if any(len(p) == 0 for p in prompts):
        raise ConfigError("every prompt needs at least one token")
    pad, eos = pad_id(tokenizer), tokenizer.eos_token_id
    config = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=False, num_beams=1,
                              pad_token_id=pad, eos_token_id=eos, bos_token_id=tokenizer.bos_token_id)
    device = model_device(model)
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    out: list[list[int]] = [[] for _ in prompts]
    with eval_mode(model):
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            ids, mask = left_pad([prompts[i] for i in idx], pad)
            generated = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device),
                                       generation_config=config)
            for row, i in enumerate(idx):
                new = generated[row, ids.shape[1]:].tolist()
                out[i] = new[: new.index(eos)] if eos in new else new
    return out


def verbmem(
    model: nn.Module,
    tokenizer: "PreTrainedTokenizerBase",
    documents: Sequence[str],
    *,
    prefix_tokens: int = 32,
    max_new_tokens: int = 128,
    batch_size: int = 16,
) -> GenerationScores:
    """MUSE VerbMem: ROUGE-L F1 x 100 of the continuation of each document's first tokens."""
    if prefix_tokens < 1:
        raise ConfigError(f"prefix_tokens must be >= 1, got {prefix_tokens}")
    contents = encode_all(tokenizer, documents)
    n_bos = int(tokenizer.bos_token_id is not None)  # encode_all's leading BOS
    too_short = sum(len(c) - n_bos <= prefix_tokens for c in contents)
    if too_short:
        shortest = min(len(c) - n_bos for c in contents)
        raise ConfigError(f"VerbMem: {too_short} of {len(documents)} documents have no tokens after a "
                          f"{prefix_tokens}-token prefix (shortest: {shortest} tokens); "
                          "use a smaller prefix_tokens")
    prompts = [c[: n_bos + prefix_tokens] for c in contents]
    references = [tokenizer.decode(c[n_bos + prefix_tokens: n_bos + prefix_tokens + max_new_tokens],
                                   skip_special_tokens=True) for c in contents]
    outputs = greedy_generate(model, tokenizer, prompts, max_new_tokens=max_new_tokens, batch_size=batch_size)
    items = []
    for prompt, reference, output in zip(prompts, references, outputs):
        text = tokenizer.decode(output, skip_special_tokens=True)
        items.append({"prompt": tokenizer.decode(prompt, skip_special_tokens=True), "reference": reference,
                      "output": text, "rouge_l_f1": rouge_l_f1(text, reference)})
    return _summarise(items)


def knowmem(
    model: nn.Module,
    tokenizer: "PreTrainedTokenizerBase",
    qa: Sequence[tuple[str, str]],
    *,
    few_shot: Sequence[tuple[str, str]] = (),
    max_new_tokens: int = 32,
    batch_size: int = 16,
) -> GenerationScores:
    """MUSE KnowMem: ROUGE-L F1 x 100 of the model's answers to ``(question, answer)`` pairs."""
    prompts = encode_all(tokenizer, [knowmem_prompt(q, few_shot) for q, _ in qa])
    outputs = greedy_generate(model, tokenizer, prompts, max_new_tokens=max_new_tokens, batch_size=batch_size)
    items = []
    for (question, answer), output in zip(qa, outputs):
        text = cut_answer(tokenizer.decode(output, skip_special_tokens=True))
        items.append({"question": question, "reference": answer, "output": text,
                      "rouge_l_f1": rouge_l_f1(text, answer)})
    return _summarise(items)


def _summarise(items: list[dict[str, Any]]) -> GenerationScores:
    if not items:
        raise ConfigError("nothing to evaluate: the list of documents or questions is empty")
    return GenerationScores(100.0 * sum(i["rouge_l_f1"] for i in items) / len(items), items)


@torch.inference_mode()
def mean_nll(
    model: nn.Module,
    tokenizer: "PreTrainedTokenizerBase",
    texts: Sequence[str],
    *,
    batch_size: int = 16,
    max_length: int = 512,
) -> float:
    """Token-weighted mean next-token loss (nats) of ``texts`` (each BOS + text + EOS) under ``model``."""
    dataset = lm_dataset(tokenizer, texts, max_length=max_length)
    device = model_device(model)
    total, count = 0.0, 0
    with eval_mode(model):
        for batch in dataset.batches(batch_size):
            logp, n = sequence_logprobs(model, [t.to(device) for t in batch])
            total, count = total - float(logp.sum()), count + int(n.sum())
    return total / count


def perplexity(
    model: nn.Module,
    tokenizer: "PreTrainedTokenizerBase",
    texts: Sequence[str],
    *,
    batch_size: int = 16,
    max_length: int = 512,
) -> float:
    """exp(total NLL / total target tokens) over ``texts`` (each BOS + text + EOS)."""
    return math.exp(mean_nll(model, tokenizer, texts, batch_size=batch_size, max_length=max_length))
