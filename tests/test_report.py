"""Tests for obliviate.report (summary statistics, text table, HTML report and plots)."""

from __future__ import annotations

import copy
import html
import json
import math
from pathlib import Path

import jsonschema
import pytest

from obliviate.report import STD_NOTE, format_table_text, summarize, write_report

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = Path(__file__).with_name("data") / "sample_results.json"
SCHEMA = ROOT / "src" / "obliviate" / "schema" / "results.schema.json"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
METHODS = ("original", "retrain", "finetune", "grad_ascent", "random_label")


@pytest.fixture()
def results() -> dict:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


def _validate(doc: dict) -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(doc)


def _entry(summary: list[dict], spec: str, method: str) -> dict:
    (hit,) = [e for e in summary if e["forget_spec"] == spec and e["method"] == method]
    return hit


def _lm_row(**over: object) -> dict:
    row = {
        "family": "lm",
        "task": {"dataset": "muse_news", "scenario": "documents", "forget_size": 889, "retain_size": 1777},
        "method": {"name": "npo", "params": {"beta": 0.1}},
        "seed": 0,
        "status": "ok",
        "error": None,
        "seconds": 412.5,
        "retrain_seconds": None,
        "metrics": {"verbmem_forget": 12.3, "knowmem_forget": 30.1, "knowmem_retain": 41.0, "privleak": -5.2,
                    "utility": None},
        "gap_to_retrain": {"verbmem_forget": 2.1, "average": None},
    }
    row.update(over)
    return row


# ------------------------------------------------------------------------------------------------
# fixture


def test_fixture_validates_against_schema(results: dict) -> None:
    _validate(results)
    runs = results["runs"]
    assert {r["method"]["name"] for r in runs} == set(METHODS)
    assert {r["task"]["forget_spec"] for r in runs} == {"random:0.1", "class:3"}
    assert {r["seed"] for r in runs} == {0, 1, 2}
    failed = [r for r in runs if r["status"] == "failed"]
    assert len(failed) == 1 and failed[0]["error"]


# ------------------------------------------------------------------------------------------------
# summarize


def test_summarize_finetune_random_by_hand(results: dict) -> None:
    e = _entry(summarize(results), "random:0.1", "finetune")
    assert (e["family"], e["dataset"], e["n_seeds"], e["seeds"]) == ("classifier", "cifar10", 3, [0, 1, 2])
    # UA per seed 0.60, 0.70, 0.80 -> mean 0.70, sample std sqrt((0.1^2 + 0 + 0.1^2) / 2) = 0.1
    assert e["metrics"]["unlearning_accuracy"]["mean"] == pytest.approx(0.70)
    assert e["metrics"]["unlearning_accuracy"]["std"] == pytest.approx(math.sqrt(0.02 / 2)) == pytest.approx(0.1)
    # RA 99.88, 99.91, 99.85 -> mean 99.88; deviations 0, .03, -.03 -> std sqrt(0.0018/2) = 0.03
    assert e["metrics"]["retain_accuracy"]["mean"] == pytest.approx(99.88)
    assert e["metrics"]["retain_accuracy"]["std"] == pytest.approx(math.sqrt(0.0018 / 2))
    # extra MIA keys are summarised too: mia_prob 2.73, 2.98, 2.64 -> mean 8.35 / 3
    assert e["metrics"]["mia_prob"]["mean"] == pytest.approx(8.35 / 3)
    # seconds 75, 78, 72 -> mean 75, sample std sqrt(18/2) = 3
    assert e["seconds"]["mean"] == pytest.approx(75.0)
    assert e["seconds"]["std"] == pytest.approx(3.0)
    # time ratio 75/1512.4, 78/1498.7, 72/1530.1
    ratios = [75 / 1512.4, 78 / 1498.7, 72 / 1530.1]
    mean = sum(ratios) / 3
    assert e["time_ratio"]["mean"] == pytest.approx(mean)
    assert e["time_ratio"]["std"] == pytest.approx(math.sqrt(sum((r - mean) ** 2 for r in ratios) / 2))
    # gap of UA to retrain (5.16, 5.31, 5.24): 4.56, 4.61, 4.44 -> mean 4.5366..
    assert e["gap_to_retrain"]["unlearning_accuracy"]["mean"] == pytest.approx((4.56 + 4.61 + 4.44) / 3)
    # average gap per seed: (4.56+.12+.15+10.01)/4=3.71, (4.61+.09+.24+10.07)/4=3.7525, (4.44+.13+.20+10.27)/4=3.76
    avg = [3.71, 3.7525, 3.76]
    assert e["gap_to_retrain"]["average"]["mean"] == pytest.approx(sum(avg) / 3)
    m = sum(avg) / 3
    assert e["gap_to_retrain"]["average"]["std"] == pytest.approx(math.sqrt(sum((a - m) ** 2 for a in avg) / 2))


