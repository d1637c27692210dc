"""Auto-import: new Databricks jobs of a workspace with it on become projects on the collector's poll.

Real parts throughout: the sandbox workspace emulator over HTTP, the real databricks-sdk gateway
built by the real `gateway_for`, the real `import_jobs` (recorded, not replaced: the test sees
which jobs each pass judged), both store engines, and a real gRPC server on 127.0.0.1:0 for the
CLI. The collector's clock is a FakeClock, so discovery's interval passes without waiting.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.service.catalog import ArtifactMatcher, ArtifactType, MatchType

from sandbox.workspace import RunningWorkspace
from sandbox.workspace.seed import aws_cluster
from server.clock import FakeClock
from server.collect import Collector
from server.collect.discovery import AutoImport
from server.collect.health import UNREACHABLE
from server.config import load_config
from server.databricks import (
    DatabricksCallError,
    DatabricksGateway,
    DatabricksUnavailable,
    WorkspaceAuthError,
)
from server.databricks.errors import DatabricksRejected
from server.domain import ImportLimits, ImportResult, ProjectSettings, Workspace
from server.onboard import PROJECT_TAG, AgentWiring, init_script_info
from server.services import workspaces
from server.services.secrets import SecretBox
from server.spec import find_cluster_spec
from server.store import Store
from tests.integration.conftest import NOOP_INIT, WIRING, admin_post

INTERVAL_S = 900.0
POLL_S = 60.0


@pytest.fixture
def clock(integration_clock: FakeClock) -> FakeClock:
    return integration_clock


@pytest.fixture
def judged() -> list[int]:
    """The job ids every discovery pass handed to import, in order."""
    return []


@pytest.fixture
def collector(store: Store, secrets: SecretBox, clock: FakeClock, judged: list[int]) -> Collector:
    def import_jobs(name: str, ids: list[int], *, limits: ImportLimits) -> ImportResult:
        judged.extend(ids)
        return workspaces.import_jobs(store, secrets, name, ids, limits=limits)

    discovery = AutoImport(store, import_jobs, clock=clock, interval_s=INTERVAL_S)
    return Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws), clock=clock,
                     poll_interval_s=POLL_S, discovery=discovery)


@pytest.fixture
def auto(store: Store, secrets: SecretBox, clock: FakeClock, emulator: RunningWorkspace,
         gateway: DatabricksGateway, job_ids: list[int]) -> Workspace:
    """The emulator as "sbx" with auto-import on, its seeded jobs imported by hand as at connection."""
    gateway.put_dbfs_file("/trimtab/test-init.sh", NOOP_INIT)
    ws = workspaces.add_workspace(store, secrets, "sbx", emulator.host, emulator.token, "aws", auto_import=True)
    workspaces.import_jobs(store, secrets, "sbx", [], wiring=WIRING)
    return ws


def _job(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "job_clusters": [{"job_cluster_key": "main", "new_cluster": spec}],
            "tasks": [{"task_key": "main", "job_cluster_key": "main",
                       "spark_python_task": {"python_file": "dbfs:/jobs/etl.py"}}]}


def _single_node() -> dict[str, Any]:
    spec = aws_cluster("m5d.xlarge", 0)
    spec["spark_conf"] = {"spark.databricks.cluster.profile": "singleNode", "spark.master": "local[*]"}
    spec["custom_tags"] = {**spec["custom_tags"], "ResourceClass": "SingleNode"}
    return spec


def _projects_of(store: Store, job_id: int) -> list[Any]:
    return [p for p in store.projects.list("sbx") if p.job_id == job_id]


def test_a_new_job_is_imported_at_the_first_pass_after_the_interval_and_only_once(
        store: Store, clock: FakeClock, collector: Collector, auto: Workspace, gateway: DatabricksGateway,
        judged: list[int], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="server.collect.discovery")
    before = len(store.projects.list())
    collector.poll_once()  # the first pass: every seeded job is a project already, or does not qualify
    first_pass = list(judged)
    assert len(store.projects.list()) == before
    assert all(not _projects_of(store, j) for j in first_pass)  # only the shared-cluster job was judged

    new_job = gateway.create_job(_job("nightly-etl", aws_cluster("m5d.xlarge", 3)))
    clock.advance(INTERVAL_S - 1)
    collector.poll_once()
    assert _projects_of(store, new_job) == [] and new_job not in judged  # not before the interval

    clock.advance(1)
    collector.poll_once()
    (project,) = _projects_of(store, new_job)
    assert (project.cluster_key, project.job_name) == ("main", "nightly-etl")
    # As a manual import leaves it: default settings (auto-apply off), the cluster onboarded.
    assert project.settings == ProjectSettings() and project.settings.auto_apply is False
    live = find_cluster_spec(gateway.get_job(new_job)["settings"], "main")
    assert live is not None and live["custom_tags"][PROJECT_TAG] == str(project.id)
    assert live["spark_env_vars"]["TRIMTAB_SERVER"] == WIRING.server_address
    lines = [r.getMessage() for r in caplog.records if "auto-imported" in r.getMessage()]
    assert lines == [f"workspace sbx: auto-imported job {new_job} (nightly-etl) as sbx/{new_job}/main "
                     f"(project {project.id})"]
    assert all(r.levelno == logging.INFO for r in caplog.records if "auto-imported" in r.getMessage())

    # An imported job is not imported (or judged) again; the others stay as they were.
    judged.clear()
    clock.advance(INTERVAL_S)
    collector.poll_once()
    assert judged == [] and len(_projects_of(store, new_job)) == 1
    assert len(store.projects.list()) == before + 1


def test_a_detached_project_is_not_imported_again(
        store: Store, secrets: SecretBox, clock: FakeClock, collector: Collector, auto: Workspace,
        job_ids: list[int], judged: list[int]) -> None:
    from server.services import recommendations

    project = store.projects.list("sbx")[0]
    recommendations.detach_project(store, secrets, project.name)
    collector.poll_once()
    assert project.job_id not in judged and store.projects.get(int(project.id or 0)).detached


def test_with_auto_import_off_a_new_job_is_left_until_it_is_turned_on(
        store: Store, clock: FakeClock, collector: Collector, auto: Workspace, gateway: DatabricksGateway,
        judged: list[int]) -> None:
    workspaces.update_workspace(store, "sbx", auto_import=False)
    new_job = gateway.create_job(_job("weekly", aws_cluster("r5d.xlarge", 2)))
    for _ in range(3):
        collector.poll_once()
        clock.advance(INTERVAL_S)
    assert judged == [] and _projects_of(store, new_job) == []

    workspaces.update_workspace(store, "sbx", auto_import=True)
    collector.poll_once()  # never passed: due at once
    assert len(_projects_of(store, new_job)) == 1


def test_a_job_that_does_not_qualify_is_judged_once_until_edited(
        store: Store, clock: FakeClock, collector: Collector, auto: Workspace, gateway: DatabricksGateway,
        judged: list[int]) -> None:
    collector.poll_once()
    single = gateway.create_job(_job("local-report", _single_node()))
    judged.clear()
    clock.advance(INTERVAL_S)
    collector.poll_once()
    assert judged == [single] and _projects_of(store, single) == []

    for _ in range(2):  # unchanged: listed, not judged again
        clock.advance(INTERVAL_S)
        collector.poll_once()
    assert judged == [single]

    # Edited to a cluster with workers: judged at the next pass, and imported.
    gateway.update_job(single, {"job_clusters": [{"job_cluster_key": "main",
                                                  "new_cluster": aws_cluster("m5d.xlarge", 2)}]})
    clock.advance(INTERVAL_S)
    collector.poll_once()
    assert judged == [single, single] and len(_projects_of(store, single)) == 1


def test_discovery_failing_does_not_stop_run_collection(
        store: Store, clock: FakeClock, collector: Collector, auto: Workspace, gateway: DatabricksGateway,
        emulator: RunningWorkspace, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    project = store.projects.list("sbx")[0]
    calls: list[str] = []

    def broken(self: DatabricksGateway) -> list[dict[str, Any]]:
        calls.append("list")
        raise (RuntimeError("bug in discovery") if len(calls) == 1
               else DatabricksCallError("GET /api/2.2/jobs/list: 400 bad page token"))

    monkeypatch.setattr(DatabricksGateway, "list_jobs", broken)
    caplog.set_level(logging.INFO, logger="server.collect.collector")
    for n in (1, 2):
        run_id = gateway.run_now(project.job_id)
        assert emulator.wait_idle(60)
        collected = collector.poll_once()
        assert run_id in {r.databricks_run_id for r in collected}, n
        assert len(calls) == n
        assert store.workspaces.get("sbx").status == "ok"
        clock.advance(INTERVAL_S)
    failed = [r for r in caplog.records if "auto-import failed" in r.getMessage()]
    assert len(failed) == 2 and failed[0].exc_info is not None


def test_an_unreachable_workspace_rests_from_discovery_too(
        store: Store, secrets: SecretBox, clock: FakeClock, collector: Collector, emulator: RunningWorkspace,
        gateway: DatabricksGateway, job_ids: list[int], judged: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    """A workspace with no projects yet is reached only by discovery: its failure rests it as collection's does."""
    gateway.put_dbfs_file("/trimtab/test-init.sh", NOOP_INIT)
    workspaces.add_workspace(store, secrets, "sbx", emulator.host, emulator.token, "aws", auto_import=True)
    calls: list[float] = []
    real = DatabricksGateway.list_jobs

    def flaky(self: DatabricksGateway) -> list[dict[str, Any]]:
        calls.append(clock.monotonic())
        if len(calls) == 1:
            raise DatabricksUnavailable(f"GET /api/2.2/jobs/list: cannot reach {emulator.host}: 503")
        return real(self)

    monkeypatch.setattr(DatabricksGateway, "list_jobs", flaky)
    collector.poll_once()
    assert store.workspaces.get("sbx").status == UNREACHABLE and store.projects.list() == []
    # Resting: the interval has passed, but the backoff (one poll interval after one failure) holds.
    clock.advance(POLL_S - 1)
    collector.poll_once()
    assert len(calls) == 1
    clock.advance(INTERVAL_S)
    collector.poll_once()
    assert len(calls) == 2 and store.workspaces.get("sbx").status == "ok"
    assert store.projects.list() and judged  # every qualified seeded job imported in that pass


