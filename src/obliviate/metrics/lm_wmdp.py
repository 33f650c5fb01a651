"""The WMDP bench's metrics (family lm, benchmark ``wmdp``) and general utility through lm-evaluation-harness.

- ``wmdp_bio`` / ``wmdp_chem`` / ``wmdp_cyber``: lm-evaluation-harness's ``acc`` on that WMDP subset
  (:func:`obliviate.lm.benchmarks.wmdp.wmdp_accuracy`) x 100; lower = more forgotten (chance is 25).
- ``mmlu``: MMLU accuracy x 100 from lm-evaluation-harness (the optional extra ``lmeval``: ``pip install
  lm-eval``), measured with :func:`mmlu_accuracy` when ``lm_eval`` is importable; without it the rows carry no
  ``mmlu`` and the bench says why (:data:`MMLU_MISSING`; :data:`MMLU_OFF` when switched off).
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING

from ..errors import ConfigError, ObliviateError
from .registry import Metric, register_metric

if TYPE_CHECKING:
    from torch import nn
    from transformers import PreTrainedTokenizerBase

#: config name -> metric name
SUBSET_METRICS: dict[str, str] = {"wmdp-bio": "wmdp_bio", "wmdp-chem": "wmdp_chem", "wmdp-cyber": "wmdp_cyber"}
MMLU_MISSING = "MMLU not measured: pip install lm-eval"
MMLU_OFF = "MMLU not measured: switched off (--eval mmlu=0)"

for _config, _name in SUBSET_METRICS.items():
    register_metric(Metric(_name, "lm", f"WMDP {_config.split('-')[1]} acc", higher_is_better=False, standard=True,
                           benchmark="wmdp", description=f"lm-evaluation-harness acc x100 on {_config} (chance 25)"))
register_metric(Metric("mmlu", "lm", "MMLU acc", standard=True, benchmark="wmdp",
                       description="MMLU accuracy x100 through lm-evaluation-harness (general utility)"))


def lm_eval_available() -> bool:
    """Whether lm-evaluation-harness is importable."""
    return importlib.util.find_spec("lm_eval") is not None


def mmlu_accuracy(model: "nn.Module", tokenizer: "PreTrainedTokenizerBase", *, batch_size: int = 8,
                  limit: int | None = None) -> float:
    """MMLU ``acc`` x 100 of ``model`` through lm-evaluation-harness's ``simple_evaluate`` (zero-shot, its
    ``mmlu`` group; it reads the dataset ``cais/mmlu`` through ``datasets``, so it needs the network or the
    hub cache). ``limit`` caps the questions per subject."""
    try:
        return harness_accuracy(model, tokenizer, "mmlu", batch_size=batch_size, limit=limit)
    except ObliviateError as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ObliviateError(f"{exc}; it reads cais/mmlu from the hub (the network or the hub cache); skip it with "
                             "--eval mmlu=0") from None


def harness_accuracy(model: "nn.Module", tokenizer: "PreTrainedTokenizerBase", task: str, *, batch_size: int = 8,
                     limit: int | None = None, include_path: str | None = None) -> float:
    """lm-evaluation-harness's ``acc`` x 100 of ``model`` on ``task`` (a task or a group, e.g. ``mmlu``;
    ``include_path``: a folder of the user's own task YAML files)."""
    if not lm_eval_available():
        raise ConfigError(MMLU_MISSING)
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM

    try:
        extra = {}
        if include_path is not None:
            from lm_eval.tasks import TaskManager

            extra["task_manager"] = TaskManager(include_path=include_path)
        lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size)
        out = simple_evaluate(model=lm, tasks=[task], limit=limit, **extra)
    except Exception as exc:  # the harness and datasets raise many types (offline hub, missing task, ...)
        raise ObliviateError(f"{task} through lm-evaluation-harness failed ({type(exc).__name__}: {exc})") from None
    return harness_acc(out, task)


def harness_acc(out: dict, task: str) -> float:
    """``acc`` x 100 of ``task`` in ``simple_evaluate``'s output: ``out["results"][task]["acc,none"]`` (the
    metric key with its filter, lm-eval >= 0.4; a group's weighted aggregate under the same key)."""
    result = (out or {}).get("results", {}).get(task)
    if result is None:
        found = sorted((out or {}).get("results", {}))
        raise ConfigError(f"lm-evaluation-harness returned no results for {task!r} (got {found})")
    value = result.get("acc,none", result.get("acc"))
    if value is None:
        raise ConfigError(f"lm-evaluation-harness returned no {task} acc (got {sorted(result)})")
    return 100.0 * float(value)
