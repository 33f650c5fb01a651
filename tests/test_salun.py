"""SalUn: the saliency mask, exactness of the masked update, and behaviour on digits."""

from __future__ import annotations

import copy

import pytest
import torch

import obliviate.methods.classifier.salun  # noqa: F401  (registers "salun")
from conftest import TEST_SEED, TINY_TRAIN, accuracy_on, record_behaviour
from obliviate.errors import ConfigError
from obliviate.methods import get_method
from obliviate.methods.classifier.random_label import random_label_fit
from obliviate.methods.classifier.retrain import RetrainConfig, train_classifier
from obliviate.methods.classifier.salun import SalUnConfig, forget_gradient, masked_update_hooks, saliency_mask
from obliviate.metrics.classifier import evaluate_classifier
from obliviate.models.classifier import reinitialize
from obliviate.tasks import Task
from obliviate.utils.seeding import seed_everything

#: digits-scale run: batch 32 (the bench's digits recipe) and 5 epochs, as for random_label
TINY = {"batch_size": 32, "epochs": 5}


def run(name, model, task, params, seed=TEST_SEED):
    cls = get_method(name, family="classifier")
    config = cls.Config.from_params(params)
    seed_everything(seed)
    return cls().run(model, task.unlearn_data(), config, seed=seed)


def retrain(trained_original, task):
    model = reinitialize(copy.deepcopy(trained_original), task.seed)
    return train_classifier(model, task.retain, RetrainConfig.from_params(TINY_TRAIN), seed=task.seed, desc="retrain")


def state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_config_defaults_and_validation():
    config = SalUnConfig()
    assert (config.mask_ratio, config.lr, config.epochs, config.momentum, config.weight_decay) == (0.5, 0.013, 10, 0.9, 5e-4)
    for bad in (0, -0.1, 1.5, "abc"):
        with pytest.raises(ConfigError, match="mask_ratio"):
            SalUnConfig.from_params({"mask_ratio": bad})
    assert SalUnConfig.from_params({"mask_ratio": "1"}).mask_ratio == 1.0


@pytest.mark.parametrize("ratio", [0.1, 0.5, 0.9, 1.0])
def test_mask_keeps_exactly_the_ratio_of_all_parameter_entries(ratio, original, class_task):
    masks = saliency_mask(original, class_task.forget, ratio)
    params = dict(original.named_parameters())
    assert set(masks) == set(params)  # weights, biases and BatchNorm affine parameters alike
    assert all(masks[n].dtype == torch.bool and masks[n].shape == p.shape for n, p in params.items())
    total = sum(p.numel() for p in params.values())
    assert sum(int(m.sum()) for m in masks.values()) == int(total * ratio)


def test_mask_is_a_global_top_k_of_the_forget_gradient(original, class_task):
    grads = forget_gradient(original, class_task.forget)
    masks = saliency_mask(original, class_task.forget, 0.3)
    inside = torch.cat([grads[n].abs()[m] for n, m in masks.items()])
    outside = torch.cat([grads[n].abs()[~m] for n, m in masks.items()])
    assert inside.min() >= outside.max()
    # one threshold over the whole model, not per layer: some layers get far more than 30%
    fractions = [m.float().mean().item() for m in masks.values() if m.numel() > 100]
    assert max(fractions) - min(fractions) > 0.3
    # smaller ratios give nested masks
    small = saliency_mask(original, class_task.forget, 0.1)
    assert all(torch.equal(small[n] & ~masks[n], torch.zeros_like(small[n])) for n in masks)


def test_mask_is_deterministic_and_leaves_the_model_untouched(original, class_task):
    before = state(original)
    original.train()
    a = saliency_mask(original, class_task.forget, 0.5)
    b = saliency_mask(copy.deepcopy(original), class_task.forget, 0.5, batch_size=32)
    assert all(torch.equal(a[n], b[n]) for n in a)
    assert original.training and all(p.grad is None for p in original.parameters())
    assert all(torch.equal(before[k], v) for k, v in original.state_dict().items())  # BN buffers too
    # batching only bounds memory: the gradient is the full-set mean gradient of -CE
    g1 = forget_gradient(original, class_task.forget, batch_size=7)
    g2 = forget_gradient(original, class_task.forget, batch_size=10_000)
    assert all(torch.allclose(g1[n], g2[n], rtol=1e-4, atol=1e-7) for n in g1)


