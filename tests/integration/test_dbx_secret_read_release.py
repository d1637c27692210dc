"""READ on the agent token's scope is held only by the run-as principals of jobs Trimtab onboarded.

Review finding: import granted a job's run-as principal READ before the job's jobs/update, so a job
it then skipped (403: Trimtab may only view it; a policy refusal) left its owner able to read the
agent token with no project made; and detach left the grant in place. Now a READ this import made
for a job it then did not onboard is removed, and detach removes the READ Trimtab made for a
principal that no longer runs any attached project of the workspace, never one it did not make
(an admin's READ, Trimtab's own MANAGE), never one another attached project still needs.
Through the real SDK against the emulator, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from sandbox.workspace import RunningWorkspace
from server.databricks import DatabricksGateway
from server.domain import Project, Workspace
from server.services import recommendations, workspaces
from server.services.secrets import SecretBox
from server.store import Store
from tests.integration.conftest import WIRING, admin_call

EVE = "eve@corp.example"
TRIMTAB = "sandbox@trimtab.local"  # the emulator's token principal, MANAGE on the scope it made


def _acls(emulator: RunningWorkspace) -> dict[str, str]:
    items = admin_call(emulator, "GET", "secrets/acls/list", {"scope": WIRING.secret_scope}).get("items") or []
    return {i["principal"]: i["permission"] for i in items}


def _run_as(gateway: DatabricksGateway, job_id: int, user: str) -> None:
    gateway.update_job(job_id, {"run_as": {"user_name": user}})


def _import(store: Store, secrets: SecretBox, job_id: int) -> list[Project]:
    result = workspaces.import_jobs(store, secrets, "sbx", [job_id], wiring=WIRING)
    return [p.project for p in result.projects]


def _detach(store: Store, secrets: SecretBox, project: Project) -> None:
    recommendations.detach_project(store, secrets, project.name)


def test_a_job_trimtab_may_only_view_leaves_its_owner_no_read(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int]) -> None:
    _run_as(gateway, job_ids[0], EVE)
    emulator.set_job_manage(job_ids[0], False)  # jobs/update answers 403
    result = workspaces.import_jobs(store, secrets, "sbx", job_ids[:1], wiring=WIRING)
    assert not result.projects and "CAN_MANAGE" in result.skipped[0].reason
    assert EVE not in _acls(emulator)
    assert _acls(emulator)[TRIMTAB] == "MANAGE"


def test_a_skipped_job_leaves_a_read_someone_else_gave(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int]) -> None:
    # The scope exists, and an admin gave eve READ before Trimtab imported anything.
    gateway.put_secret(WIRING.secret_scope, "other", "x")
    admin_call(emulator, "POST", "secrets/acls/put", {"scope": WIRING.secret_scope, "principal": EVE,
                                                 "permission": "READ"})
    _run_as(gateway, job_ids[0], EVE)
    emulator.set_job_manage(job_ids[0], False)
    assert not workspaces.import_jobs(store, secrets, "sbx", job_ids[:1], wiring=WIRING).projects
    assert _acls(emulator)[EVE] == "READ"


def test_a_skipped_job_keeps_the_read_an_imported_job_of_the_same_owner_needs(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int]) -> None:
    _run_as(gateway, job_ids[0], EVE)
    _run_as(gateway, job_ids[1], EVE)
    emulator.set_job_manage(job_ids[1], False)
    result = workspaces.import_jobs(store, secrets, "sbx", job_ids[:2], wiring=WIRING)
    assert result.projects and [s.job_id for s in result.skipped] == [job_ids[1]]
    assert _acls(emulator)[EVE] == "READ"
    # ...and its cluster starts and reads the token.
    run_id = gateway.run_now(job_ids[0])
    assert emulator.wait_idle(60)
    assert gateway.get_run(run_id)["state"].get("result_state") == "SUCCESS"


def test_detach_removes_the_read_trimtab_gave_and_nothing_else(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int]) -> None:
    _run_as(gateway, job_ids[0], EVE)
    (project,) = _import(store, secrets, job_ids[0])
    assert _acls(emulator)[EVE] == "READ"
    _detach(store, secrets, project)
    assert EVE not in _acls(emulator)
    assert _acls(emulator)[TRIMTAB] == "MANAGE"  # Trimtab's own, never touched
    # A re-attach grants it again, and the cluster reads the token.
    workspaces.import_jobs(store, secrets, "sbx", job_ids[:1], wiring=WIRING, reattach=True)
    assert _acls(emulator)[EVE] == "READ"
    run_id = gateway.run_now(job_ids[0])
    assert emulator.wait_idle(60)
    assert gateway.get_run(run_id)["state"].get("result_state") == "SUCCESS"


def test_detach_keeps_the_read_another_attached_project_needs(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int]) -> None:
    _run_as(gateway, job_ids[0], EVE)
    (first,) = _import(store, secrets, job_ids[0])
    _run_as(gateway, job_ids[1], EVE)
    second = _import(store, secrets, job_ids[1])  # eve holds READ already: this import put none
    _detach(store, secrets, first)
    assert _acls(emulator)[EVE] == "READ"
    run_id = gateway.run_now(job_ids[1])
    assert emulator.wait_idle(60)
    assert gateway.get_run(run_id)["state"].get("result_state") == "SUCCESS"
    # The last of eve's projects detached: the READ Trimtab made (for the first) goes.
    for project in second:
        _detach(store, secrets, project)
    assert EVE not in _acls(emulator)


def test_detach_leaves_a_read_trimtab_did_not_make(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int]) -> None:
    gateway.put_secret(WIRING.secret_scope, "other", "x")
    admin_call(emulator, "POST", "secrets/acls/put", {"scope": WIRING.secret_scope, "principal": EVE,
                                                 "permission": "READ"})
    _run_as(gateway, job_ids[0], EVE)
    (project,) = _import(store, secrets, job_ids[0])
    _detach(store, secrets, project)
    assert _acls(emulator)[EVE] == "READ"


def test_detach_leaves_a_permission_raised_since(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int]) -> None:
    _run_as(gateway, job_ids[0], EVE)
    (project,) = _import(store, secrets, job_ids[0])
    # An admin made eve a writer of the scope since: no longer the READ Trimtab made.
    admin_call(emulator, "POST", "secrets/acls/put", {"scope": WIRING.secret_scope, "principal": EVE,
                                                 "permission": "WRITE"})
    _detach(store, secrets, project)
    assert _acls(emulator)[EVE] == "WRITE"
