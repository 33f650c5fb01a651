"""The causal language-model family: the embedded ``bios`` corpus, a locally trained tokenizer,
small Llama models, loading / saving Hugging Face causal LMs, data and training on the shared loop.

Metrics live in :mod:`obliviate.metrics.lm_mia` (membership inference) and
:mod:`obliviate.metrics.lm_muse` (VerbMem, KnowMem, perplexity). Submodules import transformers only
when a function needs it, so importing this package stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "BiosCorpus": "bios", "make_bios": "bios",
    "train_bpe_tokenizer": "tokenizer",
    "LM_SIZES": "model", "TokenizerMismatchError": "model", "default_device": "model", "load_causal_lm": "model",
    "save_causal_lm": "model", "tiny_llama": "model",
    "causal_lm_loss": "data", "encode": "data", "lm_dataset": "data", "sequence_logprobs": "data",
    "TokenDataset": "data",
    "LMTrainConfig": "train", "train_lm": "train",
    "read_documents": "documents", "LoraSpec": "lora", "unlearn_lm": "unlearn",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
