"""A tiny Llama pretrained without privacy on general text (the King James Bible), cached once and shared by
every seed: the start of the LM bench's ``pretrain="kjv"`` pipeline, DP2Unlearning's regime (its paper
starts from pretrained Phi-1.5 / Llama-2 and fine-tunes them on TOFU).

Decisions:
- General text = KJV verses (Debian's ``bible-kjv``, :mod:`obliviate.lm.kjv`), not bios'
  ``general_train``: the latter is part of every bios original's training data (same templates and
  invented nouns), so "pretraining" on it would be fine-tuning data seen twice; the KJV shares no person,
  fact or template with bios (its people are biblical, bios' names are generated).
- A seeded sample of :data:`PRETRAIN_VERSES` verses from the whole Bible (one verse a document, median
  56 tokens, 33 of 6000 cut at 128); the sample seed is fixed, so every bench seed starts from the same
  pretrained model, as the paper's runs all start from one public checkpoint.
- The tokenizer is fitted on the pretraining text only (a pretrained model's tokenizer does not know
  the fine-tuning data): bios documents then take ~70 tokens instead of ~46 with a bios-fitted one, a
  few are cut at the bench's max_length 128, alike for every model of the bench.
- Recipe (:data:`PRETRAIN_RECIPE`): the bench's training recipe (Adam, lr 3e-3, batch 16, cosine) for
  2 passes, sized for the shared 2-core CPU (about 0.7M training tokens).
- The bench keeps it as a verified cache directory (safetensors + tokenizer) keyed by :func:`pretrain_key`
  (``LMBench.pretrained_start``); this module does not know the cache.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

from ..errors import ConfigError

#: general-text corpora a bench can pretrain on
PRETRAIN_CORPORA = ("kjv",)
#: KJV verses in the pretraining sample
PRETRAIN_VERSES = 6000
#: LMTrainConfig fields of the pretraining run
PRETRAIN_RECIPE: dict[str, Any] = {"epochs": 2, "lr": 3e-3, "batch_size": 16}
#: the seed of the verse sample, the initialisation and the data order (one pretrained model for all seeds)
PRETRAIN_SEED = 0


def pretrain_texts(corpus: str = "kjv", n: int | None = None, seed: int = PRETRAIN_SEED) -> list[str]:
    """The pretraining documents: a seeded sample of ``n`` (default :data:`PRETRAIN_VERSES`) KJV verses."""
    n = PRETRAIN_VERSES if n is None else n
    if corpus not in PRETRAIN_CORPORA:
        raise ConfigError(f"unknown pretraining corpus {corpus!r}; known: {', '.join(PRETRAIN_CORPORA)}")
    from .kjv import kjv_verses

    verses = kjv_verses()
    if n > len(verses):
        raise ConfigError(f"the pretraining sample of {n} verses exceeds the {len(verses)} KJV verses")
    chosen = sorted(random.Random(seed).sample(range(len(verses)), n))
    return [verses[i].text for i in chosen]


def pretrain_key(corpus: str, size: str, vocab_size: int, max_length: int, n: int | None = None,
                 recipe: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything that determines the pretrained model (its cache key; defaults: the module's constants)."""
    return {"corpus": corpus, "size": size, "vocab_size": vocab_size, "max_length": max_length,
            "verses": PRETRAIN_VERSES if n is None else n,
            "recipe": dict(recipe or PRETRAIN_RECIPE), "seed": PRETRAIN_SEED}


def pretrain(target: Path, key: dict[str, Any]) -> float:
    """Fit the tokenizer, pretrain the model and save both to ``target``; returns the seconds it took."""
    from ..utils.seeding import seed_everything
    from .data import lm_dataset
    from .model import save_causal_lm, tiny_llama
    from .tokenizer import train_bpe_tokenizer
    from .train import LMTrainConfig, train_lm

    start = time.perf_counter()
    texts = pretrain_texts(key["corpus"], key["verses"], key["seed"])
    tok = train_bpe_tokenizer(texts, vocab_size=key["vocab_size"])
    seed_everything(key["seed"])
    model = tiny_llama(len(tok), size=key["size"], seed=key["seed"],
                       max_position_embeddings=max(512, key["max_length"]))
    train_lm(model, lm_dataset(tok, texts, max_length=key["max_length"]), LMTrainConfig.from_params(key["recipe"]),
             seed=key["seed"], desc=f"pretrain {key['size']} on {key['corpus']}")
    model.config.pretraining = {**key, "seconds": time.perf_counter() - start}
    save_causal_lm(model, tok, target)
    return time.perf_counter() - start
