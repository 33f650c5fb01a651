"""bios written as a MUSE dataset (lm/bios_muse.py), MUSE's protocol with trained models
(lm/bench_muse_trained.py) and explicit --seeds."""

from __future__ import annotations

import argparse
import json

import pytest

from obliviate.bench.cache_entry import verify_entry
from obliviate.bench.options import BenchOptions
from obliviate.errors import ConfigError, MissingDataError
from obliviate.lm.benchmarks.muse import CONFIGS, FOLDS, load_config, load_split
from obliviate.lm.bios import make_bios
from obliviate.lm.bios_muse import ICL_SHOTS, retain_halves
from obliviate.lm.bench_muse_trained import MuseTrainedBench, bios_muse_dir, muse_bench, series_of
from obliviate.lm.prompts import qa_text
from obliviate.lm.tokenizer import train_bpe_tokenizer

ARGS = {"n_people": 20, "seed": 3, "docs_per_person": 3, "forget_fraction": 0.2, "holdout_fraction": 0.2,
        "n_general": 10}


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    corpus = make_bios(**ARGS)
    tok = train_bpe_tokenizer(corpus.all_text(), vocab_size=400)
    return corpus, tok, bios_muse_dir(tmp_path_factory.mktemp("cache"), ARGS, tok, "tok-a")


def _names(corpus, people):
    return {corpus.people[p].name for p in people}


def test_every_config_split_and_column_loads(written):
    _, _, directory = written
    for config, (splits, columns) in CONFIGS.items():
        loaded = load_config(directory, config)
        assert set(loaded) == set(splits)
        for split, rows in loaded.items():
            assert rows, (config, split)
            if columns == ("text",):
                assert all(isinstance(r, str) and r for r in rows)
            else:
                assert all(set(r) == set(columns) and all(r.values()) for r in rows)
    verify_entry(directory)  # a verified cache entry (manifest over every file)


def test_mapping_is_the_bios_split(written):
    corpus, tok, directory = written
    raw = load_config(directory, "raw")
    retain1, retain2 = retain_halves(corpus)
    # target = forget + retain1 + retain2 is the bios original's training text; retrain = retain1 + retain2
    assert sorted(raw["forget"] + raw["retain1"] + raw["retain2"]) == sorted(corpus.training_texts(include_forget=True))
    assert sorted(raw["retain1"] + raw["retain2"]) == sorted(corpus.training_texts(include_forget=False))
    assert sorted(raw["holdout"]) == sorted(corpus.texts("holdout", with_qa=True))
    # knowmem: forget people's QA; retain QA about retain2 only; shots from retain1 people, never evaluated
    qa = load_config(directory, "knowmem")
    assert [(r["question"], r["answer"]) for r in qa["forget_qa"]] == corpus.qa_pairs("forget")
    retain2_names = _names(corpus, retain2)
    assert all(any(n in r["question"] for n in retain2_names) for r in qa["retain_qa"])
    evaluated = _names(corpus, corpus.people_of("forget") + corpus.people_of("holdout") + retain2)
    for split in ("forget_qa_icl", "retain_qa_icl"):
        assert len(qa[split]) == ICL_SHOTS
        assert not any(n in r["question"] for r in qa[split] for n in evaluated)
        assert all(qa_text(r["question"], r["answer"]) in raw["retain1"] for r in qa[split])
    assert qa["forget_qa_icl"] != qa["retain_qa_icl"]
    # verbmem: the forget documents cut after 32 tokens
    docs = corpus.texts("forget")
    for row in load_split(directory, "verbmem", "forget"):
        assert row["prompt"] + row["gt"] in docs
        assert len(tok(row["prompt"], add_special_tokens=False)["input_ids"]) == 32
    # privleak: documents of forget, retain2 and holdout people
    leak = load_config(directory, "privleak")
    assert leak["forget"] == docs and leak["holdout"] == corpus.texts("holdout")
    # scal nested up to raw/forget, sust pairwise disjoint covering it
    scal, sust = load_config(directory, "scal"), load_config(directory, "sust")
    for a, b in zip(FOLDS, FOLDS[1:]):
        assert set(scal[a]) < set(scal[b])
    assert sorted(scal["forget_4"]) == sorted(raw["forget"])
    assert sorted(t for f in FOLDS for t in sust[f]) == sorted(raw["forget"])
    assert all(not set(sust[a]) & set(sust[b]) for a in FOLDS for b in FOLDS if a < b)


def test_cached_by_corpus_args_and_tokenizer(written, tmp_path):
    corpus, tok, directory = written
    cache = directory.parent
    assert bios_muse_dir(cache, ARGS, tok, "tok-a") == directory
    assert bios_muse_dir(cache, ARGS, tok, "tok-b") != directory
    assert bios_muse_dir(cache, {**ARGS, "seed": 4}, tok, "tok-a") != directory
    (directory / "knowmem" / "forget_qa.json").write_text("[]")  # damaged: moved aside and rewritten
    assert bios_muse_dir(cache, ARGS, tok, "tok-a") == directory
    assert load_split(directory, "knowmem", "forget_qa")


