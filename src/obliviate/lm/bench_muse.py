"""The MUSE bench (Shi et al. 2024): ``obliviate bench muse --data DIR_OR_HUB_ID --corpus news|books --target DIR
--retrain DIR``, with MUSE's protocol (:mod:`obliviate.lm.benchmarks.muse`).

The target model (trained on all of the corpus) and the retrained model (without the forget split) are
given, as MUSE publishes them (``muse-bench/MUSE-News_target`` / ``_retrain``); ``--model`` is the tokenizer
directory (MUSE's ``tokenizer_dir``, Llama-2-7b; default: the target's own tokenizer). Every lm method
unlearns ``raw/forget`` from the target, its retain terms read ``raw/retain1`` (muse_bench's
baselines/scripts/unlearn_*.sh); rows ``original`` (the target) and ``retrain`` (the retrained model) come
first. Metrics, on every row: ``verbmem_forget`` (``verbmem/forget``), ``knowmem_forget`` /
``knowmem_retain`` (``knowmem`` with the ``_icl`` shots), ``utility`` (= KnowMem on retain), ``privleak``
(Min-40% AUC of ``privleak/forget`` vs ``privleak/holdout`` against the retrained model's AUC, computed
here from the given retrained model) and ``mia_auc_min_k_40``.

``series``: ``scal`` unlearns ``scal/forget_k`` from the target for each k (MUSE's scalability), ``sust``
unlearns ``sust/forget_1`` .. ``forget_4`` one after another (sustainability,
:func:`obliviate.bench.series.sequential_chain`); their rows carry ``task.series`` for the report's curves.

Decisions:
- Training sequences: consecutive blocks of ``max_length - 1`` tokens, each after BOS, no EOS (muse_bench's
  ``DefaultDataset`` with ``--max_len 2048``). muse_bench tokenises its whole ``forget.txt`` as one string;
  here each published row is cut on its own, so no block spans two rows. The recipe (:data:`MUSE_METHOD_PARAMS`)
  is unlearn_news.sh's: 10 epochs at lr 1e-5, 32 sequences a step (4 per device x 8 GPUs), task vector
  alpha 5; WHP as MUSE evaluates it (``mode=logits``).
- PrivLeak texts are scored as :func:`obliviate.metrics.lm_mia.score_sequences` scores them (BOS + text +
  EOS, cut at ``privleak_max_length`` tokens); muse_bench scores BOS + text (no EOS, no cut).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..bench.rows import RowSink, RowStore, result_row, run_method_row
from ..bench.series import sequential_chain
from ..errors import ConfigError
from ..utils.seeding import seed_everything
from .bench_hub import (UsesRecipe, check_model_dir, check_params, data_fingerprint, load_model,
                        model_fingerprint, pretrained_params, unlearning_methods)

#: unlearn_news.sh: EPOCHS=10, LR=1e-5, PER_DEVICE_BATCH_SIZE=4 on 8 GPUs; the task vector's alpha 5.0
MUSE_METHOD_PARAMS: dict[str, dict[str, Any]] = {
    "*": {"epochs": 10, "lr": 1e-5, "batch_size": 32},
    "task_vector": {"alpha": 5.0},
    "whp": {"mode": "logits"},
}
#: MUSE's baselines (GA, GA_GDR, GA_KLR, NPO, NPO_GDR, NPO_KLR, Task Vector, WHP) by obliviate's names
MUSE_METHODS = ["grad_ascent", "grad_diff", "kl", "npo", "npo_gdr", "npo_klr", "task_vector", "whp"]
SERIES = ("scal", "sust")
#: unlearn_news.sh's MAX_LEN
MUSE_MAX_LENGTH = 2048


@dataclass(frozen=True)
class MuseEvalConfig:
    """MUSE's generation lengths (eval.py defaults) and the evaluation batch size."""

    verbmem_max_new_tokens: int = 128
    knowmem_max_new_tokens: int = 32
    privleak_max_length: int = MUSE_MAX_LENGTH
    batch_size: int = 8

    @classmethod
    def from_params(cls, values: dict[str, Any]) -> "MuseEvalConfig":
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown MUSE evaluation setting(s) {unknown}; known: {', '.join(sorted(known))}")
        config = cls(**{k: int(v) for k, v in values.items()})
        if min(vars(config).values()) < 1:
            raise ConfigError(f"MUSE evaluation settings must be >= 1, got {vars(config)}")
        return config


