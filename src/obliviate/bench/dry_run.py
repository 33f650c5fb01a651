"""``obliviate bench --dry-run``: what a run would produce and train, and what that costs where the cache
knows it; nothing is trained or written."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from ..families import Bench
from .plan import Plan, PlannedModel, plan_of

__all__ = ["dry_run_text"]


def dry_run_text(benches: list[Bench], out_dir: Path | None = None) -> str:
    """The rows per bench, forget spec and method, the models each bench needs (cached or to train) and a
    time estimate: for a model to train, the recorded seconds of the cached models of the same bench and
    role (e.g. the seed-0 original for the seed-1 original); for the unlearning runs, the mean seconds of
    the same method's rows already in ``out_dir`` (an earlier run of it); else unknown."""
    lines: list[str] = []
    earlier = _row_seconds(Path(out_dir) / "rows") if out_dir is not None else {}
    n_rows = n_method_rows = 0
    row_seconds: list[float] = []
    unknown_rows = 0
    to_train: list[tuple[PlannedModel, float | None]] = []
    unplanned = 0
    for bench in benches:
        plan: Plan | None = plan_of(bench)
        if plan is None:
            unplanned += 1
            resolved = bench.resolved()
            lines += [f"bench {resolved.get('family', '?')}: "
                      + ", ".join(f"{k} {resolved[k]}" for k in ("dataset", "corpus", "model", "seeds") if k in resolved),
                      "  (this bench kind lists no plan: its rows and models are known once it runs)",
                      f"  methods: {', '.join(resolved.get('methods', {}))}", ""]
            continue
        lines.append(f"bench {plan.title}")
        by_spec: dict[str, list] = defaultdict(list)
        for rows in plan.rows:
            by_spec[rows.spec].append(rows)
        for spec, group in by_spec.items():
            cells = ", ".join(f"{r.method} {r.count}" + (" (reference)" if r.role == "reference" else "") for r in group)
            lines.append(f"  rows on {spec}: {sum(r.count for r in group)} = {cells}")
        n_rows += sum(r.count for r in plan.rows)
        for rows in plan.rows:
            if rows.role == "reference":
                continue
            n_method_rows += rows.count
            if rows.method in earlier:
                row_seconds.append(rows.count * earlier[rows.method])
            else:
                unknown_rows += rows.count
        estimates = _estimates(plan.models)
        for model in plan.models:
            if model.cached:
                seconds = model.seconds
                state = f"cached ({seconds:.1f} s to build)" if seconds is not None else "cached"
            else:
                estimate = estimates.get(model.role)
                state = "to train" + (f" (~{estimate:.1f} s)" if estimate is not None else " (time unknown)")
                to_train.append((model, estimate))
            lines.append(f"  {model.role:<9} {state:<28} {model.label}")
        lines += [f"  note: {note}" for note in plan.notes]
        lines.append("")
    lines.append(_totals(n_rows, n_method_rows, to_train, unplanned))
    if row_seconds:
        lines.append(f"unlearning runs: ~{sum(row_seconds):.0f} s for {n_method_rows - unknown_rows} of them (the "
                     f"mean seconds of the same method's rows already in {out_dir}), {unknown_rows} of unknown time")
    if out_dir is not None and (Path(out_dir) / "rows").is_dir():
        done = len(list((Path(out_dir) / "rows").glob("*.json")))
        lines.append(f"{out_dir} holds {done} stored row file(s) from an earlier run, reused where they match")
    lines.append("dry run: nothing was trained or written")
    return "\n".join(lines) + "\n"


def _row_seconds(rows_dir: Path) -> dict[str, float]:
    """method -> mean unlearning seconds of the finished rows stored in ``rows_dir``."""
    found: dict[str, list[float]] = defaultdict(list)
    for path in sorted(rows_dir.glob("*.json")) if rows_dir.is_dir() else []:
        try:
            row = json.loads(path.read_text(encoding="utf-8"))
            name, seconds = row["method"]["name"], row["seconds"]
        except (ValueError, KeyError, TypeError):
            continue
        if row.get("status") == "ok" and isinstance(seconds, (int, float)) and not isinstance(seconds, bool):
            found[name].append(float(seconds))
    return {name: sum(values) / len(values) for name, values in found.items()}


def _estimates(models: list[PlannedModel]) -> dict[str, float]:
    """role -> mean recorded seconds of the cached models of that role (the estimate for the others)."""
    seconds: dict[str, list[float]] = defaultdict(list)
    for model in models:
        if model.seconds is not None:
            seconds[model.role].append(model.seconds)
    return {role: sum(values) / len(values) for role, values in seconds.items()}


def _totals(n_rows: int, n_method_rows: int, to_train: list[tuple[PlannedModel, float | None]], unplanned: int) -> str:
    known = [s for _, s in to_train if s is not None]
    unknown = len(to_train) - len(known)
    text = f"total: {n_rows} rows ({n_method_rows} unlearning runs); "
    if not to_train:
        text += "every model is cached"
    else:
        text += f"{len(to_train)} model(s) to train"
        if known:
            text += f", ~{sum(known):.0f} s for {len(known)} of them (cached models' recorded seconds)"
        if unknown:
            text += f", {unknown} of unknown time (no cached model of the same role to go by)"
    if unplanned:
        text += f"; {unplanned} bench(es) not planned"
    return text
