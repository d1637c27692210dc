"""Connect the sandbox workspace and import its jobs through the real databricks-sdk."""

from __future__ import annotations

import pytest

from sandbox.workspace import RunningWorkspace
from server.databricks import DatabricksGateway, WorkspaceAuthError
from server.domain import Project, Run, Workspace
from server.errors import AlreadyExists, FailedPrecondition
from server.onboard import PROJECT_TAG, REASON_EXISTING
from server.services import workspaces
from server.services.secrets import SecretBox
from server.spec import find_cluster_spec
from server.store import Store
from tests.integration.conftest import WIRING


def _specs(gateway: DatabricksGateway) -> dict[int, dict]:
    return {int(j["job_id"]): gateway.get_job(int(j["job_id"]))["settings"] for j in gateway.list_jobs()}


def test_add_checks_the_token_and_stores_it_encrypted(store: Store, secrets: SecretBox,
                                                      emulator: RunningWorkspace) -> None:
    with pytest.raises(FailedPrecondition, match="refused the token"):
        workspaces.add_workspace(store, secrets, "bad", emulator.host, "dapi-wrong-token", "aws")
    assert store.workspaces.list() == []
    ws = workspaces.add_workspace(store, secrets, "sbx", emulator.host, emulator.token, "aws")
    stored = store.workspaces.secrets("sbx").token_encrypted
    assert emulator.token not in stored and secrets.decrypt(stored) == emulator.token
    assert ws.token_masked.startswith(emulator.token[:4]) and emulator.token not in ws.token_masked


def test_import_dry_run_then_import_then_again_is_idempotent(
        store: Store, secrets: SecretBox, connected: Workspace, gateway: DatabricksGateway) -> None:
    before = _specs(gateway)

    dry = workspaces.import_jobs(store, secrets, "sbx", [], dry_run=True, wiring=WIRING)
    keys = sorted((p.project.job_name, p.project.cluster_key) for p in dry.projects)
    names = {s["name"]: jid for jid, s in before.items()}
    assert ("pipeline-" in " ".join(k[0] for k in keys))
    # single-task job cluster, multi-task with two clusters, a task's own cluster, autoscaling:
    kinds = {k for _, k in keys}
    assert {"main", "ingest", "report", "task:main", "auto"} <= kinds
    assert all(p.created and "+" in p.diff and PROJECT_TAG in p.diff for p in dry.projects)
    shared = [s for s in dry.skipped if s.job_name.startswith("shared-cluster")]
    assert len(shared) == 1 and shared[0].reason == REASON_EXISTING
    assert store.projects.list() == [] and _specs(gateway) == before  # dry run changed nothing

    first = workspaces.import_jobs(store, secrets, "sbx", [], wiring=WIRING)
    assert len(first.projects) == len(dry.projects) and all(p.created for p in first.projects)
    after = _specs(gateway)
    for imported in first.projects:
        p = imported.project
        live = find_cluster_spec(after[p.job_id], p.cluster_key)
        assert live is not None
        assert live["custom_tags"][PROJECT_TAG] == str(p.id)
        assert live["spark_env_vars"] == {"TRIMTAB_SERVER": "127.0.0.1:50999",
                                          "TRIMTAB_TOKEN": "{{secrets/trimtab/agent-token}}",
                                          "TRIMTAB_AGENT_WHEEL": WIRING.agent_wheel}
        assert {"dbfs": {"destination": "dbfs:/trimtab/test-init.sh"}} in live["init_scripts"]
        assert p.original_spec == find_cluster_spec(before[p.job_id], p.cluster_key)
        assert p.current_spec == live
    # Everything else in the jobs is untouched (task definitions, dependencies, names).
    pipeline = after[names[next(n for n in names if n.startswith("pipeline-"))]]
    assert [t.get("depends_on") for t in pipeline["tasks"]] == \
        [t.get("depends_on") for t in before[pipeline_id(before)]["tasks"]]
    assert gateway.has_secret("trimtab", "agent-token")
    assert [t.scope for t in store.tokens.list()] == ["agent"]

    again = workspaces.import_jobs(store, secrets, "sbx", [], wiring=WIRING)
    assert sorted(p.project.id for p in again.projects) == sorted(p.project.id for p in first.projects)
    assert not any(p.created or p.diff for p in again.projects)
    assert _specs(gateway) == after and len(store.projects.list()) == len(first.projects)
    assert len(store.tokens.list()) == 1  # the agent secret is not re-created


