"""The report tells the truth at a glance (issue 16, items 1-2), on small hand-written results:
no crown for a method no better than not unlearning, the all-tie note, the worst-case sign, the
CLIP winner by its headline metric without retrain wording, metrics that separate nothing, and
time ratios against a retrain time from another process."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from obliviate.bench.cache import PROCESS, cached_model
from obliviate.bench.rows import CACHED, MEASURED, result_row, retrain_timing
from obliviate.metrics import registry
from obliviate.metrics.registry import Metric, headline_metric, register_metric
from obliviate.report import format_table_text, summarize
from obliviate.report.cards import group_html, legend_html, table_html
from obliviate.report.columns import table_columns
from obliviate.report.stats import grouped
from obliviate.report.verdict import NO_BETTER, TIME_NOTE, no_better, ranking, winners
from obliviate.report.worst_case import SIGN_NOTE, format_worst_case_text, worst_case_comparison, worst_case_sections

SCHEMA = Path(__file__).resolve().parents[1] / "src" / "obliviate" / "schema" / "results.schema.json"
CLS = ("unlearning_accuracy", "retain_accuracy", "test_accuracy", "mia_efficacy")


def row(method: str, seed: int, avg: float | None, *, family: str = "classifier", spec: str = "random:0.1",
        metrics: dict[str, float] | None = None, seconds: float = 10.0, retrain_seconds: float | None = 100.0,
        timing: str | None = MEASURED, scenario: str = "random", **extra: Any) -> dict:
    """One ok row; classifier metrics default to ``avg`` in every column so the gap is easy to read."""
    out = {
        "family": family,
        "task": {"dataset": "toy", "scenario": scenario, "forget_size": 10, "retain_size": 90, "forget_spec": spec},
        "method": {"name": method, "params": {}},
        "seed": seed, "status": "ok", "error": None,
        "seconds": 100.0 if method == "retrain" else 0.0 if method == "original" else seconds,
        "retrain_seconds": retrain_seconds,
        "metrics": metrics if metrics is not None else {k: 50.0 + (avg or 0.0) for k in CLS},
        "gap_to_retrain": {} if avg is None else {"average": avg},
        **extra,
    }
    if timing is not None and retrain_seconds is not None:
        out["retrain_timing"] = timing
    return out


def doc(*rows: dict) -> dict:
    return {"runs": list(rows)}


def seeds(method: str, avgs: list[float], **kw: Any) -> list[dict]:
    return [row(method, s, a, **kw) for s, a in enumerate(avgs)]


def only_group(results: dict) -> list[dict]:
    ((_, entries),) = grouped(summarize(results))
    return entries


def text_line(text: str, method: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(f"{method} (n="))


def ratio_cell(text: str, method: str) -> str:
    return text_line(text, method).split("|")[-1].strip()


def main_table(family: str, entries: list[dict]) -> str:
    return table_html(family, entries, table_columns(family, entries), main=True)


def tr_of(table: str, method: str) -> str:
    return next(tr for tr in re.findall(r"<tr[^>]*>.*?</tr>", table) if f">{method}<" in tr)


# ------------------------------------------------------------------------------------------------
# 1. no better than not unlearning


def test_a_method_tied_with_the_original_is_never_best_nor_closest() -> None:
    """'finetune' has exactly the original's gaps (the digits random:0.1 case); 'scrub' is better on every
    seed; 'noisy' is lower on average but within the seeds' noise."""
    results = doc(*seeds("retrain", [0.0, 0.0, 0.0]), *seeds("original", [0.93, 0.90, 0.96]),
                  *seeds("finetune", [0.93, 0.90, 0.96]), *seeds("scrub", [0.50, 0.45, 0.55]),
                  *seeds("noisy", [0.10, 0.95, 1.50]))
    entries = only_group(results)
    rank = ranking("classifier", entries)
    assert rank is not None and rank.key == "average"
    assert no_better(entries, rank) == {"finetune", "noisy"}  # noisy: paired improvements 0.83, -0.05, -0.54
    assert winners(entries, rank) == {"scrub"}
    text = format_table_text(results)
    assert text_line(text, "finetune").endswith("†") is False  # the mark sits in the Avg.Gap cell
    assert "0.93 ± 0.03 †" in text_line(text, "finetune") and "*" not in text_line(text, "finetune")
    assert "0.50 ± 0.05 *" in text_line(text, "scrub")
    assert f"† {NO_BETTER}" in text
    table = main_table("classifier", entries)
    ft = tr_of(table, "finetune")
    assert ft.startswith('<tr class="nb">') and NO_BETTER in ft
    assert 'class="best"' not in ft and 'class="closest"' not in ft  # never best, never closest
    assert 'class="best"' in tr_of(table, "scrub")
    assert "Best here: <b>scrub</b>" in group_html(1, ("classifier", "toy", "random:0.1"), entries, results, [])


