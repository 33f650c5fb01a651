"""``obliviate worst-case``: search a worst-case forget set on a model and write it as an ``indices:FILE``."""

from __future__ import annotations

from pathlib import Path

from ..bench.cache import default_cache_dir
from ..errors import ConfigError
from ..models.classifier import build_classifier
from ..tasks import ForgetRequest
from ..utils.threads import built_params, model_params, thread_scope
from ..utils.warmup import warm_up
from .bench import ClassifierBench, original_model, setup


def worst_case_file(
    bench: ClassifierBench, size: str, out: str | Path, *, lower: str = "finetune", mode: str = "hardest",
    classes: int | None = None, seed: int = 0, model_dir: str | None = None, overwrite: bool = False,
):
    """``obliviate worst-case``: search the set on ``model_dir`` (or the bench recipe's cached original
    for ``seed``) and write it to ``out`` as an ``indices:FILE`` file; returns the search result.
    ``out`` must be new, an earlier worst-case file, or ``overwrite`` is set (:mod:`obliviate.utils.outputs`)."""
    from ..models.io import check_classifier_fits, load_classifier
    from .worst_case import resolve_size, search_worst_case
    from ..utils.outputs import check_output

    cache = Path(bench.cache_dir) if bench.cache_dir else default_cache_dir()
    check_output(out, "worst-case", inputs=[model_dir, bench.data_dir, cache], overwrite=overwrite, is_file=True)
    out = Path(out)
    conf = bench.resolved()
    splits, model_kwargs, base_key = setup(bench, conf)
    config = bench.search_config(ForgetRequest("worst_case", options=(("lower", lower), ("mode", mode))))
    n = len(splits.train)
    count = 0 if classes is not None else resolve_size(size, n)
    if classes is not None and not 0 < classes < splits.num_classes:
        raise ConfigError(f"--classes must be in 1..{splits.num_classes - 1} for {conf['dataset']}, got {classes}")
    original = load_classifier(model_dir) if model_dir is not None else None
    if original is not None:
        check_classifier_fits(original, splits.num_classes, splits.train.x.shape[1], model_dir, conf["dataset"])
    params = (model_params(original) if original is not None
              else built_params(lambda: build_classifier(conf["model"], **model_kwargs)))
    with thread_scope(params, scope="worst-case"):
        warm_up()  # not part of the search's seconds
        if original is None:
            original = original_model(conf, splits, model_kwargs, base_key, cache, seed)
        result = search_worst_case(original, splits.train, splits.num_classes, count, config, seed=seed,
                                   classes=classes)
    result.write(str(out), {"dataset": conf["dataset"], "max_train": conf["max_train"],
                            "model": model_dir or f"recipe original seed {seed}"})
    return result
