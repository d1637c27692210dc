"""The driver sizing loop through the emulator, as the review's hand setup ran it (job 1): an
``etl_join_aggregate`` job on a 16 GiB driver, then a code change to ``skewed_join`` whose broadcast
does not fit an 8 GiB driver's heap.

Before: two runs whose driver heap peaked at ~2.2 GiB halved the driver to 8 GiB (rec 7), and the
code change then killed it (run 22, out of driver memory on c5d.xlarge)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from agent.encode import encode_event, make_batch
from agent.parse import AppParser
from sandbox.workspace import RunningWorkspace
from sandbox.workspace.runs import PROFILE_TAG
from sandbox.workspace.seed import aws_cluster
from server.apply import apply_recommendation
from server.clock import SystemClock
from server.collect import Collector
from server.costing.catalog import load_catalog
from server.databricks import DatabricksGateway
from server.domain import Project, Run, Workspace
from server.plan.planner import plan_project
from server.services import workspaces
from server.services.secrets import SecretBox
from server.spec import find_cluster_spec
from server.store import Store
from server.translate import batch_from_proto
from tests.integration.conftest import WIRING, sdk_client

CATALOG = load_catalog()


def _job(profile: str, cluster: dict[str, Any]) -> dict[str, Any]:
    return {"name": "daily", "tags": {PROFILE_TAG: profile},
            "job_clusters": [{"job_cluster_key": "main", "new_cluster": cluster}],
            "tasks": [{"task_key": "main", "job_cluster_key": "main",
                       "spark_python_task": {"python_file": f"dbfs:/jobs/{profile}.py"}}]}


def _imported(store: Store, secrets: SecretBox, gateway: DatabricksGateway, profile: str,
              cluster: dict[str, Any]) -> Project:
    job_id = gateway.create_job(_job(profile, cluster))
    (imported,) = workspaces.import_jobs(store, secrets, "sbx", [job_id], wiring=WIRING).projects
    return imported.project


def _agent_reads(store: Store, emulator: RunningWorkspace, run_id: int) -> None:
    """What the agent on the run's driver would send, stored as the server stores it: the simulated
    cluster's event log through the agent's own parser and encoder, and the server's translation.
    (The agent's process and the network are left out: the driver's heap peaks are what counts here.)"""
    (task,) = sdk_client(emulator).jobs.get_run(run_id).tasks or []
    assert task.cluster_instance is not None
    cid, ctx = str(task.cluster_instance.cluster_id), str(task.cluster_instance.spark_context_id)
    logs = emulator.workspace.driver_root(cid) / "databricks" / "driver" / "eventlogs" / ctx
    parser = AppParser(ctx, ctx, str(logs))
    events = []
    lines = [line for f in sorted(logs.iterdir()) for line in f.read_bytes().splitlines() if line.strip()]
    for at, line in enumerate(lines):
        events += parser.feed(json.loads(line), at)
    events += parser.finish()
    batch = make_batch(f"batch-{ctx}", [encode_event(e) for e in events])
    batch.agent.agent_id, batch.agent.cluster_id = "agent", cid
    store.ingest.write([batch_from_proto(batch, len(events) + 1)])


def _run(store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
         project: Project) -> Run:
    collector = Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws), clock=SystemClock(),
                          catalog=CATALOG)
    run_id = gateway.run_now(project.job_id)
    assert emulator.wait_idle(60)
    _agent_reads(store, emulator, run_id)
    (run,) = collector.poll_once()
    return run


def _driver_gib(node_type: str | None) -> float:
    assert node_type
    return float(CATALOG.node_type("aws", node_type).memory_gb)


def test_two_quiet_runs_do_not_halve_the_driver(store: Store, secrets: SecretBox, emulator: RunningWorkspace,
                                               gateway: DatabricksGateway, connected: Workspace) -> None:
    cluster = {**aws_cluster("c5d.xlarge", 2, availability="ON_DEMAND"), "driver_node_type_id": "m5d.xlarge"}
    project = _imported(store, secrets, gateway, "etl_join_aggregate", cluster)
    for _ in range(2):
        assert _run(store, secrets, emulator, gateway, project).outcome == "succeeded"
    rec = plan_project(store, int(project.id or 0), CATALOG)
    assert rec is not None
    # Before: "driver m5d.xlarge -> c5d.xlarge (8.0 GiB): its heap peaked at 2.2 GiB ... in 2 runs".
    assert _driver_gib(rec.config.driver_node_type_id) >= 16, rec.reason


def test_a_driver_out_of_memory_grows_the_driver_back_and_it_stays(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace) -> None:
    # The job after its code change, on the 8 GiB driver the old rule had chosen. Its workers are kept
    # to r5d, whose executors hold the job: the learner's tries on 8 GiB c5d workers would run out of
    # executor memory, which is not what this test is about.
    cluster = {**aws_cluster("r5d.xlarge", 2, availability="ON_DEMAND"), "driver_node_type_id": "c5d.xlarge"}
    project = _imported(store, secrets, gateway, "skewed_join", cluster)
    pid = int(project.id or 0)
    store.projects.update_settings(pid, dataclasses.replace(project.settings, allowed_families=("r5d",)))
    died = _run(store, secrets, emulator, gateway, project)
    assert died.outcome == "failed" and {"driver_lost", "out_of_memory"} <= set(died.anomalies)
    rec = plan_project(store, pid, CATALOG)
    assert rec is not None and _driver_gib(rec.config.driver_node_type_id) >= 16, rec.reason
    assert f"run {died.id} ran out of driver memory on c5d.xlarge (8.0 GiB)" in rec.reason, rec.reason
    for _ in range(2):
        assert apply_recommendation(store, gateway, pid, catalog=CATALOG).applied
        live = find_cluster_spec(gateway.get_job(project.job_id)["settings"], "main")
        assert live is not None and _driver_gib(live.get("driver_node_type_id")) >= 16
        # The grown driver holds the broadcast. (That no quiet run takes it back to the size that died is
        # tests/plan/test_plan_driver_oom.py's: here only r5d drivers of 4 vCPUs, all > 8 GiB, are offered.)
        after = _run(store, secrets, emulator, gateway, project)
        assert after.outcome == "succeeded", (live, after.anomalies, after.message)
        rec = plan_project(store, pid, CATALOG)
        assert rec is not None and _driver_gib(rec.config.driver_node_type_id) > 8, rec.reason
