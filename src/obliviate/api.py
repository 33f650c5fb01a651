"""The Python API: ``unlearn`` and ``evaluate`` on a model and a task (classifiers); ``unlearn_lm`` for
causal LMs lives in :mod:`obliviate.lm.unlearn` and is exported here and as ``obliviate.unlearn_lm``."""

from __future__ import annotations

import copy
import hashlib
import time
from pathlib import Path
from typing import Any

from torch import nn

from .methods import get_method
from .record import UnlearnResult, check_unlearn_outputs, tensors_hash, weights_hash  # noqa: F401  (re-exported)
from .tasks import Task
from .utils.outputs import mark


def unlearn(model: nn.Module, task: Task, method: str, *, seed: int = 0, inplace: bool = False, **params: Any) -> UnlearnResult:
    """Run ``method`` on ``model`` for ``task``; the model is copied first unless ``inplace``.

    Parameters are the method's config fields (``obliviate ls methods -v``); unknown names raise.
    """
    from .utils.seeding import seed_everything
    from .utils.warmup import warm_up

    cls = get_method(method, family="classifier")
    config = cls.Config.from_params(params)
    if not inplace:
        model = copy.deepcopy(model)
    data = task.unlearn_data(with_labels=cls.needs_labels(config))
    warm_up()  # the process's one-time torch costs are not the method's time
    seed_everything(seed)
    start = time.perf_counter()
    model = cls().run(model, data, config, seed=seed)
    return UnlearnResult(model, method, config.as_dict(), seed, time.perf_counter() - start)


def evaluate(model: nn.Module, task: Task, *, reference: nn.Module | dict | None = None) -> dict[str, dict]:
    """Forget/retain/test accuracy, UA, MIA-efficacy; gaps when a reference model or its metrics are given."""
    from .metrics.classifier import evaluate_classifier

    if isinstance(reference, nn.Module):
        reference = evaluate_classifier(reference, task)["metrics"]
    return evaluate_classifier(model, task, reference=reference)


