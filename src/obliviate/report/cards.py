"""HTML building blocks of the report page: escaping, the results header, a group's tables and the
failed-runs card."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from .columns import benchmark_of, label, metric_columns, settings, table_columns
from .numbers import fmt_pm
from .stats import REFERENCE_METHODS, STD_NOTE, GroupKey, argmins, closeness, group_key, group_title, method_name, runs
from .verdict import (NO_BETTER, TIME_NOTE, TUNED_MARK, all_tie, flat_metrics, group_notes, no_better, ranking,
                      tuned_what, winner_note, winners)

__all__ = ["REFERENCE_TAGS", "esc", "failed_html", "group_html", "header_html", "legend_html", "seeds_text",
           "settings_html", "table_html", "verdict_html"]

#: the tag of each reference method's (grey) row
REFERENCE_TAGS = {"retrain": "reference", "original": "before unlearning", "clean": "reference (clean)",
                  "corrupted": "before unlearning", "dp2_base": "DP base"}


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
          places: int | None = 2, suffix: str = "", prefix: str = "") -> str:
    attr = f' class="{cls}"' if cls else ""
    text = fmt_pm(stat, places, suffix)
    body = f'<span class="val">{esc(prefix + text if stat else text)}</span>'
    if gap is not None:
        body += f'<span class="gap">Δ {gap["mean"]:.2f} ± {gap["std"]:.2f}</span>'
    return f"<td{attr}>{body}</td>"


def table_html(family: str, entries: Sequence[dict], cols: Sequence[str], main: bool) -> str:
    """One table of a group: a row per method, ``cols`` metrics with their gap to retrain; the main
    table adds the average gap (bar, winner marked), seconds and the time ratio (the gap and the ratio
    only when some row has them). A method no better than not unlearning is tagged and never marked
    best or closest; a column that separates nothing marks no one closest (:mod:`.verdict`)."""
    rank = ranking(family, entries)
    best = winners(entries, rank) if main else set()
    losers = no_better(entries, rank)
    flat = set(flat_metrics(entries, cols))
    closest = {c: set() if c in flat else argmins({m: d for m, d in closeness(entries, c).items() if m not in losers})
               for c in cols}
    show_gap = main and any("average" in e["gap_to_retrain"] for e in entries)
    show_ratio = main and any(e["time_ratio"] for e in entries)
    avg_max = max((e["gap_to_retrain"]["average"]["mean"] for e in entries if "average" in e["gap_to_retrain"]),
                  default=0.0)
    head = ["Method", "Seeds", *(label(c, family) for c in cols)]
    if main:
        head += (["Avg. gap"] if show_gap else []) + ["Seconds"] + (["Time ratio"] if show_ratio else [])
    rows = []
    for e in entries:
        m = e["method"]
        tag = REFERENCE_TAGS.get(m, "reference") if m in REFERENCE_METHODS else None
        tr = '<tr class="ref">' if tag else '<tr class="nb">' if m in losers else "<tr>"
        first = f'<td data-tag="{esc(tag)}">' if tag else "<td>"
        note = f'<span class="tag">{esc(NO_BETTER)}</span>' if m in losers else ""
        if tuned_what(e):  # the recipe's values were tuned on some of these seeds (verdict.tuned_note)
            note += ('<span class="tag tuned" style="display:block;font-size:10.5px;font-weight:700;'
                     'color:var(--bad-ink)">'
                     f'{TUNED_MARK} tuned on {esc(tuned_what(e))}</span>')
        cells = [f"{first}{esc(m)}{note}</td>", f"<td>{e['n_seeds']}</td>"]
        for c in cols:
            gap = e["gap_to_retrain"].get(c) if m != "retrain" else None
            cls = "best" if m in best and rank is not None and rank.key == c else "closest" if m in closest[c] else ""
            cells.append(_cell(e["metrics"].get(c), gap, cls))
        if show_gap:
            avg = e["gap_to_retrain"].get("average")
            if avg is not None and m != "retrain":
                width = 0.0 if avg_max <= 0 else 100.0 * avg["mean"] / avg_max
                cls = ' class="best"' if m in best else ""
                cells.append(f'<td{cls}>{esc(fmt_pm(avg, 2))}<span class="bar" style="width:{width:.1f}%"></span></td>')
            else:
                cells.append("<td>0.00</td>" if m == "retrain" else "<td>-</td>")
        if main:
            cells.append(_cell(e["seconds"], None, places=None))
        if show_ratio:
            approx = e["time_ratio_cached"] and m not in REFERENCE_METHODS
            cells.append(_cell(e["time_ratio"], None, places=None, suffix="×", prefix="≈ " if approx else ""))
        rows.append(tr + "".join(cells) + "</tr>")
    thead = "".join(f"<th>{esc(h)}</th>" for h in head)
    return f'<div class="scroll"><table><thead><tr>{thead}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'


def verdict_html(family: str, entries: Sequence[dict]) -> str:
    """The group's answer at a glance: its winner against the original (and its cost), or that no
    method beats not unlearning; empty when nothing ranks the group."""
    rank = ranking(family, entries)
    if rank is None:
        return ""
    if all_tie(entries, rank):
        return (f'<p class="verdict warn"><b>No method is better than not unlearning here</b>: every method\'s '
                f"{esc(rank.label)} is within the seeds' noise of the original's, or worse.</p>")
    best = [e for e in entries if e["method"] in winners(entries, rank)]
    if not best:
        return ""
    original = next((e for e in entries if e["method"] == "original"), None)
    parts = []
    for e in best:
        text = f"<b>{esc(e['method'])}</b>: {esc(rank.label)} {esc(fmt_pm(rank.value(e), 2))}"
        if original is not None and rank.value(original) is not None:
            text += f" (original, no unlearning: {esc(fmt_pm(rank.value(original), 2))})"
        if e["time_ratio"] and rank.section == "gap_to_retrain":
            approx = "≈ " if e["time_ratio_cached"] else ""
            text += f", at {approx}{esc(fmt_pm(e['time_ratio'], None))}× retrain's time"
        parts.append(text)
    return f'<p class="verdict">Best here: {"; ".join(parts)}.</p>'


def legend_html(family: str, entries: Sequence[dict]) -> str:
    """What the main table's marks mean: speaks of retrain only when the group has a retrain reference."""
    rank = ranking(family, entries)
    parts = [f"mean ± std over seeds ({esc(STD_NOTE)})"]
    if rank is not None and rank.section == "gap_to_retrain":
        parts[0] += "; Δ = mean |metric − retrain metric| per seed."
        parts.append('<span class="sw" style="background:#e3f6e8"></span>closest to retrain in its column')
    else:
        parts[0] += "."
    if rank is not None:
        parts.append(f'<span class="sw" style="background:#34a853"></span><b>{esc(winner_note(rank))}</b>')
    parts.append('<span class="sw" style="background:#e9edf2"></span><i>reference rows</i>.')
    if no_better(entries, rank):
        parts.append(f"<i>{esc(NO_BETTER)}</i>: its {esc(rank.label)} is not better than the original's beyond "
                     "the seeds' noise (mean per-seed improvement not above its std).")
    if any(e["time_ratio"] for e in entries):
        parts.append("Time ratio = seconds / retrain seconds.")
    if any(e["time_ratio_cached"] and e["time_ratio"] and e["method"] not in REFERENCE_METHODS for e in entries):
        parts.append(esc(TIME_NOTE) + ".")
    return f'<p class="legend">{" ".join(parts)}</p>'


