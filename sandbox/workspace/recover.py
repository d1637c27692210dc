"""A run the previous process left unfinished, picked up on the next start.

What was playing cannot go on (its simulated clusters' processes are gone): each cluster
that had started terminates, and the tasks on it or running elsewhere fail with the restart's
message. The tasks still BLOCKED (waiting for dependencies, no cluster yet) are not lost: a
player resumes them, so each starts when its dependencies have ended or is skipped as its
`run_if` says (UPSTREAM_FAILED after an interrupted dependency, under ALL_SUCCESS), and the run
ends as its tasks do. A run with nothing left to start ends at once, before the workspace
answers its first request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox.workspace import outcome, runs
from sandbox.workspace.player import RunPlayer

if TYPE_CHECKING:
    from sandbox.workspace.workspace import Workspace


def resume_run(ws: Workspace, run: dict[str, Any], message: str, now: int) -> RunPlayer | None:
    """Fail what the restart interrupted and replay the rest of `run` from `now`: the player to
    start when some task is left to play, else None (the run has ended). Call with the store
    lock held, once the previous process's clusters are terminated."""
    plan = runs.plan_of(ws.store.data, run)
    player = RunPlayer(ws, plan)
    clusters = ws.store.data["clusters"]
    interrupted: list[str] = []
    for live in player.live:
        if live.plan.cluster_id not in clusters:
            continue  # never requested: its tasks are all still waiting (or skipped)
        # Its process is gone: it counts as a failed cluster, so the run's result says why.
        live.started = live.done = True
        live.failure = message
        live.failure_code = live.failure_type = "INTERNAL_ERROR"
        live.terminating_ms = now
        live.waves = [list(live.plan.task_keys)]
        interrupted += live.plan.task_keys
    last = runs.last_task_attempts(run)  # a repaired run's earlier attempts are history
    by_key = dict(last)
    for key in plan.existing_tasks:
        if by_key[key]["state"]["life_cycle_state"] != "BLOCKED":
            interrupted.append(key)
    outcome.interrupt_tasks(ws, plan, interrupted, message, now)
    results = {k: t["state"]["result_state"] for k, t in last.items() if "result_state" in t["state"]}
    return player if player.resume(results, now) else None