def test_one_seed_counts_any_improvement_and_a_tie_is_no_better() -> None:
    results = doc(row("retrain", 0, 0.0), row("original", 0, 2.0), row("same", 0, 2.0), row("better", 0, 1.99))
    entries = only_group(results)
    rank = ranking("classifier", entries)
    assert no_better(entries, rank) == {"same"} and winners(entries, rank) == {"better"}


def test_without_shared_seeds_the_means_must_differ_by_more_than_the_larger_std() -> None:
    results = doc(*seeds("retrain", [0.0, 0.0]), *seeds("original", [4.0, 6.0]),  # 5.0 ± 1.41
                  row("close", 5, 4.0), row("close", 6, 4.2),  # 4.1: 0.9 below, within 1.41
                  row("far", 5, 1.0), row("far", 6, 1.2))
    entries = only_group(results)
    rank = ranking("classifier", entries)
    assert no_better(entries, rank) == {"close"} and winners(entries, rank) == {"far"}


def test_every_method_tied_with_the_original_gives_no_winner_and_says_so() -> None:
    results = doc(*seeds("retrain", [0.0, 0.0]), *seeds("original", [0.93, 0.95]),
                  *seeds("finetune", [0.93, 0.95]), *seeds("random_label", [3.0, 4.0]))
    entries = only_group(results)
    text = format_table_text(results)
    assert "*" not in text
    assert "No method is better than not unlearning here" in text
    card = group_html(1, ("classifier", "toy", "random:0.1"), entries, results, [])
    assert '<p class="verdict warn"><b>No method is better than not unlearning here</b>' in card
    assert 'class="best"' not in card and "Best here" not in card
    assert card.count("No method is better than not unlearning here") == 1  # said once, not again in the notes


# ------------------------------------------------------------------------------------------------
# worst-case cards


def _worst_case_results(search: dict | None, spec: str = "worst_case:10", config: dict | None = None) -> dict:
    rows = []
    for s in (0, 1, 2):
        for method, rand, worst in (("original", 0.8, 0.07), ("finetune", 0.9 + 0.1 * s, 0.0), ("random_label", 15.0, 24.0 + s)):
            rows.append(row(method, s, rand, spec="random:10"))
            rows.append(row(method, s, worst, spec=spec, scenario="worst_case",
                            **({"search": search} if search is not None and method == "original" else {})))
    out = doc(*rows)
    if config is not None:
        out["config"] = config
    return out


def test_worst_case_sign_and_caption_agree_and_name_the_search_target(tmp_path: Path) -> None:
    results = _worst_case_results({"spec": "worst_case:10", "seconds": 3.0, "size": 10, "time_ratio": 0.3,
                                   "lower": "finetune"})
    (entry,) = worst_case_comparison(results, "classifier")
    assert entry["target"] == "finetune"
    ft = entry["methods"]["finetune"]
    assert ft["difference"]["mean"] == pytest.approx(-1.0)  # worst 0.0 - random 0.9/1.0/1.1: negative = easier
    assert ft["verdict"] == "easier" and entry["methods"]["random_label"]["verdict"] == "harder"
    (card,) = worst_case_sections(results, tmp_path, "classifier")
    assert html.escape(SIGN_NOTE, quote=True) in card
    assert "positive = the method ends farther from retrain on the worst-case set (harder for it)" in SIGN_NOTE
    assert "searched against <b>finetune</b>" in card and "finetune <b>(search target)</b>" in card
    assert "the worst-case set is <b>easier</b>, not harder, for it" in card
    assert "positive: the worst-case set is harder" not in card  # the old caption contradicted the sign
    assert "Search time / one retrain: ≈ 0.300 ± 0.000 (the search or the retrain was timed by another process" in card
    md = format_worst_case_text(results)
    assert "| finetune (search target) | 1.00 ± 0.10 | 0.00 ± 0.00 | -1.00 ± 0.10 | easier |" in md


