"""A byte-level BPE tokenizer trained locally on the corpus (well under a second for ``bios``).

Byte-level means every string can be encoded (no unknown token). The tokenizer is wrapped as a
transformers ``PreTrainedTokenizerFast`` with ``<pad>``, ``<s>`` (BOS) and ``</s>`` (EOS); calling it
with ``add_special_tokens=True`` prepends BOS, as Llama tokenizers do. Its vocabulary size is what the
training found, at most ``vocab_size``: build the model with ``len(tokenizer)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..errors import ConfigError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

PAD, BOS, EOS = "<pad>", "<s>", "</s>"


def train_bpe_tokenizer(
    texts: Iterable[str], *, vocab_size: int = 2048, min_frequency: int = 2, model_max_length: int = 512
) -> "PreTrainedTokenizerFast":
    """Train a byte-level BPE tokenizer on ``texts`` and wrap it for transformers."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    texts = list(texts)
    if not texts:
        raise ConfigError("train_bpe_tokenizer needs at least one text")
    base = 256 + 3  # the byte alphabet and the three special tokens
    if vocab_size < base:
        raise ConfigError(f"vocab_size must be at least {base} (256 bytes + 3 special tokens), got {vocab_size}")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=[PAD, BOS, EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, tok.token_to_id(BOS))]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token=PAD, bos_token=BOS, eos_token=EOS, model_max_length=model_max_length
    )
