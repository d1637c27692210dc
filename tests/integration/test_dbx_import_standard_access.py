"""Import of standard-access job clusters through the workspace emulator and the real databricks-sdk:
onboarded only once Trimtab's volume init script is on the metastore's INIT_SCRIPT allowlist, and the
emulator fails a cluster whose init script is not (as Databricks does)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.service.catalog import ArtifactMatcher, ArtifactType, MatchType

from sandbox.workspace import RunningWorkspace
from sandbox.workspace.seed import aws_cluster
from server.databricks import DatabricksGateway, GatewayConfig
from server.domain import Workspace
from server.onboard import AgentWiring, init_script_info
from server.services import agent_install, workspaces
from server.services.secrets import SecretBox
from server.spec import find_cluster_spec
from server.store import Store
from tests.integration.conftest import NOOP_INIT, CountingGateway

VOLUME_DIR = "/Volumes/main/ops/trimtab"
VOLUME_SCRIPT = f"{VOLUME_DIR}/trimtab-init.sh"
# Import uploads the real init script to the volume through the Files API.
VOLUME_WIRING = AgentWiring(server_address="127.0.0.1:50999", init_script=init_script_info(VOLUME_SCRIPT))


@pytest.fixture
def sdk(emulator: RunningWorkspace) -> WorkspaceClient:
    """The admin's own client: allowlists and volume files set the way an admin would."""
    return WorkspaceClient(host=emulator.host, token=emulator.token, auth_type="pat")


def _standard_job(gateway: DatabricksGateway, name: str, spark_version: str = "15.4.x-scala2.12",
                  init_scripts: list[dict[str, Any]] | None = None, mode: str = "USER_ISOLATION",
                  extra: dict[str, Any] | None = None) -> int:
    spec = {**aws_cluster("m5d.xlarge", 2), "spark_version": spark_version, "data_security_mode": mode, **(extra or {})}
    if init_scripts is not None:
        spec["init_scripts"] = init_scripts
    return gateway.create_job({
        "name": name, "job_clusters": [{"job_cluster_key": "main", "new_cluster": spec}],
        "tasks": [{"task_key": "main", "job_cluster_key": "main",
                   "spark_python_task": {"python_file": "dbfs:/jobs/etl.py"}}]})


def _allow(sdk: WorkspaceClient, *artifacts: str) -> None:
    sdk.artifact_allowlists.update(ArtifactType.INIT_SCRIPT, [
        ArtifactMatcher(artifact=a, match_type=MatchType.PREFIX_MATCH) for a in artifacts])


def _run(gateway: DatabricksGateway, emulator: RunningWorkspace, job_id: int) -> tuple[dict[str, Any], str]:
    """One run of the job to its end: the run and the id of the cluster it got."""
    run_id = gateway.run_now(job_id)
    assert emulator.wait_idle(120)
    run = gateway.get_run(run_id)
    return run, str(run["tasks"][0]["cluster_instance"]["cluster_id"])


