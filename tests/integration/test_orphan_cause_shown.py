"""`trimtab project show` says why a project is orphaned, in import's words, and offers no apply for it
(review: s4_jobchanges.py, s7_apply_after_edit.py).

An orphaned project showed only "monitoring — orphaned", still listed its pending recommendation
with "apply it with trimtab recommendation apply ...", which then exited 1; the collector recorded
"cluster 'main' is no longer in the job" for a job moved to an all-purpose cluster or to serverless
compute alike, and an apply that found the job changed first recorded no cause at all. Now one
function decides the cause (`server.orphan_cause`), the collector and an apply record it, and
`project show` (its text, --json and the gRPC Project message) states it. A real server and the
workspace emulator over HTTP, the real collector.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

from sandbox.workspace import RunningWorkspace
from server.clock import SystemClock
from server.collect import Collector
from server.costing.catalog import load_catalog
from server.databricks import DatabricksGateway
from server.domain import ClusterConfig, Project, Recommendation
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store
from tests.integration.conftest import etl_job

SPEC = {"spark_version": "14.3.x-scala2.12", "node_type_id": "m5.xlarge", "num_workers": 2,
        "aws_attributes": {"availability": "ON_DEMAND"}}
TASK = {"task_key": "main", "spark_python_task": {"python_file": "dbfs:/jobs/etl.py"}}
GONE = "cluster 'main' is no longer in the job: the job now "
EXISTING = GONE + "runs on an existing all-purpose cluster (existing_cluster_id), which Trimtab does not size"
SERVERLESS = GONE + "runs on serverless compute (no job cluster to tune)"

Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def store(sqlite_store: Store) -> Store:
    """SQLite only: what is checked is the CLI's and the collector's words, not the engine."""
    return sqlite_store


def jobs_post(emulator: RunningWorkspace, endpoint: str, body: dict[str, Any]) -> None:
    """The job owner's own Jobs API call (reset, delete), which Trimtab never makes."""
    request = urllib.request.Request(f"{emulator.host}/api/2.1/jobs/{endpoint}", data=json.dumps(body).encode(),
                                     method="POST", headers={"Authorization": f"Bearer {emulator.token}",
                                                             "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        answer.read()


def fields(out: str) -> dict[str, str]:
    """`project show`'s lines by field name (the name, then two spaces or more, then the value)."""
    pairs = [line.split("  ", 1) for line in out.splitlines() if "  " in line and not line.startswith(" ")]
    return {name.strip(): value.strip() for name, value in pairs}


def imported(trimtab: Cli, store: Store, gateway: DatabricksGateway, name: str) -> Project:
    """`etl_job` created and imported through the CLI, with a pending recommendation of its own."""
    job_id = gateway.create_job(etl_job(copy.deepcopy(SPEC), name=name))
    code, _, err = trimtab("workspace", "import", "sbx", "--job", str(job_id))
    assert code == 0, err
    (project,) = [p for p in store.projects.list() if p.job_id == job_id]
    # Imported on demand (spot off, as import leaves a job run on demand): its owner allows spot.
    project = store.projects.update_settings(int(project.id or 0), dataclasses.replace(project.settings,
                                                                                       spot_allowed=True))
    store.recommendations.add(Recommendation(project_id=int(project.id or 0), reason="spot workers",
                                             config=ClusterConfig(node_type_id="m5.xlarge", num_workers=2,
                                                                  availability="SPOT_WITH_FALLBACK")))
    return project


def change(emulator: RunningWorkspace, case: str, job_id: int, existing_cluster: str) -> None:
    """What the owner did to the job in each of the review's cases."""
    name = f"job-{case}"
    if case == "existing":
        jobs_post(emulator, "reset", {"job_id": job_id, "new_settings": {
            "name": name, "tasks": [{**TASK, "existing_cluster_id": existing_cluster}]}})
    elif case == "serverless":
        jobs_post(emulator, "reset", {"job_id": job_id, "new_settings": {
            "name": name, "environments": [{"environment_key": "default", "spec": {"client": "1"}}],
            "tasks": [{**TASK, "environment_key": "default"}]}})
    elif case == "multi":
        jobs_post(emulator, "reset", {"job_id": job_id, "new_settings": {
            "name": name, "job_clusters": [{"job_cluster_key": "ingest", "new_cluster": copy.deepcopy(SPEC)},
                                           {"job_cluster_key": "transform", "new_cluster": copy.deepcopy(SPEC)}],
            "tasks": [{**TASK, "task_key": "ingest", "job_cluster_key": "ingest"},
                      {**TASK, "task_key": "transform", "job_cluster_key": "transform",
                       "depends_on": [{"task_key": "ingest"}]}]}})
    elif case == "taskdel":
        jobs_post(emulator, "reset", {"job_id": job_id, "new_settings": {
            "name": name, "tasks": [{**TASK, "task_key": "other", "new_cluster": {**SPEC, "num_workers": 1}}]}})
    else:
        jobs_post(emulator, "delete", {"job_id": job_id})


def expected_cause(case: str, job_id: int) -> str:
    return {"existing": EXISTING, "serverless": SERVERLESS,
            "multi": GONE + f"runs on job clusters 'ingest', 'transform', which `trimtab workspace import sbx "
                            f"--job {job_id}` imports as projects",
            "taskdel": GONE + f"runs on job cluster 'task:other', which `trimtab workspace import sbx --job {job_id}` "
                              "imports as a project",
            "delete": "the job was deleted"}[case]


CASES = ["existing", "serverless", "multi", "taskdel", "delete"]


def test_project_show_says_why_a_project_is_orphaned_and_offers_no_apply(
        trimtab: Cli, store: Store, emulator: RunningWorkspace, gateway: DatabricksGateway, cli_workspace: str,
        server_key: bytes) -> None:
    existing = emulator.workspace.add_existing_cluster(copy.deepcopy(SPEC), "shared-allpurpose")
    projects = {case: imported(trimtab, store, gateway, f"job-{case}") for case in CASES}
    for case, project in projects.items():
        change(emulator, case, project.job_id, existing)
    secrets = SecretBox(server_key)
    Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws), clock=SystemClock(),
              catalog=load_catalog()).poll_once()

    for case, project in projects.items():
        cause = expected_cause(case, project.job_id)
        assert store.projects.get(int(project.id or 0)).state["orphaned_reason"] == cause
        code, out, err = trimtab("project", "show", str(project.id))
        shown = fields(out)
        assert code == 0, err
        assert shown["phase"].endswith("orphaned") and shown["orphaned"] == cause
        assert "apply it with" not in shown and "trimtab recommendation apply" not in out
        assert shown["pending"].endswith(f": cannot be applied: {cause}")
        code, out, err = trimtab("--json", "project", "show", str(project.id))
        assert code == 0 and json.loads(out)["orphaned_reason"] == cause
        code, _, err = trimtab("recommendation", "apply", str(project.id))
        assert code == 1 and f"is orphaned ({cause})" in err


