"""`server.orphan_cause`: one cause per way a project's cluster leaves its job, in import's words."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import Any

from server.domain import Project
from server.onboard import OTHER_COMPUTE, REASON_EXISTING, REASON_NO_TASKS
from server.orphan_cause import JOB_DELETED, REASON_KEY, UNKNOWN, orphan_cause, recorded_cause

ROOT = Path(__file__).resolve().parents[2]

SPEC = {"spark_version": "14.3.x-scala2.12", "node_type_id": "m5.xlarge", "num_workers": 2}
MAIN = Project(workspace="sbx", job_id=4, cluster_key="main")
GONE = "cluster 'main' is no longer in the job"


def _job(tasks: list[dict[str, Any]], clusters: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"tasks": tasks, "job_clusters": [{"job_cluster_key": k, "new_cluster": v}
                                             for k, v in (clusters or {}).items()]}


def test_a_cluster_still_in_the_job_is_no_orphan() -> None:
    assert orphan_cause(MAIN, _job([{"task_key": "t", "job_cluster_key": "main"}], {"main": SPEC})) is None


def test_each_way_of_leaving_is_said_apart() -> None:
    assert orphan_cause(MAIN, None) == JOB_DELETED
    assert orphan_cause(MAIN, _job([{"task_key": "t", "existing_cluster_id": "0101"}])) == \
        f"{GONE}: the job now {REASON_EXISTING}"
    assert orphan_cause(MAIN, _job([{"task_key": "t", "environment_key": "default"}])) == \
        f"{GONE}: the job now runs on serverless compute (no job cluster to tune)"
    assert orphan_cause(MAIN, _job([{"task_key": "q", "sql_task": {}}])) == \
        f"{GONE}: the job now {OTHER_COMPUTE['sql_task']}"
    assert orphan_cause(MAIN, _job([])) == f"{GONE}: the job now {REASON_NO_TASKS}"


def test_other_job_clusters_are_named_with_the_import_that_takes_them() -> None:
    job = _job([{"task_key": "a", "job_cluster_key": "ingest"}, {"task_key": "b", "new_cluster": SPEC},
                {"task_key": "c", "existing_cluster_id": "0101"}], {"ingest": SPEC})
    assert orphan_cause(MAIN, job) == (
        f"{GONE}: the job now runs on job clusters 'ingest', 'task:b', which `trimtab workspace import sbx --job 4` "
        f"imports as projects; {REASON_EXISTING}")


def test_a_task_cluster_whose_task_moved_to_serverless() -> None:
    project = Project(workspace="sbx", job_id=4, cluster_key="task:main")
    assert orphan_cause(project, _job([{"task_key": "main", "environment_key": "default"}])) == \
        "cluster 'task:main' is no longer in the job: the job now runs on serverless compute (no job cluster to tune)"


def test_the_recorded_cause() -> None:
    assert recorded_cause(MAIN) == ""
    orphan = Project(workspace="sbx", job_id=4, cluster_key="main", orphaned=True)
    assert recorded_cause(orphan) == UNKNOWN  # orphaned before causes were recorded
    assert recorded_cause(Project(workspace="sbx", job_id=4, cluster_key="main", orphaned=True,
                                  state={"orphaned_reason": JOB_DELETED})) == JOB_DELETED


def _words_apart(path: Path) -> list[str]:
    """Where ``path`` spells the state key or the unknown cause itself instead of naming them."""
    spelled = {REASON_KEY, UNKNOWN, "its job or cluster is gone"}
    return [f"{path.relative_to(ROOT)}:{node.lineno}" for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Constant) and node.value in spelled]


def test_the_cause_is_keyed_and_worded_here_only() -> None:
    # Every reader of the cause (apply's refusals, `recommendation show`, the collector, the dashboard,
    # `project show`) named it apart: one read a taken-over job as "gone from the workspace".
    apart = [hit for path in sorted((ROOT / "server").rglob("*.py"))
             if path.name != "orphan_cause.py" and "_pb2" not in path.name for hit in _words_apart(path)]
    assert apart == []


def test_project_show_reads_the_words_without_the_store() -> None:
    # `server.render.project_status` (the CLI) takes UNKNOWN from here: importing it must not load SQLAlchemy.
    code = ("import sys, server.render.project_status; "
            "print(sorted(m for m in ('sqlalchemy', 'sqlmodel', 'server.store') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
