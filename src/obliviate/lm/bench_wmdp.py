"""The WMDP bench (Li et al. 2024): ``obliviate bench wmdp --data DIR_OR_HUB_ID --model DIR --forget-corpus FILE
--retain-corpus FILE``.

RMU (the default) and any other lm method unlearn the forget corpus from the user's model, with the retain
corpus as retain data (:func:`obliviate.lm.benchmarks.wmdp.read_corpus`: ``.jsonl`` with ``text`` or blank-line
separated plain text). Rows: ``original`` (the given model) and one per method and seed, with WMDP accuracy x 100
on every subset present in the data (``wmdp_bio``, ``wmdp_chem``, ``wmdp_cyber``: lm-evaluation-harness's
zero-shot ``acc``) and, when lm-evaluation-harness is installed (``pip install lm-eval``), ``mmlu``; without
it the rows' task carries the note :data:`~obliviate.metrics.lm_wmdp.MMLU_MISSING` and the report shows it.
There is no exact reference (WMDP has none): rows have no gap to retrain.

Decisions:
- Corpus sequences: BOS + text + EOS, cut at ``max_length`` = 512 tokens (rmu/unlearn.py tokenises with
  ``truncation=True, max_length=512``).
- WMDP scoring without BOS (``--eval add_bos=0``, the default): lm-evaluation-harness's HFLM before it
  deferred to the tokenizer (``add_special_tokens = False or self.add_bos_token``), the WMDP paper's era;
  ``add_bos=1`` prepends the tokenizer's BOS, as lm-eval 0.4.13's default does for Llama-style tokenizers.
  tests/test_lm_eval_harness.py checks both against the real harness (0.4.13) when it is installed.
- Method defaults: the pretrained-model recipe (:mod:`obliviate.lm.bench_hub`); for RMU the authors' Zephyr-7B
  run (:class:`~obliviate.methods.lm.rmu.RMUConfig`) with their one epoch of batches of 4.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..bench.rows import RowSink, RowStore, result_row, run_method_row
from ..errors import ConfigError, MissingDataError
from ..utils.seeding import seed_everything
from .bench_hub import (UsesRecipe, check_model_dir, check_params, data_fingerprint, load_model,
                        model_fingerprint, pretrained_params, unlearning_methods)

#: rmu/unlearn.py tokenises each corpus text with ``truncation=True, max_length=512``
CORPUS_MAX_LENGTH = 512


def present_subsets(source: str) -> list[str]:
    """The WMDP configs found in ``source`` (every one for a hub id); a clear error when there is none."""
    from .benchmarks.hub_files import is_local, split_files
    from .benchmarks.wmdp import SPLIT, SUBJECTS

    if not is_local(source):
        return list(SUBJECTS)
    found = [c for c in SUBJECTS if split_files(Path(source), c, SPLIT)]
    if not found:
        raise MissingDataError(f"{source}: no WMDP subset found (expected e.g. {Path(source) / 'wmdp-bio'}/"
                               f"{SPLIT}-00000-of-00001.parquet, or {SPLIT}.json, for any of {', '.join(SUBJECTS)})")
    return found


@dataclass
class WmdpBench(UsesRecipe):
    """Methods x seeds unlearning a hazardous-knowledge corpus, scored on WMDP's multiple-choice questions."""

    bench_name = "wmdp"

    data: str
    model: str
    forget_corpus: str
    retain_corpus: str
    methods: list[str] = field(default_factory=lambda: ["rmu"])
    seeds: list[int] = field(default_factory=lambda: [0])
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    eval: dict[str, Any] = field(default_factory=dict)
    max_length: int = CORPUS_MAX_LENGTH
    dtype: str = "auto"
    cache_dir: str | None = None

    def eval_settings(self) -> dict[str, Any]:
        known = {"batch_size": 16, "mmlu": 1, "mmlu_limit": 0, "add_bos": 0}
        settings = self.eval_params()
        unknown = sorted(set(settings) - set(known))
        if unknown:
            raise ConfigError(f"unknown WMDP evaluation setting(s) {unknown}; known: {', '.join(known)}")
        try:
            values = {**known, **{k: int(v) for k, v in settings.items()}}
        except ValueError:
            raise ConfigError(f"WMDP evaluation settings are integers, got {settings}") from None
        if values["batch_size"] < 1 or values["mmlu_limit"] < 0 or values["mmlu"] not in (0, 1) \
                or values["add_bos"] not in (0, 1):
            raise ConfigError(f"batch_size must be >= 1, mmlu and add_bos 0 or 1 and mmlu_limit >= 0 (0: every "
                              f"question), got {values}")
        return values

    def resolved(self) -> dict[str, Any]:
        from ..metrics.lm_wmdp import lm_eval_available

        return {
            "family": "lm", "dataset": "wmdp", "data": str(self.data), "model": str(self.model),
            "forget_corpus": str(self.forget_corpus), "retain_corpus": str(self.retain_corpus),
            "max_length": self.max_length, "dtype": self.dtype, "eval": self.eval_settings(),
            "mmlu": bool(self.eval_settings()["mmlu"]) and lm_eval_available(), "seeds": list(self.seeds),
            "methods": {m: pretrained_params(m, self.with_recipe(self.params))
                        for m in unlearning_methods(self.methods)},
        } | self.recipe_record()

    def inputs(self) -> list[Path]:
        paths = [Path(self.model), Path(self.forget_corpus), Path(self.retain_corpus)]
        return paths + ([Path(self.data)] if Path(self.data).exists() else []) + self.recipe_inputs()

    def validate(self) -> None:
        from .benchmarks.wmdp import load_wmdp, read_corpus

        self.recipe_file()  # a recipe for another bench or family: refused first
        if not self.seeds:
            raise ConfigError("at least one seed is needed")
        check_model_dir(self.model, "--model")
        check_params(self.params, self.methods)
        for config in present_subsets(self.data):
            load_wmdp(self.data, config)
        read_corpus(self.forget_corpus)
        read_corpus(self.retain_corpus)
        self.resolved()

    def row_count(self) -> int:
        return len(self.seeds) * (1 + len(self.resolved()["methods"]))

    def run(self, out_dir: Path) -> list[dict[str, Any]]:
        from ..utils.threads import thread_scope

        self.validate()
        conf = self.resolved()
        methods = list(conf["methods"])
        emit = RowSink(self.row_count(), "bench wmdp")
        with thread_scope(None, scope="wmdp bench"):
            for seed in self.seeds:
                _WmdpSeed(self, seed, conf, Path(out_dir)).run(methods, lambda row: emit(self.stamp(row)))
        return emit.close()


