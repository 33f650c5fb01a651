"""LAF: label-free unlearning on digits, the VAEs, the two losses and the LAF+R label switch."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

import obliviate.methods.classifier.laf  # noqa: F401  (registers "laf")
from conftest import DIGITS_PARAMS, TEST_SEED, accuracy_on, record_behaviour
from obliviate.errors import ConfigError
from obliviate.methods import get_method
from obliviate.methods.classifier.laf import LAF, LAFConfig, alignment_loss, embed_all, extractor_unlearning_loss
from obliviate.methods.classifier.vae import reconstruction_error, train_vae
from obliviate.tasks import UnlearnData
from obliviate.utils.seeding import seed_everything

#: a quick run for the tests that only check plumbing (the paper's 20 epochs are for behaviour)
QUICK = {"epochs": 1, "vae_epochs": 1}


def run(model, data, seed=TEST_SEED, **params):
    config = LAFConfig.from_params(params)
    seed_everything(seed)
    return LAF().run(model, data, config, seed=seed)


def test_config_defaults_follow_the_paper_and_bad_values_are_rejected():
    c = LAFConfig()
    assert (c.epochs, c.lr, c.ra_lr, c.temperature, c.latent_dim) == (20, 5e-5, 1e-4, 20.0, 8)
    assert (c.vae_epochs, c.vae_lr, c.vae_kl_weight, c.batch_size, c.optimizer) == (10, 1e-3, 0.025, 32, "adam")
    assert c.head_finetune is False
    for bad in ({"temperature": 0}, {"ra_lr": -1}, {"latent_dim": 0}, {"vae_epochs": -1}, {"vae_kl_weight": -0.1},
                {"head_epochs": -1}, {"head_lr": 0}, {"epochs": -1}, {"tau": 5}):
        with pytest.raises(ConfigError):
            LAFConfig.from_params(bad)
    assert LAFConfig.from_params({"head_finetune": "true"}).head_finetune is True


def test_needs_labels_only_for_laf_plus_r():
    cls = get_method("laf")
    assert cls is LAF and cls.uses_labels is False
    assert cls.needs_labels(LAFConfig()) is False
    assert cls.needs_labels(LAFConfig.from_params({"head_finetune": True})) is True


class _NoLabels:
    """A dataset that has images but fails on any access to labels."""

    def __init__(self, x: torch.Tensor) -> None:
        self.x = x

    def __len__(self) -> int:
        return len(self.x)

    @property
    def y(self):
        raise AssertionError("LAF read labels")


def test_runs_without_labels_and_never_reads_them(original, class_task):
    data = UnlearnData(_NoLabels(class_task.forget.x), _NoLabels(class_task.retain.x), 10)
    before = [p.detach().clone() for p in original.parameters()]
    model = run(original, data, **QUICK)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_pruned_weights_stay_zero_through_both_stages(original, class_task):
    weight = original.body[0].weight
    mask = torch.rand(weight.shape, generator=torch.Generator().manual_seed(0)) > 0.5
    original.weight_masks = {"body.0.weight": mask}
    model = run(original, class_task.unlearn_data(with_labels=False), **QUICK)
    assert torch.all(model.body[0].weight[~mask] == 0) and torch.any(model.body[0].weight[mask] != 0)


def test_laf_plus_r_without_labels_is_a_config_error(original, class_task):
    with pytest.raises(ConfigError, match="labels"):
        run(original, class_task.unlearn_data(with_labels=False), head_finetune=True, **QUICK)


@pytest.mark.slow
def test_laf_plus_r_fine_tunes_only_the_head(trained_original, class_task):
    plain = run(copy.deepcopy(trained_original), class_task.unlearn_data(with_labels=False), **QUICK)
    repaired = run(copy.deepcopy(trained_original), class_task.unlearn_data(), head_finetune=True, **QUICK)
    a, b = plain.state_dict(), repaired.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a if not k.startswith("head."))
    assert not torch.equal(a["head.weight"], b["head.weight"])
    # without LAF+R the head never moves: neither loss depends on the logits
    assert torch.equal(a["head.weight"], trained_original.state_dict()["head.weight"])


@pytest.mark.slow
def test_deterministic_under_a_seed_and_seed_sensitive(trained_original, class_task):
    data = class_task.unlearn_data(with_labels=False)
    a, b, c = (run(copy.deepcopy(trained_original), data, seed=s, **QUICK) for s in (3, 3, 4))
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert any(not torch.equal(x, y) for x, y in zip(a.state_dict().values(), c.state_dict().values()))


@pytest.mark.slow
def test_vaes_reconstruct_the_data_they_were_trained_on_better(original, class_task):
    h_f = embed_all(original, class_task.forget.x)
    h_r = embed_all(original, class_task.retain.x)
    args = dict(latent_dim=8, epochs=10, lr=1e-3, batch_size=32, kl_weight=0.025)
    vae_all = train_vae(torch.cat([h_r, h_f]), seed=0, **args)
    vae_forget = train_vae(h_f, seed=1, **args)
    forget_on_f = reconstruction_error(vae_forget, h_f).mean()
    forget_on_r = reconstruction_error(vae_forget, h_r).mean()
    all_on_r = reconstruction_error(vae_all, h_r).mean()
    assert forget_on_f < 0.25 * forget_on_r  # the forget VAE only knows class 3
    assert all_on_r < 0.25 * forget_on_r  # the retain data is on the all-data VAE's manifold


def test_losses_match_their_formulas():
    torch.manual_seed(0)
    h_r, h_f = torch.rand(5, 4), torch.rand(3, 4)

    def zero_decoder(h):  # reconstruction 0: the squared error is ||h||^2
        return torch.zeros_like(h), None, None

    e_r, e_f = h_r.pow(2).sum(1), h_f.pow(2).sum(1)
    expected = torch.exp(e_r / (e_r + 1)).sum() - torch.exp(e_f / (e_f + 1)).sum()
    assert torch.allclose(extractor_unlearning_loss(h_r, zero_decoder, h_f, zero_decoder), expected)

    h0_r, h0_f = torch.rand(5, 4), torch.rand(3, 4)
    d_r = 1 - F.cosine_similarity(h_r, h0_r)
    d_f = 1 - F.cosine_similarity(h_f, h0_f)
    expected = (d_r - torch.log(torch.exp(d_f / 5).sum())).sum()
    assert torch.allclose(alignment_loss(h_r, h0_r, h_f, h0_f, 5.0), expected)
    # lower when retain representations match the original and forget ones point away from it
    aligned = alignment_loss(h0_r, h0_r, -h0_f, h0_f, 5.0)
    assert aligned < alignment_loss(h_r, h0_r, h0_f, h0_f, 5.0)


@pytest.mark.slow
@pytest.mark.behaviour
def test_laf_forgets_class_3_without_labels_like_retrain(original, class_task, class_retrained, record_property):
    task = class_task
    keep = task.test.y != 3
    target_f = accuracy_on(class_retrained, task.forget.x, task.forget.y)
    before_f = accuracy_on(original, task.forget.x, task.forget.y)
    before_keep = accuracy_on(original, task.test.x[keep], task.test.y[keep])
    h0_f, h0_r = embed_all(original, task.forget.x), embed_all(original, task.retain.x)

    model = run(original, task.unlearn_data(with_labels=False), **DIGITS_PARAMS["laf"])  # see its comment

    after_f = accuracy_on(model, task.forget.x, task.forget.y)
    after_keep = accuracy_on(model, task.test.x[keep], task.test.y[keep])
    after_r = accuracy_on(model, task.retain.x, task.retain.y)
    # at the representation level: retain stays aligned with the original, forget is pushed off it
    cos_r = F.cosine_similarity(embed_all(model, task.retain.x), h0_r).mean()
    cos_f = F.cosine_similarity(embed_all(model, task.forget.x), h0_f).mean()
    record_behaviour(record_property, before_f, target_f, after_f, before_keep, after_keep, 10)
    record_property("retain_after", round(after_r, 2))
    record_property("cos_r", round(float(cos_r), 3))
    record_property("cos_f", round(float(cos_f), 3))
    record_property("m_retain", round(after_r - 95, 2))
    assert before_f > 95 and target_f < 5
    assert abs(after_f - target_f) < abs(before_f - target_f) - 20, (
        f"forget {before_f:.1f} -> {after_f:.1f}, retrain {target_f:.1f}"
    )
    assert after_keep >= before_keep - 10
    assert after_r >= 95
    assert cos_r > 0.95 and cos_f < cos_r - 0.2
