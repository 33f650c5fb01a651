"""Documents -> token datasets for the shared training loop, and token log-probabilities.

Decisions:
- Every sequence is ``BOS + text`` (BOS when the tokenizer defines one, as Llama pretraining does);
  training and scoring sequences also end with EOS, so the model learns where a document stops.
- A dataset (:class:`TokenDataset`) stores its sequences unpadded, as one flat array of token ids in the
  smallest dtype that holds the vocabulary (uint16 up to 65536 tokens, else int32) plus offsets:
  about 2 bytes per token, whatever ``max_length`` is. Texts are tokenised in chunks of at most
  :data:`CHUNK_TEXTS` texts and about :data:`CHUNK_CHARS` characters (one batched tokenizer call
  each), so an iterable of texts streams through in bounded memory.
- Batches are padded on the right to their longest sequence (:meth:`TokenDataset.collate`, which the
  training loop's loader uses), the same tensors the former fixed-length dataset gave after trimming
  each batch, so losses and log-probs are unchanged.
- Labels equal the input ids with padding set to -100; the loss is the mean next-token NLL over all
  real target tokens of the batch (the Hugging Face convention).
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

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


#: at most this many texts, and about this many characters, per batched tokenizer call
#: (this bounds the tokenizer's output for one chunk, Python lists and Rust encodings far larger than the
#: ids: the constant term of the memory budget measured by benchmarks/lm_memory.py)
CHUNK_TEXTS, CHUNK_CHARS = 1024, 1 << 18
#: a text longer than this many characters per allowed token is tokenised by growing prefixes (see
#: :func:`_encode_truncated`), so one huge document never becomes one huge token list
_CHARS_PER_TOKEN_CAP = 32
#: tokens beyond ``max_length`` a prefix must yield before its first ``max_length`` tokens are trusted
#: (a cut inside a word changes only that word's tokens)
_PREFIX_MARGIN = 64


def token_dtype(vocab_size: int) -> np.dtype:
    """The smallest dtype that holds every id of a ``vocab_size`` vocabulary: uint16 or int32."""
    return np.dtype(np.uint16) if vocab_size <= np.iinfo(np.uint16).max + 1 else np.dtype(np.int32)


class TokenDataset(Dataset):
    """Unpadded token sequences: item ``i`` is ``(input_ids, attention_mask, labels, *values[i])``, each 1-D.

    ``ids`` is the flat id array and ``offsets`` (N + 1) the sequence boundaries; ``labels`` (optional,
    flat like ``ids``, -100 for "no target") replaces the default labels (the ids themselves); ``values``
    (optional, (N,) or (N, k)) are per-sequence numbers returned after the three token tensors (e.g. a
    reference log-probability). Use :meth:`collate` to batch items (the training loop's loader does).
    """

    def __init__(self, ids: np.ndarray, offsets: np.ndarray, *, pad: int, max_length: int,
                 labels: np.ndarray | None = None, values: torch.Tensor | None = None) -> None:
        if offsets.ndim != 1 or len(offsets) < 1 or offsets[0] != 0 or offsets[-1] != len(ids):
            raise ValueError("offsets must run from 0 to len(ids)")
        if labels is not None and labels.shape != ids.shape:
            raise ValueError(f"labels have shape {labels.shape}, ids {ids.shape}")
        if values is not None and len(values) != len(offsets) - 1:
            raise ValueError(f"{len(values)} values for {len(offsets) - 1} sequences")
        self.ids, self.offsets, self.pad, self.max_length = ids, offsets, int(pad), int(max_length)
        self.labels, self.values = labels, values

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        """Each sequence's number of tokens, (N,) int64."""
        return np.diff(self.offsets)

    def sequence(self, i: int) -> np.ndarray:
        """The token ids of sequence ``i`` (a view, in the storage dtype)."""
        return self.ids[self.offsets[i]:self.offsets[i + 1]]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, ...]:
        i = int(i)
        if not -len(self) <= i < len(self):
            raise IndexError(f"sequence {i} of a {len(self)}-sequence dataset")
        i %= len(self)
        ids = torch.from_numpy(self.sequence(i).astype(np.int64))
        labels = (ids.clone() if self.labels is None else
                  torch.from_numpy(self.labels[self.offsets[i]:self.offsets[i + 1]].astype(np.int64)))
        extra = () if self.values is None else (self.values[i],)
        return (ids, torch.ones_like(ids), labels, *extra)

    def collate(self, items: Sequence[tuple[torch.Tensor, ...]], pad_to: int | None = None) -> list[torch.Tensor]:
        """Items -> ``[input_ids, attention_mask, labels, *values]``, (B, T) right-padded to the longest
        sequence (or to ``pad_to``): pad id, mask 0, label -100."""
        width = max([len(item[0]) for item in items] + [pad_to or 0])
        ids = torch.full((len(items), width), self.pad, dtype=torch.long)
        mask = torch.zeros((len(items), width), dtype=torch.long)
        labels = torch.full((len(items), width), IGNORE, dtype=torch.long)
        for row, item in enumerate(items):
            n = len(item[0])
            ids[row, :n], mask[row, :n], labels[row, :n] = item[0], item[1], item[2]
        extra = [] if self.values is None else [torch.stack([item[3] for item in items])]
        return [ids, mask, labels, *extra]

    def batch(self, indices: Iterable[int], pad_to: int | None = None) -> list[torch.Tensor]:
        """The collated batch of the sequences at ``indices``."""
        return self.collate([self[int(i)] for i in indices], pad_to=pad_to)

    def batches(self, batch_size: int, pad_to: int | None = None) -> Iterator[list[torch.Tensor]]:
        """Consecutive collated batches of ``batch_size`` sequences, in order."""
        for start in range(0, len(self), batch_size):
            yield self.batch(range(start, min(start + batch_size, len(self))), pad_to=pad_to)

    @property
    def tensors(self) -> list[torch.Tensor]:
        """The whole dataset as one padded batch (for small datasets and tests; training and evaluation
        go through :meth:`batches` / the loader)."""
        return self.batch(range(len(self)))

    def with_values(self, values: torch.Tensor) -> "TokenDataset":
        """The same sequences (shared storage) with per-sequence ``values``."""
        return TokenDataset(self.ids, self.offsets, pad=self.pad, max_length=self.max_length, labels=self.labels,
                            values=values)

    def nbytes(self) -> int:
        """Bytes held by the arrays (ids, offsets, labels and values)."""
        extra = (self.labels.nbytes if self.labels is not None else 0) + (
            self.values.numel() * self.values.element_size() if self.values is not None else 0)
        return int(self.ids.nbytes + self.offsets.nbytes + extra)


