"""The TOFU bench (Maini et al. 2024): ``obliviate bench tofu --data DIR_OR_HUB_ID --model DIR``.

Per seed: the original is the user's model fine-tuned on TOFU's forget + retain questions (the ``full``
split's content for the pair ``forgetNN`` / ``retain(100-NN)``) with the TOFU recipe (:data:`TOFU_FINETUNE`),
or the already fine-tuned model given as ``original``; the reference (row ``retrain``) is the user's model
fine-tuned on the retain split only with the same recipe; both are cached. Every lm method unlearns the
forget split from the original, on question-answer sequences whose labels are the answer tokens only
(:func:`~obliviate.lm.benchmarks.tofu.qa_dataset`). Rows carry TOFU's metrics
(:func:`~obliviate.metrics.tofu.evaluate_tofu`): ``forget_quality`` (KS p-value of the forget truth-ratio
statistics against the reference's), ``model_utility`` and the probability / ROUGE / truth ratio of each
of the four evaluation sets.

Decisions:
- :data:`TOFU_FINETUNE` is the authors' config/finetune.yaml (locuslab/tofu at 8c49eee): 5 epochs, lr 1e-5
  (Llama-2-7b-chat; the README: 2e-5 for Phi-1.5), 16 sequences a step (finetune.py divides ``batch_size``
  over the GPUs; the README's run, 2 GPUs x 2 x 4 accumulation, is 16 too), weight decay 0.01 with AdamW
  (their paged_adamw_32bit), and their schedule: one epoch of linear warm-up (``warmup_steps=max(1, max_steps
  // num_epochs)``) then linear decay to 0, the HF Trainer's default (``schedule="linear"``, ``warmup_epochs=1``).
- Method defaults, :data:`TOFU_METHOD_PARAMS`: config/forget.yaml with the README's run (forget.py does not
  divide ``batch_size``: 4 x 4 accumulation x 2 GPUs = 32 a step), 5 epochs, lr 1e-5, AdamW, weight decay
  0.01; RMU keeps its authors' settings (one epoch, batches of 4). Deviation: forget.py also warms up for one
  epoch and decays linearly (``warmup_steps=max(1, steps_per_epoch)``); the method configs have no warm-up
  field, so the methods keep a constant rate (``--param X.schedule=linear`` gives the decay without warm-up).
- Methods run on all answer-only QA sequences. ``rmu`` steers the activations of every real token (question
  and answer), as the authors do on their corpora; ``whp`` and ``eco`` decode and re-tokenise the sequences,
  so they see the formatted question-answer text (WHP's generic labels then cover the question too).
- The reference's forget truth-ratio statistic, which every row's forget quality needs, is written next to
  its row (``tofu/``, the row's ``artifacts``) so a resumed run does not evaluate the reference again.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..bench.cache import cached_model, config_hash, default_cache_dir
from ..bench.rows import RowSink, RowStore, result_row, run_method_row
from ..errors import ConfigError
from ..utils.io import atomic_write_json
from ..utils.seeding import seed_everything
from .bench import load_cached_lm, lm_saver
from .bench_hub import (UsesRecipe, check_model_dir, check_params, data_fingerprint, load_model,
                        model_fingerprint, pretrained_params, unlearning_methods)

#: locuslab/tofu config/finetune.yaml (see the module doc), as LMTrainConfig fields
TOFU_FINETUNE: dict[str, Any] = {"epochs": 5, "lr": 1e-5, "batch_size": 16, "optimizer": "adamw",
                                 "weight_decay": 0.01, "schedule": "linear", "warmup_epochs": 1.0}
#: config/forget.yaml and the README's unlearning run (see the module doc), as method config fields
TOFU_METHOD_PARAMS: dict[str, dict[str, Any]] = {
    "*": {"epochs": 5, "lr": 1e-5, "batch_size": 32, "optimizer": "adamw", "weight_decay": 0.01},
    "rmu": {"epochs": 1, "lr": 5e-5, "batch_size": 4, "optimizer": "adamw", "weight_decay": 0.0},
}
#: the methods of the issue's TOFU evidence (retrain is the reference row)
TOFU_METHODS = ["grad_ascent", "grad_diff", "npo", "simnpo", "rmu"]
#: data_module.py's ``max_length=500`` of a formatted question-answer sequence
QA_MAX_LENGTH = 500


@dataclass
class TofuBench(UsesRecipe):
    """Methods x seeds on TOFU's forget split, from a user model fine-tuned TOFU-style."""

    bench_name = "tofu"
    trains = True

    data: str
    model: str
    forget_split: str = "forget10"
    original: str | None = None
    methods: list[str] = field(default_factory=lambda: list(TOFU_METHODS))
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: overrides of :data:`TOFU_FINETUNE` (LMTrainConfig fields)
    train: dict[str, Any] = field(default_factory=dict)
    #: overrides of the evaluation sizes (TofuEvalConfig: max_items, max_length, batch_size)
    eval: dict[str, Any] = field(default_factory=dict)
    max_length: int = QA_MAX_LENGTH
    dtype: str = "auto"
    cache_dir: str | None = None
    #: the fine-tune recipe and the method defaults that ``train`` / ``params`` override (TOFU's; ``bench lm
    #: --benchmark tofu`` gives the lm family's recipes for a model trained from scratch)
    train_defaults: dict[str, Any] = field(default_factory=lambda: dict(TOFU_FINETUNE))
    method_table: dict[str, dict[str, Any]] = field(default_factory=lambda: copy.deepcopy(TOFU_METHOD_PARAMS))
    #: the model's name in rows and the report (default: the model directory's name)
    label: str | None = None
    #: writes what ``data`` / ``model`` name when they are cache entries still to write (``bench lm --benchmark
    #: tofu``): called when the bench runs, so building, validating it and ``--dry-run`` write nothing
    prepare: Callable[[], Any] | None = field(default=None, repr=False, compare=False)

    def train_config(self):
        from .train import LMTrainConfig

        return LMTrainConfig.from_params({**self.train_defaults, **self.recipe_section("train"), **self.train})

    def eval_config(self):
        from ..metrics.tofu import TofuEvalConfig

        known = set(TofuEvalConfig.__dataclass_fields__)
        settings = self.eval_params()
        unknown = sorted(set(settings) - known)
        if unknown:
            raise ConfigError(f"unknown TOFU evaluation setting(s) {unknown}; known: {', '.join(sorted(known))}")
        values = {k: (None if str(v).lower() == "none" else int(v)) for k, v in settings.items()}
        config = TofuEvalConfig(**values)
        config.validate()
        return config

    def resolved(self) -> dict[str, Any]:
        return {
            "family": "lm", "dataset": "tofu", "data": str(self.data), "model": str(self.model),
            "forget_split": self.forget_split, "original": self.original, "max_length": self.max_length,
            "dtype": self.dtype, "train": self.train_config().as_dict(),
            "eval": vars(self.eval_config()), "seeds": list(self.seeds),
            "methods": {m: pretrained_params(m, self.with_recipe(self.params), self.method_table)
                        for m in unlearning_methods(self.methods)},
        } | self.recipe_record()

    def inputs(self) -> list[Path]:
        paths = [Path(self.model)] + ([Path(self.original)] if self.original else [])
        return paths + ([Path(self.data)] if Path(self.data).exists() else []) + self.recipe_inputs()

    def validate(self) -> None:
        from .benchmarks.tofu import load_tofu

        self.recipe_file()  # a recipe for another bench or family: refused first
        if not self.seeds:
            raise ConfigError("at least one seed is needed")
        check_params(self.params, self.methods)
        self.resolved()  # every method and evaluation setting
        # entries still to be written by ``prepare`` (our own layout and model start) are checked once written
        if self.prepare is None or Path(self.model).exists():
            check_model_dir(self.model, "--model")
        if self.original:
            check_model_dir(self.original, "--original")
        if self.prepare is None or Path(self.data).exists():
            load_tofu(self.data, self.forget_split)  # every split and column, with the file named on error

    def row_count(self) -> int:
        return len(self.seeds) * (2 + len(self.resolved()["methods"]))

    def run(self, out_dir: Path) -> list[dict[str, Any]]:
        from ..utils.threads import thread_scope

        if self.prepare is not None:
            self.prepare()
        self.validate()
        conf = self.resolved()
        methods = list(conf["methods"])
        emit = RowSink(self.row_count(), "bench tofu")
        with thread_scope(None, scope="tofu bench"):
            for seed in self.seeds:
                for row in _TofuSeed(self, seed, conf, Path(out_dir)).rows(methods):
                    emit(self.stamp(row))
        return emit.close()


