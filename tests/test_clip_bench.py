"""The clip bench end to end on a tiny setting: rows, averaging over combinations, resume, CLI."""

from __future__ import annotations

import json

import pytest

from clip_support import one_torch_thread  # noqa: F401
from obliviate.clip.bench import ClipBench, _average
from obliviate.bench.run import run_suite
from obliviate.cli import main
from obliviate.errors import ConfigError

FAST = {"epochs": "1", "batch_size": "16"}


def _bench(tmp_path, **kw):
    args = dict(seeds=[0], shots=2, max_train=60, max_test=40, forget=["domain:sketch", "domain:any=2"],
                max_combinations=2, pretrain={"epochs": 1}, params={"domain_baseline": FAST, "adu": FAST},
                cache_dir=str(tmp_path / "cache"))
    return ClipBench(**{**args, **kw})


@pytest.mark.slow
def test_bench_rows_average_over_combinations_and_resume(tmp_path):
    bench = _bench(tmp_path)
    doc = run_suite("clip", [bench], tmp_path / "out")
    runs = doc["runs"]
    assert [(r["task"]["forget_spec"], r["method"]["name"]) for r in runs] == [
        ("domain:sketch", "original"), ("domain:sketch", "domain_baseline"), ("domain:sketch", "adu"),
        ("domain:any=2", "original"), ("domain:any=2", "domain_baseline"), ("domain:any=2", "adu")]
    assert all(r["family"] == "clip" and r["status"] == "ok" for r in runs)
    for r in runs:
        m = r["metrics"]
        assert {"mem", "for", "h"} <= set(m) and 0 <= m["h"] <= 100
        if m["mem"] + m["for"] > 0:
            harmonic = 2 * m["mem"] * m["for"] / (m["mem"] + m["for"])
            if len(r["task"]["combinations"]) == 1:
                assert m["h"] == pytest.approx(harmonic)
            else:  # the mean of per-combination H, at most H of the means (H is concave)
                assert m["h"] <= harmonic + 1e-9
    any2 = runs[3]["task"]
    assert len(any2["combinations"]) == 2 and any2["forget_size"] == 2 * 10 * 2
    assert runs[0]["task"]["combinations"] == ["sketch"]
    zs = runs[0]["method"]["params"]
    assert set(k for k in zs if k.startswith("zero_shot_acc_")) == {f"zero_shot_acc_{d}" for d in bench.domains}
    # the one-combination spec: sketch is forgotten, the rest memorised
    assert runs[1]["metrics"]["acc_sketch_memorised"] is None and runs[1]["metrics"]["acc_photo_forgotten"] is None
    assert (tmp_path / "out" / "report.html").is_file()
    assert list((tmp_path / "out" / "plots").glob("*-domains.png"))  # the per-domain accuracy plot
    again = run_suite("clip", [bench], tmp_path / "out")  # every row is reused
    assert [r["metrics"] for r in again["runs"]] == [r["metrics"] for r in runs]


def test_average_hand_case():
    results = [(("sketch",), {"mem": 80.0, "for": 60.0, "h": 68.0, "acc_photo": 90.0, "acc_sketch": 40.0}),
               (("photo",), {"mem": 70.0, "for": 50.0, "h": 58.0, "acc_photo": 50.0, "acc_sketch": 70.0})]
    avg = _average(results, ["photo", "sketch"])
    assert avg["mem"] == 75.0 and avg["for"] == 55.0 and avg["h"] == 63.0  # H is the mean of per-combination H
    assert avg["acc_sketch_forgotten"] == 40.0 and avg["acc_sketch_memorised"] == 70.0
    assert avg["acc_photo_forgotten"] == 50.0 and avg["acc_photo_memorised"] == 90.0


def test_bench_validation(tmp_path):
    with pytest.raises(ConfigError, match="not among --methods"):
        _bench(tmp_path, params={"scrub": {}}).validate()
    with pytest.raises(Exception, match="belongs to the classifier family"):
        _bench(tmp_path, methods=["finetune"], params={}).validate()
    with pytest.raises(Exception, match="unknown domain"):
        _bench(tmp_path, forget=["domain:skech"]).validate()
    with pytest.raises(Exception, match="does not exist"):
        _bench(tmp_path, model=str(tmp_path / "missing")).validate()


@pytest.mark.slow
def test_cli_bench_clip(tmp_path, capsys):
    argv = ["bench", "clip", "--seeds", "1", "--shots", "2", "--max-train", "40", "--forget", "domain:clipart",
            "--methods", "domain_baseline", "--param", "domain_baseline.epochs=1", "--train", "epochs=1",
            "--out", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache"), "--quiet"]
    assert main(argv) == 0
    doc = json.loads((tmp_path / "out" / "results.json").read_text())
    assert doc["suite"] == "clip" and {r["method"]["name"] for r in doc["runs"]} == {"original", "domain_baseline"}
    assert main(["bench", "clip", "--forget", "domain:nope", "--out", str(tmp_path / "x")]) == 2
    assert "unknown domain" in capsys.readouterr().err
    assert main(["unlearn", "--family", "clip", "--model", "m", "--method", "adu", "--forget", "domain:sketch",
                 "--out", str(tmp_path / "u")]) == 2


@pytest.mark.slow
def test_bench_with_a_users_clip_directory(tmp_path):
    from clip_support import random_backbone, small_data
    from obliviate.clip.model import save_clip

    save_clip(random_backbone(small_data()), tmp_path / "my-clip")
    bench = _bench(tmp_path, model=str(tmp_path / "my-clip"), forget=["domain:painting"], methods=["adu"],
                   params={"adu": FAST})
    runs = run_suite("clip", [bench], tmp_path / "out")["runs"]
    assert [r["method"]["name"] for r in runs] == ["original", "adu"] and runs[1]["status"] == "ok"
    assert runs[0]["method"]["params"]["pretrain_seconds"] is None and runs[1]["task"]["model"] == "my-clip"
