"""The agent-metrics cache key reads every module the candidate space is built from: a draw cached
with candidates from older code must not be reused once any of them changes."""

from __future__ import annotations

import ast
from pathlib import Path

import server.plan.candidates
from benchmarks.agent_metrics import _source_files


def _plan_modules(start: Path) -> set[Path]:
    """``start`` and every `server.plan` module it imports, transitively (at any level: a module
    imported inside a function shapes the candidates as much)."""
    package = start.parent
    found: set[Path] = set()
    todo = [start]
    while todo:
        path = todo.pop()
        if path in found:
            continue
        found.add(path)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("server.plan."):
                todo.append(package / f"{node.module.rpartition('.')[2]}.py")
    return found


def test_the_cache_key_reads_every_module_build_candidates_is_made_of() -> None:
    needed = _plan_modules(Path(server.plan.candidates.__file__).resolve())
    assert len(needed) > 1  # the candidate space is built from several modules
    read = {path.resolve() for path in _source_files()}
    assert sorted(p.name for p in needed - read) == []
