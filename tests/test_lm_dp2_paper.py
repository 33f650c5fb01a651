"""DP2Unlearning in its paper's regime (``LMBench(pretrain="kjv")``): the stages are what they claim (one
pretrained model; the original, the retrain reference and the DP base all start from its weights and see
all bios / retain only / all bios; dp2's request starts from the DP base), the accountant's spent epsilon
after DP-SGD is within 5% of the paper's target 0.5 at delta 1e-12, and dp2's recipe is the paper's."""

from __future__ import annotations

import pytest
import torch

from obliviate.errors import ConfigError
from obliviate.lm.bench import LMBench, run_lm_bench

from lm_support import one_torch_thread  # noqa: F401  (autouse fixture)

pytest.importorskip("opacus")


def _kjv_installed() -> bool:
    try:
        from obliviate.lm.kjv import kjv_verses

        kjv_verses()
        return True
    except Exception:
        return False


needs_kjv = pytest.mark.skipif(not _kjv_installed(), reason="needs Debian's bible-kjv")


def _state(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_dp2_uses_the_papers_recipe_only_in_the_pretrained_regime():
    paper = LMBench(methods=["retrain", "dp2"], pretrain="kjv").method_params("dp2")
    assert paper["epochs"] == 20 and paper["lr"] == 3e-3  # half the fine-tune's 40 epochs, at its lr
    dp = paper["dp"]  # Train_dp_SGD.yaml
    assert (dp["optimizer"], dp["lr"], dp["epochs"], dp["batch_size"], dp["max_grad_norm"], dp["weight_decay"]) == (
        "sgd", 5e-5, 10, 16, 1.0, 0.01)
    assert (dp["epsilon"], dp["delta"]) == (0.5, 1e-12)
    assert LMBench(methods=["dp2"], pretrain="kjv", train={"epochs": 10}).method_params("dp2")["epochs"] == 5
    scratch = LMBench(methods=["retrain", "dp2"]).method_params("dp2")  # today's default is unchanged
    assert scratch["dp"]["optimizer"] == "adam" and scratch["dp"]["epochs"] == 40


@needs_kjv
def test_bad_pretraining_settings_are_clear_errors():
    with pytest.raises(ConfigError, match="unknown pretraining corpus"):
        LMBench(methods=["retrain"], pretrain="wiki").validate()
    with pytest.raises(ConfigError, match="overlap"):
        LMBench(methods=["retrain"], corpus="kjv", pretrain="kjv").validate()


@needs_kjv
@pytest.mark.slow
def test_the_paper_pipeline_stages_and_its_spent_epsilon(tmp_path, monkeypatch):
    import obliviate.lm.pretrain as pretrain
    import obliviate.lm.train as lm_train
    import obliviate.methods.lm.dp2 as dp2_module
    from obliviate.lm.model import load_causal_lm

    monkeypatch.setattr(pretrain, "PRETRAIN_VERSES", 80)
    monkeypatch.setattr(pretrain, "PRETRAIN_RECIPE", {"epochs": 1, "lr": 3e-3, "batch_size": 16})
    seen: dict[str, tuple[dict, int]] = {}
    real_train, real_dp, real_fit = lm_train.train_lm, dp2_module.train_lm_dp, dp2_module.fit_lm

    def train_lm(model, dataset, config, *, seed, desc="train lm"):
        seen[desc.split()[0]] = (_state(model), len(dataset))
        return real_train(model, dataset, config, seed=seed, desc=desc)

    def train_lm_dp(model, dataset, config, *, seed, desc="dp"):
        seen["dp"] = (_state(model), len(dataset))
        return real_dp(model, dataset, config, seed=seed, desc=desc)

    def fit_lm(model, loss, data, config, *, seed, desc):
        seen["request"] = (_state(model), len(data["retain"]))
        return real_fit(model, loss, data, config, seed=seed, desc=desc)

    monkeypatch.setattr(lm_train, "train_lm", train_lm)
    monkeypatch.setattr(dp2_module, "train_lm_dp", train_lm_dp)
    monkeypatch.setattr(dp2_module, "fit_lm", fit_lm)
    bench = LMBench(methods=["retrain", "dp2"], seeds=[0], people=8, n_general=6, pretrain="kjv", vocab_size=300,
                    train={"epochs": 2}, eval={"verbmem_new_tokens": 4, "knowmem_new_tokens": 4},
                    cache_dir=str(tmp_path / "cache"))
    rows = {r["method"]["name"]: r for r in run_lm_bench(bench, tmp_path / "out")}
    assert set(rows) == {"original", "retrain", "dp2_base", "dp2"}
    assert all(r["status"] == "ok" for r in rows.values()), [r["error"] for r in rows.values()]

    # one pretrained model (cached), trained once on KJV text, the start of the three bios trainings
    (entry,) = (tmp_path / "cache").glob("lm-pretrained-*")
    pretrained = _state(load_causal_lm(entry, dtype="float32")[0])
    assert seen["pretrain"][1] == 80 and not _same(seen["pretrain"][0], pretrained)
    corpus = bench.make_corpus(0)
    n_all, n_retain = len(corpus.training_texts(include_forget=True)), len(corpus.training_texts(include_forget=False))
    assert n_all > n_retain
    assert _same(seen["original"][0], pretrained) and seen["original"][1] == n_all  # non-private, all bios
    assert _same(seen["retain"][0], pretrained) and seen["retain"][1] == n_retain  # the exact reference
    assert _same(seen["dp"][0], pretrained) and seen["dp"][1] == n_all  # DP-SGD on all bios
    (base_entry,) = (tmp_path / "cache").glob("lm-dp2-base-*")
    dp_base = _state(load_causal_lm(base_entry / "model", dtype="float32")[0])
    assert not _same(dp_base, pretrained)  # DP-SGD moved it
    assert _same(seen["request"][0], dp_base) and seen["request"][1] == n_retain  # the request: DP base + retain

    # the accountant's epsilon spent by the DP base's training, at the paper's target and delta
    for name in ("dp2_base", "dp2"):
        params, metrics = rows[name]["method"]["params"], rows[name]["metrics"]
        assert (params["dp"]["epsilon"], params["dp"]["delta"]) == (0.5, 1e-12)
        assert abs(metrics["dp_epsilon"] - 0.5) <= 0.05 * 0.5, metrics["dp_epsilon"]
    assert rows["dp2"]["method"]["params"]["epochs"] == 1  # half the 2 fine-tune epochs
    assert rows["retrain"]["task"] == rows["dp2"]["task"]
