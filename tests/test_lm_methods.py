"""LM unlearning methods: each one, on a tiny trained Llama and a tiny bios corpus, raises the forget
texts' loss more than the retain texts'; loss functions and task arithmetic against hand-computed
values; methods only ever receive forget and retain data; family-aware method names."""

from __future__ import annotations

import copy
import math
from dataclasses import fields

import pytest
import torch

from obliviate.errors import ConfigError, UnknownNameError
from obliviate.lm.data import sequence_logprobs
from obliviate.lm.model import tiny_llama
from obliviate.lm.task import LMUnlearnData
from obliviate.lm.train import LMTrainConfig
from obliviate.methods import METHODS, get_method, load_all
from obliviate.methods.base import MethodFamilyError
from obliviate.methods.lm.grad_ascent import LMGradAscent
from obliviate.methods.lm.common import token_kl, with_reference_logprobs
from obliviate.methods.lm.retrain import LMRetrain, reinitialize_lm
from obliviate.methods.lm.npo import npo_loss
from obliviate.methods.lm.simnpo import simnpo_loss
from obliviate.methods.lm.task_vector import negate_task_vector
from obliviate.metrics.lm_mia import score_sequences

from lm_support import one_torch_thread, trained_tiny_bios  # noqa: F401  (autouse fixture)

RECIPE = LMTrainConfig(epochs=25, lr=3e-3, batch_size=16)
#: The LM bench's tiny-model scaling of MUSE's recipe (obliviate.lm.bench.TINY_METHOD_PARAMS).
TINY = {"lr": 1e-3, "epochs": 5, "batch_size": 8}
load_all()
LM_METHODS = sorted(c.name for c in METHODS.classes("lm") if not c.is_exact)
#: The fine-tuning methods MUSE evaluates; whp, eco, dp2 and rmu have their own test modules (eco edits no
#: weight, dp2 needs a DP-trained base, whp's behaviour depends on its anchored terms, rmu needs layers
#: that the tiny Llama has: tests/test_lm_rmu.py).
CORE_LM_METHODS = ["grad_ascent", "grad_diff", "kl", "npo", "simnpo", "task_vector"]


@pytest.fixture(scope="module")
def setup():
    return trained_tiny_bios()


def _losses(model, task) -> dict[str, float]:
    return {s: float(score_sequences(model, task.tokenizer, task.corpus.texts(s), ks=[40])["loss"].mean())
            for s in ("forget", "retain")}


def test_every_lm_method_is_registered():
    assert set(LM_METHODS) == {*CORE_LM_METHODS, "whp", "eco", "dp2", "rmu"}


@pytest.mark.slow
@pytest.mark.parametrize("name", CORE_LM_METHODS)
def test_method_forgets_forget_more_than_retain(setup, name):
    task, original = setup
    before = _losses(original, task)
    method = get_method(name, family="lm")
    config = method.Config.from_params(TINY)
    model = method().run(copy.deepcopy(original), task.unlearn_data(), config, seed=0)
    after = _losses(model, task)
    rise_forget, rise_retain = after["forget"] - before["forget"], after["retain"] - before["retain"]
    assert rise_forget > 0.2, (name, before, after)
    assert rise_forget > rise_retain + 0.1, (name, before, after)
    assert all(torch.isfinite(p).all() for p in model.parameters())


@pytest.mark.slow
def test_npo_variants_take_their_retain_term(setup):
    task, original = setup
    npo = get_method("npo")
    for kind in ("gdr", "klr"):
        config = npo.Config.from_params({**TINY, "epochs": 2, "retain_loss": kind})
        model = npo().run(copy.deepcopy(original), task.unlearn_data(), config, seed=0)
        after = _losses(model, task)
        assert after["forget"] > after["retain"] + 0.3, (kind, after)
    with pytest.raises(ConfigError, match="retain_loss must be one of"):
        npo.Config.from_params({"retain_loss": "both"})


@pytest.mark.slow
def test_retrain_restarts_from_the_seeds_initialisation_and_never_sees_forget(setup):
    task, original = setup
    fresh = reinitialize_lm(original, seed=0)
    expected = tiny_llama(len(task.tokenizer), seed=0).state_dict()
    assert all(torch.equal(v, expected[k]) for k, v in fresh.state_dict().items())
    reference = LMRetrain().run(copy.deepcopy(original), task.unlearn_data(), RECIPE, seed=0)
    losses = _losses(reference, task)
    assert losses["forget"] > 3 * losses["retain"]


