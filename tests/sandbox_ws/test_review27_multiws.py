"""Two emulators side by side, and the newer single-node form (multi-workspace review, 2026-12-07).

The cluster and Spark context ids were derived from (run id, cluster key) alone, so two workspaces'
first runs had the same ids, which Databricks' random ids never do: the server refused the second
workspace's agent data as "first sent with another workspace's agent token". And a job cluster
written as ``kind: CLASSIC_PREVIEW, is_single_node: true`` (Databricks sets num_workers itself) was
refused as "num_workers: is required".
"""

from __future__ import annotations

from pathlib import Path

import pytest
from databricks.sdk.errors import DatabricksError

from sandbox.workspace import RunningWorkspace, start_workspace
from sandbox.workspace.clock import FakeClock
from tests.sandbox_ws.conftest import Sandbox, client
from tests.sandbox_ws.fakes import FakeSimBackend
from tests.sandbox_ws.test_sandbox_ws_runs import finish, single_job


def _ids(ws: RunningWorkspace) -> tuple[str, str]:
    w = client(ws)
    run = finish(ws, w, single_job(w))
    instance = w.api_client.do("GET", "/api/2.2/jobs/runs/get", query={"run_id": run.run_id})["tasks"][0][
        "cluster_instance"]
    return instance["cluster_id"], instance["spark_context_id"]


def test_two_workspaces_first_runs_get_different_cluster_and_context_ids(sandbox: Sandbox, tmp_path: Path) -> None:
    first = _ids(sandbox.start())
    other = start_workspace(tmp_path / "other", clock=FakeClock(), backend=FakeSimBackend())
    try:
        second = _ids(other)
    finally:
        other.stop()
    assert first[0] != second[0] and first[1] != second[1]


def test_a_restarted_workspace_keeps_its_id_salt(sandbox: Sandbox) -> None:
    salt = sandbox.start().workspace.store.data["id_salt"]
    sandbox.stop_all()
    assert len(salt) == 16 and sandbox.start().workspace.store.data["id_salt"] == salt


def _single_node_job(w: object, **cluster: object) -> int:
    new_cluster = {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5d.xlarge", **cluster}
    return w.api_client.do("POST", "/api/2.2/jobs/create", body={  # type: ignore[attr-defined]
        "name": "single", "tags": {"sandbox:profile": "sort"},
        "job_clusters": [{"job_cluster_key": "main", "new_cluster": new_cluster}],
        "tasks": [{"task_key": "main", "job_cluster_key": "main",
                   "spark_python_task": {"python_file": "dbfs:/x.py"}}]})["job_id"]


def test_the_is_single_node_form_is_accepted_and_runs_on_the_driver_alone(ws: RunningWorkspace) -> None:
    w = client(ws)
    job_id = _single_node_job(w, kind="CLASSIC_PREVIEW", is_single_node=True)
    run = finish(ws, w, job_id)
    assert run.state.result_state.value == "SUCCESS"
    cluster = w.clusters.get(run.tasks[0].cluster_instance.cluster_id)
    assert not cluster.num_workers


@pytest.mark.parametrize(("extra", "message"), [
    ({"is_single_node": True}, "is_single_node: can only be used with kind CLASSIC_PREVIEW"),
    ({"kind": "CLASSIC_PREVIEW", "is_single_node": True, "num_workers": 2}, "a single-node cluster has no workers"),
])
def test_a_wrong_single_node_form_is_refused_with_why(ws: RunningWorkspace, extra: dict[str, object],
                                                      message: str) -> None:
    w = client(ws)
    with pytest.raises(DatabricksError, match=message):
        _single_node_job(w, **extra)
