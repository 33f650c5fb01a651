"""WHP: the generic-logit rule by hand, the anchored-terms file, translation alignment, the two-model
wrapper (forward and generate), and on a tiny trained bios model: knowledge of the forget people drops
more than that of the retain people."""

from __future__ import annotations

import math

import copy

import pytest
import torch

from obliviate.errors import ConfigError
from obliviate.lm.anchors import (aligned_pair, extract_anchors, idiosyncratic_words, read_anchors, segments,
                                  translate, word_counts, write_anchors)
from obliviate.lm.whp_logits import WHPLogitsModel, generic_logits
from obliviate.methods import get_method
from obliviate.methods.lm.whp import WHP, dataset_texts
from obliviate.metrics.lm_muse import greedy_generate, knowmem

from lm_support import one_torch_thread, trained_tiny_bios  # noqa: F401  (autouse fixture)

TINY = {"lr": 1e-3, "epochs": 5, "batch_size": 8}


@pytest.fixture(scope="module")
def setup():
    return trained_tiny_bios()


def test_generic_logit_rule_by_hand():
    base = torch.tensor([2.0, 1.0, 0.0, -1.0])
    reinforced = torch.tensor([5.0, 0.5, 0.0, 1.0])
    # gaps v_r - v_b = 3, -0.5, 0, 2 -> ReLU 3, 0, 0, 2; alpha 2: 2 - 6, 1, 0, -1 - 4
    assert torch.equal(generic_logits(base, reinforced, 2.0), torch.tensor([-4.0, 1.0, 0.0, -5.0]))
    assert torch.equal(generic_logits(base, reinforced, 0.0), base)
    masked = torch.tensor([1.0, -math.inf, 0.5])  # a token generate's processors masked stays masked, not NaN
    for alpha in (0.0, 5.0):
        out = generic_logits(masked, torch.tensor([0.0, 3.0, 1.0]), alpha)
        assert not out.isnan().any() and out[1] == -math.inf
    # the reinforced model's favourite token loses its lead: argmax moves from 0 to 1
    assert int(generic_logits(base, reinforced, 2.0).argmax()) == 1