@dataclass
class MuseData:
    """The splits the bench reads."""

    forget: list[str]
    retain: list[str]
    verbmem: list[dict[str, str]]
    knowmem: dict[str, list[dict[str, str]]]
    privleak: dict[str, list[str]]
    series: dict[str, dict[str, list[str]]]


def load_muse(source: str, series: tuple[str, ...] = ()) -> MuseData:
    from .benchmarks.muse import load_config, load_split

    return MuseData(
        forget=load_split(source, "raw", "forget"), retain=load_split(source, "raw", "retain1"),
        verbmem=load_split(source, "verbmem", "forget"), knowmem=load_config(source, "knowmem"),
        privleak={s: load_split(source, "privleak", s) for s in ("forget", "holdout")},
        series={name: load_config(source, name) for name in series})


def block_dataset(tokenizer, texts: list[str], max_length: int):
    """Each text's tokens in consecutive blocks of ``max_length - 1`` after BOS (see the module doc)."""
    from .data import TokenDataset, pad_id, token_dtype

    if max_length < 2:
        raise ConfigError(f"max_length must be >= 2, got {max_length}")
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    width = max_length - len(bos)
    blocks = [bos + ids[i:i + width] for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]
              for i in range(0, len(ids), width)]
    blocks = [b for b in blocks if len(b) >= 2]
    if not blocks:
        raise ConfigError("no training text: every text is empty")
    offsets = np.zeros(len(blocks) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in blocks], out=offsets[1:])
    ids = np.concatenate([np.asarray(b, dtype=np.int64) for b in blocks]).astype(token_dtype(len(tokenizer)))
    return TokenDataset(ids, offsets, pad=pad_id(tokenizer), max_length=max_length)


def evaluate_muse(model, tokenizer, data: MuseData, config: MuseEvalConfig, *,
                  retrain_auc: float | None) -> tuple[dict[str, float], float]:
    """(metrics, Min-40% AUC) of ``model``; ``retrain_auc`` None means ``model`` is the retrained one."""
    from ..metrics.lm_mia import mia_auc, privleak, score_sequences
    from .benchmarks.muse import PRIVLEAK_K, knowmem, verbmem

    kw = {"batch_size": config.batch_size}
    qa = data.knowmem
    metrics = {
        "verbmem_forget": verbmem(model, tokenizer, data.verbmem, max_new_tokens=config.verbmem_max_new_tokens,
                                  **kw).score,
        "knowmem_forget": knowmem(model, tokenizer, qa["forget_qa"], qa["forget_qa_icl"],
                                  max_new_tokens=config.knowmem_max_new_tokens, **kw).score,
        "knowmem_retain": knowmem(model, tokenizer, qa["retain_qa"], qa["retain_qa_icl"],
                                  max_new_tokens=config.knowmem_max_new_tokens, **kw).score,
    }
    metrics["utility"] = metrics["knowmem_retain"]
    attack = f"min_k_{PRIVLEAK_K}"
    scores = {s: score_sequences(model, tokenizer, texts, ks=(PRIVLEAK_K,), max_length=config.privleak_max_length,
                                 **kw)[attack] for s, texts in data.privleak.items()}
    auc = mia_auc(scores["forget"], scores["holdout"], attack)
    metrics[f"mia_auc_{attack}"] = auc
    metrics["privleak"] = privleak(auc, auc if retrain_auc is None else retrain_auc)
    return metrics, auc


