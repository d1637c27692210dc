"""Fixtures for backfill: delivered Databricks cluster logs made by the sandbox simulator
(rotated, gzipped segments in the cluster-log layout), a store with the project, and the
ground truth counted straight from the files."""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sandbox.sim.eventlog_writer import DatabricksEventLogWriter
from sandbox.sim.run import SimulatedRun, simulate_run
from sandbox.workspace import RunningWorkspace, start_workspace
from server.clock import SystemClock
from server.databricks import DatabricksGateway, GatewayConfig
from server.domain import Project
from server.store import Store

JOB_ID = 7
SPEC = {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5.xlarge", "num_workers": 2,
        "aws_attributes": {"availability": "SPOT_WITH_FALLBACK", "first_on_demand": 1}}
# (profile, worker type, spot loss probability): different sizes, one run losing spot nodes.
RUNS = (("etl_join_aggregate", "m5.xlarge", 0.0), ("sort", "r5.xlarge", 0.0), ("iterative_ml", "m5.2xlarge", 1.0))
START_MS = 1_790_000_000_000
DAY_MS = 86_400_000


@dataclass(frozen=True)
class Delivered:
    root: Path  # the cluster_log_conf destination
    runs: tuple[SimulatedRun, ...]
    cluster_ids: tuple[str, ...]
    app_dirs: tuple[Path, ...]


def write_delivered(root: Path) -> Delivered:
    runs, cluster_ids, app_dirs = [], [], []
    for i, (profile, node_type, spot_loss) in enumerate(RUNS):
        cluster_id = f"0101-12000{i}-back{i}"
        context_id = f"55500{i}"
        spec = {**SPEC, "node_type_id": node_type}
        run = simulate_run(spec, profile, seed=3, day=i, cluster_id=cluster_id, spark_context_id=context_id,
                           start_time_ms=START_MS + i * DAY_MS, job_id=JOB_ID, run_id=900 + i,
                           app_name=f"backfill-{profile}", spot_loss_prob=spot_loss)
        driver_dir = root / cluster_id / "eventlog" / f"{cluster_id}_{run.driver_ip.replace('.', '_')}"
        writer = DatabricksEventLogWriter(driver_dir, context_id, rotate_every_ms=120_000)
        for t_ms, line in run.eventlog:  # appended as simulated time passes: rotation and gzip happen
            writer.append(t_ms, [line])
        writer.close()
        runs.append(run)
        cluster_ids.append(cluster_id)
        app_dirs.append(driver_dir / context_id)
    return Delivered(root, tuple(runs), tuple(cluster_ids), tuple(app_dirs))


@pytest.fixture(scope="session")
def delivered(tmp_path_factory: pytest.TempPathFactory) -> Delivered:
    return write_delivered(tmp_path_factory.mktemp("cluster-logs"))


@dataclass(frozen=True)
class Counted:
    stages: int  # distinct (stage, attempt) completed
    executors: int
    jobs: int
    failed_jobs: int
    segments: int
    start_ms: int  # ApplicationStart
    end_ms: int  # ApplicationEnd


def count_from_files(app_dir: Path) -> Counted:
    """What the files hold, read with nothing of Trimtab's (gzip + json only)."""
    stages: set[tuple[int, int]] = set()
    executors: set[str] = set()
    jobs: dict[int, bool] = {}
    bounds = {"SparkListenerApplicationStart": 0, "SparkListenerApplicationEnd": 0}
    parts = [p for p in app_dir.iterdir() if p.name.startswith("eventlog")]
    for part in parts:
        raw = part.read_bytes()
        text = gzip.decompress(raw) if part.suffix == ".gz" else raw
        for line in text.decode().splitlines():
            ev = json.loads(line)
            if ev["Event"] == "SparkListenerStageCompleted":
                stages.add((ev["Stage Info"]["Stage ID"], ev["Stage Info"].get("Stage Attempt ID", 0)))
            elif ev["Event"] == "SparkListenerExecutorAdded":
                executors.add(str(ev["Executor ID"]))
            elif ev["Event"] == "SparkListenerJobEnd":
                jobs[ev["Job ID"]] = ev["Job Result"]["Result"] == "JobSucceeded"
            elif ev["Event"] in bounds:
                bounds[ev["Event"]] = ev["Timestamp"]
    return Counted(len(stages), len(executors), len(jobs), sum(1 for ok in jobs.values() if not ok), len(parts),
                   bounds["SparkListenerApplicationStart"], bounds["SparkListenerApplicationEnd"])


def add_project(store: Store) -> Project:
    return store.projects.add(Project(workspace="sbx", job_id=JOB_ID, cluster_key="main",
                                      original_spec=dict(SPEC), current_spec=dict(SPEC)))


@pytest.fixture
def store(any_store: Store) -> Store:
    """Each test runs on SQLite and on PostgreSQL (the store's two engines)."""
    return any_store



