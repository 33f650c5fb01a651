"""Shared by the tests/test_clip_*.py modules (imported, not collected): small data and a random tiny CLIP."""

from __future__ import annotations

import functools

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@functools.lru_cache(maxsize=None)
def small_data(domains: tuple[str, ...] = ("photo", "sketch", "painting", "clipart")):
    from obliviate.clip.domains import make_multidomain

    return make_multidomain("digits", domains, image_size=16, max_train=100, max_test=60)



@functools.lru_cache(maxsize=None)
def behaviour_data(domains: tuple[str, ...] = ("photo", "sketch", "painting", "clipart")):
    """Three times small_data's training images (300 base images per domain): enough for
    :func:`pretrained_backbone` to reach 50-80% test accuracy in every domain; 300 test images per
    domain, so that one image moves a domain's accuracy by a third of a point."""
    from obliviate.clip.domains import make_multidomain

    return make_multidomain("digits", domains, image_size=16, max_train=300, max_test=300)


def random_backbone(data, seed: int = 0):
    """An untrained tiny CLIP for ``data``'s captions (enough to exercise the methods' mechanics)."""
    from obliviate.clip.model import ClipBackbone, caption_words, tiny_clip, word_tokenizer

    tok = word_tokenizer(caption_words(data.domains, data.class_names))
    model = tiny_clip(tok, seed=seed).eval()
    return ClipBackbone(model, tok, 16)


def classifier(data, backbone):
    from obliviate.clip.model import TEMPLATE, ClipClassifier

    return ClipClassifier(backbone, data.class_names, [TEMPLATE.replace("{domain}", d) for d in data.domains])


def pretrained_backbone(data, *, epochs: int = 15, lr: float = 3e-3, seed: int = 0):
    """A tiny CLIP that recognises ``data``'s classes in every domain (the premise of domain unlearning),
    in seconds: the image side is trained with cross-entropy through the zero-shot head of a random,
    frozen text side (contrastive pretraining from scratch, clip.pretrain, takes minutes). Frozen, eval."""
    import torch.nn.functional as F
    from torch.utils.data import TensorDataset

    from obliviate.training import OptimConfig, fit

    backbone = random_backbone(data, seed=seed)
    head = classifier(data, backbone)  # the text side's class embeddings, fixed from here on
    for name, p in backbone.model.named_parameters():
        p.requires_grad_(name.startswith(("vision_model.", "visual_projection.")))

    def loss(model, batch):
        x, y = batch["train"]
        return F.cross_entropy(model(x), y)

    fit(head, loss, {"train": TensorDataset(data.train.x, data.train.y)}, epochs=epochs, batch_size=32,
        optim=OptimConfig("adam", lr, 0.0, 0.0, "cosine"), seed=seed, desc="vision-train tiny clip")
    for p in backbone.model.parameters():
        p.requires_grad_(False)
    backbone.model.eval()
    return backbone
