"""No module of the shipped packages imports, at module level, a module that imports it back.

Python runs such a cycle only in some import orders: the suite imported `server.collect` first and
passed, while `trimtab` (whose first import reached `server.plan.candidates`) failed with
"cannot import name ... from partially initialized module". This reads the import statements
(ast, no import is run) so the order the tests happen to use cannot hide one.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("server", "models", "agent", "sandbox", "protos")


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _top_level_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Imports run when the module is: its body's and those under a module-level if/try, not those
    in functions (run later) nor under ``if TYPE_CHECKING`` (never run)."""
    out: list[ast.Import | ast.ImportFrom] = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            out.append(node)
        elif isinstance(node, (ast.If, ast.Try)):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            out += [n for n in ast.walk(node) if isinstance(n, (ast.Import, ast.ImportFrom))]
    return out


def import_graph() -> dict[str, set[str]]:
    modules = _modules()

    def owner(name: str) -> str | None:  # the module a dotted name lives in
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps: set[str] = set()
        for node in _top_level_imports(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
                    for _ in range(node.level - 1):
                        package = package.rpartition(".")[0]
                    base = f"{package}.{base}" if base else package
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                           for alias in node.names]
            deps.update(d for d in map(owner, targets) if d)
        # Importing a.b.c runs a/__init__ and a/b/__init__ first; the importer's own packages are
        # already being initialised when it runs, so they are no edge.
        own = {".".join(name.split(".")[:k]) for k in range(1, name.count(".") + 1)}
        for dep in list(deps):
            parts = dep.split(".")
            deps.update(anc for k in range(1, len(parts))
                        if (anc := ".".join(parts[:k])) in modules and anc not in own)
        deps.discard(name)
        graph[name] = deps
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in graph:
        if start in index:
            continue
        work: list[tuple[str, list[str]]] = [(start, sorted(graph[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, todo = work[-1]
            if todo:
                nxt = todo.pop()
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, sorted(graph.get(nxt, ()))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
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
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_module_level_import_cycle() -> None:
    assert cycles(import_graph()) == []


def test_the_check_finds_a_cycle_through_a_package_init() -> None:
    # The shape of the one it was written for: a -> b.c runs b/__init__, which imports b.d -> a.
    graph = {"a": {"b.c", "b"}, "b": {"b.d"}, "b.c": set(), "b.d": {"a"}}
    assert cycles(graph) == [["a", "b", "b.d"]]


def test_each_entry_module_imports_first_in_a_fresh_interpreter() -> None:
    # The entry points a user or the cluster starts from, each imported first.
    for module in ("server.cli.entry", "server.serve", "server.plan.candidates", "agent.cli", "sandbox.__main__"):
        result = subprocess.run([sys.executable, "-c", f"import {module}"], cwd=ROOT, capture_output=True,
                                text=True, timeout=120)
        assert result.returncode == 0, f"import {module}: {result.stderr[-2000:]}"


def _imported_names(path: Path) -> set[str]:
    """Every module name ``path`` imports anywhere (in functions too: a lazy import is a dependency all
    the same); relative imports as written (none of them leave their package)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module)
    return names


def test_benchmarks_never_import_the_tests_package() -> None:
    # A benchmark is run from a checkout or an install that may not carry tests/ (tests import
    # benchmarks, never the other way): what both use lives in benchmarks/ (benchmarks/synth.py).
    found = {str(path.relative_to(ROOT)): sorted(n for n in _imported_names(path) if n.split(".")[0] == "tests")
             for path in (ROOT / "benchmarks").rglob("*.py")}
    assert {path: names for path, names in found.items() if names} == {}


def test_the_regressions_benchmark_imports_without_the_tests_package() -> None:
    # As run by a newcomer whose path holds no tests package: importing it fails at once.
    code = "import sys; sys.modules['tests'] = None; import benchmarks.regressions"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
