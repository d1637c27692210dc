"""Collection as reviewed against the real Jobs API: a task retried to success is a succeeded run."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.workspace import RunningWorkspace
from sandbox.workspace.runs import retried_task
from server.clock import SystemClock
from server.collect import Collector
from server.collect.run_parse import cluster_runs
from server.costing.catalog import load_catalog
from server.databricks import DatabricksGateway
from server.domain import Project, Workspace
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store
from tests.integration.conftest import WIRING


@pytest.fixture
def daily(store: Store, secrets: SecretBox, connected: Workspace, job_ids: list[int]) -> Project:
    (imported,) = workspaces.import_jobs(store, secrets, "sbx", [job_ids[0]], wiring=WIRING).projects
    return imported.project


@pytest.fixture
def collector(store: Store, secrets: SecretBox) -> Collector:
    return Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws), clock=SystemClock(),
                     catalog=load_catalog())


def _run(emulator: RunningWorkspace, gateway: DatabricksGateway, job_id: int) -> int:
    run_id = gateway.run_now(job_id)
    assert emulator.wait_idle(60)
    return run_id


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

