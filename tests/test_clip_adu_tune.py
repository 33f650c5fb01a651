"""benchmarks/clip_adu.py --tune: the grid, the validation-seed guard, scoring and the choice of weights."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from obliviate.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("clip_adu", ROOT / "benchmarks" / "clip_adu.py")
assert _spec is not None and _spec.loader is not None
clip_adu = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = clip_adu
_spec.loader.exec_module(clip_adu)


def _row(seed: int, h: float, mem: float, fo: float, status: str = "ok") -> dict:
    return {"method": {"name": "adu"}, "seed": seed, "status": status, "metrics": {"h": h, "mem": mem, "for": fo}}


def test_grid_crosses_every_weight_and_names_distinct_dirs() -> None:
    points = clip_adu.grid_points()
    assert len(points) == len(clip_adu.GRID["gamma"]) * len(clip_adu.GRID["mmd_weight"]) + len(clip_adu.EXTRA_POINTS)
    assert len({clip_adu.point_dir(p) for p in points}) == len(points)
    assert {"gamma": 0.0, "mmd_weight": 0.0} in points  # the no-DDL point is measured too


def test_validation_seeds_refuse_reported_seeds() -> None:
    assert clip_adu.validation_seeds("100,101") == [100, 101]
    for bad in ("10", "100,99", "100,100", "", "a"):
        with pytest.raises(ConfigError):
            clip_adu.validation_seeds(bad)


def test_point_score_means_over_seeds_and_keeps_each_seed() -> None:
    runs = [_row(101, 70.0, 80.0, 60.0), _row(100, 80.0, 90.0, 70.0),
            {"method": {"name": "original"}, "seed": 100, "status": "ok", "metrics": {"h": 5.0, "mem": 95.0, "for": 3.0}}]
    s = clip_adu.point_score(runs, {"gamma": 1.0, "mmd_weight": 0.1})
    assert (s["h"], s["mem"], s["for"]) == (75.0, 85.0, 65.0)
    assert s["h_per_seed"] == {"100": 80.0, "101": 70.0} and s["dir"] == "gamma_1_mmd_0.1"
    with pytest.raises(ConfigError):
        clip_adu.point_score([_row(100, 1.0, 1.0, 1.0, status="failed")], {"gamma": 1.0, "mmd_weight": 1.0})


def test_choose_takes_the_best_full_loss_point_even_when_a_zero_weight_point_scores_higher() -> None:
    points = [{"gamma": 0.0, "mmd_weight": 0.0, "h": 90.0}, {"gamma": 0.1, "mmd_weight": 1.0, "h": 80.0},
              {"gamma": 1.0, "mmd_weight": 0.1, "h": 85.0}, {"gamma": 1.0, "mmd_weight": 0.0, "h": 88.0}]
    assert clip_adu.choose(points) == points[2]
    with pytest.raises(ConfigError):
        clip_adu.choose(points[:1])


def test_collect_writes_the_study_from_finished_points_only(tmp_path: Path) -> None:
    import json

    done = {"gamma": 0.1, "mmd_weight": 0.01}, {"gamma": 0.0, "mmd_weight": 0.0}
    for point, h in zip(done, (70.0, 80.0)):
        d = tmp_path / "validation" / clip_adu.point_dir(point)
        d.mkdir(parents=True)
        (d / "results.json").write_text(json.dumps({"runs": [_row(100, h, 90.0, 60.0)]}))
    text = clip_adu.tune(tmp_path, [100], None, None, "cmd", collect=True)
    study = json.loads((tmp_path / "validation" / "study.json").read_text())
    assert study["chosen"]["gamma"] == 0.1 and study["best_any"]["gamma"] == 0.0  # no DDL is better, not chosen
    assert len(study["points"]) == 2 and len(study["not_run"]) == len(clip_adu.grid_points()) - 2
    assert "not run" in text and study["validation_seeds"] == [100]
    with pytest.raises(ConfigError, match="not the validation seeds"):
        clip_adu.tune(tmp_path, [101], None, None, "cmd", collect=True)


def test_collect_rows_builds_results_from_per_seed_rows_and_refuses_missing_ones(tmp_path: Path) -> None:
    import json

    from obliviate.clip.bench import ClipBench

    bench = ClipBench(seeds=[10, 11], forget=["domain:any=1"], methods=["adu"])
    rows = tmp_path / "rows"
    rows.mkdir()
    for seed in (11, 10):
        for name in ("adu", "original"):
            task = {"dataset": "digits", "scenario": "domain", "forget_spec": "domain:any=1", "model": "tiny-clip",
                    "forget_size": 160, "retain_size": 480}
            row = {"family": "clip", "task": task, "method": {"name": name, "params": {}},
                   "seed": seed, "status": "ok", "error": None, "seconds": 1.0, "retrain_seconds": None,
                   "time_ratio": None, "metrics": {"h": 50.0 + seed, "mem": 60.0, "for": 40.0}}
            (rows / f"{name}_s{seed}.json").write_text(json.dumps(row))
    doc = clip_adu.collect_rows(bench, tmp_path, "cmd")
    assert [(r["seed"], r["method"]["name"]) for r in doc["runs"]] == [(10, "original"), (10, "adu"), (11, "original"),
                                                                         (11, "adu")]
    assert json.loads((tmp_path / "results.json").read_text())["command"] == "cmd"
    (rows / "adu_s11.json").unlink()
    with pytest.raises(ConfigError, match="3 finished rows, 4 expected"):
        clip_adu.collect_rows(bench, tmp_path, "cmd")
