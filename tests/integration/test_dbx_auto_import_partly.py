"""Auto-import of a job imported in part: a cluster left out (its policy unreadable, the INIT_SCRIPT
allowlist not covering Trimtab's script) while another became a project.

Gap (last session's note): once a job had any project, auto-import treated it as done, so a left-out
cluster that became importable (CAN_USE granted on its policy, the script allowlisted) waited for a
manual `workspace import`. Now the pass judges such a job again with the same rules and memory as a new
one, and onboards only its clusters without a project: the imported cluster, its project (settings
included) and its runs stay as they were.

And the cost: a job left out over the allowlist alone was judged (a `jobs/get`) every pass; now a pass
reads the allowlist once and judges it again only once the allowlist covers the script.

Real parts: the sandbox workspace emulator over HTTP (its request log counted), the real gateway,
`import_jobs` and `Collector`, both store engines, a FakeClock for the intervals.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from collections import Counter
from typing import Any

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.service.catalog import ArtifactMatcher, ArtifactType, MatchType

from sandbox.workspace import RunningWorkspace
from sandbox.workspace.seed import aws_cluster
from server.clock import FakeClock
from server.collect import Collector
from server.collect.discovery import AutoImport
from server.databricks import DatabricksGateway
from server.domain import ImportLimits, ImportResult, Project, ProjectSettings
from server.onboard import PROJECT_TAG, AgentWiring, init_script_info
from server.services import recommendations, workspaces
from server.services.secrets import SecretBox
from server.spec import find_cluster_spec
from server.store import Store
from tests.integration.conftest import WIRING, admin_post

INTERVAL_S = 900.0
SCRIPT = "/Volumes/main/ops/trimtab/trimtab-init.sh"
STANDARD = {**aws_cluster("m5d.xlarge", 2), "spark_version": "15.4.x-scala2.12", "data_security_mode": "USER_ISOLATION"}
REQUEST = re.compile(r'"(GET|POST|PUT|HEAD) /api/[0-9.]+/([^ ?]+)')


def _two_clusters(name: str, left_out: dict[str, Any]) -> dict[str, Any]:
    """Two tasks on two job clusters: "etl" (always qualifies) and "report" (``left_out``)."""
    return {"name": name, "job_clusters": [
        {"job_cluster_key": "etl", "new_cluster": aws_cluster("m5d.xlarge", 2)},
        {"job_cluster_key": "report", "new_cluster": left_out}],
        "tasks": [{"task_key": "etl", "job_cluster_key": "etl",
                   "spark_python_task": {"python_file": "dbfs:/jobs/etl.py"}},
                  {"task_key": "report", "job_cluster_key": "report", "depends_on": [{"task_key": "etl"}],
                   "spark_python_task": {"python_file": "dbfs:/jobs/report.py"}}]}


@pytest.fixture
def judged() -> list[int]:
    """The job ids every discovery pass handed to import, in order."""
    return []


@pytest.fixture
def discovery(store: Store, secrets: SecretBox, aws_workspace: str, integration_clock: FakeClock,
              judged: list[int]) -> AutoImport:
    """Auto-import for workspace "sbx" (no job yet), turned on."""
    workspaces.update_workspace(store, aws_workspace, auto_import=True)

    def import_jobs(name: str, ids: list[int], *, limits: ImportLimits) -> ImportResult:
        judged.extend(ids)
        return workspaces.import_jobs(store, secrets, name, ids, limits=limits)

    return AutoImport(store, import_jobs, clock=integration_clock, interval_s=INTERVAL_S)


@pytest.fixture
def collector(store: Store, secrets: SecretBox, integration_clock: FakeClock, discovery: AutoImport) -> Collector:
    """Workspace "sbx" polled as the server's collector polls it: its runs collected, then discovery's pass."""
    return Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws), clock=integration_clock,
                     poll_interval_s=60.0, discovery=discovery)


def _discovery_pass(store: Store, secrets: SecretBox, clock: FakeClock, discovery: AutoImport) -> None:
    """Only discovery's pass, an interval on: what it requests is all the emulator answers meanwhile."""
    clock.advance(INTERVAL_S)
    workspace = store.workspaces.get("sbx")
    discovery.run(workspace, workspaces.gateway_for(store, secrets, workspace))


