"""DP2's unlearning-ready base in the LM benches: trained with DP-SGD once per seed (before any
request), cached like the original, handed to methods whose ``base_model`` is ``"dp"``; its
accountant record becomes row metrics (``dp_epsilon``, the accountant's epsilon at the target delta, and
``dp_noise_multiplier``); the target epsilon and delta are in the row's params.

The paper's regime (``LMBench(pretrain=...)``, :func:`paper_dp2_params`): the base is the paper's
Train_dp_SGD recipe verbatim (DPTrainConfig's defaults: SGD, lr 5e-5, batch 16, 10 epochs, C 1.0,
epsilon 0.5, delta 1e-12, weight decay 0.01) applied to the pretrained model; the request fine-tunes it
on retain for half the epochs of the bench's fine-tune recipe at its learning rate, as the paper's
FT_BaseModel (5 epochs) is half its retrain (finetune.yaml: 10 epochs, both at lr 5e-5)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..utils.seeding import seed_everything
from ..bench.cache import cached_model

if TYPE_CHECKING:
    from .train import LMTrainConfig


def paper_dp2_params(finetune: LMTrainConfig) -> dict[str, Any]:
    """dp2's parameters in the paper's regime, given the bench's fine-tune recipe ``finetune`` (the
    original's and the retrain's, an LMTrainConfig): the request = half its epochs (at least one) at its
    lr and batch size; the DP base = the paper's DP-SGD recipe (DPTrainConfig's defaults)."""
    from ..lm.dp import DPTrainConfig

    dp = {f"dp.{k}": v for k, v in DPTrainConfig().as_dict().items()}
    return {"epochs": max(1, finetune.epochs // 2), "lr": finetune.lr, "batch_size": finetune.batch_size,
            "schedule": finetune.schedule, **dp}


def train_dp_base(cache_dir: Path, kind: str, key: dict[str, Any], fresh_model: Callable[[], Any],
                  dataset: Callable[[], Any], params: dict[str, Any], seed: int, save, load) -> tuple[Any, dict]:
    """The cached DP base for ``key`` and dp2's ``params`` (keyed by the DP recipe only, so fine-tuning
    params share one base): ``fresh_model()`` trained with DP-SGD on ``dataset()``. Returns (model, meta)."""
    from ..methods.lm.dp2 import DP2

    config = DP2.Config.from_params(params)

    def build():
        seed_everything(seed)
        model = fresh_model()
        DP2.prepare_base(model, dataset(), config, seed=seed)
        return model

    return cached_model(cache_dir, kind, {**key, "dp": config.dp_config().as_dict()}, build, save, load)


def dp_metrics(model: Any) -> dict[str, float]:
    """The model's DP record as row metrics (empty for a model trained without DP)."""
    from ..lm.dp import dp_record

    record = dp_record(model)
    if record is None:
        return {}
    return {"dp_epsilon": record.epsilon, "dp_noise_multiplier": record.noise_multiplier}


def with_metrics(evaluation: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``evaluation`` with ``extra`` merged into its metrics."""
    evaluation["metrics"] = {**evaluation["metrics"], **extra}
    return evaluation
