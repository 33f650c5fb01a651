"""Classifier bench scenarios: sequential requests, forget-size scaling and worst-case sets
(series row convention: task.series = {kind, id, x, x_label}, forget_spec unique per point)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from obliviate.classifier.bench import BenchSpec, ClassifierBench, run_classifier_bench
from obliviate.errors import ConfigError, ForgetSpecError
from obliviate.methods.classifier.finetune import Finetune

N_TRAIN = 300


def test_bench_specs_parse():
    scaling = BenchSpec.parse("scaling:10,1,5")
    assert scaling.kind == "scaling" and scaling.percents == (1.0, 5.0, 10.0)
    seq = BenchSpec.parse("sequential:3:class:2")
    assert seq.kind == "sequential" and seq.steps == 3 and seq.inner.spec == "class:2"
    assert BenchSpec.parse("sequential:4").inner.spec == "random:0.1"
    assert BenchSpec.parse("worst_case:50").inner.kind == "worst_case"
    for bad in ("scaling:", "scaling:0,5", "scaling:5,5", "scaling:a", "sequential:1", "sequential:x:random:0.1",
                "sequential:2:bogus:1"):
        with pytest.raises(ForgetSpecError):
            BenchSpec.parse(bad)


def _bench(tmp_path, forget, methods=("retrain", "finetune")) -> ClassifierBench:
    return ClassifierBench(
        dataset="digits", forget=list(forget), methods=list(methods), seeds=[0], max_train=N_TRAIN,
        cache_dir=str(tmp_path / "cache"), train={"epochs": 3}, mia_max_per_side=100,
        params={"finetune": {"epochs": 1}, "worst_case": {"outer_steps": 1}},
    )


def test_bad_specs_fail_before_training(tmp_path):
    with pytest.raises(ForgetSpecError, match="cannot arrive as 5 requests"):
        run_classifier_bench(_bench(tmp_path, ["sequential:5:random:3"]), tmp_path / "out")
    with pytest.raises(ForgetSpecError, match="cannot arrive as 4 requests"):  # a searched set, sized up front
        run_classifier_bench(_bench(tmp_path, ["sequential:4:worst_case:2"]), tmp_path / "out")
    with pytest.raises(ConfigError):
        run_classifier_bench(_bench(tmp_path, ["worst_case:400"]), tmp_path / "out")
    assert not (tmp_path / "cache").exists()


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory):
    """One small bench with every scenario; finetune's runs are recorded (data sizes, start weights)."""
    tmp = tmp_path_factory.mktemp("series")
    calls = []
    original_run = Finetune.run

    def recording_run(self, model, data, config, *, seed):
        start = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
        out = original_run(self, model, data, config, seed=seed)
        end = torch.cat([p.detach().flatten().clone() for p in out.parameters()])
        calls.append({"forget": len(data.forget), "retain": len(data.retain), "start": start, "end": end})
        return out

    Finetune.run = recording_run
    try:
        bench = _bench(tmp, ["scaling:5,10", "sequential:3:random:0.2", "worst_case:30"])
        rows = run_classifier_bench(bench, tmp / "out")
        rerun = run_classifier_bench(bench, tmp / "out")  # resumes: every row is stored
    finally:
        Finetune.run = original_run
    return rows, rerun, calls


def _pick(rows, kind=None, method=None):
    return [r for r in rows if (kind is None or (r["task"].get("series") or {}).get("kind") == kind)
            and (method is None or r["method"]["name"] == method)]


@pytest.mark.slow
def test_every_point_is_a_complete_row_with_a_unique_spec(bench_run):
    rows, _, _ = bench_run
    assert len(rows) == (2 + 3 + 1) * 3 and all(r["status"] == "ok" for r in rows)
    for r in rows:
        assert set(r["gap_to_retrain"]) >= {"average", "unlearning_accuracy"}
    for name in ("original", "retrain", "finetune"):
        specs = [r["task"]["forget_spec"] for r in rows if r["method"]["name"] == name]
        assert len(specs) == len(set(specs)) == 6


@pytest.mark.slow
def test_scaling_points_are_nested_and_grow(bench_run):
    rows, _, _ = bench_run
    points = _pick(rows, "scaling", "retrain")
    assert [r["task"]["series"]["x"] for r in points] == [5.0, 10.0]
    assert [r["task"]["forget_size"] for r in points] == [round(0.05 * N_TRAIN), round(0.10 * N_TRAIN)]
    assert {r["task"]["series"]["id"] for r in points} == {"scaling:5,10"}
    assert points[0]["task"]["series"]["x_label"] == "forget size (% of train)"
    assert [r["task"]["forget_spec"] for r in points] == ["scaling:5,10 @5%", "scaling:5,10 @10%"]
    assert [r["task"]["scenario"] for r in points] == ["scaling", "scaling"]


@pytest.mark.slow
def test_sequential_requests_chain_and_compare_with_a_reference_per_step(bench_run):
    rows, _, calls = bench_run
    refs = _pick(rows, "sequential", "retrain")
    sizes = [r["task"]["forget_size"] for r in refs]
    assert [r["task"]["series"]["x"] for r in refs] == [1, 2, 3] and sizes == [20, 40, 60]  # 60 = 20% of 300
    assert [r["task"]["retain_size"] for r in refs] == [N_TRAIN - 20, N_TRAIN - 40, N_TRAIN - 60]
    assert [r["task"]["forget_spec"] for r in refs][1] == "sequential:3:random:0.2 @2/3"
    # finetune calls in bench order: 2 scaling points, 3 requests, 1 worst-case
    seq = calls[2:5]
    assert [c["forget"] for c in seq] == [20, 20, 20]  # each request brings only its own fold
    assert [c["retain"] for c in seq] == [N_TRAIN - 20, N_TRAIN - 40, N_TRAIN - 60]
    assert torch.equal(seq[1]["start"], seq[0]["end"]) and torch.equal(seq[2]["start"], seq[1]["end"])
    assert not torch.equal(seq[0]["start"], seq[1]["start"])  # request 2 does not restart from the original
    assert torch.equal(calls[0]["start"], seq[0]["start"])  # scaling points and request 1 start from the original


@pytest.mark.slow
def test_worst_case_rows_record_the_search(bench_run):
    rows, _, _ = bench_run
    worst = [r for r in rows if r["task"]["scenario"] == "worst_case"]
    assert len(worst) == 3 and all(r["task"]["forget_size"] == 30 for r in worst)
    search = worst[0]["search"]
    assert search["spec"] == "worst_case:30" and search["seconds"] > 0
    assert search["time_ratio"] == pytest.approx(search["seconds"] / worst[0]["retrain_seconds"])


@pytest.mark.slow
def test_rerun_resumes_from_stored_rows(bench_run):
    rows, rerun, calls = bench_run
    assert len(calls) == 6  # the rerun ran nothing
    strip = lambda rs: [(r["task"]["forget_spec"], r["method"]["name"], r["metrics"]) for r in rs]  # noqa: E731
    assert strip(rows) == strip(rerun)
    assert np.isfinite([r["gap_to_retrain"]["average"] for r in rows]).all()
