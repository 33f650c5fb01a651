"""The report's "Parameters from recipe files" card: for every row a recipe file stamped (``method.recipe``,
``method.provenance``: :mod:`obliviate.bench.recipe_files`), which file set which of its method's values and
where each value came from."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .cards import esc


def provenance_card(results: Mapping[str, Any]) -> list[str]:
    """One card listing recipe file -> method -> {param: source}; none when no row used a recipe file."""
    seen: dict[tuple[str, str], dict[str, str]] = {}
    for row in results.get("runs", []) if isinstance(results, Mapping) else []:
        method = row.get("method") if isinstance(row, Mapping) else None
        if isinstance(method, Mapping) and method.get("recipe"):
            seen.setdefault((str(method["recipe"]), str(method.get("name", "?"))), dict(method.get("provenance") or {}))
    if not seen:
        return []
    body = []
    for (recipe, name), sources in sorted(seen.items()):
        items = sorted(sources.items(), key=lambda kv: (kv[0] != "*", kv[0])) or [("", "no value from the file")]
        for i, (param, source) in enumerate(items):
            label = "all values" if param == "*" else param
            head = f"<td>{esc(recipe)}</td><td>{esc(name)}</td>" if i == 0 else "<td></td><td></td>"
            body.append(f"<tr>{head}<td>{esc(label)}</td><td>{esc(source)}</td></tr>")
    return ['<section class="card" id="recipes"><h2>Parameters from recipe files</h2>'
            "<table><thead><tr><th>recipe</th><th>row</th><th>parameter</th><th>source</th></tr></thead><tbody>"
            + "".join(body) + "</tbody></table>"
            '<p class="sub">Each row\'s values not listed here are the method\'s paper defaults or the bench\'s '
            "built-in recipe; <code>command line</code> marks a --param / --train override.</p></section>"]
