"""Domain unlearning by vision-prompt learning on a frozen CLIP: ADU's baseline (Kawamura et al. 2025).

Loss on each step (one batch of memorised-domain images, one of forgotten-domain images):
``L = CE(class | memorised) - forget_weight * H(p(class | forgotten))``: keep the classes of the
memorised domains, push predictions on the forgotten domains to maximal entropy. Only the vision
prompts (VPT-deep, :class:`~obliviate.clip.prompts.VisionPrompts`) train; the CLIP weights stay
bit-identical.

Defaults: the paper's exact optimiser values are not in our notes (see docs/clip.md); these follow
few-shot prompt learning on CLIP (SGD, cosine schedule, prompts in every block) and were checked on
the embedded benchmark. ``obliviate.clip.bench`` records every value it used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ...clip.model import ClipClassifier
from ...clip.prompts import VisionPrompts
from ...clip.task import DomainUnlearnData
from ...errors import ConfigError
from ...training import fit
from ...utils.seeding import seed_everything
from ..base import Method, TrainingConfig, param, register_method


@dataclass
class DomainPromptConfig(TrainingConfig):
    """Prompt-learning fields shared by the domain-unlearning methods."""

    epochs = param(20, "passes over the memorised-domain images (the forgotten ones cycle alongside)")
    lr = param(0.05, "learning rate of the prompts (and, for ADU, the generator and domain head)")
    batch_size = param(32, "images per step from each of the memorised and forgotten streams")
    schedule = param("cosine", "learning-rate schedule")
    n_prompts: int = param(4, "learnable prompt tokens per prompted block", ge=1)
    prompt_depth: int = param(12, "blocks that get prompts, from the first (clipped to the model's depth)", ge=1)
    forget_weight: float = param(1.0, "weight of the entropy-maximisation term on forgotten domains", ge=0)


def entropy(logits: torch.Tensor) -> torch.Tensor:
    """Per-row entropy (nats) of softmax(logits)."""
    logp = F.log_softmax(logits, dim=-1)
    return -(logp.exp() * logp).sum(-1)


class DomainPromptMethod(Method):
    """Base of the ``clip`` methods: attach fresh vision prompts, train them with the shared loop."""

    family = "clip"
    Config: ClassVar[type[DomainPromptConfig]] = DomainPromptConfig

    def generator_layers(self, config: Any, depth: int) -> tuple[int, ...]:
        return ()

    def extra_modules(self, model: ClipClassifier, data: DomainUnlearnData, config: Any) -> dict[str, nn.Module]:
        """Further trainable modules (ADU: the domain classifier)."""
        return {}

    def extra_loss(self, trainee: nn.ModuleDict, emb: torch.Tensor, domains: torch.Tensor, config: Any) -> torch.Tensor | None:
        """A term added to the baseline loss, from all images' embeddings and domain indices."""
        return None

    def run(self, model: ClipClassifier, data: DomainUnlearnData, config: DomainPromptConfig, *, seed: int) -> ClipClassifier:  # type: ignore[override]
        if not isinstance(model, ClipClassifier):
            raise ConfigError(f"{self.name} unlearns a clip.model.ClipClassifier, got {type(model).__name__}")
        if len(data.forget) == 0 or len(data.memorise) == 0:
            raise ConfigError(f"{self.name} needs images of both memorised and forgotten domains")
        seed_everything(seed)
        vision = model.clip.config.vision_config
        depth = min(config.prompt_depth, vision.num_hidden_layers)
        model.prompts = VisionPrompts(vision.hidden_size, depth, config.n_prompts,
                                      self.generator_layers(config, depth), heads=vision.num_attention_heads)
        model.prompts.to(next(model.clip.parameters()).device)
        trainee = nn.ModuleDict({"classifier": model, **self.extra_modules(model, data, config)})

        def loss_fn(module: nn.Module, batch) -> torch.Tensor:
            xm, ym, dm = batch["memorise"]
            xf, _, df = batch["forget"]
            clf = module["classifier"]
            emb = clf.image_embeddings(torch.cat([xm, xf]))
            logits = clf.logits_from_embeddings(emb)
            loss = F.cross_entropy(logits[: len(xm)], ym) - config.forget_weight * entropy(logits[len(xm):]).mean()
            extra = self.extra_loss(module, emb, torch.cat([dm, df]), config)
            return loss if extra is None else loss + extra

        fit(trainee, loss_fn, {"memorise": data.memorise, "forget": data.forget}, epochs=config.epochs,
            batch_size=config.batch_size, optim=config.optim(), seed=seed, desc=self.name)
        model.eval()
        return model


@register_method
class DomainBaseline(DomainPromptMethod):
    name = "domain_baseline"
    paper = "Kawamura et al., Approximate Domain Unlearning for VLMs (NeurIPS 2025), baseline"
    summary = "vision-prompt learning: CE on memorised domains + entropy maximisation on forgotten domains"
    Config = DomainPromptConfig
