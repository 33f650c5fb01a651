"""``obliviate bench lm --benchmark tofu [--data DIR_OR_HUB_ID]``: a published benchmark's bench on the lm
family's models. Without ``--data`` the data is the embedded bios corpus written in the benchmark's layout
under the cache (:mod:`obliviate.lm.bios_tofu`), so the offline default runs the real benchmark's loader,
protocol and metrics; giving the published directory or hub id switches to the real benchmark.

Models (``--model``):
- ``smollm2``: the pretrained SmolLM2-135M-Instruct (its chat template formats the questions), fine-tuned
  with the benchmark's own recipe and method defaults (TOFU's);
- ``tiny`` / ``small``: a Llama trained from scratch, so the fine-tune and the methods use the lm family's
  from-scratch recipes (:data:`~obliviate.lm.bench.TRAIN_RECIPES`, :data:`~obliviate.lm.bench.TINY_METHOD_PARAMS`:
  TOFU's lr 1e-5 moves a model from random weights by nothing). Its start is a cached directory: a byte-level
  BPE tokenizer trained on every text of the benchmark's splits and the Llama initialised with seed 0 (seeds
  then vary the data order and the methods, not the initial weights);
- a Hugging Face model directory: fine-tuned with the benchmark's recipe, as ``obliviate bench tofu`` does.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path
from typing import Any

from ..bench.cache import cached_directory, default_cache_dir
from ..bench.options import BenchOptions, kv
from ..errors import ConfigError
from ..families import Bench
from .bios import make_bios
from .bios_tofu import CORPUS_ARGS as BIOS_TOFU_ARGS, LAYOUT_VERSION as TOFU_LAYOUT_VERSION, write_bios_tofu


def _split_texts(data: str | Path) -> list[str]:
    """Every question and answer of a TOFU-layout source (the tokenizer's training text)."""
    from .benchmarks.tofu import load_split
    from .prompts import qa_text

    texts = []
    for split in ("full", "forget10_perturbed", "retain_perturbed", "real_authors_perturbed",
                  "world_facts_perturbed"):
        for item in load_split(data, split):
            texts.append(qa_text(item.question, item.answer))
            texts.extend(a for a in (item.paraphrased_answer, *item.perturbed_answers) if a)
    return texts


def scratch_base(cache_dir: Path, size: str, data: str | Path, *, vocab_size: int = 512) -> Path:
    """The cached start of a from-scratch ``size`` Llama on ``data``: tokenizer and seed-0 weights."""
    from .model import save_causal_lm, tiny_llama
    from .tokenizer import train_bpe_tokenizer

    texts = _split_texts(data)
    digest = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    key = {"size": size, "data": digest, "vocab_size": vocab_size, "init_seed": 0}

    def write(target: Path) -> None:
        tok = train_bpe_tokenizer(texts, vocab_size=vocab_size)
        save_causal_lm(tiny_llama(len(tok), size=size, seed=0), tok, target)

    return cached_directory(cache_dir, f"lm-base-{size}", key, write)


def bios_tofu_dir(cache_dir: str | Path, people: int, *, seed: int = 0) -> Path:
    """The cached TOFU-layout directory of a ``people``-person bios corpus (written on first use,
    verified on every later one)."""
    if people < 10:
        raise ConfigError(f"the TOFU layout of bios needs at least 10 people (forget10 is 10% of them), got {people}")
    key = {"corpus": "bios", "people": people, "seed": seed, **BIOS_TOFU_ARGS, "layout": "tofu",
           "version": TOFU_LAYOUT_VERSION}
    return cached_directory(Path(cache_dir), "bios-tofu", key,
                            lambda target: write_bios_tofu(make_bios(people, seed=seed, **BIOS_TOFU_ARGS), target))


def tofu_bench(args: argparse.Namespace, options: BenchOptions) -> Bench:
    """The TOFU bench of ``bench lm --benchmark tofu`` (see the module doc)."""
    from .bench import PRETRAINED, TINY_METHOD_PARAMS, TRAIN_RECIPES
    from .bench_tofu import TOFU_METHODS, TofuBench

    cache_dir = Path(options.cache_dir) if options.cache_dir else default_cache_dir()
    data = args.data or bios_tofu_dir(cache_dir, args.people)
    extra: dict[str, Any] = {}
    if args.model in PRETRAINED:
        from .smollm2 import converted_dir

        model = converted_dir(cache_dir)
    elif args.model in TRAIN_RECIPES:
        model = scratch_base(cache_dir, args.model, data)
        extra = {"train_defaults": dict(TRAIN_RECIPES[args.model]), "method_table": TINY_METHOD_PARAMS}
    elif Path(args.model).is_dir():
        model = Path(args.model)
    else:
        raise ConfigError(f"--model {args.model!r}: expected tiny, small, smollm2 or a Hugging Face model directory")
    return TofuBench(data=str(data), model=str(model), forget_split=args.forget_split,
                     methods=options.methods or list(TOFU_METHODS), seeds=options.seeds, params=options.params,
                     train=options.train, eval=kv(args.eval, "--eval"), cache_dir=options.cache_dir,
                     recipe=args.recipe, label=Path(args.model).name if Path(args.model).is_dir() else args.model, **extra)