def pipeline_id(settings_by_id: dict[int, dict]) -> int:
    return next(jid for jid, s in settings_by_id.items() if s["name"].startswith("pipeline-"))


def test_import_named_jobs_only_and_unknown_job(store: Store, secrets: SecretBox, connected: Workspace,
                                               job_ids: list[int]) -> None:
    result = workspaces.import_jobs(store, secrets, "sbx", [job_ids[0], 987654], wiring=WIRING)
    assert {p.project.job_id for p in result.projects} == {job_ids[0]}
    assert [(s.job_id, s.reason) for s in result.skipped] == [(987654, "job not found in the workspace")]


def test_add_with_an_unreachable_host_fails_clearly(store: Store, secrets: SecretBox,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    from server.clock import FakeClock

    # The SDK's retries sleep on the injected (fake) clock; a short budget keeps the loop short too.
    monkeypatch.setattr(workspaces, "ADD_CHECK_TIMEOUT_S", 1)
    monkeypatch.setattr(workspaces._integration, "clock", FakeClock())

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(FailedPrecondition, match="cannot reach"):
        workspaces.add_workspace(store, secrets, "gone", f"http://127.0.0.1:{port}", "dapi-x", "aws")
    assert store.workspaces.list() == []


def test_import_keeps_the_job_schedule_and_a_new_import_follows_its_changes(
        store: Store, secrets: SecretBox, connected: Workspace, gateway: DatabricksGateway,
        emulator: RunningWorkspace) -> None:
    import requests

    from server.domain import JobSchedule

    settings = {"name": "scheduled", "schedule": {"quartz_cron_expression": "0 30 2 * * ?",
                                                  "timezone_id": "Europe/Amsterdam"},
                "job_clusters": [{"job_cluster_key": "main", "new_cluster": {
                    "spark_version": "15.4.x-scala2.12", "node_type_id": "m5d.xlarge", "num_workers": 2}}],
                "tasks": [{"task_key": "main", "job_cluster_key": "main",
                           "spark_python_task": {"python_file": "dbfs:/x.py"}}]}
    job_id = gateway.create_job(settings)
    unscheduled = next(int(j["job_id"]) for j in gateway.list_jobs()
                       if int(j["job_id"]) != job_id and not j["settings"].get("schedule"))

    def imported() -> tuple[JobSchedule | None, JobSchedule | None]:
        result = workspaces.import_jobs(store, secrets, "sbx", [job_id, unscheduled], wiring=WIRING)
        by_job = {p.project.job_id: p.project for p in result.projects}
        # What import returned is what the store now holds.
        assert by_job[job_id] == store.projects.get_by_key("sbx", job_id, "main")
        return by_job[job_id].schedule, by_job[unscheduled].schedule

    dry = workspaces.import_jobs(store, secrets, "sbx", [job_id], dry_run=True, wiring=WIRING)
    assert dry.projects and store.projects.list() == []  # a dry run stores no schedule either
    nightly = JobSchedule("0 30 2 * * ?", "Europe/Amsterdam", paused=False)
    assert imported() == (nightly, None)
    assert imported() == (nightly, None)  # again: nothing changes
    project_id = store.projects.get_by_key("sbx", job_id, "main").id

    weekdays = {"quartz_cron_expression": "0 0 6 ? * MON-FRI", "timezone_id": "UTC", "pause_status": "PAUSED"}
    gateway.update_job(job_id, {"schedule": weekdays})
    assert imported()[0] == JobSchedule("0 0 6 ? * MON-FRI", "UTC", paused=True)
    weekdays["pause_status"] = "UNPAUSED"
    gateway.update_job(job_id, {"schedule": weekdays})
    assert imported()[0] == JobSchedule("0 0 6 ? * MON-FRI", "UTC", paused=False)

    reply = requests.post(f"{emulator.host}/api/2.1/jobs/update", timeout=10,
                          headers={"Authorization": f"Bearer {emulator.token}"},
                          json={"job_id": job_id, "fields_to_remove": ["schedule"]})
    assert reply.status_code == 200
    assert imported() == (None, None)
    assert imported() == (None, None)
    # The same project all along, onboarded once.
    assert store.projects.get_by_key("sbx", job_id, "main").id == project_id
    assert len([p for p in store.projects.list() if p.job_id == job_id]) == 1


def test_a_job_the_token_may_not_edit_is_skipped_saying_so_and_the_others_are_imported(
        store: Store, secrets: SecretBox, connected: Workspace, job_ids: list[int],
        monkeypatch: pytest.MonkeyPatch) -> None:
    # jobs/list shows jobs the token may only view; a 403 updating one must neither stop the import
    # of the others nor leave a project standing for a cluster Trimtab never reached (the project
    # is stored before the update: its id goes into the cluster's tag).
    locked = job_ids[0]
    real_update = DatabricksGateway.update_job

    def update_job(self: DatabricksGateway, job_id: int, new_settings: dict) -> None:
        if job_id == locked:
            raise WorkspaceAuthError(f"POST /api/2.2/jobs/update: 403 PERMISSION_DENIED: no CAN_MANAGE on job {job_id}")
        real_update(self, job_id, new_settings)

    with monkeypatch.context() as patch:
        patch.setattr(DatabricksGateway, "update_job", update_job)
        result = workspaces.import_jobs(store, secrets, "sbx", job_ids[:2], wiring=WIRING)
    (skipped,) = result.skipped
    assert skipped.job_id == locked and skipped.reason.startswith("Databricks refused to update the job (POST ")
    assert skipped.reason.endswith("needs CAN_MANAGE on it to onboard it")
    assert {p.job_id for p in store.projects.list()} == {job_ids[1]}
    assert store.workspaces.get("sbx").status == "ok"
    # With the permission granted, the same import takes it.
    (imported,) = workspaces.import_jobs(store, secrets, "sbx", [locked], wiring=WIRING).projects
    assert imported.created and imported.project.job_id == locked


def test_a_project_with_history_is_never_removed(store: Store) -> None:
    project = store.projects.add(Project(workspace="ws", job_id=1, cluster_key="main"))
    store.runs.add(Run(project_id=int(project.id or 0), databricks_run_id=1))
    with pytest.raises(AlreadyExists, match="has runs"):
        store.projects.remove_unused(int(project.id or 0))
    assert store.projects.get(int(project.id or 0)).job_id == 1


def test_a_new_project_is_monitoring_until_auto_apply_and_the_planner_say_otherwise(
        store: Store, secrets: SecretBox, connected: Workspace, job_ids: list[int]) -> None:
    """Fresh-clone review (ninth session): imported with auto-apply off, projects showed phase
    `learning`, which the docs give to auto-apply on, and a job that never ran kept it for good."""
    from server.domain import ClusterConfig, Recommendation
    from server.services.projects import update_settings

    (imported,) = workspaces.import_jobs(store, secrets, "sbx", [job_ids[0]], wiring=WIRING).projects
    pid = int(imported.project.id or 0)
    assert store.projects.get(pid).phase == "monitoring"
    assert update_settings(store, str(pid), {"auto_apply": True}).project.phase == "learning"
    assert update_settings(store, str(pid), {"auto_apply": False}).project.phase == "monitoring"
    # Once something is planned, the phase is the planner's: a settings change does not move it.
    store.recommendations.add(Recommendation(project_id=pid, config=ClusterConfig(node_type_id="m5.xlarge"),
                                             phase="monitoring"))
    assert update_settings(store, str(pid), {"auto_apply": True}).project.phase == "monitoring"
