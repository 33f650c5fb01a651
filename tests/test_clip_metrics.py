"""Mem / For / H on hand-computed cases, per-domain accuracy, and ADU's MMD term."""

from __future__ import annotations

import math

import pytest
import torch

from obliviate.errors import ConfigError
from obliviate.methods.clip.adu import mean_pairwise_mmd2, mmd2
from obliviate.metrics.domain import domain_accuracies, harmonic_mean, mem_for_h


def test_harmonic_mean_hand_cases():
    assert harmonic_mean(80.0, 60.0) == pytest.approx(2 * 80 * 60 / 140)  # 68.571...
    assert harmonic_mean(50.0, 50.0) == 50.0
    assert harmonic_mean(100.0, 0.0) == 0.0 and harmonic_mean(0.0, 0.0) == 0.0
    with pytest.raises(ConfigError):
        harmonic_mean(-1.0, 5.0)


def test_mem_for_h_hand_case():
    # memorised photo 90 and painting 70 -> Mem 80; forgotten sketch 30 -> For 70; H = 2*80*70/150
    out = mem_for_h({"photo": 90.0, "sketch": 30.0, "painting": 70.0}, ["sketch"])
    assert out["mem"] == pytest.approx(80.0)
    assert out["for"] == pytest.approx(70.0)
    assert out["h"] == pytest.approx(74.6666667)
    # two forgotten domains: For = 100 - mean(20, 40) = 70; Mem = 90
    two = mem_for_h({"photo": 90.0, "sketch": 20.0, "clipart": 40.0}, ["sketch", "clipart"])
    assert (two["mem"], two["for"]) == (pytest.approx(90.0), pytest.approx(70.0))
    assert two["h"] == pytest.approx(2 * 90 * 70 / 160)
    with pytest.raises(ConfigError, match="at least one"):
        mem_for_h({"photo": 90.0, "sketch": 30.0}, ["photo", "sketch"])
    with pytest.raises(ConfigError, match="no accuracy"):
        mem_for_h({"photo": 90.0}, ["sketch"])


def test_domain_accuracies_hand_case():
    pred = torch.tensor([0, 1, 1, 2, 2, 0])
    y = torch.tensor([0, 1, 0, 2, 1, 1])
    d = torch.tensor([0, 0, 0, 1, 1, 1])
    acc = domain_accuracies(pred, y, d, ["photo", "sketch", "clipart"])
    assert acc == {"photo": pytest.approx(200 / 3), "sketch": pytest.approx(100 / 3)}  # no clipart samples


def test_mmd_is_zero_for_equal_samples_and_grows_with_separation():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(16, 8, generator=gen)
    assert mmd2(x, x).item() == pytest.approx(0.0, abs=1e-6)
    near = mmd2(x, x + 0.1).item()
    far = mmd2(x, x + 3.0).item()
    assert 0 <= near < far
    emb = torch.cat([x, x + 3.0, x - 3.0])
    d = torch.tensor([0] * 16 + [1] * 16 + [2] * 16)
    pairs = [mmd2(x, x + 3.0), mmd2(x, x - 3.0), mmd2(x + 3.0, x - 3.0)]
    assert mean_pairwise_mmd2(emb, d).item() == pytest.approx(float(sum(pairs) / 3), rel=1e-5)
    # a domain with one sample in the batch is left out; none left -> 0
    assert mean_pairwise_mmd2(x[:2], torch.tensor([0, 1])).item() == 0.0
    assert math.isfinite(mean_pairwise_mmd2(emb, d).item())
