"""A job's timeout that fires while cluster A's task runs, over real HTTP (emulator + collector, SQLite and
PostgreSQL): cluster B's own task has succeeded, its second task waits on A's and the timeout ends it
before it starts (TIMEDOUT, start_time 0). A's run is timed_out; B's is canceled over the time its own task
ran, not timed_out over the whole run (the timeout was A's trouble, not B's)."""

from __future__ import annotations

from typing import Any

from sandbox.workspace import RunningWorkspace
from server.clock import SystemClock
from server.collect import Collector
from server.costing.catalog import load_catalog
from server.databricks import DatabricksGateway
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store
from tests.integration.conftest import WIRING

SPEC = {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5d.xlarge", "num_workers": 1,
        "aws_attributes": {"availability": "ON_DEMAND", "first_on_demand": 1}}


def _py(profile: str) -> dict[str, Any]:
    return {"spark_python_task": {"python_file": "dbfs:/x.py", "parameters": [f"--sandbox-profile={profile}"]}}


def _tasks(gateway: DatabricksGateway, run_id: int) -> dict[str, dict[str, Any]]:
    run = gateway._do("GET", "/api/2.2/jobs/runs/get", query={"run_id": run_id})
    return {t["task_key"]: t for t in run["tasks"]} | {"": run}


def test_a_task_the_timeout_ended_before_it_ran_does_not_time_out_its_cluster(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        aws_workspace: str, trimtab: Any) -> None:
    job_id = gateway.create_job({
        "name": "a-slow-b-waits",
        "job_clusters": [{"job_cluster_key": "A", "new_cluster": dict(SPEC)},
                         {"job_cluster_key": "B", "new_cluster": {**SPEC, "num_workers": 8}}],
        "tasks": [{"task_key": "a_long", "job_cluster_key": "A", **_py("etl_join_aggregate")},
                  {"task_key": "b_first", "job_cluster_key": "B", **_py("sort")},
                  {"task_key": "b_after_a", "job_cluster_key": "B", "depends_on": [{"task_key": "a_long"}],
                   **_py("sort")}]})
    # One run without a timeout gives the timings; the timeout then falls after B's own task, before A's ends.
    free = gateway.run_now(job_id)
    assert emulator.wait_idle(120)
    timings = _tasks(gateway, free)
    b_done = timings["b_first"]["end_time"] - timings[""]["start_time"]
    a_done = timings["a_long"]["end_time"] - timings[""]["start_time"]
    assert b_done + 2_000 < a_done, timings
    imported = workspaces.import_jobs(store, secrets, "sbx", [job_id], wiring=WIRING).projects
    ids = {p.project.cluster_key: int(p.project.id or 0) for p in imported}
    gateway.update_job(job_id, {"timeout_seconds": (b_done + a_done) // 2000})

    run_id = gateway.run_now(job_id)
    assert emulator.wait_idle(120)
    collector = Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws), clock=SystemClock(),
                          catalog=load_catalog())
    collector.poll_once()
    tasks = _tasks(gateway, run_id)
    assert tasks[""]["state"]["result_state"] == "TIMEDOUT"
    assert tasks["b_first"]["state"]["result_state"] == "SUCCESS"
    assert tasks["b_after_a"]["state"]["result_state"] == "TIMEDOUT" and not tasks["b_after_a"]["start_time"]

    (a,) = [r for r in store.runs.history(ids["A"]) if r.databricks_run_id == run_id]
    (b,) = [r for r in store.runs.history(ids["B"]) if r.databricks_run_id == run_id]
    assert (a.outcome, a.anomalies) == ("timed_out", ("timeout",))
    # Was timed_out, labelled timeout, over the whole run: B avoided as too slow for A's slowness.
    assert b.outcome == "canceled" and "timeout" not in b.anomalies, b
    b_first = tasks["b_first"]
    assert b.runtime_s == (b_first["end_time"] - b_first["start_time"]) / 1000.0
    assert b.runtime_s < a.runtime_s
