"""The import graph of ``src/obliviate``: no cycles, and no imports upward through the layers.

Every module is parsed with :mod:`ast` (nothing is imported). An edge A -> B is any import of B in A,
at any level (module top, function bodies, ``__getattr__`` hooks), with relative imports resolved;
imports under ``if TYPE_CHECKING:`` are not edges (they never run). A package is its ``__init__``;
``from P import name`` is an edge to the submodule ``P.name`` when there is one, else to ``P``;
``import P.Q`` is an edge to ``P.Q`` only (not to ``P``, which every submodule import would
otherwise add). A cycle is a strongly connected component of more than one module, or a module
importing itself. The layers (:data:`LAYERS`, docs/architecture.md "Layers") are ordered bottom to top;
a module may import from its own layer and those below, and an import into a higher layer is upward.

Run as a script to print the cycles and the upward imports: ``python tests/test_import_graph.py``.
"""

from __future__ import annotations

import ast
import sys
import textwrap
from collections.abc import Iterable, Iterator, Sequence
from fnmatch import fnmatchcase
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "obliviate"

Graph = dict[str, set[str]]


def module_names(root: Path, package: str) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` under ``root/package`` (``__init__`` is the package)."""
    modules = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    """``TYPE_CHECKING`` or ``typing.TYPE_CHECKING`` (any ``X.TYPE_CHECKING``)."""
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement under ``node`` at any depth, except the bodies of ``if TYPE_CHECKING:``."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            yield child
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for other in child.orelse:  # the else branch does run
                yield from _imports(ast.Module(body=[other], type_ignores=[]))
        else:
            yield from _imports(child)


def _known(name: str, modules: Iterable[str] | dict[str, Path]) -> str | None:
    """The longest prefix of ``name`` (``a.b.c``, ``a.b``, ``a``) that is a module, else None."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The modules of ``modules`` that ``module`` (the file ``path``) imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    targets: set[str] = set()
    for node in _imports(tree):
        if isinstance(node, ast.Import):
            bases = [alias.name for alias in node.names]
            names: list[str] = []
        else:
            if node.level:
                anchor = module.split(".") if is_package else module.split(".")[:-1]
                if node.level - 1 > len(anchor) - 1:
                    raise ValueError(f"{path}:{node.lineno}: relative import beyond the top-level package")
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            bases = [base]
            names = [alias.name for alias in node.names if alias.name != "*"]
        for base in bases:
            if names:  # from base import name: the submodule base.name when there is one
                for name in names:
                    target = _known(f"{base}.{name}", modules)
                    if target is not None:
                        targets.add(target)
            else:
                target = _known(base, modules)
                if target is not None:
                    targets.add(target)
    return targets


def import_graph(root: Path = SRC, package: str = PACKAGE) -> Graph:
    """Module -> the modules of the same package it imports."""
    modules = module_names(root, package)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def cycles(graph: Graph) -> list[list[str]]:
    """The strongly connected components of more than one module, and self-importing modules, each
    sorted, in sorted order (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1 or node in graph.get(node, ()):
                        found.append(sorted(component))
    return sorted(found)


def describe(found: list[list[str]], graph: Graph) -> str:
    """One line per cycle: its modules and the edges between them."""
    lines = []
    for component in found:
        members = set(component)
        edges = [f"{a} -> {b}" for a in component for b in sorted(graph[a] & members)]
        lines.append(f"{' <-> '.join(component)}  ({'; '.join(edges)})")
    return "\n".join(lines)


#: Bottom to top: (layer, module patterns relative to the package). A module belongs to the layer of its
#: longest matching pattern; a pattern matches the module and its submodules; "" is the package itself.
#: The family folders' own models, data and tasks (lm/, clip/) are core; their benches, adapters and the
#: LM unlearning API sit above the generic bench machinery (rows, cache, results, options, the adapter
#: registry, the report's building blocks and section registry) that they use, and below the bench driver
#: and the report page, which iterate over them (a family's report section is part of the family).
LAYERS: list[tuple[str, list[str]]] = [
    ("foundation", ["errors", "registry", "version", "config", "utils"]),
    ("core", ["data", "models", "tasks", "training", "metrics", "record", "lm", "clip"]),
    ("methods", ["methods", "pruning"]),
    ("bench machinery", ["bench.cache", "bench.cache_entry", "bench.rows", "bench.results", "bench.options",
                         "bench.recipe_files", "bench.series", "bench.plan", "bench.tuned_seeds", "families",
                         "report.*"]),
    ("families", ["classifier", "lm.bench", "lm.bench_*", "lm.*family", "lm.unlearn", "lm.report", "clip.bench",
                  "clip.*family", "clip.report", "clip.plan", "lm.plan", "lm.restor_plan"]),
    ("drivers", ["bench", "bench.run", "tune", "bench.cache_cli", "report", "report.page"]),
    ("interface", ["api", "cli", "plugins", "__main__", ""]),
]

#: Upward imports that exist today, each with who removes it; the list may only shrink (a stale entry fails).
KNOWN_UPWARD: dict[tuple[str, str], str] = {
    ("lm.smollm2", "bench.cache"): "the converted model's cache directory",
    ("models.io", "pruning"): "masks saved with the model (pruning trains with methods.classifier.retrain)",
    ("utils.warmup", "training.loop"): "the warm-up builds an optimiser and a loader",
}


def layer_of(module: str, package: str = PACKAGE, layers: Sequence[tuple[str, list[str]]] = LAYERS) -> int:
    """The index in ``layers`` of ``module``'s longest matching pattern; ValueError when none matches."""
    rel = module[len(package) + 1:] if module != package else ""
    best: tuple[int, int] | None = None
    for index, (_, patterns) in enumerate(layers):
        for pattern in patterns:
            hit = rel == "" if pattern == "" else fnmatchcase(rel, pattern) or fnmatchcase(rel, pattern + ".*")
            if hit and (best is None or len(pattern) > best[1]):
                best = (index, len(pattern))
    if best is None:
        raise ValueError(f"{module} is in no layer: add it to LAYERS in {Path(__file__).name}")
    return best[0]


def upward_imports(graph: Graph, package: str = PACKAGE,
                   layers: Sequence[tuple[str, list[str]]] = LAYERS) -> list[tuple[str, str]]:
    """The edges (importer, imported) into a higher layer, as names relative to ``package``, sorted."""
    def rel(module: str) -> str:
        return module[len(package) + 1:] if module != package else ""

    return sorted((rel(a), rel(b)) for a, targets in graph.items() for b in targets
                  if layer_of(b, package, layers) > layer_of(a, package, layers))


def _edge(edge: tuple[str, str]) -> str:
    return " -> ".join(f"{PACKAGE}.{name}" if name else PACKAGE for name in edge)


# -- tests ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def graph() -> Graph:
    """The package's graph, parsed once for the tests below."""
    return import_graph()


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def test_planted_cycle_is_found(tmp_path: Path) -> None:
    _tree(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from .b import thing\n",
        "pkg/b.py": "def f():\n    from pkg import a\n    return a\n",  # function-level, absolute, submodule
        "pkg/c.py": "from . import a\n",  # into the cycle, not part of it
    })
    graph = import_graph(tmp_path, "pkg")
    assert graph["pkg.a"] == {"pkg.b"} and graph["pkg.b"] == {"pkg.a"} and graph["pkg.c"] == {"pkg.a"}
    assert cycles(graph) == [["pkg.a", "pkg.b"]]
    assert "pkg.a -> pkg.b; pkg.b -> pkg.a" in describe(cycles(graph), graph)


def test_relative_imports_resolve_to_submodules(tmp_path: Path) -> None:
    _tree(tmp_path, {
        "pkg/__init__.py": "from .sub import x\nfrom . import helper\n",
        "pkg/helper.py": "from .sub import deep, name\nfrom .sub.deep import y\n",
        "pkg/sub/__init__.py": "from .. import helper\nfrom ..helper import z\nname = 1\n",
        "pkg/sub/deep.py": "import pkg.helper as h\nfrom .. import sub\n",
    })
    graph = import_graph(tmp_path, "pkg")
    assert graph["pkg"] == {"pkg.sub", "pkg.helper"}
    assert graph["pkg.helper"] == {"pkg.sub", "pkg.sub.deep"}  # `name` is not a module: the package
    assert graph["pkg.sub"] == {"pkg.helper"}
    assert graph["pkg.sub.deep"] == {"pkg.helper", "pkg.sub"}


def test_type_checking_imports_are_not_edges(tmp_path: Path) -> None:
    _tree(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": """\
            import typing
            from typing import TYPE_CHECKING
            if TYPE_CHECKING:
                from .b import B
            if typing.TYPE_CHECKING:
                from . import b
            else:
                from . import c
            """,
        "pkg/b.py": "from .a import A\n",
        "pkg/c.py": "",
    })
    graph = import_graph(tmp_path, "pkg")
    assert graph["pkg.a"] == {"pkg.c"}
    assert cycles(graph) == []


def test_self_import_is_a_cycle(tmp_path: Path) -> None:
    _tree(tmp_path, {"pkg/__init__.py": "", "pkg/a.py": "def f():\n    from . import a\n"})
    assert cycles(import_graph(tmp_path, "pkg")) == [["pkg.a"]]


def test_graph_covers_the_package(graph: Graph) -> None:
    assert len(graph) > 100 and "obliviate.api" in graph and "obliviate.methods.lm.npo" in graph
    assert "obliviate.methods.base" in graph["obliviate.methods"]  # a real edge is seen


def test_upward_import_is_found(tmp_path: Path) -> None:
    _tree(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/low.py": "def f():\n    from .high.api import g\n",
        "pkg/mid.py": "from . import low\n",
        "pkg/high/__init__.py": "",
        "pkg/high/api.py": "from ..mid import x\nfrom .. import low\n",
    })
    layers = [("low", ["low"]), ("mid", ["mid"]), ("high", ["high", ""])]
    assert upward_imports(import_graph(tmp_path, "pkg"), "pkg", layers) == [("low", "high.api")]
    with pytest.raises(ValueError, match="pkg.mid is in no layer"):
        upward_imports(import_graph(tmp_path, "pkg"), "pkg", [("x", ["low", "high"])])


def test_no_upward_imports_but_the_known_ones(graph: Graph) -> None:
    found = set(upward_imports(graph))
    new = sorted(found - KNOWN_UPWARD.keys())
    stale = sorted(KNOWN_UPWARD.keys() - found)
    assert not new, "imports into a higher layer (LAYERS in this file, docs/architecture.md):\n" + "\n".join(
        map(_edge, new))
    assert not stale, f"no longer upward, remove from KNOWN_UPWARD: {stale}"


def test_no_import_cycles(graph: Graph) -> None:
    found = cycles(graph)
    assert not found, f"{len(found)} import cycle(s) among {PACKAGE} modules:\n{describe(found, graph)}"


if __name__ == "__main__":
    package_graph = import_graph()
    found = cycles(package_graph)
    upward = upward_imports(package_graph)
    print(f"{len(package_graph)} modules, {sum(map(len, package_graph.values()))} edges, {len(found)} cycle(s), "
          f"{len(upward)} upward import(s) ({len(set(upward) - KNOWN_UPWARD.keys())} not in KNOWN_UPWARD)")
    if found:
        print(describe(found, package_graph))
    for edge in upward:
        print(f"upward: {_edge(edge)}" + ("" if edge in KNOWN_UPWARD else "  (new)"))
    sys.exit(1 if found or set(upward) - KNOWN_UPWARD.keys() else 0)
