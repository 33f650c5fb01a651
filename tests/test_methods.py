"""Conformance suite over every registered classifier method, plus per-method behaviour on digits.

Behaviour is checked on class-wise forgetting (digits class 3), where the retrained model's forget
accuracy is ~0%: every method must move forget accuracy toward it while accuracy on the other
classes' test images stays within TOLERANCE points of the original model's.
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch

from conftest import DIGITS_PARAMS, IU_NOT_ROBUST, TEST_SEED, TINY_TRAIN, accuracy_on, record_behaviour
from obliviate.errors import ConfigError
from obliviate.methods import METHODS, get_method, load_all
from obliviate.models import load_classifier, save_classifier
from obliviate.tasks import UnlearnData
from obliviate.utils.seeding import seed_everything

load_all()
CLASSIFIER_METHODS = METHODS.short_names("classifier")

TOLERANCE = 10.0  # points of test accuracy on the classes that are not forgotten


def run_method(name, model, task, seed=TEST_SEED, **overrides):
    cls = get_method(name, family="classifier")
    fields = {f for f, *_ in cls.Config.describe()}
    # one-shot methods (influence, Fisher) have no epochs: a "quick" override only applies where it fits
    overrides = {k: v for k, v in overrides.items() if k in fields}
    if "epochs" in overrides and "no_l1_epochs" in fields:  # a quick run has no room for l1-free epochs
        overrides.setdefault("no_l1_epochs", 0)
    config = cls.Config.from_params({**DIGITS_PARAMS[name], **overrides})
    seed_everything(seed)
    return cls().run(model, task.unlearn_data(with_labels=cls.needs_labels(config)), config, seed=seed)


def test_every_classifier_method_has_digits_parameters():
    assert set(CLASSIFIER_METHODS) <= set(DIGITS_PARAMS), set(CLASSIFIER_METHODS) - set(DIGITS_PARAMS)


@pytest.fixture(scope="module")
def retrained(class_retrained):
    return class_retrained


@pytest.mark.slow
@pytest.mark.behaviour
@pytest.mark.parametrize("name", [pytest.param(n, marks=IU_NOT_ROBUST) if n == "influence" else n for n in CLASSIFIER_METHODS])
def test_method_moves_forget_accuracy_toward_retrain(name, original, retrained, class_task, record_property):
    task = class_task
    keep = task.test.y != 3
    before_f = accuracy_on(original, task.forget.x, task.forget.y)
    before_keep = accuracy_on(original, task.test.x[keep], task.test.y[keep])
    target_f = accuracy_on(retrained, task.forget.x, task.forget.y)
    params_before = [p.detach().clone() for p in original.parameters()]

    model = run_method(name, original, task)

    after_f = accuracy_on(model, task.forget.x, task.forget.y)
    after_keep = accuracy_on(model, task.test.x[keep], task.test.y[keep])
    record_behaviour(record_property, before_f, target_f, after_f, before_keep, after_keep, TOLERANCE)
    assert before_f > 95 and target_f < 5, "the fixture should give a clear class-forgetting task"
    assert abs(after_f - target_f) < abs(before_f - target_f) - 20, (
        f"{name}: forget accuracy {before_f:.1f} -> {after_f:.1f}, retrain {target_f:.1f}"
    )
    assert after_keep >= before_keep - TOLERANCE, f"{name}: other-class test accuracy {before_keep:.1f} -> {after_keep:.1f}"
    assert any(not torch.equal(a, b) for a, b in zip(params_before, model.parameters())), "parameters unchanged"
    assert all(torch.isfinite(p).all() for p in model.parameters())


@pytest.mark.slow
@pytest.mark.parametrize("name", CLASSIFIER_METHODS)
def test_method_result_saves_and_reloads_bit_identically(name, original, class_task, tmp_path):
    model = run_method(name, original, class_task, epochs=1)
    save_classifier(model, tmp_path / name)
    loaded = load_classifier(tmp_path / name)
    for a, b in zip(model.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("name", CLASSIFIER_METHODS)
def test_method_rejects_bad_config(name):
    cls = get_method(name, family="classifier")
    with pytest.raises(ConfigError, match="unknown parameter"):
        cls.Config.from_params({"definitely_not_a_parameter": 1})
    with pytest.raises(ConfigError):
        cls.Config.from_params({"epochs": -1})


@pytest.mark.slow
@pytest.mark.parametrize("name", CLASSIFIER_METHODS)
def test_method_is_deterministic_under_a_seed(name, trained_original, class_task):
    a = run_method(name, copy.deepcopy(trained_original), class_task, seed=5, epochs=1)
    b = run_method(name, copy.deepcopy(trained_original), class_task, seed=5, epochs=1)
    for x, y in zip(a.state_dict().values(), b.state_dict().values()):
        assert torch.equal(x, y)


@pytest.mark.slow
def test_retrain_never_touches_forget_data(original, class_task):
    """By construction: poison the forget images with NaN; any use of them would make the loss NaN."""
    data = class_task.unlearn_data()
    poisoned = UnlearnData(data.forget.with_labels(data.forget.y).__class__(torch.full_like(data.forget.x, float("nan")), data.forget.y), data.retain, data.num_classes)
    cls = get_method("classifier/retrain")
    model = cls().run(original, poisoned, cls.Config.from_params({**TINY_TRAIN, "epochs": 2}), seed=0)
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_retrain_starts_from_scratch(original, class_task):
    """Retrain re-initialises: with zero epochs it must not keep the original's weights."""
    cls = get_method("classifier/retrain")
    before = [p.detach().clone() for p in original.parameters()]
    model = cls().run(original, class_task.unlearn_data(), dataclasses.replace(cls.Config.from_params(TINY_TRAIN), epochs=0), seed=1)
    assert all(not torch.equal(a, b) for a, b in zip(before, model.parameters()) if a.numel() > 1 and a.std() > 0)


def test_grad_ascent_divergence_is_a_clear_error(original, class_task):
    from obliviate.training.loop import TrainingDiverged

    with pytest.raises(TrainingDiverged, match="lower the learning rate"):
        run_method("grad_ascent", original, class_task, lr=10.0, epochs=20, momentum=0.99)


def test_random_labels_are_fixed_per_seed():
    from obliviate.methods.classifier.random_label import random_labels

    a, b, c = random_labels(100, 10, 1), random_labels(100, 10, 1), random_labels(100, 10, 2)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.min() >= 0 and a.max() < 10 and len(np.unique(a.numpy())) > 5
