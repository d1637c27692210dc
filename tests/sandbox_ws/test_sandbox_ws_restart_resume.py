"""After a restart, the tasks that were BLOCKED (waiting for their dependencies) are picked up:
each starts when its dependencies have ended or is skipped as its `run_if` says, and the run
ends as its tasks do. What was running when the workspace stopped fails (its cluster is gone).
Through real HTTP and the real SDK; the fake simulator's timeline is fixed."""

from __future__ import annotations

from databricks.sdk.service.jobs import RunLifeCycleState, RunResultState

from tests.sandbox_ws import fakes
from tests.sandbox_ws.conftest import Sandbox, client
from tests.sandbox_ws.fakes import StepClock
from tests.sandbox_ws.test_sandbox_ws_depends_on import create, result, task, tasks_of

MESSAGE = "The sandbox workspace stopped while this run was in progress."
RUN_S = fakes.RUNNING_AT + fakes.WORK_S + fakes.CLEANUP_S


def stop_while_a_runs(sandbox: Sandbox, clock: StepClock, tasks: list[dict]) -> tuple[int, int]:
    """Start the job, stop the workspace while its first task runs; (run id, stop time)."""
    first = sandbox.start(clock=clock, speed=1.0)
    w = client(first)
    run_id = w.jobs.run_now(create(w, tasks)).run_id
    clock.advance(fakes.RUNNING_AT + 5)
    clock.settle()
    first.stop()
    return run_id, first.workspace.now_ms()


def test_a_blocked_task_that_runs_after_any_end_runs_after_the_restart(
        sandbox: Sandbox, step_clock: StepClock) -> None:
    run_id, _ = stop_while_a_runs(sandbox, step_clock,
                                  [task("a"), task("b", "a", run_if="ALL_DONE"), task("c", "b")])
    ws = sandbox.start(clock=step_clock, speed=1.0)
    w = client(ws)
    restarted = ws.workspace.now_ms()
    t = tasks_of(w.jobs.get_run(run_id))
    # a's cluster is gone: a failed at the restart; b, waiting for it, starts then.
    assert t["a"].state.life_cycle_state == RunLifeCycleState.INTERNAL_ERROR
    assert result(t["a"]) == RunResultState.FAILED and t["a"].state.state_message == MESSAGE
    assert t["a"].end_time == restarted == t["b"].start_time
    assert t["b"].state.life_cycle_state == RunLifeCycleState.PENDING
    assert t["c"].state.life_cycle_state == RunLifeCycleState.BLOCKED
    step_clock.advance(2 * RUN_S + 10)
    assert ws.wait_idle(10)
    run = w.jobs.get_run(run_id)
    t = tasks_of(run)
    assert result(t["b"]) == result(t["c"]) == RunResultState.SUCCESS
    assert t["c"].start_time == t["b"].end_time == restarted + RUN_S * 1000
    assert t["b"].cluster_instance.cluster_id != t["c"].cluster_instance.cluster_id
    # The leaf succeeded after a failure, as on the service.
    assert run.state.result_state == RunResultState.SUCCESS_WITH_FAILURES
    assert run.end_time == t["c"].end_time
    assert len(sandbox.backend.simulated) == 3


def test_blocked_tasks_behind_an_interrupted_one_are_skipped_at_the_restart(
        sandbox: Sandbox, step_clock: StepClock) -> None:
    run_id, _ = stop_while_a_runs(sandbox, step_clock, [task("a"), task("b", "a"), task("c", "b")])
    ws = sandbox.start()  # ends before it answers: no task is left to run
    w = client(ws)
    run = w.jobs.get_run(run_id)
    t = tasks_of(run)
    assert result(t["a"]) == RunResultState.FAILED
    assert result(t["b"]) == result(t["c"]) == RunResultState.UPSTREAM_FAILED
    assert t["b"].state.life_cycle_state == t["c"].state.life_cycle_state == \
        RunLifeCycleState.TERMINATED
    assert t["b"].cluster_instance is None and t["c"].cluster_instance is None
    assert run.state.life_cycle_state == RunLifeCycleState.INTERNAL_ERROR
    assert run.state.result_state == RunResultState.FAILED and run.state.state_message == MESSAGE
    assert not any(t.state.life_cycle_state == RunLifeCycleState.BLOCKED for t in run.tasks)
    assert len(sandbox.backend.simulated) == 1


def test_a_restart_with_nothing_waiting_still_fails_the_run(sandbox: Sandbox,
                                                           step_clock: StepClock) -> None:
    run_id, _ = stop_while_a_runs(sandbox, step_clock, [task("a"), task("x")])
    w = client(sandbox.start())
    run = w.jobs.get_run(run_id)
    assert run.state.life_cycle_state == RunLifeCycleState.INTERNAL_ERROR
    assert all(result(t) == RunResultState.FAILED for t in run.tasks)
    assert all(t.state.life_cycle_state == RunLifeCycleState.INTERNAL_ERROR for t in run.tasks)