def group_html(idx: int, key: GroupKey, entries: Sequence[dict], results: Mapping[str, Any],
               plots: Sequence[tuple[str, str]], extra: str = "") -> str:
    """A group's card: task facts, the verdict, the main table, its notes and legend, ``extra`` (the
    family's sections), every metric folded away when the main table shows only some, then the plots
    (``(src, alt)``)."""
    family = key[0]
    title = group_title(key)
    task = next((r.get("task") for r in runs(results) if group_key(r) == key and isinstance(r.get("task"), Mapping)),
                {})
    facts = []
    for name, text in (("model", "model"), ("scenario", "scenario"), ("forget_size", "forget"),
                       ("retain_size", "retain")):
        if task.get(name) is not None:
            facts.append(f"{text} <b>{esc(task[name])}</b>")
    seeds = seeds_text(sorted({s for e in entries for s in e["seeds"]}))
    if seeds:
        facts.append(seeds)
    cols = table_columns(family, entries)
    main_table = table_html(family, entries, cols, main=True)
    rank = ranking(family, entries)
    notes = [n for n in group_notes(family, entries, cols) if not (all_tie(entries, rank) and n.startswith("No method"))]
    notes_html = f'<ul class="notes">{"".join(f"<li>{esc(n)}</li>" for n in notes)}</ul>' if notes else ""
    all_keys: set[str] = set()
    for e in entries:
        all_keys.update(e.get("metric_keys", e["metrics"]))
    extra_cols = metric_columns(family, all_keys, benchmark_of(family, key[1]))
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
        f'<p class="sub">{" · ".join(facts)}</p>{verdict_html(family, entries)}{main_table}{notes_html}'
        f"{legend_html(family, entries)}{settings_html(family, entries)}{extra}{details}{plots_html}</section>"
    )


def seeds_text(seeds: Sequence[int]) -> str:
    """The subtitle's seeds fact: "seed <b>0</b>" for one seed, "seeds <b>0, 1, 2</b>" for more ("" for none)."""
    if not seeds:
        return ""
    word = "seed" if len(seeds) == 1 else "seeds"
    return f"{word} <b>" + esc(", ".join(map(str, seeds))) + "</b>"


def settings_html(family: str, entries: Sequence[dict]) -> str:
    """A note of the settings the rows record with their metrics (e.g. DP's epsilon of dp2's base), per
    method: they describe how a model was made, so they are no metric column ("" when none)."""
    parts = []
    for key in settings(family, entries):
        values = [f"{esc(e['method'])} {esc(fmt_pm(e['metrics'][key], None))}" for e in entries if key in e["metrics"]]
        if values:
            parts.append(f"<b>{esc(label(key, family))}</b> ({esc(key)}): {', '.join(values)}")
    if not parts:
        return ""
    return f'<p class="legend">Settings, not metrics (mean ± std over seeds): {"; ".join(parts)}.</p>'


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
