"""A shared job cluster waits between its tasks for tasks on other clusters (a1 -> b -> a2, a1
and a2 on one job cluster, b elsewhere), as on Databricks; and it starts when its first task
may run. Through real HTTP and the real SDK; the fake simulator's timeline is fixed
(tests/sandbox_ws/fakes.py), so every moment can be checked on the simulated clock."""

from __future__ import annotations

import json
from typing import Any

from databricks.sdk.service.jobs import RunLifeCycleState, RunResultState

from sandbox.workspace import RunningWorkspace
from tests.sandbox_ws import fakes
from tests.sandbox_ws.conftest import Sandbox, client
from tests.sandbox_ws.fakes import StepClock
from tests.sandbox_ws.test_sandbox_ws_depends_on import SPEC, create, finish, result, task, tasks_of

S = 1000
RUN_S = fakes.RUNNING_AT + fakes.WORK_S + fakes.CLEANUP_S           # one fake cluster: 705 s
TERMINATING_S = fakes.RUNNING_AT + fakes.WORK_S                     # 690 s
# Two waves on the shared cluster: its Spark time (RUNNING to TERMINATING) split in two.
BOUNDARY_S = fakes.RUNNING_AT + fakes.WORK_S // 2                    # 390 s
SHARED = [{"job_cluster_key": "m", "new_cluster": SPEC}]


def a1_b_a2(w: Any, b_profile: str = "sort") -> int:
    return create(w, [task("a1", job_cluster_key="m"), task("b", "a1", profile=b_profile),
                      task("a2", "b", job_cluster_key="m")], SHARED)


def test_jobs_create_accepts_an_order_through_a_shared_cluster_twice(ws: RunningWorkspace,
                                                                     ) -> None:
    w = client(ws)
    job_id = a1_b_a2(w)
    keys = [t.task_key for t in w.jobs.get(job_id).settings.tasks]
    assert keys == ["a1", "b", "a2"]


def test_the_shared_cluster_serves_a1_waits_for_b_then_serves_a2(ws: RunningWorkspace) -> None:
    w = client(ws)
    seen: list[tuple[str, int, int]] = []
    ws.add_run_observer(lambda job, run, sim, spec: seen.append(
        (spec["node_type_id"], min(n.start_ms for n in sim.nodes), max(n.end_ms for n in sim.nodes))))
    run = finish(ws, w, a1_b_a2(w))
    t = tasks_of(run)
    start = run.start_time
    assert run.state.result_state == RunResultState.SUCCESS
    assert [result(t[k]) for k in ("a1", "b", "a2")] == [RunResultState.SUCCESS] * 3
    shared = t["a1"].cluster_instance.cluster_id
    assert t["a2"].cluster_instance.cluster_id == shared != t["b"].cluster_instance.cluster_id
    # a1: the cluster's start-up, then the first half of its Spark time.
    assert (t["a1"].start_time - start, t["a1"].setup_duration, t["a1"].execution_duration,
            t["a1"].end_time - start) == (0, fakes.RUNNING_AT * S, (BOUNDARY_S - 90) * S,
                                          BOUNDARY_S * S)
    # b gets its own cluster when a1 ends.
    assert t["b"].start_time == t["a1"].end_time
    assert t["b"].end_time - t["b"].start_time == RUN_S * S
    # a2 starts on the same cluster, still running, the moment b ends; the cluster waited
    # (RUNNING, billed) from a1's end to then, and the rest of its timeline moved by the wait.
    wait_s = (t["b"].end_time - t["a1"].end_time) // S
    assert wait_s == RUN_S
    assert t["a2"].start_time == t["b"].end_time
    assert t["a2"].setup_duration == 0
    assert t["a2"].execution_duration == (TERMINATING_S - BOUNDARY_S) * S
    assert t["a2"].end_time - start == (RUN_S + wait_s) * S == run.end_time - start
    cluster = w.clusters.get(shared)
    assert cluster.terminated_time - start == (RUN_S + wait_s) * S
    events = [(e.type.value, e.timestamp - start) for e in w.clusters.events(shared)]
    assert ("TERMINATING", (TERMINATING_S + wait_s) * S) in events
    assert [typ for typ, _ in events].count("RUNNING") == 1  # one cluster, never restarted
    # Observers (the cloud stand-ins bill from node lifetimes) see the nodes up through the wait.
    assert (seen[-1][1] - start, seen[-1][2] - start) == (30 * S, (RUN_S + wait_s) * S)
    # The event log's times after the wait moved with it: Spark ends just before TERMINATING.
    ctx = t["a1"].cluster_instance.spark_context_id
    log_file = (ws.workspace.driver_root(shared) / "databricks" / "driver" / "eventlogs" / ctx
                / "eventlog")
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    app_end = next(e for e in lines if e["Event"] == "SparkListenerApplicationEnd")
    assert app_end["Timestamp"] - start == (TERMINATING_S - 1 + wait_s) * S


def test_while_it_waits_the_cluster_runs_and_a2_is_blocked(sandbox: Sandbox,
                                                           step_clock: StepClock) -> None:
    ws = sandbox.start(clock=step_clock, speed=1.0)
    w = client(ws)
    run_id = w.jobs.run_now(a1_b_a2(w)).run_id
    step_clock.advance(BOUNDARY_S + fakes.RUNNING_AT + 10)  # b's cluster is running
    step_clock.settle()
    run = w.jobs.get_run(run_id)
    t = tasks_of(run)
    assert result(t["a1"]) == RunResultState.SUCCESS
    assert t["b"].state.life_cycle_state == RunLifeCycleState.RUNNING
    assert t["a2"].state.life_cycle_state == RunLifeCycleState.BLOCKED
    assert t["a2"].cluster_instance is None and not t["a2"].start_time
    assert w.clusters.get(t["a1"].cluster_instance.cluster_id).state.value == "RUNNING"
    step_clock.advance(10_000)
    assert ws.wait_idle(10)
    assert w.jobs.get_run(run_id).state.result_state == RunResultState.SUCCESS


