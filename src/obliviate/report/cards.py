"""HTML building blocks of the report page: escaping, the results header, a group's tables and the
failed-runs card."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from .columns import label, metric_columns, table_columns
from .stats import STD_NOTE, GroupKey, argmins, best_average, closeness, group_key, group_title, method_name, runs
from .text import fmt_pm

__all__ = ["esc", "failed_html", "group_html", "header_html", "table_html"]


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def header_html(results: Mapping[str, Any], summary: Sequence[dict], n_failed: int) -> str:
    """The top card: suite, command, tool and environment, run counts."""
    tool = results.get("tool") if isinstance(results.get("tool"), Mapping) else {}
    env = results.get("environment") if isinstance(results.get("environment"), Mapping) else {}
    commit = tool.get("git_commit")
    version = esc(f"{tool.get('name', 'obliviate')} {tool.get('version', '?')}")
    if commit:
        version += f' <code title="{esc(commit)}">{esc(str(commit)[:12])}</code>'
    env_bits = [
        ("Python", env.get("python")), ("Torch", env.get("torch")), ("Device", env.get("device")),
        ("Threads", env.get("threads")), ("Platform", env.get("platform")),
    ]
    meta = [("Created", esc(results.get("created", "?"))), ("Tool", version)]
    meta += [(k, esc(v)) for k, v in env_bits if v is not None]
    packages = env.get("packages")
    if isinstance(packages, Mapping) and packages:
        meta.append(("Packages", esc(", ".join(f"{k} {v}" for k, v in packages.items()))))
    cells = "".join(f"<div><span>{k}</span>{v}</div>" for k, v in meta)
    command = results.get("command")
    cmd = f'<p class="sub" style="margin-top:12px">Command: <code>{esc(command)}</code></p>' if command else ""
    rows = runs(results)
    n_ok = sum(1 for r in rows if r.get("status") == "ok")
    groups = {(e["family"], e["dataset"], e["forget_spec"]) for e in summary}
    methods = {e["method"] for e in summary}
    pills = [
        f'<span class="pill">{len(rows)} runs</span>',
        f'<span class="pill ok">{n_ok} ok</span>',
        f'<a class="pill fail" href="#failed">{n_failed} failed</a>' if n_failed else "",
        f'<span class="pill">{len(groups)} task group(s)</span>',
        f'<span class="pill">{len(methods)} method(s)</span>',
    ]
    return (
        f'<section class="card"><h1>obliviate benchmark <small>suite: {esc(results.get("suite", "?"))}</small></h1>'
        f'{cmd}<div class="meta">{cells}</div><div class="pills">{"".join(pills)}</div></section>'
    )


def _cell(stat: Mapping[str, float] | None, gap: Mapping[str, float] | None, cls: str = "",
          places: int | None = 2, suffix: str = "") -> str:
    attr = f' class="{cls}"' if cls else ""
    body = f'<span class="val">{esc(fmt_pm(stat, places, suffix))}</span>'
    if gap is not None:
        body += f'<span class="gap">Δ {gap["mean"]:.2f} ± {gap["std"]:.2f}</span>'
    return f"<td{attr}>{body}</td>"


def table_html(family: str, entries: Sequence[dict], cols: Sequence[str], main: bool) -> str:
    """One table of a group: a row per method, ``cols`` metrics with their gap to retrain; the main
    table adds the average gap (bar, best marked), seconds and the time ratio."""
    best = best_average(entries) if main else set()
    closest = {c: argmins(closeness(entries, c)) for c in cols}
    avg_max = max((e["gap_to_retrain"]["average"]["mean"] for e in entries if "average" in e["gap_to_retrain"]),
                  default=0.0)
    head = ["Method", "Seeds", *(label(c, family) for c in cols)]
    if main:
        head += ["Avg. gap", "Seconds", "Time ratio"]
    rows = []
    for e in entries:
        m = e["method"]
        tag = {"retrain": "reference", "original": "before unlearning"}.get(m)
        tr = '<tr class="ref">' if tag else "<tr>"
        first = f'<td data-tag="{esc(tag)}">' if tag else "<td>"
        cells = [f"{first}{esc(m)}</td>", f"<td>{e['n_seeds']}</td>"]
        for c in cols:
            gap = e["gap_to_retrain"].get(c) if m != "retrain" else None
            cells.append(_cell(e["metrics"].get(c), gap, "closest" if m in closest[c] else ""))
        if main:
            avg = e["gap_to_retrain"].get("average")
            if avg is not None and m != "retrain":
                width = 0.0 if avg_max <= 0 else 100.0 * avg["mean"] / avg_max
                cls = ' class="best"' if m in best else ""
                cells.append(f'<td{cls}>{esc(fmt_pm(avg, 2))}<span class="bar" style="width:{width:.1f}%"></span></td>')
            else:
                cells.append("<td>0.00</td>" if m == "retrain" else "<td>-</td>")
            cells.append(_cell(e["seconds"], None, places=None))
            cells.append(_cell(e["time_ratio"], None, places=None, suffix="×"))
        rows.append(tr + "".join(cells) + "</tr>")
    thead = "".join(f"<th>{esc(h)}</th>" for h in head)
    return f'<div class="scroll"><table><thead><tr>{thead}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'


def group_html(idx: int, key: GroupKey, entries: Sequence[dict], results: Mapping[str, Any],
               plots: Sequence[tuple[str, str]], extra: str = "") -> str:
    """A group's card: task facts, the main table and legend, ``extra`` (the family's sections), every
    metric folded away when the main table shows only some, then the plots (``(src, alt)``)."""
    family = key[0]
    title = group_title(key)
    task = next((r.get("task") for r in runs(results) if group_key(r) == key and isinstance(r.get("task"), Mapping)),
                {})
    facts = []
    for name, text in (("model", "model"), ("scenario", "scenario"), ("forget_size", "forget"),
                       ("retain_size", "retain")):
        if task.get(name) is not None:
            facts.append(f"{text} <b>{esc(task[name])}</b>")
    seeds = sorted({s for e in entries for s in e["seeds"]})
    if seeds:
        facts.append("seeds <b>" + esc(", ".join(map(str, seeds))) + "</b>")
    cols = table_columns(family, entries)
    main_table = table_html(family, entries, cols, main=True)
    legend = (
        f'<p class="legend">mean ± std over seeds ({esc(STD_NOTE)}); Δ = mean |metric − retrain metric| per seed.'
        '<span class="sw" style="background:#e3f6e8"></span>closest to retrain in its column'
        '<span class="sw" style="background:#34a853"></span><b>lowest average gap</b> (retrain/original excluded)'
        '<span class="sw" style="background:#e9edf2"></span><i>reference rows</i>. Time ratio = seconds / retrain seconds.</p>'
    )
    all_keys: set[str] = set()
    for e in entries:
        all_keys.update(e.get("metric_keys", e["metrics"]))
    extra_cols = metric_columns(family, all_keys)
    details = ""
    if set(extra_cols) - set(cols):
        details = (
            f"<details><summary>All metrics ({len(extra_cols)})</summary>"
            f"{table_html(family, entries, extra_cols, main=False)}</details>"
        )
    figs = "".join(
        f'<figure><img src="{esc(src)}" alt="{esc(alt)}" loading="lazy"></figure>' for src, alt in plots
    )
    plots_html = f'<div class="plots">{figs}</div>' if figs else ""
    return (
        f'<section class="card" id="g{idx}"><h2>{esc(title)}</h2>'
        f'<p class="sub">{" · ".join(facts)}</p>{main_table}{legend}{extra}{details}{plots_html}</section>'
    )


def failed_html(failed: Sequence[Mapping[str, Any]]) -> str:
    """The failed runs with their errors (empty when none failed)."""
    if not failed:
        return ""
    rows = []
    for r in failed:
        fam, ds, spec = group_key(r)
        rows.append(
            f"<tr><td>{esc(method_name(r))}</td><td>{esc(fam)}</td><td>{esc(ds)}</td><td>{esc(spec)}</td>"
            f"<td>{esc(r.get('seed'))}</td><td class=\"err\">{esc(r.get('error') or '(no error message)')}</td></tr>"
        )
    head = "".join(f"<th>{h}</th>" for h in ("Method", "Family", "Dataset", "Forget spec", "Seed", "Error"))
    return (
        f'<section class="card" id="failed"><h2>Failed runs ({len(failed)})</h2>'
        f'<p class="sub">These rows are left out of every table and plot above.</p>'
        f'<div class="scroll"><table class="fail"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div></section>'
    )
