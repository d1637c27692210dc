"""A job cluster that sits idle while another cluster's task runs (a1 -> b -> a2, a1 and a2 on cluster
A, b on cluster B): the wait is measured apart (`ClusterRun.wait_ms`, `Run.wait_s`), still paid for and
in the runtime, but not learned as A's execution, so shrinking B alone is no regression of A."""

from __future__ import annotations

import math
from typing import Any

from models.setup import estimate, execution_view
from sandbox.workspace import RunningWorkspace
from server.cli.context import format_duration
from server.clock import SystemClock
from server.collect import Collector
from server.collect.run_parse import cluster_runs, idle_between_ms
from server.costing.catalog import load_catalog
from server.databricks import DatabricksGateway
from server.plan.observe import observation
from server.plan.planner import plan_project
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store
from tests.integration.conftest import WIRING

_OK = {"life_cycle_state": "TERMINATED", "result_state": "SUCCESS"}
SPEC = {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5d.xlarge", "num_workers": 4,
        "aws_attributes": {"availability": "ON_DEMAND", "first_on_demand": 1}}


def _task(key: str, cluster: str, start: int, end: int, setup: int = 0) -> dict[str, Any]:
    return {"task_key": key, "job_cluster_key": cluster, "start_time": start, "end_time": end,
            "setup_duration": setup, "cluster_instance": {"cluster_id": f"c-{cluster}"}, "state": _OK}


def test_the_wait_is_the_gaps_between_the_clusters_own_tasks() -> None:
    run = {"run_id": 1, "job_id": 2, "state": _OK,
           "job_clusters": [{"job_cluster_key": "A", "new_cluster": SPEC}, {"job_cluster_key": "B", "new_cluster": SPEC}],
           "tasks": [_task("a1", "A", 1_000, 301_000, setup=200_000), _task("b", "B", 302_000, 901_000, setup=250_000),
                     _task("a2", "A", 902_000, 1_101_000)]}
    a, b = cluster_runs(run)
    assert (a.cluster_key, a.runtime_s, a.setup_ms, a.wait_ms) == ("A", 1100.0, 200_000, 601_000)
    assert (b.cluster_key, b.wait_ms) == ("B", 0)
    # Tasks running side by side on one cluster: the union of their intervals, never a negative wait.
    assert idle_between_ms([_task("x", "A", 1_000, 1_500), _task("y", "A", 1_100, 1_300), _task("z", "A", 1_700, 1_900)]) == 200


def test_shrinking_the_other_cluster_is_no_regression_of_the_waiting_one(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        aws_workspace: str, trimtab: Any) -> None:
    def py(profile: str) -> dict[str, Any]:
        return {"spark_python_task": {"python_file": "dbfs:/x.py", "parameters": [f"--sandbox-profile={profile}"]}}

    job_id = gateway.create_job({
        "name": "sandwich",
        "job_clusters": [{"job_cluster_key": "A", "new_cluster": dict(SPEC)},
                         {"job_cluster_key": "B", "new_cluster": {**SPEC, "num_workers": 8}}],
        "tasks": [{"task_key": "a1", "job_cluster_key": "A", **py("etl_join_aggregate")},
                  {"task_key": "b", "job_cluster_key": "B", "depends_on": [{"task_key": "a1"}], **py("sort")},
                  {"task_key": "a2", "job_cluster_key": "A", "depends_on": [{"task_key": "b"}],
                   **py("etl_join_aggregate")}]})
    imported = workspaces.import_jobs(store, secrets, "sbx", [job_id], wiring=WIRING).projects
    ids = {p.project.cluster_key: int(p.project.id or 0) for p in imported}
    catalog = load_catalog()
    collector = Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws), clock=SystemClock(),
                          catalog=catalog, on_run_collected=lambda r: plan_project(store, r.project_id, catalog))
    for i in range(9):
        if i == 5:  # the owner shrinks B only (8 -> 1 worker): b runs longer, A waits longer for it
            b = next(e for e in gateway.get_job(job_id)["settings"]["job_clusters"] if e["job_cluster_key"] == "B")
            b["new_cluster"]["num_workers"] = 1
            gateway.update_job(job_id, {"job_clusters": [b]})
        gateway.run_now(job_id)
        assert emulator.wait_idle(120)
        collector.poll_once()

    runs = store.runs.history(ids["A"])
    assert len(runs) == 9 and all(r.outcome == "succeeded" for r in runs)
    before, after = runs[:5], runs[5:]

    def mean(values: list[float]) -> float:
        return sum(values) / len(values)

    # A's runtime still spans a1's start to a2's end, B's task and A's wait in it (measured: 811 s ->
    # 1489 s when B shrank), and its cost is the cluster's whole life: priced alike per second.
    assert mean([r.runtime_s for r in after]) > 1.5 * mean([r.runtime_s for r in before])
    assert all(r.wait_s is not None and 0 < r.wait_s < r.runtime_s - (r.setup_s or 0) for r in runs)
    per_s = [r.cost.total / r.runtime_s for r in runs if r.cost is not None]
    assert len(per_s) == 9 and max(per_s) < 1.1 * min(per_s)
    # What the runtime model learns of A (execution: without the setup and the wait) did not move.
    obs = [o for r in runs if (o := observation(r, [], applied_recommendation=False)) is not None]
    learned = [o.runtime_s for o in execution_view(obs, estimate(obs))]
    shift = math.log(mean(learned[5:]) / mean(learned[:5]))
    assert abs(shift) < math.log(1.3), learned
    # No change point: nothing about A changed (was a runtime_regression at the first run after B's edit).
    assert store.recommendations.change_points(ids["A"]) == []
    assert "runtime_regression" not in (store.recommendations.list(ids["A"])[-1].reason or "")

    # `run show` says how long A sat waiting, apart from its setup.
    last = after[-1]
    code, out, err = trimtab("run", "show", str(last.id))
    assert code == 0, err
    assert f"waited {format_duration(last.wait_s or 0)} for other clusters' tasks" in out, out
