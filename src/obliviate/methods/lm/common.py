"""Shared pieces of the language-model methods: the config base, a frozen reference copy, token-level
KL, reference log-probs stored in a dataset, the retain terms (GDR / KLR) and the forget + retain
method skeleton that GA, GradDiff, KL, NPO and SimNPO fill in with their forget loss.

Defaults follow MUSE's baselines (Shi et al. 2024, code muse_bench) on 7B models: AdamW at lr 1e-5,
32 sequences a step, a constant schedule, at most 10 epochs. A model trained from scratch at lr 3e-3
(the tiny ``bios`` Llama) barely moves at 1e-5: the LM bench's recipe scales lr and epochs for it
(``obliviate.lm.bench.TINY_METHOD_PARAMS``), as the classifier recipes scale batch sizes.
"""

from __future__ import annotations

import copy
from abc import abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
from torch import nn
from torch.utils.data import Dataset

from ...errors import ConfigError
from ...lm.data import TokenDataset, forward_logits, sequence_logprobs, trim
from ...lm.model import model_device
from ...lm.task import LMUnlearnData
from ...training import fit
from ...training.hooks import clip_grad_hook
from ...training.loop import Batch, LossFn
from ...config import ClippedTrainingConfig, param
from ..base import Method

RetainLoss = Literal["none", "gdr", "klr"]

@dataclass
class LMUnlearnConfig(ClippedTrainingConfig):
    """Optimiser fields of every fine-tuning-style LM method (MUSE's baseline recipe)."""

    epochs = param(10, "passes over the forget set (MUSE: at most 10 epochs; the tiny bench model: 5)")
    lr = param(1e-5, "learning rate (MUSE, 7B models: 1e-5; the tiny bench model uses 1e-3)")
    batch_size = param(32, "forget sequences per step (MUSE: 32; the tiny bench: 8); the retain stream uses the same size")
    optimizer = param("adam", "optimiser (MUSE: AdamW; Adam here, no weight decay)")
    weight_decay = param(0.0, "weight decay")
    schedule = param("constant", "learning-rate schedule (MUSE: constant)")


@dataclass
class RetainWeightConfig(LMUnlearnConfig):
    retain_weight: float = param(1.0, "weight of the retain term (MUSE: 1)", ge=0)


@dataclass
class RetainChoiceConfig(RetainWeightConfig):
    retain_loss: RetainLoss = param(
        "none", "retain term: none (plain), gdr (NLL on retain, MUSE's _GDR) or klr (KL to the original on retain, _KLR)"
    )


def frozen_copy(model: nn.Module) -> nn.Module:
    """A deep copy in eval mode with gradients off: the reference pi_ref of KL / NPO."""
    ref = copy.deepcopy(model).eval()
    for p in ref.parameters():
        p.requires_grad_(False)
    return ref


