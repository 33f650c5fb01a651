"""l1-sparse (sparsity-aware unlearning): config, the gamma schedule, the loss, and behaviour on digits."""

from __future__ import annotations

import copy

import pytest
import torch

import obliviate.methods.classifier.l1_sparse  # noqa: F401  (registers "l1_sparse")
from conftest import DIGITS_PARAMS, TEST_SEED, accuracy_on, record_behaviour
from obliviate.errors import ConfigError
from obliviate.methods import get_method
from obliviate.methods.classifier.l1_sparse import L1SparseConfig, l1_norm, l1_sparse_loss, l1_weight
from obliviate.utils.seeding import seed_everything

#: digits-scale run: batch 32 as in the bench's digits recipe, lr 0.05. At these settings plain FT keeps the
#: forgotten class entirely; the l1 term removes it. alpha is larger than the paper's ~1e-4 because an
#: epoch here has 45 steps instead of ~176 (CIFAR-10 at batch 256) and the small CNN's weights are larger
#: than ResNet-18's, so the same relative shrinkage needs a larger gamma. With the l1 term on every epoch
#: the result sat on a knife edge between keeping the class and damaging the others: 3 epochs at alpha
#: 1e-3 -> forget acc 57%, 1.5e-3 -> 0% but the other classes fell by up to 18 points depending on kernel
#: path and threads (10 runs: 2 failures; 77.4% on a user's avx512 machine), 2e-3 -> down to 87%. As in the
#: paper (no_l1_epochs), the last epochs are plain FT: the l1 phase removes the class, which no retain
#: gradient brings back, and the l1-free epochs repair the others. 3 l1 + 4 plain epochs at alpha 2.5e-3:
#: forget 0%, other classes within 0.9 points (3 runs, 3 kernel paths; 2e-3 with 3 + 3: up to 5.6). Over
#: the grid (18 runs, benchmarks/results/numerics_grid*.json): forget 0% everywhere (m_forget 80), other
#: classes within 4.6 points (m_keep >= 5.4).
TINY = DIGITS_PARAMS["l1_sparse"]


def run(name, model, task, seed=TEST_SEED, **params):
    cls = get_method(name, family="classifier")
    config = cls.Config.from_params(params)
    seed_everything(seed)
    return cls().run(model, task.unlearn_data(), config, seed=seed)


def test_config_defaults_and_validation():
    c = L1SparseConfig()
    assert (c.epochs, c.lr, c.alpha, c.no_l1_epochs, c.momentum, c.weight_decay) == (10, 0.01, 1e-4, 0, 0.9, 5e-4)
    assert get_method("l1_sparse").Config is L1SparseConfig
    with pytest.raises(ConfigError, match="alpha must be >= 0"):
        L1SparseConfig.from_params({"alpha": -1e-4})
    with pytest.raises(ConfigError, match="no_l1_epochs"):
        L1SparseConfig.from_params({"epochs": 5, "no_l1_epochs": 6})
    with pytest.raises(ConfigError, match="no_l1_epochs"):
        L1SparseConfig.from_params({"no_l1_epochs": -1})
    with pytest.raises(ConfigError, match="unknown parameter 'alpah'.*did you mean 'alpha'"):
        L1SparseConfig.from_params({"alpah": 1})
    assert L1SparseConfig.from_params({"alpha": "5e-5", "no_l1_epochs": "2"}).alpha == 5e-5


@pytest.mark.parametrize(
    "alpha, epochs, no_l1, expected",
    [
        # gamma_t = alpha * (1 - t / (E - E_no_l1)) for t < E - E_no_l1, else 0 (hand-computed)
        (0.1, 10, 0, [0.1, 0.09, 0.08, 0.07, 0.06, 0.05, 0.04, 0.03, 0.02, 0.01]),
        (0.1, 10, 5, [0.1, 0.08, 0.06, 0.04, 0.02, 0, 0, 0, 0, 0]),
        (2e-4, 4, 2, [2e-4, 1e-4, 0, 0]),
        (1.0, 3, 3, [0, 0, 0]),
        (0.5, 1, 0, [0.5]),
    ],
)
def test_gamma_schedule_decays_linearly(alpha, epochs, no_l1, expected):
    assert [l1_weight(t, alpha, epochs, no_l1) for t in range(epochs)] == pytest.approx(expected, abs=1e-15)