def test_npo_loss_matches_hand_computation():
    logp, ref = torch.tensor([-10.0, -4.0]), torch.tensor([-8.0, -4.0])
    beta = 0.5
    # (2/beta) * mean(log(1 + (pi/pi_ref)^beta)): ratios e^-2 and 1
    expected = (2 / beta) * (math.log(1 + math.exp(-1.0)) + math.log(2.0)) / 2
    assert npo_loss(logp, ref, beta).item() == pytest.approx(expected, rel=1e-6)
    # at the reference itself the loss is (2/beta) log 2 for every beta
    assert npo_loss(ref, ref, 0.1).item() == pytest.approx(20 * math.log(2), rel=1e-6)


def test_simnpo_loss_matches_hand_computation():
    logp, n = torch.tensor([-6.0, -20.0]), torch.tensor([3, 10])
    beta, gamma = 2.0, 1.0
    # -(2/beta) log sigmoid(-(beta/n) logp - gamma): arguments 4 - 1 = 3 and 4 - 1 = 3
    expected = -(2 / beta) * math.log(1 / (1 + math.exp(-3.0)))
    assert simnpo_loss(logp, n, beta, gamma).item() == pytest.approx(expected, rel=1e-6)


def test_token_kl_against_hand_computation():
    ref = torch.log(torch.tensor([[[0.5, 0.5], [0.9, 0.1]]]))
    cur = torch.log(torch.tensor([[[0.5, 0.5], [0.5, 0.5]]]))
    mask = torch.tensor([[True, True]])
    second = 0.9 * math.log(0.9 / 0.5) + 0.1 * math.log(0.1 / 0.5)
    assert token_kl(ref, cur, mask).item() == pytest.approx(second / 2, rel=1e-5)
    assert token_kl(ref, cur, torch.tensor([[True, False]])).item() == pytest.approx(0.0, abs=1e-7)


def test_task_vector_arithmetic_is_exact():
    original = {"w": torch.tensor([1.0, 2.0]), "steps": torch.tensor([3])}
    finetuned = {"w": torch.tensor([1.5, 1.0]), "steps": torch.tensor([7])}
    out = negate_task_vector(original, finetuned, alpha=2.0)
    assert torch.equal(out["w"], torch.tensor([0.0, 4.0]))
    assert torch.equal(out["steps"], torch.tensor([3]))  # integer buffers are not arithmetic
    with pytest.raises(ConfigError, match="differ in keys"):
        negate_task_vector(original, {"w": finetuned["w"]}, 1.0)


@pytest.mark.slow
def test_npo_reference_logprobs_are_precomputed_once(setup):
    task, original = setup
    data = task.unlearn_data()
    extended = with_reference_logprobs(original, data.forget, batch_size=5)
    assert len(extended.tensors) == 4
    with torch.no_grad():
        expected, _ = sequence_logprobs(original, data.forget.tensors)
    assert torch.allclose(extended.tensors[3], expected, atol=1e-4)


@pytest.mark.slow
def test_methods_receive_only_forget_and_retain(setup):
    task, _ = setup
    data = task.unlearn_data()
    assert [f.name for f in fields(LMUnlearnData)] == ["forget", "retain", "tokenizer"]
    texts = [task.tokenizer.decode(ids[mask.bool()], skip_special_tokens=True)
             for ds in (data.forget, data.retain) for ids, mask, _ in ds]
    blob = "\n".join(texts)
    for pid in task.corpus.people_of("holdout"):
        assert task.corpus.people[pid].last not in blob
    for text in task.corpus.general_eval:
        assert text not in blob
    forget_names = [task.corpus.people[p].last for p in task.corpus.people_of("forget")]
    assert all(name not in t for t in texts[len(data.forget):] for name in forget_names)


def test_family_aware_names():
    assert get_method("grad_ascent", family="lm") is get_method("lm/grad_ascent") is LMGradAscent
    assert get_method("retrain", family="lm") is get_method("lm/retrain") is LMRetrain
    assert get_method("grad_ascent", family="classifier").family == "classifier"
    assert get_method("npo").family == "lm"  # unique short names need no family
    with pytest.raises(UnknownNameError, match="ambiguous"):
        get_method("grad_ascent")
    with pytest.raises(MethodFamilyError, match="classifier family"):
        get_method("classifier/finetune", family="lm")
    with pytest.raises(UnknownNameError, match="belongs to the classifier family"):
        get_method("finetune", family="lm")
    with pytest.raises(UnknownNameError, match="Did you mean 'npo'"):
        get_method("npp", family="lm")