@pytest.mark.slow
def test_masked_out_weights_stay_bit_identical_under_momentum_and_weight_decay(original, class_task):
    before = state(original)
    masks = saliency_mask(original, class_task.forget, 0.5)
    model = run("salun", original, class_task, {**TINY, "epochs": 2, "momentum": 0.9, "weight_decay": 5e-4})
    params = dict(model.named_parameters())
    for name, mask in masks.items():
        assert torch.equal(params[name].detach()[~mask], before[name][~mask]), name
    moved = sum(int((params[n].detach()[m] != before[n][m]).sum()) for n, m in masks.items())
    assert moved > 0.5 * sum(int(m.sum()) for m in masks.values())
    # BatchNorm running statistics are buffers, not weights: they keep updating (as in the reference)
    assert not torch.equal(model.state_dict()["body.1.running_mean"], before["body.1.running_mean"])


def test_zeroing_gradients_alone_would_let_weight_decay_move_masked_weights(original, class_task):
    """Why SalUn also restores masked entries after each step: weight decay acts inside the step."""
    before = state(original)
    masks = saliency_mask(original, class_task.forget, 0.5)
    grad_hook, _ = masked_update_hooks(original, masks)
    config = SalUnConfig.from_params({**TINY, "epochs": 1})
    random_label_fit(original, class_task.unlearn_data(), config, seed=0, grad_hook=grad_hook)
    params = dict(original.named_parameters())
    assert any(not torch.equal(params[n].detach()[~m], before[n][~m]) for n, m in masks.items())


def test_masked_update_hooks_reject_unknown_parameters(original):
    with pytest.raises(ConfigError, match="does not have"):
        masked_update_hooks(original, {"no.such.weight": torch.ones(3, dtype=torch.bool)})


@pytest.mark.slow
def test_full_mask_is_exactly_random_label(trained_original, class_task):
    """SalUn reuses RL: with every weight salient it is RL, bit for bit."""
    a = run("salun", copy.deepcopy(trained_original), class_task, {**TINY, "epochs": 1, "lr": 0.01, "mask_ratio": 1.0})
    b = run("random_label", copy.deepcopy(trained_original), class_task, {**TINY, "epochs": 1, "lr": 0.01})
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


@pytest.mark.slow
@pytest.mark.behaviour
def test_salun_forgets_a_class_toward_retrain_and_keeps_the_others(trained_original, class_task, class_retrained,
                                                                   record_property):
    task = class_task
    keep = task.test.y != 3
    target = accuracy_on(class_retrained, task.forget.x, task.forget.y)
    before_f = accuracy_on(trained_original, task.forget.x, task.forget.y)
    before_keep = accuracy_on(trained_original, task.test.x[keep], task.test.y[keep])
    model = run("salun", copy.deepcopy(trained_original), task, TINY)
    after_f = accuracy_on(model, task.forget.x, task.forget.y)
    after_keep = accuracy_on(model, task.test.x[keep], task.test.y[keep])
    record_behaviour(record_property, before_f, target, after_f, before_keep, after_keep, 10)
    assert target < 5 and before_f > 95
    assert abs(after_f - target) < abs(before_f - target) - 20, f"forget accuracy {before_f:.1f} -> {after_f:.1f}, retrain {target:.1f}"
    assert after_keep >= before_keep - 10, f"other-class test accuracy {before_keep:.1f} -> {after_keep:.1f}"


@pytest.mark.slow
@pytest.mark.behaviour
def test_salun_random_forgetting_gap_to_retrain_vs_random_label(trained_original, digits, record_property):
    """Digits random:0.1: report SalUn's average gap to retrain next to RL's (same lr; 3 epochs for speed)."""
    task = Task.build(digits, "random:0.1", seed=TEST_SEED)
    reference = evaluate_classifier(retrain(trained_original, task), task)["metrics"]
    gaps = {}
    for name in ("salun", "random_label"):
        model = run(name, copy.deepcopy(trained_original), task, {**TINY, "epochs": 3, "lr": 0.01})
        result = evaluate_classifier(model, task, reference=reference)
        gaps[name] = result["gap_to_retrain"]["average"]
        for key in ("retain_accuracy", "test_accuracy"):
            record_property(f"{name}_{key}", round(result["metrics"][key], 2))
        assert result["metrics"]["retain_accuracy"] > 95 and result["metrics"]["test_accuracy"] > 90
    print(f"digits random:0.1 average gap to retrain: salun {gaps['salun']:.2f}, random_label {gaps['random_label']:.2f}")
    record_property("gap_salun", round(gaps["salun"], 2))
    record_property("gap_random_label", round(gaps["random_label"], 2))
    record_property("m_gap", round(gaps["random_label"] + 5 - gaps["salun"], 2))
    assert gaps["salun"] <= gaps["random_label"] + 5
