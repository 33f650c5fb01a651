"""The classifier benchmark: original model and exact-retrain reference per seed (cached), every
method on the same task, metrics and gaps to retrain, one row per (forget spec, method, seed).

Forget specs and their tasks: :mod:`obliviate.classifier.specs`; the worst-case command:
:mod:`obliviate.classifier.worst_case_file`.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable
from typing import Any

import numpy as np

from ..data import load_image_dataset
from ..data.images import ImageSplits
from ..errors import ConfigError
from ..methods import get_method
from ..methods.classifier.retrain import Retrain, RetrainConfig, train_classifier
from ..metrics.classifier import evaluate_classifier
from ..metrics.mia import MIN_PER_SIDE
from ..models.classifier import build_classifier
from ..pruning import PruneSpec, apply_masks, prune, sparsity
from ..tasks import ForgetRequest, Task, UnlearnData, read_indices_file
from ..tasks.forget import SEARCHED_KINDS
from ..utils.io import atomic_dir, atomic_write_json
from ..utils.seeding import seed_everything
from ..utils.threads import built_params, thread_scope
from ..bench.cache import cached_classifier, cached_model, default_cache_dir
from .defaults import DEFAULT_METHODS
from .specs import BenchSpec, Point, check_spec, points_of
from .recipe_files import RecipeFile, load_recipe
from .recipes import recipe_for
from ..bench.rows import CACHED, MEASURED, RowSink, RowStore, result_row, retrain_timing, run_method_row
from ..bench.series import sequential_chain

#: ``--param worst_case.NAME=VALUE`` configures the search, not a method
SEARCH_PARAMS = "worst_case"


@dataclass
class ClassifierBench:
    """A grid of forget specs x methods x seeds on one dataset."""

    dataset: str = "digits"
    forget: list[str] = field(default_factory=lambda: ["random:0.1"])
    methods: list[str] = field(default_factory=lambda: list(DEFAULT_METHODS))
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
    #: a recipe file (``--recipe``, :mod:`obliviate.classifier.recipe_files`): over the built-in dataset
    #: recipe, under ``params`` / ``train``
    recipe: str | None = None
    #: a user's model, ``MODULE:FUNCTION`` (:mod:`obliviate.models.factory`); replaces ``model``
    model_factory: str | None = None
    #: train the originals and retrain references in N processes through accelerate
    #: (:mod:`obliviate.classifier.launch`); None or 1: in this process
    accelerate: int | None = None
    #: False: no exact-retrain reference is trained or reported (rows carry no gap to retrain and no time
    #: ratio); what ``obliviate tune --objective retrain-free`` runs for a user who cannot afford one
    reference: bool = True

    def recipe_file(self) -> RecipeFile | None:
        """The parsed ``recipe`` file (read once), or None."""
        if self.recipe is None:
            return None
        cached = self.__dict__.get("_recipe_file")
        if cached is None or cached.path != str(self.recipe):
            cached = self.__dict__["_recipe_file"] = load_recipe(self.recipe)
        return cached

    def _train_params(self) -> dict[str, Any]:
        """Original-training / retrain params: built-in recipe < recipe file < --train."""
        file = self.recipe_file()
        return {**recipe_for(self.dataset).train, **(file.train if file else {}), **self.train}

    def resolved(self) -> dict[str, Any]:
        """Everything that determines the results (recorded next to them)."""
        recipe, file = recipe_for(self.dataset), self.recipe_file()
        train = RetrainConfig.from_params(self._train_params()).as_dict()
        return {
            "family": "classifier",
            "dataset": self.dataset,
            "recipe": file.record() if file else None,
            "model": self._factory() or self.model or (file.model if file else None) or recipe.model,
            "model_factory": self.model_factory,
            "accelerate": self.accelerate if self.accelerate and self.accelerate > 1 else None,
            "model_kwargs": dict(recipe.model_kwargs),
            "max_train": next((m for m in (self.max_train, file and file.max_train, recipe.max_train) if m is not None), None),
            "train": train,
            "forget": list(self.forget),
            "seeds": list(self.seeds),
            "methods": {m: self.method_params(m) for m in self.methods},
            **({"worst_case_search": self.search_config().as_dict()} if self._searches() else {}),
            "mia_max_per_side": self.mia_max_per_side,
            "prune": PruneSpec.parse(self.prune).spec if self.prune else None,
            **({} if self.reference else {"reference": False}),
        }

    def _factory(self) -> str | None:
        """The registered architecture name of ``model_factory`` (imports the user's module once)."""
        if self.model_factory is None:
            return None
        if self.model is not None:
            raise ConfigError("give --model or --model-factory, not both")
        from ..models.factory import use_model_factory

        return use_model_factory(self.model_factory)

    def method_params(self, name: str) -> dict[str, Any]:
        """The full config of ``name`` (validated): paper defaults < recipe defaults < user params."""
        method = get_method(name, family="classifier")  # an lm method fails here, before training
        if method.is_exact:  # exact retrain follows the recipe that trained the original model
            return RetrainConfig.from_params({**self._train_params(), **self.params.get(name, {})}).as_dict()
        recipe, file = recipe_for(self.dataset), self.recipe_file()
        fields = {n for n, *_ in method.Config.describe()}
        defaults = {k: v for k, v in recipe.method_defaults.items() if k in fields}
        defaults.update(recipe.method_params.get(name, {}))
        defaults.update(file.method_params(name) if file else {})
        return method.Config.from_params({**defaults, **self.params.get(name, {})}).as_dict()

    def validate(self) -> None:
        """Fail fast, before any training, on every bad name, spec or parameter."""
        from ..data import IMAGE_DATASETS

        IMAGE_DATASETS.get(self.dataset)
        for spec in self.forget:
            BenchSpec.parse(spec)
        unknown = set(self.params) - set(self.methods) - {SEARCH_PARAMS}
        if unknown:
            raise ConfigError(f"--param given for {sorted(unknown)}, which are not among --methods {self.methods}")
        if not self.seeds:
            raise ConfigError("at least one seed is needed")
        mia = self.mia_max_per_side
        if mia is not None and (isinstance(mia, bool) or not isinstance(mia, int) or mia < MIN_PER_SIDE):
            raise ConfigError(f"--mia-max-per-side must be a number of samples >= {MIN_PER_SIDE} (the attacker's "
                              f"least per side), got {mia!r}")
        self._check_accelerate()
        if not self.reference:
            exact = [m for m in self.methods if get_method(m, family="classifier").is_exact]
            if exact or (self.accelerate or 1) > 1:
                raise ConfigError("a bench without its reference runs no exact retrain "
                                  f"({', '.join(exact) or '--accelerate'})")
        self.resolved()  # parses every method config, the search config and the training recipe

    def inputs(self) -> list[Path]:
        """The data folder and ``indices:FILE`` forget files."""
        found = [Path(self.data_dir)] if self.data_dir else []
        for spec in self.forget:
            _, sep, path = str(spec).partition("indices:")
            if sep:
                found.append(Path(path.strip()))
        return found

    def run(self, out_dir: Path) -> list[dict[str, Any]]:
        return run_classifier_bench(self, out_dir)

    def row_count(self) -> int:
        """The rows :meth:`run` emits: per seed and forget point, original and retrain plus one per method."""
        specs = [BenchSpec.parse(spec) for spec in self.forget]
        n_methods = sum(not get_method(m, family="classifier").is_exact for m in self.methods)
        n_points = sum(spec.steps if spec.kind == "sequential" else max(len(spec.percents), 1) for spec in specs)
        return len(self.seeds) * n_points * ((2 if self.reference else 1) + n_methods)

    def _check_accelerate(self) -> None:
        """What ``--accelerate N`` supports (:mod:`obliviate.classifier.launch`), checked before any work."""
        n = self.accelerate
        if n is None:
            return
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ConfigError(f"--accelerate takes a number of processes >= 1, got {n!r}")
        if n == 1:
            return
        searched = [f for f in self.forget if (r := BenchSpec.parse(f).inner) is not None and r.kind in SEARCHED_KINDS]
        if searched:
            raise ConfigError(f"--accelerate does not run worst-case searches yet ({', '.join(searched)}); drop one of them")
        if self.prune:
            raise ConfigError("--accelerate does not train pruned originals yet; drop --prune or --accelerate")
        batch = int(self.resolved()["train"]["batch_size"])
        if batch % n:
            raise ConfigError(f"--accelerate {n}: the training batch_size {batch} is the global batch and must be a "
                              f"multiple of {n} (set --train batch_size=...)")

    def _searches(self) -> bool:
        """Whether a forget spec needs the worst-case search (or --param worst_case.* was given)."""
        inner = [BenchSpec.parse(f).inner for f in self.forget]
        return SEARCH_PARAMS in self.params or any(r is not None and r.kind in SEARCHED_KINDS for r in inner)

    def search_config(self, request: ForgetRequest | None = None):
        """The worst-case search config: defaults < the recipe's batch size < --param worst_case.* < the spec's options."""
        from .worst_case import WorstCaseConfig

        recipe = recipe_for(self.dataset)
        params = {k: v for k, v in recipe.method_defaults.items() if k == "batch_size"}
        params.update(self.params.get(SEARCH_PARAMS, {}))
        params.update(dict(request.options) if request is not None else {})
        return WorstCaseConfig.from_params(params)


def run_classifier_bench(bench: ClassifierBench, out_dir: Path) -> list[dict[str, Any]]:
    """Run (or resume) the grid; returns the rows in grid order. Rows are stored under out_dir/rows."""
    bench.validate()
    conf = bench.resolved()
    splits, model_kwargs, base_key = setup(bench, conf)
    params = built_params(lambda: build_classifier(conf["model"], **model_kwargs))
    if conf.get("model_factory"):
        from ..models.factory import check_methods

        check_methods(build_classifier(conf["model"], **model_kwargs), conf["methods"], conf["model_factory"])
    if conf.get("accelerate"):
        from .launch import launch_references

        launch_references(bench)  # the originals and references land in the cache; the grid below loads them
    with thread_scope(params, scope="classifier bench"):
        return _run_grid(bench, conf, splits, model_kwargs, base_key, out_dir)


def _run_grid(bench: ClassifierBench, conf: dict[str, Any], splits: ImageSplits, model_kwargs: dict[str, Any],
              base_key: dict[str, Any], out_dir: Path) -> list[dict[str, Any]]:
    cache_dir = Path(bench.cache_dir) if bench.cache_dir else default_cache_dir()
    store = RowStore(out_dir)
    train_cfg = RetrainConfig.from_params(conf["train"])
    specs = [BenchSpec.parse(spec) for spec in conf["forget"]]
    # resolve every forget set that needs no model first: a bad spec fails before anything is trained
    for spec in specs:
        check_spec(spec, splits, bench, conf["seeds"])
    emit = RowSink(bench.row_count(), f"bench {conf['dataset']}")

    for seed in conf["seeds"]:
        original = original_model(conf, splits, model_kwargs, base_key, cache_dir, seed)
        dense, pruning = original, None
        if conf["prune"]:
            def prune_original() -> Any:
                seed_everything(seed)
                return prune(copy.deepcopy(dense), conf["prune"], splits.train, train_cfg, seed=seed)

            original, prune_meta = cached_classifier(
                cache_dir, "pruned", {**base_key, "seed": seed, "prune": conf["prune"]}, prune_original
            )
            pruning = {"spec": conf["prune"], "seconds": float(prune_meta["seconds"]), "sparsity": sparsity(original)}
        ctx = _SeedRun(bench, conf, splits, seed, original, dense, pruning, store, cache_dir, base_key, model_kwargs,
                       train_cfg)
        for spec in specs:
            points, search = points_of(ctx, spec)
            refs = []
            for point in points:
                if not bench.reference:  # no retrain trained: the original alone, no gap to retrain
                    refs.append(NO_REFERENCE)
                    emit(_with_recipe(_mark(ctx.original_row(point.task), point, pruning, search), bench))
                    continue
                ref_row, original_row = ctx.reference_rows(point.task)
                refs.append(ref_row)
                emit(_with_recipe(_mark(original_row, point, pruning, search), bench))
                emit(_with_recipe(_mark(ref_row, point, pruning, search), bench))  # the reference is always in the table
            for name, params in conf["methods"].items():
                if get_method(name, family="classifier").is_exact:
                    continue
                if spec.kind == "sequential":
                    method_rows = _sequential_rows(ctx, spec, points, refs, name, params)
                else:
                    method_rows = [ctx.method_row(p.task, name, params, ref) for p, ref in zip(points, refs)]
                for point, row in zip(points, method_rows):
                    emit(_with_recipe(_mark(row, point, pruning, search), bench))
    return emit.close()


def setup(bench: ClassifierBench, conf: dict[str, Any]) -> tuple[ImageSplits, dict[str, Any], dict[str, Any]]:
    """The dataset splits, the model's constructor arguments and the cache key every model of ``bench`` shares."""
    splits = load_image_dataset(conf["dataset"], data_dir=bench.data_dir, max_train=conf["max_train"])
    c, _, _ = splits.image_shape
    model_kwargs = {"in_channels": c, "num_classes": splits.num_classes, **conf["model_kwargs"]}
    if conf.get("model_factory"):  # a user's model is told the image size (models/factory.py)
        model_kwargs["image_size"] = splits.image_shape[1]
    base_key = {
        "family": "classifier", "dataset": conf["dataset"], "n_train": len(splits.train), "max_train": conf["max_train"],
        "model": conf["model"], "model_kwargs": model_kwargs, "train": conf["train"],
    }
    if conf.get("accelerate"):  # DDP (BatchNorm statistics per shard) trains other weights than one process
        base_key["train_processes"] = conf["accelerate"]
    return splits, model_kwargs, base_key


def original_model(conf: dict[str, Any], splits: ImageSplits, model_kwargs: dict[str, Any], base_key: dict[str, Any],
              cache_dir: Path, seed: int) -> Any:
    """The recipe's original model for ``seed`` from the cache (trained and cached when absent)."""
    return cached_classifier(cache_dir, "original", {**base_key, "seed": seed},
                             lambda: _train_original(conf, splits, model_kwargs, seed))[0]


def _train_original(conf: dict[str, Any], splits: ImageSplits, model_kwargs: dict[str, Any], seed: int) -> Any:
    """Train (uncached) the recipe's original model for ``seed``."""
    seed_everything(seed)
    model = build_classifier(conf["model"], **model_kwargs)
    return train_classifier(model, splits.train, RetrainConfig.from_params(conf["train"]), seed=seed,
                            desc=f"original s{seed}")


@dataclass
class _SeedRun:
    """Everything one seed's rows share: the models, the row store, the cache keys."""

    bench: ClassifierBench
    conf: dict[str, Any]
    splits: ImageSplits
    seed: int
    original: Any
    dense: Any  # the original before pruning: the worst-case search runs on it
    pruning: dict[str, Any] | None
    store: RowStore
    cache_dir: Path
    base_key: dict[str, Any]
    model_kwargs: dict[str, Any]
    train_cfg: RetrainConfig

    def key(self, task: Task) -> dict[str, Any]:
        key = {**self.base_key, "seed": self.seed, "forget": task.request.spec, "forget_hash": _hash_indices(task)}
        key |= {} if self.bench.reference else {"reference": False}  # its rows have no gap to retrain
        return key | ({"prune": self.pruning["spec"]} if self.pruning else {})

    def reference_key(self, task: Task) -> dict[str, Any]:
        return {k: v for k, v in self.key(task).items() if k != "prune"}  # the reference stays the dense retrain

    def train_reference(self, task: Task) -> Any:
        """Train (uncached) the exact retrain without ``task``'s forget set."""
        seed_everything(self.seed)
        model = build_classifier(self.conf["model"], **self.model_kwargs)
        return Retrain().run(model, task.unlearn_data(), self.train_cfg, seed=self.seed)

    def reference_rows(self, task: Task) -> tuple[dict, dict]:
        """The (cached) dense exact retrain without ``task``'s forget set: its row and the original's row."""
        key = self.key(task)
        reference, ref_meta = cached_classifier(self.cache_dir, "retrain", self.reference_key(task),
                                                lambda: self.train_reference(task))
        retrain_seconds = float(ref_meta["seconds"])
        ref_row = _reference_row(self.store, key, task, reference, retrain_seconds, self.conf, self.bench)
        timing = {"retrain_timing": retrain_timing(ref_meta)}  # this process's view, for its methods and search
        original_row = _original_row(self.store, key, task, self.original, ref_row["metrics"], retrain_seconds, self.bench)
        return ref_row | timing, original_row | timing

    def original_row(self, task: Task) -> dict:
        """The original's row without a reference (no gap to retrain, no retrain time)."""
        return _original_row(self.store, self.key(task), task, self.original, None, None, self.bench)

    def method_row(self, task: Task, name: str, params: dict, ref_row: dict) -> dict:
        return _method_row(self.store, self.key(task), task, self.original, name, params, ref_row["metrics"],
                           ref_row["retrain_seconds"], self.bench, ref_row.get("retrain_timing"))

    def search_key(self, request: ForgetRequest) -> tuple[dict[str, Any], int]:
        """The cache key of the worst-case search for ``request`` on this seed, and its size (samples or classes)."""
        from .worst_case import resolve_size

        config = self.bench.search_config(request)
        n = len(self.splits.train)
        size = request.count if request.kind == "worst_classes" else resolve_size(
            request.count if request.count is not None else request.fraction, n)
        return {**self.base_key, "seed": self.seed, "search": request.kind, "size": size, "config": config.as_dict()}, size

    def worst_case(self, request: ForgetRequest) -> tuple[np.ndarray, dict[str, Any]]:
        """The search's set for ``request`` on this seed's dense original (cached) and its record."""
        from .worst_case import search_worst_case

        config = self.bench.search_config(request)
        key, size = self.search_key(request)
        classes = size if request.kind == "worst_classes" else None

        def search():
            return search_worst_case(self.dense, self.splits.train, self.splits.num_classes, size, config,
                                     seed=self.seed, classes=classes)

        def save(result, directory: Path, meta: dict) -> None:
            with atomic_dir(directory) as tmp:
                result.write(str(tmp / "indices.txt"), {"dataset": self.conf["dataset"], "max_train": self.conf["max_train"]})
                atomic_write_json(tmp / "search.json", {**meta, "result": result.describe()})

        def load(directory: Path):
            return read_indices_file(directory / "indices.txt"), json.loads((directory / "search.json").read_text())

        found, meta = cached_model(self.cache_dir, "worst-case", key, search, save, load)
        if not isinstance(found, np.ndarray):  # freshly searched: the result object
            found = found.indices
            meta = {**meta, "result": None}
        return found, meta


def _sequential_rows(ctx: _SeedRun, spec: BenchSpec, points: list[Point], refs: list[dict], name: str,
                     params: dict) -> list[dict]:
    """Request i: unlearn fold i from the model request i - 1 left (retain: the training set without folds 1..i)."""
    method = get_method(name, family="classifier")
    config = method.Config.from_params(params)
    keys = [{**ctx.key(p.task), "method": name, "params": params, "chain": spec.text} for p in points]
    labels = method.needs_labels(config)

    def run_request(i: int, model_in: Callable[[], Any], keep: Callable[[Any], None]) -> dict:
        task, ref = points[i].task, refs[i]
        forget = ctx.splits.train.subset(points[i].fold)
        data = UnlearnData(forget if labels else forget.without_labels(),
                           task.retain if labels else task.retain.without_labels(), ctx.splits.num_classes)

        def unlearn() -> Any:
            start = model_in()
            seed_everything(ctx.seed)
            model = apply_masks(method().run(start, data, config, seed=ctx.seed))
            keep(model)
            return model

        def make_row(evaluation: dict, seconds: float) -> dict:
            row = _row(task, name, params, ctx.seed, evaluation, seconds, ref["retrain_seconds"], ref.get("retrain_timing"))
            row["task"]["model"] = ctx.conf["model"]
            return row

        return run_method_row(
            ctx.store, keys[i], f"{name} request {i + 1}/{spec.steps} on {spec.text} seed {ctx.seed}", unlearn,
            lambda model: evaluate_classifier(model, task, reference=ref["metrics"],
                                              mia_max_per_side=ctx.bench.mia_max_per_side),
            make_row, reuse=False,
        )

    return sequential_chain(ctx.store, keys, lambda: copy.deepcopy(ctx.original), run_request)


def _mark(row: dict, point: Point, pruning: dict | None, search: dict | None) -> dict:
    """A copy of ``row`` with its series coordinates, pruning and worst-case search record."""
    row = _with_pruning(copy.deepcopy(row), pruning)
    if point.series is not None:
        row["task"]["series"] = dict(point.series)
    if search is not None:  # search time relative to one retrain (the reference of this point)
        ratio = search["seconds"] / row["retrain_seconds"] if row.get("retrain_seconds") else None
        same = search["timing"] == MEASURED and row.get("retrain_timing") == MEASURED  # both timed by this process
        row["search"] = {**search, "time_ratio": ratio, "timing": MEASURED if same else CACHED}
    return row


def _with_recipe(row: dict, bench: ClassifierBench) -> dict:
    """Stamp the recipe file and the provenance of the row's method values (``row["method"]``)."""
    file = bench.recipe_file()
    if file is not None:
        row["method"]["recipe"] = file.path
        row["method"]["provenance"] = file.provenance_of(row["method"]["name"])
    return row


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


def _row(task: Task, method: str, params: dict, seed: int, evaluation: dict, seconds: float, retrain_seconds: float,
         timing: str | None = None) -> dict:
    return result_row("classifier", task.describe() | {"model": None}, method, params, seed, evaluation, seconds,
                      retrain_seconds, timing)


#: what a row compares with in a bench without its reference (``ClassifierBench.reference`` False)
NO_REFERENCE: dict[str, Any] = {"metrics": None, "retrain_seconds": None}


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


def _original_row(store: RowStore, key: dict, task: Task, original, ref_metrics: dict | None,
                  retrain_seconds: float | None, bench: ClassifierBench) -> dict:
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
    retrain_seconds: float, bench: ClassifierBench, timing: str | None = None,
) -> dict:
    method = get_method(name, family="classifier")
    config = method.Config.from_params(params)

    model = copy.deepcopy(original)
    data = task.unlearn_data(with_labels=method.needs_labels(config))
    seed_everything(task.seed)

    def unlearn() -> Any:  # timed from here
        return apply_masks(method().run(model, data, config, seed=task.seed))  # no-op unless pruned

    def make_row(evaluation: dict, seconds: float) -> dict:
        row = _row(task, name, params, task.seed, evaluation, seconds, retrain_seconds, timing)
        row["task"]["model"] = key["model"]
        return row

    return run_method_row(
        store, {**key, "method": name, "params": params}, f"{name} on {task.request.spec} seed {task.seed}", unlearn,
        lambda model: evaluate_classifier(model, task, reference=ref_metrics, mia_max_per_side=bench.mia_max_per_side),
        make_row,
    )