@dataclass
class MuseBench(UsesRecipe):
    """Methods x seeds on a MUSE corpus, from the published target and retrained models."""

    bench_name = "muse"

    data: str
    target: str
    retrain: str
    corpus: str = "news"
    model: str | None = None
    methods: list[str] = field(default_factory=lambda: list(MUSE_METHODS))
    seeds: list[int] = field(default_factory=lambda: [0])
    series: list[str] = field(default_factory=list)
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    eval: dict[str, Any] = field(default_factory=dict)
    max_length: int = MUSE_MAX_LENGTH
    dtype: str = "auto"
    cache_dir: str | None = None
    #: the rows' dataset name (default ``muse-<corpus>``; ``muse-bios`` for the embedded bios as MUSE)
    dataset: str | None = None

    @property
    def label(self) -> str:
        return self.dataset or f"muse-{self.corpus}"

    def resolved(self) -> dict[str, Any]:
        return {
            "family": "lm", "dataset": self.label, "data": str(self.data), "target": str(self.target),
            "retrain": str(self.retrain), "tokenizer": str(self.model or self.target), "series": list(self.series),
            "max_length": self.max_length, "dtype": self.dtype, "eval": vars(MuseEvalConfig.from_params(self.eval_params())),
            "seeds": list(self.seeds),
            "methods": {m: pretrained_params(m, self.with_recipe(self.params), MUSE_METHOD_PARAMS)
                        for m in unlearning_methods(self.methods)},
        } | self.recipe_record()

    def inputs(self) -> list[Path]:
        paths = [Path(self.target), Path(self.retrain)] + ([Path(self.model)] if self.model else [])
        return paths + ([Path(self.data)] if Path(self.data).exists() else []) + self.recipe_inputs()

    def validate(self) -> None:
        from .benchmarks.muse import check_corpus

        check_corpus(self.corpus)
        self.recipe_file()  # a recipe for another bench or family: refused first
        if not self.seeds:
            raise ConfigError("at least one seed is needed")
        bad = sorted(set(self.series) - set(SERIES))
        if bad:
            raise ConfigError(f"unknown MUSE series {bad}; known: {', '.join(SERIES)}")
        for path, flag in ((self.target, "--target"), (self.retrain, "--retrain"), (self.model, "--model")):
            if path:
                check_model_dir(path, flag)
        check_params(self.params, self.methods)
        load_muse(self.data, tuple(self.series))
        self.resolved()

    def row_count(self) -> int:
        return len(self.seeds) * (2 + len(self.resolved()["methods"])) * (1 + 4 * len(self.series))

    def run(self, out_dir: Path) -> list[dict[str, Any]]:
        from ..utils.threads import thread_scope

        self.validate()
        conf = self.resolved()
        methods = list(conf["methods"])
        emit = RowSink(self.row_count(), f"bench muse {self.corpus}")
        with thread_scope(None, scope="muse bench"):
            for seed in self.seeds:
                _MuseSeed(self, seed, conf, Path(out_dir)).run(methods, lambda row: emit(self.stamp(row)))
        return emit.close()


