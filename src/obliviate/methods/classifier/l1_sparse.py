"""l1-sparse: sparsity-aware unlearning (Jia et al., NeurIPS 2023, arXiv 2304.04934).

Fine-tune on the retain set minimising ``CE(theta; D_r) + gamma_t * ||theta||_1`` with a linearly
decaying weight ``gamma_t = alpha * (1 - t / (E - E_no_l1))`` for epochs ``t < E - E_no_l1``, then 0.
As in the reference code (OPTML-Group/Unlearn-Sparse, ``FT_l1`` behind ``--unlearn FT_prune``):

- the l1 term is part of the loss (autograd's subgradient, sign(theta); no proximal step);
- it covers every trainable parameter: conv/linear weights, biases and BatchNorm affine parameters
  (``torch.linalg.norm(cat(model.parameters()), 1)``), summed, not averaged;
- gamma changes once per epoch; SGD with momentum 0.9 and weight decay 5e-4, constant learning rate.

On a pruned model (``weight_masks``) the masked weights stay zero through the shared loop, and
|0| contributes no subgradient.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ...tasks import UnlearnData
from ...training import fit
from ...training.loop import Batch, LossFn
from ..base import Method, param, register_method
from .finetune import FinetuneConfig
from .losses import cross_entropy


@dataclass
class L1SparseConfig(FinetuneConfig):
    epochs: int = param(10, "fine-tuning epochs E on the retain set (Jia et al. 2023 README: --unlearn_epochs 10)")
    lr: float = param(0.01, "learning rate (Jia et al. 2023 README: --unlearn_lr 0.01, ResNet-18 on CIFAR-10)")
    alpha: float = param(
        1e-4,
        "initial l1 weight gamma_0 on the summed |theta| of all parameters (Jia et al. 2023 tune it per "
        "setting at CIFAR-10 scale, ~176 steps an epoch; published runs of the reference code use --alpha 1e-4. "
        "The reference argparse default 0.2 belongs to the Fisher-noise flag it shares and would zero a network)",
        ge=0,
    )
    no_l1_epochs: int = param(
        0, "final epochs without the l1 term, E_no_l1 (reference code --no-l1-epochs, default 0: gamma decays over all E)"
    )

    def check(self) -> list[str]:
        if not 0 <= self.no_l1_epochs <= max(self.epochs, 0):
            return [f"no_l1_epochs must be in [0, epochs={self.epochs}], got {self.no_l1_epochs}"]
        return []


def l1_weight(epoch: int, alpha: float, epochs: int, no_l1_epochs: int = 0) -> float:
    """gamma_t of Jia et al. 2023: ``alpha * (1 - t / (E - E_no_l1))`` for ``t < E - E_no_l1``, else 0
    (t counts epochs from 0). With ``no_l1_epochs == epochs`` the term is off throughout (the
    reference code would then use a constant alpha; we do not copy that corner case)."""
    span = epochs - no_l1_epochs
    if epoch < span:
        return alpha * (1.0 - epoch / span)
    return 0.0


def l1_norm(model: nn.Module) -> torch.Tensor:
    """Sum of |theta| over every trainable parameter (weights, biases, BatchNorm affine)."""
    return sum(p.abs().sum() for p in model.parameters() if p.requires_grad)  # type: ignore[return-value]


def l1_sparse_loss(config: L1SparseConfig, stream: str = "train") -> tuple[LossFn, Callable[[nn.Module, int], None]]:
    """The loss ``CE + gamma_t * ||theta||_1`` and the epoch hook that sets gamma_t for :func:`fit`."""
    state = {"gamma": 0.0}
    ce = cross_entropy(stream)

    def epoch_hook(_model: nn.Module, epoch: int) -> None:
        state["gamma"] = l1_weight(epoch, config.alpha, config.epochs, config.no_l1_epochs)

    def loss_fn(model: nn.Module, batch: Batch) -> torch.Tensor:
        loss = ce(model, batch)
        if state["gamma"] > 0:  # with gamma 0 the run is exactly FT
            loss = loss + state["gamma"] * l1_norm(model)
        return loss

    return loss_fn, epoch_hook


@register_method
class L1Sparse(Method):
    name = "l1_sparse"
    paper = "Model Sparsity Can Simplify Machine Unlearning (Jia et al., NeurIPS 2023), l1-sparse MU"
    summary = "fine-tune on the retain set with a linearly decaying l1 penalty on all weights"
    Config = L1SparseConfig

    def run(self, model: nn.Module, data: UnlearnData, config: L1SparseConfig, *, seed: int) -> nn.Module:
        loss_fn, epoch_hook = l1_sparse_loss(config)
        fit(
            model,
            loss_fn,
            {"train": data.retain.as_torch()},
            epochs=config.epochs,
            batch_size=config.batch_size,
            optim=config.optim(),
            seed=seed,
            epoch_hook=epoch_hook,
            desc="l1_sparse",
        )
        return model
