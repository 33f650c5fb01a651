"""Worst-case forget sets (Fan et al. 2024): projection, determinism, modes, class-wise variant,
indices-file round trip, spec parsing and the ``obliviate worst-case`` command."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from obliviate.cli import main
from obliviate.data import load_image_dataset
from obliviate.data.images import ImageDataset
from obliviate.errors import ConfigError, ForgetSpecError
from obliviate.methods.classifier.retrain import RetrainConfig, train_classifier
from obliviate.models import build_classifier
from obliviate.models.io import save_classifier
from obliviate.tasks import ForgetRequest, Task, read_indices_file
from obliviate.classifier.worst_case import (
    LOWER_METHODS, WorstCaseConfig, project_capped_simplex, resolve_size, run_lower_level, search_worst_case, top_m,
)
from obliviate.utils.seeding import seed_everything

FAST = {"outer_steps": 2, "epochs": 1, "batch_size": 64}


@pytest.fixture(scope="module")
def digits():
    return load_image_dataset("digits", max_train=400)


@pytest.fixture(scope="module")
def original(digits):
    seed_everything(0)
    model = build_classifier("cnn", in_channels=1, num_classes=10)
    return train_classifier(model, digits.train, RetrainConfig(epochs=4, lr=0.05, batch_size=32), seed=0, desc="t")


# --- projection onto {w in [0,1]^N, sum w = m} --------------------------------------------------

def test_projection_hand_computed():
    # interior: mu = (1.2 - 1.5) / 3 = -0.1 shifts every weight up by 0.1
    assert torch.allclose(project_capped_simplex(torch.tensor([0.2, 0.4, 0.6]), 1.5),
                          torch.tensor([0.3, 0.5, 0.7], dtype=torch.float64), atol=1e-8)
    # capped: mu = 0.5 puts the two small weights at 0 and caps the large one at 1
    assert torch.allclose(project_capped_simplex(torch.tensor([0.5, 0.5, 2.0]), 1.0),
                          torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64), atol=1e-8)


@pytest.mark.parametrize("seed", range(5))
def test_projection_keeps_sum_and_box(seed):
    gen = torch.Generator().manual_seed(seed)
    v = torch.randn(500, generator=gen, dtype=torch.float64) * 10 ** (seed - 2)  # scales 0.01 .. 100
    for m in (1, 37.5, 250, 499):
        w = project_capped_simplex(v, m)
        assert abs(float(w.sum()) - m) < 1e-6
        assert float(w.min()) >= 0.0 and float(w.max()) <= 1.0
    feasible = project_capped_simplex(v, 37.5)
    assert torch.allclose(project_capped_simplex(feasible, 37.5), feasible, atol=1e-8)  # idempotent


def test_projection_rejects_impossible_sum():
    with pytest.raises(ConfigError):
        project_capped_simplex(torch.zeros(3), 4)


def test_top_m_ties_go_to_lower_index():
    assert top_m(torch.tensor([0.5, 1.0, 0.5, 0.5, 1.0]), 3).tolist() == [0, 1, 4]


def test_resolve_size():
    assert resolve_size("0.1", 1437) == 144 and resolve_size(500, 1437) == 500
    for bad in ("0", "1437", "1.5", "x"):
        with pytest.raises(ConfigError):
            resolve_size(bad, 1437)


# --- the search ----------------------------------------------------------------------------------

@pytest.mark.slow
def test_search_is_deterministic_under_a_seed(digits, original):
    config = WorstCaseConfig(**FAST)
    a = search_worst_case(original, digits.train, 10, 40, config, seed=3)
    b = search_worst_case(original, digits.train, 10, 40, config, seed=3)
    assert np.array_equal(a.indices, b.indices) and np.array_equal(a.weights, b.weights)
    assert len(a.indices) == 40 and len(np.unique(a.indices)) == 40
    assert abs(a.weights.sum() - 40) < 1e-6 and a.weights.min() >= 0 and a.weights.max() <= 1
    assert len(a.history) == 2


def test_search_leaves_the_original_untouched(digits, original):
    before = {k: v.clone() for k, v in original.state_dict().items()}
    search_worst_case(original, digits.train, 10, 20, WorstCaseConfig(**FAST), seed=0)
    assert all(torch.equal(before[k], v) for k, v in original.state_dict().items())


@pytest.mark.slow
def test_hardest_keeps_low_loss_points_and_easiest_takes_mislabelled_ones(digits, original):
    """Samples with a wrong label keep a high loss after unlearning: the easiest set to forget."""
    y = digits.train.y.clone()
    flipped = np.arange(0, 400, 20)  # 20 samples
    y[flipped] = (y[flipped] + 1) % 10
    train = ImageDataset(digits.train.x, y)
    hard = search_worst_case(original, train, 10, 20, WorstCaseConfig(**FAST), seed=0)
    easy = search_worst_case(original, train, 10, 20, WorstCaseConfig(**FAST, mode="easiest"), seed=0)
    assert len(np.intersect1d(easy.indices, flipped)) >= 18
    assert len(np.intersect1d(hard.indices, flipped)) == 0
    assert hard.history[-1]["chosen_mean_loss"] < hard.history[-1]["mean_loss"] < easy.history[-1]["chosen_mean_loss"]


@pytest.mark.slow
def test_class_wise_variant_returns_whole_classes(digits, original):
    result = search_worst_case(original, digits.train, 10, 0, WorstCaseConfig(**FAST), seed=0, classes=2)
    labels = digits.train.y.numpy()
    assert result.classes is not None and len(result.classes) == 2
    assert np.array_equal(result.indices, np.flatnonzero(np.isin(labels, result.classes)))
    with pytest.raises(ConfigError):
        search_worst_case(original, digits.train, 10, 0, WorstCaseConfig(**FAST), classes=10)


def test_class_wise_never_picks_a_class_without_samples(digits, original):
    keep = np.flatnonzero(~np.isin(digits.train.y.numpy(), (6, 7)))  # no 6s and no 7s at all
    train = ImageDataset(digits.train.x[keep], digits.train.y[keep])
    result = search_worst_case(original, train, 10, 0, WorstCaseConfig(**FAST), seed=0, classes=2)
    assert not set(result.classes) & {6, 7} and len(result.indices) > 0
    assert all(np.isfinite(h["objective"]) and np.isfinite(h["mean_loss"]) for h in result.history)
    with pytest.raises(ConfigError, match="8 classes"):
        search_worst_case(original, train, 10, 0, WorstCaseConfig(**FAST), seed=0, classes=8)


@pytest.mark.slow
def test_gamma_regularises_without_reversing_the_order_of_w(digits, original):
    """The normalised step divides only the loss term: a gamma far above the median loss (~1e-5 here)
    shrinks the weights toward uniform but keeps the chosen set stable from step to step."""
    result = search_worst_case(original, digits.train, 10, 40, WorstCaseConfig(**{**FAST, "outer_steps": 3}, gamma=1e-3),
                               seed=0)
    assert all(h["overlap_with_previous"] >= 0.5 for h in result.history[1:]), result.history


@pytest.mark.parametrize("lower", LOWER_METHODS)
def test_every_lower_level_trains_and_stays_finite(digits, original, lower):
    import copy

    model = copy.deepcopy(original)
    w = torch.zeros(len(digits.train), dtype=torch.float64)
    w[:40] = 1.0
    run_lower_level(model, digits.train, w, 10, WorstCaseConfig(lower=lower, epochs=1, batch_size=64), seed=0)
    changed = any(not torch.equal(a, b) for a, b in zip(model.state_dict().values(), original.state_dict().values()))
    assert changed and all(torch.isfinite(p).all() for p in model.parameters())


def test_config_validation():
    for bad in ({"lower": "nope"}, {"mode": "worst"}, {"outer_steps": 0}, {"w_lr": 0}, {"gamma": -1}):
        with pytest.raises(ConfigError):
            WorstCaseConfig.from_params(bad)


# --- indices files and specs ---------------------------------------------------------------------

def test_indices_file_round_trip(tmp_path, digits, original):
    result = search_worst_case(original, digits.train, 10, 30, WorstCaseConfig(**FAST), seed=1)
    path = tmp_path / "worst.txt"
    result.write(str(path), {"dataset": "digits", "max_train": 400})
    text = path.read_text()
    assert text.startswith("# obliviate worst-case") and "max_train=400" in text
    assert np.array_equal(read_indices_file(path), result.indices)
    task = Task.build(digits, f"indices:{path}", seed=0)
    assert np.array_equal(task.forget_idx, result.indices) and task.describe()["forget_size"] == 30


def test_worst_case_specs_parse_and_refuse_to_resolve_without_a_model(digits):
    request = ForgetRequest.parse("worst_case:0.1,mode=easiest,lower=random_label")
    assert request.spec == "worst_case:0.1,lower=random_label,mode=easiest"
    assert ForgetRequest.parse(request.spec) == request and request.scenario == "worst_case"
    assert ForgetRequest.parse("worst_classes:2").count == 2
    for bad in ("worst_case:0", "worst_case:10,foo=1", "worst_case:10,mode=worst", "worst_classes:0.5"):
        with pytest.raises(ForgetSpecError):
            ForgetRequest.parse(bad)
    with pytest.raises(ForgetSpecError, match="obliviate worst-case"):
        Task.build(digits, "worst_case:10", seed=0)


def test_cli_writes_a_usable_indices_file(tmp_path, digits, original, capsys):
    model_dir = tmp_path / "model"
    save_classifier(original, model_dir)
    out = tmp_path / "set.txt"
    code = main(["worst-case", "--dataset", "digits", "--max-train", "400", "--size", "25", "--model", str(model_dir),
                 "--param", "outer_steps=1", "--param", "batch_size=64", "--out", str(out), "--quiet"])
    assert code == 0 and len(read_indices_file(out)) == 25
    assert main(["worst-case", "--dataset", "digits", "--size", "5", "--classes", "2", "--out", str(out)]) == 2
    assert "exactly one of --size" in capsys.readouterr().err


def test_cli_refuses_a_model_of_another_dataset_and_bad_outputs_before_searching(tmp_path, capsys):
    five = build_classifier("cnn", in_channels=1, num_classes=5)
    save_classifier(five, tmp_path / "five")
    base = ["worst-case", "--dataset", "digits", "--max-train", "400", "--quiet"]
    assert main([*base, "--size", "25", "--model", str(tmp_path / "five"), "--out", str(tmp_path / "a.txt")]) == 2
    assert "num_classes=5 but digits needs 10" in capsys.readouterr().err
    assert main([*base, "--size", "25", "--model", str(tmp_path / "five"), "--out", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err
    assert main([*base, "--classes", "10", "--model", str(tmp_path / "five"), "--out", str(tmp_path / "b.txt")]) == 2
    assert "--classes must be in 1..9" in capsys.readouterr().err
    assert not (tmp_path / "a.txt").exists() and not (tmp_path / "b.txt").exists()
