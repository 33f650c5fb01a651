"""DP2Unlearning: DP-SGD training through opacus reaches the target epsilon and records it; opacus's
per-example gradients of the tied tiny Llama are the true ones; an empty Poisson batch still takes a
noisy step; dp2 refuses a base without a DP record; dp2 lowers forget KnowMem more than retain
KnowMem; the LM bench hands dp2 its DP base and records epsilon, delta and the cost ratio."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from obliviate.errors import ConfigError
from obliviate.lm.bios import make_bios
from obliviate.lm.data import lm_dataset
from obliviate.lm.dp import DPTrainConfig, dp_record, per_example_lm_loss, train_lm_dp
from obliviate.lm.model import load_causal_lm, save_causal_lm, tiny_llama
from obliviate.lm.task import LMTask
from obliviate.lm.tokenizer import train_bpe_tokenizer
from obliviate.lm.train import LMTrainConfig, train_lm
from obliviate.methods import get_method
from obliviate.metrics.lm_muse import knowmem

from lm_support import one_torch_thread  # noqa: F401  (autouse fixture)

pytest.importorskip("opacus")


@pytest.fixture(scope="module")
def task():
    corpus = make_bios(n_people=8, seed=0, forget_fraction=0.25, holdout_fraction=0.25, n_general=8)
    return LMTask(corpus, train_bpe_tokenizer(corpus.all_text(), vocab_size=400))


@pytest.fixture(scope="module")
def dp_base(task):
    """A DP-SGD base (epsilon 8) of the tiny Llama on all training texts, and its record."""
    model = tiny_llama(len(task.tokenizer), seed=0)
    config = DPTrainConfig(epsilon=8.0, delta=1e-5, epochs=6, lr=3e-3, optimizer="adam", weight_decay=0.0)
    record = train_lm_dp(model, lm_dataset(task.tokenizer, task.original_texts()), config, seed=0)
    return model, record


@pytest.mark.slow
def test_dp_training_records_a_finite_epsilon_close_to_the_target(task, dp_base):
    model, record = dp_base
    assert math.isfinite(record.epsilon)
    assert 8.0 - 0.1 <= record.epsilon <= 8.0 + 1e-6  # opacus's search stops within 0.01 below the target
    assert record.delta == 1e-5 and record.accountant == "rdp" and record.noise_multiplier > 0
    n, steps_per_epoch = len(task.original_texts()), math.ceil(len(task.original_texts()) / 16)
    assert record.n_examples == n and record.sample_rate == pytest.approx(1 / steps_per_epoch)  # opacus: 1 / batches
    assert record.steps == 6 * steps_per_epoch
    assert dp_record(model) == record  # stored on the model's config
    assert not any(hasattr(p, "grad_sample") for p in model.parameters())  # opacus's hooks are gone
    assert not any(m._forward_hooks or m._backward_hooks for m in model.modules())


@pytest.mark.slow
def test_smaller_epsilon_means_more_noise(task):
    data = lm_dataset(task.tokenizer, task.original_texts()[:12])
    sigmas = []
    for eps in (0.5, 8.0):
        model = tiny_llama(len(task.tokenizer), seed=0)
        cfg = DPTrainConfig(epsilon=eps, delta=1e-5, epochs=1, lr=1e-3, optimizer="adam")
        sigmas.append(train_lm_dp(model, data, cfg, seed=0).noise_multiplier)
    assert sigmas[0] > 3 * sigmas[1]


@pytest.mark.slow
def test_the_dp_record_survives_save_and_load(task, dp_base, tmp_path):
    model, record = dp_base
    save_causal_lm(model, task.tokenizer, tmp_path / "m")
    loaded, _ = load_causal_lm(tmp_path / "m", dtype="float32", device="cpu")
    assert dp_record(loaded) == record
    assert dp_record(tiny_llama(len(task.tokenizer), seed=0)) is None


@pytest.mark.slow
def test_bad_dp_settings_are_clear_errors(task):
    with pytest.raises(ConfigError, match="epsilon must be > 0.*delta must be in"):
        DPTrainConfig(epsilon=0.0, delta=2.0).validate()
    data = lm_dataset(task.tokenizer, task.original_texts()[:10])
    with pytest.raises(ConfigError, match="not below 1/N"):
        train_lm_dp(tiny_llama(len(task.tokenizer)), data, DPTrainConfig(delta=0.2), seed=0)


def _opacus_wrapped(model, data):
    from opacus import PrivacyEngine
    from torch.utils.data import DataLoader

    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    return PrivacyEngine(accountant="rdp").make_private(
        module=model.train(), optimizer=opt, data_loader=DataLoader(data, batch_size=4), noise_multiplier=1.0,
        max_grad_norm=1.0)


@pytest.mark.slow
def test_opacus_per_example_gradients_of_the_tied_llama_are_exact(task):
    model = tiny_llama(len(task.tokenizer), seed=1)
    data = lm_dataset(task.tokenizer, task.original_texts()[:3])
    wrapped, _, _ = _opacus_wrapped(model, data)
    per_example_lm_loss()(wrapped, {"train": list(data.tensors)}).backward()
    embedding = model.model.embed_tokens.weight  # shared with lm_head: both uses must add up
    assert model.lm_head.weight is embedding
    got = {name: p.grad_sample.clone() for name, p in model.named_parameters()}
    wrapped.to_standard_module()
    for i in range(3):
        model.zero_grad()
        per_example_lm_loss()(model, {"train": [t[i:i + 1] for t in data.tensors]}).backward()
        for name, p in model.named_parameters():
            assert torch.allclose(got[name][i], p.grad, atol=1e-5), (name, i)


@pytest.mark.slow
def test_an_empty_poisson_batch_still_takes_a_noisy_step(task):
    model = tiny_llama(len(task.tokenizer), seed=1)
    data = lm_dataset(task.tokenizer, task.original_texts()[:4])
    wrapped, opt, _ = _opacus_wrapped(model, data)
    before = [p.detach().clone() for p in model.parameters()]
    loss = per_example_lm_loss()(wrapped, {"train": [t[:0] for t in data.tensors]})
    opt.zero_grad()
    loss.backward()
    opt.step()
    assert all(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


@pytest.mark.slow
def test_dp2_needs_its_dp_base(task, dp_base):
    dp2 = get_method("dp2", family="lm")
    assert dp2.base_model == "dp" and get_method("npo", family="lm").base_model == "original"
    config = dp2.Config.from_params({"dp.epsilon": 8.0, "dp.delta": 1e-5, "epochs": 1})
    with pytest.raises(ConfigError, match="carries no DP record"):
        dp2().run(tiny_llama(len(task.tokenizer)), task.unlearn_data(), config, seed=0)
    with pytest.raises(ConfigError, match="trained for epsilon=8.0"):
        dp2().run(copy.deepcopy(dp_base[0]), task.unlearn_data(), dp2.Config.from_params({"dp.epsilon": 1.0}), seed=0)


@pytest.mark.slow
def test_dp2_lowers_forget_knowmem_more_than_retain(task, dp_base):
    tok, corpus = task.tokenizer, task.corpus
    original = tiny_llama(len(tok), seed=0)
    train_lm(original, lm_dataset(tok, task.original_texts()), LMTrainConfig(epochs=40, lr=3e-3, batch_size=16), seed=0)
    dp2 = get_method("dp2", family="lm")
    config = dp2.Config.from_params({"dp": {"epsilon": 8.0, "delta": 1e-5}, "epochs": 30, "lr": 5e-3})
    unlearned = dp2().run(copy.deepcopy(dp_base[0]), task.unlearn_data(), config, seed=0)

    def scores(model):
        return {s: knowmem(model, tok, corpus.qa_pairs(s)).score for s in ("forget", "retain")}

    before, after = scores(original), scores(unlearned)
    drop = {s: before[s] - after[s] for s in before}
    assert before["forget"] > 80, before
    assert drop["forget"] > drop["retain"] + 40, (before, after)


@pytest.mark.slow
def test_the_lm_bench_hands_dp2_its_base_and_records_epsilon(tmp_path):
    from obliviate.lm.bench import LMBench, run_lm_bench

    bench = LMBench(methods=["retrain", "dp2"], seeds=[0], people=6, n_general=6, vocab_size=300,
                    train={"epochs": 2}, eval={"verbmem_new_tokens": 4, "knowmem_new_tokens": 4},
                    params={"dp2": {"epochs": 1, "dp.epochs": 1, "dp.epsilon": 4.0, "dp.delta": 1e-4}},
                    cache_dir=str(tmp_path / "cache"))
    rows = {r["method"]["name"]: r for r in run_lm_bench(bench, tmp_path / "out")}
    assert set(rows) == {"original", "retrain", "dp2_base", "dp2"}
    for name in ("dp2_base", "dp2"):
        row = rows[name]
        assert row["status"] == "ok", row["error"]
        assert row["method"]["params"]["dp"]["epsilon"] == 4.0 and row["method"]["params"]["dp"]["delta"] == 1e-4
        assert 3.9 <= row["metrics"]["dp_epsilon"] <= 4.0
    assert rows["dp2"]["time_ratio"] == pytest.approx(rows["dp2"]["seconds"] / rows["retrain"]["seconds"])


@pytest.mark.slow
def test_dp2_series_answer_every_request_from_the_dp_base(tmp_path):
    from obliviate.lm.bench import LMBench, run_lm_bench

    bench = LMBench(methods=["retrain", "dp2"], seeds=[0], people=10, n_general=6, vocab_size=300,
                    forget=["sequential:2"], train={"epochs": 2},
                    eval={"verbmem_new_tokens": 4, "knowmem_new_tokens": 4},
                    params={"dp2": {"epochs": 1, "dp.epochs": 1, "dp.epsilon": 4.0, "dp.delta": 1e-4}},
                    cache_dir=str(tmp_path / "cache"))
    rows = [r for r in run_lm_bench(bench, tmp_path / "out") if r["method"]["name"] == "dp2"]
    assert [r["task"]["series"]["x"] for r in rows] == [1, 2]
    assert all(r["status"] == "ok" and 3.9 <= r["metrics"]["dp_epsilon"] <= 4.0 for r in rows), rows
    assert [r["task"]["forget_size"] for r in rows] == [1, 2]
