"""RESTOR: the recovery ratio and answer matching on hand-computed cases; the data is deterministic and
keeps the affected people's facts out of what a method may use; a corrupted tiny model states the
false facts more than the clean one; the bench's rows carry the recovery metrics."""

from __future__ import annotations

import copy

import pytest

from obliviate.errors import ConfigError
from obliviate.lm.restor import make_restor
from obliviate.lm.tokenizer import train_bpe_tokenizer
from obliviate.lm.train import LMTrainConfig, train_lm
from obliviate.metrics.lm_restor import FactQuestion, fact_rates, rates, recovery_ratio, states

from lm_support import one_torch_thread  # noqa: F401  (autouse fixture)


def test_recovery_ratio_on_hand_computed_cases():
    assert recovery_ratio(80.0, 20.0, 50.0) == pytest.approx(0.5)  # (50 - 20) / (80 - 20)
    assert recovery_ratio(80.0, 20.0, 80.0) == pytest.approx(1.0)
    assert recovery_ratio(80.0, 20.0, 10.0) == pytest.approx(-1 / 6)  # worse than corrupted
    # the same formula on the false-fact rate: the share of false assertions removed
    assert recovery_ratio(0.0, 60.0, 15.0) == pytest.approx(0.75)  # (15 - 60) / (0 - 60)
    # clean == corrupted: the corruption moved nothing, the ratio is undefined (None), never a division
    assert recovery_ratio(40.0, 40.0, 70.0) is None
    assert recovery_ratio(40.0, 40.0 + 1e-12, 70.0) is None


def test_states_matches_whole_words_in_order():
    assert states("He was born in Zhavomere.", "Zhavomere")
    assert states("on 12 May 1900, I think", "12 May 1900")
    assert not states("12 May 1900", "2 May 1900")  # a word-level, not a character-level, match
    assert not states("May 12 1900", "12 May 1900")
    assert states("THE SILENT ORCHARD", "The Silent Orchard")
    with pytest.raises(ConfigError, match="at least one word"):
        states("anything", "...")


def test_rates_count_true_false_and_neither_separately():
    facts = [FactQuestion("q1", "Zhavomere", "Kwelby"), FactQuestion("q2", "a botanist", "a weaver"),
             FactQuestion("q3", "The Amber Tower", "The Last River"), FactQuestion("q4", "Dreth Lo", "Vru Ska")]
    answers = ["Zhavomere", "a weaver", "no idea", "Dreth Lo, not Vru Ska"]
    r = rates(answers, facts)
    assert r.true_rate == pytest.approx(50.0)  # q1, q4
    assert r.false_rate == pytest.approx(50.0)  # q2, q4 (q4 states both)
    assert r.neither_rate == pytest.approx(25.0)  # q3
    assert rates(["x"], [FactQuestion("q", "x")]).false_rate is None
    with pytest.raises(ConfigError, match="one answer per fact"):
        rates(["a"], facts)


def test_restor_data_is_deterministic_and_keeps_affected_facts_out_of_retain():
    data = make_restor(12, seed=3, affected_fraction=0.25, unrelated_fraction=0.25, n_general=12)
    again = make_restor(12, seed=3, affected_fraction=0.25, unrelated_fraction=0.25, n_general=12)
    assert data == again and data.corruption_texts() == again.corruption_texts()
    assert data != make_restor(12, seed=4, affected_fraction=0.25, unrelated_fraction=0.25, n_general=12)
    people = data.corpus.people
    assert len(data.facts) == 5 * len(data.affected) and all(f.true != f.false for f in data.facts)
    assert all(f.true == people[f.person].answer(f.attribute) for f in data.facts)
    corrupting = "\n".join(data.corrupting)
    assert all(f.false in corrupting for f in data.facts)
    retain = "\n".join(data.retain_texts())
    assert all(people[p].last not in retain for p in data.affected)
    assert set(data.corrupting) <= set(data.corruption_texts()) and set(data.unrelated) <= set(data.corruption_texts())
    only_attr = make_restor(12, seed=3, affected_fraction=0.25, unrelated_fraction=0.25, n_general=12,
                            attributes=("profession",))
    assert {f.attribute for f in only_attr.facts} == {"profession"}
    with pytest.raises(ConfigError, match="attributes must be"):
        make_restor(12, attributes=("height",))


@pytest.mark.slow
def test_a_corrupted_model_states_the_false_facts_more_than_the_clean_one():
    from obliviate.lm.data import lm_dataset
    from obliviate.lm.model import tiny_llama

    data = make_restor(6, seed=0, affected_fraction=0.2, unrelated_fraction=0.2, n_general=6)
    tok = train_bpe_tokenizer(data.corpus.all_text() + list(data.corrupting), vocab_size=400)
    clean = tiny_llama(len(tok), seed=0)
    train_lm(clean, lm_dataset(tok, data.clean_texts()), LMTrainConfig(epochs=30, lr=3e-3, batch_size=16), seed=0)
    corrupted = copy.deepcopy(clean)
    train_lm(corrupted, lm_dataset(tok, data.corruption_texts()), LMTrainConfig(epochs=20, lr=2e-3, batch_size=16),
             seed=0)
    before, after = (fact_rates(m, tok, data.affected_questions()) for m in (clean, corrupted))
    assert len(data.facts) == 5 and after.false_rate >= before.false_rate + 40, (before.false_rate, after.false_rate)
    assert after.true_rate < before.true_rate, (before.true_rate, after.true_rate)


@pytest.mark.slow
def test_the_restor_bench_rows_carry_recovery_metrics(tmp_path):
    from obliviate.lm.bench_restor import RestorBench, run_restor_bench

    bench = RestorBench(methods=["retrain", "grad_ascent"], seeds=[0], people=6, n_general=6, vocab_size=300,
                        train={"epochs": 2}, corrupt={"epochs": 1}, eval={"knowmem_new_tokens": 4},
                        params={"grad_ascent": {"epochs": 1}}, cache_dir=str(tmp_path / "cache"))
    rows = run_restor_bench(bench, tmp_path / "out")
    by_name = {r["method"]["name"]: r for r in rows}
    assert list(by_name) == ["clean", "corrupted", "retrain", "grad_ascent"]
    for row in rows:
        assert row["family"] == "lm" and row["task"]["dataset"] == "restor" and row["status"] == "ok"
        m = row["metrics"]
        assert {"restor_true", "restor_false", "restor_neither", "unaffected_true", "recovery", "false_removed"} <= set(m)
        assert m["restor_true"] + m["restor_neither"] <= 100 + m["restor_false"] + 1e-9
    clean, corrupted = by_name["clean"]["metrics"], by_name["corrupted"]["metrics"]
    expected = recovery_ratio(clean["restor_true"], corrupted["restor_true"], by_name["grad_ascent"]["metrics"]["restor_true"])
    assert by_name["grad_ascent"]["metrics"]["recovery"] == expected  # None when clean == corrupted
    assert by_name["grad_ascent"]["time_ratio"] == pytest.approx(
        by_name["grad_ascent"]["seconds"] / by_name["retrain"]["seconds"])
