"""Series rows (sequential requests, forget-size scaling) in the report: curves and tables."""

from __future__ import annotations

import math

import pytest

from obliviate.report import write_report
from obliviate.report.series import split_series, summarize_series


def _row(method: str, x: int, seed: int, ua: float, avg: float, kind: str = "sequential") -> dict:
    return {
        "family": "classifier", "method": {"name": method, "params": {}}, "seed": seed, "status": "ok",
        "task": {"dataset": "digits", "scenario": kind, "forget_size": 10 * x, "retain_size": 100,
                 "forget_spec": f"{kind}:3 @{x}/3",
                 "series": {"kind": kind, "id": f"{kind}:3", "x": x, "x_label": "request"}},
        "metrics": {"unlearning_accuracy": ua, "retain_accuracy": 99.0},
        "gap_to_retrain": {"average": avg}, "seconds": 1.0, "retrain_seconds": 10.0,
    }


def _results() -> dict:
    runs = [_row("retrain", x, s, 10.0, 0.0) for x in (1, 2, 3) for s in (0, 1)]
    runs += [_row("finetune", x, s, 2.0 * x + s, 4.0 - x + 2 * s) for x in (1, 2, 3) for s in (0, 1)]
    runs.append({**_row("finetune", 1, 0, 1, 1), "task": {"dataset": "digits", "scenario": "random",
                 "forget_size": 10, "retain_size": 100, "forget_spec": "random:0.1"}})
    return {"suite": "t", "runs": runs}


def test_split_and_summarize_series_by_x():
    plain, series = split_series(_results())
    assert [r["task"]["forget_spec"] for r in plain["runs"]] == ["random:0.1"]
    assert list(series) == [("classifier", "digits", "sequential:3")]
    summary = summarize_series(series[("classifier", "digits", "sequential:3")])
    assert summary["xs"] == [1.0, 2.0, 3.0] and summary["x_label"] == "request"
    ft = next(e for e in summary["points"][2.0] if e["method"] == "finetune")
    # seeds 0 and 1 at x=2: UA 4 and 5 -> mean 4.5, sample std sqrt(0.5); avg gap 2 and 4 -> 3 ± sqrt(2)
    ua, gap = ft["metrics"]["unlearning_accuracy"], ft["gap_to_retrain"]["average"]
    assert (ua["mean"], ua["n"], gap["mean"], gap["n"]) == (4.5, 2, 3.0, 2)
    assert math.isclose(ua["std"], 0.5 ** 0.5) and math.isclose(gap["std"], 2 ** 0.5)


@pytest.mark.slow
def test_report_draws_one_section_per_series(tmp_path):
    report = write_report(_results(), tmp_path)
    html = report.read_text()
    assert "sequential:3 (sustainability: sequential requests)" in html
    # finetune's average gap: x=1 seeds 3, 5; x=2 2, 4; x=3 1, 3
    assert "<td>finetune</td><td>4.00 ± 1.41</td><td>3.00 ± 1.41</td><td>2.00 ± 1.41</td>" in html
    assert "request = 3" in html
    assert "random:0.1" in html  # ordinary rows keep their table
    plots = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert any(name.startswith("s1-") for name in plots)