def test_loss_is_cross_entropy_plus_gamma_times_l1_of_every_parameter(original, class_task):
    config = L1SparseConfig.from_params({"alpha": 0.01, "epochs": 4, "no_l1_epochs": 0})
    loss_fn, epoch_hook = l1_sparse_loss(config)
    x, y = class_task.retain.x[:16], class_task.retain.y[:16]
    batch = {"train": [x, y]}
    ce = torch.nn.functional.cross_entropy(original(x), y)
    l1 = sum(p.abs().sum() for p in original.parameters())  # weights, biases, BatchNorm affine
    assert float(l1_norm(original).detach()) == pytest.approx(float(l1.detach()), rel=1e-6)
    for t, gamma in enumerate([0.01, 0.0075, 0.005, 0.0025]):
        epoch_hook(original, t)
        assert float(loss_fn(original, batch).detach()) == pytest.approx(float((ce + gamma * l1).detach()), rel=1e-5)


@pytest.mark.slow
def test_without_l1_it_is_exactly_finetune(trained_original, class_task):
    params = {"batch_size": 32, "lr": 0.05, "epochs": 1}
    a = run("l1_sparse", copy.deepcopy(trained_original), class_task, alpha=0.0, **params)
    b = run("finetune", copy.deepcopy(trained_original), class_task, **params)
    for x, y in zip(a.state_dict().values(), b.state_dict().values()):
        assert torch.equal(x, y)


@pytest.mark.slow
def test_weights_end_smaller_in_l1_than_with_plain_finetune(trained_original, class_task):
    params = {"batch_size": 32, "lr": 0.1, "epochs": 2}
    ft = run("finetune", copy.deepcopy(trained_original), class_task, **params)
    l1 = run("l1_sparse", copy.deepcopy(trained_original), class_task, alpha=1e-3, **params)
    n_ft, n_l1, n_orig = (float(l1_norm(m).detach()) for m in (ft, l1, trained_original))
    assert n_l1 < 0.9 * n_ft, f"l1 norm: original {n_orig:.0f}, finetune {n_ft:.0f}, l1_sparse {n_l1:.0f}"
    # the penalty also drives many weights toward zero: more near-zero weights than FT
    def small(m):
        return sum(int((p.abs() < 1e-3).sum()) for p in m.parameters())

    assert small(l1) > small(ft)


@pytest.mark.slow
@pytest.mark.behaviour
def test_moves_forget_accuracy_toward_retrain_where_finetune_does_not(original, class_task, class_retrained,
                                                                      record_property):
    task = class_task
    retrained = class_retrained
    keep = task.test.y != 3
    before_f = accuracy_on(original, task.forget.x, task.forget.y)
    before_keep = accuracy_on(original, task.test.x[keep], task.test.y[keep])
    target_f = accuracy_on(retrained, task.forget.x, task.forget.y)
    ft_params = {k: v for k, v in TINY.items() if k not in ("alpha", "no_l1_epochs")}
    ft = run("finetune", copy.deepcopy(original), task, **ft_params)
    model = run("l1_sparse", original, task, **TINY)
    ft_f = accuracy_on(ft, task.forget.x, task.forget.y)
    after_f = accuracy_on(model, task.forget.x, task.forget.y)
    after_keep = accuracy_on(model, task.test.x[keep], task.test.y[keep])
    record_behaviour(record_property, before_f, target_f, after_f, before_keep, after_keep, 10)
    record_property("ft_forget", round(ft_f, 2))
    record_property("m_ft", round(ft_f - after_f - 40, 2))
    assert before_f > 95 and target_f < 5
    # Plain FT for the same 7 epochs keeps most of the class, but not all of it everywhere: over the grid
    # (benchmarks/results/numerics_grid*.json) its forget acc was 91.8-100% in 16 of 18 runs and 61.0 / 74.7%
    # at 2 threads, seed 1 (avx2 / avx512), where l1_sparse reached 0%. The l1 term, not FT's drift, does
    # the forgetting: FT keeps at least 40 points more of the class (worst over the grid: 61; this assertion's
    # margins: numerics_grid_l1_iu.json, m_ft >= 21).
    assert ft_f - after_f > 40, f"plain FT at {ft_params} forgot as much (forget acc {ft_f:.1f} vs {after_f:.1f})"
    assert abs(after_f - target_f) < abs(before_f - target_f) - 20, f"forget acc {before_f:.1f} -> {after_f:.1f}"
    assert after_keep >= before_keep - 10, f"other-class test acc {before_keep:.1f} -> {after_keep:.1f}"
