"""Agent data that lands after its run was collected (the agent's last flush after a poll) updates the run."""

from __future__ import annotations

from sandbox.workspace import RunningWorkspace
from server.clock import SystemClock
from server.collect import Collector
from server.costing.catalog import load_catalog
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

GB = 1_000_000_000


def _batch(batch_id: str, cluster_id: str, events: list[IngestEvent]) -> IngestBatch:
    return IngestBatch(batch_id=batch_id, agent=AgentInfo(agent_id="a1", cluster_id=cluster_id), events=tuple(events))


def _stage(app: str, stage_id: int, input_bytes: int) -> IngestEvent:
    return IngestEvent(app, f"stage-{stage_id}", "stage", Stage(
        application_id=app, stage_id=stage_id, num_tasks=1, submission_time_ms=10 * stage_id,
        completion_time_ms=10 * stage_id + 5, metrics={"input_bytes": input_bytes}))


def _collect_with_first_flush(store: Store, secrets: SecretBox, emulator: RunningWorkspace,
                              gateway: DatabricksGateway, job_id: int,
                              collected: list[Run]) -> tuple[Collector, Run, str]:
    """One run of the job collected while its agent had sent only its start and a 1 GB stage."""
    workspaces.import_jobs(store, secrets, "sbx", [job_id], wiring=WIRING)
    run_id = gateway.run_now(job_id)
    assert emulator.wait_idle(60)
    instance = gateway.get_run(run_id)["tasks"][0]["cluster_instance"]
    cluster_id, context = instance["cluster_id"], instance["spark_context_id"]
    store.ingest.write([_batch("b1", cluster_id, [
        IngestEvent("app-1", "start", "application_start", Application(
            application_id="app-1", spark_context_id=context, cluster_id=cluster_id, app_name="job",
            start_time_ms=1)),
        _stage("app-1", 0, GB)])])
    collector = Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws), clock=SystemClock(),
                          catalog=load_catalog(), on_run_collected=collected.append)
    (run,) = collector.poll_once()
    assert run.application_ids == ("app-1",) and run.input_bytes == GB
    assert run.cost is not None and run.cost.cost_per_input_gb is not None
    return collector, run, cluster_id


def _last_flush(cluster_id: str) -> IngestBatch:
    """The agent's remaining batch: 9 GB more, an executor lost, and the application's end."""
    return _batch("b2", cluster_id, [
        _stage("app-1", 1, 9 * GB),
        IngestEvent("app-1", "exec-1", "executor", Executor(application_id="app-1", executor_id="1", added_ms=5,
                                                            removed_ms=25, removal_reason="lost")),
        IngestEvent("app-1", "end", "application_end", ApplicationEnd(end_time_ms=40))])


def test_application_end_after_collection_updates_the_run(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int]) -> None:
    planned: list[Run] = []
    collector, run, cluster_id = _collect_with_first_flush(store, secrets, emulator, gateway, job_ids[0], planned)
    assert run.cost is not None
    before = run.cost
    store.ingest.write([_last_flush(cluster_id)])
    collector.notify_application_end("app-1")
    assert collector.poll_once() == []  # nothing new to collect: the stored run is brought up to date

    after = store.runs.get(int(run.id or 0))
    assert after.input_bytes == 10 * GB
    assert "spot_loss" in after.anomalies
    assert after.cost is not None
    assert after.cost.cost_per_input_gb == before.total / 10
    # What the collector owns is as it was: the cost itself, the outcome, the times, the message.
    assert (after.cost.total, after.cost.note, after.outcome, after.end_ms, after.message) == \
        (before.total, before.note, run.outcome, run.end_ms, run.message)
    assert [r.id for r in planned] == [run.id, run.id]  # planned again on the whole data

    # Settled: later polls neither write the run again nor re-plan it.
    collector.poll_once()
    assert [r.id for r in planned] == [run.id, run.id]


def test_end_stored_without_a_report_still_updates_the_run(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int]) -> None:
    """The run's application had not ended when it was collected: once its end is stored, the next
    poll reads its data again even if no ApplicationEnd woke the collector (e.g. a server restart
    between the agent's batch and the report)."""
    collector, run, cluster_id = _collect_with_first_flush(store, secrets, emulator, gateway, job_ids[0], [])
    collector.poll_once()
    assert store.runs.get(int(run.id or 0)).input_bytes == GB  # not ended yet: nothing to update
    store.ingest.write([_last_flush(cluster_id)])
    collector.poll_once()
    after = store.runs.get(int(run.id or 0))
    assert after.input_bytes == 10 * GB and "spot_loss" in after.anomalies