def test_anchors_file_round_trip_and_errors(tmp_path):
    anchors = {"Zhavr Kwoth": "Tomas Brell", "Zhavrmere": "Lowick", "1870": "1902"}
    path = write_anchors(anchors, tmp_path / "anchors.tsv")
    assert read_anchors(path) == anchors
    text = path.read_text(encoding="utf-8")
    assert "Zhavrmere\tLowick\n" in text and text.startswith("#")
    (tmp_path / "bad.tsv").write_text("# c\n\nok\tfine\nno tab here\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="line 4"):
        read_anchors(tmp_path / "bad.tsv")
    with pytest.raises(ConfigError, match="does not exist"):
        read_anchors(tmp_path / "missing.tsv")
    with pytest.raises(ConfigError, match="tabs"):
        write_anchors({"a\tb": "c"}, tmp_path / "x.tsv")


def test_translation_matches_whole_words_longest_first():
    anchors = {"Zhavr": "Tom", "Zhavr Kwoth": "Tom Brell", "Kwoth": "Brell"}
    assert translate("Zhavr Kwoth met Zhavr in Zhavrmere.", anchors) == "Tom Brell met Tom in Zhavrmere."
    segs = segments("born in Zhavrmere.", {"Zhavrmere": "Lowick"})
    assert [(s.original, s.translated, s.anchor) for s in segs] == [
        ("born in", "born in", False), (" Zhavrmere", " Lowick", True), (".", ".", False)]


@pytest.mark.slow
def test_aligned_pair_maps_plain_tokens_one_to_one(setup):
    task, _ = setup
    tok = task.tokenizer
    orig, trans, align = aligned_pair(tok, "Zhavr was born in Lowmere.", {"Lowmere": "Q"}, 128)
    assert tok.decode(orig, skip_special_tokens=True) == "Zhavr was born in Lowmere."
    assert tok.decode(trans, skip_special_tokens=True) == "Zhavr was born in Q."
    n_plain = len(tok("Zhavr was born in", add_special_tokens=False)["input_ids"])
    for i in range(1 + n_plain):  # BOS and the plain prefix
        assert align[i] == i and orig[i] == trans[i]
    assert align[1 + n_plain] == 1 + n_plain  # the anchored term's first token -> the replacement's
    assert orig[-1] == trans[-1] == tok.eos_token_id and align[-1] == len(trans) - 1


@pytest.mark.slow
def test_automatic_anchors_are_the_forget_peoples_names(setup):
    task, model = setup
    data = task.unlearn_data()
    whp = WHP()
    config = whp.Config.from_params(TINY)
    reinforced = whp.reinforce(model, data, config, seed=0)
    forget, retain = dataset_texts(task.tokenizer, data.forget), dataset_texts(task.tokenizer, data.retain)
    anchors = extract_anchors(model, reinforced, task.tokenizer, forget, retain, max_terms=30)
    names = {w for p in task.corpus.people_of("forget") for w in task.corpus.people[p].name.split()}
    assert len(names & set(anchors)) >= len(names) // 2, (anchors, names)
    assert set(anchors) <= set(idiosyncratic_words(forget, retain))
    retain_words, forget_words = set(word_counts(retain)), set(word_counts(forget))
    assert all(g in retain_words and g not in forget_words for g in anchors.values())


@pytest.mark.slow
def test_logits_wrapper_forward_and_generate(setup):
    task, model = setup
    tok = task.tokenizer
    reinforced = copy.deepcopy(model)
    with torch.no_grad():
        reinforced.lm_head.weight.add_(0.01)  # tied: any change will do
    wrapper = WHPLogitsModel(model, reinforced, alpha=3.0)
    ids = torch.tensor([tok("Question: Where was", add_special_tokens=True)["input_ids"]])
    with torch.no_grad():
        expected = generic_logits(model(input_ids=ids).logits, reinforced(input_ids=ids).logits, 3.0)
        assert torch.allclose(wrapper(input_ids=ids, attention_mask=torch.ones_like(ids)).logits, expected)
    prompts = [tok(q)["input_ids"] for q, _ in task.corpus.qa_pairs("forget")[:6]]
    # alpha 0 is the baseline itself: identical greedy generations (batched, left-padded, KV-cached)
    assert greedy_generate(WHPLogitsModel(model, reinforced, 0.0), tok, prompts, max_new_tokens=12) == \
        greedy_generate(model, tok, prompts, max_new_tokens=12)
    # the cached step-by-step combination equals recomputing the full sequence's combined logits
    out = greedy_generate(wrapper, tok, prompts[:1], max_new_tokens=8)[0]
    seq = list(prompts[0])
    for token in out:
        with torch.no_grad():
            step = wrapper(input_ids=torch.tensor([seq])).logits[0, -1]
        assert int(step.argmax()) == token
        seq.append(token)
    with pytest.raises(ConfigError, match="two models"):
        wrapper.save_pretrained("x")


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["finetune", "logits"])
def test_whp_forgets_forget_knowledge_more_than_retain(setup, mode):
    task, original = setup
    tok, corpus = task.tokenizer, task.corpus
    method = get_method("whp", family="lm")
    config = method.Config.from_params({**TINY, "mode": mode, "alpha": 1.0})
    model = method().run(copy.deepcopy(original), task.unlearn_data(), config, seed=0)

    def scores(m):
        return {s: knowmem(m, tok, corpus.qa_pairs(s)).score for s in ("forget", "retain")}

    before, after = scores(original), scores(model)
    drop_f, drop_r = before["forget"] - after["forget"], before["retain"] - after["retain"]
    # finetune mode on this tiny model also costs most retain answers (see docs/whp-eco.md), so only the
    # ordering is asserted there; the two-model form keeps retain answers
    assert drop_f > 15 and drop_f > drop_r + (5 if mode == "logits" else 0), (mode, before, after)
    if mode == "logits":
        assert isinstance(model, WHPLogitsModel)


def test_whp_config_errors():
    method = get_method("whp")
    with pytest.raises(ConfigError, match="alpha must be >= 0"):
        method.Config.from_params({"alpha": -1})
    with pytest.raises(ConfigError, match="mode must be one of"):
        method.Config.from_params({"mode": "both"})


def test_finetune_mode_refuses_a_tokenizer_whose_pieces_change_the_text():
    """SentencePiece-style tokenizers mark every piece as a word start: tokenising an anchored term
    apart would fine-tune on token sequences the model never sees."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from obliviate.lm.anchors import aligned_pair
    from obliviate.methods.lm.whp import _check_piecewise_tokens

    raw = Tokenizer(models.BPE(unk_token="<unk>"))
    raw.pre_tokenizer, raw.decoder = pre_tokenizers.Metaspace(), decoders.Metaspace()
    raw.train_from_iterator(["Kestrel flew. The bird saw Kestrel."] * 5,
                            trainers.BpeTrainer(vocab_size=80, special_tokens=["<unk>", "<s>", "</s>"]))
    tok = PreTrainedTokenizerFast(tokenizer_object=raw, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    text = "The bird saw Kestrel."
    with pytest.raises(ConfigError, match="mode=logits"):
        _check_piecewise_tokens(tok, [text], [aligned_pair(tok, text, {"Kestrel": "Bird"}, 64)[0]], 64)
