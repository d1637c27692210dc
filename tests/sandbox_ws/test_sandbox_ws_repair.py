"""runs/repair through the real databricks-sdk (``w.jobs.repair_run``): the failed tasks of a finished
run play again, as part of the same run, on new job clusters with the job's current settings."""

from __future__ import annotations

from typing import Any

import pytest
from databricks.sdk.errors import DatabricksError
from databricks.sdk.service.jobs import RepairHistoryItemType, RunResultState

from sandbox.workspace import RunningWorkspace
from tests.sandbox_ws import fakes
from tests.sandbox_ws.conftest import Sandbox, client
from tests.sandbox_ws.fakes import StepClock
from tests.sandbox_ws.test_sandbox_ws_depends_on import create, task, tasks_of

SPEC = {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5d.xlarge", "num_workers": 2}


def _task(key: str, cluster: str, profile: str, **extra: Any) -> dict[str, Any]:
    return {"task_key": key, "job_cluster_key": cluster,
            "spark_python_task": {"python_file": "dbfs:/x.py", "parameters": [f"--sandbox-profile={profile}"]},
            **extra}


def _settings(b_profile: str) -> dict[str, Any]:
    return {"name": "two-clusters",
            "job_clusters": [{"job_cluster_key": "x", "new_cluster": SPEC},
                             {"job_cluster_key": "y", "new_cluster": SPEC}],
            "tasks": [_task("a", "x", "sort"), _task("b", "y", b_profile, depends_on=[{"task_key": "a"}]),
                      _task("c", "x", "sort", depends_on=[{"task_key": "b"}])]}


def test_repair_reruns_the_failed_tasks_on_new_clusters(ws: RunningWorkspace) -> None:
    w = client(ws)
    job_id = w.api_client.do("POST", "/api/2.2/jobs/create", body=_settings("always_fails"))["job_id"]
    run_id = w.jobs.run_now(job_id).run_id
    assert ws.wait_idle(10)
    run = w.jobs.get_run(run_id)
    assert run.state.result_state == RunResultState.FAILED
    first = {t.task_key: t for t in run.tasks}
    assert first["b"].state.result_state == RunResultState.FAILED
    assert first["c"].state.result_state == RunResultState.UPSTREAM_FAILED
    assert not run.repair_history

    # The job is fixed, then the run repaired: the repair uses the job's current settings.
    w.api_client.do("POST", "/api/2.2/jobs/reset", body={"job_id": job_id, "new_settings": _settings("sort")})
    waiter = w.jobs.repair_run(run_id, rerun_all_failed_tasks=True)
    repair_id = waiter.response.repair_id
    assert repair_id
    assert w.jobs.get_run(run_id).state.life_cycle_state.value in {"PENDING", "RUNNING"}
    assert ws.wait_idle(10)
    assert not w.jobs.get_run(run_id).repair_history  # only when asked for, as Databricks
    run = w.jobs.get_run(run_id, include_history=True)
    assert run.run_id == run_id and run.state.result_state == RunResultState.SUCCESS
    assert [h.type for h in run.repair_history] == [RepairHistoryItemType.ORIGINAL, RepairHistoryItemType.REPAIR]
    original, repair = run.repair_history
    assert original.state.result_state == RunResultState.FAILED and original.id is None
    assert repair.id == repair_id and repair.state.result_state == RunResultState.SUCCESS
    assert repair.start_time >= original.end_time and repair.end_time == run.end_time
    assert sorted(original.task_run_ids) == sorted(first[k].run_id for k in "abc")
    # a is not re-run; b and c are, as new task runs with the next attempt number.
    tries = sorted((t.task_key, t.attempt_number, t.state.result_state.value) for t in run.tasks)
    assert tries == [("a", 0, "SUCCESS"), ("b", 0, "FAILED"), ("b", 1, "SUCCESS"),
                     ("c", 0, "UPSTREAM_FAILED"), ("c", 1, "SUCCESS")]
    again = {t.task_key: t for t in run.tasks if t.attempt_number == 1}
    assert sorted(t.run_id for t in again.values()) == sorted(repair.task_run_ids)
    # New job clusters, created by the repair; the earlier ones are untouched.
    assert again["b"].cluster_instance.cluster_id != first["b"].cluster_instance.cluster_id
    assert again["c"].cluster_instance.cluster_id not in {first["a"].cluster_instance.cluster_id,
                                                           again["b"].cluster_instance.cluster_id}
    assert w.clusters.get(again["b"].cluster_instance.cluster_id).state.value == "TERMINATED"
    assert w.clusters.get(first["b"].cluster_instance.cluster_id).state.value == "TERMINATED"
    # Through API 2.1 as well.
    assert w.api_client.do("GET", "/api/2.1/jobs/runs/get", query={"run_id": run_id, "include_history": "true"})["repair_history"][1]["type"] \
        == "REPAIR"


def test_repair_is_refused_when_the_request_is_wrong(ws: RunningWorkspace) -> None:
    w = client(ws)
    job_id = w.api_client.do("POST", "/api/2.2/jobs/create", body=_settings("always_fails"))["job_id"]
    run_id = w.jobs.run_now(job_id).run_id
    assert ws.wait_idle(10)
    with pytest.raises(DatabricksError, match="Exactly one of rerun_tasks or rerun_all_failed_tasks"):
        w.jobs.repair_run(run_id)
    with pytest.raises(DatabricksError, match="has no task zz"):
        w.jobs.repair_run(run_id, rerun_tasks=["zz"])
    first = w.jobs.repair_run(run_id, rerun_tasks=["b"]).response.repair_id
    assert ws.wait_idle(10)
    run = w.jobs.get_run(run_id)
    # b failed again (the job still fails it); c was not asked for and stays as it was.
    assert run.state.result_state == RunResultState.FAILED
    assert sorted((t.task_key, t.attempt_number) for t in run.tasks) == [("a", 0), ("b", 0), ("b", 1), ("c", 0)]
    # A second repair must name the latest one.
    with pytest.raises(DatabricksError, match="latest_repair_id"):
        w.jobs.repair_run(run_id, rerun_all_failed_tasks=True)
    w.jobs.repair_run(run_id, rerun_all_failed_tasks=True, latest_repair_id=first, rerun_dependent_tasks=True)
    assert ws.wait_idle(10)
    run = w.jobs.get_run(run_id, include_history=True)
    assert [h.type.value for h in run.repair_history] == ["ORIGINAL", "REPAIR", "REPAIR"]
    assert sorted((t.task_key, t.attempt_number) for t in run.tasks if t.attempt_number) == [("b", 1), ("b", 2), ("c", 1)]
    with pytest.raises(DatabricksError, match="does not exist|not found|No run"):
        w.jobs.repair_run(987654, rerun_all_failed_tasks=True)


def test_a_repair_cut_short_by_a_restart_ends_at_the_restart(sandbox: Sandbox, step_clock: StepClock) -> None:
    """The repair's cluster is gone after a restart: its task fails then, the task waiting for it is
    skipped, the earlier attempts are untouched and the repair ends with the run."""
    run_s = fakes.RUNNING_AT + fakes.WORK_S + fakes.CLEANUP_S
    first = sandbox.start(clock=step_clock, speed=1.0)
    w = client(first)
    tasks = [task("a"), task("b", "a", profile="always_fails"), task("c", "b")]
    job_id = create(w, tasks)
    run_id = w.jobs.run_now(job_id).run_id
    for _ in range(2):  # a, then b on its own cluster
        step_clock.settle()
        step_clock.advance(run_s + 5)
    assert first.wait_idle(10)
    assert w.jobs.get_run(run_id).state.result_state == RunResultState.FAILED
    w.api_client.do("POST", "/api/2.2/jobs/reset", body={"job_id": job_id, "new_settings": {
        "name": "deps", "tasks": [task("a"), task("b", "a"), task("c", "b")]}})
    w.jobs.repair_run(run_id, rerun_all_failed_tasks=True)
    step_clock.settle()
    step_clock.advance(fakes.RUNNING_AT + 5)  # b's repair cluster is running
    step_clock.settle()
    assert tasks_of(w.jobs.get_run(run_id))["b"].state.life_cycle_state.value == "RUNNING"
    first.stop()

    ws = sandbox.start()  # nothing left to play after the restart: it ends before answering
    w = client(ws)
    run = w.jobs.get_run(run_id, include_history=True)
    tries = sorted((t.task_key, t.attempt_number, t.state.result_state.value) for t in run.tasks)
    assert tries == [("a", 0, "SUCCESS"), ("b", 0, "FAILED"), ("b", 1, "FAILED"),
                     ("c", 0, "UPSTREAM_FAILED"), ("c", 1, "UPSTREAM_FAILED")]
    assert run.state.result_state == RunResultState.FAILED
    repair = run.repair_history[-1]
    assert repair.end_time == run.end_time and repair.state.result_state == RunResultState.FAILED