class _MuseSeed:
    def __init__(self, bench: MuseBench, seed: int, conf: dict[str, Any], out_dir: Path) -> None:
        self.bench, self.seed, self.conf = bench, seed, conf
        self.store = RowStore(out_dir)
        self.data = load_muse(bench.data, tuple(bench.series))
        self.eval_config = MuseEvalConfig.from_params(bench.eval_params())
        self.target, tok = load_model(bench.target, bench.dtype)
        self.tok = load_model(bench.model, bench.dtype)[1] if bench.model else tok
        self.key = {"family": "lm", "dataset": bench.label, "seed": seed, "max_length": bench.max_length,
                    "data": data_fingerprint(vars(self.data)), "target": model_fingerprint(bench.target),
                    "retrain": model_fingerprint(bench.retrain), "eval": conf["eval"],
                    "tokenizer": model_fingerprint(bench.model) if bench.model else None}
        self.retrain_auc: float | None = None
        self.ref_metrics: dict | None = None
        self.references: list[dict] = []  # the original and retrain rows, once run() has them

    def task(self, spec: str, scenario: str, forget_size: int) -> dict[str, Any]:
        return {"dataset": self.bench.label, "scenario": scenario, "forget_size": forget_size,
                "retain_size": len(self.data.retain), "forget_spec": spec, "size_unit": "texts",
                "model": Path(self.bench.target).name}

    def evaluate(self, model) -> dict[str, Any]:
        from ..metrics.gap import gap_to_retrain
        from ..metrics.registry import gap_metrics

        metrics, auc = evaluate_muse(model, self.tok, self.data, self.eval_config, retrain_auc=self.retrain_auc)
        if self.retrain_auc is None:
            self.retrain_auc = auc
        return {"metrics": metrics, "gap_to_retrain": gap_to_retrain(metrics, self.ref_metrics or metrics,
                                                                       gap_metrics("lm"))}

    def reference_row(self, name: str, load, task: dict) -> dict:
        key = {**self.key, "method": name}
        row = self.store.get(key)
        if row is None:
            row = result_row("lm", task, name, {}, self.seed, self.evaluate(load()), 0.0, None)
            self.store.put(key, row)
        return row

    def forget_data(self, texts: list[str]):
        from .task import LMUnlearnData

        return LMUnlearnData(block_dataset(self.tok, texts, self.bench.max_length),
                             block_dataset(self.tok, self.data.retain, self.bench.max_length), self.tok)

    def method_row(self, name: str, key: dict, label: str, task: dict, start, forget: list[str],
                   keep=lambda model: None, reuse: bool = True) -> dict:
        from ..methods.base import resolve_method

        method, _ = resolve_method(name, family="lm")
        params = self.conf["methods"][name]
        config = method.Config.from_params(params)

        def unlearn():
            model = start()
            seed_everything(self.seed)
            model = method().run(model, self.forget_data(forget), config, seed=self.seed)
            keep(model)
            return model

        return run_method_row(self.store, {**self.key, **key, "method": name, "params": params}, label, unlearn,
                              self.evaluate,
                              lambda evaluation, seconds: result_row("lm", task, name, params, self.seed, evaluation,
                                                                     seconds, None), reuse=reuse)

    def run(self, methods: list[str], emit) -> None:
        main = self.task("documents:raw/forget", "documents", len(self.data.forget))
        retrain_row = self.reference_row("retrain", lambda: load_model(self.bench.retrain, self.bench.dtype)[0], main)
        self.retrain_auc = retrain_row["metrics"]["mia_auc_min_k_40"]
        self.ref_metrics = retrain_row["metrics"]
        self.references = [self.reference_row("original", lambda: self.target, main), retrain_row]
        emit(self.references[0])
        emit(retrain_row)
        for name in methods:
            emit(self.method_row(name, {"forget": "raw/forget"}, f"{name} on muse {self.bench.corpus} s{self.seed}",
                                 main, lambda: copy.deepcopy(self.target), self.data.forget))
        for kind in self.bench.series:
            self.run_series(kind, methods, emit)

    def point(self, row: dict, kind: str, index: int, folds: dict[str, list[str]]) -> dict:
        """``row`` as point ``index`` of series ``kind`` (``task.series`` for the report's curves)."""
        row = copy.deepcopy(row)
        name = list(folds)[index]
        if kind == "sust":
            x, x_label, at = index + 1, "request", f"@{index + 1}/{len(folds)}"
        else:
            x, x_label, at = len(folds[name]), "forget size (texts)", f"@{len(folds[name])} texts"
        row["task"].update(scenario="sequential" if kind == "sust" else "scaling", forget_spec=f"{kind} {at}",
                           forget_size=len(folds[name]),
                           series={"kind": "sequential" if kind == "sust" else "scaling", "id": kind, "x": x,
                                   "x_label": x_label})
        return row

    def run_series(self, kind: str, methods: list[str], emit) -> None:
        folds = self.data.series[kind]
        main = self.task("documents:raw/forget", "documents", len(self.data.forget))
        for i in range(len(folds)):  # the references do not depend on what is forgotten: each point shows them
            for ref in self.references:
                emit(self.point(ref, kind, i, folds))
        for name in methods:
            if kind == "scal":
                rows = [self.method_row(name, {"forget": f"scal/{fold}"}, f"{name} scal {fold} s{self.seed}", main,
                                        lambda: copy.deepcopy(self.target), texts)
                        for fold, texts in folds.items()]
            else:
                keys = [{**self.key, "forget": f"sust/{fold}", "chain": "sust", "method": name,
                         "params": self.conf["methods"][name]} for fold in folds]

                def run_request(i, model_in, keep, name=name):
                    fold = list(folds)[i]
                    return self.method_row(name, {"forget": f"sust/{fold}", "chain": "sust"},
                                           f"{name} sust {i + 1}/{len(folds)} s{self.seed}", main, model_in,
                                           folds[fold], keep=keep, reuse=False)

                rows = sequential_chain(self.store, keys, lambda: copy.deepcopy(self.target), run_request)
            for i, row in enumerate(rows):
                emit(self.point(row, kind, i, folds))