# ------------------------------------------------------------------ the workspace's runs (runs/get)

def run_record(sim: SimulatedRun, *, run_id: int, cluster_id: str, context_id: str, node_type: str,
               key: str = "main", result: str | None = None, message: str = "") -> dict[str, Any]:
    """The run as Databricks' runs/get returns it: one task on job cluster ``key`` whose cluster instance
    is the application's cluster, setup included in its bounds (the simulator's own run times)."""
    result = result or sim.result_state
    state = {"life_cycle_state": "TERMINATED", "result_state": result, "state_message": message}
    spec = {**SPEC, "node_type_id": node_type}
    start, end = sim.start_time_ms, sim.end_time_ms
    return {"run_id": run_id, "job_id": JOB_ID, "start_time": start, "end_time": end, "state": state,
            "job_clusters": [{"job_cluster_key": key, "new_cluster": spec}],
            "tasks": [{"run_id": run_id * 10, "task_key": "t", "job_cluster_key": key, "state": state,
                       "start_time": start, "end_time": end, "setup_duration": sim.running_ms - start,
                       "cluster_instance": {"cluster_id": cluster_id, "spark_context_id": context_id}}]}


def put_runs(running: RunningWorkspace, *records: dict[str, Any]) -> None:
    """Runs the workspace holds from now on (by run id, replacing any of the same id)."""
    store = running.workspace.store
    with store.lock:
        for record in records:
            store.data["runs"][str(record["run_id"])] = record
        store.save()


def delivered_records(delivered: Delivered, **overrides: Any) -> list[dict[str, Any]]:
    return [run_record(sim, run_id=900 + i, cluster_id=delivered.cluster_ids[i],
                       context_id=delivered.app_dirs[i].name, node_type=RUNS[i][1], **overrides)
            for i, sim in enumerate(delivered.runs)]


@pytest.fixture(scope="session")
def jobs_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningWorkspace]:
    """A workspace emulator answering runs/get (the real SDK talks to it through the gateway)."""
    saved = {n: os.environ.pop(n) for n in [n for n in os.environ if n.startswith("DATABRICKS_")]}
    running = start_workspace(tmp_path_factory.mktemp("workspace"), speed=20000)
    try:
        yield running
    finally:
        running.stop()
        os.environ.update(saved)


@pytest.fixture
def runs_api(jobs_api: RunningWorkspace, delivered: Delivered) -> Callable[[str], DatabricksGateway]:
    """``gateway_for`` on the emulator, holding runs 900-902 of the delivered logs (as run, succeeded)."""
    with jobs_api.workspace.store.lock:
        jobs_api.workspace.store.data["runs"].clear()
    put_runs(jobs_api, *delivered_records(delivered))
    gateway = DatabricksGateway(GatewayConfig(jobs_api.host, jobs_api.token, retry_timeout_s=20),
                                clock=SystemClock())
    return lambda _workspace: gateway


def with_tags(app_dir: Path, tags: dict[str, str]) -> None:
    """Write ``clusterAllTags`` into the log's Spark properties, as Databricks' own logs carry them."""
    value = json.dumps([{"key": k, "value": v} for k, v in tags.items()])
    for part in app_dir.iterdir():
        if not part.name.startswith("eventlog"):
            continue
        raw = part.read_bytes()
        packed = part.suffix == ".gz"
        lines = (gzip.decompress(raw) if packed else raw).decode().splitlines(keepends=True)
        out = []
        for line in lines:
            if '"SparkListenerEnvironmentUpdate"' in line:
                ev = json.loads(line)
                ev["Spark Properties"]["spark.databricks.clusterUsageTags.clusterAllTags"] = value
                line = json.dumps(ev) + "\n"
            out.append(line)
        text = "".join(out).encode()
        part.write_bytes(gzip.compress(text) if packed else text)


# The project id add_project gets in a fresh store, as an onboarded cluster's tag carries it.
PROJECT_ID = "1"


@pytest.fixture(scope="session")
def tagged(delivered: Delivered, tmp_path_factory: pytest.TempPathFactory) -> Delivered:
    """The delivered logs of a cluster Trimtab onboarded: its ``trimtab:project-id`` tag in each log's
    ``clusterAllTags`` places the applications on the project's cluster without the workspace's runs."""
    import shutil

    root = tmp_path_factory.mktemp("tagged") / "cluster-logs"
    shutil.copytree(delivered.root, root)
    app_dirs = tuple(root / d.relative_to(delivered.root) for d in delivered.app_dirs)
    for app_dir in app_dirs:
        with_tags(app_dir, {"Vendor": "Databricks", "ClusterName": "job-7-run-1", "team": "data",
                            "trimtab:project-id": PROJECT_ID})
    return Delivered(root, delivered.runs, delivered.cluster_ids, app_dirs)
