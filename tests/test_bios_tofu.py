"""bios written as a TOFU-layout dataset (lm/bios_tofu.py) and ``bench lm --benchmark tofu``
(lm/bench_layouts.py): the layout loads through TOFU's loader with TOFU's split relations, and the bench
runs TOFU's protocol on it end to end."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from obliviate.errors import ConfigError
from obliviate.lm.benchmarks.tofu import load_split, load_tofu
from obliviate.lm.bios import make_bios
from obliviate.lm.bench_layouts import bios_tofu_dir
from obliviate.lm.bios_tofu import ANSWER_TEMPLATES, CORPUS_ARGS, N_PERTURBED, PARAPHRASE_TEMPLATES, _sentence, tofu_splits


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    return bios_tofu_dir(tmp_path_factory.mktemp("cache"), 40)


def _questions(rows):
    return [r.question for r in rows]


def test_every_forget_split_loads_with_its_retain_split(layout):
    full = _questions(load_split(layout, "full"))
    sizes = {}
    for forget_split in ("forget01", "forget05", "forget10"):
        tofu = load_tofu(layout, forget_split)
        forget, retain = _questions(tofu.forget), _questions(tofu.retain)
        assert sorted(forget + retain) == sorted(full) and not set(forget) & set(retain)
        assert {k: len(v) for k, v in tofu.eval_sets.items()} == {
            "forget": len(forget), "retain": len(load_tofu(layout, "forget10").forget), "real_authors": 20,
            "world_facts": 20}
        sizes[forget_split] = len(forget)
    # 40 people x 5 questions: 10% = 4 people, 5% = 2, 1% rounds to at least one person
    assert sizes == {"forget01": 5, "forget05": 10, "forget10": 20}
    f01, f05, f10 = (set(_questions(load_split(layout, s))) for s in ("forget01", "forget05", "forget10"))
    assert f01 < f05 < f10  # nested, as TOFU's are


def test_perturbed_rows_state_the_same_fact_wrongly(layout):
    corpus = make_bios(40, seed=0, **CORPUS_ARGS)
    qa = {q.question: q for q in corpus.qa}
    people = {p.pid: p for p in corpus.people}
    rows = load_split(layout, "forget10_perturbed") + load_split(layout, "retain_perturbed")
    assert len(rows) == 40  # 4 forget people and as many retain people, 5 questions each
    for item in rows:
        pair = qa[item.question]
        person, attribute = people[pair.person], pair.attribute
        values = {p.answer(attribute) for p in corpus.people} - {pair.answer}
        assert item.answer == _sentence(ANSWER_TEMPLATES[attribute], person, attribute, pair.answer)
        assert item.paraphrased_answer == _sentence(PARAPHRASE_TEMPLATES[attribute], person, attribute, pair.answer)
        wrong = {_sentence(PARAPHRASE_TEMPLATES[attribute], person, attribute, v) for v in values}
        assert len(set(item.perturbed_answers)) == N_PERTURBED and set(item.perturbed_answers) <= wrong
    for item in load_split(layout, "world_facts_perturbed"):
        assert len(item.perturbed_answers) == 3 and item.answer not in item.perturbed_answers


def test_forget_people_are_bios_forget_people():
    corpus = make_bios(40, seed=0, **CORPUS_ARGS)
    splits = tofu_splits(corpus)
    forget_questions = {q.question for q in corpus.qa_of("forget")}
    assert {r["question"] for r in splits["forget10"]} == forget_questions
    holdout = {q.question for q in corpus.qa_of("holdout")}
    assert not holdout & {r["question"] for r in splits["full"]}  # holdout people are never trained on
    assert {r["question"] for r in splits["holdout10"]} <= holdout


def test_cached_layout_is_reused_and_verified(tmp_path):
    first = bios_tofu_dir(tmp_path, 10)
    stamp = (first / "full.json").stat().st_mtime_ns
    assert bios_tofu_dir(tmp_path, 10) == first and (first / "full.json").stat().st_mtime_ns == stamp
    (first / "full.json").write_text(json.dumps({"question": "tampered", "answer": "x"}) + "\n", encoding="utf-8")
    again = bios_tofu_dir(tmp_path, 10)  # the bad entry is quarantined and written anew
    assert "tampered" not in (again / "full.json").read_text(encoding="utf-8")
    with pytest.raises(ConfigError, match="at least 10 people"):
        bios_tofu_dir(tmp_path, 5)


def _cli(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "obliviate", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=900)


def test_bios_bench_options_are_refused_with_a_benchmark(tmp_path):
    for extra, flag in ((["--benchmark", "tofu", "--forget", "documents"], "--forget"),
                        (["--benchmark", "tofu", "--corpus", "kjv"], "--corpus"),
                        (["--data", str(tmp_path)], "--data"),
                        (["--recipe", "recipes/tofu-phi-1.5.toml"], "--recipe"),
                        (["--benchmark", "muse", "--recipe", "recipes/tofu-phi-1.5.toml"], "--recipe")):
        result = _cli("bench", "lm", *extra, "--out", str(tmp_path / "out"), cwd=tmp_path)
        assert result.returncode == 2 and flag in result.stderr, result.stderr
        assert not (tmp_path / "out").exists()


def test_building_and_dry_running_the_benchmark_write_nothing(tmp_path):
    cache = tmp_path / "cache"
    result = _cli("bench", "lm", "--benchmark", "tofu", "--people", "10", "--dry-run", "--cache-dir", str(cache),
                  cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "dataset tofu" in result.stdout
    assert not cache.exists() and not (tmp_path / "runs").exists()  # the layout and model start: written by a run


def test_benchmark_tofu_applies_a_recipe_file_over_the_models_defaults(tmp_path):
    import argparse
    from pathlib import Path

    from obliviate.bench.options import BenchOptions
    from obliviate.lm.bench_layouts import tofu_bench

    recipe = Path(__file__).resolve().parents[1] / "recipes" / "tofu-phi-1.5.toml"
    args = argparse.Namespace(model="tiny", people=10, data=None, forget_split="forget10", eval=None,
                              recipe=str(recipe))
    options = BenchOptions(methods=["grad_diff"], seeds=[0], params={}, train={"epochs": "2"},
                           cache_dir=str(tmp_path))
    bench = tofu_bench(args, options)
    resolved = bench.resolved()
    assert resolved["recipe"]["path"].endswith("tofu-phi-1.5.toml")
    assert resolved["train"]["lr"] == 2e-5  # the file's [train] over the tiny model's from-scratch recipe
    assert resolved["train"]["epochs"] == 2  # --train over the file
    assert resolved["methods"]["grad_diff"]["lr"] == 2e-5  # the file's [methods.grad_diff] over the tiny recipe


@pytest.mark.slow
def test_bench_lm_benchmark_tofu_runs_end_to_end_on_the_tiny_llama(tmp_path):
    out = tmp_path / "out"
    result = _cli("bench", "lm", "--benchmark", "tofu", "--people", "10", "--seeds", "1", "--methods", "grad_diff",
                  "--train", "epochs=2", "--eval", "max_items=4", "--threads", "1", "--quiet",
                  "--cache-dir", str(tmp_path / "cache"), "--out", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    runs = json.loads((out / "results.json").read_text())["runs"]
    assert [r["method"]["name"] for r in runs] == ["original", "retrain", "grad_diff"]
    for row in runs:
        assert row["task"]["dataset"] == "tofu" and row["task"]["model"] == "tiny"
        assert 0.0 <= row["metrics"]["forget_quality"] <= 1.0 and row["metrics"]["model_utility"] >= 0.0
    assert runs[1]["metrics"]["forget_quality"] == 1.0  # the reference against itself
    assert (out / "report.html").is_file()
