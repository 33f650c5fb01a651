"""IU (influence unlearning, WoodFisher) and FF (Fisher forgetting): the one-shot baselines of Jia et al.

Numerical checks on tiny problems (per-sample gradients, Sherman-Morrison inverse, Fisher diagonal,
noise scaling), then behaviour on digits class-wise forgetting with the conftest original model.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import obliviate.methods.classifier.fisher_forgetting  # noqa: F401  (registers the method)
import obliviate.methods.classifier.influence  # noqa: F401  (registers the method)
from conftest import DIGITS_PARAMS, IU_NOT_ROBUST, TEST_SEED, accuracy_on, record_behaviour
from obliviate.data.images import ImageDataset
from obliviate.errors import ConfigError
from obliviate.methods import get_method
from obliviate.methods.classifier.fisher_forgetting import add_fisher_noise, fisher_diagonal
from obliviate.methods.classifier.influence import reference_woodfisher, woodfisher_inverse_hvp
from obliviate.methods.classifier.per_sample_grads import (
    add_to_params,
    flatten,
    iter_per_sample_grads,
    per_sample_grads,
    trainable_params,
)
from obliviate.models import load_classifier, save_classifier
from obliviate.utils.seeding import seed_everything

#: Digits parameters (the paper defaults are CIFAR-10 scale, see the configs' help). IU: on digits
#: H^-1 v is ~v (the damped Fisher of a well-fit model is tiny) and alpha=0.2 moves nothing; a step of
#: 150 forgets class 3. FF: the class-wise head-row zeroing of the
#: reference does the forgetting; alpha=1e-6 adds visible noise within the tolerance. Small Fisher
#: sample caps keep each run to a few seconds on a CPU.
#: IU is not robust on digits: it is one step whose size trades forgetting against the other classes, and
#: where the trade lands depends on the original (kernel path, seed). With a 128-sample Fisher alpha 150
#: lost up to 10.2 points elsewhere (10 runs, 2 failures). With 512 samples, over 6 originals (3 kernel
#: paths x seeds 0-1; worst margins m_forget / m_keep): alpha 100 -3.6 / 5.4, 125 7.4 / 3.8, 150 32.1 / 0.4,
#: 175 54.0 / -6.7; damping 0.01 (the Fisher then matters) is no wider: alpha 1.5 3.3 / 3.2, 1.75 12.2 / 0.7.
#: alpha 125 sits in the middle of that narrow window; over the grid (18 runs, benchmarks/results/
#: numerics_grid*.json) it still failed once (forget acc 84.2%, default kernels, 2 threads, seed 1) and its
#: worst other-class margin was 1.6 points, so its behaviour check is an expected failure (IU_NOT_ROBUST).
PARAMS = {name: DIGITS_PARAMS[name] for name in ("influence", "fisher_forgetting")}


def _run(name, model, task, seed=TEST_SEED, **overrides):
    cls = get_method(name, family="classifier")
    config = cls.Config.from_params({**PARAMS[name], **overrides})
    seed_everything(seed)
    return cls().run(model, task.unlearn_data(with_labels=cls.needs_labels(config)), config, seed=seed)


def _tiny_model() -> nn.Module:
    """20 parameters (a 4->4 linear layer) behind a flatten, for exact linear-algebra checks."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(4, 4))


# ---------------------------------------------------------------- per-sample gradients


def test_per_sample_grads_match_a_backward_loop(original):
    model = original.eval()
    torch.manual_seed(0)
    x, y = torch.randn(5, 1, 8, 8), torch.tensor([0, 3, 3, 7, 9])
    batched = per_sample_grads(model, x, y)
    assert batched.shape == (5, sum(p.numel() for p in model.parameters()))
    for i in range(5):
        model.zero_grad()
        F.cross_entropy(model(x[i : i + 1]), y[i : i + 1]).backward()
        plain = torch.cat([p.grad.reshape(-1) for p in model.parameters()])
        assert torch.allclose(batched[i], plain, atol=1e-5, rtol=1e-4)  # float32 summation order


def test_per_sample_grads_respect_pruning_masks_and_updates_keep_pruned_weights_zero():
    model = _tiny_model()
    mask = torch.rand(4, 4) > 0.5
    with torch.no_grad():
        model[1].weight.mul_(mask)
    model.weight_masks = {"1.weight": mask}
    data = ImageDataset(torch.randn(6, 1, 2, 2), torch.randint(0, 4, (6,)))
    g = torch.cat(list(iter_per_sample_grads(model, data, batch_size=4)))
    assert torch.all(g[:, :16][:, ~mask.reshape(-1)] == 0)
    add_to_params(model, torch.ones(20))
    assert torch.all(model[1].weight[~mask] == 0) and torch.all(model[1].weight[mask] != 0)


