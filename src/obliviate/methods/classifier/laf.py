"""LAF: Label-Agnostic Forgetting (Shen et al., ICLR 2024, arXiv 2404.00506). Unlearning without labels.

1. Two VAEs over the frozen original's representations h0(x) = model.embed(x): one on all the data
   the method is given (retain + forget, the paper's "training data"), one on the forget set.
2. Per pair of (forget, retain) batches, two steps with separate Adam optimisers, as the reference
   code (``VUnlearning.extractor_unlearning``) does:

   - extractor unlearning (UE), learning rate ``lr``: minimise
     sum_{D_r} exp(e_all/(e_all+1)) - sum_{D_f} exp(e_f/(e_f+1)), where e is the squared
     reconstruction error of the *current* representation under the all-data VAE (retain) or the
     forget VAE (forget): retain representations stay on the data manifold, forget ones leave theirs;
   - representation alignment (RA), learning rate ``ra_lr``: with d = 1 - cos(h(x), h0(x)),
     minimise sum_{i in D_r} [d_i - log sum_{j in D_f} exp(d_j / temperature)]: retain
     representations are pulled to the original's, forget ones pushed away.

   The UE step is the shared loop's step (:func:`~obliviate.training.fit`); the RA step runs in its
   ``step_hook`` on the same batches with its own optimiser. The network stays in eval mode, as it
   does in the reference notebook (BatchNorm keeps the original's statistics), and neither loss
   touches the linear head. On digits class forgetting it is RA's push that forgets: UE alone
   (``ra_lr`` ~ 0) leaves forget accuracy at ~99%, RA alone (``lr`` ~ 0) takes it to 0%.
3. Optional LAF+R (``head_finetune``): fine-tune the head alone with cross-entropy on the labelled
   retain set; only then does the method need labels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

from ...errors import ConfigError
from ...tasks import UnlearnData
from ...training import FitStats, OptimConfig, fit, get_accelerator
from ...training.loop import Batch, Hook, TrainingDiverged, _with_weight_masks
from ..base import Method, TrainingConfig, param, register_method
from .losses import cross_entropy
from .vae import RepresentationVAE, squared_error, train_vae

_REF = "Shen et al. 2024, hyperparameter.md"


@dataclass
class LAFConfig(TrainingConfig):
    epochs: int = param(
        20, f"passes over the forget set, one UE and one RA step per forget batch ({_REF}: 20 for the CNN on "
        "MNIST/Fashion-MNIST, 40 for ResNet-18 on CIFAR-10/SVHN)"
    )
    lr: float = param(5e-5, f"extractor-unlearning (UE) learning rate ({_REF}: 5e-5 CNN, 1e-5 ResNet-18 on CIFAR-10)")
    ra_lr: float = param(
        1e-4, f"representation-alignment (RA) learning rate ({_REF}: 1e-4 CNN, 4e-5..5e-5 ResNet-18 on CIFAR-10)", gt=0
    )
    batch_size: int = param(32, "mini-batch size of every stage (LAF reference code: 32 on all datasets)")
    optimizer: Literal["sgd", "adam"] = param("adam", "optimiser of the UE, RA and head stages (reference: Adam)")
    weight_decay: float = param(0.0, "weight decay of the UE, RA and head stages (reference: none)")
    temperature: float = param(
        20.0, f"RA contrastive temperature tau ({_REF}: 20 for class and noisy-label forgetting, 5 for random)", gt=0
    )
    latent_dim: int = param(8, f"VAE latent size ({_REF}: 8 CNN, 16 ResNet-18 on CIFAR-10)", ge=1)
    vae_epochs: int = param(10, "VAE training epochs (reference Train.vae_train: 10)", ge=0)
    vae_lr: float = param(1e-3, "VAE Adam learning rate (reference Train.vae_train: 1e-3)", gt=0)
    vae_kl_weight: float = param(0.025, "weight of the KL term in the VAE loss (reference: 0.025)", ge=0)
    head_finetune: bool = param(
        False, "LAF+R: afterwards fine-tune the linear head on the labelled retain set (needs retain labels)"
    )
    head_epochs: int = param(
        1, "LAF+R head fine-tuning epochs over the retain set (the reference code leaves epochs and learning rate "
        "to the caller, and its epoch is as many retain batches as there are forget batches; ours)", ge=0
    )
    head_lr: float = param(1e-4, "LAF+R head learning rate (the reference code leaves it to the caller; ours)", gt=0)

    def stage_optim(self, lr: float) -> OptimConfig:
        """This config's optimiser settings with another learning rate (RA and head stages)."""
        return OptimConfig(self.optimizer, lr, self.momentum, self.weight_decay, self.schedule)


