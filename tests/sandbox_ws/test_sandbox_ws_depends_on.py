"""A multi-task run follows `depends_on` and `run_if`, through real HTTP and the real SDK.

The fake simulator's timeline is fixed (tests/sandbox_ws/fakes.py), so each task's start and
end can be checked against its dependencies' on the simulated clock. A task fails with the
fake's `always_fails` profile (its simulated Spark application fails) or with an init script
that exits 1 (its cluster fails to launch).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from databricks.sdk.errors import DatabricksError
from databricks.sdk.service.compute import GetEventsOrder
from databricks.sdk.service.jobs import Run, RunLifeCycleState, RunResultState, RunTask

from sandbox.workspace import RunningWorkspace
from tests.sandbox_ws import fakes
from tests.sandbox_ws.conftest import Sandbox, client
from tests.sandbox_ws.fakes import StepClock

SPEC = {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5d.xlarge", "num_workers": 1}


def task(key: str, *after: str, profile: str = "sort", run_if: str | None = None,
         **compute: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"task_key": key, **(compute or {"new_cluster": SPEC}),
                           "spark_python_task": {"python_file": "dbfs:/x.py",
                                                 "parameters": [f"--sandbox-profile={profile}"]}}
    if after:
        out["depends_on"] = [{"task_key": k} for k in after]
    if run_if:
        out["run_if"] = run_if
    return out


def create(w: Any, tasks: list[dict[str, Any]], job_clusters: list[dict[str, Any]] | None = None,
           ) -> int:
    body: dict[str, Any] = {"name": "deps", "tasks": tasks}
    if job_clusters:
        body["job_clusters"] = job_clusters
    return int(w.api_client.do("POST", "/api/2.2/jobs/create", body=body)["job_id"])


def finish(ws: RunningWorkspace, w: Any, job_id: int) -> Run:
    run_id = w.jobs.run_now(job_id).run_id
    assert ws.wait_idle(30)
    return w.jobs.get_run(run_id)


def tasks_of(run: Run) -> dict[str, RunTask]:
    return {t.task_key: t for t in run.tasks or []}


def result(t: RunTask) -> RunResultState | None:
    return t.state.result_state if t.state else None


def test_chain_on_two_clusters_starts_b_when_a_ends(ws: RunningWorkspace) -> None:
    w = client(ws)
    run = finish(ws, w, create(w, [task("a"), task("b", "a")]))
    assert run.state.result_state == RunResultState.SUCCESS
    a, b = tasks_of(run)["a"], tasks_of(run)["b"]
    assert b.start_time >= a.end_time > a.start_time == run.start_time
    assert result(a) == result(b) == RunResultState.SUCCESS
    # b's cluster was requested when a ended, and plays the whole fake timeline from there.
    b_cluster = b.cluster_instance.cluster_id
    assert b_cluster != a.cluster_instance.cluster_id
    first = next(iter(w.clusters.events(b_cluster, order=GetEventsOrder.ASC)))
    assert first.type.value == "CREATING" and first.timestamp == a.end_time
    assert b.setup_duration == fakes.RUNNING_AT * 1000
    assert run.end_time == b.end_time
    assert run.run_duration == run.end_time - run.start_time
    sims = ws.workspace.backend.simulated  # type: ignore[attr-defined]
    assert [s["start_time_ms"] for s in sims] == [a.start_time, b.start_time]


def test_independent_tasks_run_at_the_same_time(ws: RunningWorkspace) -> None:
    w = client(ws)
    run = finish(ws, w, create(w, [task("a"), task("b"), task("c", "a", "b")]))
    t = tasks_of(run)
    assert t["a"].start_time == t["b"].start_time == run.start_time
    assert t["a"].start_time < t["b"].end_time and t["b"].start_time < t["a"].end_time
    assert t["c"].start_time == max(t["a"].end_time, t["b"].end_time)
    assert run.state.result_state == RunResultState.SUCCESS


def test_tasks_sharing_a_job_cluster_run_in_order_on_it(ws: RunningWorkspace) -> None:
    w = client(ws)
    job_id = create(w, [task("a", job_cluster_key="main"), task("b", "a", job_cluster_key="main")],
                    [{"job_cluster_key": "main", "new_cluster": SPEC}])
    run = finish(ws, w, job_id)
    a, b = tasks_of(run)["a"], tasks_of(run)["b"]
    assert a.cluster_instance.cluster_id == b.cluster_instance.cluster_id
    assert a.cluster_instance.spark_context_id == b.cluster_instance.spark_context_id
    assert len(ws.workspace.backend.simulated) == 1  # type: ignore[attr-defined]
    # The cluster's Spark time is split between them: a waited for the cluster, b did not.
    assert b.start_time == a.end_time
    assert a.setup_duration == fakes.RUNNING_AT * 1000 and b.setup_duration == 0
    assert a.execution_duration == b.execution_duration == fakes.WORK_S * 1000 // 2
    assert a.cleanup_duration == 0 and b.cleanup_duration == fakes.CLEANUP_S * 1000
    cluster = w.clusters.get(a.cluster_instance.cluster_id)
    assert b.end_time == run.end_time == cluster.terminated_time


def test_a_waiting_task_is_blocked_until_its_dependency_ends(sandbox: Sandbox,
                                                               step_clock: StepClock) -> None:
    ws = sandbox.start(clock=step_clock, speed=1.0)
    w = client(ws)
    run_id = w.jobs.run_now(create(w, [task("a"), task("b", "a")])).run_id
    step_clock.advance(fakes.RUNNING_AT + 1)
    step_clock.settle()
    run = w.jobs.get_run(run_id)
    a, b = tasks_of(run)["a"], tasks_of(run)["b"]
    assert run.state.life_cycle_state == RunLifeCycleState.RUNNING
    assert a.state.life_cycle_state == RunLifeCycleState.RUNNING
    assert b.state.life_cycle_state == RunLifeCycleState.BLOCKED
    assert b.cluster_instance is None and not b.start_time
    assert len(sandbox.backend.simulated) == 1  # b's cluster does not exist yet

    step_clock.advance(fakes.WORK_S + fakes.CLEANUP_S)  # a's cluster is gone: b's is coming up
    step_clock.settle()
    run = w.jobs.get_run(run_id)
    a, b = tasks_of(run)["a"], tasks_of(run)["b"]
    assert result(a) == RunResultState.SUCCESS
    assert run.state.life_cycle_state == RunLifeCycleState.RUNNING  # not TERMINATING: b is left
    assert b.state.life_cycle_state == RunLifeCycleState.PENDING
    assert b.start_time == a.end_time
    assert w.clusters.get(b.cluster_instance.cluster_id).state.value == "PENDING"

    step_clock.advance(fakes.RUNNING_AT + fakes.WORK_S + fakes.CLEANUP_S)
    assert ws.wait_idle(10)
    assert w.jobs.get_run(run_id).state.result_state == RunResultState.SUCCESS


def test_a_failed_upstream_skips_its_dependants_and_fails_the_run(ws: RunningWorkspace) -> None:
    w = client(ws)
    job_id = create(w, [task("a", profile="always_fails"), task("b", "a"), task("c", "b"),
                        task("d", "a", run_if="NONE_FAILED")])
    run = finish(ws, w, job_id)
    t = tasks_of(run)
    assert result(t["a"]) == RunResultState.FAILED
    for key in ("b", "c", "d"):  # c: a failure propagates down the chain
        assert result(t[key]) == RunResultState.UPSTREAM_FAILED
        assert t[key].cluster_instance is None and not t[key].start_time
        assert t[key].status.termination_details.code.value == "SKIPPED"
    assert t["b"].state.state_message == "Upstream task(s) failed: a."
    assert len(ws.workspace.backend.simulated) == 1  # type: ignore[attr-defined]
    assert run.state.result_state == RunResultState.FAILED
    assert run.state.state_message == "Task failed"  # the failed task's message
    assert run.end_time == t["a"].end_time


def test_a_failed_init_script_upstream_gives_upstream_failed(ws: RunningWorkspace,
                                                            tmp_path: Path) -> None:
    script = tmp_path / "bad.sh"
    script.write_text("#!/bin/bash\nexit 1\n")
    w = client(ws)
    bad = {**SPEC, "init_scripts": [{"file": {"destination": str(script)}}]}
    run = finish(ws, w, create(w, [task("a", new_cluster=bad), task("b", "a")]))
    t = tasks_of(run)
    assert t["a"].state.life_cycle_state == RunLifeCycleState.INTERNAL_ERROR
    assert result(t["a"]) == RunResultState.FAILED
    assert result(t["b"]) == RunResultState.UPSTREAM_FAILED
    assert run.state.life_cycle_state == RunLifeCycleState.INTERNAL_ERROR
    assert run.state.result_state == RunResultState.FAILED
    assert "exited with 1" in run.state.state_message
    assert t["b"].end_time == t["a"].end_time == run.end_time


def test_all_done_runs_after_a_failure(ws: RunningWorkspace) -> None:
    w = client(ws)
    job_id = create(w, [task("a", profile="always_fails"), task("b", "a", run_if="ALL_DONE"),
                        task("c", "b")])
    run = finish(ws, w, job_id)
    t = tasks_of(run)
    assert result(t["a"]) == RunResultState.FAILED
    assert result(t["b"]) == result(t["c"]) == RunResultState.SUCCESS
    assert t["b"].start_time == t["a"].end_time and t["c"].start_time == t["b"].end_time
    # The leaf succeeded: the run did, with failures (RunResultState.SUCCESS_WITH_FAILURES).
    assert run.state.result_state == RunResultState.SUCCESS_WITH_FAILURES
    assert run.end_time == t["c"].end_time


def test_conditions_on_failures_and_successes(ws: RunningWorkspace) -> None:
    w = client(ws)
    job_id = create(w, [
        task("ok"), task("bad", profile="always_fails"),
        task("any_ok", "ok", "bad", run_if="AT_LEAST_ONE_SUCCESS"),
        task("any_bad", "ok", "bad", run_if="AT_LEAST_ONE_FAILED"),
        task("all_bad", "ok", "bad", run_if="ALL_FAILED"),
        task("on_success_only", "ok", run_if="AT_LEAST_ONE_FAILED")])
    t = tasks_of(finish(ws, w, job_id))
    assert result(t["any_ok"]) == result(t["any_bad"]) == RunResultState.SUCCESS
    assert result(t["all_bad"]) == RunResultState.EXCLUDED
    assert result(t["on_success_only"]) == RunResultState.EXCLUDED
    assert t["on_success_only"].cluster_instance is None


def test_a_shared_cluster_runs_only_the_tasks_whose_condition_holds(ws: RunningWorkspace) -> None:
    w = client(ws)
    job_id = create(w, [task("x", profile="always_fails"),
                        task("a1", job_cluster_key="main"),
                        task("a2", "x", job_cluster_key="main"),
                        task("skipped_only", "x", job_cluster_key="spare")],
                    [{"job_cluster_key": "main", "new_cluster": SPEC},
                     {"job_cluster_key": "spare", "new_cluster": SPEC}])
    run = finish(ws, w, job_id)
    t = tasks_of(run)
    assert result(t["a1"]) == RunResultState.SUCCESS
    assert result(t["a2"]) == result(t["skipped_only"]) == RunResultState.UPSTREAM_FAILED
    assert t["a2"].cluster_instance is None
    # The shared cluster starts with a1, as on Databricks (not after x), stays up while a2 waits
    # for x, and terminates when x's failure skips a2; the spare one never starts.
    assert t["a1"].start_time == run.start_time
    main = ws.workspace.store.data["clusters"][t["a1"].cluster_instance.cluster_id]
    assert main["terminated_time"] == t["x"].end_time == t["a2"].end_time
    assert len(ws.workspace.backend.simulated) == 2  # type: ignore[attr-defined]
    clusters = ws.workspace.store.data["clusters"]
    assert sum(1 for c in clusters.values() if c.get("cluster_source") == "JOB") == 2


def test_a_failure_on_a_shared_cluster_fails_its_last_wave(ws: RunningWorkspace) -> None:
    w = client(ws)
    always_fails = {"job_cluster_key": "main",
                    "spark_python_task": {"python_file": "x",
                                          "parameters": ["--sandbox-profile=always_fails"]}}
    job_id = create(w, [{"task_key": "a", **always_fails},
                        {"task_key": "b", **always_fails, "depends_on": [{"task_key": "a"}]}],
                    [{"job_cluster_key": "main", "new_cluster": SPEC}])
    run = finish(ws, w, job_id)
    t = tasks_of(run)
    assert result(t["a"]) == RunResultState.SUCCESS
    assert result(t["b"]) == RunResultState.FAILED
    assert run.state.result_state == RunResultState.FAILED


def test_existing_cluster_tasks_follow_their_dependencies(ws: RunningWorkspace) -> None:
    w = client(ws)
    existing = ws.workspace.add_existing_cluster(SPEC, "shared")
    run = finish(ws, w, create(w, [task("a", existing_cluster_id=existing),
                                   task("b", "a", existing_cluster_id=existing), task("c", "b")]))
    t = tasks_of(run)
    assert t["b"].start_time == t["a"].end_time == t["a"].start_time + 5 * 60_000
    assert t["b"].cluster_instance.cluster_id == existing
    assert t["c"].start_time == t["b"].end_time
    assert run.end_time == t["c"].end_time
    assert run.state.result_state == RunResultState.SUCCESS


def test_cancel_while_a_task_waits(sandbox: Sandbox, step_clock: StepClock) -> None:
    ws = sandbox.start(clock=step_clock, speed=1.0)
    w = client(ws)
    run_id = w.jobs.run_now(create(w, [task("a"), task("b", "a")])).run_id
    step_clock.advance(fakes.RUNNING_AT + 10)
    step_clock.settle()
    w.jobs.cancel_run(run_id)
    assert ws.wait_idle(10)
    run = w.jobs.get_run(run_id)
    t = tasks_of(run)
    assert run.state.result_state == RunResultState.CANCELED
    assert result(t["a"]) == result(t["b"]) == RunResultState.CANCELED
    assert t["b"].cluster_instance is None and not t["b"].start_time
    assert len(sandbox.backend.simulated) == 1


def test_cancel_after_an_upstream_ended_keeps_its_result(sandbox: Sandbox,
                                                        step_clock: StepClock) -> None:
    ws = sandbox.start(clock=step_clock, speed=1.0)
    w = client(ws)
    run_id = w.jobs.run_now(create(w, [task("a"), task("b", "a")])).run_id
    a_ends = fakes.RUNNING_AT + fakes.WORK_S + fakes.CLEANUP_S
    step_clock.advance(a_ends + fakes.RUNNING_AT + 10)  # b's cluster is running
    step_clock.settle()
    w.jobs.cancel_run(run_id)
    assert ws.wait_idle(10)
    run = w.jobs.get_run(run_id)
    t = tasks_of(run)
    assert result(t["a"]) == RunResultState.SUCCESS
    assert t["a"].end_time == run.start_time + a_ends * 1000
    assert result(t["b"]) == RunResultState.CANCELED
    assert t["b"].end_time == run.end_time > t["a"].end_time
    assert run.state.result_state == RunResultState.CANCELED


def test_a_stop_while_a_task_waits_fails_the_run_after_restart(sandbox: Sandbox,
                                                               step_clock: StepClock) -> None:
    first = sandbox.start(clock=step_clock, speed=1.0)
    w = client(first)
    run_id = w.jobs.run_now(create(w, [task("a"), task("b", "a")])).run_id
    step_clock.advance(fakes.RUNNING_AT + 5)
    step_clock.settle()
    first.stop()
    w = client(sandbox.start())
    run = w.jobs.get_run(run_id)
    assert run.state.life_cycle_state == RunLifeCycleState.INTERNAL_ERROR
    assert w.clusters.get(tasks_of(run)["a"].cluster_instance.cluster_id).state.value == \
        "TERMINATED"
    assert tasks_of(run)["b"].cluster_instance is None
    assert len(sandbox.backend.simulated) == 1


@pytest.mark.parametrize(("tasks", "clusters", "words"), [
    ([task("a", "b"), task("b", "a")], None, "cycle: a -> b -> a"),
    ([task("a", run_if="SOMETIMES")], None, "Invalid run_if 'SOMETIMES'"),
])
def test_jobs_create_refuses_orders_it_cannot_run(ws: RunningWorkspace, tasks: list[dict[str, Any]],
                                                  clusters: list[dict[str, Any]] | None,
                                                  words: str) -> None:
    w = client(ws)
    with pytest.raises(DatabricksError) as info:
        create(w, tasks, clusters)
    assert words in str(info.value)
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