def test_summarize_groups_order_and_failed_rows(results: dict) -> None:
    summary = summarize(results)
    assert len(summary) == 10  # 2 forget specs x 5 methods
    spec_rows = [e["method"] for e in summary if e["forget_spec"] == "class:3"]
    assert spec_rows[:2] == ["retrain", "original"]  # references first
    ga = _entry(summary, "class:3", "grad_ascent")
    assert ga["n_seeds"] == 2 and ga["seeds"] == [0, 1]  # the failed seed 2 is left out
    retrain = _entry(summary, "random:0.1", "retrain")
    assert retrain["time_ratio"]["mean"] == pytest.approx(1.0)
    assert retrain["gap_to_retrain"]["average"] == {"mean": 0.0, "std": 0.0, "n": 3}
    original = _entry(summary, "random:0.1", "original")
    assert original["seconds"]["mean"] == 0.0 and original["gap_to_retrain"]["average"]["mean"] > 0


def test_summarize_single_seed_none_values_and_missing_retrain_time() -> None:
    doc = {"runs": [_lm_row(), _lm_row(seed=1, status="failed", error="boom", metrics={})]}
    (e,) = summarize(doc)
    assert e["n_seeds"] == 1
    assert e["metrics"]["verbmem_forget"] == {"mean": 12.3, "std": 0.0, "n": 1}
    assert "utility" not in e["metrics"] and "utility" in e["metric_keys"]  # all None -> no stats
    assert e["time_ratio"] is None  # retrain_seconds is None
    assert "average" not in e["gap_to_retrain"]
    assert summarize({"runs": []}) == []


# ------------------------------------------------------------------------------------------------
# text table


def test_format_table_text(results: dict) -> None:
    text = format_table_text(results)
    assert "classifier · cifar10 · random:0.1" in text and "classifier · cifar10 · class:3" in text
    header = next(line for line in text.splitlines() if line.startswith("Method"))
    assert [c.strip() for c in header.split("|")] == ["Method", "UA", "RA", "TA", "MIA", "Avg.Gap", "Time ratio"]
    for method in METHODS:
        assert method in text
    assert "0.70 ± 0.10" in text  # finetune UA on random:0.1 (sample std)
    assert STD_NOTE in text
    assert "*" in next(line for line in text.splitlines() if line.startswith("finetune"))  # best avg gap
    assert "1 failed run" in text
    # fixed width: every row of a table has the same separator positions
    rows = [line for line in text.split("\n\n")[0].splitlines() if "|" in line]
    assert len(rows) == 6  # header + 5 methods
    assert len({tuple(i for i, ch in enumerate(line) if ch == "|") for line in rows}) == 1


# ------------------------------------------------------------------------------------------------
# HTML report


@pytest.mark.slow
def test_write_report_files_and_content(results: dict, tmp_path: Path) -> None:
    report = write_report(results, tmp_path / "out")
    assert report == tmp_path / "out" / "report.html"
    html_text = report.read_text(encoding="utf-8")
    pngs = sorted((tmp_path / "out" / "plots").glob("*.png"))
    assert len(pngs) == 6  # 2 groups x (UA/RA scatter, time ratio, average gap)
    for png in pngs:
        data = png.read_bytes()
        assert len(data) > 1000 and data.startswith(PNG_MAGIC)
        assert f'src="plots/{png.name}"' in html_text
    assert not [p for p in (tmp_path / "out").rglob("*") if p.name.startswith(".")]  # no temp files left
    for method in METHODS:
        assert f">{method}<" in html_text
    assert "Failed runs" in html_text and "loss became nan at epoch 3 step 141" in html_text
    for needle in ("suite: classifier", "2025-05-14T09:31:07+00:00", "obliviate bench --suite classifier",
                   "3f9c2a7d41be", "2.13.0+cpu", "cpu (x86_64)"):
        assert needle in html_text
    assert 'class="best"' in html_text and 'class="closest"' in html_text
    assert "http://" not in html_text and "https://" not in html_text and "<script" not in html_text
    # rewriting into the same directory replaces the files in place
    assert write_report(results, tmp_path / "out") == report