@torch.no_grad()
def embed_all(model: nn.Module, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """``model.embed`` of every row of ``x`` in eval mode, on the CPU; the model's mode is restored."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = [model.embed(chunk.to(device)).float().cpu() for chunk in x.split(batch_size)]
    model.train(was_training)
    return torch.cat(out) if out else torch.empty(0)


def _saturated(err: torch.Tensor) -> torch.Tensor:
    return torch.exp(err / (err + 1))


def extractor_unlearning_loss(
    h_retain: torch.Tensor, vae_all: RepresentationVAE, h_forget: torch.Tensor, vae_forget: RepresentationVAE
) -> torch.Tensor:
    """L_UE = sum_{D_r} exp(e/(e+1)) under the all-data VAE - sum_{D_f} exp(e/(e+1)) under the forget VAE."""
    e_r = squared_error(vae_all(h_retain)[0], h_retain)
    e_f = squared_error(vae_forget(h_forget)[0], h_forget)
    return _saturated(e_r).sum() - _saturated(e_f).sum()


def alignment_loss(
    h_retain: torch.Tensor, h0_retain: torch.Tensor, h_forget: torch.Tensor, h0_forget: torch.Tensor, temperature: float
) -> torch.Tensor:
    """L_RA = sum_i [d_i - log sum_j exp(d_j / tau)], i over the retain batch, j over the forget batch,
    d = 1 - cos(h, h0) (the reference code's CosineEmbeddingLoss with target 1)."""
    d_r = 1 - F.cosine_similarity(h_retain, h0_retain, dim=1)
    d_f = 1 - F.cosine_similarity(h_forget, h0_forget, dim=1)
    return (d_r - torch.logsumexp(d_f / temperature, dim=0)).sum()


class _AlignmentStep:
    """The RA stage as a ``step_hook``: one step of its own optimiser on the batches the UE loss just
    used (``pending``), respecting the model's pruning masks the way :func:`fit` does."""

    def __init__(self, optim: OptimConfig, temperature: float, total_steps: int) -> None:
        self.optim, self.temperature, self.total_steps = optim, temperature, total_steps
        self.pending: tuple[torch.Tensor, ...] | None = None
        self.opt: torch.optim.Optimizer | None = None
        self.sched: torch.optim.lr_scheduler.LRScheduler | None = None
        self.mask_grads: Hook | None = None
        self.mask_weights: Hook | None = None
        self.losses: list[float] = []

    def __call__(self, model: nn.Module) -> None:
        if self.pending is None:
            return
        x_f, h0_f, x_r, h0_r = self.pending
        self.pending = None
        if self.opt is None:  # built here: fit() may have moved the model to an accelerator
            self.opt, self.sched = self.optim.build(model.parameters(), self.total_steps)
            self.mask_grads, self.mask_weights = _with_weight_masks(model, None, None)
        model.eval()
        with torch.enable_grad():  # fit() runs a pruned model's step hook under no_grad
            loss = alignment_loss(model.embed(x_r), h0_r, model.embed(x_f), h0_f, self.temperature)
            if not torch.isfinite(loss):
                raise TrainingDiverged(
                    f"laf: the representation-alignment loss became {loss.item()} at step {len(self.losses) + 1}; "
                    "lower ra_lr or the number of epochs"
                )
            self.opt.zero_grad(set_to_none=True)
            get_accelerator().backward(loss)
        if self.mask_grads is not None:
            self.mask_grads(model)
        self.opt.step()
        self.sched.step()
        if self.mask_weights is not None:
            self.mask_weights(model)
        self.losses.append(float(loss.detach()))


def unlearn_extractor(
    model: nn.Module,
    forget_x: torch.Tensor,
    retain_x: torch.Tensor,
    vae_all: RepresentationVAE,
    vae_forget: RepresentationVAE,
    config: LAFConfig,
    *,
    h0_forget: torch.Tensor,
    h0_retain: torch.Tensor,
    seed: int,
) -> tuple[FitStats, list[float]]:
    """LAF's alternating UE / RA stages, in place. ``h0_*`` are the frozen original's representations.
    Returns the UE stage's :class:`FitStats` and the RA loss of every step."""
    steps = config.epochs * math.ceil(len(forget_x) / config.batch_size)
    align = _AlignmentStep(config.stage_optim(config.ra_lr), config.temperature, steps)
    accelerator = get_accelerator()

    def ue_loss(wrapped: nn.Module, batch: Batch) -> torch.Tensor:
        net = accelerator.unwrap_model(wrapped)
        net.eval()  # fit() sets train mode; LAF keeps the original's BatchNorm statistics
        x_f, h0_f = batch["forget"]
        x_r, h0_r = batch["retain"]
        align.pending = (x_f, h0_f, x_r, h0_r)
        return extractor_unlearning_loss(net.embed(x_r), vae_all, net.embed(x_f), vae_forget)

    stats = fit(
        model,
        ue_loss,
        {"forget": TensorDataset(forget_x, h0_forget), "retain": TensorDataset(retain_x, h0_retain)},
        epochs=config.epochs,
        batch_size=config.batch_size,
        optim=config.optim(),
        seed=seed,
        step_hook=align,
        desc="laf",
    )
    return stats, align.losses


@register_method
class LAF(Method):
    name = "laf"
    paper = "Label-Agnostic Forgetting: A Supervision-Free Unlearning in Deep Models (Shen et al., ICLR 2024)"
    summary = "label-free: push forget representations off their VAE manifold, align retain ones with the original"
    Config = LAFConfig
    uses_labels = False

    @classmethod
    def needs_labels(cls, config: LAFConfig) -> bool:  # type: ignore[override]
        return bool(config.head_finetune)

    def run(self, model: nn.Module, data: UnlearnData, config: LAFConfig, *, seed: int) -> nn.Module:
        if config.head_finetune and data.retain.y is None:
            raise ConfigError(
                "laf: head_finetune (LAF+R) fine-tunes the head on labelled retain data, but no labels were given"
            )
        if len(data.forget) == 0 or len(data.retain) == 0:
            raise ConfigError("laf needs non-empty forget and retain sets")
        h0_f = embed_all(model, data.forget.x)
        h0_r = embed_all(model, data.retain.x)
        vae_args = dict(
            latent_dim=config.latent_dim, epochs=config.vae_epochs, lr=config.vae_lr,
            batch_size=config.batch_size, kl_weight=config.vae_kl_weight,
        )
        vae_all = train_vae(torch.cat([h0_r, h0_f]), seed=seed, desc="laf vae (all)", **vae_args)
        vae_forget = train_vae(h0_f, seed=seed + 1, desc="laf vae (forget)", **vae_args)
        unlearn_extractor(
            model, data.forget.x, data.retain.x, vae_all, vae_forget, config, h0_forget=h0_f, h0_retain=h0_r, seed=seed
        )
        if config.head_finetune:
            finetune_head(model, data.retain.x, data.retain.y, config, seed=seed)
        return model


def finetune_head(model: nn.Module, x: torch.Tensor, y: torch.Tensor, config: LAFConfig, *, seed: int) -> None:
    """LAF+R: train only ``model.head`` with cross-entropy on (embed(x), y); the extractor is frozen."""
    h = embed_all(model, x)
    fit(
        model.head,
        cross_entropy("retain"),
        {"retain": TensorDataset(h, y)},
        epochs=config.head_epochs,
        batch_size=config.batch_size,
        optim=config.stage_optim(config.head_lr),
        seed=seed,
        desc="laf head",
    )