def test_a_failed_b_skips_a2_and_the_cluster_terminates_when_b_ends(ws: RunningWorkspace) -> None:
    w = client(ws)
    run = finish(ws, w, a1_b_a2(w, b_profile="always_fails"))
    t = tasks_of(run)
    assert result(t["a1"]) == RunResultState.SUCCESS
    assert result(t["b"]) == RunResultState.FAILED
    assert result(t["a2"]) == RunResultState.UPSTREAM_FAILED
    assert t["a2"].cluster_instance is None and not t["a2"].start_time
    shared = w.clusters.get(t["a1"].cluster_instance.cluster_id)
    # Up while a2 might still have run on it; down as soon as nothing is left for it.
    assert shared.terminated_time == t["b"].end_time == t["a2"].end_time
    assert shared.termination_reason.code.value == "JOB_FINISHED"
    assert run.state.result_state == RunResultState.FAILED
    assert run.end_time == t["b"].end_time


def test_a_shared_cluster_starts_when_its_first_task_may(ws: RunningWorkspace) -> None:
    """a1 needs nothing; a2, on the same cluster, waits for x elsewhere: the cluster starts at
    once for a1, and a2 starts on it when x ends (it used to wait for x before starting)."""
    w = client(ws)
    run = finish(ws, w, create(w, [task("x"), task("a1", job_cluster_key="m"),
                                   task("a2", "x", job_cluster_key="m")], SHARED))
    t = tasks_of(run)
    assert run.state.result_state == RunResultState.SUCCESS
    assert t["a1"].start_time == t["x"].start_time == run.start_time
    assert t["a1"].end_time - run.start_time == BOUNDARY_S * S
    assert t["a2"].start_time == t["x"].end_time
    assert t["a2"].cluster_instance.cluster_id == t["a1"].cluster_instance.cluster_id
    wait_s = RUN_S - BOUNDARY_S
    assert t["a2"].end_time - run.start_time == (RUN_S + wait_s) * S


def test_a_chain_through_two_shared_clusters(ws: RunningWorkspace) -> None:
    """m: a1, a2; n: b1, b2; a1 -> b1 -> a2 -> b2: each cluster waits for the other in turn."""
    w = client(ws)
    run = finish(ws, w, create(w, [task("a1", job_cluster_key="m"),
                                   task("b1", "a1", job_cluster_key="n"),
                                   task("a2", "b1", job_cluster_key="m"),
                                   task("b2", "a2", job_cluster_key="n")],
                               [*SHARED, {"job_cluster_key": "n", "new_cluster": SPEC}]))
    t = tasks_of(run)
    assert run.state.result_state == RunResultState.SUCCESS
    order = sorted(t, key=lambda k: t[k].start_time)
    assert order == ["a1", "b1", "a2", "b2"]
    for before, after in (("a1", "b1"), ("b1", "a2"), ("a2", "b2")):
        assert t[after].start_time == t[before].end_time
    assert len(ws.workspace.backend.simulated) == 2  # type: ignore[attr-defined]


def test_with_the_real_simulator_the_wait_falls_between_two_spark_jobs(tmp_path: Any) -> None:
    """The real simulated application: the shared cluster's wait is put where one Spark job
    ends and the next begins, so no Spark task seems to run through it, and the event log stays
    in time order."""
    from sandbox.workspace import start_workspace
    from sandbox.workspace.clock import FakeClock

    seen: list[Any] = []
    with start_workspace(tmp_path / "real", speed=600.0, clock=FakeClock()) as ws:
        ws.add_run_observer(lambda job, run, sim, spec: seen.append(sim))
        w = client(ws)
        spec = {**SPEC, "num_workers": 2}
        job_id = create(w, [task("a1", job_cluster_key="m", profile="etl_join_aggregate"),
                            task("b", "a1", profile="sort"),
                            task("a2", "b", job_cluster_key="m", profile="etl_join_aggregate")],
                        [{"job_cluster_key": "m", "new_cluster": spec}])
        run = finish(ws, w, job_id)
        t = tasks_of(run)
        assert run.state.result_state == RunResultState.SUCCESS, run.state.state_message
        shared = t["a1"].cluster_instance.cluster_id
        gap = (t["a1"].end_time, t["a2"].start_time)
        assert gap[1] == t["b"].end_time > gap[0]
        sim = next(s for s in seen if s.spark_context_id == t["a1"].cluster_instance.spark_context_id)
        events = [json.loads(line) for _, line in sim.eventlog]
        times = [ts for ts, _ in sim.eventlog]
        assert times == sorted(times)
        for e in events:
            if e["Event"] == "SparkListenerTaskEnd":
                info = e["Task Info"]
                # No Spark task spans the wait: each ran wholly before a1 ended or after a2 began.
                assert info["Finish Time"] <= gap[0] or info["Launch Time"] >= gap[1], info
        assert sum(1 for e in events if e["Event"] == "SparkListenerApplicationEnd") == 1
        # The nodes stayed up (billed) through the wait, and went with the cluster.
        nodes_end = max(n.end_ms for n in sim.nodes)
        assert nodes_end <= w.clusters.get(shared).terminated_time
        driver = next(n for n in sim.nodes if n.is_driver)
        assert driver.start_ms < gap[0] and driver.end_ms > gap[1]