@pytest.fixture
def volume_wiring(monkeypatch: pytest.MonkeyPatch) -> None:
    """Trimtab's init script in a volume: a standard-access cluster waits only for the allowlist."""
    monkeypatch.setattr(workspaces._integration, "wiring", AgentWiring(
        server_address=WIRING.server_address, init_script=init_script_info(SCRIPT), upload_init_script=False,
        agent_wheel="/Volumes/main/ops/trimtab/trimtab-0.1.0-py3-none-any.whl"))


@pytest.fixture
def requests(caplog: pytest.LogCaptureFixture) -> Counter[str]:
    """Read with `_requests`: the emulator's request log (every request it answered)."""
    caplog.set_level(logging.DEBUG, logger="sandbox.workspace.server")
    return Counter()


def _requests(caplog: pytest.LogCaptureFixture) -> Counter[str]:
    """The requests the emulator answered since the last call ("GET jobs/get": n), then forgotten."""
    seen = Counter(f"{m[1]} {m[2]}" for r in caplog.records if r.name == "sandbox.workspace.server"
                   and (m := REQUEST.search(r.getMessage())))
    caplog.clear()
    return seen


def _projects_of(store: Store, job_id: int) -> dict[str, Project]:
    return {p.cluster_key: p for p in store.projects.list("sbx") if p.job_id == job_id}


def _next_pass(clock: FakeClock, collector: Collector) -> None:
    clock.advance(INTERVAL_S)
    collector.poll_once()


def _allowlist_script(emulator: RunningWorkspace) -> None:
    admin = WorkspaceClient(host=emulator.host, token=emulator.token, auth_type="pat")
    admin.artifact_allowlists.update(ArtifactType.INIT_SCRIPT, [
        ArtifactMatcher(artifact="/Volumes/main/ops/trimtab", match_type=MatchType.PREFIX_MATCH)])


