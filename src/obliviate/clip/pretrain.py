"""Contrastive pretraining of the embedded tiny CLIP on the multi-domain data, cached on disk.

Every training image is paired with its caption "a {domain} of a {class}". With only
|domains| x |classes| distinct captions a batch holds many images per caption, so the loss uses the
unique captions: image -> text is cross-entropy over all captions, text -> image is cross-entropy over
the batch's images with the caption's images as (uniformly weighted) positives; the two are averaged,
as in CLIP. The temperature is learnt (CLIP's logit scale, capped at 100).

The premise of ADU holds for the result: class accuracy is high in every domain (reported by
:func:`obliviate.metrics.domain.domain_accuracies` in the bench's ``original`` rows and docs/clip.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from ..config import Config, param
from ..training import fit
from ..config import OptimConfig
from ..utils.io import atomic_dir, atomic_write_json
from ..utils.seeding import seed_everything
from .domains import MultiDomainData
from .model import (
    TEMPLATE, ClipBackbone, _pooled, caption, caption_words, load_clip, save_clip, tiny_clip, word_tokenizer,
)


@dataclass
class PretrainConfig(Config):
    """The tiny CLIP's contrastive pretraining recipe (measured on digits, see docs/clip.md)."""

    epochs: int = param(30, "passes over the multi-domain training split", ge=0)
    lr: float = param(2e-3, "Adam learning rate", gt=0)
    batch_size: int = param(128, "images per step", gt=0)
    weight_decay: float = param(0.0, "weight decay", ge=0)
    size: str = param("tiny", "model size (clip.model.CLIP_SIZES)")


def contrastive_loss(model, pixel_values: torch.Tensor, targets: torch.Tensor, input_ids: torch.Tensor,
                     attention_mask: torch.Tensor) -> torch.Tensor:
    """CLIP loss over unique captions: ``targets[i]`` is the caption index of image ``i``."""
    img = F.normalize(_pooled(model.get_image_features(pixel_values=pixel_values)), dim=-1)
    txt = F.normalize(_pooled(model.get_text_features(input_ids=input_ids, attention_mask=attention_mask)), dim=-1)
    scale = model.logit_scale.clamp(max=4.6052).exp()
    logits = scale * img @ txt.t()  # (B, T)
    image_to_text = F.cross_entropy(logits, targets)
    positives = F.one_hot(targets, num_classes=txt.shape[0]).t().float()  # (T, B)
    present = positives.sum(1) > 0
    soft = positives[present] / positives[present].sum(1, keepdim=True)
    text_to_image = -(soft * F.log_softmax(logits.t()[present], dim=1)).sum(1).mean()
    return (image_to_text + text_to_image) / 2


def pretrain_tiny_clip(data: MultiDomainData, config: PretrainConfig, *, seed: int) -> ClipBackbone:
    """Train a tiny CLIP from scratch (seeded) on every training image of ``data``."""
    tokenizer = word_tokenizer(caption_words(data.domains, data.class_names))
    seed_everything(seed)
    model = tiny_clip(tokenizer, size=config.size, seed=seed)
    backbone = ClipBackbone(model, tokenizer, int(model.config.vision_config.image_size))
    texts = [caption(d, c) for d in data.domains for c in data.class_names]
    enc = tokenizer(texts, padding=True, return_tensors="pt")
    n_cls = data.num_classes
    mean = torch.tensor(backbone.mean).view(1, 3, 1, 1)
    std = torch.tensor(backbone.std).view(1, 3, 1, 1)
    size = backbone.image_size

    def loss_fn(m, batch) -> torch.Tensor:
        x, y, d = batch["train"]
        if x.shape[-1] != size:
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        pv = (x - mean.to(x.device)) / std.to(x.device)
        return contrastive_loss(m, pv, d * n_cls + y, enc["input_ids"].to(x.device), enc["attention_mask"].to(x.device))

    optim = OptimConfig("adam", config.lr, 0.0, config.weight_decay, "cosine")
    fit(model, loss_fn, {"train": TensorDataset(data.train.x, data.train.y, data.train.d)}, epochs=config.epochs,
        batch_size=config.batch_size, optim=optim, seed=seed, desc=f"pretrain clip s{seed}")
    model.eval()
    return backbone


def save_cached(backbone: ClipBackbone, directory: Path, meta: dict[str, Any]) -> None:
    """A ``cached_model`` saver: the Hugging Face directory plus ``cache.json``, appearing atomically."""
    with atomic_dir(directory) as tmp:
        save_clip(backbone, tmp / "model")
        atomic_write_json(tmp / "cache.json", meta)


def load_cached(directory: Path) -> tuple[ClipBackbone, dict[str, Any]]:
    return load_clip(directory / "model"), json.loads((directory / "cache.json").read_text(encoding="utf-8"))


__all__ = ["PretrainConfig", "TEMPLATE", "contrastive_loss", "load_cached", "pretrain_tiny_clip", "save_cached"]
