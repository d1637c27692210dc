"""Collection as reviewed against the real Jobs and Clusters APIs: a purged cluster does not block
its job, and a task retried to success is a succeeded run."""

from __future__ import annotations

from typing import Any

import pytest

from models.observation import NOT_LEARNED
from sandbox.workspace import RunningWorkspace
from sandbox.workspace.runs import retried_task
from server.clock import SystemClock
from server.collect import Collector
from server.collect.collector import GONE_NOTE, cluster_events_or_none
from server.collect.run_parse import cluster_runs
from server.costing.catalog import load_catalog
from server.databricks import DatabricksGateway
from server.domain import Project
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store


@pytest.fixture
def collector(store: Store, secrets: SecretBox) -> Collector:
    return Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws), clock=SystemClock(),
                     catalog=load_catalog())


def _run(emulator: RunningWorkspace, gateway: DatabricksGateway, job_id: int) -> int:
    run_id = gateway.run_now(job_id)
    assert emulator.wait_idle(60)
    return run_id


def _purge(emulator: RunningWorkspace, cluster_id: str) -> None:
    """What Databricks does 30 days after a job cluster ended: the cluster and its events are gone
    (clusters/get and clusters/events answer 400 "Cluster <id> does not exist")."""
    store = emulator.workspace.store
    with store.lock:
        del store.data["clusters"][cluster_id]
        store.data["events"].pop(cluster_id, None)
        store.save()


def test_a_purged_cluster_is_collected_without_its_usage_and_the_cursor_moves(
        store: Store, emulator: RunningWorkspace, gateway: DatabricksGateway, daily: Project,
        collector: Collector) -> None:
    run_id = _run(emulator, gateway, daily.job_id)
    (piece,) = cluster_runs(gateway.get_run(run_id))
    _purge(emulator, piece.cluster_id)
    assert cluster_events_or_none(gateway, piece.cluster_id) is None  # the 400 is read as "gone"
    (run,) = collector.poll_once()
    assert (run.databricks_run_id, run.outcome, run.cluster_id) == (run_id, "succeeded", piece.cluster_id)
    # Priced from the run's spec over its bounds, as for a run with no events, and said so.
    assert run.cost is not None and run.cost.total > 0 and GONE_NOTE in run.cost.note
    assert run.runtime_s == pytest.approx((piece.end_ms - piece.start_ms) / 1000)
    assert store.projects.get(int(daily.id or 0)).last_seen_run_id == run_id
    assert collector.poll_once() == []  # stored once; the job is not retried poll after poll
    # The next run of the job is collected as usual.
    later = _run(emulator, gateway, daily.job_id)
    (next_run,) = collector.poll_once()
    assert next_run.databricks_run_id == later and GONE_NOTE not in (next_run.cost.note if next_run.cost else "")


def test_a_task_that_failed_then_succeeded_on_retry_is_a_succeeded_run(
        store: Store, emulator: RunningWorkspace, gateway: DatabricksGateway, daily: Project,
        collector: Collector) -> None:
    run_id = _run(emulator, gateway, daily.job_id)
    ws = emulator.workspace
    with ws.store.lock:
        (task_key,) = [t["task_key"] for t in ws.store.data["runs"][str(run_id)]["tasks"]]
        retried_task(ws.store.data, run_id, task_key, ws.store.next_id("run_id"))
        ws.store.save()
    tasks = gateway.get_run(run_id)["tasks"]
    assert [(t["attempt_number"], t["state"]["result_state"]) for t in tasks] == [(0, "FAILED"), (1, "SUCCESS")]
    (run,) = collector.poll_once()
    assert run.outcome == "succeeded" and "failure" not in run.anomalies
    assert "1 task attempt failed and was retried" in run.message
    # Its runtime holds the failed attempt too: explained, not learned as the configuration's.
    assert "retried" in run.anomalies
    assert "retried" in NOT_LEARNED
    # The cluster's time spans both attempts.
    assert run.start_ms == min(int(t["start_time"]) for t in tasks)
    assert run.end_ms == max(int(t["end_time"]) for t in tasks)


def _task(key: str, attempt: int, result: str, start: int, end: int, **extra: Any) -> dict[str, Any]:
    return {"task_key": key, "attempt_number": attempt, "run_id": 100 + attempt + 10 * len(key),
            "job_cluster_key": "main", "start_time": start, "end_time": end,
            "cluster_instance": {"cluster_id": "c-1", "spark_context_id": "1"},
            "state": {"life_cycle_state": "TERMINATED", "result_state": result, "state_message": f"{key} {result} #{attempt}"},
            **extra}


def test_each_task_is_judged_by_its_last_attempt() -> None:
    run = {"run_id": 9, "job_id": 1, "job_clusters": [{"job_cluster_key": "main", "new_cluster": {"num_workers": 2}}],
           "tasks": [_task("a", 0, "FAILED", 100, 110), _task("b", 0, "SUCCESS", 100, 105),
                     _task("a", 1, "SUCCESS", 110, 130)]}
    (piece,) = cluster_runs(run)
    assert (piece.outcome, piece.failed_tasks, piece.retried_attempts) == ("succeeded", (), 1)
    assert piece.task_keys == ("a", "b") and (piece.start_ms, piece.end_ms) == (100, 130)
    # Failed on every attempt: failed, with the last attempt's failure only.
    run["tasks"] = [_task("a", 0, "FAILED", 100, 110), _task("a", 2, "FAILED", 120, 130),
                    _task("a", 1, "FAILED", 110, 120)]
    (piece,) = cluster_runs(run)
    assert piece.outcome == "failed" and piece.retried_attempts == 2
    assert [t["message"] for t in piece.failed_tasks] == ["a FAILED #2"] and piece.state_message == "a FAILED #2"

