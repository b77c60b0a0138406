"""No import cycles in the package: every import statement that runs counts, function-level
imports included (imports for annotations only, under ``if TYPE_CHECKING:``, do not run).
Summaries, insights and reports read a result through ``hteformula.protocols.FittedResult``
and format numbers with the leaf ``hteformula.formatting``, so none of them imports
``hteformula.results``, not even for annotations."""

from __future__ import annotations

import ast
from pathlib import Path

import hteformula

PACKAGE = Path(hteformula.__file__).resolve().parent


def module_names() -> dict[str, Path]:
    names = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ("hteformula", *path.relative_to(PACKAGE).with_suffix("").parts)
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def import_graph(annotations: bool = False) -> dict[str, set[str]]:
    """Module -> the package modules it imports anywhere in its source.

    With ``annotations``, imports under ``if TYPE_CHECKING:`` count too.
    """
    modules = module_names()

    def known(name: str) -> str:
        while name not in modules:
            name = name.rpartition(".")[0]
        return name

    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        type_only = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                type_only |= {id(inner) for inner in ast.walk(node)}
        for node in ast.walk(tree):
            if id(node) in type_only and not annotations:
                continue
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                targets = [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            graph[name] |= {known(t) for t in targets if t.startswith("hteformula")}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_the_package_has_no_import_cycle():
    assert cycles(import_graph()) == []


def test_consumers_of_a_result_do_not_import_the_results_module():
    graph = import_graph(annotations=True)
    consumers = [
        name
        for name in graph
        if name == "hteformula.summary"
        or name.startswith(("hteformula.insights", "hteformula.report"))
    ]
    assert consumers
    for name in consumers:
        assert "hteformula.results" not in graph[name], name
    assert graph["hteformula.formatting"] == set()  # a leaf


def test_the_checker_sees_function_level_imports_and_cycles():
    cli = PACKAGE / "cli.py"
    assert "from hteformula.persist import" in cli.read_text().split("def _run_score")[1]
    assert "hteformula.persist" in import_graph()["hteformula.cli"]
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
