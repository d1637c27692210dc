"""Importing a job again writes no project row that nothing changed.

Review finding (scale): a re-import (a person importing every job again, or an auto-import pass over a
job cut off before) wrote each project's row whole, an UPDATE per project, though nothing of it
changed. Real parts: the sandbox workspace emulator over HTTP, both store engines; the statements are
the engine's own, listened to.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from server.databricks import DatabricksGateway
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store
from tests.integration.conftest import WIRING

SPEC = {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5d.xlarge", "num_workers": 2,
        "aws_attributes": {"availability": "ON_DEMAND", "first_on_demand": 1}}


def _py() -> dict[str, Any]:
    return {"spark_python_task": {"python_file": "dbfs:/x.py"}}


def test_importing_again_writes_no_project_row_that_did_not_change(
        store: Store, secrets: SecretBox, gateway: DatabricksGateway, aws_workspace: str) -> None:
    ids = [gateway.create_job({"name": f"job-{n}",
                               "job_clusters": [{"job_cluster_key": "main", "new_cluster": dict(SPEC)}],
                               "tasks": [{"task_key": "a", "job_cluster_key": "main", **_py()}]}) for n in range(3)]
    first = workspaces.import_jobs(store, secrets, "sbx", [], wiring=WIRING)
    assert [p.created for p in first.projects] == [True] * 3
    updates: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE PROJECTS"):
            updates.append(statement)

    engine = store.engine
    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        again = workspaces.import_jobs(store, secrets, "sbx", [], wiring=WIRING)
        assert [(p.created, p.diff) for p in again.projects] == [(False, "")] * 3
        assert updates == []
        # A change is still written: the job renamed, its project's job name follows.
        gateway.update_job(ids[1], {"name": "renamed"})
        workspaces.import_jobs(store, secrets, "sbx", [], wiring=WIRING)
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)
    assert len(updates) == 1
    assert store.projects.get_by_key("sbx", ids[1], "main").job_name == "renamed"  # type: ignore[union-attr]