# ---------------------------------------------------------------- IU: Sherman-Morrison


def test_sherman_morrison_matches_an_explicit_inverse():
    """(damping*I + (1/N) sum g g^T)^-1 v on P=20 parameters and N=30 real per-sample gradients,
    taken in chunks of 7 and blocks of 8 so that both the cross-block and in-block updates run."""
    model = _tiny_model().double()
    torch.manual_seed(1)
    data = ImageDataset(torch.randn(30, 1, 2, 2, dtype=torch.float64) * 3, torch.randint(0, 4, (30,)))
    grads = torch.cat(list(iter_per_sample_grads(model, data, batch_size=7)))
    assert grads.shape == (30, 20)
    v = torch.randn(20, dtype=torch.float64)
    for damping in (1.0, 0.05):
        explicit = torch.linalg.solve(damping * torch.eye(20, dtype=torch.float64) + grads.T @ grads / 30, v)
        chunks = iter_per_sample_grads(model, data, batch_size=7)
        ours = woodfisher_inverse_hvp(chunks, v, num_samples=30, damping=damping, block_size=8)
        assert torch.allclose(ours, explicit, atol=1e-10, rtol=1e-8)
    # the curvature matters at damping 0.05: the result is not just v / damping
    assert not torch.allclose(ours, v / 0.05, rtol=1e-2)


def test_reference_loop_is_a_rank_one_correction_along_the_first_gradient():
    """The reference code's O(P) loop returns v - c * g_0, which is not H^-1 v."""
    torch.manual_seed(2)
    grads = torch.randn(30, 20, dtype=torch.float64)
    v = torch.randn(20, dtype=torch.float64)
    ref = reference_woodfisher(iter(grads.split(7)), v, num_samples=30)
    diff = ref - v
    c = torch.dot(diff, grads[0]) / torch.dot(grads[0], grads[0])
    assert torch.allclose(diff, c * grads[0], atol=1e-12)
    explicit = torch.linalg.solve(torch.eye(20, dtype=torch.float64) + grads.T @ grads / 30, v)
    assert not torch.allclose(ref, explicit, rtol=1e-3)


def test_sherman_morrison_rejects_a_wrong_sample_count():
    with pytest.raises(ValueError, match="expected num_samples"):
        woodfisher_inverse_hvp(iter([torch.randn(3, 5)]), torch.randn(5), num_samples=4)


# ---------------------------------------------------------------- FF: Fisher and noise


def test_fisher_diagonal_matches_a_loop_over_samples_and_classes():
    model = _tiny_model()
    data = ImageDataset(torch.randn(9, 1, 2, 2), None)  # the true Fisher needs no labels
    ours = fisher_diagonal(model, data, batch_size=4)
    expected = torch.zeros(20)
    for i in range(9):
        log_p = torch.log_softmax(model(data.x[i : i + 1])[0], dim=-1)
        for c in range(4):
            g = torch.autograd.grad(log_p[c], list(model.parameters()), retain_graph=True)
            expected += log_p[c].exp().detach() * torch.cat([t.reshape(-1) for t in g]).square()
    assert torch.allclose(ours, expected / 9, atol=1e-7, rtol=1e-5)


def test_fisher_noise_is_seeded_and_its_scale_follows_alpha():
    def noisy(alpha: float, seed: int) -> torch.Tensor:
        model = _tiny_model()
        before = flatten(trainable_params(model)).detach().clone()
        add_fisher_noise(model, {n: torch.full_like(p, alpha) for n, p in model.named_parameters()}, seed=seed)
        return flatten(trainable_params(model)).detach() - before

    assert torch.equal(noisy(1e-4, seed=3), noisy(1e-4, seed=3))
    assert not torch.equal(noisy(1e-4, seed=3), noisy(1e-4, seed=4))
    assert torch.allclose(noisy(4e-4, seed=3), 2 * noisy(1e-4, seed=3), atol=1e-7)


