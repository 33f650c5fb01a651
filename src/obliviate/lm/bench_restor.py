"""The RESTOR knowledge-recovery bench: per seed a clean model (true facts), a corrupted model (the
clean one trained further on false facts mixed with unrelated texts) and the exact reference (the
clean one trained further on the unrelated texts only), all cached; every LM method unlearns the
corrupting texts from the corrupted model; rows report the affected facts' true and false rates, the
recovery ratio and collateral damage. Data: :mod:`obliviate.lm.restor`; metrics:
:mod:`obliviate.metrics.lm_restor`.

Rows (family ``lm``, dataset ``restor``), metrics in % unless said otherwise:
- ``restor_true`` (accuracy on the affected facts), ``restor_false`` (still states the false fact),
  ``restor_neither``; ``unaffected_true`` (accuracy on unaffected people's facts); ``perplexity`` on
  held-out general text;
- ``recovery`` = (true - corrupted's true) / (clean's true - corrupted's true) and ``false_removed`` =
  the same formula on ``restor_false`` (fractions; None when the corruption moved nothing);
- reference rows ``clean``, ``corrupted``, ``retrain``; ``dp2_base`` when dp2 runs (its DP base).

Decisions:
- Method recipes are the LM bench's (:meth:`LMBench.method_params`: paper defaults scaled for the tiny
  model). The clean model uses the LM bench's training recipe; the corruption phase :data:`CORRUPT_RECIPE`.
- dp2's DP base is trained with DP-SGD from the clean model's initialisation on everything the
  corrupted model saw (clean + corruption texts), once per seed, then fine-tuned on the retain texts.
- ``time_ratio`` is against the exact reference of the corruption phase (a short continued training),
  so ratios here are larger than on the LM bench, where retrain means training from scratch.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..methods.base import resolve_method
from ..metrics.gap import gap_to_retrain
from ..metrics.registry import gap_metrics
from ..metrics.lm_eval import LMEvalConfig
from ..utils.seeding import seed_everything
from ..bench.cache import cached_model, default_cache_dir
from .bench import DEFAULT_METHODS, LMBench, lm_threads, load_cached_lm, lm_saver, tokenizer_hash
from .bench_dp import dp_metrics, train_dp_base, with_metrics
from ..bench.rows import RowSink, RowStore, result_row, retrain_timing, run_method_row

#: The corruption phase (LMTrainConfig fields): continued training of the clean model.
CORRUPT_RECIPE: dict[str, Any] = {"epochs": 10, "lr": 1e-3, "batch_size": 16}
#: Metrics averaged into the gap to the exact reference.
RESTOR_GAP_METRICS: tuple[str, ...] = gap_metrics("lm", benchmark="restor")


def default_restor_methods() -> list[str]:
    """The LM bench's default methods plus every other registered non-exact LM method (e.g. dp2)."""
    from ..methods import METHODS, load_all

    load_all()
    names = list(DEFAULT_METHODS)
    for cls in METHODS.classes("lm"):
        if not cls.is_exact and cls.name not in names:
            names.append(cls.name)
    return names


