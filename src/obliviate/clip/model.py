"""CLIP backbones for the ``clip`` family: a tiny CLIP built from a ``transformers`` ``CLIPConfig`` (with
a word-level tokenizer for the embedded captions), loading a user's Hugging Face ``CLIPModel`` from a
local directory, and :class:`ClipClassifier`, the zero-shot class classifier the methods unlearn.

Decisions:
- The backbone is always frozen (``requires_grad`` off on every CLIP weight); methods train only what
  they attach (vision prompts, generators, heads). ``backbone_state`` lets tests check bit-identity.
- Class logits marginalise over caption templates: ``logit(c) = logsumexp_t(s * <img, text(t, c)>) - log T``,
  i.e. p(c | x) = mean over templates of the joint caption probabilities' class marginal. With one template
  this is CLIP's usual zero-shot classifier; the embedded CLIP uses one template per domain
  ("a {domain} of a {class}"), so no domain is privileged.
- Images reach the classifier as RGB tensors in [0, 1]; it resizes them to the model's input size and
  normalises them with the processor's mean and std (so the same data serve the tiny model and a user's
  ViT-B/16).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError, ModelLoadError
from ..utils.remote_code import refuse_remote_code

if TYPE_CHECKING:
    from transformers import CLIPModel, PreTrainedTokenizerBase

TEMPLATE = "a {domain} of a {cls}"
CLIP_SIZES: dict[str, dict[str, Any]] = {
    # ~0.2M parameters: 16x16 images in 4x4 patches (16 tokens + CLS), 4 blocks; a 2-block text encoder
    "tiny": {
        "vision": {"image_size": 16, "patch_size": 4, "hidden_size": 64, "num_hidden_layers": 4,
                   "num_attention_heads": 4, "intermediate_size": 128},
        "text": {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128,
                 "max_position_embeddings": 16},
        "projection_dim": 64,
    },
}
SPECIALS = {"pad": "[PAD]", "unk": "[UNK]", "bos": "[BOS]", "eos": "[EOS]"}
_MEAN, _STD = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)


def caption(domain: str, cls: str, template: str = TEMPLATE) -> str:
    return template.format(domain=domain, cls=cls.lower())


def word_tokenizer(words: Sequence[str]) -> "PreTrainedTokenizerBase":
    """A word-level tokenizer (whitespace split) over ``words``: ``[BOS] words [EOS]``; ids 0-3 are special."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate(SPECIALS.values())}
    for word in sorted(set(words)):
        vocab.setdefault(word, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab, unk_token=SPECIALS["unk"]))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.post_processor = processors.TemplateProcessing(
        single=f"{SPECIALS['bos']} $A {SPECIALS['eos']}",
        special_tokens=[(SPECIALS["bos"], vocab[SPECIALS["bos"]]), (SPECIALS["eos"], vocab[SPECIALS["eos"]])],
    )
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=SPECIALS["pad"], unk_token=SPECIALS["unk"],
                                   bos_token=SPECIALS["bos"], eos_token=SPECIALS["eos"])


def caption_words(domains: Sequence[str], class_names: Sequence[str], template: str = TEMPLATE) -> list[str]:
    return [w for d in domains for c in class_names for w in caption(d, c, template).split()]


def tiny_clip(tokenizer: "PreTrainedTokenizerBase", *, size: str = "tiny", seed: int = 0) -> "CLIPModel":
    """A randomly initialised ``CLIPModel`` for ``tokenizer``; the same seed gives the same weights."""
    from transformers import CLIPConfig, CLIPModel

    if size not in CLIP_SIZES:
        raise ConfigError(f"unknown clip size {size!r}; known: {', '.join(CLIP_SIZES)}")
    spec = CLIP_SIZES[size]
    ids = {k: tokenizer.convert_tokens_to_ids(v) for k, v in SPECIALS.items()}
    text = {**spec["text"], "vocab_size": len(tokenizer), "pad_token_id": ids["pad"], "bos_token_id": ids["bos"],
            "eos_token_id": ids["eos"]}
    config = CLIPConfig(text_config=text, vision_config={**spec["vision"], "num_channels": 3},
                        projection_dim=spec["projection_dim"])
    torch.manual_seed(seed)
    return CLIPModel(config).float()


@dataclass
class ClipBackbone:
    """A CLIP model with what it needs to read images and captions."""

    model: "CLIPModel"
    tokenizer: "PreTrainedTokenizerBase"
    image_size: int
    mean: tuple[float, ...] = _MEAN
    std: tuple[float, ...] = _STD


def save_clip(backbone: ClipBackbone, directory: str | Path) -> None:
    """Write a Hugging Face directory: model, tokenizer and ``preprocessor_config.json`` (mean, std, size)."""
    directory = Path(directory)
    backbone.model.save_pretrained(directory)
    backbone.tokenizer.save_pretrained(directory)
    size = backbone.image_size
    processor = {"image_processor_type": "CLIPImageProcessor", "image_mean": list(backbone.mean),
                 "image_std": list(backbone.std), "size": {"shortest_edge": size},
                 "crop_size": {"height": size, "width": size}, "do_resize": True, "do_center_crop": True,
                 "do_normalize": True, "do_rescale": True, "rescale_factor": 1 / 255}
    (directory / "preprocessor_config.json").write_text(json.dumps(processor, indent=2), encoding="utf-8")