def token_kl(ref_logits: torch.Tensor, logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the ``mask``-ed positions of KL(p_ref || p_theta) = sum_v p_ref (log p_ref - log p_theta)."""
    ref_logp = torch.log_softmax(ref_logits.float(), dim=-1)
    logp = torch.log_softmax(logits.float(), dim=-1)
    kl = (ref_logp.exp() * (ref_logp - logp)).sum(-1)
    mask = mask.to(kl.dtype)
    return (kl * mask).sum() / mask.sum().clamp(min=1)


def kl_to_reference(reference: nn.Module, stream: str) -> LossFn:
    """``loss_fn``: token-level KL(pi_ref || pi_theta) on ``stream`` (the reference runs without grad)."""

    def loss_fn(model: nn.Module, batch: Batch) -> torch.Tensor:
        ids, mask, _ = trim(*batch[stream][:3])
        with torch.no_grad():
            ref_logits = forward_logits(reference, ids, mask)
        return token_kl(ref_logits, forward_logits(model, ids, mask), mask.bool())

    return loss_fn


def nll(stream: str) -> LossFn:
    """``loss_fn``: mean next-token NLL over the real tokens of ``stream`` (what GA negates)."""

    def loss_fn(model: nn.Module, batch: Batch) -> torch.Tensor:
        logp, n = sequence_logprobs(model, batch[stream][:3])
        return -logp.sum() / n.sum()

    return loss_fn


@torch.no_grad()
def with_reference_logprobs(reference: nn.Module, dataset: TokenDataset, batch_size: int = 32) -> TokenDataset:
    """``dataset`` with a 4th tensor: each sequence's summed log-prob under ``reference``, computed once,
    so NPO runs no reference forward pass per step."""
    device = model_device(reference)
    parts = [sequence_logprobs(reference, [t.to(device) for t in batch[:3]])[0].cpu()
             for batch in dataset.batches(batch_size)]
    return dataset.with_values(torch.cat(parts))


def retain_term(kind: str, reference: nn.Module | None) -> LossFn | None:
    """The retain stream's loss: None, NLL (``gdr``) or KL to the reference (``klr``)."""
    if kind == "none":
        return None
    if kind == "gdr":
        return nll("retain")
    if kind == "klr":
        if reference is None:
            raise ConfigError("the klr retain term needs the reference model")
        return kl_to_reference(reference, "retain")
    raise ConfigError(f"unknown retain term {kind!r}; known: none, gdr, klr")


def plus(forget_fn: LossFn, retain_fn: LossFn | None, weight: float) -> LossFn:
    """``forget_fn + weight * retain_fn`` (just ``forget_fn`` without a retain term)."""
    if retain_fn is None:
        return forget_fn
    return lambda model, batch: forget_fn(model, batch) + weight * retain_fn(model, batch)


def fit_lm(model: nn.Module, loss_fn: LossFn, streams: dict[str, Dataset], config: LMUnlearnConfig, *,
           seed: int, desc: str) -> nn.Module:
    """Run the shared loop with the method's optimiser and gradient clipping; returns ``model``."""
    fit(model, loss_fn, streams, epochs=config.epochs, batch_size=config.batch_size, optim=config.optim(),
        seed=seed, grad_hook=clip_grad_hook(config.max_grad_norm), desc=desc)
    return model


class LMMethod(Method):
    """Base of the language-model methods (family ``lm``); ``run`` receives :class:`LMUnlearnData`."""

    family = "lm"
    #: the model a bench hands to run(): "original" (the trained model) or "dp" (a DP-SGD-trained
    #: "unlearning-ready" base, trained once before any request: DP2Unlearning, methods/dp2.py)
    base_model: ClassVar[str] = "original"

    @abstractmethod
    def run(self, model: nn.Module, data: LMUnlearnData, config, *, seed: int) -> nn.Module:  # type: ignore[override]
        """Return the unlearned model."""


class ForgetRetainMethod(LMMethod):
    """A forget loss plus an optional retain term (GDR or KLR), trained with the shared loop.

    Subclasses set ``retain`` (the fixed retain term; a config field ``retain_loss`` overrides it),
    ``needs_forget_reference`` (NPO: the reference's log-probs are added to the forget dataset) and
    implement :meth:`forget_loss`.
    """

    retain: ClassVar[str] = "none"
    needs_forget_reference: ClassVar[bool] = False

    @abstractmethod
    def forget_loss(self, config: LMUnlearnConfig) -> LossFn:
        """The loss on the ``forget`` stream."""

    def run(self, model: nn.Module, data: LMUnlearnData, config: LMUnlearnConfig, *, seed: int) -> nn.Module:
        kind = getattr(config, "retain_loss", self.retain)
        reference = frozen_copy(model) if kind == "klr" or self.needs_forget_reference else None
        forget = with_reference_logprobs(reference, data.forget) if self.needs_forget_reference else data.forget
        streams: dict[str, Dataset] = {"forget": forget}
        retain_fn = retain_term(kind, reference)
        if retain_fn is not None:
            streams["retain"] = data.retain
        loss_fn = plus(self.forget_loss(config), retain_fn, getattr(config, "retain_weight", 1.0))
        return fit_lm(model, loss_fn, streams, config, seed=seed, desc=self.name)
