"""The metric registry: every metric the shipped results files hold is declared, the average gap to
retrain averages exactly the ``in_gap`` metrics, labels and display order come from it, and the
report reads it (a toy family's metrics show with their labels and order)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from obliviate.errors import ObliviateError, UnknownNameError
from obliviate.metrics import gap_to_retrain, registry
from obliviate.metrics.registry import (
    Criterion, Metric, criteria, find_metric, gap_metrics, get_metric, judge, metric_label, register_metric,
    standard_metrics,
)
from obliviate.report import format_table_text

ROOT = Path(__file__).resolve().parent.parent
RESULTS = sorted(ROOT.glob("benchmarks/results/**/results.json")) + [ROOT / "tests" / "data" / "sample_results.json"]


def _rows():
    for path in RESULTS:
        for row in json.loads(path.read_text(encoding="utf-8")).get("runs", []):
            if row.get("status") == "ok":
                yield path, row


def _benchmark(row: dict) -> str:
    """The benchmark whose gap metrics the row's gap averages (RESTOR's and TOFU's have their own)."""
    dataset = row["task"].get("dataset")
    return dataset if dataset in ("restor", "tofu") else ""


def test_shipped_results_exist() -> None:
    assert len(RESULTS) > 10 and sum(1 for _ in _rows()) > 100


def test_every_emitted_metric_is_registered_for_its_family() -> None:
    missing = {(row["family"], key, path.parent.name) for path, row in _rows() for key in row.get("metrics") or {}
               if find_metric(key, row["family"]) is None}
    assert not missing


def test_stored_average_gaps_average_exactly_the_in_gap_metrics() -> None:
    """Recomputing every shipped row's average gap from its per-metric gaps over the registry's
    gap metrics (of its family and benchmark) gives the stored value: the registry is the gap's definition."""
    checked = {}
    for path, row in _rows():
        gaps = row.get("gap_to_retrain") or {}
        if gaps.get("average") is None:
            continue
        names = gap_metrics(row["family"], _benchmark(row))
        parts = [gaps[k] for k in names]
        assert sum(parts) / len(parts) == pytest.approx(gaps["average"], rel=1e-12, abs=1e-12), (path, row["method"])
        checked[(row["family"], _benchmark(row))] = checked.get((row["family"], _benchmark(row)), 0) + 1
    assert set(checked) == {("classifier", ""), ("lm", ""), ("lm", "restor"), ("lm", "tofu")}


def test_gap_to_retrain_defaults_to_the_classifier_gap_metrics() -> None:
    metrics = {m: 10.0 * i for i, m in enumerate(gap_metrics("classifier"), start=1)} | {"forget_accuracy": 0.0}
    reference = {m: 0.0 for m in metrics} | {"forget_accuracy": 50.0}  # not in the gap: must not count
    gaps = gap_to_retrain(metrics, reference)
    assert gaps["forget_accuracy"] == 50.0
    assert gaps["average"] == pytest.approx(25.0)  # (10 + 20 + 30 + 40) / 4
    assert all(get_metric(m, "classifier").in_gap for m in gap_metrics("classifier"))


def test_family_metric_sets_and_order() -> None:
    assert standard_metrics("classifier") == ("unlearning_accuracy", "retain_accuracy", "test_accuracy", "mia_efficacy")
    assert gap_metrics("classifier") == standard_metrics("classifier")
    assert standard_metrics("lm") == ("verbmem_forget", "knowmem_forget", "knowmem_retain", "privleak", "utility")
    assert gap_metrics("lm") == ("verbmem_forget", "knowmem_forget", "knowmem_retain", "privleak")
    assert get_metric("utility", "lm").same_as == "knowmem_retain"
    assert gap_metrics("lm", "restor") == ("restor_true", "restor_false", "unaffected_true")
    assert standard_metrics("clip") == ("mem", "for", "h") and gap_metrics("clip") == ()
    assert [m.criterion.name for m in criteria("lm")] == ["No VerbMem", "No KnowMem", "No privacy leak", "Utility kept"]
    assert get_metric("privleak", "lm").higher_is_better is None


def test_labels_and_patterns() -> None:
    assert [metric_label(m) for m in standard_metrics("classifier")] == ["UA", "RA", "TA", "MIA"]
    assert metric_label("forget_accuracy", "classifier") == "FA" and metric_label("mia_prob") == "MIA (prob)"
    assert metric_label("privleak", "lm") == "PrivLeak" and metric_label("h", "clip") == "H"
    assert metric_label("no_such_metric") == "no_such_metric"
    assert metric_label("mia_auc_min_k++_20", "lm") == "mia_auc_min_k++_20"  # a pattern labels with the emitted name
    assert find_metric("acc_photo_forgotten", "clip").name == "acc_<domain>_forgotten"
    assert find_metric("acc_photo", "clip").name == "acc_<domain>"
    assert find_metric("mia_auc_zlib", "classifier") is None
    with pytest.raises(UnknownNameError, match="unlearning_accuracy"):
        get_metric("unlearning_acc", "classifier")


def test_registration_rules() -> None:
    utility = get_metric("utility", "lm")
    assert register_metric(utility) is utility  # the same declaration again: no-op
    with pytest.raises(ObliviateError, match="already registered"):
        register_metric(Metric("utility", "lm", "Other"))
    with pytest.raises(ObliviateError, match="pattern"):
        Metric("x_<k>", "toy", in_gap=True)
    with pytest.raises(ObliviateError, match="direction"):
        Metric("x", "toy", higher_is_better=None, criterion=Criterion("c", "d"))


def test_judge_follows_direction_reference_and_band() -> None:
    lower = Metric("x", "toy", higher_is_better=False, criterion=Criterion("c", "d", tol=1e-9))
    assert judge(lower, 5.0, {"retrain": 5.0}) is True and judge(lower, 5.1, {"retrain": 5.0}) is False
    assert judge(lower, 5.0, {"original": 5.0}) is None and judge(lower, None, {"retrain": 1.0}) is None
    kept = Metric("y", "toy", criterion=Criterion("c", "d", against="original", factor=0.95))
    assert judge(kept, 95.0, {"original": 100.0}) is True and judge(kept, 94.9, {"original": 100.0}) is False
    band = Metric("z", "toy", higher_is_better=None, criterion=Criterion("c", "d", against=None, band=5.0))
    assert judge(band, -5.0, {}) is True and judge(band, 5.01, {}) is False


def test_the_report_reads_a_new_familys_metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    registry.load_all()
    monkeypatch.setattr(registry, "_METRICS", dict(registry._METRICS))
    register_metric(Metric("zeta", "toy", "Zeta", standard=True))
    register_metric(Metric("alpha", "toy", "Alpha", standard=True))
    row = {"family": "toy", "method": {"name": "m"}, "seed": 0, "status": "ok", "task": {"dataset": "d"},
           "metrics": {"alpha": 1.0, "zeta": 2.0, "other": 3.0}}
    header = format_table_text({"runs": [row]}).splitlines()[2]
    # no row has a gap or a time ratio: those columns are left out rather than shown empty
    assert [c.strip() for c in header.split(" | ")] == ["Method", "Zeta", "Alpha"]