def load_clip(directory: str | Path, *, device: str | torch.device | None = None) -> ClipBackbone:
    """Load a Hugging Face ``CLIPModel`` with its tokenizer and preprocessing from a local directory
    (e.g. a downloaded ``openai/clip-vit-base-patch16``), in float32 and eval mode."""
    from transformers import AutoTokenizer, CLIPModel

    path = Path(directory)
    if not path.is_dir():
        raise ModelLoadError(f"CLIP model directory {path} does not exist; pass a folder holding a Hugging Face "
                             "CLIPModel (config.json, model.safetensors, tokenizer and preprocessor_config.json)")
    config_file = path / "config.json"
    if not config_file.is_file():
        raise ModelLoadError(f"{path} has no config.json: not a Hugging Face model directory")
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ModelLoadError(f"{config_file} is not valid JSON: {exc}") from None
    if config.get("model_type") != "clip":
        raise ModelLoadError(f"{path} holds a {config.get('model_type')!r} model, not a CLIP model (model_type 'clip')")
    refuse_remote_code(path, f"cannot load a CLIP model from {path}")
    if not any((path / f).is_file() for f in ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")):
        raise ModelLoadError(f"{path} has no weights (model.safetensors or pytorch_model.bin)")
    try:
        model = CLIPModel.from_pretrained(path, dtype=torch.float32, trust_remote_code=False)
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"could not load the CLIP model or its tokenizer from {path}: {exc}") from None
    mean, std = _MEAN, _STD
    pre = path / "preprocessor_config.json"
    if pre.is_file():
        spec = json.loads(pre.read_text(encoding="utf-8"))
        mean, std = tuple(spec.get("image_mean", mean)), tuple(spec.get("image_std", std))
    model.eval()
    if device is not None:
        model.to(device)
    return ClipBackbone(model, tokenizer, int(model.config.vision_config.image_size), mean, std)


def backbone_state(model: "CLIPModel") -> dict[str, torch.Tensor]:
    """A detached copy of every backbone weight (to check that unlearning left them bit-identical)."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def freeze(model: nn.Module) -> nn.Module:
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def _pooled(out: Any) -> torch.Tensor:
    """``get_*_features`` return a tensor (transformers 4) or an output with ``pooler_output`` (5)."""
    return out if isinstance(out, torch.Tensor) else out.pooler_output


@torch.no_grad()
def text_embeddings(backbone: ClipBackbone, texts: Sequence[str]) -> torch.Tensor:
    """L2-normalised projected text embeddings (T, E) of ``texts`` (no gradient: the text side is frozen)."""
    model = backbone.model
    device = next(model.parameters()).device
    enc = backbone.tokenizer(list(texts), padding=True, return_tensors="pt")
    feats = _pooled(model.get_text_features(input_ids=enc["input_ids"].to(device),
                                            attention_mask=enc["attention_mask"].to(device)))
    return F.normalize(feats.float(), dim=-1)


class ClipClassifier(nn.Module):
    """Frozen CLIP + fixed class text embeddings -> class logits for RGB images in [0, 1].

    ``prompts`` (a :class:`~obliviate.clip.prompts.VisionPrompts`, None at first) is what methods train.
    """

    def __init__(self, backbone: ClipBackbone, class_names: Sequence[str], templates: Sequence[str]) -> None:
        super().__init__()
        if not templates or not class_names:
            raise ConfigError("a CLIP classifier needs at least one class name and one caption template")
        self.clip = freeze(backbone.model)
        self.image_size = backbone.image_size
        self.class_names = tuple(class_names)
        self.templates = tuple(templates)
        texts = [t.format(cls=c.lower()) for t in templates for c in class_names]
        feats = text_embeddings(backbone, texts).view(len(templates), len(class_names), -1)
        self.register_buffer("text_features", feats, persistent=False)
        self.register_buffer("mean", torch.tensor(backbone.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(backbone.std).view(1, 3, 1, 1), persistent=False)
        self.prompts: nn.Module | None = None

    def pixel_values(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.image_size or x.shape[-2] != self.image_size:
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear", align_corners=False)
        return (x - self.mean) / self.std

    def image_embeddings(self, x: torch.Tensor) -> torch.Tensor:
        """L2-normalised projected image embeddings (B, E), through the prompts when attached."""
        from .prompts import encode_image

        pooled = encode_image(self.clip.vision_model, self.pixel_values(x), self.prompts)
        return F.normalize(self.clip.visual_projection(pooled), dim=-1)

    def logits_from_embeddings(self, emb: torch.Tensor) -> torch.Tensor:
        scale = self.clip.logit_scale.exp()
        joint = scale * torch.einsum("be,tce->btc", emb, self.text_features)
        return torch.logsumexp(joint, dim=1) - math.log(joint.shape[1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits_from_embeddings(self.image_embeddings(x))
