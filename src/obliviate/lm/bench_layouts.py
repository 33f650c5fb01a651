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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..bench.cache import cached_directory, config_hash, default_cache_dir
from ..bench.options import BenchOptions, kv
from ..errors import ConfigError
from ..families import Bench
from .bios import make_bios
from .benchmarks.tofu import TofuItem
from .bios_tofu import CORPUS_ARGS as BIOS_TOFU_ARGS, LAYOUT_VERSION as TOFU_LAYOUT_VERSION, tofu_splits, write_bios_tofu


@dataclass(frozen=True)
class PlannedEntry:
    """A cache entry whose path is known before it is written (:func:`~obliviate.bench.cache.cached_directory`
    writes it on :meth:`ensure`), so building a bench, and ``--dry-run``, write nothing."""

    cache_dir: Path
    kind: str
    key: dict[str, Any]
    write: Callable[[Path], Any]

    @property
    def path(self) -> Path:
        return Path(self.cache_dir) / f"{self.kind}-{config_hash(self.key)}"

    def ensure(self) -> Path:
        return cached_directory(Path(self.cache_dir), self.kind, self.key, self.write)


#: the TOFU splits whose texts train a from-scratch model's tokenizer
TOKENIZER_SPLITS = ("full", "forget10_perturbed", "retain_perturbed", "real_authors_perturbed", "world_facts_perturbed")


def _texts(items: Mapping[str, Sequence[TofuItem]]) -> list[str]:
    """Every question and answer of the :data:`TOKENIZER_SPLITS` (the tokenizer's training text)."""
    from .prompts import qa_text

    texts = []
    for split in TOKENIZER_SPLITS:
        for item in items[split]:
            texts.append(qa_text(item.question, item.answer))
            texts.extend(a for a in (item.paraphrased_answer, *item.perturbed_answers) if a)
    return texts


def scratch_base(cache_dir: Path, size: str, texts: list[str], *, vocab_size: int = 512) -> PlannedEntry:
    """The cache entry of a from-scratch ``size`` Llama's start on ``texts``: tokenizer and seed-0 weights."""
    from .model import save_causal_lm, tiny_llama
    from .tokenizer import train_bpe_tokenizer

    digest = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    key = {"size": size, "data": digest, "vocab_size": vocab_size, "init_seed": 0}

    def write(target: Path) -> None:
        tok = train_bpe_tokenizer(texts, vocab_size=vocab_size)
        save_causal_lm(tiny_llama(len(tok), size=size, seed=0), tok, target)

    return PlannedEntry(cache_dir, f"lm-base-{size}", key, write)


def bios_tofu(cache_dir: str | Path, people: int, *, seed: int = 0) -> PlannedEntry:
    """The cache entry of a ``people``-person bios corpus in TOFU's layout."""
    if people < 10:
        raise ConfigError(f"the TOFU layout of bios needs at least 10 people (forget10 is 10% of them), got {people}")
    key = {"corpus": "bios", "people": people, "seed": seed, **BIOS_TOFU_ARGS, "layout": "tofu",
           "version": TOFU_LAYOUT_VERSION}
    return PlannedEntry(Path(cache_dir), "bios-tofu", key,
                        lambda target: write_bios_tofu(make_bios(people, seed=seed, **BIOS_TOFU_ARGS), target))


def bios_tofu_dir(cache_dir: str | Path, people: int, *, seed: int = 0) -> Path:
    """The TOFU-layout directory of a ``people``-person bios corpus (written on first use, verified on every
    later one)."""
    return bios_tofu(cache_dir, people, seed=seed).ensure()


def _bios_tofu_items(people: int, seed: int = 0) -> dict[str, list[TofuItem]]:
    """The splits :func:`bios_tofu` writes, in memory (as the loader reads them back)."""
    rows = tofu_splits(make_bios(people, seed=seed, **BIOS_TOFU_ARGS))
    return {split: [TofuItem(r["question"], r["answer"], r.get("paraphrased_answer"), tuple(r.get("perturbed_answer", ())))
                    for r in rows[split]] for split in TOKENIZER_SPLITS}


def tofu_bench(args: argparse.Namespace, options: BenchOptions) -> Bench:
    """The TOFU bench of ``bench lm --benchmark tofu`` (see the module doc)."""
    from .bench import PRETRAINED, TINY_METHOD_PARAMS, TRAIN_RECIPES
    from .bench_tofu import TOFU_METHODS, TofuBench

    cache_dir = Path(options.cache_dir) if options.cache_dir else default_cache_dir()
    entries: list[PlannedEntry] = []  # written when the bench validates (a real run), never by --dry-run
    if args.data:
        data: str | Path = args.data
    else:
        entries.append(bios_tofu(cache_dir, args.people))
        data = entries[0].path
    extra: dict[str, Any] = {}
    if args.model in PRETRAINED:
        from .smollm2 import CACHE_KIND, cache_key, convert, gguf_file

        source = gguf_file()
        entries.append(PlannedEntry(cache_dir, CACHE_KIND, cache_key(source), lambda target: convert(source, target)))
        model: str | Path = entries[-1].path
    elif args.model in TRAIN_RECIPES:
        if args.data:
            from .benchmarks.tofu import load_split

            items = {split: load_split(args.data, split) for split in TOKENIZER_SPLITS}
        else:
            items = _bios_tofu_items(args.people)
        entries.append(scratch_base(cache_dir, args.model, _texts(items)))
        model = entries[-1].path
        extra = {"train_defaults": dict(TRAIN_RECIPES[args.model]), "method_table": TINY_METHOD_PARAMS}
    elif Path(args.model).is_dir():
        model = Path(args.model)
    else:
        raise ConfigError(f"--model {args.model!r}: expected tiny, small, smollm2 or a Hugging Face model directory")
    extra["prepare"] = lambda: [entry.ensure() for entry in entries]  # TofuBench.run writes them
    return TofuBench(data=str(data), model=str(model), forget_split=args.forget_split,
                     methods=options.methods or list(TOFU_METHODS), seeds=options.seeds, params=options.params,
                     train=options.train, eval=kv(args.eval, "--eval"), cache_dir=options.cache_dir,
                     recipe=args.recipe, label=Path(args.model).name if Path(args.model).is_dir() else args.model, **extra)
