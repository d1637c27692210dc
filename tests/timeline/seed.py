"""A store holding one project with the `story` runs and one Spark application (dashboard and CLI tests)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest

from server.cli.main import main
from server.config import ServerConfig
from server.domain import (
    AgentInfo,
    Application,
    ClusterConfig,
    CostBreakdown,
    DriverPeaks,
    Executor,
    IngestBatch,
    IngestEvent,
    Project,
    ProjectSettings,
    Recommendation,
    Stage,
)
from server.serve import RunningServer, start_server
from server.store import Store, open_store
from tests.timeline.runs import story

APP_ID = "app-20250101-0001"
SPEC = {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5.xlarge", "num_workers": 8,
        "aws_attributes": {"availability": "SPOT_WITH_FALLBACK"}}
NEW_SPEC = {**SPEC, "node_type_id": "m5.2xlarge", "num_workers": 3}
STAGES = (("read input", 10_000, 40_000), ("join", 40_000, 95_000), ("write", 95_000, 120_000))


def seed(store: Store, sla_seconds: float | None = 2000,
         setups: Mapping[int, float] | None = None) -> tuple[Project, list[int]]:
    """The project, and the store ids of its runs (oldest first); `setups` gives the cluster setup
    (seconds) of some runs by their `story` id, the others have none."""
    project = store.projects.add(Project(
        workspace="ws", job_id=42, cluster_key="main", job_name="nightly etl", phase="monitoring",
        settings=ProjectSettings(sla_seconds=sla_seconds, auto_apply=False),
        original_spec=SPEC, current_spec=SPEC,
        # The story's runs 8 and 9 are on a cluster the owner edited; then the owner applied
        # recommendation 3 again by hand (run 9, Databricks run 1009, the job's newest then): the job
        # runs Trimtab's configuration now, so savings compare it (not "user_edit").
        pending_apply={"recommendation_id": 3, "applied_after_run_id": 1009, "confirmed": False}))
    assert project.id is not None
    ids = []
    for run in story():
        cost = run.cost
        if cost is not None:
            cost = CostBreakdown(dbu_cost=cost.total * 0.4, compute_cost=cost.total * 0.5,
                                 storage_cost=cost.total * 0.1, total=cost.total, dbus=cost.total * 2)
        stored = store.runs.add(dataclasses.replace(
            run, id=None, project_id=project.id, cost=cost, config=_ran(run.recommendation_id),
            application_ids=(APP_ID,) if run.id == 9 else (), setup_s=(setups or {}).get(int(run.id or 0))))
        ids.append(int(stored.id or 0))
    store.recommendations.add(Recommendation(
        project_id=project.id, config=ClusterConfig(node_type_id="m5.2xlarge", num_workers=3, spec=NEW_SPEC),
        predicted_runtime_s=1250, runtime_interval_s=(1100, 1400), predicted_cost=4.2, cost_interval=(3.9, 4.6),
        p_meet_sla=0.97, reason="fewer, larger nodes: the join is shuffle-bound", phase="monitoring"))
    _ingest_application(store)
    return project, ids


def _ran(rec: int | None) -> ClusterConfig:
    """The cluster a story run ran: the one as found, or its recommendation's own (each a different one:
    savings count the runs of the configuration applied now, whichever recommendation they ran under)."""
    if rec is None:
        return ClusterConfig(node_type_id="m5.xlarge", num_workers=8, availability="SPOT_WITH_FALLBACK", spec=SPEC)
    spec = {**SPEC, "num_workers": 8 - rec}
    return ClusterConfig(node_type_id="m5.xlarge", num_workers=8 - rec, availability="SPOT_WITH_FALLBACK", spec=spec)


def _ingest_application(store: Store) -> None:
    events = [IngestEvent(APP_ID, "start", "application_start",
                          Application(application_id=APP_ID, app_name="nightly etl", start_time_ms=0))]
    for i, (name, start, end) in enumerate(STAGES):
        events.append(IngestEvent(APP_ID, f"stage-{i}", "stage", Stage(
            application_id=APP_ID, stage_id=i, name=name, num_tasks=100 * (i + 1), submission_time_ms=start,
            completion_time_ms=end, tasks_succeeded=100 * (i + 1),
            metrics={"input_bytes": 5_000_000_000 if i == 0 else 0, "shuffle_bytes_written": 10**9 * i})))
    for i in range(2):
        events.append(IngestEvent(APP_ID, f"executor-{i}", "executor_added",
                                  Executor(application_id=APP_ID, executor_id=str(i + 1), total_cores=4)))
    # The driver's heartbeat peaks (3 GiB of heap, 12 s of GC, 0.5 GiB of Python).
    events.append(IngestEvent(APP_ID, "driver/x", "driver_peaks", DriverPeaks(APP_ID, {
        "JVMHeapMemory": 3 * 2**30, "TotalGCTime": 12_000, "ProcessTreePythonRSSMemory": 2**29})))
    store.ingest.write([IngestBatch("b1", AgentInfo("agent-1"), tuple(events))])


@contextmanager
def serving(tmp_path: Path, setups: Mapping[int, float] | None = None) -> Iterator[tuple[RunningServer, str, Store]]:
    """A real gRPC server on loopback over a seeded SQLite store, and an admin token for the CLI."""
    store = open_store(f"sqlite:///{tmp_path / 'trimtab.db'}")
    seed(store, setups=setups)
    _, token = store.tokens.create("cli", "admin")
    running = start_server(ServerConfig(listen="127.0.0.1:0", state_dir=tmp_path), store)
    try:
        yield running, token, store
    finally:
        running.stop(grace=0)
        store.close()


def cli(capsys: pytest.CaptureFixture[str], running: RunningServer, token: str, *args: str) -> tuple[int, str]:
    """Run `trimtab` against ``running``: exit code and everything it printed."""
    code = main(["--server", running.address, "--token", token, *args])
    out = capsys.readouterr()
    return code, out.out + out.err