class _TofuSeed:
    """One seed: the benchmark, the tokenizer, the cached original and reference, and the rows."""

    def __init__(self, bench: TofuBench, seed: int, conf: dict[str, Any], out_dir: Path) -> None:
        from .benchmarks.tofu import load_tofu

        self.bench, self.seed, self.conf, self.out_dir = bench, seed, conf, out_dir
        self.store = RowStore(out_dir)
        self.cache_dir = Path(bench.cache_dir) if bench.cache_dir else default_cache_dir()
        self.tofu = load_tofu(bench.data, bench.forget_split)
        self.base, self.tok = load_model(bench.model, bench.dtype)
        self.eval_config = bench.eval_config()
        pairs = {name: [(it.question, it.answer) for it in getattr(self.tofu, name)] for name in ("forget", "retain")}
        self.pairs = pairs
        eval_sets = {k: [vars(i) for i in v] for k, v in self.tofu.eval_sets.items()}
        self.key = {"family": "lm", "dataset": "tofu", "forget": bench.forget_split,
                    "data": data_fingerprint([pairs, eval_sets]),
                    "model": model_fingerprint(bench.model), "train": conf["train"], "max_length": bench.max_length,
                    "seed": seed, "original": model_fingerprint(bench.original) if bench.original else None}
        self.save = lm_saver(self.tok)
        #: the reference row's metrics (the gaps' reference), once it is known
        self.ref_metrics: dict | None = None

    def qa(self, *splits: str):
        """Answer-only QA sequences of ``splits`` (:func:`~obliviate.lm.benchmarks.tofu.qa_dataset`)."""
        from .benchmarks.tofu import qa_dataset

        return qa_dataset(self.tok, [p for s in splits for p in self.pairs[s]], max_length=self.bench.max_length)

    def fine_tuned(self, kind: str, splits: tuple[str, ...]):
        """The user's model fine-tuned on ``splits`` (cached) and the training seconds."""
        from .train import train_lm

        def build():
            seed_everything(self.seed)
            model = copy.deepcopy(self.base)
            train_lm(model, self.qa(*splits), self.bench.train_config(), seed=self.seed, desc=f"{kind} s{self.seed}")
            return model

        model, meta = cached_model(self.cache_dir, kind, self.key, build, self.save, load_cached_lm)
        return model, float(meta["seconds"])

    def original(self):
        if self.bench.original:
            return load_model(self.bench.original, self.bench.dtype)[0]
        return self.fine_tuned("tofu-original", ("forget", "retain"))[0]

    def task(self) -> dict[str, Any]:
        return {"dataset": "tofu", "scenario": "documents", "forget_size": len(self.pairs["forget"]),
                "retain_size": len(self.pairs["retain"]), "forget_spec": f"documents:{self.bench.forget_split}",
                "size_unit": "questions", "model": self.bench.label or Path(self.bench.model).name}

    def evaluate(self, model, reference_statistic) -> tuple[dict[str, Any], list[float]]:
        """(evaluation, the model's forget truth-ratio statistic): TOFU's metrics (forget quality against
        ``reference_statistic``) and the gaps to the reference row."""
        from ..metrics.gap import gap_to_retrain
        from ..metrics.registry import gap_metrics
        from ..metrics.tofu import evaluate_tofu

        result = evaluate_tofu(model, self.tok, self.tofu.eval_sets, reference_forget_statistic=reference_statistic,
                               config=self.eval_config)
        ref = self.ref_metrics if self.ref_metrics is not None else result.metrics
        gaps = gap_to_retrain(result.metrics, ref, gap_metrics("lm", benchmark="tofu"))
        return {"metrics": result.metrics, "gap_to_retrain": gaps}, [float(x) for x in result.forget_statistic]

    def row(self, name: str, params: dict, evaluation: dict, seconds: float, retrain_seconds: float) -> dict:
        return result_row("lm", self.task(), name, params, self.seed, evaluation, seconds, retrain_seconds)

    def statistic_path(self, row_key: dict) -> Path:
        return self.out_dir / "tofu" / f"forget-statistic-{config_hash(row_key)}.json"

    def reference(self) -> tuple[dict, list[float]]:
        """The reference row and its forget truth-ratio statistic (evaluated once, then read back)."""
        from ..metrics.tofu import forget_quality

        row_key = {**self.key, "method": "retrain", "eval": self.conf["eval"]}
        row, path = self.store.get(row_key), self.statistic_path(row_key)
        if row is not None and path.is_file():
            return row, json.loads(path.read_text(encoding="utf-8"))
        model, seconds = self.fine_tuned("tofu-retain", ("retain",))
        evaluation, statistic = self.evaluate(model, None)
        evaluation["metrics"]["forget_quality"], evaluation["metrics"]["ks_statistic"] = forget_quality(
            statistic, statistic)
        atomic_write_json(path, statistic)
        row = self.row("retrain", self.conf["train"], evaluation, seconds, seconds)
        row["artifacts"] = {"forget_truth_ratio_statistic": str(path.relative_to(self.out_dir))}
        self.store.put(row_key, row)
        return row, statistic

    def rows(self, methods: list[str]):
        ref_row, statistic = self.reference()
        self.ref_metrics = ref_row["metrics"]
        retrain_seconds = ref_row["retrain_seconds"]
        original = self.original()
        orig_key = {**self.key, "method": "original", "eval": self.conf["eval"]}
        orig_row = self.store.get(orig_key)
        if orig_row is None:
            orig_row = self.row("original", {}, self.evaluate(original, statistic)[0], 0.0, retrain_seconds)
            self.store.put(orig_key, orig_row)
        yield orig_row
        yield ref_row
        from ..methods.base import resolve_method
        from .task import LMUnlearnData

        for name in methods:
            method, _ = resolve_method(name, family="lm")
            params = self.conf["methods"][name]
            config = method.Config.from_params(params)

            def unlearn(method=method, config=config):
                seed_everything(self.seed)
                data = LMUnlearnData(self.qa("forget"), self.qa("retain"), self.tok)  # answer-only labels
                return method().run(copy.deepcopy(original), data, config, seed=self.seed)

            yield run_method_row(
                self.store, {**self.key, "method": name, "params": params, "eval": self.conf["eval"]},
                f"{name} on tofu {self.bench.forget_split} seed {self.seed}", unlearn,
                lambda model: self.evaluate(model, statistic)[0],
                lambda evaluation, seconds, name=name, params=params: self.row(name, params, evaluation, seconds,
                                                                              retrain_seconds))
