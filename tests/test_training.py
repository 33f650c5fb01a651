import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from obliviate.errors import ConfigError
from obliviate.training import OptimConfig, fit


def _toy():
    torch.manual_seed(0)
    x = torch.randn(64, 5)
    y = (x[:, 0] > 0).long()
    return x, y


def _loss(model, batch):
    x, y = batch["train"]
    return nn.functional.cross_entropy(model(x), y)


def test_fit_is_deterministic_and_learns():
    x, y = _toy()
    results = []
    for _ in range(2):
        torch.manual_seed(1)
        model = nn.Linear(5, 2)
        stats = fit(model, _loss, {"train": TensorDataset(x, y)}, epochs=5, batch_size=8, optim=OptimConfig(lr=0.1), seed=3)
        results.append(model.weight.detach().clone())
    assert torch.equal(results[0], results[1])
    assert stats.steps == 40 and stats.epoch_losses[-1] < stats.epoch_losses[0]


def test_secondary_streams_cycle():
    """The first stream ("a", 64 samples) sets 8 steps; "b" (10 samples, batch 8) is cycled: a full batch
    then its short last batch of 2, four times, each pass covering all 10 samples in a fresh order."""
    x, y = _toy()
    seen: list[list[int]] = []

    def loss(model, batch):
        seen.append(batch["b"][1].tolist())
        return nn.functional.cross_entropy(model(batch["a"][0]), batch["a"][1]) + 0 * model(batch["b"][0]).sum()

    fit(nn.Linear(5, 2), loss, {"a": TensorDataset(x, y), "b": TensorDataset(x[:10], torch.arange(10))},
        epochs=1, batch_size=8, optim=OptimConfig(), seed=0)
    assert [len(b) for b in seen] == [8, 2] * 4
    passes = [seen[i] + seen[i + 1] for i in range(0, 8, 2)]
    assert all(sorted(p) == list(range(10)) for p in passes)
    assert len({tuple(p) for p in passes}) > 1  # reshuffled between passes


def test_weight_masks_survive_momentum_and_weight_decay():
    x, y = _toy()
    model = nn.Linear(5, 2)
    mask = torch.rand(2, 5, generator=torch.Generator().manual_seed(0)) > 0.5
    model.weight_masks = {"weight": mask}
    fit(model, _loss, {"train": TensorDataset(x, y)}, epochs=3, batch_size=8,
        optim=OptimConfig(lr=0.1, momentum=0.9, weight_decay=0.1), seed=0)
    assert torch.all(model.weight[~mask] == 0) and torch.any(model.weight[mask] != 0)


def test_fit_rejects_bad_settings():
    x, y = _toy()
    with pytest.raises(ConfigError, match="lr must be"):
        fit(nn.Linear(5, 2), _loss, {"train": TensorDataset(x, y)}, epochs=1, batch_size=8, optim=OptimConfig(lr=0), seed=0)
    with pytest.raises(ConfigError, match="empty"):
        fit(nn.Linear(5, 2), _loss, {"train": TensorDataset(x[:0], y[:0])}, epochs=1, batch_size=8, optim=OptimConfig(), seed=0)
    with pytest.raises(ConfigError, match="weight_masks"):
        m = nn.Linear(5, 2)
        m.weight_masks = {"nope": torch.ones(2, 5, dtype=torch.bool)}
        fit(m, _loss, {"train": TensorDataset(x, y)}, epochs=1, batch_size=8, optim=OptimConfig(), seed=0)
