"""A tiny Llama trained with the shared loop memorises its bios documents (and the retrain reference
does not know the forget people); batched greedy generation equals one-prompt-at-a-time generation."""

from __future__ import annotations

import numpy as np
import pytest

from obliviate.errors import ConfigError
from obliviate.lm.bios import make_bios
from obliviate.lm.data import encode, lm_dataset
from obliviate.lm.model import tiny_llama
from obliviate.lm.tokenizer import train_bpe_tokenizer
from obliviate.lm.train import LMTrainConfig, train_lm
from obliviate.metrics.lm_mia import mia_auc, score_sequences
from obliviate.metrics.lm_muse import greedy_generate, knowmem, perplexity, verbmem

from lm_support import one_torch_thread  # noqa: F401  (autouse fixture)

RECIPE = LMTrainConfig(epochs=25, lr=3e-3, batch_size=16)


@pytest.fixture(scope="module")
def setup():
    """Corpus, tokenizer, original (forget + retain people) and retrain (retain people only)."""
    corpus = make_bios(n_people=16, seed=0, forget_fraction=0.25, holdout_fraction=0.25, n_general=20)
    tok = train_bpe_tokenizer(corpus.all_text(), vocab_size=400)
    models = {}
    for name, include_forget in (("original", True), ("retrain", False)):
        data = lm_dataset(tok, corpus.training_texts(include_forget=include_forget), max_length=128)
        models[name] = tiny_llama(len(tok), seed=0)
        stats = train_lm(models[name], data, RECIPE, seed=0, desc=name)
        assert stats.epoch_losses[-1] < stats.epoch_losses[0] / 3
    return corpus, tok, models


def _mean_loss(model, tok, texts) -> float:
    return float(score_sequences(model, tok, texts, ks=[40])["loss"].mean())


@pytest.mark.slow
def test_original_memorises_training_documents(setup):
    corpus, tok, models = setup
    losses = {s: _mean_loss(models["original"], tok, corpus.texts(s)) for s in ("forget", "retain", "holdout")}
    assert losses["forget"] < 0.5 * losses["holdout"] and losses["retain"] < 0.5 * losses["holdout"]
    scores = {s: score_sequences(models["original"], tok, corpus.texts(s), ks=[40]) for s in ("forget", "holdout")}
    assert mia_auc(scores["forget"]["min_k_40"], scores["holdout"]["min_k_40"], "min_k_40") > 0.9


@pytest.mark.slow
def test_retrain_does_not_know_the_forget_people(setup):
    corpus, tok, models = setup
    forget = _mean_loss(models["retrain"], tok, corpus.texts("forget"))
    assert forget > 2 * _mean_loss(models["retrain"], tok, corpus.texts("retain"))
    assert forget > 2 * _mean_loss(models["original"], tok, corpus.texts("forget"))


@pytest.mark.slow
def test_knowmem_and_verbmem_separate_trained_from_unseen_people(setup):
    corpus, tok, models = setup
    qa = {s: corpus.qa_pairs(s) for s in ("forget", "holdout")}
    original, retrain = models["original"], models["retrain"]
    assert knowmem(original, tok, qa["forget"]).score > knowmem(original, tok, qa["holdout"]).score + 30
    assert knowmem(original, tok, qa["forget"]).score > knowmem(retrain, tok, qa["forget"]).score + 30
    vm = verbmem(original, tok, corpus.texts("forget"), prefix_tokens=12, max_new_tokens=48)
    assert vm.score > verbmem(retrain, tok, corpus.texts("forget"), prefix_tokens=12, max_new_tokens=48).score
    assert set(vm.items[0]) == {"prompt", "reference", "output", "rouge_l_f1"}
    with pytest.raises(ConfigError, match="use a smaller prefix_tokens"):
        verbmem(original, tok, corpus.texts("forget"), prefix_tokens=500)


@pytest.mark.slow
def test_batched_generation_equals_one_prompt_at_a_time(setup):
    corpus, tok, models = setup
    prompts = [encode(tok, t)[: n] for t, n in zip(corpus.texts("forget")[:3] + corpus.texts("holdout")[:2],
                                                    (5, 9, 14, 7, 11))]
    batched = greedy_generate(models["original"], tok, prompts, max_new_tokens=20, batch_size=5)
    single = [greedy_generate(models["original"], tok, [p], max_new_tokens=20)[0] for p in prompts]
    assert batched == single
    assert all(len(out) > 0 for out in batched)


@pytest.mark.slow
def test_utility_perplexity_on_held_out_general_text(setup):
    corpus, tok, models = setup
    ppl = perplexity(models["original"], tok, corpus.general_eval)
    assert np.isfinite(ppl) and 1 < ppl < len(tok) / 4  # far better than a uniform guess


def test_train_config_is_validated():
    with pytest.raises(ConfigError, match="max_grad_norm must be >= 0"):
        LMTrainConfig.from_params({"max_grad_norm": -1.0})
    with pytest.raises(ConfigError, match="unknown parameter 'epoch'"):
        LMTrainConfig.from_params({"epoch": 3})