@dataclass
class RestorBench:
    """Methods x seeds on RESTOR data built from ``bios`` with the tiny Llama trained from scratch."""

    methods: list[str] = field(default_factory=default_restor_methods)
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    model: str = "tiny"
    people: int = 20
    affected_fraction: float = 0.2
    unrelated_fraction: float = 0.2
    docs_per_person: int = 3
    n_general: int = 40
    vocab_size: int = 512
    max_length: int = 128
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: overrides of the clean model's recipe (LMTrainConfig fields)
    train: dict[str, Any] = field(default_factory=dict)
    #: overrides of the corruption phase's recipe (LMTrainConfig fields)
    corrupt: dict[str, Any] = field(default_factory=dict)
    eval: dict[str, Any] = field(default_factory=dict)
    cache_dir: str | None = None

    def lm_bench(self) -> LMBench:
        """The LM bench whose recipes (training, method params, evaluation) this bench shares."""
        return LMBench(model=self.model, methods=list(self.methods), seeds=list(self.seeds), params=self.params,
                       train=self.train, eval=self.eval, cache_dir=self.cache_dir, vocab_size=self.vocab_size,
                       max_length=self.max_length)

    def data_args(self, seed: int) -> dict[str, Any]:
        return {"n_people": self.people, "seed": seed, "affected_fraction": self.affected_fraction,
                "unrelated_fraction": self.unrelated_fraction, "docs_per_person": self.docs_per_person,
                "n_general": self.n_general}

    def make_data(self, seed: int):
        from ..lm.restor import make_restor

        return make_restor(**self.data_args(seed))

    def corrupt_config(self):
        from ..lm.train import LMTrainConfig

        return LMTrainConfig.from_params({**CORRUPT_RECIPE, **self.corrupt})

    def resolved(self) -> dict[str, Any]:
        lm = self.lm_bench()
        return {
            "family": "lm", "dataset": "restor", "model": self.model,
            "data_args": {k: v for k, v in self.data_args(0).items() if k != "seed"},
            "vocab_size": self.vocab_size, "max_length": self.max_length,
            "train": lm.train_config().as_dict(), "corrupt": self.corrupt_config().as_dict(),
            "eval": vars(lm.eval_config()), "seeds": list(self.seeds),
            "methods": {m: lm.method_params(m) for m in self.methods},
        }

    def inputs(self) -> list[Path]:
        """The model directory, when ``model`` is one (the built-in sizes and smollm2 come from the cache)."""
        return [Path(self.model)] if "/" in self.model or Path(self.model).is_dir() else []

    def run(self, out_dir: Path) -> list[dict[str, Any]]:
        return run_restor_bench(self, out_dir)

    def row_count(self) -> int:
        """The rows :meth:`run` emits: per seed clean, corrupted and retrain, one per method, and a
        ``dp2_base`` row before each method that starts from the DP base."""
        methods = [resolve_method(m, family="lm")[0] for m in self.methods]
        methods = [m for m in methods if not m.is_exact]
        return len(self.seeds) * (3 + len(methods) + sum(m.base_model == "dp" for m in methods))

    def validate(self) -> None:
        if self.model in ("smollm2",):
            raise ConfigError("the restor bench trains its models from scratch: --model tiny or small")
        if not self.seeds:
            raise ConfigError("at least one seed is needed")
        unknown = set(self.params) - set(self.methods)
        if unknown:
            raise ConfigError(f"--param given for {sorted(unknown)}, which are not among --methods {self.methods}")
        self.make_data(0)
        self.resolved()


def evaluate_restor(model, data, tokenizer, config: LMEvalConfig, *, reference: dict | None = None,
                    clean: dict | None = None, corrupted: dict | None = None, max_length: int = 128) -> dict:
    """``{"metrics", "gap_to_retrain"}`` of one model; ``clean`` / ``corrupted`` are those models' metrics
    (for the recovery ratios; None while they are being computed), ``reference`` the exact reference's."""
    from ..metrics.lm_muse import perplexity
    from ..metrics.lm_restor import fact_rates, recovery_ratio

    kw = {"max_new_tokens": config.knowmem_new_tokens, "batch_size": config.batch_size}
    affected = fact_rates(model, tokenizer, data.affected_questions(), **kw)
    unaffected = fact_rates(model, tokenizer, data.unaffected_questions(), **kw)
    metrics: dict[str, float | None] = {
        "restor_true": affected.true_rate, "restor_false": affected.false_rate,
        "restor_neither": affected.neither_rate, "unaffected_true": unaffected.true_rate,
        "perplexity": perplexity(model, tokenizer, list(data.corpus.general_eval), batch_size=config.batch_size,
                                 max_length=max_length),
    }
    if clean is not None and corrupted is not None:
        metrics["recovery"] = recovery_ratio(clean["restor_true"], corrupted["restor_true"], metrics["restor_true"])
        metrics["false_removed"] = recovery_ratio(clean["restor_false"], corrupted["restor_false"],
                                                  metrics["restor_false"])
    gaps = gap_to_retrain(metrics, reference if reference is not None else metrics, RESTOR_GAP_METRICS)
    return {"metrics": metrics, "gap_to_retrain": gaps}


