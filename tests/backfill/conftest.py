"""Fixtures for backfill: delivered Databricks cluster logs made by the sandbox simulator
(rotated, gzipped segments in the cluster-log layout), a store with the project, and the
ground truth counted straight from the files."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from sandbox.sim.eventlog_writer import DatabricksEventLogWriter
from sandbox.sim.run import SimulatedRun, simulate_run
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

