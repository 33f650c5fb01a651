"""The training loop's loader options: workers and pinned memory never change the batches or their order."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import TensorDataset

from obliviate.errors import ConfigError
from obliviate.training import loader_options as lo
from obliviate.training.loop import make_loader


@pytest.fixture(autouse=True)
def _reset():
    lo.reset_loader_options()
    yield
    lo.reset_loader_options()


def _batches() -> list[torch.Tensor]:
    ds = TensorDataset(torch.arange(50).float().view(50, 1), torch.arange(50))
    return [y for _, y in make_loader(ds, 8, seed=3)]


def test_defaults_follow_the_device_and_the_environment(monkeypatch):
    monkeypatch.delenv("OBLIVIATE_LOADER_WORKERS", raising=False)
    monkeypatch.delenv("OBLIVIATE_PIN_MEMORY", raising=False)
    assert lo.loader_options() == lo.LoaderOptions(0, torch.cuda.is_available())
    monkeypatch.setenv("OBLIVIATE_LOADER_WORKERS", "3")
    monkeypatch.setenv("OBLIVIATE_PIN_MEMORY", "0")
    assert lo.loader_options() == lo.LoaderOptions(3, False)
    monkeypatch.setenv("OBLIVIATE_LOADER_WORKERS", "many")
    with pytest.raises(ConfigError, match="OBLIVIATE_LOADER_WORKERS"):
        lo.loader_options()
    with pytest.raises(ConfigError):
        lo.LoaderOptions(workers=-1)


def test_worker_processes_give_the_same_batches_in_the_same_order():
    lo.set_loader_options(workers=0, pin_memory=False)
    plain = _batches()
    lo.set_loader_options(workers=2)
    loader = make_loader(TensorDataset(torch.zeros(4, 1)), 2, seed=0)
    assert loader.num_workers == 2
    with_workers = _batches()
    assert len(plain) == len(with_workers) and all(torch.equal(a, b) for a, b in zip(plain, with_workers))
    assert sorted(torch.cat(plain).tolist()) == list(range(50))
