"""A failure of Trimtab's own init script is not the job's configuration's, over real HTTP (emulator,
collector, planner, auto-apply, the CLI over the real gRPC server; SQLite and PostgreSQL).

Anyone with write access to ``/Shared/trimtab`` can replace the uploaded init script; one that exits 1
fails every cluster at start with INIT_SCRIPT_FAILURE, and Databricks names the script. Such a run was
held against its configuration (a failure: the model avoided it and auto-apply moved the job off a
cluster that was fine). Now it is explained and not learned (``launch_failed``, the configuration kept),
its message says Trimtab's init script failed and what to do, and `trimtab run show` says so. The
job's own init script failing stays the configuration's, as before."""

from __future__ import annotations

from collections.abc import Callable

from sandbox.workspace import RunningWorkspace
from server.clock import SystemClock
from server.collect import Collector
from server.costing.catalog import load_catalog
from server.databricks import DatabricksGateway
from server.domain import Workspace
from server.onboard import AgentWiring, init_script_info
from server.plan.candidates import same_hardware
from server.services import workspaces
from server.services.secrets import SecretBox
from server.spec import cluster_entry_update, config_from_spec, find_cluster_spec
from server.store import Store
from tests.integration.conftest import NOOP_INIT
from tests.integration.loop import _Loop

SCRIPT = "/Shared/trimtab/trimtab-init.sh"  # where import uploads it by default
# As the review's harness found it: the script a user put over Trimtab's.
BROKEN = b"#!/bin/bash\nexit 1\n"
# Trimtab's script is put there by the test (no agent wheel to build): import's upload is not what is
# tested here, the failure's verdict is.
WIRING = AgentWiring(server_address="127.0.0.1:50999", secret_scope="trimtab", secret_key="agent-token",
                     init_script=init_script_info(SCRIPT), upload_init_script=False,
                     agent_wheel="/Workspace/Shared/trimtab/trimtab-0.1.0-py3-none-any.whl")


def test_trimtabs_init_script_failing_is_explained_and_the_configuration_is_kept(
        store: Store, secrets: SecretBox, connected: Workspace, job_ids: list[int], emulator: RunningWorkspace,
        gateway: DatabricksGateway, trimtab: Callable[..., tuple[int, str, str]]) -> None:
    gateway.put_workspace_file(SCRIPT, NOOP_INIT)
    loop = _Loop(store, secrets, job_ids[0], emulator, gateway, auto_apply=True, wiring=WIRING)
    run, rec = loop.cycle()
    assert run.outcome == "succeeded" and rec is not None

    gateway.put_workspace_file(SCRIPT, BROKEN)
    before = config_from_spec(loop.live())
    failed, rec = loop.cycle()
    cluster = gateway.get_cluster(failed.cluster_id)
    assert cluster["termination_reason"]["code"] == "INIT_SCRIPT_FAILURE"
    assert SCRIPT in cluster["termination_reason"]["parameters"]["databricks_error_message"]
    assert failed.outcome == "failed"
    assert "launch_failed" in failed.anomalies, failed.anomalies  # explained, not learned
    assert failed.message.startswith(f"Trimtab's init script {SCRIPT} failed the cluster at start"), failed.message
    assert "`trimtab workspace import sbx` uploads it again" in failed.message
    assert "Databricks: Init script failure: Cluster scoped init script" in failed.message
    # No configuration change because of it: the cluster it failed on is what the job keeps.
    assert rec is not None
    assert same_hardware(config_from_spec(loop.live()), before), (rec.reason, loop.live())

    code, out, err = trimtab("run", "show", str(failed.id))
    assert code == 0, err
    why = next(line for line in out.splitlines() if line.startswith("why: "))
    assert why.startswith(f"why: Trimtab's init script {SCRIPT} failed the cluster at start"), out
    assert "launch_failed" in out and "agent data: none" not in out


def test_the_jobs_own_init_script_failing_stays_the_configurations(
        store: Store, secrets: SecretBox, connected: Workspace, job_ids: list[int], emulator: RunningWorkspace,
        gateway: DatabricksGateway) -> None:
    gateway.put_workspace_file(SCRIPT, NOOP_INIT)
    gateway.put_workspace_file("/Shared/etl/setup.sh", NOOP_INIT)
    spec = find_cluster_spec(gateway.get_job(job_ids[0])["settings"], "main") or {}
    ours = {**spec, "init_scripts": [*(spec.get("init_scripts") or []), init_script_info("/Shared/etl/setup.sh")]}
    gateway.update_job(job_ids[0], cluster_entry_update(gateway.get_job(job_ids[0])["settings"], "main", ours))
    loop = _Loop(store, secrets, job_ids[0], emulator, gateway, auto_apply=True, wiring=WIRING)
    run, _ = loop.cycle()
    assert run.outcome == "succeeded"

    gateway.put_workspace_file("/Shared/etl/setup.sh", BROKEN)
    failed, _ = loop.cycle()
    assert failed.outcome == "failed"
    assert "launch_failed" not in failed.anomalies and "failure" in failed.anomalies
    assert failed.message.startswith("Init script failure: Cluster scoped init script /Shared/etl/setup.sh failed")
    assert "Trimtab" not in failed.message


def test_importing_again_puts_the_script_back_as_the_message_says(
        store: Store, secrets: SecretBox, connected: Workspace, job_ids: list[int], emulator: RunningWorkspace,
        gateway: DatabricksGateway) -> None:
    # Import uploads Trimtab's real script here; the agent's wheel it names is not there, so the
    # script installs no agent and exits 0, as on a cluster that cannot read the wheel.
    uploading = AgentWiring(server_address="127.0.0.1:50999", secret_scope="trimtab", secret_key="agent-token",
                            init_script=init_script_info(SCRIPT),
                            agent_wheel="/Workspace/Shared/trimtab/trimtab-0.1.0-py3-none-any.whl")
    workspaces.import_jobs(store, secrets, "sbx", job_ids[:1], wiring=uploading)
    collector = Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws), clock=SystemClock(),
                          catalog=load_catalog())
    gateway.put_workspace_file(SCRIPT, BROKEN)
    gateway.run_now(job_ids[0])
    assert emulator.wait_idle(120)
    (failed,) = collector.poll_once()
    assert failed.outcome == "failed" and "`trimtab workspace import sbx` uploads it again" in failed.message

    workspaces.import_jobs(store, secrets, "sbx", job_ids[:1], wiring=uploading)
    gateway.run_now(job_ids[0])
    assert emulator.wait_idle(120)
    (run,) = collector.poll_once()
    assert run.outcome == "succeeded", run.message
