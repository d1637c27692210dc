"""What `workspace import` says beside its projects: the parts of an imported job it left alone, and
warnings about the wiring itself.

Review findings (shapes, security): README promises that tasks on an all-purpose cluster, serverless,
a SQL warehouse, single-node clusters... are "Left alone, each with the reason in the import's output",
but a job with one qualified cluster printed only "would create project sbx/1/big (mixed)": the other
reasons were dropped. And an init script under /Shared (every workspace user can edit it; it runs as
root on onboarded clusters) was said only in the server's log. Real parts: the sandbox workspace
emulator over HTTP, both store engines, a real gRPC server on 127.0.0.1:0 for the CLI.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

import pytest

from sandbox.workspace import RunningWorkspace
from server.databricks import DatabricksGateway
from server.onboard import REASON_EXISTING, REASON_SINGLE_NODE
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store
from tests.integration.conftest import WIRING

SPEC = {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5d.xlarge", "num_workers": 2,
        "aws_attributes": {"availability": "ON_DEMAND", "first_on_demand": 1}}
SINGLE = {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5d.xlarge", "num_workers": 0,
          "spark_conf": {"spark.databricks.cluster.profile": "singleNode", "spark.master": "local[*]"},
          "custom_tags": {"ResourceClass": "SingleNode"}}
SHARED_WIRING = dataclasses.replace(WIRING, init_script={"workspace": {"destination": "/Shared/trimtab/init.sh"}},
                                    agent_wheel="/Workspace/Shared/trimtab/trimtab-0.1.0-py3-none-any.whl")


def _py() -> dict[str, Any]:
    return {"spark_python_task": {"python_file": "dbfs:/x.py"}}


def _mixed(gateway: DatabricksGateway, emulator: RunningWorkspace) -> int:
    """A job with one qualified job cluster, a single-node task, a task on an all-purpose cluster and a
    SQL task: one project, three things left alone."""
    existing = emulator.workspace.add_existing_cluster(dict(SPEC), "allpurpose")
    return gateway.create_job({
        "name": "mixed", "job_clusters": [{"job_cluster_key": "big", "new_cluster": dict(SPEC)}],
        "tasks": [{"task_key": "a", "job_cluster_key": "big", **_py()},
                  {"task_key": "s", "new_cluster": dict(SINGLE), **_py()},
                  {"task_key": "d", "existing_cluster_id": existing, **_py()},
                  {"task_key": "d2", "existing_cluster_id": existing, **_py()},
                  {"task_key": "q", "sql_task": {"warehouse_id": "w1", "query": {"query_id": "q"}}}]})


@pytest.mark.parametrize("dry_run", [True, False])
def test_an_imported_job_says_what_of_it_was_left_out(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        aws_workspace: str, dry_run: bool) -> None:
    mixed = _mixed(gateway, emulator)
    tiny = gateway.create_job({"name": "tiny", "tasks": [{"task_key": "s", "new_cluster": dict(SINGLE), **_py()}]})
    result = workspaces.import_jobs(store, secrets, "sbx", [mixed, tiny], dry_run=dry_run, wiring=WIRING)
    assert [p.project.cluster_key for p in result.projects] == ["big"]
    reasons = [o.reason for o in result.left_out]
    # Once each (two tasks on the all-purpose cluster say it once), in the job's order.
    assert reasons[0] == REASON_EXISTING and len(reasons) == 3, reasons
    assert "SQL warehouse" in reasons[1]
    assert reasons[2] == "cluster 'task:s' " + REASON_SINGLE_NODE
    assert {(o.job_id, o.job_name) for o in result.left_out} == {(mixed, "mixed")}
    # A job with nothing imported says it as its skip reason, as before: not twice.
    assert [(s.job_id, s.reason) for s in result.skipped] == [(tiny, "cluster 'task:s' " + REASON_SINGLE_NODE)]


def test_cli_prints_left_out_lines_under_the_jobs_projects_and_in_json(
        emulator: RunningWorkspace, gateway: DatabricksGateway, cli_workspace: str,
        trimtab: Callable[..., tuple[int, str, str]]) -> None:
    mixed = _mixed(gateway, emulator)
    other = gateway.create_job({"name": "plain", "job_clusters": [{"job_cluster_key": "main", "new_cluster": dict(SPEC)}],
                                "tasks": [{"task_key": "a", "job_cluster_key": "main", **_py()}]})
    for args, verb in ((["--dry-run"], "would create"), ([], "created"), ([], "exists")):
        code, out, err = trimtab("workspace", "import", "sbx", *args)
        assert code == 0, err
        lines = [line for line in out.splitlines() if not line.startswith((" ", "+", "-", "@", "note:"))]
        assert lines[0].startswith(f"{verb:<15} project") and lines[0].endswith(f"sbx/{mixed}/big  (mixed)"), lines
        assert lines[1] == f"left out        job {mixed} (mixed): {REASON_EXISTING}"
        assert lines[2].startswith(f"left out        job {mixed} (mixed): runs on a SQL warehouse")
        assert lines[3] == f"left out        job {mixed} (mixed): cluster 'task:s' {REASON_SINGLE_NODE}"
        assert lines[4].endswith(f"sbx/{other}/main  (plain)") and len(lines) == 5, lines
    code, out, err = trimtab("--json", "workspace", "import", "sbx", "--dry-run")
    assert code == 0, err
    answer = json.loads(out)
    assert [(o["job_id"], o["job_name"]) for o in answer["left_out"]] == [(mixed, "mixed")] * 3
    assert answer["left_out"][2]["reason"] == f"cluster 'task:s' {REASON_SINGLE_NODE}"


def test_a_wiring_under_shared_is_in_the_import_answer_and_printed_once(
        store: Store, server_key: bytes, emulator: RunningWorkspace, gateway: DatabricksGateway,
        cli_workspace: str, trimtab: Callable[..., tuple[int, str, str]], monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = SecretBox(server_key)  # the CLI added the workspace: its token is under the server's key
    for name in ("one", "two"):
        gateway.create_job({"name": name, "job_clusters": [{"job_cluster_key": "main", "new_cluster": dict(SPEC)}],
                            "tasks": [{"task_key": "a", "job_cluster_key": "main", **_py()}]})
    result = workspaces.import_jobs(store, secrets, "sbx", [], dry_run=True, wiring=SHARED_WIRING)
    (warning,) = result.warnings
    assert warning.startswith("Trimtab's init script /Shared/trimtab/init.sh and the agent wheel beside it are")
    assert "Can Manage" in warning and "root" in warning
    monkeypatch.setattr(workspaces._integration, "wiring", SHARED_WIRING)
    code, out, err = trimtab("workspace", "import", "sbx", "--dry-run")
    assert code == 0, err
    # Once for the import (not once a job), on stderr beside the progress line; stdout is the jobs'.
    assert err.count("Can Manage") == 1 and f"warning: {warning}" in err
    assert "Can Manage" not in out
    code, out, err = trimtab("--json", "workspace", "import", "sbx", "--dry-run")
    assert code == 0, err
    assert json.loads(out)["warnings"] == [warning]
    # A location only Trimtab writes: no warning.
    private = dataclasses.replace(WIRING, init_script={"volumes": {"destination": "/Volumes/main/t/s/init.sh"}},
                                  agent_wheel="/Volumes/main/t/s/trimtab-0.1.0-py3-none-any.whl")
    assert workspaces.import_jobs(store, secrets, "sbx", [], dry_run=True, wiring=private).warnings == ()