def test_interval_setting_comes_from_the_environment() -> None:
    assert load_config(env={}).auto_import_interval_seconds == 900.0
    env = {"TRIMTAB_AUTO_IMPORT_INTERVAL_SECONDS": "120"}
    assert load_config(env=env).auto_import_interval_seconds == 120.0


# ------------------------------------------------------------------ CLI over real gRPC



def test_cli_add_set_show_and_list_auto_import(
        trimtab, store: Store, emulator: RunningWorkspace,  # type: ignore[no-untyped-def]
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TT_DBX_TOKEN", emulator.token)
    add = ("workspace", "add", "sbx", "--host", emulator.host, "--token-env", "TT_DBX_TOKEN", "--cloud", "aws")
    code, out, _ = trimtab(*add, "--auto-import")
    assert code == 0 and "auto-import: on" in out.splitlines()
    assert store.workspaces.get("sbx").auto_import is True
    code, out, _ = trimtab("workspace", "show", "sbx")
    assert code == 0 and "auto-import: on" in out.splitlines() and "status:      ok" in out.splitlines()

    code, out, _ = trimtab("workspace", "set", "sbx", "--auto-import", "off")
    assert code == 0 and "auto-import: off" in out.splitlines()
    assert store.workspaces.get("sbx").auto_import is False
    code, out, _ = trimtab("--json", "workspace", "set", "sbx", "--auto-import", "on")
    assert code == 0 and '"auto_import": true' in out
    code, out, _ = trimtab("workspace", "list")
    rows = {line.split()[0]: line.split() for line in out.splitlines()}
    assert rows["NAME"][-1] == "AUTO-IMPORT" and rows["sbx"][-1] == "on"

    # Rotating the token without the flag keeps the setting.
    code, out, _ = trimtab(*add, "--replace")
    assert code == 0 and "auto-import: on" in out.splitlines()

    code, _, err = trimtab("workspace", "set", "sbx", "--auto-import", "maybe")
    assert code == 2 and "'maybe': use on or off" in err
    code, _, err = trimtab("workspace", "set", "sbx")
    assert code == 2 and "nothing to change" in err
    assert store.workspaces.get("sbx").auto_import is True
    code, out, err = trimtab("workspace", "set", "nope", "--auto-import", "on")
    assert code == 1 and out == ""
    assert "workspace 'nope' not found" in err and "NOT_FOUND" in err and "Traceback" not in err


def test_a_standard_access_job_waiting_for_the_allowlist_is_imported_once_the_script_is_allowlisted(
        store: Store, clock: FakeClock, collector: Collector, auto: Workspace, gateway: DatabricksGateway,
        emulator: RunningWorkspace, judged: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    # Allowlisting changes nothing in the job, so its unchanged settings must not keep it skipped.
    script = "/Volumes/main/ops/trimtab/trimtab-init.sh"
    monkeypatch.setattr(workspaces._integration, "wiring", AgentWiring(
        server_address="127.0.0.1:50999", init_script=init_script_info(script), upload_init_script=False,
        agent_wheel="/Volumes/main/ops/trimtab/trimtab-0.1.0-py3-none-any.whl"))
    collector.poll_once()
    spec = {**aws_cluster("m5d.xlarge", 2), "spark_version": "15.4.x-scala2.12", "data_security_mode": "USER_ISOLATION"}
    job_id = gateway.create_job(_job("standard-etl", spec))
    judged.clear()
    for _ in range(2):  # not allowlisted: skipped, and not judged again (a pass reads only the allowlist)
        clock.advance(INTERVAL_S)
        collector.poll_once()
    assert judged == [job_id] and _projects_of(store, job_id) == []

    admin = WorkspaceClient(host=emulator.host, token=emulator.token, auth_type="pat")
    admin.artifact_allowlists.update(ArtifactType.INIT_SCRIPT, [
        ArtifactMatcher(artifact="/Volumes/main/ops/trimtab", match_type=MatchType.PREFIX_MATCH)])
    clock.advance(INTERVAL_S)
    collector.poll_once()
    assert len(_projects_of(store, job_id)) == 1


def test_a_job_the_token_may_not_edit_is_skipped_and_the_workspace_stays_ok(
        store: Store, clock: FakeClock, collector: Collector, auto: Workspace, gateway: DatabricksGateway,
        judged: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    # jobs/list shows jobs the token can only view; editing one is a 403 for that job alone.
    collector.poll_once()
    locked = gateway.create_job(_job("someone-elses", aws_cluster("m5d.xlarge", 2)))
    mine = gateway.create_job(_job("mine", aws_cluster("m5d.xlarge", 2)))
    real_update = DatabricksGateway.update_job

    def update_job(self: DatabricksGateway, job_id: int, new_settings: dict[str, Any]) -> None:
        if job_id == locked:
            raise WorkspaceAuthError(f"POST /api/2.2/jobs/update: 403 PERMISSION_DENIED: no CAN_MANAGE on job {job_id}")
        real_update(self, job_id, new_settings)

    monkeypatch.setattr(DatabricksGateway, "update_job", update_job)
    judged.clear()
    clock.advance(INTERVAL_S)
    collector.poll_once()
    assert sorted(judged) == sorted([locked, mine])
    assert _projects_of(store, locked) == [] and len(_projects_of(store, mine)) == 1
    assert store.workspaces.get("sbx").status == "ok"
    # Not tried again while the job is unchanged: no jobs/update every 15 minutes.
    judged.clear()
    clock.advance(INTERVAL_S)
    collector.poll_once()
    assert judged == []


def test_a_standard_access_job_no_allowlist_can_help_is_judged_once(
        store: Store, clock: FakeClock, collector: Collector, auto: Workspace, gateway: DatabricksGateway,
        judged: list[int]) -> None:
    # The wiring's init script is on DBFS, which standard access never runs: only a setting or the
    # job changing could change the answer, so it is not judged again each pass.
    collector.poll_once()
    spec = {**aws_cluster("m5d.xlarge", 2), "spark_version": "15.4.x-scala2.12", "data_security_mode": "USER_ISOLATION"}
    job_id = gateway.create_job(_job("standard-etl", spec))
    judged.clear()
    for _ in range(3):
        clock.advance(INTERVAL_S)
        collector.poll_once()
    assert judged == [job_id] and _projects_of(store, job_id) == []


def test_discovery_failing_right_after_a_workspace_came_back_rests_it_again(
        store: Store, clock: FakeClock, collector: Collector, auto: Workspace,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Its status is judged on the store as collection left it, not as the poll started: here the
    # same error as before it came back must still be written.
    down = DatabricksUnavailable("GET /api/2.2/jobs/list: cannot reach the host")

    def failing(self: DatabricksGateway, *args: Any, **kwargs: Any) -> Any:
        raise down

    with monkeypatch.context() as patch:
        patch.setattr(DatabricksGateway, "get_job", failing)
        collector.poll_once()
    assert (store.workspaces.get("sbx").status, store.workspaces.get("sbx").last_error) == (UNREACHABLE, str(down))
    monkeypatch.setattr(DatabricksGateway, "list_jobs", failing)
    clock.advance(INTERVAL_S)  # past its rest, and a discovery pass is due
    collector.poll_once()  # the probe and collection go through; discovery fails as before
    assert store.workspaces.get("sbx").status == UNREACHABLE


def test_a_job_whose_import_is_refused_is_not_rewritten_every_pass(
        store: Store, clock: FakeClock, collector: Collector, auto: Workspace, gateway: DatabricksGateway,
        judged: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    collector.poll_once()
    job_id = gateway.create_job(_job("refused", aws_cluster("m5d.xlarge", 2)))
    updates: list[int] = []

    def refused(self: DatabricksGateway, job: int, new_settings: dict[str, Any]) -> None:
        updates.append(job)
        raise DatabricksRejected("POST /api/2.2/jobs/update: 400 INVALID_PARAMETER_VALUE: Cluster validation error")

    with monkeypatch.context() as patch:
        patch.setattr(DatabricksGateway, "update_job", refused)
        for _ in range(3):
            clock.advance(INTERVAL_S)
            collector.poll_once()
    assert updates == [job_id] and _projects_of(store, job_id) == []
    # Once the job changes it is tried again.
    gateway.update_job(job_id, {"name": "refused-then-fixed"})
    clock.advance(INTERVAL_S)
    collector.poll_once()
    assert len(_projects_of(store, job_id)) == 1


def test_a_job_skipped_over_an_unreadable_policy_is_imported_once_the_policy_reads(
        store: Store, clock: FakeClock, collector: Collector, auto: Workspace, gateway: DatabricksGateway,
        emulator: RunningWorkspace, judged: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    # Review finding (diffrev 1): granting Trimtab's token CAN_USE on the policy changes nothing in the
    # job, so its unchanged settings kept it skipped until edited or a restart.
    collector.poll_once()
    definition = json.dumps({"spark_version": {"type": "unlimited", "isOptional": True}})
    policy_id = str(admin_post(emulator, "policies/clusters/create", {"name": "etl", "definition": definition})
                    ["policy_id"])
    waiting = sorted(gateway.create_job(_job(f"etl-{n}", {**aws_cluster("m5d.xlarge", 2), "policy_id": policy_id}))
                     for n in range(2))
    policy_reads: list[str] = []
    real_read = DatabricksGateway.get_cluster_policy

    def get_cluster_policy(self: DatabricksGateway, policy: str) -> dict[str, Any]:
        policy_reads.append(policy)
        return real_read(self, policy)

    monkeypatch.setattr(DatabricksGateway, "get_cluster_policy", get_cluster_policy)
    refused = emulator.inject_fault("GET", "policies/clusters/get", status=403, error_code="PERMISSION_DENIED")
    judged.clear()
    clock.advance(INTERVAL_S)
    collector.poll_once()
    assert judged == waiting and all(_projects_of(store, j) == [] for j in waiting)
    assert store.workspaces.get("sbx").status == "ok"
    # Still refused: not judged again (no jobs/get a job), the policy read once a pass for both jobs.
    policy_reads.clear()
    for _ in range(2):
        clock.advance(INTERVAL_S)
        collector.poll_once()
    assert judged == waiting and policy_reads == [policy_id, policy_id]

    emulator.clear_fault(refused)  # an admin grants CAN_USE on the policy
    clock.advance(INTERVAL_S)
    collector.poll_once()
    assert all(len(_projects_of(store, j)) == 1 for j in waiting)
    assert judged == waiting + waiting
