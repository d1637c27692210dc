"""Run life cycle, runs list/get/cancel and clusters get/events through the real SDK.

A StepClock moves simulated time by hand (speed 1: one clock second = one simulated
second), so each state is checked at a known moment of the fake simulator's timeline.
"""

from __future__ import annotations

import pytest
from databricks.sdk.errors import DatabricksError
from databricks.sdk.service.compute import EventType, GetEventsOrder
from databricks.sdk.service.jobs import Run, RunLifeCycleState, RunResultState

from sandbox.workspace import RunningWorkspace
from tests.sandbox_ws import fakes
from tests.sandbox_ws.conftest import Sandbox, client
from tests.sandbox_ws.fakes import StepClock


def single_job(w: object, profile: str = "sort", **cluster: object) -> int:
    new_cluster = {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5d.xlarge",
                   "num_workers": 2, "custom_tags": {"team": "x"}, **cluster}
    return w.api_client.do("POST", "/api/2.2/jobs/create", body={  # type: ignore[attr-defined]
        "name": f"job-{profile}", "tags": {"sandbox:profile": profile},
        "job_clusters": [{"job_cluster_key": "main", "new_cluster": new_cluster}],
        "tasks": [{"task_key": "main", "job_cluster_key": "main",
                   "spark_python_task": {"python_file": "dbfs:/x.py"}}]})["job_id"]


def finish(ws: RunningWorkspace, w: object, job_id: int) -> Run:
    """run-now, then wait for the player itself instead of the SDK's 1 s polling."""
    run_id = w.jobs.run_now(job_id).run_id  # type: ignore[attr-defined]
    assert ws.wait_idle(10)
    return w.jobs.get_run(run_id)  # type: ignore[attr-defined]


def test_run_moves_through_its_life_cycle(sandbox: Sandbox, step_clock: StepClock) -> None:
    ws = sandbox.start(clock=step_clock, speed=1.0)
    w = client(ws)
    job_id = single_job(w)
    waiter = w.jobs.run_now(job_id)
    run_id = waiter.run_id
    step_clock.settle()  # CREATING played; waiting for the init scripts
    run = w.jobs.get_run(run_id)
    assert run.state.life_cycle_state == RunLifeCycleState.PENDING
    assert run.number_in_job == 1 and run.job_id == job_id
    instance = w.api_client.do("GET", "/api/2.2/jobs/runs/get",
                               query={"run_id": run_id})["tasks"][0]["cluster_instance"]
    assert set(instance) == {"cluster_id"}  # Spark has not started: no context id yet
    assert w.clusters.get(instance["cluster_id"]).state.value == "PENDING"

    step_clock.advance(fakes.RUNNING_AT + 1)
    step_clock.settle()
    run = w.jobs.get_run(run_id)
    assert run.state.life_cycle_state == RunLifeCycleState.RUNNING
    cid = run.tasks[0].cluster_instance.cluster_id
    assert run.cluster_instance.cluster_id == cid
    assert run.tasks[0].cluster_instance.spark_context_id
    cluster = w.clusters.get(cid)
    assert cluster.state.value == "RUNNING"
    assert len(cluster.executors) == 2 and cluster.driver.instance_id.startswith("i-")
    assert cluster.default_tags["ClusterId"] == cid
    assert cluster.default_tags["JobId"] == str(job_id)
    assert cluster.default_tags["Vendor"] == "Databricks"
    assert cluster.default_tags["RunName"] == "job-sort"
    assert cluster.custom_tags == {"team": "x"}
    assert cluster.executors[0].node_aws_attributes.is_spot is True

    step_clock.advance(fakes.WORK_S)  # past the TERMINATING event, before the end
    step_clock.settle()
    assert w.jobs.get_run(run_id).state.life_cycle_state == RunLifeCycleState.TERMINATING
    assert w.clusters.get(cid).state.value == "TERMINATING"

    step_clock.advance(fakes.CLEANUP_S)
    assert ws.wait_idle(10)
    run = waiter.result()  # the SDK's own wait sees a terminal state
    assert run.state.life_cycle_state == RunLifeCycleState.TERMINATED
    assert run.state.result_state == RunResultState.SUCCESS
    assert run.setup_duration == fakes.RUNNING_AT * 1000
    assert run.execution_duration == fakes.WORK_S * 1000
    assert run.cleanup_duration == fakes.CLEANUP_S * 1000
    assert run.end_time - run.start_time == run.run_duration
    assert run.run_duration == run.setup_duration + run.execution_duration + run.cleanup_duration
    assert run.job_clusters[0].new_cluster.node_type_id == "m5d.xlarge"
    cluster = w.clusters.get(cid)
    assert cluster.state.value == "TERMINATED" and cluster.terminated_time == run.end_time
    assert cluster.termination_reason.code.value == "JOB_FINISHED"