def test_wrong_layout_raises_the_loaders_clear_error(written, tmp_path):
    import shutil

    _, _, directory = written
    copy = tmp_path / "muse"
    shutil.copytree(directory, copy)
    (copy / "knowmem" / "retain_qa.json").unlink()
    with pytest.raises(MissingDataError, match=r"config 'knowmem', split 'retain_qa'.*question, answer"):
        load_split(copy, "knowmem", "retain_qa")
    rows = json.loads((copy / "verbmem" / "forget.json").read_text())
    (copy / "verbmem" / "forget.json").write_text(json.dumps([{"prompt": r["prompt"]} for r in rows]))
    with pytest.raises(MissingDataError, match=r"forget\.json: split 'forget' has no column 'gt'"):
        load_split(copy, "verbmem", "forget")
    with pytest.raises(MissingDataError, match="no column 'gt'"):  # the bench refuses the directory too
        MuseTrainedBench(data=str(copy), methods=["retrain", "npo"], seeds=[0], people=20).validate()


def test_too_few_people_for_muse_folds(tmp_path):
    args = {**ARGS, "n_people": 10}
    corpus = make_bios(**args)
    with pytest.raises(ConfigError, match="at least 4 forget people"):
        bios_muse_dir(tmp_path, args, train_bpe_tokenizer(corpus.all_text(), vocab_size=400), "t")
    with pytest.raises(ConfigError, match="at least 4 forget people"):
        MuseTrainedBench(people=10, seeds=[0], methods=["npo"]).validate()


def test_series_options_and_dp2_refused():
    assert series_of(["documents", "scaling:4", "sequential:4"]) == ["scal", "sust"]
    assert series_of(None) == []
    with pytest.raises(ConfigError, match="4 folds"):
        series_of(["sequential:2"])
    with pytest.raises(ConfigError, match="dp"):  # dp2 unlearns its own DP base, not MUSE's target
        MuseTrainedBench(people=20, seeds=[0], methods=["dp2"]).validate()


def _options(tmp_path, methods, seeds=(0,)) -> BenchOptions:
    return BenchOptions(methods=methods, seeds=list(seeds), params={}, train={"epochs": "3"},
                        cache_dir=str(tmp_path / "cache"))


@pytest.mark.slow
def test_bench_end_to_end_on_embedded_bios_and_on_a_directory(tmp_path):
    """The embedded bios through MUSE's protocol (models = the bios bench's cached ones), then the written
    directory as --data (models trained here on its raw splits): rows carry MUSE's metrics."""
    metrics = {"verbmem_forget", "knowmem_forget", "knowmem_retain", "utility", "privleak", "mia_auc_min_k_40"}
    args = argparse.Namespace(model="tiny", people=20, eval=["batch_size=16", "verbmem_max_new_tokens=16"], data=None)
    bench = muse_bench(args, _options(tmp_path, ["retrain", "grad_ascent"]))
    rows = bench.run(tmp_path / "out")
    assert [r["method"]["name"] for r in rows] == ["original", "retrain", "grad_ascent"]
    assert all(r["status"] == "ok" and metrics <= set(r["metrics"]) for r in rows)
    assert {r["task"]["dataset"] for r in rows} == {"muse-bios"}
    by = {r["method"]["name"]: r["metrics"] for r in rows}
    assert by["retrain"]["privleak"] == 0.0  # PrivLeak is relative to the retrained model's AUC
    assert all(0 <= m[k] <= 100 for m in by.values() for k in ("verbmem_forget", "knowmem_forget", "knowmem_retain"))
    assert len(bench.resolved()["methods"]) == 1 and bench.row_count() == 3

    data = next((tmp_path / "cache").glob("bios-muse-*"))
    args.data = str(data)
    rows = muse_bench(args, _options(tmp_path, ["grad_ascent"])).run(tmp_path / "out2")
    assert [r["method"]["name"] for r in rows] == ["original", "retrain", "grad_ascent"]
    assert all(r["status"] == "ok" and metrics <= set(r["metrics"]) for r in rows)
    assert {r["task"]["dataset"] for r in rows} == {f"muse:{data.name}"}
    assert list((tmp_path / "cache").glob("lm-muse-target-*")) and list((tmp_path / "cache").glob("lm-muse-retrain-*"))


@pytest.mark.slow
def test_cli_benchmark_muse_options(tmp_path):
    """``bench lm --benchmark muse``: MUSE's series come from --forget; wrong specs and tofu's flag are refused."""
    import subprocess
    import sys

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "obliviate", "bench", "lm", "--benchmark", "muse", *args,
                               "--out", str(tmp_path / "out")], cwd=tmp_path, capture_output=True, text=True,
                              timeout=300)

    for extra, message in ((["--forget", "sequential:2"], "4 folds"), (["--forget-split", "forget05"], "tofu only"),
                           (["--corpus", "kjv"], "--corpus"), (["--eval", "prefix_tokens=12"], "prefix_tokens")):
        result = cli(*extra)
        assert result.returncode == 2 and message in result.stderr, result.stderr
        assert not (tmp_path / "out").exists()
