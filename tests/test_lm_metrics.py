"""Language-model metrics against hand-computed cases: ROUGE-L, Min-K%, Min-K%++, AUC, PrivLeak,
and one-pass scoring against a plain Hugging Face forward pass."""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest
import torch

from obliviate.errors import ObliviateError
from obliviate.lm.data import encode
from obliviate.lm.model import tiny_llama
from obliviate.lm.prompts import cut_answer, knowmem_prompt, qa_text
from obliviate.lm.tokenizer import train_bpe_tokenizer
from obliviate.metrics import lm_mia
from obliviate.metrics.lm_mia import (
    attack_names, lowest_k_mean, member_sign, mia_auc, mia_aucs, privleak, score_sequences, scores_from_logits,
    token_statistics,
)
from obliviate.metrics.lm_muse import perplexity, rouge_l_f1

from lm_support import one_torch_thread  # noqa: F401  (autouse fixture)

LN2 = math.log(2)
TEXTS = ["Vrauth Kelisk was born in Zounmere on 3 May 1901.", "Short text.",
         "Dreth Aelon worked as a bookbinder for many years.", "Kwiath was a rival of Lounar Skyth.", "Ok."]


@pytest.mark.parametrize(
    "prediction, reference, expected",
    [
        ("the cat sat on the mat", "the cat is on the mat", 5 / 6),  # LCS "the cat on the mat"
        ("a b c", "c b a", 1 / 3),
        ("Hello, World!", "hello world", 1.0),  # lower-cased, punctuation dropped
        ("glassblower", "composer", 0.0),
        ("", "composer", 0.0),
        ("born in Zounmere", "Zounmere", 2 * (1 / 3) * 1 / (1 / 3 + 1)),  # P = 1/3, R = 1
    ],
)
def test_rouge_l_f1(prediction, reference, expected):
    assert rouge_l_f1(prediction, reference) == pytest.approx(expected)


def test_lowest_k_mean_on_known_values():
    values = torch.tensor([[-1.0, -5.0, -2.0, -4.0, -3.0], [-1.0, -2.0, -3.0, 0.0, 0.0]])
    mask = torch.tensor([[True] * 5, [True, True, True, False, False]])
    out = lowest_k_mean(values, mask, [10, 20, 40, 70, 100])
    # row 0 (n=5): k=10 -> floor(0.5)=0 -> at least 1 token; k=40 -> the 2 lowest; k=100 -> all
    assert out[10].tolist() == [-5.0, -3.0]
    assert out[20].tolist() == [-5.0, -3.0]
    assert out[40].tolist() == [-4.5, -3.0]  # row 1: floor(1.2) = 1 token
    assert out[70].tolist() == [-4.0, -2.5]  # floor(3.5) = 3 -> (-5-4-3)/3; floor(2.1) = 2 -> (-3-2)/2
    assert out[100].tolist() == [-3.0, -2.0]  # padding never counts


def test_min_k_plus_plus_on_hand_made_logits():
    # position 0: p = (1/2, 1/4, 1/4), position 1: p = (1/4, 1/4, 1/2); the next token is 0 both times.
    # log p has mean mu = -1.5 ln2 and std sigma = 0.5 ln2 under p in both cases, so the z-scores are
    # (-ln2 + 1.5 ln2) / (0.5 ln2) = +1 and (-2 ln2 + 1.5 ln2) / (0.5 ln2) = -1.
    logits = torch.log(torch.tensor([[[0.5, 0.25, 0.25], [0.25, 0.25, 0.5], [1 / 3, 1 / 3, 1 / 3]]]))
    labels = torch.tensor([[2, 0, 0]])
    s = scores_from_logits(logits, labels, ks=[50, 100])
    assert s["min_k++_50"].item() == pytest.approx(-1.0, abs=1e-5)
    assert s["min_k++_100"].item() == pytest.approx(0.0, abs=1e-5)
    assert s["min_k_50"].item() == pytest.approx(-2 * LN2, abs=1e-6)
    assert s["min_k_100"].item() == pytest.approx(-1.5 * LN2, abs=1e-6)
    assert s["loss"].item() == pytest.approx(1.5 * LN2, abs=1e-6)


@pytest.mark.parametrize("chunk_bytes", [1 << 19, 1])  # 1: 16-row chunks, so the 21 positions span two
@pytest.mark.parametrize("scale", [3.0, 0.01])  # 0.01: near-uniform, where float32 variance is fragile
def test_scores_from_logits_match_a_naive_float64_loop_with_padding(scale, chunk_bytes, monkeypatch):
    monkeypatch.setattr(lm_mia, "_CHUNK_BYTES", chunk_bytes)
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 7, 1000, generator=gen) * scale
    labels = torch.randint(0, 1000, (3, 7), generator=gen)
    labels[1, 4:] = -100
    labels[2, 2:] = -100
    got = scores_from_logits(logits, labels, ks=[30, 60])
    for b in range(3):
        n = int((labels[b] != -100).sum()) - 1
        logp = torch.log_softmax(logits[b, :n].double(), -1)
        tok = logp[torch.arange(n), labels[b, 1:n + 1]]
        p = logp.exp()
        mu = (p * logp).sum(-1)
        z = (tok - mu) / (p * (logp - mu[:, None]) ** 2).sum(-1).sqrt()
        assert got["loss"][b].item() == pytest.approx(-tok.mean().item(), rel=1e-5)
        for k in (30, 60):
            m = max(1, int(n * k / 100))
            assert got[f"min_k_{k}"][b].item() == pytest.approx(tok.sort().values[:m].mean().item(), rel=1e-5)
            assert got[f"min_k++_{k}"][b].item() == pytest.approx(z.sort().values[:m].mean().item(), rel=1e-4)


