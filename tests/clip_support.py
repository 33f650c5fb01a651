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


def random_backbone(data, seed: int = 0):
    """An untrained tiny CLIP for ``data``'s captions (enough to exercise the methods' mechanics)."""
    from obliviate.clip.model import ClipBackbone, caption_words, tiny_clip, word_tokenizer

    tok = word_tokenizer(caption_words(data.domains, data.class_names))
    model = tiny_clip(tok, seed=seed).eval()
    return ClipBackbone(model, tok, 16)


def classifier(data, backbone):
    from obliviate.clip.model import TEMPLATE, ClipClassifier

    return ClipClassifier(backbone, data.class_names, [TEMPLATE.replace("{domain}", d) for d in data.domains])