def test_fixture_text_equals_golden(results: dict) -> None:
    """The text tables of the fixture, saved before the report became a package (regenerate
    tests/data/sample_report.txt only for an intended change of the tables)."""
    assert format_table_text(results) == (FIXTURE.parent / "sample_report.txt").read_text(encoding="utf-8")


@pytest.mark.slow
def test_fixture_html_equals_golden(results: dict, tmp_path: Path) -> None:
    """The fixture's report.html, byte for byte as before the report became a package (its footer
    names the new module); regenerate tests/data/sample_report.html only for an intended change."""
    report = write_report(results, tmp_path)
    assert report.read_bytes() == (FIXTURE.parent / "sample_report.html").read_bytes()
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == [
        f"g{g}-classifier-cifar10-{spec}-{kind}.png" for g, spec in ((1, "random-0-1"), (2, "class-3"))
        for kind in ("avg_gap", "time_ratio", "ua_ra")
    ]


@pytest.mark.slow
def test_write_report_escapes_html(results: dict, tmp_path: Path) -> None:
    evil = "<script>alert('x')</script>"
    extra = []
    for row in results["runs"]:
        if row["method"]["name"] == "finetune":
            row = copy.deepcopy(row)
            row["method"]["name"] = evil
            extra.append(row)
    results["runs"] += extra
    results["runs"][-1]["status"] = "failed"
    results["runs"][-1]["error"] = "bad <b>markup</b> & more"
    results["command"] = "obliviate bench --note '<img src=x>'"
    report = write_report(results, tmp_path)
    text = report.read_text(encoding="utf-8")
    assert "<script" not in text and "<img src=x>" not in text and "<b>markup" not in text
    assert "&lt;img src=x&gt;" in text
    assert html.escape(evil, quote=True) in text
    assert "bad &lt;b&gt;markup&lt;/b&gt; &amp; more" in text


@pytest.mark.slow
def test_write_report_other_families_do_not_crash(results: dict, tmp_path: Path) -> None:
    results["suite"] = "quick"
    results["runs"] += [
        _lm_row(),
        _lm_row(seed=1, status="failed", error="CUDA out of memory", metrics={}),
        {
            "family": "clip",
            "task": {"dataset": "pacs", "scenario": "domain", "forget_size": 100, "retain_size": 900,
                     "forget_spec": "domain:sketch"},
            "method": {"name": "retrain", "params": {}},
            "seed": 0, "status": "ok", "seconds": 100.0, "retrain_seconds": 100.0,
            "metrics": {"mem": 1.0, "for": 2.0, "h": 3.0},
            "gap_to_retrain": {"mem": 0.0, "for": 0.0, "h": 0.0, "average": 0.0},
        },
    ]
    _validate(results)
    report = write_report(results, tmp_path)
    text = report.read_text(encoding="utf-8")
    assert "lm · muse_news · documents" in text and "npo" in text
    for label in ("VerbMem (forget)", "KnowMem (retain)", "PrivLeak", "Utility", "Mem", "For"):
        assert f"<th>{label}</th>" in text
    assert "CUDA out of memory" in text
    # the UA/RA scatter is classifier-only
    assert not list((tmp_path / "plots").glob("*lm*ua_ra*.png"))
    assert not list((tmp_path / "plots").glob("*clip*ua_ra*.png"))
    assert "npo" in format_table_text(results)


def test_write_report_empty_results(tmp_path: Path) -> None:
    report = write_report({"runs": []}, str(tmp_path / "empty"))
    assert "No successful runs" in report.read_text(encoding="utf-8")
    assert (tmp_path / "empty" / "plots").is_dir()
    assert format_table_text({"runs": []}).strip() == "(no successful runs)"