def test_auc_orientation_and_privleak_sign():
    assert mia_auc([0.1, 0.2], [1.0, 2.0], "loss") == 1.0  # members have lower loss: recognised
    assert mia_auc([1.0, 2.0], [0.1, 0.2], "loss") == 0.0  # forgotten beyond non-members
    assert mia_auc([-0.1, -0.2], [-1.0, -2.0], "min_k_40") == 1.0  # members have higher log-probs
    assert mia_auc([-0.1, -2.0], [-1.0, -0.2], "min_k++_20") == 0.5
    assert member_sign("zlib") == -1.0 and member_sign("ref") == -1.0 and member_sign("min_k++_5") == 1.0
    with pytest.raises(ObliviateError, match="unknown membership attack 'min_k_x'"):
        member_sign("min_k_x")
    with pytest.raises(ObliviateError, match="needs members and non-members"):
        mia_auc([], [1.0], "loss")
    assert privleak(0.9, 0.5) == pytest.approx(80.0)  # under-unlearning: still recognisable
    assert privleak(0.3, 0.5) == pytest.approx(-40.0)  # over-unlearning
    assert privleak(0.5, 0.5) == 0.0
    with pytest.raises(ObliviateError, match="AUCs must lie in"):
        privleak(0.5, 0.0)


def test_token_logprobs_far_below_float32_exp_range_stay_exact():
    # p(target) = exp(-200) / (1 + exp(-200) + ...) underflows in float32, its log must not
    logits = torch.tensor([[[0.0, -200.0, -300.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]])
    labels = torch.tensor([[0, 1, 2]])
    token_lp, _, mask = token_statistics(logits, labels)
    assert token_lp[0, 0].item() == pytest.approx(-200.0, abs=1e-4)
    assert token_lp[0, 1].item() == pytest.approx(-math.log(3), abs=1e-6) and mask.all()


@pytest.fixture(scope="module")
def tiny():
    tok = train_bpe_tokenizer(TEXTS * 3, vocab_size=300)
    return tiny_llama(len(tok), seed=0), tok


def test_one_pass_scores_equal_plain_forward(tiny):
    model, tok = tiny
    scores = score_sequences(model, tok, TEXTS, ks=[20, 40], batch_size=2)
    assert list(scores) == attack_names([20, 40])
    for i, text in enumerate(TEXTS):
        ids = torch.tensor([encode(tok, text, add_eos=True)])
        with torch.no_grad():
            loss = model(input_ids=ids, labels=ids).loss.item()
        assert scores["loss"][i] == pytest.approx(loss, rel=1e-5)
        assert scores["zlib"][i] == pytest.approx(loss / len(zlib.compress(text.encode())), rel=1e-5)
    one_by_one = score_sequences(model, tok, TEXTS, ks=[20, 40], batch_size=1)
    for name in scores:
        np.testing.assert_allclose(scores[name], one_by_one[name], rtol=1e-5, atol=1e-6)


def test_reference_attack_and_aucs(tiny):
    model, tok = tiny
    with pytest.raises(ObliviateError, match="reference_losses has 1 values for 5 texts"):
        score_sequences(model, tok, TEXTS, reference_losses=[1.0])
    scores = score_sequences(model, tok, TEXTS, ks=[40], reference_losses=np.ones(5))
    np.testing.assert_allclose(scores["ref"], scores["loss"] - 1.0)
    aucs = mia_aucs({k: v[:2] for k, v in scores.items()}, {k: v[2:] for k, v in scores.items()})
    assert set(aucs) == set(attack_names([40], reference=True)) and all(0 <= a <= 1 for a in aucs.values())


def test_perplexity_is_exp_of_token_weighted_loss(tiny):
    model, tok = tiny
    total = count = 0.0
    for text in TEXTS:
        ids = torch.tensor([encode(tok, text, add_eos=True)])
        with torch.no_grad():
            total += model(input_ids=ids, labels=ids).loss.item() * (ids.shape[1] - 1)
        count += ids.shape[1] - 1
    assert perplexity(model, tok, TEXTS, batch_size=2) == pytest.approx(math.exp(total / count), rel=1e-5)


def test_knowmem_prompt_and_answer_cutting():
    prompt = knowmem_prompt("Who?", few_shot=[("Where?", "Zounmere")])
    assert prompt == "Question: Where?\nAnswer: Zounmere\n\nQuestion: Who?\nAnswer:"
    assert qa_text("Q", "A") == "Question: Q\nAnswer: A"
    assert cut_answer(" Lounar Skyth\n\nQuestion: next") == "Lounar Skyth"
    assert cut_answer(" 3 May 1901 Question: Where") == "3 May 1901"
    assert cut_answer(" bookbinder\nmore") == "bookbinder\nmore"
