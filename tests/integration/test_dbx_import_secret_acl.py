"""The owner of an onboarded job cluster can read the agent's token secret.

Databricks: "The cluster owner must have CAN READ permission on the secret scope", and a job
cluster's owner is the job's run-as principal. Import gives that principal READ on the scope
(secrets/acls/put, once, never lowering a stronger permission), says so per job when it cannot,
and on a Standard-plan workspace (no secret ACLs) creates the scope managed by "users". The
emulator fails a cluster whose owner cannot read a referenced secret, as the service does.
Through the real SDK against the emulator, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from sandbox.workspace import RunningWorkspace
from server.databricks import DatabricksGateway
from server.domain import Workspace
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store
from tests.integration.conftest import WIRING, admin_call

SP = "6c1a9f2e-0b1d-4c7e-9a51-3f2d7e8b9c10"  # a service principal's application id


def _run_as(gateway: DatabricksGateway, job_id: int, principal: str) -> None:
    gateway.update_job(job_id, {"run_as": {"service_principal_name": principal}})


def _acl(emulator: RunningWorkspace, principal: str) -> str | None:
    items = admin_call(emulator, "GET", "secrets/acls/list", {"scope": WIRING.secret_scope}).get("items") or []
    return next((i["permission"] for i in items if i["principal"] == principal), None)


def test_import_grants_the_run_as_principal_read_and_its_cluster_reads_the_token(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int]) -> None:
    _run_as(gateway, job_ids[0], SP)
    assert gateway.get_job(job_ids[0])["run_as_user_name"] == SP
    result = workspaces.import_jobs(store, secrets, "sbx", job_ids[:1], wiring=WIRING)
    assert len(result.projects) >= 1 and not result.skipped
    assert _acl(emulator, SP) == "READ"
    assert _acl(emulator, "sandbox@trimtab.local") == "MANAGE"  # Trimtab's own is never lowered
    # Again (and a re-attach goes the same way): nothing to grant, still READ.
    workspaces.import_jobs(store, secrets, "sbx", job_ids[:1], wiring=WIRING, reattach=True)
    assert _acl(emulator, SP) == "READ"

    run_id = gateway.run_now(job_ids[0])
    assert emulator.wait_idle(60)
    assert gateway.get_run(run_id)["state"].get("result_state") == "SUCCESS"

    # Without READ the cluster does not start, as on Databricks.
    admin_call(emulator, "POST", "secrets/acls/delete", {"scope": WIRING.secret_scope, "principal": SP})
    run_id = gateway.run_now(job_ids[0])
    assert emulator.wait_idle(60)
    said = " ".join(t["state"].get("state_message", "") for t in gateway.get_run(run_id)["tasks"])
    assert "no permission" in said and SP in said, said
    # ...with the termination code databricks-sdk names for it.
    cluster_id = gateway.get_run(run_id)["tasks"][0]["cluster_instance"]["cluster_id"]
    assert (gateway.get_cluster(cluster_id) or {})["termination_reason"]["code"] == "SECRET_PERMISSION_DENIED"


def test_a_grant_the_scope_refuses_skips_the_job_naming_principal_and_permission(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int]) -> None:
    # The scope exists, managed by someone else; Trimtab's user may only write to it.
    gateway.put_secret(WIRING.secret_scope, "other", "x")
    admin_call(emulator, "POST", "secrets/acls/put", {"scope": WIRING.secret_scope, "principal": "admins",
                                                 "permission": "MANAGE"})
    admin_call(emulator, "POST", "secrets/acls/put", {"scope": WIRING.secret_scope, "principal": "sandbox@trimtab.local",
                                                 "permission": "WRITE"})
    _run_as(gateway, job_ids[0], SP)
    before = gateway.get_job(job_ids[0])["settings"]
    result = workspaces.import_jobs(store, secrets, "sbx", job_ids[:1], wiring=WIRING)
    assert not result.projects
    (skip,) = result.skipped
    assert SP in skip.reason and "READ" in skip.reason and "MANAGE on the scope" in skip.reason, skip.reason
    assert gateway.get_job(job_ids[0])["settings"] == before  # not onboarded: its cluster would not start


def test_a_standard_plan_workspace_gets_a_scope_every_user_manages(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        job_ids: list[int]) -> None:
    gateway.put_dbfs_file("/trimtab/test-init.sh", b"#!/bin/bash\nexit 0\n")
    workspaces.add_workspace(store, secrets, "sbx", emulator.host, emulator.token, "aws", plan="standard")
    _run_as(gateway, job_ids[0], SP)
    result = workspaces.import_jobs(store, secrets, "sbx", job_ids[:1], wiring=WIRING)
    assert result.projects and not result.skipped
    items = admin_call(emulator, "GET", "secrets/acls/list", {"scope": WIRING.secret_scope})["items"]
    assert items == [{"principal": "users", "permission": "MANAGE"}]  # no per-principal ACLs
