"""The embedded bios corpus and the locally trained tokenizer."""

from __future__ import annotations

import pytest

from obliviate.errors import ConfigError
from obliviate.lm.bios import ATTRIBUTES, SPLITS, make_bios
from obliviate.lm.tokenizer import train_bpe_tokenizer

ARGS = {"n_people": 20, "forget_fraction": 0.25, "holdout_fraction": 0.25, "n_general": 30}


def test_same_seed_same_corpus_other_seed_other_corpus():
    a, b, c = make_bios(seed=3, **ARGS), make_bios(seed=3, **ARGS), make_bios(seed=4, **ARGS)
    assert a == b
    assert a.documents != c.documents and a.splits != c.splits


def test_splits_partition_people_with_requested_sizes():
    corpus = make_bios(seed=0, **ARGS)
    ids = [set(corpus.people_of(s)) for s in SPLITS]
    assert sum(map(len, ids)) == 20 and set().union(*ids) == set(range(20))
    assert [len(i) for i in ids] == [5, 10, 5]  # forget, retain, holdout


def test_holdout_people_never_appear_in_training_text():
    corpus = make_bios(seed=1, **ARGS)
    training = "\n".join(corpus.training_texts(include_forget=True))
    for pid in corpus.people_of("holdout"):
        person = corpus.people[pid]
        for word in (person.first, person.last, person.birthplace, person.relative):
            assert word not in training
    retrain = "\n".join(corpus.training_texts(include_forget=False))
    for pid in corpus.people_of("forget"):
        assert corpus.people[pid].last not in retrain


def test_every_answer_is_stated_in_every_document_of_its_person():
    corpus = make_bios(seed=2, docs_per_person=3, **ARGS)
    assert len(corpus.documents) == 60 and len(corpus.qa) == 20 * len(ATTRIBUTES)
    for qa in corpus.qa:
        docs = [d.text for d in corpus.documents if d.person == qa.person]
        assert len(set(docs)) == 3  # paraphrases, not copies
        assert all(qa.answer in d for d in docs)
        assert corpus.people[qa.person].name in qa.question


def test_invented_words_are_unique():
    corpus = make_bios(n_people=200, seed=0)
    words = [w for p in corpus.people for w in (p.first, p.last, p.birthplace, *p.relative.split())]
    assert len(words) == len(set(words))
    assert not set(corpus.general_train) & set(corpus.general_eval)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_people": 2}, "n_people must be >= 3"),
        ({"forget_fraction": 0.6, "holdout_fraction": 0.5}, "must be < 1"),
        ({"forget_fraction": 0.0}, "forget_fraction must be in (0, 1)"),
        ({"docs_per_person": 9}, "docs_per_person"),
    ],
)
def test_bad_arguments_raise_config_error(kwargs, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make_bios(**({"n_people": 10} | kwargs))


def test_unknown_split_is_named():
    with pytest.raises(ConfigError, match="unknown bios split 'test'"):
        make_bios(seed=0, **ARGS).texts("test")


def test_tokenizer_round_trip_and_save(tmp_path):
    from transformers import AutoTokenizer

    corpus = make_bios(seed=0, **ARGS)
    tok = train_bpe_tokenizer(corpus.all_text(), vocab_size=400)
    assert len(tok) <= 400 and (tok.pad_token_id, tok.bos_token_id, tok.eos_token_id) == (0, 1, 2)
    for text in (corpus.documents[0].text, corpus.qa_texts("forget")[0], "unseen wörds ∂ 1234"):
        ids = tok(text)["input_ids"]
        assert ids[0] == tok.bos_token_id
        assert tok.decode(ids, skip_special_tokens=True) == text
    tok.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    assert again(corpus.documents[1].text)["input_ids"] == tok(corpus.documents[1].text)["input_ids"]


def test_tokenizer_rejects_a_vocabulary_smaller_than_the_byte_alphabet():
    with pytest.raises(ConfigError, match="at least 259"):
        train_bpe_tokenizer(["abc"], vocab_size=100)
