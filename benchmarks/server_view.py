"""One simulated run as the server records it, with and without the agent's data (pure).

The Jobs API's side of the run is what the workspace emulator serves for a one-task job whose task
ran on the simulated cluster (`sandbox.workspace.outcome`: the task's state message is the
simulation's, a failure is RUN_EXECUTION_ERROR / CLIENT_ERROR, ``setup_duration`` is creation to
RUNNING) and the cluster's events. From there the server's own collection path makes the `Run`:
`server.collect.run_parse.cluster_runs`, `server.collect.cluster_reads.run_timeline` and
`server.collect.build.build_run`, which labels what the Jobs API alone says (an out-of-memory
failure from the state message, a lost node from the events). A benchmark built on this cannot give
a mode less, or more, than the product derives.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sandbox.sim.run import SimulatedRun
from server.collect.build import AgentData, Expected, build_run
from server.collect.cluster_reads import run_timeline
from server.collect.run_parse import ClusterRun, cluster_runs
from server.domain import Project, Run

CLUSTER_KEY = "main"
_PROJECT = Project(workspace="sim", job_id=1, cluster_key=CLUSTER_KEY, id=1)


def jobs_api_run(sim: SimulatedRun, spec: Mapping[str, Any], run_id: int, cluster_id: str) -> dict[str, Any]:
    """``runs/get`` of a one-task job run on ``sim``'s cluster, as the emulator answers it."""
    failed = sim.result_state != "SUCCESS"
    state: dict[str, Any] = {"life_cycle_state": "TERMINATED", "result_state": "FAILED" if failed else "SUCCESS",
                             "state_message": sim.state_message}
    code, type_ = ("RUN_EXECUTION_ERROR", "CLIENT_ERROR") if failed else ("SUCCESS", "SUCCESS")
    task = {"task_key": "task", "run_id": run_id * 10, "job_cluster_key": CLUSTER_KEY,
            "cluster_instance": {"cluster_id": cluster_id, "spark_context_id": sim.spark_context_id},
            "start_time": sim.start_time_ms, "end_time": sim.end_time_ms,
            "setup_duration": max(0, sim.running_ms - sim.start_time_ms), "state": state,
            "status": {"state": "TERMINATED",
                       "termination_details": {"code": code, "type": type_, "message": sim.state_message}}}
    return {"run_id": run_id, "job_id": 1, "start_time": sim.start_time_ms, "end_time": sim.end_time_ms,
            "state": dict(state), "job_clusters": [{"job_cluster_key": CLUSTER_KEY, "new_cluster": dict(spec)}],
            "tasks": [task]}


def cluster_events(sim: SimulatedRun, cluster_id: str) -> list[dict[str, Any]]:
    """``clusters/events`` of ``sim``'s cluster (`sandbox.workspace.clusters.event_dict`)."""
    return [{"cluster_id": cluster_id, "timestamp": int(e.timestamp_ms), "type": e.type, "details": dict(e.details)}
            for e in sim.cluster_events]


def server_run(sim: SimulatedRun, spec: Mapping[str, Any], run_id: int, cluster_id: str,
               agent: AgentData) -> Run:
    """The run the collector stores for ``sim``; ``agent`` empty for a run no agent data came with."""
    piece: ClusterRun = cluster_runs(jobs_api_run(sim, spec, run_id, cluster_id))[0]
    _, timeline = run_timeline(piece.spec, None, cluster_events(sim, cluster_id), piece.start_ms, piece.end_ms,
                                 cloud="aws")
    run, _ = build_run(_PROJECT, piece, cluster=None, timeline=timeline, agent=agent, history=(),
                       expected=Expected(dict(piece.spec), None), cloud="aws")
    return run