def unlearn_from_dirs(
    *, model_dir: str, dataset: str, forget: str, method: str, params: dict[str, Any], seed: int, out: str,
    evaluate: bool = False, data_dir: str | None = None, max_train: int | None = None, prune: str | None = None,
    checkpoint_every: int | None = None, reference: str | None = None, overwrite: bool = False,
    recipe: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """CLI helper: load, (optionally prune first,) unlearn, save the model with its ``record.json``
    (:mod:`obliviate.record`; the model and record appear together, atomically). The process's torch
    thread count is set for the loaded model (:mod:`obliviate.utils.threads`).

    ``prune`` (e.g. ``omp:0.95``) prunes the loaded model and retrains it sparse on the whole training
    set with the recipe recorded in its config.json (else the dataset's recipe) before unlearning;
    the saved model keeps its masks. ``checkpoint_every``: checkpoint the training every that many
    steps into ``<out>.checkpoints``; a rerun of the same job resumes (:mod:`obliviate.training.checkpoint`).
    ``evaluate`` stores metrics before and after; ``reference`` (a retrained model's directory) also
    those of the retrain reference and the gaps to it. ``out`` (and ``<out>.checkpoints``) must be new, an
    earlier ``unlearn`` output, or ``overwrite`` is set (:mod:`obliviate.utils.outputs`): checked first.
    ``recipe``: the recipe file the params came from (path, sha256, provenance), kept in the record.

    Every check runs before any work: the outputs, the method's family and its parameters."""
    from .data import load_image_dataset
    from .models import load_classifier, save_classifier
    from .models.io import check_classifier_fits
    from .record import add_evaluation, new_record, save_with_record
    from .training.checkpoint import checkpoint_dir_for, checkpointing
    from .utils.threads import configure_for_model
    from .utils.warmup import warm_up

    inputs = [model_dir, reference, data_dir, _indices_file(forget)]
    check_unlearn_outputs(out, inputs, overwrite=overwrite, checkpoints=checkpoint_every is not None)
    get_method(method, family="classifier").Config.from_params(params)  # a bad method or parameter fails first
    original = load_classifier(model_dir)
    configure_for_model(original, scope="unlearn")
    warm_up()  # before the pruning's timer too
    original_hash = weights_hash(original)  # before any pruning
    retrained = load_classifier(reference) if reference else None  # a bad reference fails before any work
    splits = load_image_dataset(dataset, data_dir=data_dir, max_train=max_train)
    check_classifier_fits(original, splits.num_classes, splits.train.x.shape[1], model_dir, dataset)
    task = Task.build(splits, forget, seed)
    forget_hash = hashlib.sha256(task.forget_idx.tobytes()).hexdigest()
    job = {"family": "classifier", "model": original_hash, "dataset": dataset, "max_train": max_train,
           "forget": forget_hash, "method": method, "params": params, "seed": seed, "prune": prune}
    with checkpointing(checkpoint_dir_for(out), checkpoint_every, job, overwrite) as checkpoints:
        pruning = None
        if prune:
            pruning = _prune_loaded(original, model_dir, dataset, splits, prune, seed)
        result = unlearn(original, task, method, seed=seed, **params)
    record = new_record("classifier", method, result.params, seed) | {
        "dataset": dataset,
        "forget_spec": task.request.spec,
        "forget_size": int(len(task.forget_idx)),
        "forget_indices_sha256": forget_hash,
        "original_model": str(Path(model_dir).resolve()),
        "original_weights_sha256": original_hash,
        "unlearned_weights_sha256": weights_hash(result.model),
        "seconds": result.seconds,
        "timings": {"unlearn": result.seconds},
        "pruning": pruning,
        **({"recipe": recipe} if recipe is not None else {}),
    }
    if evaluate or retrained is not None:
        from .metrics.classifier import evaluate_classifier

        ref = evaluate_classifier(retrained, task)["metrics"] if retrained is not None else None
        after = evaluate_classifier(result.model, task, reference=ref)
        record["reference_model"] = str(Path(reference).resolve()) if reference else None
        add_evaluation(record, evaluate_classifier(original, task)["metrics"],  # after pruning, if any
                       after["metrics"], ref, after.get("gap_to_retrain") if ref is not None else None)
    def save(directory: Path) -> None:
        save_classifier(result.model, directory, extra={"unlearned_with": method, "seed": seed})
        mark(directory, "unlearn")

    save_with_record(out, save, record)
    if checkpoints is not None:
        checkpoints.clear()  # the model and its record are written: the checkpoints are spent
    return record


def _indices_file(forget: str) -> str | None:
    """The file of an ``indices:FILE`` forget spec (an input of the run), else None."""
    kind, sep, value = forget.partition(":")
    return value.strip() if sep and kind.strip() == "indices" else None


def _prune_loaded(model: nn.Module, model_dir: str, dataset: str, splits: Any, spec: str, seed: int) -> dict[str, Any]:
    """Prune ``model`` in place (prune-first); returns the record's ``pruning`` entry."""
    from .classifier.recipes import recipe_for
    from .methods.classifier.retrain import RetrainConfig
    from .models.io import read_config
    from .pruning import PruneSpec, prune, sparsity

    parsed = PruneSpec.parse(spec)
    recorded = read_config(model_dir).get("train") or {}
    recipe = RetrainConfig.from_params({**recipe_for(dataset).train, **recorded})
    start = time.perf_counter()
    prune(model, parsed, splits.train, recipe, seed=seed)
    return {"spec": parsed.spec, "sparsity": sparsity(model), "seconds": time.perf_counter() - start,
            "recipe": recipe.as_dict()}


def __getattr__(name: str) -> Any:  # the LM API, imported only when asked for
    if name in ("unlearn_lm", "unlearn_lm_from_dirs"):
        from .lm import unlearn as lm_unlearn

        return getattr(lm_unlearn, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
