"""`trimtab server start` alone closes the loop: the background collector picks up a finished run
(woken by the agent's ApplicationEnd), the planner stores a recommendation, and auto-apply writes it
through the Jobs API — no test-driven Collector involved."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from cryptography.fernet import Fernet

from protos.trimtab.v1 import admin_pb2, admin_pb2_grpc
from sandbox.workspace import RunningWorkspace, start_workspace
from server.clock import SystemClock
from server.config import ServerConfig
from server.databricks import DatabricksGateway, GatewayConfig
from server.domain import ClusterConfig, Recommendation
from server.serve import start_server
from server.services import workspaces
from server.services.projects import update_settings
from server.services.secrets import SecretBox
from server.spec import cluster_entry_update, find_cluster_spec
from server.store import Store


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[RunningWorkspace]:
    running = start_workspace(tmp_path / "loop-ws", speed=200)  # slow enough for the agent to start
    try:
        yield running
    finally:
        running.stop()


rec0 = Recommendation(project_id=0, config=ClusterConfig(node_type_id=""))


def _wait(predicate, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_background_loop_collects_plans_and_applies(sqlite_store: Store, emulator: RunningWorkspace,
                                                     tmp_path: Path) -> None:
    key = Fernet.generate_key()
    # A long poll interval: collection must come from the agent's ApplicationEnd wake-up.
    config = ServerConfig(listen="127.0.0.1:0", state_dir=tmp_path / "server", secret_key=key.decode(),
                          collect=1, collect_interval_seconds=3600)
    server = start_server(config, store=sqlite_store)
    try:
        secrets = SecretBox(key)
        (job_id, *_) = emulator.seed_jobs()
        gateway = DatabricksGateway(GatewayConfig(emulator.host, emulator.token), clock=SystemClock())
        # On-demand, so no spot loss can make the first run one the models set aside.
        settings = gateway.get_job(job_id)["settings"]
        key_name = settings["job_clusters"][0]["job_cluster_key"]
        cluster = find_cluster_spec(settings, key_name) or {}
        cluster["aws_attributes"] = {**cluster.get("aws_attributes", {}), "availability": "ON_DEMAND"}
        gateway.update_job(job_id, cluster_entry_update(settings, key_name, cluster))
        workspaces.add_workspace(sqlite_store, secrets, "sbx", emulator.host, emulator.token, "aws")
        (imported,) = workspaces.import_jobs(sqlite_store, secrets, "sbx", [job_id]).projects
        project = imported.project
        # The server advertised its own bound address to the onboarded cluster.
        spec = find_cluster_spec(gateway.get_job(job_id)["settings"], project.cluster_key) or {}
        assert spec["spark_env_vars"]["TRIMTAB_SERVER"] == server.address
        update_settings(sqlite_store, str(project.id), {"auto_apply": True, "spot_allowed": False})

        gateway.run_now(job_id)
        assert emulator.wait_idle(120)
        assert _wait(lambda: sqlite_store.runs.count(int(project.id)) == 1, 60), "run not collected"
        (run,) = sqlite_store.runs.history(int(project.id))
        assert run.application_ids and sqlite_store.applications.get(run.application_ids[0]).stage_count > 0
        assert run.cost is not None and run.cost.total > 0
        # The first run is on the imported configuration; learning picks another one and applies it.
        assert _wait(lambda: (sqlite_store.recommendations.latest(int(project.id)) or rec0).state == "applied", 30)
        rec = sqlite_store.recommendations.latest(int(project.id))
        assert rec is not None and rec.reason and rec.phase == "learning"
        if rec.state == "applied":
            live = find_cluster_spec(gateway.get_job(job_id)["settings"], project.cluster_key) or {}
            assert live["node_type_id"] == rec.config.node_type_id
            assert live["custom_tags"]["trimtab:recommendation-id"] == str(rec.id)

        # A settings change over the API plans again at once: the recommendation shown no longer
        # speaks of the old SLA until the next run.
        _, admin = sqlite_store.tokens.create("admin", "admin")
        with grpc.insecure_channel(server.address) as channel:
            admin_pb2_grpc.ProjectServiceStub(channel).UpdateProjectSettings(
                admin_pb2.UpdateProjectSettingsRequest(project=str(project.id),
                                                       settings=admin_pb2.ProjectSettings(sla_seconds=4321)),
                metadata=(("authorization", f"Bearer {admin}"),), timeout=60)
        new = sqlite_store.recommendations.latest(int(project.id))
        assert new is not None and new.id != rec.id and new.state == "pending"
    finally:
        server.stop(grace=1)