def test_standard_access_is_onboarded_once_the_volume_script_is_allowlisted_and_the_emulator_enforces_it(
        store: Store, secrets: SecretBox, connected: Workspace, gateway: DatabricksGateway,
        emulator: RunningWorkspace, sdk: WorkspaceClient) -> None:
    job_id = _standard_job(gateway, "standard-etl")
    before = gateway.get_job(job_id)["settings"]

    # The allowlist is empty by default: skipped, saying what is missing, and nothing changed.
    first = workspaces.import_jobs(store, secrets, "sbx", [job_id], wiring=VOLUME_WIRING)
    assert first.projects == ()
    assert [(s.job_id, s.reason) for s in first.skipped] == [(job_id, (
        "cluster 'main' runs in standard (shared) access mode (USER_ISOLATION), where only allowlisted init "
        f"scripts run, and {VOLUME_SCRIPT} is not on the metastore's INIT_SCRIPT allowlist; a metastore admin "
        "can add it (or its folder) as PREFIX_MATCH"))]
    assert gateway.get_job(job_id)["settings"] == before and store.projects.list() == []

    _allow(sdk, VOLUME_DIR)
    second = workspaces.import_jobs(store, secrets, "sbx", [job_id], wiring=VOLUME_WIRING)
    assert second.skipped == () and [p.project.cluster_key for p in second.projects] == ["main"]
    live = find_cluster_spec(gateway.get_job(job_id)["settings"], "main")
    assert live is not None and live["init_scripts"] == [{"volumes": {"destination": VOLUME_SCRIPT}}]
    assert live["data_security_mode"] == "USER_ISOLATION"  # the user's access mode is kept
    # The init script went to the volume through the Files API.
    assert sdk.files.download(VOLUME_SCRIPT).contents.read() == agent_install.INIT_SCRIPT.read_bytes()

    # A run starts: the allowlisted script ran on the nodes (a no-op stands in for the agent here).
    sdk.files.upload(VOLUME_SCRIPT, io.BytesIO(NOOP_INIT), overwrite=True)
    run, cluster_id = _run(gateway, emulator, job_id)
    assert run["state"]["result_state"] == "SUCCESS", run["state"]
    ran = list(Path(emulator.workspace.init_log_dir(cluster_id)).rglob("*trimtab-init.sh.stdout.log"))
    assert len(ran) == 2  # driver and worker

    # With the allowlist emptied again, Databricks refuses the script and the cluster fails to launch.
    _allow(sdk)
    failed, failed_cluster = _run(gateway, emulator, job_id)
    assert failed["state"]["result_state"] == "FAILED"
    assert f"Init script {VOLUME_SCRIPT} is not on the metastore's INIT_SCRIPT allowlist" in \
        failed["state"]["state_message"]
    assert gateway.get_cluster(failed_cluster)["termination_reason"]["code"] == "INIT_SCRIPT_FAILURE"
    assert not list(Path(emulator.workspace.init_log_dir(failed_cluster)).rglob("*.stdout.log"))


def test_an_unreadable_allowlist_skips_the_standard_job_and_the_rest_imports(
        store: Store, secrets: SecretBox, connected: Workspace, gateway: DatabricksGateway,
        emulator: RunningWorkspace, job_ids: list[int]) -> None:
    job_id = _standard_job(gateway, "standard-etl")
    emulator.set_manage_allowlist(False)  # the token is no metastore admin, nor has MANAGE ALLOWLIST

    result = workspaces.import_jobs(store, secrets, "sbx", [job_id, job_ids[0]], wiring=VOLUME_WIRING)
    assert {p.project.job_id for p in result.projects} == {job_ids[0]}
    ((skipped_id, reason),) = [(s.job_id, s.reason) for s in result.skipped]
    assert skipped_id == job_id
    assert ("the metastore's INIT_SCRIPT allowlist could not be read (403: needs metastore admin or MANAGE "
            f"ALLOWLIST on the metastore); a metastore admin can allowlist {VOLUME_SCRIPT}") in reason
    # A missing privilege is not a refused token: the workspace stays healthy.
    assert store.workspaces.get("sbx").status == "ok"
    live = find_cluster_spec(gateway.get_job(job_ids[0])["settings"], "main")
    assert live is not None and {"volumes": {"destination": VOLUME_SCRIPT}} in live["init_scripts"]