def test_an_apply_that_finds_the_job_changed_records_why(
        trimtab: Cli, store: Store, emulator: RunningWorkspace, gateway: DatabricksGateway,
        cli_workspace: str) -> None:
    """s7: the owner moved the job to serverless before any poll saw it; the apply finds it first."""
    project = imported(trimtab, store, gateway, "job-serverless")
    change(emulator, "serverless", project.job_id, "")
    code, _, err = trimtab("recommendation", "apply", str(project.id))
    assert code == 1 and f"{SERVERLESS}; project orphaned" in err
    code, out, _ = trimtab("project", "show", str(project.id))
    assert code == 0 and fields(out)["orphaned"] == SERVERLESS
    code, _, err = trimtab("recommendation", "apply", str(project.id))
    assert code == 1 and f"is orphaned ({SERVERLESS})" in err


def test_an_attached_project_shows_no_orphan_line(trimtab: Cli, store: Store, gateway: DatabricksGateway,
                                                  cli_workspace: str) -> None:
    project = imported(trimtab, store, gateway, "job-kept")
    code, out, _ = trimtab("project", "show", str(project.id))
    shown = fields(out)
    assert code == 0 and "orphaned" not in shown and "collection" not in shown
    assert shown["apply it with"].startswith(f"trimtab recommendation apply {project.id} --id ")
    code, out, _ = trimtab("--json", "project", "show", str(project.id))
    assert json.loads(out)["orphaned_reason"] == "" and "collection_problem" not in json.loads(out)
