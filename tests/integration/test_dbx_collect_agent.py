"""Collection joined with the agent's data, and woken by ApplicationEnd."""

from __future__ import annotations

import threading

from sandbox.workspace import RunningWorkspace
from server.clock import SystemClock
from server.collect import Collector, RunningCollector
from server.collect.build import data_grew
from server.databricks import DatabricksGateway
from server.domain import (
    AgentInfo,
    Application,
    ApplicationEnd,
    Executor,
    IngestBatch,
    IngestEvent,
    Run,
    Stage,
    Workspace,
)
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store
from tests.integration.conftest import WIRING


def _agent_batch(app_id: str, cluster_id: str, context_id: str, input_bytes: list[int],
                 lost_executor: bool, cache_reads: tuple[int, ...] = ()) -> IngestBatch:
    """What an agent on the driver would have sent for one application (``cache_reads``: input
    bytes of later stages that re-read a dataset an earlier stage cached)."""
    events = [IngestEvent(app_id, "start", "application_start", Application(
        application_id=app_id, spark_app_id=f"local-{app_id}", spark_context_id=context_id,
        cluster_id=cluster_id, app_name="job", start_time_ms=1, spark_version="3.5.0"))]
    for i, n in enumerate(input_bytes):
        events.append(IngestEvent(app_id, f"stage-{i}", "stage", Stage(
            application_id=app_id, stage_id=i, num_tasks=4, submission_time_ms=10, completion_time_ms=20,
            metrics={"input_bytes": n, "executor_run_time_ms": 100})))
    for i, n in enumerate(cache_reads, start=len(input_bytes)):
        events.append(IngestEvent(app_id, f"stage-{i}", "stage", Stage(
            application_id=app_id, stage_id=i, num_tasks=4, submission_time_ms=20, completion_time_ms=25,
            metrics={"input_bytes": n, "executor_run_time_ms": 50}, input_from_cache=True)))
    events.append(IngestEvent(app_id, "exec-1", "executor", Executor(
        application_id=app_id, executor_id="1", host="10.0.0.2", total_cores=4, added_ms=5,
        removed_ms=15 if lost_executor else 0, removal_reason="lost" if lost_executor else "")))
    events.append(IngestEvent(app_id, "end", "application_end", ApplicationEnd(end_time_ms=30)))
    return IngestBatch(batch_id=f"b-{app_id}", agent=AgentInfo(agent_id="a1", cluster_id=cluster_id),
                       events=tuple(events))


def test_run_joins_the_agents_application_by_cluster_and_context(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int]) -> None:
    (imported,) = workspaces.import_jobs(store, secrets, "sbx", [job_ids[0]], wiring=WIRING).projects
    run_id = gateway.run_now(job_ids[0])
    assert emulator.wait_idle(60)
    instance = gateway.get_run(run_id)["tasks"][0]["cluster_instance"]
    cluster_id, context_id = instance["cluster_id"], instance["spark_context_id"]
    store.ingest.write([_agent_batch("app-ours", cluster_id, context_id, [3_000_000, 2_000_000], True,
                                     cache_reads=(6_000_000, 6_000_000)),
                        # Same cluster, another Spark context (a restarted driver): not this run's.
                        _agent_batch("app-other", cluster_id, "999", [7], False)])

    collector = Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws), clock=SystemClock())
    (run,) = collector.poll_once()
    assert run.project_id == imported.project.id
    # Passes over a cached dataset are input bytes to Spark, not data the job read from storage.
    assert run.application_ids == ("app-ours",) and run.input_bytes == 5_000_000
    assert "spot_loss" in run.anomalies  # the agent saw an executor LOST
    assert [a.application_id for a in store.applications.for_run(int(run.id or 0))] == ["app-ours"]


def test_application_end_wakes_the_collector(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int]) -> None:
    workspaces.import_jobs(store, secrets, "sbx", [job_ids[0]], wiring=WIRING)
    got = threading.Event()
    runs: list[Run] = []

    def collected(run: Run) -> None:
        runs.append(run)
        got.set()

    polled = threading.Event()

    class Observed(Collector):
        def poll_once(self) -> list[Run]:
            found = super().poll_once()
            polled.set()
            return found

    # A poll interval far longer than the test: only the wake-up can collect in time.
    running = RunningCollector(Observed(store, lambda ws: workspaces.gateway_for(store, secrets, ws),
                                        clock=SystemClock(), on_run_collected=collected,
                                        poll_interval_s=3600)).start()
    try:
        assert polled.wait(30)  # the first poll is over before the run starts
        run_id = gateway.run_now(job_ids[0])
        assert emulator.wait_idle(60)
        running.notify_application_end("app-x")
        assert got.wait(30)
        assert [r.databricks_run_id for r in runs] == [run_id]
    finally:
        assert running.stop(timeout=10)  # the thread ends promptly, not after the hour


def test_data_growth_is_against_the_recent_median() -> None:
    history = [Run(project_id=1, databricks_run_id=i, input_bytes=b) for i, b in enumerate([100, 110, 90])]
    assert data_grew(200, history) and not data_grew(140, history)
    assert not data_grew(None, history) and not data_grew(500, [])
    # Runs that lost spot nodes re-read their lost partitions (300 for data of ~100): no reference
    # for the data's size, or the growth to 200 would hide behind them.
    lost = Run(project_id=1, databricks_run_id=9, input_bytes=300, anomalies=("spot_loss",))
    assert data_grew(200, [*history, lost, lost, lost])


def test_an_application_that_lands_after_its_run_was_collected_is_tied_to_it(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int]) -> None:
    workspaces.import_jobs(store, secrets, "sbx", [job_ids[0]], wiring=WIRING)
    run_id = gateway.run_now(job_ids[0])
    assert emulator.wait_idle(60)
    collector = Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws), clock=SystemClock())
    (early,) = collector.poll_once()
    assert early.application_ids == () and early.input_bytes is None  # no agent data yet

    instance = gateway.get_run(run_id)["tasks"][0]["cluster_instance"]
    store.ingest.write([_agent_batch("app-late", instance["cluster_id"], instance["spark_context_id"],
                                     [4_000_000_000], True)])
    collector.notify_application_end("app-late")
    assert collector.poll_once() == []  # nothing new to collect...
    late = store.runs.get(int(early.id or 0))  # ...but the run now carries the agent's data
    assert late.application_ids == ("app-late",) and late.input_bytes == 4_000_000_000
    assert "spot_loss" in late.anomalies
    assert store.runs.for_application("app-late") == late
