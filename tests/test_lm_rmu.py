"""RMU (methods/lm/rmu.py): its config and layer checks, which parameters train, the control vector, and
on the tiny bios Llama: the chosen layer's forget activations move to the target while retain activations
stay near the original's, and the forget texts' loss rises more than the retain texts'."""

from __future__ import annotations

import copy

import pytest
import torch

from lm_support import one_torch_thread, trained_tiny_bios  # noqa: F401  (autouse fixture)
from obliviate.errors import ConfigError
from obliviate.lm.model import tiny_llama
from obliviate.methods import get_method
from obliviate.methods.lm.rmu import (RMU, control_vector, decoder_layers, layer_activations, masked_mse,
                                      trainable_parameters)
from obliviate.metrics.lm_mia import score_sequences

#: the tiny Llama has 2 decoder layers: steer the last, train both layers' MLP down-projections; steering
#: 20 and alpha 100 are the authors' argparse defaults (their README's 6.5 / 1200 are for Zephyr-7B)
TINY_RMU = {"layer_id": 1, "layer_ids": "0,1", "lr": 1e-3, "epochs": 20, "steering_coeff": 20.0, "alpha": 100.0}


@pytest.fixture(scope="module")
def setup():
    return trained_tiny_bios()


def test_registered_in_the_lm_family_with_the_authors_defaults():
    assert get_method("rmu", family="lm") is RMU
    c = RMU.Config()
    assert (c.layer_id, c.layers(), c.param_names(), c.lr, c.batch_size, c.epochs) == \
        (7, [5, 6, 7], ["mlp.down_proj.weight"], 5e-5, 4, 1)
    assert (c.steering_coeff, c.alpha, c.max_num_batches, c.max_grad_norm) == (6.5, 1200.0, 150, 0.0)


@pytest.mark.parametrize("bad, match", [({"layer_ids": "5,x"}, "layer_ids"), ({"layer_ids": ""}, "layer_ids"),
                                        ({"steering_coeff": 0}, "steering_coeff"), ({"alpha": -1}, "alpha"),
                                        ({"layer_id": -1}, "layer_id"), ({"max_num_batches": 0}, "max_num_batches"),
                                        ({"params": " , "}, "params")])
def test_bad_configs(bad, match):
    with pytest.raises(ConfigError, match=match):
        RMU.Config.from_params(bad)


def test_a_layer_beyond_the_depth_names_the_depth():
    model = tiny_llama(64)
    data = None  # the check comes before any data is read
    with pytest.raises(ConfigError, match="2 decoder layers"):
        RMU().run(model, data, RMU.Config(), seed=0)  # defaults: layer 7 of Zephyr
    with pytest.raises(ConfigError, match=r"layer\(s\) \[2\]"):
        RMU().run(model, data, RMU.Config.from_params({"layer_id": 1, "layer_ids": "1,2"}), seed=0)


def test_trainable_parameters_are_the_named_ones_of_the_chosen_layers():
    model = tiny_llama(64)
    layers = decoder_layers(model)
    chosen = trainable_parameters(layers, RMU.Config.from_params({"layer_id": 1, "layer_ids": "0,1"}))
    assert [p is layers[i].mlp.down_proj.weight for i, p in enumerate(chosen)] == [True, True]
    # the authors' --param_ids 6: the 7th parameter of a Llama decoder layer is the MLP down-projection
    assert list(layers[0].parameters())[6] is layers[0].mlp.down_proj.weight
    with pytest.raises(ConfigError, match="no parameter"):
        trainable_parameters(layers, RMU.Config.from_params({"layer_id": 1, "layer_ids": "1", "params": "mlp.nope"}))


def test_control_vector_is_a_scaled_nonnegative_unit_vector_fixed_by_the_seed():
    v = control_vector(64, 6.5, seed=3)
    assert v.norm().item() == pytest.approx(6.5, rel=1e-6)
    assert (v >= 0).all()  # torch.rand's cube [0, 1)^d, as the authors draw it
    assert torch.equal(v, control_vector(64, 6.5, seed=3)) and not torch.equal(v, control_vector(64, 6.5, seed=4))


def test_masked_mse_ignores_padding():
    acts = torch.tensor([[[1.0, 1.0], [9.0, 9.0]]])
    target = torch.zeros(1, 2, 2)
    assert masked_mse(acts, target, torch.tensor([[1, 0]])).item() == pytest.approx(1.0)
    assert masked_mse(acts, target, torch.tensor([[1, 1]])).item() == pytest.approx(41.0)


def _mean_mse(model, layer_id, dataset, target_fn) -> float:
    ids, mask, _ = dataset.tensors
    with torch.no_grad():
        acts = layer_activations(model, decoder_layers(model)[layer_id], ids, mask)
        return masked_mse(acts, target_fn(ids, mask, acts), mask).item()


@pytest.mark.slow
@pytest.mark.behaviour
def test_rmu_steers_forget_activations_and_holds_retain(setup):
    task, original = setup
    data = task.unlearn_data()
    config = RMU.Config.from_params(TINY_RMU)
    model = RMU().run(copy.deepcopy(original), data, config, seed=0)
    control = control_vector(original.config.hidden_size, config.steering_coeff, seed=0)

    def to_control(ids, mask, acts):
        return control.expand_as(acts)

    def to_original(ids, mask, acts):
        return layer_activations(original, decoder_layers(original)[1], ids, mask)

    # measured (seeds 0 / 1): the forget texts' MSE to the target 6.31 -> 4.29 / 6.29 -> 4.05; the retain
    # texts' 6.30 -> 6.24; retain activations drift 0.0048 / 0.0052 from the original's, forget 0.34 / 0.42
    before, after = _mean_mse(original, 1, data.forget, to_control), _mean_mse(model, 1, data.forget, to_control)
    assert after < 0.8 * before, (before, after)
    retain_before, retain_after = (_mean_mse(m, 1, data.retain, to_control) for m in (original, model))
    assert before - after > 10 * (retain_before - retain_after), (before, after, retain_before, retain_after)
    drift, moved = _mean_mse(model, 1, data.retain, to_original), _mean_mse(model, 1, data.forget, to_original)
    assert drift < 0.05 * moved, (drift, moved)
    # only the chosen parameters changed
    changed = {n for (n, p), q in zip(model.named_parameters(), original.parameters()) if not torch.equal(p, q)}
    assert changed == {"model.layers.0.mlp.down_proj.weight", "model.layers.1.mlp.down_proj.weight"}
    assert all(p.requires_grad for p in model.parameters())  # handed back trainable, as it came


@pytest.mark.slow
@pytest.mark.behaviour
def test_rmu_raises_forget_loss_more_than_retain_loss(setup):
    task, original = setup

    def losses(model) -> dict[str, float]:
        return {s: float(score_sequences(model, task.tokenizer, task.corpus.texts(s), ks=[40])["loss"].mean())
                for s in ("forget", "retain")}

    before = losses(original)
    model = RMU().run(copy.deepcopy(original), task.unlearn_data(), RMU.Config.from_params(TINY_RMU), seed=0)
    after = losses(model)
    rise_forget, rise_retain = after["forget"] - before["forget"], after["retain"] - before["retain"]
    # measured: forget 0.89 -> 3.84, retain 0.86 -> 1.05
    assert rise_forget > 1.0, (before, after)
    assert rise_forget > rise_retain + 1.0, (before, after)
