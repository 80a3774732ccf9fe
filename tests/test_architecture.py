"""The shape a newcomer relies on: hub is the composition root, core is the shared kernel, and no
module imports another that (directly or not) imports it back."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("hub", "desk", "core", "handoff", "connectors", "insights", "kb_index", "integrations", "bot")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            found[name] = path
    return found


def _import_graph() -> dict[str, set[str]]:
    """Module → project modules it imports when it is loaded (imports inside functions and under
    ``if TYPE_CHECKING`` run later or never, so they cannot make a cycle at import time)."""
    modules = _modules()
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            statements = node.body if isinstance(node, ast.Try) else [node]
            for statement in statements:
                if isinstance(statement, ast.Import):
                    targets = [alias.name for alias in statement.names]
                elif isinstance(statement, ast.ImportFrom) and statement.module and statement.level == 0:
                    targets = [statement.module, *(f"{statement.module}.{alias.name}" for alias in statement.names)]
                else:
                    continue
                # A module reaching into its own package (``from kb_index import ranking``) loads a
                # submodule, not the package's __init__ again: not a cycle.
                graph[name].update(t for t in targets if t in modules and t != name and not name.startswith(f"{t}."))
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in list(graph):
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_itself_back() -> None:
    assert _cycles(_import_graph()) == []


def test_only_hub_knows_every_package() -> None:
    """The packages never import the composition root; core imports none of the packages."""
    graph = _import_graph()
    for module, targets in graph.items():
        package = module.split(".")[0]
        if package != "hub":
            assert not {t for t in targets if t.split(".")[0] == "hub"}, f"{module} imports hub"
        if package == "core":
            assert {t.split(".")[0] for t in targets} <= {"core"}, f"{module} imports {targets}"


def test_integrations_sits_below_the_desk() -> None:
    """Integrations reads handoff, connectors and insights and never the desk; of the others, only
    the desk (a customer's erasure) and the hub (its listener and routers) import it."""
    graph = _import_graph()
    for module, targets in graph.items():
        package = module.split(".")[0]
        if package == "integrations":
            assert not {t for t in targets if t.split(".")[0] == "desk"}, f"{module} imports desk"
        elif package not in ("hub", "desk"):
            assert not {t for t in targets if t.split(".")[0] == "integrations"}, f"{module} imports integrations"
