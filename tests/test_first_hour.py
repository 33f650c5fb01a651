"""A new user's first hour (issue 16, items 3-5): the default bench command resumes, the bar counts the
whole suite, commands print their results, LM commands print no warning spam, the README's counts come
from the code, and benchmarks/performance.py never overwrites the committed results by accident."""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from obliviate.bench import rows as rows_module
from obliviate.bench.rows import RowSink, RowStore, finished_rows, suite_progress
from obliviate.bench.run import default_out_dir, quick_suite
from obliviate.cli import main

ROOT = Path(__file__).resolve().parents[1]

# a classifier bench small enough for seconds: 1 seed x class:3 x (original, retrain, 3 methods) = 5 rows
BENCH = ["bench", "classifier", "--dataset", "digits", "--forget", "class:3", "--max-train", "300",
         "--methods", "retrain,finetune,grad_ascent,random_label", "--seeds", "1", "--train", "epochs=2"]


def _readme() -> str:
    return (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_row_count_is_what_the_quick_suite_emits():
    counts = [int(n) for n in re.findall(r"\((\d+) result rows", _readme())]
    assert counts, "the README states the quick suite's row count"
    assert set(counts) == {sum(bench.row_count() for bench in quick_suite(None, seeds=3))}


def test_default_out_dir_is_stable_and_follows_what_determines_the_rows():
    first = default_out_dir("quick", quick_suite(None, seeds=3))
    assert first == default_out_dir("quick", quick_suite(None, seeds=3))  # the same command, the same directory
    assert first.parent == Path("runs") and first.name.startswith("quick-")
    assert default_out_dir("quick", quick_suite(None, seeds=2)) != first
    assert default_out_dir("quick", quick_suite("/elsewhere", seeds=3)) == first  # the cache holds no rows


def _row(method: str, seconds: float) -> dict:
    return {"task": {"forget_spec": "class:3"}, "method": {"name": method, "params": {}}, "seed": 0,
            "status": "ok", "seconds": seconds, "metrics": {"ua": seconds}}


def test_suite_bar_starts_at_the_done_rows_and_counts_only_new_ones(tmp_path, monkeypatch):
    monkeypatch.setattr("obliviate.utils.progress._quiet", False)  # conftest silences bars
    store = RowStore(tmp_path)
    for i in range(3):
        store.put({"method": f"m{i}"}, _row(f"m{i}", float(i)))
    store.put({"method": "bad"}, _row("bad", 9.0) | {"status": "failed"})
    done = finished_rows(tmp_path)
    assert len(done) == 3  # a failed row is not done: it runs again
    with suite_progress(6, done, "bench") as suite:
        assert suite.bar.n == 3
        sink = RowSink(99, "ignored: the suite's bar counts")
        for i in range(3):
            row = store.get({"method": f"m{i}"})
            sink(copy.deepcopy(row) if i == 1 else row)  # a bench may copy a row before emitting it
        assert suite.bar.n == 3, "rows finished before the run were counted at the start"
        for i in range(3):
            sink(_row(f"new{i}", 10.0 + i))
        assert suite.bar.n == 6
        sink(_row("extra", 20.0))
        assert suite.bar.n == 6, "the bar never passes the suite's total"
    assert rows_module._suite is None
    own = RowSink(2, "bench")  # no suite: the bench's own bar
    own(_row("a", 1.0))
    assert own._bar.n == 1 and own.close()[0]["method"]["name"] == "a"


@pytest.mark.slow
def test_bench_without_out_resumes_the_interrupted_run(tmp_path, monkeypatch, capsys):
    """Interrupted (Ctrl-C) at the third method, the plain command again runs only what is left, and its
    bar starts at the rows already done."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("obliviate.utils.progress._quiet", False)  # main() sets it; restored after the test
    argv = [*BENCH, "--cache-dir", str(tmp_path / "cache")]
    calls = []

    def interrupt_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(rows_module, "warm_up", interrupt_third)  # the start of every method row
    assert main(argv) == 130
    err = capsys.readouterr().err
    assert "finished rows are kept; rerun the same command to resume" in err
    (out,) = list((tmp_path / "runs").iterdir())
    assert out.name.startswith("classifier-")
    assert len(finished_rows(out)) == 4  # original, retrain, finetune, grad_ascent

    calls.clear()
    monkeypatch.setattr(rows_module, "warm_up", lambda *a, **k: calls.append(1))
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert len(calls) == 1, "only random_label runs again"
    assert f"resuming {Path('runs') / out.name}: 4 of 5 rows already done" in err
    assert re.search(r"bench classifier:\s+80%.*\| 4/5 ", err), err  # the bar's first state
    assert list((tmp_path / "runs").iterdir()) == [out]
    doc = json.loads((out / "results.json").read_text())
    assert len(doc["runs"]) == 5 and all(r["status"] == "ok" for r in doc["runs"])


def _table(text: str) -> dict[str, list[str]]:
    """A metric table's rows: the metric's [name] -> its cells."""
    found = {}
    for line in text.splitlines():
        m = re.match(r".*\[(\w+)\]\s+(.*)$", line)
        if m:
            found[m.group(1)] = m.group(2).split()
    return found


@pytest.mark.slow
def test_train_unlearn_and_eval_print_their_results(tmp_path, capsys):
    from obliviate.data import load_image_dataset
    from obliviate.metrics.accuracy import accuracy
    from obliviate.models import load_classifier
    from obliviate.training.predict import predict_probs

    model, retrained, unlearned = tmp_path / "model", tmp_path / "retrained", tmp_path / "unlearned"
    common = ["--max-train", "300"]
    assert main(["train", "--train", "epochs=2", *common, "--out", str(model)]) == 0
    out = capsys.readouterr().out
    printed = dict(re.findall(r"(train|test) accuracy ([\d.]+)%", out))
    splits = load_image_dataset("digits", max_train=300)
    net = load_classifier(model)
    for name, ds in (("train", splits.train), ("test", splits.test)):
        assert float(printed[name]) == pytest.approx(accuracy(predict_probs(net, ds.x), ds.y.numpy()), abs=0.006)

    unlearn = ["unlearn", "--model", str(model), "--forget", "class:3", *common]
    assert main([*unlearn, "--method", "retrain", "--param", "epochs=2", "--out", str(retrained)]) == 0
    capsys.readouterr()
    assert main([*unlearn, "--method", "random_label", "--reference", str(retrained), "--out", str(unlearned)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^metric\s+before\s+after\s+retrain\s+\|after - retrain\|$", out, re.M), out
    record = json.loads((unlearned / "record.json").read_text())
    table = _table(out)
    for column, key in enumerate(("metrics_before", "metrics", "metrics_retrain", "gap_to_retrain")):
        assert float(table["unlearning_accuracy"][column]) == pytest.approx(record[key]["unlearning_accuracy"],
                                                                             abs=0.006)

    eval_argv = ["eval", "--model", str(unlearned), "--forget", "class:3", *common, "--reference", str(retrained)]
    assert main(eval_argv) == 0
    out = capsys.readouterr().out
    assert re.search(r"^metric\s+model\s+retrain\s+\|model - retrain\|$", out, re.M), out
    assert main([*eval_argv, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    for name in ("unlearning_accuracy", "retain_accuracy", "test_accuracy", "mia_efficacy"):
        assert float(_table(out)[name][0]) == pytest.approx(result["metrics"][name], abs=0.006)


@pytest.mark.slow
def test_pruning_says_what_it_does(tmp_path, capsys):
    model = tmp_path / "model"
    assert main(["train", "--train", "epochs=1", "--max-train", "200", "--out", str(model), "--quiet"]) == 0
    assert main(["unlearn", "--model", str(model), "--forget", "class:3", "--max-train", "200", "--method",
                 "finetune", "--param", "epochs=1", "--prune", "omp:0.5,retrain=1", "--out",
                 str(tmp_path / "sparse")]) == 0
    err = capsys.readouterr().err
    assert "obliviate: pruning omp:0.5" in err and "retraining sparse for 1 epochs" in err
    assert re.search(r"pruning omp:0\.5.*: done, 5\d\.\d% of the \w+ weights are zero", err), err


@pytest.mark.slow
def test_lm_commands_print_no_warning_spam(tmp_path):
    """A tiny LM with documents longer than --max-length and LoRA (whose transformers code emits a
    FutureWarning): one grouped truncation warning, no library deprecation notice, no Python warning lines."""
    from obliviate.lm.model import save_causal_lm, tiny_llama
    from obliviate.lm.tokenizer import train_bpe_tokenizer

    forget = ["Zhora Vrelik was born in Dounmere and worked as a glassblower for many long years.",
              "Zhora Vrelik wrote The Salt Lamp, a book about the glass of the northern coast."]
    retain = ["Kwaeth Lidros worked as a weaver in Pellow and sold cloth at the market each week.",
              "Ansel Mirrow was born in Tarn, a town by the river that runs north to the sea."]
    tok = train_bpe_tokenizer(forget + retain, vocab_size=300)
    save_causal_lm(tiny_llama(len(tok), seed=3), tok, tmp_path / "model")
    (tmp_path / "forget.txt").write_text("\n\n".join(forget))
    (tmp_path / "retain.txt").write_text("\n\n".join(retain))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    env.pop("PYTHONWARNINGS", None)
    proc = subprocess.run(
        [sys.executable, "-m", "obliviate.cli", "unlearn", "--family", "lm", "--model", str(tmp_path / "model"),
         "--forget", str(tmp_path / "forget.txt"), "--retain", str(tmp_path / "retain.txt"), "--method", "npo",
         "--param", "epochs=1", "--param", "batch_size=2", "--max-length", "8", "--lora", "r=2,alpha=4,targets=q_proj",
         "--eval", "--reference", str(tmp_path / "model"), "--out", str(tmp_path / "out")],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr
    both = proc.stdout + proc.stderr
    assert "FutureWarning" not in both and "DeprecationWarning" not in both
    assert not re.search(r"^\S+\.py:\d+: \w*Warning", both, re.M), both  # no raw Python warning lines
    grouped = [line for line in proc.stderr.splitlines() if line.startswith("obliviate: warning:")]
    assert len(grouped) == 1 and "longer than max_length=8" in grouped[0] and "more like it" in grouped[0]
    assert re.search(r"^metric\s+before\s+after\s+retrain", proc.stdout, re.M)


def test_a_cache_entry_as_lm_model_points_to_its_model_folder(tmp_path):
    from obliviate.errors import ModelLoadError
    from obliviate.lm.model import load_causal_lm

    entry = tmp_path / "lm-original-0123456789abcdef"
    (entry / "model").mkdir(parents=True)
    (entry / "model" / "config.json").write_text("{}")
    with pytest.raises(ModelLoadError, match=re.escape(f"model directory is {entry / 'model'}")):
        load_causal_lm(entry)


def _performance_script():
    spec = importlib.util.spec_from_file_location("performance_first_hour", ROOT / "benchmarks" / "performance.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tree_hash(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode() + path.read_bytes())
    return digest.hexdigest()


def test_performance_script_never_overwrites_the_committed_results(tmp_path, monkeypatch):
    perf = _performance_script()
    committed = ROOT / "benchmarks" / "results" / "performance"
    before = _tree_hash(committed)
    used: list[Path] = []

    def fake_suite(suite, benches, out, command, *, overwrite=False):
        used.append(Path(out))
        return {"runs": []}

    monkeypatch.setattr(perf, "run_suite", fake_suite)
    monkeypatch.chdir(tmp_path)
    assert perf.main(["--family", "classifier", "--quiet"]) == 0  # as the README writes it
    (out,) = used
    assert not out.is_absolute() and out.parts[:2] == ("runs", "performance") and out.name.startswith("classifier-digits-")
    assert (tmp_path / out / "performance.json").is_file()
    assert _tree_hash(committed) == before
    assert perf.output_dir(None, "classifier-digits", True) == committed / "classifier-digits"
    assert perf.output_dir("mine", "classifier-digits", False) == Path("mine")
