"""The classifier benchmark: original model and exact-retrain reference per seed (cached), every
method on the same task, metrics and gaps to retrain, one row per (forget spec, method, seed)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..data import load_image_dataset
from ..methods import get_method
from ..methods.retrain import Retrain, RetrainConfig, train_classifier
from ..metrics.classifier import evaluate_classifier
from ..models.classifier import build_classifier
from ..pruning import PruneSpec, apply_masks, prune, sparsity
from ..tasks import ForgetRequest, Task
from ..utils.progress import progress
from ..utils.seeding import seed_everything
from .cache import cached_classifier, default_cache_dir
from .recipes import recipe_for
from .rows import RowStore, result_row, run_method_row



@dataclass
class ClassifierBench:
    """A grid of forget specs x methods x seeds on one dataset."""

    dataset: str = "digits"
    forget: list[str] = field(default_factory=lambda: ["random:0.1"])
    methods: list[str] = field(default_factory=lambda: ["retrain", "finetune", "grad_ascent", "random_label"])
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    model: str | None = None
    #: method name -> {param: value}; overrides the recipe's method defaults
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: overrides of the original-training / retrain recipe
    train: dict[str, Any] = field(default_factory=dict)
    data_dir: str | None = None
    max_train: int | None = None
    cache_dir: str | None = None
    mia_max_per_side: int | None = 5000
    #: prune-first (Jia et al. 2023): a pruning spec such as ``omp:0.95``; every method then starts from
    #: the pruned original (cached) and its masks stay enforced. The reference stays the dense retrain.
    prune: str | None = None

    def resolved(self) -> dict[str, Any]:
        """Everything that determines the results (recorded next to them)."""
        recipe = recipe_for(self.dataset)
        train = RetrainConfig.from_params({**recipe.train, **self.train}).as_dict()
        return {
            "family": "classifier",
            "dataset": self.dataset,
            "model": self.model or recipe.model,
            "model_kwargs": dict(recipe.model_kwargs),
            "max_train": self.max_train if self.max_train is not None else recipe.max_train,
            "train": train,
            "forget": list(self.forget),
            "seeds": list(self.seeds),
            "methods": {m: self.method_params(m) for m in self.methods},
            "mia_max_per_side": self.mia_max_per_side,
            "prune": PruneSpec.parse(self.prune).spec if self.prune else None,
        }

    def method_params(self, name: str) -> dict[str, Any]:
        """The full config of ``name`` (validated): paper defaults < recipe defaults < user params."""
        method = get_method(name, family="classifier")  # an lm method fails here, before training
        if method.is_exact:  # exact retrain follows the recipe that trained the original model
            recipe = recipe_for(self.dataset)
            return RetrainConfig.from_params({**recipe.train, **self.train, **self.params.get(name, {})}).as_dict()
        recipe = recipe_for(self.dataset)
        fields = {n for n, *_ in method.Config.describe()}
        defaults = {k: v for k, v in recipe.method_defaults.items() if k in fields}
        defaults.update(recipe.method_params.get(name, {}))
        return method.Config.from_params({**defaults, **self.params.get(name, {})}).as_dict()

    def validate(self) -> None:
        """Fail fast, before any training, on every bad name, spec or parameter."""
        from ..data import IMAGE_DATASETS

        IMAGE_DATASETS.get(self.dataset)
        for spec in self.forget:
            ForgetRequest.parse(spec)
        unknown = set(self.params) - set(self.methods)
        if unknown:
            from ..errors import ConfigError

            raise ConfigError(f"--param given for {sorted(unknown)}, which are not among --methods {self.methods}")
        if not self.seeds:
            from ..errors import ConfigError

            raise ConfigError("at least one seed is needed")
        self.resolved()  # parses every method config and the training recipe


def run_classifier_bench(bench: ClassifierBench, out_dir: Path) -> list[dict[str, Any]]:
    """Run (or resume) the grid; returns the rows in grid order. Rows are stored under out_dir/rows."""
    bench.validate()
    conf = bench.resolved()
    splits = load_image_dataset(conf["dataset"], data_dir=bench.data_dir, max_train=conf["max_train"])
    c, _, _ = splits.image_shape
    model_kwargs = {"in_channels": c, "num_classes": splits.num_classes, **conf["model_kwargs"]}
    cache_dir = Path(bench.cache_dir) if bench.cache_dir else default_cache_dir()
    store = RowStore(out_dir)
    train_cfg = RetrainConfig.from_params(conf["train"])
    base_key = {
        "family": "classifier", "dataset": conf["dataset"], "n_train": len(splits.train), "max_train": conf["max_train"],
        "model": conf["model"], "model_kwargs": model_kwargs, "train": conf["train"],
    }
    # resolve every forget set first: a bad spec fails before anything is trained
    tasks = {(seed, spec): Task.build(splits, spec, seed) for seed in conf["seeds"] for spec in conf["forget"]}
    rows: list[dict[str, Any]] = []
    n_methods = sum(not get_method(m).is_exact for m in conf["methods"])
    bar = progress(total=len(tasks) * (2 + n_methods), desc=f"bench {conf['dataset']}", unit="row", always=True, leave=True)

    def emit(row: dict[str, Any]) -> None:
        rows.append(row)
        bar.set_postfix_str(f"{row['task']['forget_spec']} {row['method']['name']} s{row['seed']}", refresh=False)
        bar.update(1)

    for seed in conf["seeds"]:
        def train_original() -> Any:
            seed_everything(seed)
            model = build_classifier(conf["model"], **model_kwargs)
            return train_classifier(model, splits.train, train_cfg, seed=seed, desc=f"original s{seed}")

        original, orig_meta = cached_classifier(cache_dir, "original", {**base_key, "seed": seed}, train_original)
        pruning = None
        if conf["prune"]:
            dense = original

            def prune_original() -> Any:
                seed_everything(seed)
                return prune(copy.deepcopy(dense), conf["prune"], splits.train, train_cfg, seed=seed)

            original, prune_meta = cached_classifier(
                cache_dir, "pruned", {**base_key, "seed": seed, "prune": conf["prune"]}, prune_original
            )
            pruning = {"spec": conf["prune"], "seconds": float(prune_meta["seconds"]), "sparsity": sparsity(original)}
        for spec in conf["forget"]:
            task = tasks[seed, spec]
            key = {**base_key, "seed": seed, "forget": task.request.spec, "forget_hash": _hash_indices(task)}
            # the reference is the dense exact retrain whether or not the original was pruned
            ref_key = dict(key)
            if pruning:
                key["prune"] = pruning["spec"]

            def train_reference() -> Any:
                seed_everything(seed)
                model = build_classifier(conf["model"], **model_kwargs)
                return Retrain().run(model, task.unlearn_data(), train_cfg, seed=seed)

            reference, ref_meta = cached_classifier(cache_dir, "retrain", ref_key, train_reference)
            retrain_seconds = float(ref_meta["seconds"])
            ref_row = _reference_row(store, key, task, reference, retrain_seconds, conf, bench)
            ref_metrics = ref_row["metrics"]
            emit(_with_pruning(_original_row(store, key, task, original, ref_metrics, retrain_seconds, bench), pruning))
            emit(_with_pruning(ref_row, pruning))  # the reference is always part of the table, listed or not
            for name, params in conf["methods"].items():
                if not get_method(name).is_exact:
                    row = _method_row(store, key, task, original, name, params, ref_metrics, retrain_seconds, bench)
                    emit(_with_pruning(row, pruning))
    bar.close()
    return rows


def _with_pruning(row: dict, pruning: dict | None) -> dict:
    """Mark a row of a prune-first bench: ``task.prune`` (the spec; the report groups by it) and
    ``pruning`` (spec, one-off pruning seconds, sparsity reached). Unlearning ``seconds`` exclude the
    pruning, a one-time cost paid before any request arrives."""
    if pruning:
        row["task"]["prune"] = pruning["spec"]
        row["pruning"] = dict(pruning)
    return row


def _hash_indices(task: Task) -> str:
    import hashlib

    return hashlib.sha256(task.forget_idx.tobytes()).hexdigest()[:16]


def _row(task: Task, method: str, params: dict, seed: int, evaluation: dict, seconds: float, retrain_seconds: float) -> dict:
    return result_row("classifier", task.describe() | {"model": None}, method, params, seed, evaluation, seconds,
                      retrain_seconds)


def _reference_row(store: RowStore, key: dict, task: Task, reference, retrain_seconds: float, conf: dict, bench: ClassifierBench) -> dict:
    row_key = {**key, "method": "retrain", "role": "reference"}
    row = store.get(row_key)
    if row is None:
        evaluation = evaluate_classifier(reference, task, mia_max_per_side=bench.mia_max_per_side)
        evaluation["gap_to_retrain"] = {k: 0.0 for k in evaluation["metrics"]} | {"average": 0.0}
        row = _row(task, "retrain", conf["train"], task.seed, evaluation, retrain_seconds, retrain_seconds)
        row["task"]["model"] = conf["model"]
        store.put(row_key, row)
    return row


def _original_row(store: RowStore, key: dict, task: Task, original, ref_metrics: dict, retrain_seconds: float, bench: ClassifierBench) -> dict:
    row_key = {**key, "method": "original"}
    row = store.get(row_key)
    if row is None:
        evaluation = evaluate_classifier(original, task, reference=ref_metrics, mia_max_per_side=bench.mia_max_per_side)
        row = _row(task, "original", {}, task.seed, evaluation, 0.0, retrain_seconds)
        row["task"]["model"] = key["model"]
        store.put(row_key, row)
    return row


def _method_row(
    store: RowStore, key: dict, task: Task, original, name: str, params: dict, ref_metrics: dict,
    retrain_seconds: float, bench: ClassifierBench,
) -> dict:
    method = get_method(name)
    config = method.Config.from_params(params)

    model = copy.deepcopy(original)
    data = task.unlearn_data(with_labels=method.needs_labels(config))
    seed_everything(task.seed)

    def unlearn() -> Any:  # timed from here
        return apply_masks(method().run(model, data, config, seed=task.seed))  # no-op unless pruned

    def make_row(evaluation: dict, seconds: float) -> dict:
        row = _row(task, name, params, task.seed, evaluation, seconds, retrain_seconds)
        row["task"]["model"] = key["model"]
        return row

    return run_method_row(
        store, {**key, "method": name, "params": params}, f"{name} on {task.request.spec} seed {task.seed}", unlearn,
        lambda model: evaluate_classifier(model, task, reference=ref_metrics, mia_max_per_side=bench.mia_max_per_side),
        make_row,
    )
