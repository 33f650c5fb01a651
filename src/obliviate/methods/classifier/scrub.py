"""SCRUB: the student (the model) selectively disobeys a frozen teacher (theta_o).

Kurmanji et al., "Towards Unbounded Machine Unlearning" (NeurIPS 2023, arXiv 2302.09880). Each
epoch optionally starts with a *max* pass over D_f, ascending KL(teacher || student) at temperature
T, then a *min* pass over D_r descending ``gamma * CE + alpha * KL``. Only the first ``msteps``
epochs have a max pass; the remaining epochs are min passes only, which restore the retain
performance the max passes cost (the reference code's ``if epoch <= msteps`` with epochs counted
from 1, ``large_scale_unlearning.ipynb`` of meghdadk/SCRUB).

Defaults are the reference code's CIFAR-10 large-scale setting (ResNet-18 / All-CNN). The teacher is
in eval mode throughout; the student is in train mode, so its BatchNorm statistics also see D_f
during the max passes, as in the reference code.

Optimiser state. The reference builds one SGD optimiser (momentum 0.9) for the whole run, so the
momentum buffer carries from each phase into the next. :func:`~obliviate.training.fit` builds a
fresh optimiser per call, and SCRUB calls it once per phase (one max and one min call per alternating
epoch, then one call for all the remaining min epochs), so momentum restarts at zero at every phase
boundary: the first ~1/(1-momentum) = 10 steps of each phase are smaller than the reference's, and
the last max steps' momentum no longer carries into the first min steps (which, in the reference,
keep ascending for a few steps). With CIFAR-10 class forgetting (5,000 images at batch 512 = 10 max
steps an epoch) this shrinks the max phase noticeably; the min phases (176 steps) barely change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError
from ...tasks import UnlearnData
from ...training import FitStats, fit
from ...training.loop import Batch, LossFn
from ..base import Method, TrainingConfig, param, register_method
from .distill import distill_kl, frozen_copy, teacher_logits

_REF = "Kurmanji et al. 2023 reference code (meghdadk/SCRUB, CIFAR-10 large-scale)"


@dataclass
class ScrubConfig(TrainingConfig):
    epochs: int = param(3, f"SCRUB epochs (sgda_epochs): a max pass while epoch <= msteps, then a min pass ({_REF}: 3)")
    msteps: int = param(
        2, f"how many of the first epochs start with a max pass over the forget set; counts epochs, not steps ({_REF}: 2)",
        ge=0,
    )
    lr: float = param(
        5e-4, f"learning rate (sgda_learning_rate, {_REF}: 5e-4; its decay at epochs 3, 5, 9 never fires in 3 epochs)"
    )
    batch_size: int = param(256, f"retain (min-pass) batch size ({_REF}: retain loader 256)")
    forget_batch_size: int | None = param(
        None, f"forget (max-pass) batch size; None = 2 x batch_size, the reference's ratio ({_REF}: forget loader 512)",
        gt=0,
    )
    temperature: float = param(4.0, f"distillation temperature kd_T of both KL terms ({_REF}: 4)", gt=0)
    alpha: float = param(0.001, f"weight of KL(teacher || student) in the min pass ({_REF}: 0.001)", ge=0)
    gamma: float = param(0.99, f"weight of the retain cross-entropy in the min pass ({_REF}: 0.99)", ge=0)
    optimizer: Literal["sgd", "adam"] = param("sgd", f"optimiser ({_REF}: sgd; its small-scale notebook uses adam)")
    momentum: float = param(0.9, f"SGD momentum, restarted at every phase (see the module docstring; {_REF}: 0.9)")
    weight_decay: float = param(5e-4, f"weight decay ({_REF}: 5e-4)")
    schedule: Literal["constant"] = param(
        "constant", "learning-rate schedule: constant only (each phase is its own fit call, so a schedule would restart)"
    )

    @property
    def forget_batch(self) -> int:
        return self.forget_batch_size if self.forget_batch_size is not None else 2 * self.batch_size


def scrub_max_loss(teacher: nn.Module, temperature: float) -> LossFn:
    """Max pass on the ``"forget"`` stream: minimise -KL(teacher || student) (labels unused)."""

    def loss_fn(model: nn.Module, batch: Batch) -> torch.Tensor:
        x = batch["forget"][0]
        return -distill_kl(model(x), teacher_logits(teacher, x), temperature)

    return loss_fn


def scrub_min_loss(teacher: nn.Module, temperature: float, alpha: float, gamma: float) -> LossFn:
    """Min pass on the ``"retain"`` stream: ``gamma * CE + alpha * KL(teacher || student)``, one forward pass."""

    def loss_fn(model: nn.Module, batch: Batch) -> torch.Tensor:
        x, y = batch["retain"]
        logits = model(x)
        kl = distill_kl(logits, teacher_logits(teacher, x), temperature)
        return gamma * F.cross_entropy(logits, y) + alpha * kl

    return loss_fn


def scrub_fit(
    student: nn.Module, teacher: nn.Module, data: UnlearnData, config: ScrubConfig, *, seed: int
) -> list[FitStats]:
    """Run SCRUB in place on ``student`` against the frozen ``teacher``; one FitStats per fit call."""
    if data.retain.y is None:
        raise ConfigError("SCRUB needs the retain set's labels for its cross-entropy term")
    forget = {"forget": data.forget.as_torch()}
    retain = {"retain": data.retain.as_torch()}
    optim = config.optim()
    max_loss = scrub_max_loss(teacher, config.temperature)
    min_loss = scrub_min_loss(teacher, config.temperature, config.alpha, config.gamma)
    alternating = min(config.msteps, config.epochs)
    stats = []
    for epoch in range(alternating):
        # distinct loader seeds per call, else every epoch would see the same batch order
        stats.append(fit(student, max_loss, forget, epochs=1, batch_size=config.forget_batch, optim=optim,
                         seed=seed + 2 * epoch, desc=f"scrub max {epoch + 1}"))
        stats.append(fit(student, min_loss, retain, epochs=1, batch_size=config.batch_size, optim=optim,
                         seed=seed + 2 * epoch + 1, desc=f"scrub min {epoch + 1}"))
    if config.epochs > alternating:
        stats.append(fit(student, min_loss, retain, epochs=config.epochs - alternating, batch_size=config.batch_size,
                         optim=optim, seed=seed + 2 * alternating + 1, desc="scrub min"))
    return stats


@register_method
class Scrub(Method):
    name = "scrub"
    paper = "Towards Unbounded Machine Unlearning (Kurmanji et al., NeurIPS 2023, arXiv 2302.09880), SCRUB"
    summary = "alternate maximising KL to the frozen original on forget and minimising KL + CE on retain"
    Config = ScrubConfig

    def run(self, model: nn.Module, data: UnlearnData, config: ScrubConfig, *, seed: int) -> nn.Module:
        scrub_fit(model, frozen_copy(model), data, config, seed=seed)
        return model
