"""Prune first, then unlearn: spec parsing, global magnitude masks, rewind, mask I/O, and sparsity
kept through real unlearning methods (masks enforced by the shared loop or by apply_masks)."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import obliviate.methods.classifier.l1_sparse  # noqa: F401  (registers "l1_sparse")
from conftest import DIGITS_PARAMS, TINY_TRAIN, accuracy_on
from obliviate.errors import ConfigError, ModelLoadError
from obliviate.methods import get_method
from obliviate.methods.classifier.retrain import RetrainConfig, train_classifier
from obliviate.models.classifier import build_classifier
from obliviate.pruning import (
    PruneSpec,
    apply_masks,
    attach_masks,
    load_masks,
    magnitude_masks,
    prunable_parameters,
    prune,
    save_masks,
    sparsity,
)
from obliviate.utils.seeding import seed_everything

RECIPE = RetrainConfig.from_params(TINY_TRAIN)


def masked_out_are_zero(model) -> bool:
    params = dict(model.named_parameters())
    return all(torch.all(params[n][~m] == 0) for n, m in model.weight_masks.items())


@pytest.fixture(scope="module")
def omp_model(trained_original, digits):
    return prune(copy.deepcopy(trained_original), "omp:0.95,retrain=2", digits.train, RECIPE, seed=0)


@pytest.fixture(scope="module")
def imp_model(trained_original, digits):
    # rate 0.5 (5 rounds) rather than the default 0.2 (14 rounds) keeps the test fast; the default
    # schedule is checked in test_imp_schedule_prunes_a_fifth_of_the_survivors_per_round
    return prune(copy.deepcopy(trained_original), "imp:0.95,retrain=1,rate=0.5", digits.train, RECIPE, seed=0)


# --- specs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, canonical",
    [
        ("omp:0.95", "omp:0.95"),
        ("IMP:0.9", "imp:0.9"),
        (" omp:0.95 , retrain=5 , rewind=1 ", "omp:0.95,retrain=5,rewind=1"),
        ("imp:0.8,rewind=2,rate=0.3,retrain=0", "imp:0.8,rate=0.3,retrain=0,rewind=2"),
        ("imp:0.8,rate=0.2", "imp:0.8"),
        ("omp:0.5,scope=conv", "omp:0.5,scope=conv"),
        ("omp:0.5,scope=body,rewind=0", "omp:0.5"),
    ],
)
def test_spec_parses_to_a_canonical_string(text, canonical):
    spec = PruneSpec.parse(text)
    assert spec.spec == canonical == str(spec)
    assert PruneSpec.parse(spec.spec) == spec
    assert PruneSpec.parse(spec) is spec


@pytest.mark.parametrize(
    "text, match",
    [
        ("omp", "KIND:SPARSITY"),
        ("", "KIND:SPARSITY"),
        ("opm:0.9", "did you mean 'omp'"),
        ("random:0.9", "unknown pruning kind"),
        ("omp:abc", "not a number"),
        ("omp:0", r"sparsity must be in \(0, 1\)"),
        ("omp:1", r"sparsity must be in \(0, 1\)"),
        ("omp:1.5", r"sparsity must be in \(0, 1\)"),
        ("omp:-0.1", r"sparsity must be in \(0, 1\)"),
        ("omp:nan", r"sparsity must be in \(0, 1\)"),
        ("omp:0.9,retrain", "NAME=VALUE"),
        ("omp:0.9,retrain=", "NAME=VALUE"),
        ("omp:0.9,retrain=x", "retrain must be an integer"),
        ("omp:0.9,retrain=-1", "retrain must be >= 0, got -1"),
        ("omp:0.9,rewind=1.5", "rewind must be an integer"),
        ("omp:0.9,rewnid=1", "did you mean 'rewind'"),
        ("omp:0.9,bogus=1", "unknown option 'bogus'"),
        ("omp:0.9,retrain=1,retrain=2", "given twice"),
        ("omp:0.9,rate=0.2", "iterative pruning only"),
        ("imp:0.9,rate=1", r"rate must be in \(0, 1\)"),
        ("imp:0.9,rate=0", r"rate must be in \(0, 1\)"),
        ("omp:0.9,scope=heads", "scope must be one of"),
    ],
)
def test_bad_specs_are_clear_config_errors(text, match):
    with pytest.raises(ConfigError, match=match):
        PruneSpec.parse(text)


def test_direct_construction_is_validated_too():
    with pytest.raises(ConfigError, match="sparsity"):
        PruneSpec("omp", 1.0)


def test_imp_schedule_prunes_a_fifth_of_the_survivors_per_round():
    rounds = PruneSpec.parse("imp:0.95").schedule()
    assert len(rounds) == 14 and rounds[-1] == 0.95
    for i, s in enumerate(rounds[:-1], start=1):
        assert s == pytest.approx(1 - 0.8**i)
    assert PruneSpec.parse("imp:0.5,rate=0.5").schedule() == [0.5]
    assert PruneSpec.parse("omp:0.95").schedule() == [0.95]


# --- masks ---------------------------------------------------------------------------------------


def test_prunable_scopes():
    model = build_classifier("cnn", in_channels=1, num_classes=10)
    conv = prunable_parameters(model, "conv")
    body = prunable_parameters(model, "body")
    everything = prunable_parameters(model, "all")
    assert all(name.endswith(".weight") for name in everything)
    assert set(conv) < set(body) < set(everything)
    assert set(everything) - set(body) == {"head.weight"}
    assert all(p.dim() == 4 for p in conv.values())
    assert not any("bias" in n for n in everything)


@pytest.mark.parametrize("scope", ["conv", "body", "all"])
def test_magnitude_masks_are_global_and_exact(original, scope):
    masks = magnitude_masks(original, 0.9, scope)
    params = prunable_parameters(original, scope)
    assert set(masks) == set(params)
    total = sum(p.numel() for p in params.values())
    assert sum(int((~m).sum()) for m in masks.values()) == round(0.9 * total)
    pruned = torch.cat([params[n].detach().abs()[~m] for n, m in masks.items()])
    kept = torch.cat([params[n].detach().abs()[m] for n, m in masks.items()])
    assert pruned.max() <= kept.min()  # one threshold over all layers
    per_layer = [float((~m).float().mean()) for m in masks.values()]
    assert max(per_layer) - min(per_layer) > 0.05  # global, not layer-wise


def test_iterative_masks_only_remove_more(original):
    first = magnitude_masks(original, 0.5)
    attach_masks(original, first)
    second = magnitude_masks(original, 0.7, masks=first)
    assert all(torch.all(second[n] <= first[n]) for n in first)
    with pytest.raises(ConfigError, match="already"):
        magnitude_masks(original, 0.3, masks=first)


def test_attach_and_apply_masks_validate_and_zero(original):
    masks = magnitude_masks(original, 0.8)
    attach_masks(original, masks)
    assert masked_out_are_zero(original)
    assert sparsity(original) == pytest.approx(0.8, abs=1e-4)
    with pytest.raises(ConfigError, match="does not have"):
        attach_masks(original, {"nope.weight": torch.ones(3, dtype=torch.bool)})
    name, mask = next(iter(masks.items()))
    with pytest.raises(ConfigError, match="shape"):
        attach_masks(original, {name: mask.flatten()})
    with pytest.raises(ConfigError, match="bool"):
        attach_masks(original, {name: mask.float()})


def test_sparsity_of_a_dense_model_is_zero(original):
    assert sparsity(original) == 0.0
    masks = magnitude_masks(original, 0.6)
    assert sparsity(original, masks) == 0.0  # measures values: nothing zeroed yet
    apply_masks(original)  # no masks attached: a no-op
    assert sparsity(original) == 0.0


def test_masks_save_and_load_round_trip(original, tmp_path):
    masks = magnitude_masks(original, 0.95)
    path = save_masks(masks, tmp_path / "sub" / "masks.safetensors", metadata={"spec": "omp:0.95"})
    assert [p.name for p in path.parent.iterdir()] == ["masks.safetensors"]  # atomic: no temp file left
    loaded = load_masks(path)
    assert set(loaded) == set(masks)
    assert all(loaded[n].dtype == torch.bool and torch.equal(loaded[n], masks[n]) for n in masks)
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_masks(tmp_path / "missing.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ModelLoadError, match="not a readable"):
        load_masks(tmp_path / "junk.safetensors")
    from safetensors.torch import save_file

    save_file({"w": torch.ones(2)}, str(tmp_path / "floats.safetensors"))
    with pytest.raises(ModelLoadError, match="bool"):
        load_masks(tmp_path / "floats.safetensors")
    with pytest.raises(ConfigError, match="bool"):
        save_masks({"w": torch.ones(2)}, tmp_path / "bad.safetensors")


# --- prune + retrain -----------------------------------------------------------------------------


@pytest.mark.slow
def test_omp_reaches_the_sparsity_and_keeps_accuracy(omp_model, trained_original, digits):
    assert sparsity(omp_model) == pytest.approx(0.95, abs=0.005)
    assert masked_out_are_zero(omp_model)
    assert set(omp_model.weight_masks) == set(prunable_parameters(omp_model))
    before = accuracy_on(trained_original, digits.test.x, digits.test.y)
    after = accuracy_on(omp_model, digits.test.x, digits.test.y)
    assert after >= before - 5, f"95% sparse model: test accuracy {before:.1f} -> {after:.1f}"


@pytest.mark.slow
def test_imp_reaches_the_sparsity(imp_model, digits):
    assert sparsity(imp_model) == pytest.approx(0.95, abs=0.005)
    assert masked_out_are_zero(imp_model)
    assert accuracy_on(imp_model, digits.test.x, digits.test.y) > 85


def test_prune_without_retraining_only_zeroes(original, digits):
    kept = {n: p.detach().clone() for n, p in original.named_parameters()}
    model = prune(original, "omp:0.5,retrain=0", digits.train, RECIPE, seed=0)
    for name, p in model.named_parameters():
        mask = model.weight_masks.get(name, torch.ones_like(p, dtype=torch.bool))
        assert torch.equal(p.detach(), kept[name] * mask)


#: a short original-training recipe, so that replaying it for rewind stays cheap
SHORT = RetrainConfig.from_params({**TINY_TRAIN, "epochs": 2})


@pytest.fixture(scope="module")
def short_original(digits):
    """Trained exactly as the bench trains an original model: seed, build, train_classifier."""
    seed_everything(3)
    model = build_classifier("cnn", in_channels=1, num_classes=10)
    return train_classifier(model, digits.train, SHORT, seed=3, desc="short original")


@pytest.mark.slow
def test_rewind_replays_the_original_run_exactly(short_original, digits):
    """rewind=E (all of the recipe's epochs) must reproduce the original model bit for bit."""
    model = prune(copy.deepcopy(short_original), "omp:0.5,retrain=0,rewind=2", digits.train, SHORT, seed=3)
    ref = short_original.state_dict()
    for name, value in model.state_dict().items():
        expected = ref[name] * model.weight_masks[name] if name in model.weight_masks else ref[name]
        assert torch.equal(value, expected), name


@pytest.mark.slow
def test_rewind_to_an_early_epoch_resets_the_survivors(short_original, digits):
    model = prune(copy.deepcopy(short_original), "omp:0.5,retrain=0,rewind=1", digits.train, SHORT, seed=3)
    params = dict(model.named_parameters())
    trained = dict(short_original.named_parameters())
    seed_everything(3)
    init = dict(build_classifier("cnn", in_channels=1, num_classes=10).named_parameters())
    for name, mask in model.weight_masks.items():
        assert not torch.equal(params[name][mask], trained[name][mask])
        assert not torch.equal(params[name][mask], init[name][mask])
    assert masked_out_are_zero(model)
    with pytest.raises(ConfigError, match="beyond the original training run"):
        prune(copy.deepcopy(short_original), "omp:0.5,rewind=3", digits.train, SHORT, seed=3)


# --- sparsity survives unlearning ------------------------------------------------------------------

#: momentum and weight decay on purpose: neither may revive a pruned weight
UNLEARN = {
    "finetune": {"batch_size": 32, "epochs": 1, "lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4},
    "l1_sparse": {"batch_size": 32, "epochs": 1, "lr": 0.1, "alpha": 1e-3, "momentum": 0.9, "weight_decay": 5e-4},
    "grad_ascent": {"batch_size": 32, "epochs": 2, "momentum": 0.9, "weight_decay": 5e-4},
    "random_label": {"batch_size": 32, "epochs": 1, "momentum": 0.9, "weight_decay": 5e-4},
}


@pytest.mark.slow
@pytest.mark.parametrize("fixture", ["omp_model", "imp_model"])
@pytest.mark.parametrize("name", sorted(UNLEARN))
def test_unlearning_keeps_the_sparsity(name, fixture, request, class_task):
    pruned = request.getfixturevalue(fixture)
    model = copy.deepcopy(pruned)  # the bench deep-copies the pruned original for every method
    assert set(model.weight_masks) == set(pruned.weight_masks)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    cls = get_method(name, family="classifier")
    seed_everything(0)
    model = cls().run(model, class_task.unlearn_data(), cls.Config.from_params(UNLEARN[name]), seed=0)
    assert masked_out_are_zero(model)
    assert sparsity(model) == pytest.approx(0.95, abs=0.005)
    params = dict(model.named_parameters())
    assert any(not torch.equal(params[n][m], before[n][m]) for n, m in model.weight_masks.items())


ONE_SHOT_OR_NEW = ["influence", "fisher_forgetting", "salun", "scrub", "laf"]


@pytest.mark.slow
@pytest.mark.parametrize("name", ONE_SHOT_OR_NEW)
def test_every_other_method_keeps_the_sparsity_in_the_bench(name, omp_model, class_task):
    """The bench runs every method on a deep copy of the pruned original, then ``apply_masks``; a
    method must not break the model (finite weights, the requested sparsity, masks still attached)."""
    model = copy.deepcopy(omp_model)
    cls = get_method(name, family="classifier")
    fields = {f for f, *_ in cls.Config.describe()}
    params = {**DIGITS_PARAMS[name], **({"epochs": 1} if "epochs" in fields else {})}
    config = cls.Config.from_params(params)
    seed_everything(0)
    model = apply_masks(cls().run(model, class_task.unlearn_data(with_labels=cls.needs_labels(config)), config, seed=0))
    assert masked_out_are_zero(model) and set(model.weight_masks) == set(omp_model.weight_masks)
    assert sparsity(model) == pytest.approx(0.95, abs=0.005)
    assert all(torch.isfinite(p).all() for p in model.parameters())


@pytest.mark.slow
def test_a_pruned_model_reloads_pruned(omp_model, tmp_path):
    from obliviate.models import load_classifier, save_classifier

    save_classifier(omp_model, tmp_path / "pruned")
    loaded = load_classifier(tmp_path / "pruned")
    assert set(loaded.weight_masks) == set(omp_model.weight_masks)
    assert all(torch.equal(loaded.weight_masks[n], m.cpu()) for n, m in omp_model.weight_masks.items())
    assert sparsity(loaded) == pytest.approx(sparsity(omp_model))
    save_classifier(build_classifier("cnn", in_channels=1, num_classes=10), tmp_path / "dense")
    assert not hasattr(load_classifier(tmp_path / "dense"), "weight_masks")
    # masks of another architecture are a clear load error, not a shape error deep in torch
    import shutil

    save_classifier(build_classifier("cnn", in_channels=1, num_classes=10, width=16), tmp_path / "narrow")
    shutil.copy(tmp_path / "pruned" / "weight_masks.safetensors", tmp_path / "narrow")
    with pytest.raises(ModelLoadError, match="weight_masks.safetensors does not fit"):
        load_classifier(tmp_path / "narrow")


@pytest.mark.slow
def test_apply_masks_restores_sparsity_after_a_direct_weight_edit(omp_model):
    """Methods that edit weights without the loop (e.g. one-shot influence updates) rely on apply_masks."""
    model = copy.deepcopy(omp_model)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01 * torch.randn(p.shape, generator=gen))
    assert sparsity(model) < 0.01
    survivors = {n: p.detach().clone() for n, p in model.named_parameters()}
    apply_masks(model)
    assert sparsity(model) == pytest.approx(0.95, abs=0.005)
    for name, p in model.named_parameters():
        mask = model.weight_masks.get(name, torch.ones_like(p, dtype=torch.bool))
        assert torch.equal(p.detach(), survivors[name] * mask)


def test_masks_also_hold_for_a_plain_module_in_the_loop():
    """attach_masks works for any module with Conv/Linear layers, not only obliviate classifiers."""
    from torch.utils.data import TensorDataset

    from obliviate.training import OptimConfig, fit

    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    attach_masks(model, magnitude_masks(model, 0.75, "all"))
    x, y = torch.randn(40, 6, generator=torch.Generator().manual_seed(1)), torch.arange(40) % 3
    fit(model, lambda m, b: nn.functional.cross_entropy(m(b["t"][0]), b["t"][1]), {"t": TensorDataset(x, y)},
        epochs=3, batch_size=8, optim=OptimConfig(lr=0.5, momentum=0.9, weight_decay=0.1), seed=0)
    assert sparsity(model) == pytest.approx(0.75, abs=0.02)
    assert masked_out_are_zero(model)
