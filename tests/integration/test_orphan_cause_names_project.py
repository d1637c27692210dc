"""An orphan whose job now runs on a job cluster that is a project already names that project. Before,
`trimtab project show` said the job "now runs on job cluster 'one', which `trimtab workspace import ...`
imports as a project" while that project existed (multi-workspace review, F2: cluster 'two' removed from
job 13, its task moved to 'one'). A real server and CLI, the workspace emulator over HTTP, the real collector.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest

from sandbox.workspace import RunningWorkspace
from server.databricks import DatabricksGateway
from server.services.secrets import SecretBox
from server.store import Store
from tests.integration.clone_jobs import collector
from tests.integration.conftest import sdk_client
from tests.integration.test_orphan_cause_shown import fields

SPEC = {"spark_version": "14.3.x-scala2.12", "node_type_id": "m5.xlarge", "num_workers": 2,
        "aws_attributes": {"availability": "ON_DEMAND"}}
TASK = {"spark_python_task": {"python_file": "dbfs:/jobs/etl.py"}}

Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def store(sqlite_store: Store) -> Store:
    """SQLite only: what is checked is the collector's and the CLI's words, not the engine."""
    return sqlite_store


def test_the_orphan_cause_names_the_project_the_job_runs_on_now(
        trimtab: Cli, store: Store, emulator: RunningWorkspace, gateway: DatabricksGateway, cli_workspace: str,
        server_key: bytes) -> None:
    job_id = gateway.create_job({"name": "two-clusters", "job_clusters": [
        {"job_cluster_key": key, "new_cluster": copy.deepcopy(SPEC)} for key in ("one", "two", "three")], "tasks": [
        {**TASK, "task_key": "a", "job_cluster_key": "one"}, {**TASK, "task_key": "b", "job_cluster_key": "two"}]})
    code, _, err = trimtab("workspace", "import", "sbx", "--job", str(job_id))
    assert code == 0, err
    client = sdk_client(emulator)
    settings = client.jobs.get(job_id).settings.as_dict()
    # 'two' goes, its task runs on 'one' (a project) and a new task on 'three' (none yet).
    settings["job_clusters"] = [e for e in settings["job_clusters"] if e["job_cluster_key"] != "two"]
    settings["tasks"][1]["job_cluster_key"] = "one"
    settings["tasks"].append({**TASK, "task_key": "c", "job_cluster_key": "three"})
    client.api_client.do("POST", "/api/2.1/jobs/reset", body={"job_id": job_id, "new_settings": settings})
    collector(store, SecretBox(server_key)).poll_once()

    code, out, err = trimtab("project", "show", f"sbx/{job_id}/two")
    assert code == 0, err
    assert fields(out)["orphaned"] == (
        f"cluster 'two' is no longer in the job: the job now runs on job cluster 'one', which is project "
        f"sbx/{job_id}/one; runs on job cluster 'three', which `trimtab workspace import sbx --job {job_id}` "
        "imports as a project")
