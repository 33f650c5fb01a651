"""docs/extending.md's examples, each run as a plugin through `obliviate bench` and `obliviate report` in a
fresh process (so nothing registers into this test process's registries), without editing obliviate."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "extending.md"
EXAMPLE = re.compile(r"<!-- example: (\w+) -->\n```python\n(.*?)```", re.S)
#: small enough for seconds: 300 digits, 3 training epochs, one seed
SMALL = ["--max-train", "300", "--train", "epochs=3", "--seeds", "1"]


def examples() -> dict[str, str]:
    return dict(EXAMPLE.findall(DOC.read_text(encoding="utf-8")))


@pytest.fixture
def plugin_env(tmp_path):
    """Write every example as a module in tmp_path; the environment that imports the named ones."""
    for name, code in examples().items():
        (tmp_path / f"{name}.py").write_text(code, encoding="utf-8")

    def env(*plugins: str) -> dict[str, str]:
        path = os.pathsep.join([str(tmp_path), *sys.path])
        return {**os.environ, "PYTHONPATH": path, "OBLIVIATE_PLUGINS": ",".join(plugins),
                "OBLIVIATE_CACHE": str(tmp_path / "cache"), "OBLIVIATE_THREADS": "1"}

    return env


def obliviate(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "obliviate", *args], env=env, capture_output=True, text=True,
                          timeout=300)


def bench(env: dict[str, str], out: Path, *args: str) -> dict:
    done = obliviate(env, "bench", *args, "--out", str(out), "--quiet")
    assert done.returncode == 0, done.stderr
    report = (out / "report.html").read_text(encoding="utf-8")
    assert "<table" in report
    return json.loads((out / "results.json").read_text(encoding="utf-8"))


def rows(results: dict, method: str) -> list[dict]:
    found = [r for r in results["runs"] if r["method"]["name"] == method]
    assert found and all(r["status"] == "ok" for r in found), found
    return found


def test_the_doc_has_an_example_per_extension_point():
    assert set(examples()) == {"head_reset", "forget_confidence", "bars", "mlp", "mean_family"}


def test_method_example(plugin_env, tmp_path):
    env = plugin_env("head_reset")
    listed = obliviate(env, "ls", "methods", "-v")
    assert listed.returncode == 0 and "head_reset" in listed.stdout and "epochs (int, default 3)" in listed.stdout
    results = bench(env, tmp_path / "out", "classifier", "--forget", "class:3", "--methods", "retrain,head_reset",
                    *SMALL)
    (row,) = rows(results, "head_reset")
    # the head never sees class 3 again: its accuracy on the forgotten class collapses
    assert row["metrics"]["unlearning_accuracy"] > 80, row["metrics"]
    assert row["metrics"]["test_accuracy"] > 40, row["metrics"]


def test_metric_example(plugin_env, tmp_path):
    results = bench(plugin_env("forget_confidence"), tmp_path / "out", "classifier", "--forget", "random:0.1",
                    "--methods", "retrain,finetune", "--param", "finetune.epochs=1", *SMALL)
    (original,) = rows(results, "original")
    assert 0 < original["metrics"]["forget_confidence"] <= 100
    assert "forget_confidence" in original["gap_to_retrain"]
    standard = ("unlearning_accuracy", "retain_accuracy", "test_accuracy", "mia_efficacy")
    average = sum(original["gap_to_retrain"][k] for k in standard) / 4  # not in_gap: the average is unchanged
    assert original["gap_to_retrain"]["average"] == pytest.approx(average)
    assert "Conf (forget)" in (tmp_path / "out" / "report.html").read_text(encoding="utf-8")


def test_dataset_example(plugin_env, tmp_path):
    env = plugin_env("bars")
    assert "bars" in obliviate(env, "ls", "datasets").stdout
    results = bench(env, tmp_path / "out", "classifier", "--dataset", "bars", "--forget", "class:2",
                    "--methods", "retrain,finetune", "--train", "epochs=5", "--seeds", "1")
    (retrain,) = rows(results, "retrain")
    assert retrain["task"]["dataset"] == "bars" and retrain["task"]["forget_size"] > 100
    assert retrain["metrics"]["retain_accuracy"] > 80  # the bars are learnable


def test_model_example(plugin_env, tmp_path):
    env = plugin_env("mlp")
    args = ("classifier", "--model", "mlp", "--methods", "retrain,finetune", "--param", "finetune.epochs=1", *SMALL)
    first = bench(env, tmp_path / "out", *args)
    assert {r["task"]["model"] for r in first["runs"]} == {"mlp"}
    # a second bench reloads the cached original and reference (safetensors) through the plugin's class
    second = bench(env, tmp_path / "again", *args)
    pick = lambda doc: [(r["method"]["name"], r["metrics"]) for r in doc["runs"]]  # noqa: E731
    assert pick(first) == pick(second)


def test_family_example(plugin_env, tmp_path):
    env = plugin_env("mean_family")
    results = bench(env, tmp_path / "out", "mean", "--points", "500", "--seeds", "2")
    assert {r["family"] for r in results["runs"]} == {"mean"}
    assert all(r["gap_to_retrain"]["average"] < 1e-9 for r in rows(results, "downdate"))
    assert all(r["gap_to_retrain"]["average"] > 1e-3 for r in rows(results, "ignore"))
    report = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "mean · gaussian" in report and "Estimate" in report
    rerendered = obliviate(env, "report", str(tmp_path / "out" / "results.json"), "--out", str(tmp_path / "r"))
    assert rerendered.returncode == 0, rerendered.stderr
    wrong = obliviate(env, "bench", "mean", "--shots", "4", "--out", str(tmp_path / "x"))
    assert wrong.returncode == 2 and "unrecognized arguments: --shots" in wrong.stderr


def test_a_plugin_that_fails_to_import_is_a_clear_error(plugin_env):
    done = obliviate(plugin_env("no_such_plugin_module"), "ls", "methods")
    assert done.returncode == 2 and "plugin 'no_such_plugin_module'" in done.stderr and "Traceback" not in done.stderr