def test_each_run_gets_a_new_cluster_and_a_later_day(sandbox: Sandbox) -> None:
    ws = sandbox.start()  # FakeClock: runs play instantly
    w = client(ws)
    job_id = single_job(w, profile="iterative_ml")
    runs = [finish(ws, w, job_id) for _ in range(3)]
    clusters = {r.tasks[0].cluster_instance.cluster_id for r in runs}
    assert len(clusters) == 3
    days = [s["day"] for s in sandbox.backend.simulated]
    assert days == [1, 2, 3] and {s["spec"]["node_type_id"] for s in sandbox.backend.simulated} \
        == {"m5d.xlarge"}
    assert [s["profile"] for s in sandbox.backend.simulated] == ["iterative_ml"] * 3
    # The input grows with the day, so does the fake runtime.
    assert runs[0].execution_duration < runs[1].execution_duration < runs[2].execution_duration
    assert [r.number_in_job for r in runs] == [1, 2, 3]
    assert runs[0].end_time <= runs[1].start_time


def test_failed_simulation_marks_the_run_failed(ws: RunningWorkspace) -> None:
    w = client(ws)
    run = finish(ws, w, single_job(w, profile="always_fails"))
    assert run.state.result_state == RunResultState.FAILED
    assert run.state.state_message == "Task failed"
    assert run.tasks[0].state.result_state == RunResultState.FAILED


def test_runs_list_filters_and_pages(ws: RunningWorkspace) -> None:
    w = client(ws)
    a, b = single_job(w, "sort"), single_job(w, "io_bound")
    made = [finish(ws, w, a).run_id for _ in range(3)] + [finish(ws, w, b).run_id]
    every = [r.run_id for r in w.jobs.list_runs(limit=2)]
    assert every == sorted(made, reverse=True)  # newest first, across pages of two
    assert [r.run_id for r in w.jobs.list_runs(job_id=a, limit=1)] == sorted(made[:3],
                                                                             reverse=True)
    assert list(w.jobs.list_runs(active_only=True)) == []
    assert len(list(w.jobs.list_runs(completed_only=True))) == 4
    second = w.jobs.get_run(made[1])
    window = [r.run_id for r in w.jobs.list_runs(start_time_from=second.start_time,
                                                 start_time_to=second.start_time)]
    assert window == [made[1]]
    raw = w.api_client.do("GET", "/api/2.2/jobs/runs/list", query={"limit": 3})
    assert raw["has_more"] is True and len(raw["runs"]) == 3 and "tasks" not in raw["runs"][0]
    expanded = w.api_client.do("GET", "/api/2.1/jobs/runs/list",
                               query={"limit": 1, "expand_tasks": "true"})
    assert expanded["runs"][0]["tasks"][0]["task_key"] == "main"


def test_cancel_stops_a_running_run(sandbox: Sandbox, step_clock: StepClock) -> None:
    ws = sandbox.start(clock=step_clock, speed=1.0)
    w = client(ws)
    run_id = w.jobs.run_now(single_job(w)).run_id
    step_clock.advance(fakes.RUNNING_AT + 10)
    step_clock.settle()
    w.jobs.cancel_run(run_id)
    assert ws.wait_idle(10)
    run = w.jobs.get_run(run_id)
    assert run.state.life_cycle_state == RunLifeCycleState.TERMINATED
    assert run.state.result_state == RunResultState.CANCELED
    assert run.state.user_cancelled_or_timedout is True
    cid = run.tasks[0].cluster_instance.cluster_id
    assert w.clusters.get(cid).termination_reason.code.value == "USER_REQUEST"
    types = [e.type.value for e in w.clusters.events(cid, order=GetEventsOrder.ASC)]
    assert types[-1] == "TERMINATING" and "RUNNING" in types


