"""A job's and a task's ``timeout_seconds``, as the service ends a run past them: TERMINATED / TIMEDOUT,
"Run timed out", termination code CANCELED (the platform's cancel), through the real SDK."""

from __future__ import annotations

from databricks.sdk.service.jobs import RunLifeCycleState, RunResultState, TerminationCodeCode

from sandbox.workspace import RunningWorkspace
from tests.sandbox_ws import fakes
from tests.sandbox_ws.conftest import client
from tests.sandbox_ws.test_sandbox_ws_runs import finish, single_job


def _timed_out(run: object, limit_s: int) -> None:
    assert run.state.life_cycle_state == RunLifeCycleState.TERMINATED  # type: ignore[attr-defined]
    assert run.state.result_state == RunResultState.TIMEDOUT  # type: ignore[attr-defined]
    assert run.state.state_message == "Run timed out"  # type: ignore[attr-defined]
    assert run.state.user_cancelled_or_timedout is True  # type: ignore[attr-defined]
    assert run.status.termination_details.code == TerminationCodeCode.CANCELED  # type: ignore[attr-defined]
    (task,) = run.tasks  # type: ignore[attr-defined]
    assert task.state.result_state == RunResultState.TIMEDOUT
    assert run.end_time - run.start_time == limit_s * 1000  # type: ignore[attr-defined]


def test_a_run_past_the_jobs_timeout_ends_timed_out_and_its_cluster_stops(ws: RunningWorkspace) -> None:
    w = client(ws)
    job_id = single_job(w)
    limit_s = fakes.RUNNING_AT + 60  # a minute into the work
    w.api_client.do("POST", "/api/2.2/jobs/update", body={"job_id": job_id, "new_settings": {"timeout_seconds": limit_s}})
    run = finish(ws, w, job_id)
    _timed_out(run, limit_s)
    cluster = w.clusters.get(run.tasks[0].cluster_instance.cluster_id)
    assert cluster.state.value == "TERMINATED"


def test_a_task_past_its_own_timeout_ends_the_run_timed_out(ws: RunningWorkspace) -> None:
    w = client(ws)
    job_id = single_job(w)
    limit_s = fakes.RUNNING_AT + 30
    w.api_client.do("POST", "/api/2.2/jobs/update", body={"job_id": job_id, "new_settings": {"tasks": [
        {"task_key": "main", "job_cluster_key": "main", "spark_python_task": {"python_file": "dbfs:/x.py"},
         "timeout_seconds": limit_s}]}})
    _timed_out(finish(ws, w, job_id), limit_s)


def test_a_run_within_its_timeout_succeeds(ws: RunningWorkspace) -> None:
    w = client(ws)
    job_id = single_job(w)
    # The emulator's tasks end with their cluster's cleanup (the service's a little before it).
    limit_s = fakes.RUNNING_AT + fakes.WORK_S + fakes.CLEANUP_S + 1
    w.api_client.do("POST", "/api/2.2/jobs/update", body={"job_id": job_id, "new_settings": {"timeout_seconds": limit_s}})
    assert finish(ws, w, job_id).state.result_state == RunResultState.SUCCESS
