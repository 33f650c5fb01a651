"""MUSE's protocol on a MUSE-layout dataset without given models (``obliviate bench lm --benchmark muse
[--data DIR]``): per seed the lm family's model (``--model tiny | small | smollm2``) is trained as MUSE's
target (on ``raw/forget`` + ``retain1`` + ``retain2``) and as the retrained model (``retain1`` + ``retain2``),
both cached, then :class:`~obliviate.lm.bench_muse.MuseBench` runs MUSE's protocol on them unchanged (VerbMem
32-token prompts / 128 new tokens, KnowMem few-shot with the ``_icl`` shots / 32 new tokens, PrivLeak Min-40%
against the retrained model, ``scal`` / ``sust`` series).

Decisions:
- ``data=None`` is the embedded bios corpus, written per seed as a MUSE directory (:mod:`.bios_muse`); its
  target and retrained models *are* the bios bench's cached original and retrain reference (the same
  :class:`~obliviate.lm.bench.SeedRun`, keys and training code), so ``bench lm`` and ``bench lm --benchmark
  muse`` on the same seeds share their models and differ only in the protocol. Given ``--data DIR`` (or a hub
  id), the models are trained here with the same code (:func:`~obliviate.lm.train.train_lm`, the model
  size's recipe of :data:`~obliviate.lm.bench.TRAIN_RECIPES`) on the published raw splits cut in MUSE's
  blocks (:func:`~obliviate.lm.bench_muse.block_dataset`); a model trained from scratch gets a byte-level
  BPE tokenizer trained on every raw split (as bios's covers holdout people), a pretrained one keeps its own.
- Method parameters are the lm bench's for the model (:meth:`~obliviate.lm.bench.LMBench.method_params`:
  the tiny recipe for models trained from scratch, since MUSE's lr 1e-5 moves them by nothing), so the two
  protocols compare the same unlearning runs' settings; ``--param`` overrides them as in ``bench lm``.
- Methods that unlearn from another base than the target (dp2's DP base) do not apply: MUSE unlearns the
  target (:func:`~obliviate.lm.bench_hub.unlearning_methods` refuses them); ``retrain`` is the reference row.
- Series: ``--forget scaling:4`` runs MUSE's ``scal``, ``sequential:4`` its ``sust`` (MUSE has 4 folds).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..bench.cache import cached_directory, cached_model, config_hash, default_cache_dir
from ..bench.options import BenchOptions, kv
from ..errors import ConfigError
from ..families import Bench
from ..utils.seeding import seed_everything
from .bench import TRAIN_RECIPES, LMBench, SeedRun, lm_saver, load_cached_lm, tokenizer_hash
from .bench_hub import check_params, data_fingerprint, unlearning_methods
from .bench_muse import SERIES, MuseBench, MuseEvalConfig, load_muse
from .defaults import DEFAULT_METHODS

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from .bios import BiosCorpus

#: the lm family's forget specs -> MUSE's series
SERIES_OF_SPEC = {"scaling": "scal", "sequential": "sust"}
#: the bios MUSE layout's format version (part of its cache key)
LAYOUT_VERSION = 1


def bios_folds(corpus: "BiosCorpus") -> list[tuple[int, ...]]:
    """The forget people in MUSE's 4 folds: the bios bench's ``sequential:4`` folds (same seeded order)."""
    from .bench_series import LMForgetSpec
    from .benchmarks.muse import FOLDS
    from .bios_muse import check_fold_people

    check_fold_people(corpus)
    return LMForgetSpec.parse(f"sequential:{len(FOLDS)}").folds(corpus.people_of("forget"), corpus.seed)


def bios_muse_dir(cache_dir: Path, corpus_args: dict[str, Any], tokenizer: "PreTrainedTokenizerBase",
                  tokenizer_key: str) -> Path:
    """The MUSE-layout directory of ``make_bios(**corpus_args)`` cut with ``tokenizer`` (``tokenizer_key``
    identifies it in the key), a verified cache entry under ``cache_dir`` written when absent or damaged."""
    from .benchmarks.muse import VERBMEM_PREFIX_TOKENS
    from .bios import make_bios
    from .bios_muse import ICL_SHOTS, muse_splits, write_layout

    key = {"family": "lm", "layout": "muse", "version": LAYOUT_VERSION, "corpus": "bios",
           "corpus_args": dict(corpus_args), "tokenizer": tokenizer_key, "icl_shots": ICL_SHOTS,
           "verbmem_prefix_tokens": VERBMEM_PREFIX_TOKENS}
    corpus = make_bios(**corpus_args)
    splits = muse_splits(corpus, tokenizer, bios_folds(corpus))  # validates before anything is written
    return cached_directory(Path(cache_dir), "bios-muse", key, lambda target: write_layout(target, splits))


def default_methods() -> list[str]:
    """The lm bench's default methods (all unlearn from the original, as MUSE's from its target)."""
    return list(DEFAULT_METHODS)


def series_of(specs: list[str] | None) -> list[str]:
    """MUSE series for the lm family's ``--forget`` specs (``documents`` is always run)."""
    out: list[str] = []
    for spec in specs or []:
        kind, _, steps = spec.partition(":")
        if kind == "documents":
            continue
        if kind not in SERIES_OF_SPEC or steps not in ("", "4"):
            raise ConfigError(f"--benchmark muse: forget spec {spec!r} is not one of MUSE's: documents, scaling:4 "
                              "(scal), sequential:4 (sust); MUSE's series have 4 folds")
        out.append(SERIES_OF_SPEC[kind])
    return list(dict.fromkeys(out))


