"""Compare two results.json files row by row: the same rows (family, dataset, forget spec, method, seed,
status) and the same metric and gap values within a tolerance. Used for issue 15's acceptance ("behaviour
unchanged"): the quick suite run before and after a refactor, one thread, fixed seeds.

    python benchmarks/compare_results.py BEFORE/results.json AFTER/results.json [--rtol 1e-6] [--out FILE]

Exit status 1 when anything differs; the JSON summary lists every difference.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any


def row_key(row: dict[str, Any]) -> tuple:
    task = row.get("task", {})
    return (row.get("family"), task.get("dataset"), task.get("forget_spec"), task.get("prune"),
            row["method"]["name"], row.get("seed"))


def close(a: Any, b: Any, rtol: float, atol: float) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(float(a), float(b), rel_tol=rtol, abs_tol=atol)


def compare(before: dict, after: dict, rtol: float = 1e-6, atol: float = 1e-9) -> dict[str, Any]:
    old = {row_key(r): r for r in before["runs"]}
    new = {row_key(r): r for r in after["runs"]}
    diffs: list[dict[str, Any]] = []
    values = worst = 0
    for key in sorted(old.keys() & new.keys(), key=str):
        a, b = old[key], new[key]
        if a["status"] != b["status"]:
            diffs.append({"row": list(key), "field": "status", "before": a["status"], "after": b["status"]})
        for part in ("metrics", "gap_to_retrain"):
            x, y = a.get(part) or {}, b.get(part) or {}
            for name in sorted(x.keys() | y.keys()):
                values += 1
                if name not in x or name not in y or not close(x[name], y[name], rtol, atol):
                    diffs.append({"row": list(key), "field": f"{part}.{name}", "before": x.get(name),
                                  "after": y.get(name)})
                elif x[name] is not None and y[name] is not None:
                    worst = max(worst, abs(float(x[name]) - float(y[name])))
    return {
        "rows_before": len(old), "rows_after": len(new),
        "only_before": [list(k) for k in sorted(old.keys() - new.keys(), key=str)],
        "only_after": [list(k) for k in sorted(new.keys() - old.keys(), key=str)],
        "values_compared": values, "max_abs_difference": worst, "rtol": rtol, "atol": atol,
        "differences": diffs,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--rtol", type=float, default=1e-6)
    parser.add_argument("--atol", type=float, default=1e-9)
    parser.add_argument("--out", default=None, help="write the JSON summary here (a new file)")
    args = parser.parse_args(argv)
    load = lambda p: json.loads(Path(p).read_text(encoding="utf-8"))  # noqa: E731
    summary = {"before": args.before, "after": args.after,
               **compare(load(args.before), load(args.after), args.rtol, args.atol)}
    text = json.dumps(summary, indent=1)
    if args.out:
        out = Path(args.out)
        if out.exists():
            parser.error(f"{out} exists; choose a new file")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in summary.items() if k != "differences"} | {"differences": len(summary["differences"])}, indent=1))
    same = not (summary["differences"] or summary["only_before"] or summary["only_after"])
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