def _chunks(texts: Iterable[str], size: int, chars: int = CHUNK_CHARS) -> Iterator[list[str]]:
    """Consecutive lists of at most ``size`` texts and about ``chars`` characters."""
    chunk: list[str] = []
    total = 0
    for text in texts:
        chunk.append(text)
        total += len(text)
        if len(chunk) >= size or total >= chars:
            yield chunk
            chunk, total = [], 0
    if chunk:
        yield chunk


def _encode_truncated(tokenizer: "PreTrainedTokenizerBase", text: str, max_length: int) -> tuple[list[int], bool]:
    """:func:`encode` of one long ``text`` cut to ``max_length`` tokens, tokenising growing prefixes
    rather than the whole text; and whether it was cut."""
    size = _CHARS_PER_TOKEN_CAP * (max_length + _PREFIX_MARGIN)
    while size < len(text):
        seq = encode(tokenizer, text[:size], add_eos=True)
        if len(seq) > max_length + _PREFIX_MARGIN:
            return seq[:max_length], True
        size *= 4
    seq = encode(tokenizer, text, add_eos=True)
    return seq[:max_length], len(seq) > max_length


def lm_dataset(
    tokenizer: "PreTrainedTokenizerBase", texts: Iterable[str], *, max_length: int = 128,
    chunk_texts: int = CHUNK_TEXTS,
) -> TokenDataset:
    """A :class:`TokenDataset` of ``BOS + text + EOS`` for each text, cut to ``max_length`` tokens.

    ``texts`` may be any iterable (a generator streams: only one chunk of texts and their token lists
    is alive at a time). Longer sequences are truncated, with a warning that says how many.
    """
    if max_length < 2:
        raise ConfigError(f"max_length must be >= 2 (one prediction needs two tokens), got {max_length}")
    pad = pad_id(tokenizer)
    dtype = token_dtype(len(tokenizer))
    limit = _CHARS_PER_TOKEN_CAP * (max_length + _PREFIX_MARGIN)
    parts: list[np.ndarray] = []
    lengths: list[np.ndarray] = []
    truncated = 0
    for chunk in _chunks(texts, chunk_texts):
        short = [i for i, t in enumerate(chunk) if len(t) <= limit]
        seqs: list[list[int]] = [[] for _ in chunk]
        for i, seq in zip(short, encode_all(tokenizer, [chunk[i] for i in short], add_eos=True)):
            truncated += len(seq) > max_length
            seqs[i] = seq[:max_length]
        for i in sorted(set(range(len(chunk))) - set(short)):
            seqs[i], cut = _encode_truncated(tokenizer, chunk[i], max_length)
            truncated += cut
        flat = np.fromiter(itertools.chain.from_iterable(seqs), dtype=np.int64, count=sum(map(len, seqs)))
        if len(flat) and (flat.min() < 0 or flat.max() > np.iinfo(dtype).max):
            raise ConfigError(f"the tokenizer produced token id {int(flat.max())}, outside its vocabulary of "
                              f"{len(tokenizer)}")
        parts.append(flat.astype(dtype))
        lengths.append(np.fromiter(map(len, seqs), dtype=np.int64, count=len(seqs)))
        del chunk, seqs, flat
    if not lengths:
        raise ConfigError("lm_dataset needs at least one text")
    offsets = np.zeros(sum(map(len, lengths)) + 1, dtype=np.int64)
    np.cumsum(np.concatenate(lengths), out=offsets[1:])
    ids = np.concatenate(parts) if len(parts) > 1 else parts[0]
    del parts
    if truncated:
        warnings.warn(f"{truncated} of {len(offsets) - 1} texts are longer than max_length={max_length} tokens "
                      "and were truncated", stacklevel=2)
    return TokenDataset(ids, offsets, pad=pad, max_length=max_length)


def as_dataset(tokenizer: "PreTrainedTokenizerBase", documents: Iterable[str] | TokenDataset,
               max_length: int) -> TokenDataset:
    """``documents`` as they are if already a :class:`TokenDataset`, else :func:`lm_dataset` of them."""
    if isinstance(documents, TokenDataset):
        return documents
    return lm_dataset(tokenizer, documents, max_length=max_length)


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

    ``tensors`` is one stream of a batch, (input_ids, attention_mask, labels) as :meth:`TokenDataset.collate`
    makes (a batch padded wider than its longest sequence is trimmed first).
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