def test_worst_case_search_ratio_timed_by_this_process_is_not_marked(tmp_path: Path) -> None:
    results = _worst_case_results({"spec": "worst_case:10", "seconds": 3.0, "size": 10, "time_ratio": 0.3,
                                   "lower": "finetune", "timing": MEASURED})
    (card,) = worst_case_sections(results, tmp_path, "classifier")
    assert "Search time / one retrain: 0.300 ± 0.000." in card and "≈" not in card


def test_worst_case_target_from_the_spec_else_the_run_config() -> None:
    (entry,) = worst_case_comparison(_worst_case_results(None, "worst_case:10,lower=random_label"))
    assert entry["target"] == "random_label"
    config = {"benches": [{"dataset": "toy", "worst_case_search": {"lower": "scrub"}}]}
    (entry,) = worst_case_comparison(_worst_case_results(None, config=config))
    assert entry["target"] == "scrub"
    (entry,) = worst_case_comparison(_worst_case_results(None))
    assert entry["target"] is None


# ------------------------------------------------------------------------------------------------
# groups without a retrain reference: the headline metric


def _clip(method: str, seed: int, h: float) -> dict:
    return row(method, seed, None, family="clip", spec="domain:any=1", retrain_seconds=None, timing=None,
               metrics={"mem": 90.0, "for": h, "h": h})


def test_clip_winner_by_the_headline_metric_and_no_retrain_wording() -> None:
    assert headline_metric("clip").name == "h"  # declared in the metric registry, not named by the report
    results = doc(*(_clip("original", s, 8.0 + s) for s in (0, 1)), *(_clip("domain_baseline", s, 60.0 + s) for s in (0, 1)),
                  *(_clip("adu", s, 75.0 + s) for s in (0, 1)))
    entries = only_group(results)
    rank = ranking("clip", entries)
    assert (rank.key, rank.lower_is_better) == ("h", False)
    assert winners(entries, rank) == {"adu"}
    text = format_table_text(results)
    header = next(line for line in text.splitlines() if line.startswith("Method"))
    assert [c.strip() for c in header.split("|")] == ["Method", "Mem", "For", "H"]  # no empty gap / ratio columns
    assert text_line(text, "adu").endswith("75.50 ± 0.71 *")
    assert "highest H" in text and "retrain" not in text
    legend = legend_html("clip", entries)
    assert "retrain" not in legend and "highest H" in legend
    table = main_table("clip", entries)
    assert "Avg. gap" not in table and "Time ratio" not in table
    assert re.search(r'<td class="best"><span class="val">75\.50 ± 0\.71</span>', tr_of(table, "adu"))
    card = group_html(1, ("clip", "toy", "domain:any=1"), entries, results, [])
    assert "Best here: <b>adu</b>: H 75.50 ± 0.71 (original, no unlearning: 8.50 ± 0.71)" in card


def test_the_headline_comes_from_the_registry_in_its_direction(monkeypatch: pytest.MonkeyPatch) -> None:
    registry.load_all()
    monkeypatch.setattr(registry, "_METRICS", dict(registry._METRICS))
    register_metric(Metric("err", "truthtoy", "Err", higher_is_better=False, standard=True, headline=True))
    results = doc(*(row(m, s, None, family="truthtoy", retrain_seconds=None, metrics={"err": v + s})
                    for m, v in (("original", 50.0), ("a", 20.0), ("b", 10.0)) for s in (0, 1)))
    entries = only_group(results)
    assert winners(entries, ranking("truthtoy", entries)) == {"b"}


# ------------------------------------------------------------------------------------------------
# metrics that separate nothing


def _lm(method: str, seed: int, privleak: float, avg: float) -> dict:
    metrics = {"verbmem_forget": avg, "knowmem_forget": avg, "knowmem_retain": 90.0 - avg / 10, "privleak": privleak,
               "utility": 90.0 - avg / 10}
    return row(method, seed, avg, family="lm", spec="documents:4", metrics=metrics)


def test_a_metric_equal_to_the_original_for_every_method_separates_nothing() -> None:
    leak = [94.77, 70.0, 119.0]
    results = doc(*(_lm("retrain", s, 0.0, 0.0) for s in range(3)), *(_lm("original", s, leak[s], 60.0) for s in range(3)),
                  *(_lm(m, s, leak[s], 20.0 + i) for i, m in enumerate(("npo", "simnpo", "whp")) for s in range(3)))
    text = format_table_text(results)
    assert "PrivLeak separates nothing here: every method has the original's value (94.59 ± 24.50)." in text
    card = group_html(1, ("lm", "toy", "documents:4"), only_group(results), results, [])
    assert "PrivLeak separates nothing here" in card
    table = main_table("lm", only_group(results))
    privleak_cells = [re.findall(r"<td[^>]*>", tr)[5] for tr in re.findall(r"<tr[^>]*>.*?</tr>", table)[1:]]
    assert all("closest" not in c for c in privleak_cells)  # a flat column marks no one closest


