"""Another workspace's agent token cannot feed a project's runs (security review, ninth session).

A token made for workspace "other" sent one batch naming the cluster of a run of an "sbx" project:
the server stored it, the collector tied it to the run by cluster id (at collection, or late on its
ApplicationEnd), flagged data growth and planned the project again. Now an application is tied only
to runs of the workspace its token was bound to; the same workspace's data still flows, at
collection and late. The emulator over HTTP, a real server on 127.0.0.1:0, SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import time

import grpc

from protos.trimtab.v1 import common_pb2, ingest_pb2, ingest_pb2_grpc
from sandbox.workspace import RunningWorkspace
from server.clock import SystemClock
from server.collect import Collector
from server.databricks import DatabricksGateway
from server.domain import AgentInfo, Application, IngestBatch, IngestEvent, Run, Workspace
from server.serve import RunningServer
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store
from server.store.repos.ingest_rows import prepare
from tests.integration.conftest import WIRING

GB = 10**9


def _batch(batch_id: str, app_id: str, cluster_id: str, context_id: str, input_bytes: int) -> ingest_pb2.EventBatch:
    """One application's whole life on the cluster in one batch, as an agent (or a forger) sends it."""
    now = int(time.time() * 1000)
    events = [
        ingest_pb2.Event(key="app-start", application_id=app_id, application_start=ingest_pb2.ApplicationStart(
            application_id=app_id, spark_app_id=app_id, start_time_ms=now - 600_000, cluster_id=cluster_id,
            spark_context_id=context_id, app_name="job", spark_version="3.5.0")),
        ingest_pb2.Event(key="stage/0/0", application_id=app_id, stage_completed=ingest_pb2.StageCompleted(
            stage_id=0, attempt_id=0, name="read", num_tasks=10, submission_time_ms=now - 500_000,
            completion_time_ms=now - 100_000, tasks_succeeded=10,
            metrics=common_pb2.TaskMetrics(input_bytes=input_bytes))),
        ingest_pb2.Event(key="app-end", application_id=app_id, application_end=ingest_pb2.ApplicationEnd(
            end_time_ms=now - 50_000, stages_completed=1)),
    ]
    return ingest_pb2.EventBatch(batch_id=batch_id, agent=ingest_pb2.AgentInfo(
        agent_id=f"agent-{app_id}", version="0.1.0", hostname="driver", cluster_id=cluster_id), events=events)


def test_another_workspaces_token_cannot_feed_a_projects_runs(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int], server: RunningServer) -> None:
    # Another name of the emulator's host: one host is one workspace name (`workspace add` refuses a second).
    workspaces.add_workspace(store, secrets, "other", emulator.host.replace("127.0.0.1", "localhost"),
                             emulator.token, "aws")
    (imported,) = workspaces.import_jobs(store, secrets, "sbx", [job_ids[0]], wiring=WIRING).projects
    project_id = int(imported.project.id or 0)
    # The token import wrote into the workspace's secret is bound to it.
    assert [(t.name, t.workspace) for t in store.tokens.list() if t.scope == "agent"] == [("agent-sbx", "sbx")]
    _, ours = store.tokens.create("agent-sbx-by-hand", "agent", workspace="sbx")
    _, theirs = store.tokens.create("agent-other", "agent", workspace="other")
    channel = grpc.insecure_channel(server.address)
    stub = ingest_pb2_grpc.IngestServiceStub(channel)

    def send(batch: ingest_pb2.EventBatch, token: str) -> int:
        return stub.SendBatch(batch, metadata=(("authorization", f"Bearer {token}"),), timeout=10).stored_events

    try:
        run_id = gateway.run_now(job_ids[0])
        assert emulator.wait_idle(60)
        instance = gateway.get_run(run_id)["tasks"][0]["cluster_instance"]
        cluster_id, context_id = instance["cluster_id"], instance["spark_context_id"]
        assert send(_batch("b1", "app-ours", cluster_id, context_id, GB), ours) == 3
        # The forged application names the run's cluster and Spark context, with 50 TB of input.
        assert send(_batch("f1", "app-forged", cluster_id, context_id, 50_000 * GB), theirs) == 3
        assert store.applications.get("app-forged").workspace == "other"
        # Newer ones than the collector reads for a cluster (100) cannot crowd the project's out either.
        crowd = [dataclasses.replace(prepare(IngestBatch(batch_id=f"c{n}", agent=AgentInfo(agent_id="evil"), events=(
            IngestEvent(f"app-crowd-{n}", "start", "application_start", Application(
                application_id=f"app-crowd-{n}", cluster_id=cluster_id, spark_context_id=context_id,
                start_time_ms=int(time.time() * 1000) + n)),))), workspace="other") for n in range(101)]
        assert sum(r.stored_events for r in store.ingest.write(crowd)) == 101

        planned: list[Run] = []
        collector = Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws), clock=SystemClock(),
                              on_run_collected=planned.append)
        (run,) = collector.poll_once()
        assert run.project_id == project_id and run.cluster_id == cluster_id
        assert run.application_ids == ("app-ours",) and run.input_bytes == GB
        phase = store.projects.get(project_id).phase

        # Late (after collection, woken by its ApplicationEnd as the server's ingest does): not tied either.
        assert send(_batch("f2", "app-forged-late", cluster_id, "", 50_000 * GB), theirs) == 3
        collector.notify_application_end("app-forged-late")
        assert collector.poll_once() == []
        after = store.runs.get(int(run.id or 0))
        assert (after.application_ids, after.input_bytes, after.anomalies) == \
            (run.application_ids, run.input_bytes, run.anomalies)
        assert "data_growth" not in after.anomalies
        assert [r.id for r in planned] == [run.id]  # not planned again
        assert store.projects.get(project_id).phase == phase
        assert {a.application_id for a in store.applications.list(limit=200, unassigned=True)} == \
            {"app-forged", "app-forged-late", *(f"app-crowd-{n}" for n in range(101))}

        # The forger cannot add to the project's own application either.
        add = _batch("f3", "app-ours", cluster_id, context_id, 50_000 * GB)
        del add.events[0]
        add.events[0].key = "stage/1/0"
        add.events[0].stage_completed.stage_id = 1
        ack = stub.SendBatch(add, metadata=(("authorization", f"Bearer {theirs}"),), timeout=10)
        assert ack.stored_events == 0 and [r.application_id for r in ack.refused_applications] == ["app-ours"]
        assert store.applications.get("app-ours").stage_count == 1

        # The same workspace's late data still reaches the run.
        assert send(_batch("b2", "app-ours-late", cluster_id, "", 2 * GB), ours) == 3
        collector.notify_application_end("app-ours-late")
        collector.poll_once()
        late = store.runs.get(int(run.id or 0))
        assert late.application_ids == ("app-ours", "app-ours-late") and late.input_bytes == 3 * GB
    finally:
        channel.close()
