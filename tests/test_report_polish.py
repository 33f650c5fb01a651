"""Report polish (issue 16 item 7): the one-seed subtitle, settings kept out of the metric columns,
every reference row marked, RESTOR's main table columns, scatter axis limits and overlapping points."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from obliviate.report import format_table_text, summarize, write_report
from obliviate.report.cards import group_html, seeds_text, table_html
from obliviate.report.columns import metric_columns, settings, table_columns
from obliviate.report.plots import axis_limits, spread
from obliviate.report.stats import grouped

RESTOR_METRICS = {"restor_true": 60.0, "restor_false": 20.0, "restor_neither": 20.0, "unaffected_true": 90.0,
                  "recovery": 0.5, "false_removed": 0.4, "perplexity": 30.0}


def _row(method: str, seed: int = 0, *, metrics: dict | None = None, dataset: str = "restor",
         family: str = "lm") -> dict:
    return {"family": family, "task": {"dataset": dataset, "forget_spec": "corrupted:8 people"},
            "method": {"name": method, "params": {}}, "seed": seed, "status": "ok", "error": None,
            "seconds": 2.0, "retrain_seconds": 4.0, "retrain_timing": "measured",
            "metrics": dict(metrics if metrics is not None else RESTOR_METRICS),
            "gap_to_retrain": {"restor_true": 1.0, "average": 1.0}}


def _restor_results(seeds: tuple[int, ...] = (0,)) -> dict:
    rows = []
    for seed in seeds:
        rows += [_row(m, seed) for m in ("retrain", "clean", "corrupted", "npo")]
        dp = {**RESTOR_METRICS, "dp_epsilon": 4.0 - seed * 0.01, "dp_noise_multiplier": 0.9}
        rows += [_row("dp2_base", seed, metrics=dp), _row("dp2", seed, metrics=dp)]
    return {"suite": "test", "runs": rows}


def _card(results: dict) -> str:
    ((key, entries),) = grouped(summarize(results))
    return group_html(1, key, entries, results, [])


def _head(table: str) -> list[str]:
    return re.findall(r"<th>([^<]*)</th>", table.split("</thead>")[0])


def test_one_seed_subtitle_is_singular() -> None:
    assert seeds_text([0]) == "seed <b>0</b>"
    assert seeds_text([0, 1, 2]) == "seeds <b>0, 1, 2</b>"
    assert seeds_text([]) == ""
    card = _card(_restor_results((0,)))
    assert "seed <b>0</b>" in card and "seeds <b>" not in card
    assert "seeds <b>0, 1</b>" in _card(_restor_results((0, 1)))


def test_dp_settings_are_no_metric_column_but_a_note() -> None:
    results = _restor_results((0, 1))
    ((key, entries),) = grouped(summarize(results))
    assert settings("lm", entries) == ["dp_epsilon", "dp_noise_multiplier"]
    every = metric_columns("lm", {k for e in entries for k in e["metric_keys"]}, "restor")
    assert "dp_epsilon" not in every and "dp_noise_multiplier" not in every and "perplexity" in every
    card = _card(results)
    for table in re.findall(r"<table>.*?</table>", card):
        assert not any("DP" in h or "dp_" in h for h in _head(table))
    note = re.search(r"Settings, not metrics[^<]*(.*?)</p>", card).group(0)
    assert "dp_epsilon" in note and "dp2_base 4.00 ± 0.01" in note and "npo" not in note
    assert "dp_epsilon" not in format_table_text(results)


def test_restor_references_are_grey_rows_with_a_tag() -> None:
    ((key, entries),) = grouped(summarize(_restor_results()))
    table = table_html("lm", entries, table_columns("lm", entries), main=True)
    rows = dict(re.findall(r'<tr( class="[a-z]+")?><td[^>]*>([a-z0-9_]+)', table)[i][::-1] for i in range(6))
    assert {m: rows[m] for m in ("retrain", "clean", "corrupted", "dp2_base")} == dict.fromkeys(
        ("retrain", "clean", "corrupted", "dp2_base"), ' class="ref"')
    assert rows["npo"] == "" and rows["dp2"] == ""
    assert 'data-tag="reference (clean)">clean' in table and 'data-tag="before unlearning">corrupted' in table


def test_restor_main_table_shows_its_standard_metrics() -> None:
    results = _restor_results()
    ((key, entries),) = grouped(summarize(results))
    assert table_columns("lm", entries) == ["restor_true", "restor_false", "unaffected_true", "recovery",
                                            "false_removed"]
    main = re.search(r"<table>.*?</table>", _card(results)).group(0)
    assert _head(main) == ["Method", "Seeds", "True (affected)", "False (affected)", "True (unaffected)",
                           "Recovery", "False removed", "Avg. gap", "Seconds", "Time ratio"]
    card = _card(results)
    assert "All metrics (7)" in card  # restor_neither and perplexity only in the folded table
    text = format_table_text(results)
    assert "True (affected)" in text and "perplexity" not in text


def test_other_lm_datasets_keep_the_family_set() -> None:
    muse = {"verbmem_forget": 1.0, "knowmem_forget": 2.0, "perplexity": 3.0}
    entries = summarize({"runs": [_row("npo", metrics=muse, dataset="bios")]})
    assert table_columns("lm", entries) == ["verbmem_forget", "knowmem_forget"]


@pytest.mark.parametrize(("means", "stds", "percent", "expect"), [
    ([99.85, 99.95, 100.0], [0.0, 0.09, 0.0], True, (99.85 - 0.12 * 0.15, 100.0 + 0.03 * 0.15)),
    ([0.0, 5.3], [0.0, 2.4], True, (-0.03 * 7.7, 7.7 + 0.12 * 7.7)),
    ([20.0, 80.0], [30.0, 30.0], True, (-3.0, 103.0)),
    ([99.85, 100.0], [0.0, 0.0], False, (99.85 - 0.12 * 0.15, 100.0 + 0.12 * 0.15)),
    ([-20.0, 150.0], [0.0, 0.0], True, (-20.0 - 0.12 * 170, 150.0 + 0.12 * 170)),  # not a 0..100 axis
    ([100.0, 100.0], [0.0, 0.0], True, (100.0 - 0.12, 100.03)),
])
def test_axis_limits_stop_a_percentage_axis_at_100(means, stds, percent, expect) -> None:
    lo, hi = axis_limits(means, stds, percent=percent)
    assert lo == pytest.approx(expect[0]) and hi == pytest.approx(expect[1])


def test_spread_moves_methods_off_a_reference_and_apart() -> None:
    # original (fixed) at the top-right corner, finetune and grad_ascent exactly on it, a far method alone
    pts = [(0.9, 0.1), (0.9, 0.1), (0.9, 0.1), (0.3, 0.6)]
    offsets, clusters = spread(pts, [1, 0, 0, 0])
    assert clusters == [[0, 1, 2]]
    assert offsets[0] == (0.0, 0.0) and offsets[3] == (0.0, 0.0)
    moved = [(pts[i][0] + offsets[i][0], pts[i][1] + offsets[i][1]) for i in (1, 2)]
    for p in moved:
        assert 0.0 < p[0] < 1.0 and 0.0 < p[1] < 1.0  # towards the middle, inside the axes
        assert ((p[0] - 0.9) ** 2 + (p[1] - 0.1) ** 2) ** 0.5 == pytest.approx(0.035)
    assert moved[0] != moved[1]
    assert spread(pts, [1, 0, 0, 0]) == (offsets, clusters)  # deterministic


def test_spread_keeps_retrain_and_moves_a_reference_under_it() -> None:
    offsets, clusters = spread([(0.95, 0.05), (0.95, 0.05)], [1, 2])  # original under retrain's star
    assert clusters == [[0, 1]] and offsets[1] == (0.0, 0.0) and offsets[0] != (0.0, 0.0)
    offsets, _ = spread([(0.5, 0.2), (0.5, 0.2)], [0, 0])  # two methods alone: both move, apart
    assert offsets[0] != (0.0, 0.0) and offsets[1] != (0.0, 0.0) and offsets[0] != offsets[1]


def test_scatter_names_the_shifted_points(tmp_path: Path) -> None:
    metrics = {"retain_accuracy": 100.0, "unlearning_accuracy": 0.0, "test_accuracy": 98.0, "mia_efficacy": 1.0}
    rows = [_row(m, metrics=metrics, dataset="digits", family="classifier") for m in ("original", "finetune")]
    rows.append(_row("retrain", metrics={**metrics, "unlearning_accuracy": 1.4}, dataset="digits", family="classifier"))
    report = write_report({"suite": "t", "runs": rows}, tmp_path)
    assert list((tmp_path / "plots").glob("*ua_ra.png"))
    assert "seed <b>0</b>" in report.read_text(encoding="utf-8")
