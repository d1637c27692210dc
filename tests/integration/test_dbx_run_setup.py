"""A run's cluster setup time: read from the run's tasks (pure), kept when it fits the runtime,
and collected from the workspace emulator as the Jobs API reports it."""

from __future__ import annotations

import pytest

from sandbox.workspace import RunningWorkspace
from server.clock import SystemClock
from server.collect import Collector
from server.collect.build import setup_seconds
from server.collect.run_parse import ClusterRun, cluster_runs
from server.costing.catalog import load_catalog
from server.databricks import DatabricksGateway
from server.domain import Run, Workspace
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store
from tests.integration.conftest import WIRING

_OK = {"life_cycle_state": "TERMINATED", "result_state": "SUCCESS"}
# A multi-task run as runs/get reports it: the top-level durations are 0, each task has its own.
MULTI_TASK_RUN = {
    "run_id": 77, "job_id": 5, "start_time": 1_000, "end_time": 400_000,
    "setup_duration": 0, "execution_duration": 0, "cleanup_duration": 0,
    "state": {"life_cycle_state": "TERMINATED", "result_state": "SUCCESS"},
    "job_clusters": [{"job_cluster_key": "etl", "new_cluster": {"node_type_id": "m5.xlarge", "num_workers": 2}}],
    "tasks": [
        # Listed out of start order: the earliest-starting task is the one that waited for the cluster.
        {"task_key": "transform", "job_cluster_key": "etl", "start_time": 250_000, "end_time": 390_000,
         "setup_duration": 40, "execution_duration": 139_960, "cleanup_duration": 0,
         "cluster_instance": {"cluster_id": "c-1", "spark_context_id": "9"}, "state": _OK},
        {"task_key": "extract", "job_cluster_key": "etl", "start_time": 1_000, "end_time": 240_000,
         "setup_duration": 235_000, "execution_duration": 4_000, "cleanup_duration": 0,
         "cluster_instance": {"cluster_id": "c-1", "spark_context_id": "9"}, "state": _OK},
        # Its own cluster, from a run reported without the durations.
        {"task_key": "solo", "new_cluster": {"node_type_id": "r5.large", "num_workers": 1},
         "start_time": 2_000, "end_time": 300_000, "cluster_instance": {"cluster_id": "c-2"}, "state": _OK},
    ],
}


def test_setup_is_the_earliest_task_of_the_cluster_key_and_none_when_not_reported() -> None:
    etl, solo = cluster_runs(MULTI_TASK_RUN)
    assert (etl.cluster_key, etl.task_keys, etl.setup_ms) == ("etl", ("transform", "extract"), 235_000)
    assert (solo.cluster_key, solo.setup_ms) == ("task:solo", None)


def _piece(setup_ms: int | None, start_ms: int = 0, end_ms: int = 600_000) -> ClusterRun:
    return ClusterRun(run_id=1, job_id=1, cluster_key="main", cluster_id="c", spark_context_id="", spec={},
                      task_keys=("main",), start_ms=start_ms, end_ms=end_ms, outcome="succeeded",
                      state_message="", setup_ms=setup_ms)


@pytest.mark.parametrize(("setup_ms", "expected"), [
    (235_000, 235.0), (0, 0.0), (600_000, 600.0),  # all setup: a run cancelled while the cluster came up
    (None, None), (600_001, None), (-5, None),  # unknown, or not inside the runtime: not learned from
])
def test_setup_is_kept_only_inside_the_runtime(setup_ms: int | None, expected: float | None) -> None:
    assert setup_seconds(_piece(setup_ms)) == expected


def test_collected_runs_carry_the_setup_the_workspace_reported(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int]) -> None:
    # The single-cluster job and the two-cluster pipeline: each cluster has its own setup.
    imported = workspaces.import_jobs(store, secrets, "sbx", job_ids[:2], wiring=WIRING).projects
    keys = {int(p.project.id or 0): p.project.cluster_key for p in imported}
    collector = Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws), clock=SystemClock(),
                          catalog=load_catalog())
    run_ids = [gateway.run_now(job_id) for job_id in job_ids[:2]]
    assert emulator.wait_idle(60)
    runs: list[Run] = collector.poll_once()
    assert sorted(r.databricks_run_id for r in runs) == sorted(run_ids + [run_ids[1]])
    for run in runs:
        reported = {t["job_cluster_key"]: t for t in gateway.get_run(run.databricks_run_id)["tasks"]}
        task = reported[keys[run.project_id]]
        assert run.setup_s is not None and 0 < run.setup_s < run.runtime_s
        assert run.setup_s == task["setup_duration"] / 1000
        assert store.runs.get(int(run.id or 0)).setup_s == run.setup_s  # stored as collected
