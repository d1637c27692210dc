"""Runs backfilled from their event log alone (older than Databricks keeps runs: no runs/get) have a
runtime that is the Spark application's span, without the cluster's setup. The tuner must take no
setup out of it: with recent runs (from runs/get) giving a mean setup of minutes, the old runs were
learned as a few seconds of execution, a false "runtime regression (10x slower)" change point and
optimistic predictions (review rev15i). Real logs from the simulator, the workspace emulator, SQLite
and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from models.setup import estimate, execution_view
from sandbox.sim.eventlog_writer import DatabricksEventLogWriter
from sandbox.sim.run import simulate_run
from sandbox.workspace import RunningWorkspace
from server.backfill import backfill
from server.clock import SystemClock
from server.costing.catalog import load_catalog
from server.databricks import DatabricksGateway, GatewayConfig
from server.domain import Workspace
from server.plan.observe import observation
from server.plan.planner import plan_project
from server.services.secrets import SecretBox
from server.store import Store
from tests.backfill.conftest import (
    DAY_MS,
    JOB_ID,
    SPEC,
    START_MS,
    add_project,
    put_runs,
    run_record,
    with_tags,
)

pytestmark = pytest.mark.postgres

OLD, RECENT = 6, 4  # the old runs are gone from runs/get; all on the cluster as found


def _write(root: Path, project_id: int) -> tuple[list[float], list[dict]]:
    """Delivered logs of OLD + RECENT daily runs; each run's true execution (application span, s) and
    the runs/get records of all of them."""
    executions, records = [], []
    for i in range(OLD + RECENT):
        cluster_id, ctx = f"0101-{i:06d}-lo{i}", f"88{i:05d}"
        sim = simulate_run(dict(SPEC), "etl_join_aggregate", seed=3, day=i, cluster_id=cluster_id,
                           spark_context_id=ctx, start_time_ms=START_MS + i * DAY_MS, job_id=JOB_ID,
                           run_id=2000 + i, app_name="job", spot_loss_prob=0.0)
        app_dir = root / cluster_id / "eventlog" / f"{cluster_id}_{sim.driver_ip.replace('.', '_')}"
        writer = DatabricksEventLogWriter(app_dir, ctx, rotate_every_ms=120_000)
        for t, line in sim.eventlog:
            writer.append(t, [line])
        writer.close()
        for logs in app_dir.iterdir():  # the writer's folder per Spark context
            with_tags(logs, {"Vendor": "Databricks", "trimtab:project-id": str(project_id)})
        records.append(run_record(sim, run_id=2000 + i, cluster_id=cluster_id, context_id=ctx,
                                  node_type=SPEC["node_type_id"]))
        executions.append((sim.end_time_ms - sim.running_ms) / 1000.0)
    return executions, records


def test_log_only_runs_are_learned_as_their_execution(store: Store, tmp_path: Path,
                                                      jobs_api: RunningWorkspace) -> None:
    store.workspaces.add(Workspace(name="sbx", host="https://x", cloud="aws"),
                         SecretBox(Fernet.generate_key()).encrypt("t"), "")
    project = add_project(store)
    executions, records = _write(tmp_path / "logs", int(project.id or 0))
    with jobs_api.workspace.store.lock:
        jobs_api.workspace.store.data["runs"].clear()
    put_runs(jobs_api, *records[OLD:])  # only the recent runs are still in the workspace
    gateway = DatabricksGateway(GatewayConfig(jobs_api.host, jobs_api.token, retry_timeout_s=20),
                                clock=SystemClock())
    report = backfill(store, str(project.id), str(tmp_path / "logs"), gateway_for=lambda _w: gateway,
                      catalog=load_catalog())
    assert report.runs_setup_unknown == OLD

    runs = store.runs.history(int(project.id or 0))
    assert [r.execution_only for r in runs] == [True] * OLD + [False] * RECENT
    assert all(r.setup_s is None for r in runs[:OLD]) and all(r.setup_s for r in runs[OLD:])
    assert "runtime spans the Spark application only" in runs[0].message  # shown where runs are

    seen = [o for r in runs if (o := observation(r, [], applied_recommendation=False)) is not None]
    setup = estimate(seen)
    assert setup.mean_s > 120  # the recent runs' setup: minutes
    learned = execution_view(seen, setup)
    for o, truth in zip(learned, executions, strict=True):
        assert o.runtime_s == pytest.approx(truth, rel=0.15)  # was 10-40 s for ~280 s on the old runs

    rec = plan_project(store, int(project.id or 0), load_catalog())
    assert rec.change_kind is None, rec.reason  # was a runtime regression at the first recent run
    assert "regression" not in rec.reason
