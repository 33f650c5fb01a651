"""Shared fixtures: a digits original model trained once per session (seconds on a CPU)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from obliviate.data import load_image_dataset
from obliviate.methods.retrain import RetrainConfig, train_classifier
from obliviate.models import build_classifier
from obliviate.tasks import Task
from obliviate.training.predict import predict_probs
from obliviate.utils.progress import set_quiet
from obliviate.utils.seeding import seed_everything

set_quiet(True)
torch.set_num_threads(min(2, torch.get_num_threads()))

#: The recipe every test original/retrain uses: digits, batch 32, 10 epochs (a few seconds).
TINY_TRAIN = {"epochs": 10, "lr": 0.05, "batch_size": 32, "schedule": "cosine"}


@pytest.fixture(scope="session")
def digits():
    return load_image_dataset("digits")


@pytest.fixture(scope="session")
def trained_original(digits):
    seed_everything(0)
    model = build_classifier("cnn", in_channels=1, num_classes=10)
    return train_classifier(model, digits.train, RetrainConfig.from_params(TINY_TRAIN), seed=0, desc="test original")


@pytest.fixture
def original(trained_original):
    """A fresh copy per test, so no test sees another's changes."""
    return copy.deepcopy(trained_original)


@pytest.fixture(scope="session")
def class_task(digits):
    return Task.build(digits, "class:3", seed=0)


def accuracy_on(model, x, y) -> float:
    return float((predict_probs(model, x).argmax(1) == np.asarray(y)).mean() * 100)
