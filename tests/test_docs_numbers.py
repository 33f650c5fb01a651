"""Every measured table in docs/*.md and README.md equals what benchmarks/docs_tables.py computes
from the results JSON its marker names; a table outside markers must be listed with a reason."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

from obliviate.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("docs_tables", ROOT / "benchmarks" / "docs_tables.py")
assert _spec is not None and _spec.loader is not None
docs_tables = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = docs_tables  # dataclasses look their module up there
_spec.loader.exec_module(docs_tables)

#: (file, header line) of tables that are not measurements from a results file, and why.
UNMEASURED = {
    ("docs/scale-out.md", "| file | what | tested here |"): "a list of config files",
    ("docs/scale-out.md", "| case | kill point | compared with an uninterrupted run |"): "test cases, no numbers measured",
    ("docs/scale-out.md", "| script | prints (and writes) |"): "a list of scripts",
    ("docs/worst-case.md", "| spec | what |"): "spec syntax",
    ("docs/recipes.md", "| file | family / bench | settings of |"): "a list of the shipped recipe files",
    ("docs/extending.md", "| extension | files you write | obliviate files you edit |"): "what each extension touches",
    # measured by tests, not by a bench: no results file exists for them (listed so that a new
    # measured table cannot slip in unmarked)
    ("docs/scale-out.md", "| method | max abs weight difference, 2 proc vs 1 | max abs weight change by unlearning |"):
        "one run of tests/test_distributed.py's job (the test asserts < 1e-4)",
    ("docs/scale-out.md", "| file | tests | wall | CPU (user, incl. subprocesses) |"): "test-suite timings",
}
SEPARATOR = re.compile(r"\|(\s*:?-+:?\s*\|)+")


def test_every_docs_table_equals_its_json() -> None:
    """Regenerates every marked table and compares the text: any number that differs fails."""
    stale, n_tables, n_numbers = docs_tables.update(docs_tables.doc_files(), check=True)
    print(f"docs tables checked against their JSON: {n_tables} tables, {n_numbers} numbers")
    assert not stale, f"tables differ from their JSON (run python benchmarks/docs_tables.py): {stale}"
    # a floor, so that losing the markers (or a kind that renders nothing) cannot pass silently
    assert n_tables >= 15 and n_numbers >= 1000


def test_every_table_is_generated_or_listed_as_unmeasured() -> None:
    unmarked = []
    for doc in docs_tables.doc_files():
        text = docs_tables.MARKER.sub("", doc.read_text(encoding="utf-8"))
        lines = text.splitlines()
        for line, nxt in zip(lines, lines[1:]):
            if line.startswith("|") and SEPARATOR.fullmatch(nxt.strip()):
                key = (str(doc.relative_to(ROOT)), line.strip())
                if key not in UNMEASURED:
                    unmarked.append(key)
    assert not unmarked, f"tables without a <!-- table: ... --> marker: {unmarked}"


def _row(method: str, seed: int, ua: float) -> dict:
    return {"family": "classifier", "status": "ok", "seed": seed, "seconds": 1.0, "retrain_seconds": 2.0,
            "task": {"dataset": "digits", "scenario": "random", "forget_spec": "random:0.1"},
            "method": {"name": method, "params": {}}, "metrics": {"unlearning_accuracy": ua},
            "gap_to_retrain": {"average": ua / 10}}


def _doc(tmp_path: Path, rows: str) -> Path:
    results = {"runs": [_row("retrain", 0, 1.0), _row("retrain", 1, 3.0),
                        _row("finetune", 0, 2.0), _row("finetune", 1, 6.0), _row("finetune", 2, 7.0)]}
    (tmp_path / "r.json").write_text(json.dumps(results))
    doc = tmp_path / "d.md"
    doc.write_text("text\n\n<!-- table: r.json kind=summary methods=retrain,finetune "
                   "cols=unlearning_accuracy@2,gap.average@1m,time_ratio@1 -->\n"
                   f"| method | UA | gap | time |\n|---|---|---|---|\n{rows}<!-- /table -->\nmore text\n")
    return doc


# UA: retrain 1, 3 -> 2.00 ± 1.41 (sample std, ddof=1); finetune 2, 6, 7 -> 5.00 ± 2.65
# (sqrt(((-3)^2 + 1 + 2^2) / 2) = sqrt(7)); gap means 0.2 and 0.5; time ratio 0.5 for every row.
RIGHT = "| retrain | 2.00 ± 1.41 | 0.2 | 0.5 ± 0.0 |\n| finetune | 5.00 ± 2.65 | 0.5 | 0.5 ± 0.0 |\n"


def test_a_correct_table_passes_and_uses_the_sample_std(tmp_path: Path) -> None:
    doc = _doc(tmp_path, RIGHT)
    assert docs_tables.update([doc], root=tmp_path, check=True) == ([], 1, 10)


def test_one_changed_number_fails_and_regenerating_fixes_it(tmp_path: Path) -> None:
    wrong = RIGHT.replace("2.65", "2.16")  # the population std (ddof=0) of 2, 6, 7
    doc = _doc(tmp_path, wrong)
    stale, _, _ = docs_tables.update([doc], root=tmp_path, check=True)
    assert stale == ["d.md:3"]
    assert "2.16" in doc.read_text()  # --check never writes
    docs_tables.update([doc], root=tmp_path)
    assert RIGHT in doc.read_text() and doc.read_text().endswith("<!-- /table -->\nmore text\n")
    assert docs_tables.update([doc], root=tmp_path, check=True)[0] == []


def test_a_missing_results_file_or_method_is_a_clear_error(tmp_path: Path) -> None:
    doc = _doc(tmp_path, RIGHT)
    doc.write_text(doc.read_text().replace("methods=retrain,finetune", "methods=retrain,salun"))
    with pytest.raises(ConfigError, match="salun"):
        docs_tables.update([doc], root=tmp_path, check=True)
    (tmp_path / "r.json").unlink()
    with pytest.raises(ConfigError, match="not found"):
        docs_tables.update([doc], root=tmp_path, check=True)