@dataclass
class MuseTrainedBench:
    """MUSE's protocol with the target and retrained models trained here (see the module doc)."""

    data: str | None = None
    model: str = "tiny"
    methods: list[str] = field(default_factory=lambda: default_methods())
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    people: int = 40
    series: list[str] = field(default_factory=list)
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    eval: dict[str, Any] = field(default_factory=dict)
    cache_dir: str | None = None

    def lm_bench(self, seed: int | None = None) -> LMBench:
        """The bios bench whose models, recipe and method parameters this bench shares."""
        return LMBench(corpus="bios", model=self.model, methods=list(self.methods), people=self.people,
                       seeds=[0 if seed is None else seed], params=self.params, train=self.train,
                       cache_dir=self.cache_dir)

    def cache(self) -> Path:
        return Path(self.cache_dir) if self.cache_dir else default_cache_dir()

    def unlearning(self) -> list[str]:
        return unlearning_methods(self.methods)

    def resolved(self) -> dict[str, Any]:
        lm = self.lm_bench()
        corpus = {k: v for k, v in lm.corpus_args(0).items() if k != "seed"}
        return {
            "family": "lm", "benchmark": "muse", "model": self.model,
            "data": "bios (embedded, written as MUSE per seed)" if self.data is None else str(self.data),
            **({"corpus_args": corpus} if self.data is None else {}),
            "max_length": lm.max_length, "train": lm.train_config().as_dict(),
            "eval": vars(MuseEvalConfig.from_params(self.eval)), "seeds": list(self.seeds),
            "series": list(self.series), "methods": {m: lm.method_params(m) for m in self.unlearning()},
        }

    def inputs(self) -> list[Path]:
        return [Path(self.data)] if self.data is not None and Path(self.data).exists() else []

    def validate(self) -> None:
        if self.model not in TRAIN_RECIPES:
            raise ConfigError(f"unknown lm model {self.model!r}; known: {', '.join(TRAIN_RECIPES)}")
        if not self.seeds:
            raise ConfigError("at least one seed is needed")
        bad = sorted(set(self.series) - set(SERIES))
        if bad:
            raise ConfigError(f"unknown MUSE series {bad}; known: {', '.join(SERIES)}")
        check_params(self.params, self.methods)
        if self.data is None:
            from .bios_muse import retain_halves

            corpus = self.lm_bench().make_corpus(0)
            bios_folds(corpus), retain_halves(corpus)  # the people fit MUSE's splits
        else:
            load_muse(self.data, tuple(self.series))
        self.lm_bench().validate()
        self.resolved()

    def row_count(self) -> int:
        return len(self.seeds) * (2 + len(self.unlearning())) * (1 + 4 * len(self.series))

    def run(self, out_dir: Path) -> list[dict[str, Any]]:
        self.validate()
        rows: list[dict[str, Any]] = []
        for seed in self.seeds:
            data, target, retrain = self.models(seed)
            lm = self.lm_bench(seed)
            rows += MuseBench(
                data=str(data), target=str(target), retrain=str(retrain), methods=self.unlearning(), seeds=[seed],
                series=list(self.series), params={m: lm.method_params(m) for m in self.unlearning()},
                eval=dict(self.eval), max_length=lm.max_length, dtype="float32", cache_dir=str(self.cache()),
                dataset="muse-bios" if self.data is None else f"muse:{Path(str(self.data)).name}",
            ).run(Path(out_dir))
        return rows

    def models(self, seed: int) -> tuple[str | Path, Path, Path]:
        """(MUSE data source, target model directory, retrained model directory) of ``seed``."""
        return self.bios_models(seed) if self.data is None else self.data_models(seed)

    def bios_models(self, seed: int) -> tuple[Path, Path, Path]:
        """The bios bench's cached original and retrain reference, and the seed's corpus as a MUSE directory."""
        lm = self.lm_bench(seed)
        pretrained = None
        if self.model == "smollm2":
            from .smollm2 import converted_dir

            pretrained = converted_dir(self.cache())
        ctx = SeedRun(lm, seed, lm.resolved(), self.cache(), None, pretrained)  # type: ignore[arg-type]
        ctx.reference(ctx.task)
        data = bios_muse_dir(self.cache(), lm.corpus_args(seed), ctx.tok, tokenizer_hash(ctx.tok))
        return (data, self.cache() / f"lm-original-{config_hash(ctx.key)}" / "model",
                self.cache() / f"lm-retrain-{config_hash(ctx.task_key(ctx.task))}" / "model")

    def data_models(self, seed: int) -> tuple[str, Path, Path]:
        """Target (forget + retain1 + retain2) and retrained (retain1 + retain2) models trained on ``data``."""
        from .benchmarks.muse import load_split
        from .bench_muse import block_dataset
        from .train import train_lm

        raw = {s: load_split(self.data, "raw", s) for s in ("forget", "retain1", "retain2", "holdout")}
        lm = self.lm_bench(seed)
        recipe = lm.train_config()
        tok, fresh = self._tokenizer_and_start(raw, lm, seed)
        key = {"family": "lm", "benchmark": "muse", "data": data_fingerprint(raw), "model": self.model,
               "tokenizer": tokenizer_hash(tok), "max_length": lm.max_length, "train": recipe.as_dict(), "seed": seed}
        paths = []
        for kind, texts in (("lm-muse-target", raw["forget"] + raw["retain1"] + raw["retain2"]),
                            ("lm-muse-retrain", raw["retain1"] + raw["retain2"])):
            def build(texts=texts, kind=kind):
                seed_everything(seed)
                model = fresh()
                train_lm(model, block_dataset(tok, texts, lm.max_length), recipe, seed=seed, desc=f"{kind} s{seed}")
                return model

            cached_model(self.cache(), kind, key, build, lm_saver(tok), load_cached_lm)
            paths.append(self.cache() / f"{kind}-{config_hash(key)}" / "model")
        return str(self.data), paths[0], paths[1]

    def _tokenizer_and_start(self, raw: dict[str, list[str]], lm: LMBench, seed: int):
        from .model import load_causal_lm, tiny_llama
        from .tokenizer import train_bpe_tokenizer

        if self.model == "smollm2":
            from .smollm2 import converted_dir

            directory = converted_dir(self.cache())
            return load_causal_lm(directory, device="cpu")[1], lambda: load_causal_lm(directory, dtype="float32")[0]
        tok = train_bpe_tokenizer([t for texts in raw.values() for t in texts], vocab_size=lm.vocab_size)
        return tok, lambda: tiny_llama(len(tok), size=self.model, seed=seed,
                                       max_position_embeddings=max(512, lm.max_length))


def muse_bench(args: argparse.Namespace, options: BenchOptions) -> Bench:
    """``obliviate bench lm --benchmark muse [--data DIR]``: ``args`` carries ``model``, ``people``, ``eval``,
    ``data`` (None: the embedded bios) and optionally ``forget`` (scaling:4 / sequential:4 add MUSE's series)."""
    return MuseTrainedBench(
        data=getattr(args, "data", None), model=args.model, people=args.people,
        methods=options.methods or default_methods(),
        seeds=options.seeds, series=series_of(getattr(args, "forget", None)), params=options.params,
        train=options.train, eval=kv(getattr(args, "eval", None), "--eval"), cache_dir=options.cache_dir)
