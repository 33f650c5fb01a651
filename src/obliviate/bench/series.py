"""The one runner of sequential requests, shared by every family's series (MUSE's sustainability C6,
the classifier's ``sequential:K``): requests arrive one after another and each method unlearns request
``i`` from the model its request ``i - 1`` left.

A chain is all or nothing on resume: unless every request's row is stored and ok, it runs again from
the start (methods are deterministic under the seed, so finished rows come out the same); a request
that fails fails every later one, since there is no model to continue from.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .rows import RowStore

#: ``run_request(i, model_in, keep)`` -> the stored row of request ``i``: it takes its start model from
#: ``model_in()`` (raises when an earlier request failed) and hands the unlearned model to ``keep``.
RunRequest = Callable[[int, Callable[[], Any], Callable[[Any], None]], dict[str, Any]]


def sequential_chain(store: RowStore, keys: list[dict[str, Any]], first_model: Callable[[], Any],
                     run_request: RunRequest) -> list[dict[str, Any]]:
    """The rows of one method's chain of ``len(keys)`` requests, from the stored rows when all are ok."""
    stored = [store.get(key) for key in keys]
    if all(row is not None and row["status"] == "ok" for row in stored):
        return stored  # type: ignore[return-value]
    state: dict[str, Any] = {"model": first_model()}

    def model_in(i: int) -> Any:
        if state["model"] is None:
            raise RuntimeError(f"request {i + 1} not run: an earlier request failed")
        return state["model"]

    rows = []
    for i in range(len(keys)):
        row = run_request(i, lambda i=i: model_in(i), lambda model: state.update(model=model))
        if row["status"] != "ok":
            state["model"] = None
        rows.append(row)
    return rows
