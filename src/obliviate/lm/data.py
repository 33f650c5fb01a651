"""Documents -> token tensors for the shared training loop, and token log-probabilities.

Decisions:
- Every sequence is ``BOS + text`` (BOS when the tokenizer defines one, as Llama pretraining does);
  training and scoring sequences also end with EOS, so the model learns where a document stops.
- Sequences are right-padded to a fixed ``max_length`` in the dataset; each batch is trimmed to its
  longest sequence before the forward pass, so the fixed length costs no compute.
- Labels equal the input ids with padding set to -100; the loss is the mean next-token NLL over all
  real target tokens of the batch (the Hugging Face convention).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

from ..errors import ConfigError
from ..training.loop import Batch, LossFn

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

IGNORE = -100


def encode_all(
    tokenizer: "PreTrainedTokenizerBase", texts: Sequence[str], *, add_eos: bool = False
) -> list[list[int]]:
    """``[BOS] + tokens(text) (+ [EOS])`` for each text, independent of the tokenizer's own
    post-processing (one batched tokenizer call)."""
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    eos = [tokenizer.eos_token_id] if add_eos and tokenizer.eos_token_id is not None else []
    bodies = tokenizer(list(texts), add_special_tokens=False)["input_ids"] if texts else []
    return [bos + list(ids) + eos for ids in bodies]


def encode(tokenizer: "PreTrainedTokenizerBase", text: str, *, add_eos: bool = False) -> list[int]:
    """:func:`encode_all` for one text."""
    return encode_all(tokenizer, [text], add_eos=add_eos)[0]


def pad_id(tokenizer: "PreTrainedTokenizerBase") -> int:
    """The pad token id, falling back to EOS (padding is masked, so its value never matters)."""
    value = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if value is None:
        raise ConfigError("the tokenizer has neither a pad nor an EOS token; set tokenizer.pad_token")
    return int(value)


def lm_dataset(
    tokenizer: "PreTrainedTokenizerBase", texts: Sequence[str], *, max_length: int = 128
) -> TensorDataset:
    """A ``TensorDataset`` of (input_ids, attention_mask, labels), each (N, max_length), right-padded.

    Longer sequences are truncated, with a warning that says how many.
    """
    if max_length < 2:
        raise ConfigError(f"max_length must be >= 2 (one prediction needs two tokens), got {max_length}")
    if not texts:
        raise ConfigError("lm_dataset needs at least one text")
    pad = pad_id(tokenizer)
    ids = torch.full((len(texts), max_length), pad, dtype=torch.long)
    mask = torch.zeros((len(texts), max_length), dtype=torch.long)
    truncated = 0
    for i, seq in enumerate(encode_all(tokenizer, texts, add_eos=True)):
        truncated += len(seq) > max_length
        seq = seq[:max_length]
        ids[i, : len(seq)] = torch.tensor(seq)
        mask[i, : len(seq)] = 1
    if truncated:
        warnings.warn(f"{truncated} of {len(texts)} texts are longer than max_length={max_length} tokens "
                      "and were truncated", stacklevel=2)
    labels = ids.masked_fill(mask == 0, IGNORE)
    return TensorDataset(ids, mask, labels)


def trim(input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Drop the columns that are padding in every row of a right-padded batch."""
    n = max(int(attention_mask.sum(1).max()), 1)
    return input_ids[:, :n], attention_mask[:, :n], labels[:, :n]


def token_logprobs(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """log p(x_t | x_<t) of every target token, shape (B, T-1) (0 where masked), and the bool mask."""
    targets = labels[:, 1:]
    nll = F.cross_entropy(
        logits[:, :-1].flatten(0, 1).float(), targets.flatten(), ignore_index=IGNORE, reduction="none"
    )
    return -nll.view_as(targets), targets != IGNORE


def forward_logits(model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    return model(input_ids=input_ids, attention_mask=attention_mask).logits


def sequence_logprobs(model: nn.Module, tensors: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per sequence: the summed log-probability of its target tokens and their number, each (B,).

    ``tensors`` is one stream of a batch, (input_ids, attention_mask, labels) as :func:`lm_dataset` makes.
    """
    input_ids, attention_mask, labels = trim(*tensors)
    logp, mask = token_logprobs(forward_logits(model, input_ids, attention_mask), labels)
    return logp.sum(1), mask.sum(1)


def causal_lm_loss(stream: str, *, sign: float = 1.0) -> LossFn:
    """``loss_fn(model, batch)`` for :func:`obliviate.training.fit`: mean next-token NLL on ``stream``.

    ``sign=-1`` gives gradient ascent.
    """

    def loss_fn(model: nn.Module, batch: Batch) -> torch.Tensor:
        logp, n_tokens = sequence_logprobs(model, batch[stream])
        return -sign * logp.sum() / n_tokens.sum()

    return loss_fn