def test_fisher_forgetting_on_digits_is_deterministic_and_scales_with_alpha(trained_original, class_task):
    """Whole method, no head zeroing: same seed -> same weights; every variance is proportional to
    alpha, so 4x alpha gives 2x the noise."""
    theta = flatten(trainable_params(trained_original)).detach().clone()

    def delta(alpha: float, seed: int) -> torch.Tensor:
        model = _run("fisher_forgetting", copy.deepcopy(trained_original), class_task, seed=seed,
                     alpha=alpha, zero_forgotten_classes=False, max_retain_samples=8)
        return flatten(trainable_params(model)).detach() - theta

    a = delta(1e-7, seed=5)
    assert torch.equal(a, delta(1e-7, seed=5))
    assert not torch.equal(a, delta(1e-7, seed=6))
    assert torch.allclose(delta(4e-7, seed=5), 2 * a, rtol=1e-4, atol=1e-7)


# ---------------------------------------------------------------- behaviour on digits class 3


@pytest.fixture(scope="module")
def retrained(class_retrained):
    return class_retrained


@pytest.mark.slow
@pytest.mark.behaviour
@pytest.mark.parametrize("name", [pytest.param("influence", marks=IU_NOT_ROBUST), "fisher_forgetting"])
def test_forgets_class_3_toward_retrain_and_keeps_other_classes(name, original, retrained, class_task, record_property):
    task = class_task
    keep = task.test.y != 3
    before_f = accuracy_on(original, task.forget.x, task.forget.y)
    before_keep = accuracy_on(original, task.test.x[keep], task.test.y[keep])
    target_f = accuracy_on(retrained, task.forget.x, task.forget.y)
    model = _run(name, original, task)
    after_f = accuracy_on(model, task.forget.x, task.forget.y)
    after_keep = accuracy_on(model, task.test.x[keep], task.test.y[keep])
    record_behaviour(record_property, before_f, target_f, after_f, before_keep, after_keep, 10)
    assert before_f > 95 and target_f < 5
    assert abs(after_f - target_f) < abs(before_f - target_f) - 20, f"{name}: forget {before_f} -> {after_f}"
    assert after_keep >= before_keep - 10, f"{name}: other-class test accuracy {before_keep} -> {after_keep}"
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_fisher_forgetting_zeroes_the_forgotten_class_head_row(original, class_task):
    """With alpha=0 only the reference's class-wise step acts: class 3's head row and bias become
    0 (+ noise of variance 1e-3), every other weight is unchanged."""
    before = copy.deepcopy(original)
    model = _run("fisher_forgetting", original, class_task, alpha=0.0)
    assert model.head.weight[3].abs().max() < 0.2 and model.head.bias[3].abs() < 0.2
    assert not torch.allclose(model.head.weight[3], before.head.weight[3], atol=0.2)
    assert torch.equal(model.head.weight[[0, 1, 2, 4, 5, 6, 7, 8, 9]], before.head.weight[[0, 1, 2, 4, 5, 6, 7, 8, 9]])
    for (name, p), q in zip(model.body.named_parameters(), before.body.parameters()):
        assert torch.equal(p, q), name


def test_influence_is_deterministic_and_reloads(trained_original, class_task, tmp_path):
    a = _run("influence", copy.deepcopy(trained_original), class_task, seed=5, max_retain_samples=32)
    b = _run("influence", copy.deepcopy(trained_original), class_task, seed=5, max_retain_samples=32)
    for x, y in zip(a.state_dict().values(), b.state_dict().values()):
        assert torch.equal(x, y)
    save_classifier(a, tmp_path / "iu")
    for x, y in zip(a.state_dict().values(), load_classifier(tmp_path / "iu").state_dict().values()):
        assert torch.equal(x, y)


@pytest.mark.parametrize(
    "name, params, match",
    [
        ("influence", {"damping": 0}, "damping"),
        ("influence", {"max_retain_samples": 0}, "max_retain_samples"),
        ("influence", {"solver": "cg"}, "solver"),
        ("influence", {"alpha": float("nan")}, "alpha"),
        ("fisher_forgetting", {"alpha": -1.0}, "alpha"),
        ("fisher_forgetting", {"max_retain_samples": 0}, "max_retain_samples"),
        ("fisher_forgetting", {"epochs": 1}, "unknown parameter"),
    ],
)
def test_bad_configs_are_config_errors(name, params, match):
    with pytest.raises(ConfigError, match=match):
        get_method(name, family="classifier").Config.from_params(params)


def test_fisher_forgetting_needs_labels_only_to_zero_classes():
    cls = get_method("fisher_forgetting")
    assert cls.needs_labels(cls.Config.from_params({}))
    assert not cls.needs_labels(cls.Config.from_params({"zero_forgotten_classes": False}))
