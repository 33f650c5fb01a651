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
    if not lm_eval_available():
        raise ConfigError(MMLU_MISSING)
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM

    try:
        lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size)
        out = simple_evaluate(model=lm, tasks=["mmlu"], limit=limit)
    except Exception as exc:  # the harness and datasets raise many types (offline hub, missing task, ...)
        raise ObliviateError(f"MMLU through lm-evaluation-harness failed ({type(exc).__name__}: {exc}); it reads "
                             "cais/mmlu from the hub (the network or the hub cache); skip it with --eval mmlu=0")
    result = out["results"]["mmlu"]
    value = result.get("acc,none", result.get("acc"))
    if value is None:
        raise ConfigError(f"lm-evaluation-harness returned no MMLU acc (got {sorted(result)})")
    return 100.0 * float(value)
