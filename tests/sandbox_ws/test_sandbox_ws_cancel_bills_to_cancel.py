"""A cancelled run's nodes end when its clusters terminate: the cloud stand-ins bill a run's nodes
from the simulation's node lifetimes (`sandbox.clouds.billing`), and before, a cancel stamped
TERMINATING at the cancel while the nodes ran on to the end the simulation had planned (review
"cost": a run cancelled ~10 simulated minutes in had TERMINATING 2 h after CREATING and a bill of
10 minutes, since the player noticed the cancel late; now the run stops when it was asked).
A StepClock moves simulated time by hand (speed 1)."""

from __future__ import annotations

from typing import Any

from databricks.sdk.service.compute import GetEventsOrder

from tests.sandbox_ws import fakes
from tests.sandbox_ws.conftest import Sandbox, client
from tests.sandbox_ws.fakes import StepClock
from tests.sandbox_ws.test_sandbox_ws_runs import single_job


def test_a_cancelled_runs_nodes_end_at_its_terminating(sandbox: Sandbox, step_clock: StepClock) -> None:
    ws = sandbox.start(clock=step_clock, speed=1.0)
    seen: list[Any] = []
    ws.add_run_observer(lambda job, run, sim, spec: seen.append(sim))
    w = client(ws)
    run_id = w.jobs.run_now(single_job(w)).run_id
    step_clock.advance(fakes.RUNNING_AT + 10)
    step_clock.settle()
    w.jobs.cancel_run(run_id)
    assert ws.wait_idle(10)
    cid = w.jobs.get_run(run_id).tasks[0].cluster_instance.cluster_id
    (terminating,) = [e.timestamp for e in w.clusters.events(cid, order=GetEventsOrder.ASC)
                      if e.type.value == "TERMINATING"]
    (sim,) = seen
    assert sim.nodes and all(n.end_ms <= terminating for n in sim.nodes), \
        [n.end_ms - terminating for n in sim.nodes]
    # Cut where it stopped, not earlier: the nodes were up until then.
    assert max(n.end_ms for n in sim.nodes) == terminating


def test_a_cancel_noticed_late_stops_the_run_when_it_was_asked(sandbox: Sandbox, step_clock: StepClock) -> None:
    """The player may be held (a real init script it waits on) while simulated time runs on: the
    cancel's moment is when jobs/runs/cancel asked, not when the player saw it."""
    ws = sandbox.start(clock=step_clock, speed=1.0)
    w = client(ws)
    run_id = w.jobs.run_now(single_job(w)).run_id
    step_clock.advance(fakes.RUNNING_AT + 10)
    step_clock.settle()
    asked = ws.workspace.simclock.now_ms()
    player = ws.workspace._players[run_id]
    player.cancel_requested_ms = asked  # what request_cancel records, then 5 minutes before the player looks
    step_clock.advance(300)  # well before the work's end (600 s): only the cancel ends the run
    player.cancel.set()
    assert ws.wait_idle(10)
    cid = w.jobs.get_run(run_id).tasks[0].cluster_instance.cluster_id
    (terminating,) = [e.timestamp for e in w.clusters.events(cid, order=GetEventsOrder.ASC)
                      if e.type.value == "TERMINATING"]
    assert terminating == asked