def test_the_allowlist_is_read_once_per_import_and_only_for_standard_access(
        store: Store, secrets: SecretBox, connected: Workspace, gateway: DatabricksGateway,
        emulator: RunningWorkspace, job_ids: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[str] = []

    def counting(config: GatewayConfig, clock: Any) -> Any:
        return CountingGateway(DatabricksGateway(config, clock=clock), "get_artifact_allowlist", reads)

    monkeypatch.setattr(workspaces._integration, "gateway_factory", counting)
    standard = [_standard_job(gateway, f"standard-{i}") for i in range(2)]
    too_new = _standard_job(gateway, "standard-dbr19", spark_version="19.0.x-scala2.13")

    workspaces.import_jobs(store, secrets, "sbx", job_ids, wiring=VOLUME_WIRING, dry_run=True)
    assert reads == []  # no standard-access cluster: nothing to read
    workspaces.import_jobs(store, secrets, "sbx", [too_new, *job_ids], wiring=VOLUME_WIRING, dry_run=True)
    assert reads == []  # runtime 19 is skipped whatever the allowlist says
    result = workspaces.import_jobs(store, secrets, "sbx", [*standard, too_new], wiring=VOLUME_WIRING,
                                    dry_run=True)
    assert reads == ["INIT_SCRIPT"]
    assert {s.job_id for s in result.skipped} == {*standard, too_new}
    reasons = {s.job_id: s.reason for s in result.skipped}
    assert "its runtime is 19.0" in reasons[too_new]


ML_RUNTIME_FLAG = {"kind": "CLASSIC_PREVIEW", "use_ml_runtime": True}


@pytest.mark.parametrize(("mode", "spark_version", "extra", "refused"), [
    ("USER_ISOLATION", "15.4.x-scala2.12", {}, True),
    ("DATA_SECURITY_MODE_AUTO", "15.4.x-scala2.12", {}, True),  # Auto is standard on this runtime
    ("DATA_SECURITY_MODE_AUTO", "15.4.x-cpu-ml-scala2.12", {}, False),  # and dedicated on an ML one
    ("DATA_SECURITY_MODE_AUTO", "15.4.x-scala2.12", ML_RUNTIME_FLAG, False),  # the ML one by its flag
])
def test_the_emulator_refuses_a_workspace_file_init_script_on_standard_access(
        gateway: DatabricksGateway, emulator: RunningWorkspace, sdk: WorkspaceClient, mode: str,
        spark_version: str, extra: dict[str, Any], refused: bool) -> None:
    gateway.put_workspace_file("/Shared/user/setup.sh", NOOP_INIT)
    _allow(sdk, "/Shared/user")  # even allowlisted: standard access runs no workspace-file script
    job_id = _standard_job(gateway, "user-script", spark_version=spark_version, mode=mode, init_scripts=[
        {"workspace": {"destination": "/Shared/user/setup.sh"}}], extra=extra)
    run, cluster_id = _run(gateway, emulator, job_id)
    if not refused:
        assert run["state"]["result_state"] == "SUCCESS", run["state"]
        return
    assert run["state"]["result_state"] == "FAILED"
    assert "is not allowed on compute in standard access mode" in run["state"]["state_message"]
    assert gateway.get_cluster(cluster_id)["termination_reason"]["code"] == "INIT_SCRIPT_FAILURE"


def test_on_runtime_19_standard_access_init_scripts_do_not_see_spark_env_vars(
        gateway: DatabricksGateway, emulator: RunningWorkspace, sdk: WorkspaceClient) -> None:
    """Why import leaves runtime 19+ alone: the agent would not learn TRIMTAB_SERVER (the emulator as Databricks)."""
    probe = b'#!/bin/bash\necho "server=${TRIMTAB_SERVER:-} cluster=${DB_CLUSTER_ID:-}" > env-seen.txt\n'
    sdk.files.upload(VOLUME_SCRIPT, io.BytesIO(probe), overwrite=True)
    _allow(sdk, VOLUME_DIR)
    seen = {}
    for version in ("18.1.x-scala2.13", "19.0.x-scala2.13"):
        job_id = _standard_job(gateway, f"probe-{version}", spark_version=version,
                               init_scripts=[{"volumes": {"destination": VOLUME_SCRIPT}}])
        gateway.update_job(job_id, {"job_clusters": [{"job_cluster_key": "main", "new_cluster": {
            **find_cluster_spec(gateway.get_job(job_id)["settings"], "main"),
            "spark_env_vars": {"TRIMTAB_SERVER": "10.0.0.9:50051"}}}]})
        run, cluster_id = _run(gateway, emulator, job_id)
        assert run["state"]["result_state"] == "SUCCESS", run["state"]
        seen[version] = (emulator.workspace.driver_root(cluster_id) / "env-seen.txt").read_text().strip()
    assert seen["18.1.x-scala2.13"].startswith("server=10.0.0.9:50051 cluster=")
    assert seen["19.0.x-scala2.13"].startswith("server= cluster=") and not seen["19.0.x-scala2.13"].endswith("=")
