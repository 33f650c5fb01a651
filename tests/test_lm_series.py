"""MUSE's scalability (``scaling:K``) and sustainability (``sequential:K``) series in the LM bench."""

from __future__ import annotations

import json

import pytest

from obliviate.lm.bench import LMBench
from obliviate.lm.bench_series import LMForgetSpec
from obliviate.bench.results import validate_results
from obliviate.bench.run import run_suite
from obliviate.errors import ConfigError, ForgetSpecError
from obliviate.lm.bios import make_bios
from obliviate.lm.task import LMTask
from obliviate.lm.tokenizer import train_bpe_tokenizer
from obliviate.methods.lm.grad_ascent import LMGradAscent

from lm_support import one_torch_thread  # noqa: F401  (autouse fixture)


def test_spec_parsing_and_errors():
    assert LMForgetSpec.parse("documents") == LMForgetSpec("documents", 1)
    assert LMForgetSpec.parse(" sequential:3 ") == LMForgetSpec("sequential", 3)
    assert str(LMForgetSpec.parse("scaling:4")) == "scaling:4"
    for bad, message in [("scaling:1", "K >= 2"), ("sequential:x", "integer K"), ("random:0.1", "unknown lm forget spec")]:
        with pytest.raises(ForgetSpecError, match=message):
            LMForgetSpec.parse(bad)


def test_folds_partition_the_pool_deterministically():
    spec = LMForgetSpec("sequential", 3)
    pool = tuple(range(10, 17))
    folds = spec.folds(pool, seed=0)
    assert folds == spec.folds(pool, seed=0) and folds != spec.folds(pool, seed=1)
    assert sorted(u for f in folds for u in f) == list(pool)
    assert sorted(len(f) for f in folds) == [2, 2, 3]
    with pytest.raises(ForgetSpecError, match="only 7 units"):
        LMForgetSpec("scaling", 8).folds(pool, seed=0)


def test_with_forget_moves_the_rest_of_the_pool_to_retain():
    corpus = make_bios(12, seed=0, forget_fraction=0.25, holdout_fraction=0.25, n_general=4)
    task = LMTask(corpus, train_bpe_tokenizer(corpus.all_text(), vocab_size=300), max_length=64)
    pool = corpus.units_of("forget")
    part = task.with_forget(pool[:1])
    assert part.corpus.units_of("forget") == pool[:1]
    assert set(part.corpus.units_of("retain")) == set(corpus.units_of("retain")) | set(pool[1:])
    assert part.corpus.units_of("holdout") == corpus.units_of("holdout")
    # the original's data is the same; the retrain reference's loses exactly the forgotten person
    assert sorted(part.original_texts()) == sorted(task.original_texts())
    assert len(part.retain_texts()) > len(task.retain_texts())
    assert task.corpus.units_of("forget") == pool  # the base task is unchanged
    with pytest.raises(ForgetSpecError, match="not in the forget split"):
        task.with_forget([corpus.units_of("retain")[0]])
    with pytest.raises(ForgetSpecError, match="at least one"):
        task.with_forget([])


def test_bench_rejects_k_larger_than_the_forget_split():
    with pytest.raises(ForgetSpecError, match="only 2 units"):
        LMBench(people=10, forget=["sequential:3"], methods=["retrain"]).validate()
    with pytest.raises(ConfigError, match="at least one lm forget spec"):
        LMBench(forget=[], methods=["retrain"]).validate()


@pytest.fixture(scope="module")
def series_run(tmp_path_factory):
    """documents + scaling:2 + sequential:2 on 10 people (2 forget people: one per fold), grad_ascent."""
    seen: list[tuple[int, int]] = []
    original_run = LMGradAscent.run

    def spy(self, model, data, config, *, seed):
        seen.append((len(data.forget), len(data.retain)))
        return original_run(self, model, data, config, seed=seed)

    mp = pytest.MonkeyPatch()
    mp.setattr(LMGradAscent, "run", spy)
    out, cache = tmp_path_factory.mktemp("series"), tmp_path_factory.mktemp("series-cache")
    bench = LMBench(people=10, seeds=[0], methods=["retrain", "grad_ascent"],
                    forget=["documents", "scaling:2", "sequential:2"], train={"epochs": 30},
                    eval={"verbmem_new_tokens": 16}, params={"grad_ascent": {"epochs": 2}}, cache_dir=str(cache))
    try:
        doc = run_suite("lm", [bench], out)
    finally:
        mp.undo()
    return doc, out, cache, seen


