"""Regenerate every measured table in docs/*.md and README.md from the results JSON it comes from.

A generated table sits between two marker comments naming its source and how to render it:

    <!-- table: benchmarks/results/lm-bios20/results.json kind=summary methods=retrain,npo cols=privleak@1 -->
    | method | PrivLeak |            <- header and separator: kept as written (markdown kinds)
    |---|---|
    | retrain | 0.0 ± 0.0 |          <- regenerated from the JSON
    <!-- /table -->

Options are ``key=value`` words (shell quoting allowed). Kinds (``KINDS``):

* ``summary``: one row per method of one group of :func:`obliviate.report.summarize`
  (``spec=`` the forget spec, default the file's only group; ``methods=`` the rows in order, each
  ``[FILE:]NAME[=LABEL]`` with FILE the 1-based index of the marker's files;
  ``cols=`` the cells, each ``KEY@FORMAT``: KEY a metric name, ``gap.NAME`` (gap to retrain),
  ``time_ratio``, ``seconds`` or ``muse`` (MUSE criteria passed, n/4); FORMAT ``N`` = mean ± std
  with N decimals, ``Nm`` = mean only, ``a`` = mean ± std with the report's automatic decimals,
  ``s`` = mean only, three significant digits; ``g`` = mean ± std, each so).
* ``text``: the report's plain-text tables (:func:`~obliviate.report.format_table_text`), in a
  ``text`` code block.
* ``worst_case``: worst-case vs random average gaps (:mod:`obliviate.report.worst_case`) of
  ``worst=`` (the worst-case spec), rows ``methods=``.
* ``series``: the average gap at every point of the ``specs=`` series (separated by ``;``), rows
  ``methods=``.
* ``lm_sustain``: per method, the last point of ``scaling=`` and of ``sequential=`` (utility / average
  gap) and the utility after every request of the sequential series.
* ``clip``: :func:`benchmarks.clip_adu.summarise` of each file (``spec=`` keeps one forget spec,
  ``methods=`` the methods; with several files rows are prefixed with their directory's name).
* ``performance``: :func:`benchmarks.performance.summarise`: time ratio at every forget size, growth
  at the largest and the range of peak memory.
* ``claims``: the rows of ``benchmarks/results/claims/claims.json`` (``benchmarks/claims.py``).
* ``sweep``: rows ``rows=METHOD[:SETTING];...`` of sweep files (``benchmarks/sweep_classifier.py``), each
  from the first file that has it; the label cells (method, setting) stay as written.

Every ± is the sample standard deviation over seeds (ddof=1), as in the report.

    python benchmarks/docs_tables.py            # rewrite the tables in place
    python benchmarks/docs_tables.py --check    # exit 1 and name every table that differs
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import math
import re
import shlex
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from obliviate.lm.report import muse_verdicts
from obliviate.report import fmt_pm, summarize
from obliviate.report.series import split_series, summarize_series
from obliviate.report.worst_case import worst_case_comparison
from obliviate.errors import ConfigError
from obliviate.utils.io import atomic_write_text

ROOT = Path(__file__).resolve().parent.parent
MARKER = re.compile(r"^<!-- table: (?P<args>.+?) -->\n(?P<body>.*?)^<!-- /table -->$", re.M | re.S)
NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[+-]?\d+)?")


def doc_files(root: Path = ROOT) -> list[Path]:
    """The files whose tables are generated: README.md and docs/*.md."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


@dataclass(frozen=True)
class Table:
    """One marked table: where it is, its source files, kind and options, and the text between markers."""

    doc: Path
    line: int
    paths: tuple[Path, ...]
    kind: str
    options: dict[str, str]
    body: str


def find_tables(doc: Path, root: Path = ROOT) -> list[Table]:
    text = doc.read_text(encoding="utf-8")
    tables = []
    for m in MARKER.finditer(text):
        words = shlex.split(m["args"])
        if not words or "=" in words[0]:
            raise ConfigError(f"{doc}: a table marker must start with its results path: {m['args']!r}")
        options = dict(w.split("=", 1) for w in words[1:] if "=" in w)
        if "kind" not in options:
            raise ConfigError(f"{doc}: table marker without kind=: {m['args']!r}")
        kind = options.pop("kind")
        paths = tuple(root / p for p in words[0].split(","))
        tables.append(Table(doc, text.count("\n", 0, m.start()) + 1, paths, kind, options, m["body"]))
    return tables


def _load(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"results file not found: {path}")
    return json.loads(path.read_text(encoding="utf-8"))


def _names(value: str | None) -> list[str] | None:
    return None if value is None else [v.strip() for v in value.split(",") if v.strip()]


@functools.cache
def _script(name: str) -> ModuleType:
    """A sibling benchmark script as a module (its summarising helpers; nothing runs on import)."""
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", Path(__file__).with_name(f"{name}.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------------------------------------
# cell formats


def _significant(value: float) -> str:
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
        return f"{value:.1e}".replace("e+0", "e").replace("e+", "e").replace("e-0", "e-")
    digits = max(0, 2 - math.floor(math.log10(abs(value)))) if value else 0
    return f"{value:.{digits}f}"


def format_stat(stat: Mapping[str, float] | None, fmt: str) -> str:
    """A ``{"mean", "std"}`` statistic in a column format (see the module docstring)."""
    if not stat:
        return "-"
    if fmt == "a":
        return fmt_pm(stat)
    if fmt == "s":
        return _significant(stat["mean"])
    if fmt == "g":
        return f"{_significant(stat['mean'])} ± {_significant(stat['std'])}"
    if fmt.endswith("m"):
        return f"{stat['mean']:.{int(fmt[:-1])}f}"
    return fmt_pm(stat, int(fmt))


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


# ------------------------------------------------------------------------------------------------
# kinds: each returns the generated text and whether it replaces the whole body (else the rows only)


def _group(results: dict, spec: str | None) -> list[dict]:
    summary = summarize(results)
    specs = list(dict.fromkeys(e["forget_spec"] for e in summary))
    if spec is None and len(specs) != 1:
        raise ConfigError(f"several groups ({', '.join(specs)}): say spec=")
    want = spec or specs[0]
    entries = [e for e in summary if e["forget_spec"] == want]
    if not entries:
        raise ConfigError(f"no group {want!r} (have: {', '.join(specs)})")
    return entries


def _pick(entries: Sequence[dict], methods: list[str] | None, key: str = "method") -> list[dict]:
    if methods is None:
        return list(entries)
    by = {e[key]: e for e in entries}
    missing = [m for m in methods if m not in by]
    if missing:
        raise ConfigError(f"no ok rows for {', '.join(missing)}")
    return [by[m] for m in methods]


def _method_rows(results: list[dict], spec: str | None, methods: list[str] | None) -> list[tuple[str, dict, dict]]:
    """(label, summary entry, MUSE verdicts of its group) per ``[FILE:]NAME[=LABEL]`` (FILE: 1-based index
    into the table's files, default 1); every method of the first file when ``methods`` is None."""
    groups = [_group(doc, spec) for doc in results]
    if methods is None:
        return [(e["method"], e, muse_verdicts(groups[0])) for e in groups[0]]
    out = []
    for item in methods:
        name, _, label = item.partition("=")
        index, _, name = name.rpartition(":")
        if index and not (index.isdigit() and 1 <= int(index) <= len(groups)):
            raise ConfigError(f"method {item!r}: no file {index} (the table has {len(groups)})")
        entries = groups[int(index) - 1 if index else 0]
        out.append((label or name, _pick(entries, [name])[0], muse_verdicts(entries)))
    return out


def kind_summary(results: list[dict], opts: Mapping[str, str]) -> tuple[str, bool]:
    cols = [c.rsplit("@", 1) if "@" in c else (c, "a") for c in _names(opts.get("cols")) or []]
    rows = []
    for label, e, verdicts in _method_rows(results, opts.get("spec"), _names(opts.get("methods"))):
        cells = [label]
        for key, fmt in cols:
            if key == "muse":
                v = verdicts.get(e["method"])
                cells.append("-" if v is None else f"{sum(ok is True for ok in v.values())}/{len(v)}")
            elif key in ("time_ratio", "seconds"):
                cells.append(format_stat(e[key], fmt))
            elif key.startswith("gap."):
                cells.append(format_stat(e["gap_to_retrain"].get(key[4:]), fmt))
            else:
                cells.append(format_stat(e["metrics"].get(key), fmt))
        rows.append(_row(cells))
    return "\n".join(rows), False


def kind_text(results: list[dict], opts: Mapping[str, str]) -> tuple[str, bool]:
    from obliviate.report import format_table_text

    return "```text\n" + format_table_text(results[0]).rstrip("\n") + "\n```", True


def kind_worst_case(results: list[dict], opts: Mapping[str, str]) -> tuple[str, bool]:
    worst = opts.get("worst")
    found = [e for e in worst_case_comparison(results[0]) if e["worst_spec"] == worst]
    if len(found) != 1:
        raise ConfigError(f"worst={worst!r}: {len(found)} comparisons")
    methods = _names(opts.get("methods")) or list(found[0]["methods"])
    missing = [m for m in methods if m not in found[0]["methods"]]
    if missing:
        raise ConfigError(f"worst={worst!r}: no rows for {', '.join(missing)}")
    rows = []
    for name in methods:
        m = found[0]["methods"][name]
        diff = fmt_pm(m["difference"])
        rows.append(_row([name, fmt_pm(m["random"]), fmt_pm(m["worst"]), diff if diff.startswith("-") else "+" + diff]))
    return "\n".join(rows), False


def _series(results: dict, spec: str) -> dict[str, Any]:
    _, series = split_series(results)
    found = [rows for key, rows in series.items() if key[2] == spec]
    if len(found) != 1:
        raise ConfigError(f"series {spec!r}: {len(found)} found (have: {', '.join(k[2] for k in series)})")
    return summarize_series(found[0])


def _at(summary: Mapping[str, Any], x: float, method: str) -> dict | None:
    return next((e for e in summary["points"][x] if e["method"] == method), None)


def kind_series(results: list[dict], opts: Mapping[str, str]) -> tuple[str, bool]:
    rows = []
    for spec in [v.strip() for v in opts.get("specs", "").split(";") if v.strip()]:
        summary = _series(results[0], spec)
        for method in _names(opts.get("methods")) or []:
            cells = []
            for x in summary["xs"]:
                e = _at(summary, x, method)
                cells.append(format_stat(None if e is None else e["gap_to_retrain"].get("average"), "2"))
            rows.append(_row([spec, method, *cells]))
    return "\n".join(rows), False


def kind_lm_sustain(results: list[dict], opts: Mapping[str, str]) -> tuple[str, bool]:
    scaling, sequential = _series(results[0], opts["scaling"]), _series(results[0], opts["sequential"])

    def pair(e: dict | None) -> str:
        if e is None:
            return "-"
        return f"{format_stat(e['metrics'].get('utility'), '1m')} / {format_stat(e['gap_to_retrain'].get('average'), '1m')}"

    rows = []
    for method in _names(opts.get("methods")) or []:
        steps = [_at(sequential, x, method) for x in sequential["xs"]]
        utility = ", ".join("-" if e is None else format_stat(e["metrics"].get("utility"), "1m") for e in steps)
        rows.append(_row([method, pair(_at(scaling, scaling["xs"][-1], method)), pair(steps[-1]), utility]))
    return "\n".join(rows), False


def kind_clip(results: list[dict], opts: Mapping[str, str], paths: Sequence[Path] = ()) -> tuple[str, bool]:
    clip = _script("clip_adu")
    spec, methods = opts.get("spec"), _names(opts.get("methods"))
    lines: list[str] = []
    for i, doc in enumerate(results):
        runs = [r for r in doc["runs"] if (spec is None or r["task"]["forget_spec"] == spec)
                and (methods is None or r["method"]["name"] in methods)]
        label = f"{paths[i].parent.name}: " if len(results) > 1 else None
        table = clip.summarise(runs, label=label).splitlines()
        lines += table if not lines else table[2:]
    return "\n".join(lines), True


def kind_performance(results: list[dict], opts: Mapping[str, str]) -> tuple[str, bool]:
    summary = _script("performance").summarise(results[0]["runs"])
    methods = _names(opts.get("methods")) or [m for m in summary if m != "retrain"]
    rows = []
    for method in methods:
        cells = summary[method]
        xs = sorted(cells, key=float)
        peaks = [round(c["peak_memory_mb"]) for c in cells.values() if c.get("peak_memory_mb") is not None]
        peak = "-" if not peaks else (f"{min(peaks)}" if min(peaks) == max(peaks) else f"{min(peaks)}-{max(peaks)}")
        rows.append(_row([method, *(f"{cells[x]['time_ratio']:.3f}" for x in xs), f"{cells[xs[-1]]['growth']:.2f}x", peak]))
    return "\n".join(rows), False


def kind_sweep(results: list[dict], opts: Mapping[str, str], body: str = "") -> tuple[str, bool]:
    """Single-seed sweep rows; each row is found in the first file that has it, and keeps the label
    cells (method, setting) written in the doc, since settings are described in words there."""
    written = [line for line in body.splitlines() if line.startswith("|")][2:]
    rows = []
    for i, item in enumerate(v for v in (opts.get("rows") or "").split(";") if v.strip()):
        method, _, setting = item.strip().partition(":")
        want = dict(kv.split("=", 1) for kv in setting.split(",") if kv)
        found = []
        for doc in results:
            found = [e for e in doc["results"] if e["method"] == method and {k: str(v) for k, v in e["setting"].items()} == want]
            if found:
                break
        if len(found) != 1:
            raise ConfigError(f"sweep row {item!r}: {len(found)} matches")
        e = found[0]
        label = [c.strip() for c in written[i].strip().strip("|").split("|")][:2] if i < len(written) else [method, setting or "-"]
        rows.append(_row([*label, f"{e['unlearning_accuracy']:.1f}", f"{e['retain_accuracy']:.2f}",
                          f"{e['test_accuracy']:.2f}", f"{e['mia_efficacy']:.1f}", f"{e['avg_gap']:.2f}"]))
    return "\n".join(rows), False


def kind_claims(results: list[dict], opts: Mapping[str, str]) -> tuple[str, bool]:
    """The seed papers' claims re-measured (``benchmarks/claims.py``): paper, claim, our number, verdict, why."""
    return "\n".join(_row([c["paper"], c["claim"], c["number"], f"**{c['verdict']}**", c["reason"]])
                     for c in results[0]["claims"]), False


KINDS: dict[str, Callable[..., tuple[str, bool]]] = {
    "summary": kind_summary, "text": kind_text, "worst_case": kind_worst_case, "series": kind_series,
    "lm_sustain": kind_lm_sustain, "clip": kind_clip, "performance": kind_performance, "sweep": kind_sweep,
    "claims": kind_claims,
}


# ------------------------------------------------------------------------------------------------
# rendering and checking


def render(table: Table) -> str:
    """The body the table should have (ends with a newline), computed from its JSON."""
    if table.kind not in KINDS:
        raise ConfigError(f"{table.doc}:{table.line}: unknown kind {table.kind!r} (known: {', '.join(KINDS)})")
    results = [_load(p) for p in table.paths]
    fn = KINDS[table.kind]
    extra = {kind_clip: (table.paths,), kind_sweep: (table.body,)}.get(fn, ())
    text, whole = fn(results, table.options, *extra)
    if whole:
        return text + "\n"
    lines = table.body.splitlines()
    sep = next((i for i, line in enumerate(lines) if re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", line.strip())), None)
    if sep is None:
        raise ConfigError(f"{table.doc}:{table.line}: a {table.kind} table keeps its header: none found")
    return "\n".join(lines[: sep + 1]) + "\n" + text + "\n"


def count_numbers(text: str) -> int:
    """Numbers in the data rows of a rendered table (header and separator lines excluded)."""
    rows = [line for line in text.splitlines() if not re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", line.strip())]
    if rows and rows[0].startswith("|"):
        rows = rows[1:]
    return sum(len(NUMBER.findall(re.sub(r"[A-Za-z_]+[\w.:=-]*", " ", line))) for line in rows)


def update(docs: Sequence[Path], root: Path = ROOT, check: bool = False,
           skip_missing: bool = False) -> tuple[list[str], int, int]:
    """Regenerate (or with ``check`` only compare) every marked table of ``docs``: the tables that
    differ (``file:line``), the number of tables and of numbers in them. ``skip_missing`` leaves a
    table whose results file does not exist yet as it is (listed as ``file:line (missing)``)."""
    stale, n_tables, n_numbers = [], 0, 0
    for doc in docs:
        text = doc.read_text(encoding="utf-8")
        tables = iter(find_tables(doc, root))
        pieces, last = [], 0
        for m in MARKER.finditer(text):
            table = next(tables)
            if skip_missing and not all(p.is_file() for p in table.paths):
                stale.append(f"{doc.relative_to(root)}:{table.line} (missing)")
                continue
            body = render(table)
            n_tables += 1
            n_numbers += count_numbers(body)
            if body != table.body:
                stale.append(f"{doc.relative_to(root)}:{table.line}")
            pieces += [text[last:m.start("body")], body]
            last = m.end("body")
        new = "".join(pieces) + text[last:]
        if new != text and not check:
            atomic_write_text(doc, new)
    return stale, n_tables, n_numbers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 when a table differs")
    parser.add_argument("--skip-missing", action="store_true", help="leave tables whose results file is missing")
    args = parser.parse_args(argv)
    stale, n_tables, n_numbers = update(doc_files(), check=args.check, skip_missing=args.skip_missing)
    verb = "differ from their JSON" if args.check else "regenerated"
    print(f"{n_tables} tables, {n_numbers} numbers; {len(stale)} {verb}" + "".join(f"\n  {s}" for s in stale))
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
