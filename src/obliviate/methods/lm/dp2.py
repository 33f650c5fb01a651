"""DP2Unlearning (Al Mahmud et al. 2025): an "unlearning-ready" base model trained once on all the data
under (epsilon, delta)-DP with DP-SGD; each deletion request then fine-tunes that base on the retain
data, non-privately. The DP guarantee bounds what the base discloses about any forget record, and the
fine-tune starts from a model that already knows the general distribution, so it costs less than
retraining from scratch (the paper: about half, on TOFU).

Decisions:
- ``run`` receives the DP base, not the original: the class says so with ``base_model = "dp"`` and the
  LM bench trains the base once per seed before any request (:meth:`DP2.prepare_base`, cached). A model
  without a DP record (``model.config.dp_training``, written by :func:`~obliviate.lm.dp.train_lm_dp`)
  is refused: fine-tuning the ordinary original on retain would not unlearn anything.
- The config holds both phases: the request's fine-tune (the paper's FT_BaseModel: 5 epochs, lr 5e-5,
  16 sequences a step) and, nested as ``dp``, the base's DP-SGD recipe (:class:`DPTrainConfig`:
  ``dp.epsilon``, ``dp.delta``, ``dp.lr``, ...; Train_dp_SGD), so every result row carries epsilon and
  delta in its params; the accountant's epsilon is in its metrics.
- Only the DP-SGD mode is implemented; the paper's second mode (privatising the text with a DP
  masked-LM paraphraser, DP-MLM) needs a pretrained masked LM, which the offline corpus set-up lacks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from torch import nn
from torch.utils.data import Dataset

from ...errors import ConfigError
from ...lm.dp import DPRecord, DPTrainConfig, dp_record, train_lm_dp
from ...lm.task import LMUnlearnData
from ..base import param, register_method
from .common import LMMethod, LMUnlearnConfig, fit_lm, nll


#: DP2Unlearning's base recipe (Train_dp_SGD.yaml): DPTrainConfig's defaults
DP_BASE = DPTrainConfig()


@dataclass
class DP2Config(LMUnlearnConfig):
    # the deletion request: fine-tune the DP base on the retain data (FT_BaseModel.yaml)
    epochs = param(5, "passes over the retain data per request (DP2Unlearning FT_BaseModel: 5)")
    lr = param(5e-5, "fine-tuning learning rate (DP2Unlearning: 5e-5)")
    batch_size = param(16, "retain sequences per step (DP2Unlearning: 4 x 4 accumulation)")
    schedule = param("cosine", "fine-tuning schedule (the paper: HF linear decay)")
    # the unlearning-ready base: DP-SGD on all the data, once, before any request (Train_dp_SGD.yaml)
    dp: DPTrainConfig = param(DP_BASE, "DP-SGD recipe of the unlearning-ready base (set as dp.NAME)")

    def dp_config(self) -> DPTrainConfig:
        """The base's DP-SGD recipe."""
        return self.dp


@register_method
class DP2(LMMethod):
    name = "dp2"
    paper = "DP2Unlearning (Al Mahmud et al. 2025)"
    summary = "fine-tune a DP-SGD-trained (epsilon, delta) base on the retain data; the base is trained once before requests"
    Config = DP2Config
    #: the model run() expects: the DP-trained base (see the module doc), not the original
    base_model: ClassVar[str] = "dp"

    @staticmethod
    def prepare_base(model: nn.Module, dataset: Dataset, config: DP2Config, *, seed: int) -> DPRecord:
        """Train the unlearning-ready base in place (``model`` at its initial weights, ``dataset`` all the
        training texts, forget included) with DP-SGD; returns the accountant's record."""
        return train_lm_dp(model, dataset, config.dp_config(), seed=seed, desc="dp2 base (dp-sgd)")

    def run(self, model: nn.Module, data: LMUnlearnData, config: DP2Config, *, seed: int) -> nn.Module:
        record = dp_record(model)
        if record is None:
            raise ConfigError("dp2 unlearns from an unlearning-ready base trained with DP-SGD (DP2.prepare_base or "
                              "obliviate.lm.dp.train_lm_dp), and this model carries no DP record "
                              "(config.dp_training); fine-tuning an ordinary model on retain would not unlearn")
        if abs(record.target_epsilon - config.dp.epsilon) > 1e-12 or abs(record.delta - config.dp.delta) > 1e-30:
            raise ConfigError(f"the DP base was trained for epsilon={record.target_epsilon}, delta={record.delta} "
                              f"but dp2 is configured with epsilon={config.dp.epsilon}, delta={config.dp.delta}")
        return fit_lm(model, nll("retain"), {"retain": data.retain}, config, seed=seed, desc=self.name)