def test_a_metric_kept_at_the_original_by_some_methods_is_named_with_them() -> None:
    results = doc(*(_lm("retrain", s, 0.0, 0.0) for s in range(2)), *(_lm("original", s, 120.0 + s, 60.0) for s in range(2)),
                  *(_lm(m, s, 120.0 + s, 20.0) for m in ("npo_gdr", "simnpo") for s in range(2)),
                  *(_lm("dp2", s, -1.0, 9.0) for s in range(2)))
    text = format_table_text(results)
    assert "PrivLeak keeps the original's value (120.50 ± 0.71) for 2 of 3 methods: npo_gdr, simnpo." in text
    assert "separates nothing" not in text


# ------------------------------------------------------------------------------------------------
# 2. time ratios measured under different conditions


def test_ratios_against_a_cached_or_unrecorded_retrain_time_are_marked() -> None:
    results = doc(*seeds("retrain", [0.0, 0.0]), *seeds("original", [5.0, 5.0]),
                  *seeds("measured", [1.0, 1.1], timing=MEASURED), *seeds("cached", [2.0, 2.1], timing=CACHED),
                  *seeds("old", [3.0, 3.1], timing=None))
    text = format_table_text(results)
    assert ratio_cell(text, "measured") == "0.100 ± 0.000"
    assert ratio_cell(text, "cached") == "≈0.100 ± 0.000"
    assert ratio_cell(text, "old") == "≈0.100 ± 0.000"  # not recorded: cannot vouch for it
    assert "≈" not in text_line(text, "retrain") and "≈" not in text_line(text, "original")
    assert TIME_NOTE in text
    entries = only_group(results)
    table = main_table("classifier", entries)
    assert "≈ 0.100 ± 0.000×" in tr_of(table, "cached") and "≈" not in tr_of(table, "measured")
    assert html.escape(TIME_NOTE, quote=True) in legend_html("classifier", entries)
    assert "≈" not in format_table_text(doc(*seeds("retrain", [0.0]), *seeds("original", [5.0]),
                                            *seeds("measured", [1.0], timing=MEASURED)))


def test_rows_record_where_the_retrain_time_was_measured(tmp_path: Path) -> None:
    def save(model: dict, directory: Path, meta: dict) -> None:
        directory.mkdir(parents=True)
        (directory / "model.json").write_text(json.dumps({"model": model, "meta": meta}))

    def load(directory: Path) -> tuple[dict, dict]:
        data = json.loads((directory / "model.json").read_text())
        return data["model"], data["meta"]

    _, meta = cached_model(tmp_path, "retrain", {"k": 1}, lambda: {"w": 1}, save, load)
    assert meta["process"] == PROCESS and retrain_timing(meta) == MEASURED  # built (and timed) here
    _, again = cached_model(tmp_path, "retrain", {"k": 1}, lambda: {"w": 2}, save, load)
    assert retrain_timing(again) == MEASURED  # read back, but timed by this very process
    assert retrain_timing({**again, "process": "another-run"}) == CACHED
    assert retrain_timing({"seconds": 1.0}) == CACHED  # an entry from before the token: unknown
    evaluation = {"metrics": {"unlearning_accuracy": 1.0}, "gap_to_retrain": {"average": 1.0}}
    task = {"dataset": "toy", "scenario": "random", "forget_size": 1, "retain_size": 1}
    made = result_row("classifier", task, "finetune", {}, 0, evaluation, 2.0, 10.0, CACHED)
    assert made["retrain_timing"] == CACHED and made["time_ratio"] == pytest.approx(0.2)
    assert "retrain_timing" not in result_row("clip", task, "adu", {}, 0, evaluation, 2.0, None, MEASURED)
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate({**_minimal_doc(), "runs": [made]})
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema).validate({**_minimal_doc(), "runs": [{**made, "retrain_timing": "?"}]})


def _minimal_doc() -> dict:
    doc = json.loads((Path(__file__).with_name("data") / "sample_results.json").read_text(encoding="utf-8"))
    return {k: v for k, v in doc.items() if k != "runs"}
