"""End-to-end: a tiny bench through the CLI, its results schema, resume, and CLI errors."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from obliviate.cli import main

SHARED_SCHEMA = Path(__file__).resolve().parents[2] / "shared" / "schema" / "results.schema.json"

TINY_BENCH = [
    "bench", "classifier", "--dataset", "digits", "--forget", "class:3", "--forget", "random:0.1",
    "--methods", "retrain,finetune,grad_ascent,random_label", "--seeds", "2",
    "--train", "epochs=3", "--param", "finetune.epochs=2", "--param", "random_label.epochs=2",
    "--max-train", "400", "--quiet",
]


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    out, cache = root / "out", root / "cache"
    assert main([*TINY_BENCH, "--out", str(out), "--cache-dir", str(cache)]) == 0
    return out, cache


@pytest.mark.slow
def test_bench_writes_schema_valid_results_and_report(bench_run):
    out, _ = bench_run
    doc = json.loads((out / "results.json").read_text())
    from obliviate.bench.results import load_schema

    jsonschema.validate(doc, load_schema())
    if SHARED_SCHEMA.is_file():  # the team's canonical copy, when the checkout has it beside it
        jsonschema.validate(doc, json.loads(SHARED_SCHEMA.read_text()))
    # 2 seeds x 2 specs x (original + retrain + 3 methods)
    assert len(doc["runs"]) == 20
    assert {r["method"]["name"] for r in doc["runs"]} == {"original", "retrain", "finetune", "grad_ascent", "random_label"}
    assert all(r["status"] == "ok" for r in doc["runs"])
    for run in doc["runs"]:
        m = run["metrics"]
        assert m["unlearning_accuracy"] == pytest.approx(100 - m["forget_accuracy"])
        assert 0 <= m["mia_efficacy"] <= 100
        assert run["retrain_seconds"] > 0
        if run["method"]["name"] == "retrain":
            assert run["gap_to_retrain"]["average"] == 0
        elif run["method"]["name"] != "original":  # every method row records its unlearning step's peak memory
            assert run["peak_memory_mb"] >= 0 and run["peak_memory_source"].startswith(("cpu", "cuda"))
    assert doc["environment"]["torch"] and doc["tool"]["name"] == "obliviate"
    assert doc["config"]["benches"][0]["train"]["epochs"] == 3
    ft = next(r for r in doc["runs"] if r["method"]["name"] == "finetune")
    assert ft["method"]["params"]["epochs"] == 2 and ft["method"]["params"]["batch_size"] == 32  # recipe default
    html = (out / "report.html").read_text()
    assert "finetune" in html and "random_label" in html
    assert list((out / "plots").glob("*.png"))
    assert (out / "bench.log").read_text().strip() and (out / "config.json").is_file()


@pytest.mark.slow
def test_bench_rerun_resumes_without_rerunning_rows(bench_run):
    out, cache = bench_run
    rows = sorted((out / "rows").glob("*.json"))
    stamps = {p: p.stat().st_mtime_ns for p in rows}
    before = json.loads((out / "results.json").read_text())
    assert main([*TINY_BENCH, "--out", str(out), "--cache-dir", str(cache)]) == 0
    assert {p: p.stat().st_mtime_ns for p in rows} == stamps, "finished rows must not be recomputed"
    after = json.loads((out / "results.json").read_text())
    assert [r["metrics"] for r in after["runs"]] == [r["metrics"] for r in before["runs"]]
    assert "skip finished row" in (out / "bench.log").read_text()


def test_bench_rejects_bad_input_before_training(tmp_path, capsys):
    base = ["bench", "classifier", "--out", str(tmp_path / "o"), "--cache-dir", str(tmp_path / "c"), "--quiet"]
    cases = [
        (["--methods", "fintune"], "Did you mean 'finetune'"),
        (["--forget", "random:1.5"], "strictly between 0 and 1"),
        (["--dataset", "cifar11"], "unknown dataset 'cifar11'"),
        (["--param", "finetune.lrr=0.1"], "did you mean 'lr'"),
        (["--param", "lr=0.1"], "METHOD.NAME=VALUE"),
        (["--forget", "class:42"], "unknown class"),
    ]
    for extra, message in cases:
        assert main([*base, *extra]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
    assert not (tmp_path / "c").exists(), "nothing may be trained for a bad request"


@pytest.mark.slow
def test_train_unlearn_eval_round_trip(tmp_path, capsys):
    model_dir, out = tmp_path / "model", tmp_path / "unlearned"
    assert main(["train", "--dataset", "digits", "--train", "epochs=2", "--out", str(model_dir), "--quiet"]) == 0
    assert main(["unlearn", "--model", str(model_dir), "--forget", "class:1", "--method", "grad_ascent",
                 "--param", "batch_size=32", "--eval", "--out", str(out), "--quiet"]) == 0
    record = json.loads((out / "record.json").read_text())
    assert record["method"] == "grad_ascent" and record["forget_size"] > 0
    assert record["original_weights_sha256"] != record["unlearned_weights_sha256"]
    assert record["metrics"]["forget_accuracy"] < record["metrics_before"]["forget_accuracy"]
    capsys.readouterr()
    assert main(["eval", "--model", str(out), "--forget", "class:1", "--reference", str(model_dir), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert "average" in result["gap_to_retrain"]
    assert main(["unlearn", "--model", str(tmp_path / "missing"), "--forget", "class:1", "--method", "finetune",
                 "--out", str(tmp_path / "x")]) == 2
    assert "does not exist" in capsys.readouterr().err

    # an --out that replacing would lose something: refused before any work, nothing touched
    unlearn = ["unlearn", "--model", str(model_dir), "--forget", "class:1", "--method", "grad_ascent", "--quiet"]
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "todo.txt").write_text("mine")
    for out_dir, message in ((notes, "obliviate did not write"), (model_dir, "is an input of this run")):
        assert main([*unlearn, "--out", str(out_dir)]) == 2
        assert message in capsys.readouterr().err
    assert (notes / "todo.txt").read_text() == "mine" and sorted(p.name for p in notes.iterdir()) == ["todo.txt"]
    assert main([*unlearn, "--out", str(out)]) == 0  # an earlier unlearning output is replaced
    # a method parameter that is an option of the call itself
    assert main([*unlearn, "--param", "seed=3", "--out", str(tmp_path / "y")]) == 2
    assert "use --seed" in capsys.readouterr().err and not (tmp_path / "y").exists()


def test_ls_and_help(capsys):
    assert main(["ls", "methods", "-v"]) == 0
    out = capsys.readouterr().out
    for name in ("retrain", "finetune", "grad_ascent", "random_label"):
        assert name in out
    assert "default" in out
    assert main(["ls", "datasets"]) == 0 and "fashion-mnist" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(["bench", "--help"])
    out = capsys.readouterr().out
    assert exc.value.code == 0 and all(f in out for f in ("classifier", "lm", "restor", "clip"))
    with pytest.raises(SystemExit) as exc:
        main(["bench", "classifier", "--help"])
    out = capsys.readouterr().out
    assert exc.value.code == 0 and "--forget" in out and "--prune" in out and "--corpus" not in out


@pytest.mark.parametrize(("family", "flag"), [("lm", ["--prune", "omp:0.5"]), ("clip", ["--corpus", "kjv"]),
                                              ("restor", ["--forget", "documents"]), ("classifier", ["--shots", "4"])])
def test_a_flag_of_another_family_is_an_argparse_error(capsys, tmp_path, family, flag):
    with pytest.raises(SystemExit) as exc:
        main(["bench", family, *flag, "--out", str(tmp_path / "o")])
    assert exc.value.code == 2 and f"unrecognized arguments: {flag[0]}" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_run_options_stand_before_or_after_the_family():
    from obliviate.cli import build_parser

    parser = build_parser()
    before = parser.parse_args(["bench", "--seeds", "2", "--out", "x", "lm"])
    after = parser.parse_args(["bench", "lm", "--seeds", "2", "--out", "x"])
    default = parser.parse_args(["bench", "lm"])
    assert (before.seeds, before.out) == (after.seeds, after.out) == (2, "x")
    assert (default.seeds, default.out, default.family) == (3, None, "lm")


def test_report_command_rejects_bad_files(tmp_path, capsys):
    (tmp_path / "bad.json").write_text("{not json")
    assert main(["report", str(tmp_path / "bad.json")]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    (tmp_path / "wrong.json").write_text(json.dumps({"schema_version": 1}))
    assert main(["report", str(tmp_path / "wrong.json")]) == 2
    assert "does not follow the results schema" in capsys.readouterr().err


@pytest.mark.slow
def test_bench_prune_first_groups_rows_and_keeps_the_dense_reference(tmp_path):
    out, cache = tmp_path / "out", tmp_path / "cache"
    args = ["bench", "classifier", "--dataset", "digits", "--forget", "class:3", "--methods", "retrain,finetune",
            "--seeds", "1", "--train", "epochs=2", "--param", "finetune.epochs=1", "--max-train", "300",
            "--prune", "omp:0.9,retrain=1", "--quiet", "--cache-dir", str(cache)]
    assert main([*args, "--out", str(out)]) == 0
    doc = json.loads((out / "results.json").read_text())
    assert {r["task"]["prune"] for r in doc["runs"]} == {"omp:0.9,retrain=1"}
    assert all(r["pruning"]["sparsity"] == pytest.approx(0.9, abs=0.005) for r in doc["runs"])
    assert "pruned omp:0.9,retrain=1" in (out / "report.html").read_text()
    # the reference is the dense retrain: one retrain and one pruned model in the cache, shared with a dense bench
    assert len(list(cache.glob("pruned-*"))) == 1 and len(list(cache.glob("retrain-*"))) == 1
    dense = [a for a in args if a not in ("--prune", "omp:0.9,retrain=1")]
    assert main([*dense, "--out", str(tmp_path / "dense")]) == 0
    assert len(list(cache.glob("retrain-*"))) == 1
    bad = [a if a != "omp:0.9,retrain=1" else "omp:1.5" for a in args]
    assert main([*bad, "--out", str(tmp_path / "bad")]) == 2
    assert not (tmp_path / "bad" / "results.json").exists()


def test_unlearn_prune_first_saves_a_pruned_model_with_its_record(tmp_path):
    from obliviate.models import load_classifier
    from obliviate.pruning import sparsity

    model_dir, out = tmp_path / "model", tmp_path / "unlearned"
    assert main(["train", "--dataset", "digits", "--train", "epochs=2", "--max-train", "300", "--out", str(model_dir),
                 "--quiet"]) == 0
    assert main(["unlearn", "--model", str(model_dir), "--forget", "class:1", "--method", "finetune", "--max-train", "300",
                 "--param", "epochs=1", "--prune", "omp:0.8,retrain=1", "--out", str(out), "--quiet"]) == 0
    record = json.loads((out / "record.json").read_text())
    assert record["pruning"]["spec"] == "omp:0.8,retrain=1" and record["pruning"]["sparsity"] == pytest.approx(0.8, abs=0.01)
    reloaded = load_classifier(out)
    assert sparsity(reloaded) == pytest.approx(0.8, abs=0.01) and reloaded.weight_masks