def test_a_cluster_left_out_over_an_unreadable_policy_is_imported_beside_the_imported_one_once_it_reads(
        store: Store, integration_clock: FakeClock, collector: Collector, gateway: DatabricksGateway,
        emulator: RunningWorkspace, judged: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    clock = integration_clock
    definition = json.dumps({"spark_version": {"type": "unlimited", "isOptional": True}})
    policy_id = str(admin_post(emulator, "policies/clusters/create", {"name": "reports", "definition": definition})
                    ["policy_id"])
    refused = emulator.inject_fault("GET", "policies/clusters/get", status=403, error_code="PERMISSION_DENIED")
    job_id = gateway.create_job(_two_clusters("nightly", {**aws_cluster("r5d.xlarge", 3), "policy_id": policy_id}))
    collector.poll_once()
    assert list(_projects_of(store, job_id)) == ["etl"]

    # The imported cluster lives on: a person's settings, a run collected.
    etl = _projects_of(store, job_id)["etl"]
    store.projects.update(dataclasses.replace(etl, settings=ProjectSettings(max_workers=12)))
    run_id = gateway.run_now(job_id)
    assert emulator.wait_idle(60)
    clock.advance(60.0)
    collector.poll_once()
    etl = store.projects.get(int(etl.id or 0))
    runs = store.runs.list(int(etl.id or 0))
    assert [r.databricks_run_id for r in runs] == [run_id]
    etl_live = find_cluster_spec(gateway.get_job(job_id)["settings"], "etl")

    # Still refused: judged once, not again each pass (the policy read once a pass).
    for _ in range(2):
        _next_pass(clock, collector)
    assert judged == [job_id] and list(_projects_of(store, job_id)) == ["etl"]

    updates: list[dict[str, Any]] = []
    real_update = DatabricksGateway.update_job

    def update_job(self: DatabricksGateway, job: int, new_settings: dict[str, Any]) -> None:
        updates.append(new_settings)
        real_update(self, job, new_settings)

    monkeypatch.setattr(DatabricksGateway, "update_job", update_job)
    emulator.clear_fault(refused)  # an admin grants Trimtab's token CAN_USE on the policy
    _next_pass(clock, collector)
    projects = _projects_of(store, job_id)
    assert sorted(projects) == ["etl", "report"]
    report = find_cluster_spec(gateway.get_job(job_id)["settings"], "report")
    assert report is not None and report["custom_tags"][PROJECT_TAG] == str(projects["report"].id)
    assert projects["report"].settings == ProjectSettings()  # as a first import leaves it
    # Only the new cluster was written; the imported one, its project and its runs are as they were.
    assert [[e["job_cluster_key"] for e in u.get("job_clusters", [])] for u in updates] == [["report"]]
    assert find_cluster_spec(gateway.get_job(job_id)["settings"], "etl") == etl_live
    assert store.projects.get(int(etl.id or 0)) == etl
    assert store.runs.list(int(etl.id or 0)) == runs

    # Every cluster a project: not judged again.
    judged.clear()
    _next_pass(clock, collector)
    assert judged == []


def test_a_cluster_left_out_over_the_allowlist_is_imported_once_allowlisted_without_a_jobs_get_each_pass(
        store: Store, secrets: SecretBox, integration_clock: FakeClock, collector: Collector, discovery: AutoImport,
        gateway: DatabricksGateway, emulator: RunningWorkspace, judged: list[int], volume_wiring: None,
        requests: Counter[str], caplog: pytest.LogCaptureFixture) -> None:
    clock = integration_clock
    job_id = gateway.create_job(_two_clusters("nightly", STANDARD))
    collector.poll_once()
    assert list(_projects_of(store, job_id)) == ["etl"]
    etl = _projects_of(store, job_id)["etl"]
    _requests(caplog)
    for _ in range(3):
        _discovery_pass(store, secrets, clock, discovery)
        # One listing and one allowlist read a pass: the job is not read again.
        assert _requests(caplog) == Counter({"GET jobs/list": 1,
                                             "GET unity-catalog/artifact-allowlists/INIT_SCRIPT": 1})
    assert judged == [job_id]

    _allowlist_script(emulator)
    _next_pass(clock, collector)
    assert sorted(_projects_of(store, job_id)) == ["etl", "report"]
    assert judged == [job_id, job_id]
    assert store.projects.get(int(etl.id or 0)) == etl


def test_a_new_job_left_out_over_the_allowlist_costs_no_jobs_get_each_pass(
        store: Store, secrets: SecretBox, integration_clock: FakeClock, collector: Collector, discovery: AutoImport,
        gateway: DatabricksGateway, emulator: RunningWorkspace, judged: list[int], volume_wiring: None,
        requests: Counter[str], caplog: pytest.LogCaptureFixture) -> None:
    # Measured before: 10 such jobs cost 10 jobs/get and one allowlist read every pass (12 requests).
    clock = integration_clock
    waiting = sorted(gateway.create_job({**_two_clusters(f"standard-{n}", STANDARD),
                                         "job_clusters": [{"job_cluster_key": "etl", "new_cluster": STANDARD}],
                                         "tasks": [{"task_key": "etl", "job_cluster_key": "etl",
                                                    "spark_python_task": {"python_file": "dbfs:/x.py"}}]})
                     for n in range(3))
    collector.poll_once()
    assert judged == waiting and all(not _projects_of(store, j) for j in waiting)
    _requests(caplog)
    for _ in range(2):
        _discovery_pass(store, secrets, clock, discovery)
        assert _requests(caplog) == Counter({"GET jobs/list": 1,
                                             "GET unity-catalog/artifact-allowlists/INIT_SCRIPT": 1})
    # An allowlist Trimtab's token may not read: the same, one read a pass (its answer still a refusal).
    refused = emulator.inject_fault("GET", "unity-catalog/artifact-allowlists", status=403,
                                    error_code="PERMISSION_DENIED")
    for _ in range(2):
        _discovery_pass(store, secrets, clock, discovery)
        assert _requests(caplog) == Counter({"GET jobs/list": 1,
                                             "GET unity-catalog/artifact-allowlists/INIT_SCRIPT": 1})
    assert judged == waiting
    emulator.clear_fault(refused)
    _allowlist_script(emulator)
    _next_pass(clock, collector)
    assert judged == waiting + waiting and all(len(_projects_of(store, j)) == 1 for j in waiting)


def test_a_partly_imported_job_whose_projects_are_all_detached_is_left_alone(
        store: Store, secrets: SecretBox, integration_clock: FakeClock, collector: Collector,
        gateway: DatabricksGateway, emulator: RunningWorkspace, judged: list[int], volume_wiring: None) -> None:
    job_id = gateway.create_job(_two_clusters("nightly", STANDARD))
    collector.poll_once()
    (etl,) = _projects_of(store, job_id).values()
    recommendations.detach_project(store, secrets, etl.name)
    _allowlist_script(emulator)
    judged.clear()
    _next_pass(integration_clock, collector)
    # A person let the job go: auto-import neither re-attaches it nor takes its other cluster.
    assert judged == [] and list(_projects_of(store, job_id)) == ["etl"]
    assert store.projects.get(int(etl.id or 0)).detached


def test_a_cluster_added_to_an_imported_job_is_auto_imported(
        store: Store, integration_clock: FakeClock, collector: Collector, gateway: DatabricksGateway,
        judged: list[int]) -> None:
    job_id = gateway.create_job({**_two_clusters("nightly", STANDARD),
                                 "job_clusters": [{"job_cluster_key": "etl", "new_cluster": aws_cluster("m5d.xlarge", 2)}],
                                 "tasks": [{"task_key": "etl", "job_cluster_key": "etl",
                                            "spark_python_task": {"python_file": "dbfs:/jobs/etl.py"}}]})
    collector.poll_once()
    (etl,) = _projects_of(store, job_id).values()
    judged.clear()
    _next_pass(integration_clock, collector)
    assert judged == []  # every cluster a project: nothing to judge
    added = _two_clusters("nightly", aws_cluster("r5d.xlarge", 2))  # arrays merge by key: "report" only
    gateway.update_job(job_id, {"job_clusters": added["job_clusters"][1:], "tasks": added["tasks"][1:]})
    _next_pass(integration_clock, collector)
    assert judged == [job_id] and sorted(_projects_of(store, job_id)) == ["etl", "report"]
    assert store.projects.get(int(etl.id or 0)) == etl


def test_a_cluster_its_policy_made_standard_access_is_imported_once_an_admin_edits_the_policy(
        store: Store, secrets: SecretBox, integration_clock: FakeClock, collector: Collector, discovery: AutoImport,
        gateway: DatabricksGateway, emulator: RunningWorkspace, judged: list[int], requests: Counter[str],
        caplog: pytest.LogCaptureFixture) -> None:
    # Editing the policy changes nothing in the job: its unchanged settings kept it left out until a restart.
    standard = json.dumps({"data_security_mode": {"type": "fixed", "value": "USER_ISOLATION"}})
    policy_id = str(admin_post(emulator, "policies/clusters/create", {"name": "shared", "definition": standard})
                    ["policy_id"])
    job_id = gateway.create_job(_two_clusters("nightly", {**aws_cluster("r5d.xlarge", 3), "policy_id": policy_id}))
    collector.poll_once()
    assert list(_projects_of(store, job_id)) == ["etl"]
    etl = _projects_of(store, job_id)["etl"]
    _requests(caplog)
    for _ in range(2):  # the policy read once a pass, the job not again
        _discovery_pass(store, secrets, integration_clock, discovery)
        assert _requests(caplog) == Counter({"GET jobs/list": 1, "GET policies/clusters/get": 1})
    assert judged == [job_id]

    admin_post(emulator, "policies/clusters/edit", {
        "policy_id": policy_id, "name": "shared",
        "definition": json.dumps({"spark_version": {"type": "unlimited", "isOptional": True}})})
    _next_pass(integration_clock, collector)
    assert sorted(_projects_of(store, job_id)) == ["etl", "report"]
    assert judged == [job_id, job_id]
    assert store.projects.get(int(etl.id or 0)) == etl