def run_restor_bench(bench: RestorBench, out_dir: Path) -> list[dict[str, Any]]:
    """Run (or resume) the bench; returns the rows in order. Rows are stored under out_dir/rows."""
    bench.validate()
    with lm_threads(bench.lm_bench(), "restor bench"):
        return _run(bench, Path(out_dir))


def _run(bench: RestorBench, out_dir: Path) -> list[dict[str, Any]]:
    conf = bench.resolved()
    methods = [m for m in conf["methods"] if not resolve_method(m, family="lm")[0].is_exact]
    emit = RowSink(bench.row_count(), "bench restor")
    for seed in bench.seeds:
        for row in _RestorSeed(bench, seed, conf, out_dir).rows(methods):
            emit(row)
    return emit.close()


class _RestorSeed:
    """One seed: data, tokenizer, the cached clean / corrupted / reference models and the rows."""

    def __init__(self, bench: RestorBench, seed: int, conf: dict[str, Any], out_dir: Path) -> None:
        from ..lm.tokenizer import train_bpe_tokenizer

        self.bench, self.seed, self.conf = bench, seed, conf
        self.lm = bench.lm_bench()
        self.eval_config = self.lm.eval_config()
        self.cache_dir = Path(bench.cache_dir) if bench.cache_dir else default_cache_dir()
        self.store = RowStore(out_dir)
        self.data = bench.make_data(seed)
        self.tok = train_bpe_tokenizer(self.data.corpus.all_text() + list(self.data.corrupting),
                                       vocab_size=bench.vocab_size)
        self.key = {"family": "lm", "dataset": "restor", "forget": self.data.describe()["forget_spec"],
                    "data_args": bench.data_args(seed), "tokenizer": tokenizer_hash(self.tok),
                    "vocab_size": bench.vocab_size, "max_length": bench.max_length, "model": bench.model,
                    "train": conf["train"], "seed": seed}
        self.save = lm_saver(self.tok)
        self.retrain_timing: str | None = None  # where the reference's seconds were measured (models())

    def dataset(self, texts: list[str]):
        from ..lm.data import lm_dataset

        return lm_dataset(self.tok, texts, max_length=self.bench.max_length)

    def fresh_model(self):
        from ..lm.model import tiny_llama

        return tiny_llama(len(self.tok), size=self.bench.model, seed=self.seed,
                          max_position_embeddings=max(512, self.bench.max_length))

    def cached(self, kind: str, key: dict, build):
        return cached_model(self.cache_dir, kind, key, build, self.save, load_cached_lm)

    def models(self):
        """(clean, corrupted, reference, reference seconds), trained on first use and cached."""
        from ..lm.train import train_lm

        def train_clean():
            seed_everything(self.seed)
            model = self.fresh_model()
            train_lm(model, self.dataset(self.data.clean_texts()), self.lm.train_config(), seed=self.seed,
                     desc=f"restor clean s{self.seed}")
            return model

        clean, _ = self.cached("restor-clean", self.key, train_clean)
        corrupt_key = {**self.key, "corrupt": self.conf["corrupt"]}

        def continue_on(texts: list[str], desc: str):
            def build():
                seed_everything(self.seed)
                model = copy.deepcopy(clean)
                train_lm(model, self.dataset(texts), self.bench.corrupt_config(), seed=self.seed, desc=desc)
                return model

            return build

        corrupted, _ = self.cached("restor-corrupted", corrupt_key,
                                   continue_on(self.data.corruption_texts(), f"restor corrupt s{self.seed}"))
        reference, meta = self.cached("restor-retrain", corrupt_key,
                                      continue_on(list(self.data.unrelated), f"restor reference s{self.seed}"))
        self.retrain_timing = retrain_timing(meta)
        return clean, corrupted, reference, float(meta["seconds"])

    def dp_base(self, params: dict):
        """dp2's DP-SGD base on everything the corrupted model saw (clean + corruption texts; cached)."""
        return train_dp_base(self.cache_dir, "restor-dp2-base", {**self.key, "corrupt": self.conf["corrupt"]},
                             self.fresh_model,
                             lambda: self.dataset(self.data.clean_texts() + self.data.corruption_texts()),
                             params, self.seed, self.save, load_cached_lm)

    def row(self, name: str, params: dict, evaluation: dict, seconds: float, retrain_seconds: float) -> dict:
        return result_row("lm", self.data.describe() | {"model": self.bench.model}, name, params, self.seed,
                          evaluation, seconds, retrain_seconds, self.retrain_timing)

    def reference_row(self, name: str, model, params: dict, seconds: float, retrain_seconds: float,
                      extra: dict | None = None, **refs: dict | None) -> dict:
        row_key = {**self.key, "corrupt": self.conf["corrupt"], "method": name, "params": params,
                   "eval": self.conf["eval"]}
        row = self.store.get(row_key)
        if row is None:
            evaluation = with_metrics(evaluate_restor(model, self.data, self.tok, self.eval_config,
                                                      max_length=self.bench.max_length, **refs), extra or {})
            row = self.row(name, params, evaluation, seconds, retrain_seconds)
            self.store.put(row_key, row)
        return row

    def rows(self, methods: list[str]):
        clean, corrupted, reference, retrain_seconds = self.models()
        ref = self.reference_row("retrain", reference, self.conf["corrupt"], retrain_seconds, retrain_seconds)
        clean_row = self.reference_row("clean", clean, {}, 0.0, retrain_seconds, reference=ref["metrics"])
        corrupted_row = self.reference_row("corrupted", corrupted, {}, 0.0, retrain_seconds,
                                           reference=ref["metrics"])
        refs = {"reference": ref["metrics"], "clean": clean_row["metrics"], "corrupted": corrupted_row["metrics"]}
        # the reference rows' recovery columns are computed once clean and corrupted are known
        for row in (clean_row, corrupted_row, ref):
            _add_recovery(row, refs["clean"], refs["corrupted"])
        yield from (clean_row, corrupted_row, ref)
        for name in methods:
            method, _ = resolve_method(name, family="lm")
            params = self.conf["methods"][name]
            config = method.Config.from_params(params)
            start, extra = corrupted, {}
            if method.base_model == "dp":
                start, meta = self.dp_base(params)
                extra = dp_metrics(start)
                yield self.reference_row("dp2_base", start, params, float(meta["seconds"]), retrain_seconds,
                                         extra=extra, **refs)
            model = copy.deepcopy(start)
            data = self.data.unlearn_data(self.tok, self.bench.max_length)

            def unlearn(model=model, data=data, config=config, method=method):
                seed_everything(self.seed)
                return method().run(model, data, config, seed=self.seed)

            def evaluate(unlearned, extra=extra):
                evaluation = evaluate_restor(unlearned, self.data, self.tok, self.eval_config,
                                             max_length=self.bench.max_length, **refs)
                return with_metrics(evaluation, extra)

            yield run_method_row(
                self.store, {**self.key, "corrupt": self.conf["corrupt"], "method": name, "params": params,
                             "eval": self.conf["eval"]},
                f"{name} on restor seed {self.seed}", unlearn, evaluate,
                lambda evaluation, seconds, name=name, params=params: self.row(name, params, evaluation, seconds,
                                                                              retrain_seconds),
            )


def _add_recovery(row: dict, clean: dict, corrupted: dict) -> None:
    from ..metrics.lm_restor import recovery_ratio

    m = row["metrics"]
    m["recovery"] = recovery_ratio(clean["restor_true"], corrupted["restor_true"], m["restor_true"])
    m["false_removed"] = recovery_ratio(clean["restor_false"], corrupted["restor_false"], m["restor_false"])