@pytest.mark.slow
def test_series_rows_are_points_of_curves(series_run):
    doc, out, cache, _ = series_run
    validate_results(doc)
    assert all(r["status"] == "ok" for r in doc["runs"])
    series = [r for r in doc["runs"] if "series" in r["task"]]
    assert len(series) == 2 * 2 * 3  # 2 series x 2 points x (original, retrain, grad_ascent)
    by = {(r["task"]["series"]["id"], r["task"]["series"]["x"], r["method"]["name"]): r for r in series}
    assert {k[:2] for k in by} == {("scaling:2", 1), ("scaling:2", 2), ("sequential:2", 1), ("sequential:2", 2)}
    assert by["scaling:2", 1, "retrain"]["task"]["forget_size"] == 1
    assert by["scaling:2", 1, "retrain"]["task"]["forget_spec"] == "scaling:2 @1 people"
    assert by["sequential:2", 2, "grad_ascent"]["task"]["forget_spec"] == "sequential:2 @2/2"
    docs = {r["method"]["name"]: r for r in doc["runs"] if r["task"]["scenario"] == "documents"}
    # point 2 forgets the whole split: the same task, reference and one-shot run as the documents scenario
    for name in ("retrain", "original", "grad_ascent"):
        assert by["scaling:2", 2, name]["metrics"] == docs[name]["metrics"]
    # request 1 of the sequence is scaling's first point; request 2 starts from it, so it differs
    assert by["sequential:2", 1, "grad_ascent"]["metrics"] == by["scaling:2", 1, "grad_ascent"]["metrics"]
    assert by["sequential:2", 2, "grad_ascent"]["metrics"] != by["scaling:2", 2, "grad_ascent"]["metrics"]
    assert by["sequential:2", 2, "retrain"]["metrics"] == docs["retrain"]["metrics"]
    # one original and two retrain references (1 and 2 people forgotten), shared by both series
    assert len([p for p in cache.iterdir() if p.name.startswith("lm-")]) == 3
    # the original forgot nobody: its gap grows as more people are to be forgotten
    assert by["scaling:2", 2, "original"]["metrics"]["knowmem_forget"] > 50


@pytest.mark.slow
def test_sequential_requests_see_only_their_fold(series_run):
    _, _, _, seen = series_run
    # documents (2 people), scaling point 1 (1 person; point 2 reuses documents), then the sequence:
    # request 1 (the same run as scaling point 1; its row comes out equal, see above) and request 2
    assert len(seen) == 4
    (f_all, r_all), (f_one, r_one), request_one, (f_two, r_two) = seen
    assert request_one == (f_one, r_one)
    assert f_all == f_one + f_two and f_one > 0 and f_two > 0
    assert r_one == r_all + f_two  # scaling point 1: the other forget person is retain data
    assert r_two == r_all  # request 2: both forgotten, retain is the documents scenario's


@pytest.mark.slow
def test_rerun_resumes_series_without_recomputing(series_run):
    doc, out, cache, _ = series_run
    bench = LMBench(people=10, seeds=[0], methods=["retrain", "grad_ascent"],
                    forget=["documents", "scaling:2", "sequential:2"], train={"epochs": 30},
                    eval={"verbmem_new_tokens": 16}, params={"grad_ascent": {"epochs": 2}}, cache_dir=str(cache))
    again = run_suite("lm", [bench], out)
    assert [r["seconds"] for r in again["runs"]] == [r["seconds"] for r in doc["runs"]]
    assert json.loads((out / "config.json").read_text())["benches"][0]["forget"] == ["documents", "scaling:2",
                                                                                     "sequential:2"]
