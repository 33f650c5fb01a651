"""Every lm method on TOFU's answer-only question-answer sequences (labels -100 on the prompt), what the TOFU bench
hands them: the likelihood-based losses read the answer tokens only, and every method runs."""

from __future__ import annotations

import math

import pytest
import torch

from lm_support import one_torch_thread  # noqa: F401  (autouse fixture)

PAIRS = [(f"Where was author {n} born?", f"Author {n} was born in {c}.")
         for n, c in zip("ABCDEFGH", ["Lisbon", "Oslo", "Quito", "Hanoi", "Lima", "Accra", "Perth", "Turin"])]


@pytest.fixture(scope="module")
def qa_setup():
    from obliviate.lm.benchmarks.tofu import qa_dataset
    from obliviate.lm.data import lm_dataset
    from obliviate.lm.model import tiny_llama
    from obliviate.lm.prompts import qa_text
    from obliviate.lm.task import LMUnlearnData
    from obliviate.lm.tokenizer import train_bpe_tokenizer
    from obliviate.lm.train import LMTrainConfig, train_lm

    tok = train_bpe_tokenizer([qa_text(q, a) for q, a in PAIRS] * 3, vocab_size=300)
    model = tiny_llama(len(tok), seed=0)
    train_lm(model, lm_dataset(tok, [qa_text(q, a) for q, a in PAIRS]), LMTrainConfig(epochs=5, lr=3e-3, batch_size=4),
             seed=0, desc="qa")
    data = LMUnlearnData(qa_dataset(tok, PAIRS[:2]), qa_dataset(tok, PAIRS[2:]), tok)
    return model, tok, data


def test_the_nll_of_a_qa_batch_is_over_the_answer_tokens_only(qa_setup):
    from obliviate.lm.benchmarks.tofu import encode_qa
    from obliviate.methods.lm.common import nll

    model, tok, data = qa_setup
    batch = {"forget": data.forget.tensors}
    with torch.no_grad():
        got = float(nll("forget")(model, batch))
        total = count = full_total = full_count = 0.0
        for ids, n in encode_qa(tok, PAIRS[:2]):
            logp = torch.log_softmax(model(input_ids=torch.tensor([ids])).logits[0, :-1].float(), -1)
            token = logp[torch.arange(len(ids) - 1), torch.tensor(ids[1:])]
            total, count = total - float(token[n - 1:].sum()), count + len(ids) - n  # targets ids[n:]
            full_total, full_count = full_total - float(token.sum()), full_count + len(ids) - 1
    assert math.isclose(got, total / count, rel_tol=1e-5)
    assert not math.isclose(got, full_total / full_count, rel_tol=1e-2)


def lm_methods() -> list[str]:
    from obliviate.methods import METHODS, load_all

    load_all()
    return [cls.name for cls in METHODS.classes("lm") if not cls.is_exact and cls.base_model == "original"]


#: one short pass each; RMU on the tiny Llama's 2 layers; ECO on the LM's own embeddings
SMALL = {"*": {"epochs": 1, "lr": 1e-3, "batch_size": 2}, "rmu": {"layer_id": 1, "layer_ids": "0,1"},
         "eco": {"classifier": "lm_embeddings", "zo_steps": 2}, "whp": {"max_anchors": 4}}


@pytest.mark.parametrize("name", lm_methods())
def test_every_lm_method_runs_on_answer_only_labels(qa_setup, name):
    import copy

    from obliviate.methods.base import resolve_method

    model, tok, data = qa_setup
    method, _ = resolve_method(name, family="lm")
    fields = {n for n, *_ in method.Config.describe()}
    params = {k: v for k, v in {**SMALL["*"], **SMALL.get(name, {})}.items() if k in fields}
    out = method().run(copy.deepcopy(model), data, method.Config.from_params(params), seed=0)
    ids, mask, _ = data.forget.tensors
    with torch.no_grad():
        logits = out(input_ids=ids, attention_mask=mask).logits
    assert torch.isfinite(logits).all()