def test_multi_task_job_runs_one_cluster_per_job_cluster(ws: RunningWorkspace) -> None:
    w = client(ws)
    existing = ws.workspace.add_existing_cluster(
        {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5d.xlarge", "num_workers": 1},
        "shared")
    cluster = {"spark_version": "15.4.x-scala2.12", "node_type_id": "r5d.xlarge",
               "num_workers": 1}
    job_id = w.api_client.do("POST", "/api/2.2/jobs/create", body={
        "name": "multi", "job_clusters": [
            {"job_cluster_key": "a", "new_cluster": cluster},
            {"job_cluster_key": "b", "new_cluster": {**cluster, "num_workers": 3}}],
        "tasks": [
            {"task_key": "t1", "job_cluster_key": "a", "spark_python_task": {
                "python_file": "x", "parameters": ["--sandbox-profile=sort"]}},
            {"task_key": "t2", "job_cluster_key": "a"},
            {"task_key": "t3", "job_cluster_key": "b", "depends_on": [{"task_key": "t1"}]},
            {"task_key": "t4", "new_cluster": cluster},
            {"task_key": "t5", "existing_cluster_id": existing}]})["job_id"]
    run = finish(ws, w, job_id)
    assert run.state.result_state == RunResultState.SUCCESS
    ids = {t.task_key: t.cluster_instance.cluster_id for t in run.tasks}
    assert ids["t1"] == ids["t2"] != ids["t3"] != ids["t4"]
    assert ids["t5"] == existing
    assert run.cluster_instance is None  # several clusters: only per task
    assert {s["profile"] for s in sandbox_profiles(ws)} == {"sort", "etl_join_aggregate"}
    assert w.clusters.get(ids["t3"]).num_workers == 3
    assert w.clusters.get(existing).state.value == "RUNNING"


def sandbox_profiles(ws: RunningWorkspace) -> list[dict]:
    return ws.workspace.backend.simulated  # type: ignore[attr-defined]


def test_cluster_events_page_filter_and_order(ws: RunningWorkspace) -> None:
    w = client(ws)
    job_id = single_job(w, autoscale={"min_workers": 1, "max_workers": 4}, num_workers=None)
    run = finish(ws, w, job_id)
    cid = run.tasks[0].cluster_instance.cluster_id
    # limit 2 forces the SDK to post next_page back three times.
    asc = list(w.clusters.events(cid, order=GetEventsOrder.ASC, limit=2))
    assert [e.type.value for e in asc] == ["CREATING", "INIT_SCRIPTS_STARTED",
                                           "INIT_SCRIPTS_FINISHED", "RUNNING", "RESIZING",
                                           "UPSIZE_COMPLETED", "TERMINATING"]
    assert [e.timestamp for e in asc] == sorted(e.timestamp for e in asc)
    desc = list(w.clusters.events(cid))
    assert [e.type for e in desc] == [e.type for e in reversed(asc)]
    only = list(w.clusters.events(cid, event_types=[EventType.RESIZING,
                                                    EventType.UPSIZE_COMPLETED]))
    assert {e.type for e in only} == {EventType.RESIZING, EventType.UPSIZE_COMPLETED}
    first = w.api_client.do("POST", "/api/2.1/clusters/events",
                            body={"cluster_id": cid, "limit": 3, "order": "ASC"})
    assert first["total_count"] == 7 and first["next_page"]["offset"] == 3
    late = list(w.clusters.events(cid, start_time=asc[3].timestamp, end_time=asc[4].timestamp))
    assert {e.type.value for e in late} == {"RUNNING", "RESIZING"}
    cluster = w.clusters.get(cid)
    assert cluster.autoscale.max_workers == 4 and len(cluster.executors) == 4


def test_max_concurrent_runs_zero_skips_every_run_and_the_limit_is_checked(sandbox: Sandbox,
                                                                          step_clock: StepClock) -> None:
    ws = sandbox.start(clock=step_clock, speed=1.0)
    w = client(ws)
    job_id = single_job(w, "sort")
    # "Setting this value to 0 causes all new runs to be skipped", queueing on or off.
    w.api_client.do("POST", "/api/2.2/jobs/update", body={
        "job_id": job_id, "new_settings": {"max_concurrent_runs": 0}})
    skipped = w.jobs.get_run(w.jobs.run_now(job_id).run_id)
    assert skipped.state.life_cycle_state == RunLifeCycleState.SKIPPED
    assert skipped.state.result_state == RunResultState.MAXIMUM_CONCURRENT_RUNS_REACHED
    for bad in (1001, -1, "2", True):
        with pytest.raises(DatabricksError, match="max_concurrent_runs must be an integer from 0 to 1000"):
            w.api_client.do("POST", "/api/2.2/jobs/update", body={
                "job_id": job_id, "new_settings": {"max_concurrent_runs": bad}})
    assert w.jobs.get(job_id).settings.max_concurrent_runs == 0  # a refused update changes nothing


def test_runs_beyond_max_concurrent_are_queued_or_skipped(sandbox: Sandbox,
                                                          step_clock: StepClock) -> None:
    ws = sandbox.start(clock=step_clock, speed=1.0)
    w = client(ws)
    queued_job = single_job(w, "sort")
    first = w.jobs.run_now(queued_job).run_id
    second = w.jobs.run_now(queued_job).run_id
    step_clock.settle()
    assert w.jobs.get_run(second).state.life_cycle_state == RunLifeCycleState.QUEUED
    assert w.jobs.get_run(second).tasks[0].cluster_instance is None
    w.api_client.do("POST", "/api/2.2/jobs/update", body={
        "job_id": queued_job, "new_settings": {"queue": {"enabled": False}}})
    skipped = w.jobs.get_run(w.jobs.run_now(queued_job).run_id)
    assert skipped.state.life_cycle_state == RunLifeCycleState.SKIPPED
    assert skipped.state.result_state == RunResultState.MAXIMUM_CONCURRENT_RUNS_REACHED

    step_clock.advance(fakes.RUNNING_AT + fakes.WORK_S + fakes.CLEANUP_S)
    step_clock.settle()  # the first run ended; the queued one left the queue and waits
    assert w.jobs.get_run(first).state.result_state == RunResultState.SUCCESS
    run = w.jobs.get_run(second)
    assert run.state.life_cycle_state == RunLifeCycleState.PENDING
    assert run.queue_duration == (fakes.RUNNING_AT + fakes.WORK_S + fakes.CLEANUP_S) * 1000
    step_clock.advance(fakes.RUNNING_AT + fakes.WORK_S * 1.1 + fakes.CLEANUP_S)
    assert ws.wait_idle(10)
    run = w.jobs.get_run(second)
    assert run.state.result_state == RunResultState.SUCCESS
    assert run.run_duration == run.queue_duration + run.setup_duration + \
        run.execution_duration + run.cleanup_duration
    # Only the two runs that ran advanced the job's day counter.
    assert [s["day"] for s in sandbox.backend.simulated] == [1, 2]


def test_cancel_a_queued_run(sandbox: Sandbox, step_clock: StepClock) -> None:
    ws = sandbox.start(clock=step_clock, speed=1.0)
    w = client(ws)
    job_id = single_job(w, "sort")
    w.jobs.run_now(job_id)
    queued = w.jobs.run_now(job_id).run_id
    step_clock.settle()
    w.jobs.cancel_run(queued)
    run = w.jobs.get_run(queued)  # cancelling a queued run settles before the reply
    assert run.state.life_cycle_state == RunLifeCycleState.TERMINATED
    assert run.state.result_state == RunResultState.CANCELED
    assert len(sandbox.backend.simulated) == 1  # the queued run never simulated a cluster


def test_cancel_before_the_cluster_runs(sandbox: Sandbox, step_clock: StepClock) -> None:
    ws = sandbox.start(clock=step_clock, speed=1.0)
    w = client(ws)
    existing = ws.workspace.add_existing_cluster(
        {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5d.xlarge", "num_workers": 1},
        "shared")
    job_id = w.api_client.do("POST", "/api/2.2/jobs/create", body={
        "name": "two", "tasks": [
            {"task_key": "new", "new_cluster": {"spark_version": "15.4.x-scala2.12",
                                                "node_type_id": "m5d.xlarge", "num_workers": 1}},
            {"task_key": "old", "existing_cluster_id": existing}]})["job_id"]
    run_id = w.jobs.run_now(job_id).run_id
    step_clock.advance(fakes.INIT_AT + 5)  # init scripts done, Spark not up yet
    step_clock.settle()
    w.jobs.cancel_run(run_id)
    assert ws.wait_idle(10)
    run = w.jobs.get_run(run_id)
    assert run.state.result_state == RunResultState.CANCELED
    assert run.execution_duration == 0
    assert run.setup_duration == (fakes.INIT_AT + 5) * 1000 == run.run_duration
    by_key = {t.task_key: t for t in run.tasks}
    assert by_key["old"].state.result_state == RunResultState.CANCELED
    assert by_key["old"].end_time == run.end_time
    assert by_key["new"].state.result_state == RunResultState.CANCELED


def test_observers_see_each_cluster_of_a_run_once(ws: RunningWorkspace) -> None:
    seen: list[tuple[str, list[str], str]] = []
    ws.add_run_observer(lambda job, run, sim, spec: seen.append((
        run["cluster_instance"]["cluster_id"], [t["task_key"] for t in run["tasks"]],
        spec["node_type_id"])))
    ws.add_run_observer(lambda *args: 1 / 0)  # a broken observer harms nobody
    w = client(ws)
    cluster = {"spark_version": "15.4.x-scala2.12", "num_workers": 1}
    job_id = w.api_client.do("POST", "/api/2.2/jobs/create", body={
        "name": "two-clusters", "job_clusters": [
            {"job_cluster_key": "a", "new_cluster": {**cluster, "node_type_id": "m5d.xlarge"}},
            {"job_cluster_key": "b", "new_cluster": {**cluster, "node_type_id": "r5d.xlarge"}}],
        "tasks": [{"task_key": "t1", "job_cluster_key": "a"},
                  {"task_key": "t2", "job_cluster_key": "b"}]})["job_id"]
    run = finish(ws, w, job_id)
    assert run.state.result_state == RunResultState.SUCCESS
    ids = {t.task_key: t.cluster_instance.cluster_id for t in run.tasks}
    assert sorted(seen) == sorted([(ids["t1"], ["t1"], "m5d.xlarge"),
                                   (ids["t2"], ["t2"], "r5d.xlarge")])