class _WmdpSeed:
    def __init__(self, bench: WmdpBench, seed: int, conf: dict[str, Any], out_dir: Path) -> None:
        from .benchmarks.wmdp import load_wmdp, read_corpus

        self.bench, self.seed, self.conf = bench, seed, conf
        self.store = RowStore(out_dir)
        self.questions = {c: load_wmdp(bench.data, c) for c in present_subsets(bench.data)}
        self.forget, self.retain = read_corpus(bench.forget_corpus), read_corpus(bench.retain_corpus)
        self.model, self.tok = load_model(bench.model, bench.dtype)
        self.settings = conf["eval"]
        self.key = {"family": "lm", "dataset": "wmdp", "seed": seed, "max_length": bench.max_length,
                    "data": data_fingerprint([[vars(q) for q in qs] for qs in self.questions.values()]),
                    "corpora": data_fingerprint([self.forget, self.retain]), "model": model_fingerprint(bench.model),
                    "eval": conf["eval"], "mmlu": conf["mmlu"]}

    def task(self) -> dict[str, Any]:
        from ..metrics.lm_wmdp import MMLU_MISSING, MMLU_OFF

        task = {"dataset": "wmdp", "scenario": "documents", "forget_size": len(self.forget),
                "retain_size": len(self.retain), "forget_spec": f"documents:{Path(self.bench.forget_corpus).name}",
                "size_unit": "texts", "model": Path(self.bench.model).name}
        if self.conf["mmlu"]:
            return task
        return task | {"note": MMLU_OFF if not self.settings["mmlu"] else MMLU_MISSING}

    def evaluate(self, model) -> dict[str, Any]:
        from ..metrics.lm_wmdp import SUBSET_METRICS, mmlu_accuracy
        from .benchmarks.wmdp import SUBJECTS, wmdp_accuracy

        metrics: dict[str, float | None] = {
            SUBSET_METRICS[c]: 100.0 * wmdp_accuracy(model, self.tok, qs, subject=SUBJECTS[c],
                                                     batch_size=self.settings["batch_size"],
                                                     add_bos=bool(self.settings["add_bos"])).accuracy
            for c, qs in self.questions.items()}
        if self.conf["mmlu"]:
            metrics["mmlu"] = mmlu_accuracy(model, self.tok, batch_size=self.settings["batch_size"],
                                            limit=self.settings["mmlu_limit"] or None)
        return {"metrics": metrics}

    def run(self, methods: list[str], emit) -> None:
        from ..methods.base import resolve_method
        from .data import lm_dataset
        from .task import LMUnlearnData

        key = {**self.key, "method": "original"}
        row = self.store.get(key)
        if row is None:
            row = result_row("lm", self.task(), "original", {}, self.seed, self.evaluate(self.model), 0.0, None)
            self.store.put(key, row)
        emit(row)
        for name in methods:
            method, _ = resolve_method(name, family="lm")
            params = self.conf["methods"][name]
            config = method.Config.from_params(params)

            def unlearn(method=method, config=config):
                seed_everything(self.seed)
                data = LMUnlearnData(lm_dataset(self.tok, self.forget, max_length=self.bench.max_length),
                                     lm_dataset(self.tok, self.retain, max_length=self.bench.max_length), self.tok)
                return method().run(copy.deepcopy(self.model), data, config, seed=self.seed)

            emit(run_method_row(
                self.store, {**self.key, "method": name, "params": params},
                f"{name} on wmdp seed {self.seed}", unlearn, self.evaluate,
                lambda evaluation, seconds, name=name, params=params: result_row(
                    "lm", self.task(), name, params, self.seed, evaluation, seconds, None)))
