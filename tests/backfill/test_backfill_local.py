"""Local backfill: discovery, stored data against the files, runs, idempotency (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from agent.parse import COMPLETION_NOT_SEEN
from server.backfill import backfill
from server.backfill.discover import find_applications
from server.databricks import DatabricksGateway
from server.errors import FailedPrecondition, NotFound
from server.store import Store
from tests.backfill.conftest import JOB_ID, RUNS, Delivered, add_project, count_from_files

GatewayFor = Callable[[str], DatabricksGateway]

pytestmark = pytest.mark.postgres


def test_discovery_at_every_level_of_the_tree(delivered: Delivered) -> None:
    everything = find_applications(delivered.root)
    assert [a.path for a in everything] == sorted(delivered.app_dirs)
    assert {a.cluster_id for a in everything} == set(delivered.cluster_ids)
    assert {a.spark_context_id for a in everything} == {d.name for d in delivered.app_dirs}
    one = delivered.app_dirs[1]
    for level in (delivered.root / delivered.cluster_ids[1], one.parent.parent, one.parent, one):
        assert [a.path for a in find_applications(level)] == [one], level
    assert all(count_from_files(d).segments > 2 for d in delivered.app_dirs)  # rotated, gzipped parts
    assert any(sim.summary["spot_losses"] for sim in delivered.runs)  # so spot loss is really checked


def test_local_backfill_stores_what_the_logs_hold(delivered: Delivered, store: Store, runs_api: GatewayFor) -> None:
    project = add_project(store)
    report = backfill(store, str(project.id), str(delivered.root), engine="local", workers=2, gateway_for=runs_api)
    assert (report.applications_found, report.imported, report.already_present, report.runs_created) == (3, 3, 0, 3)
    assert report.events_duplicate == 0
    runs = {r.application_ids[0]: r for r in store.runs.history(int(project.id or 0))}
    for i, (app_dir, sim, (_, node_type, _)) in enumerate(zip(delivered.app_dirs, delivered.runs, RUNS,
                                                              strict=True)):
        app_id = app_dir.name  # Databricks logs: the Spark context id, as the agent names it
        counted = count_from_files(app_dir)
        app = store.applications.get(app_id)
        assert (app.spark_app_id, app.cluster_id, app.job_id) == (sim.spark_app_id, app_dir.parent.name
                                                                   .split("_")[0], str(JOB_ID))
        assert app.event_log_path == str(app_dir) and app.ended
        assert len(store.applications.stages(app_id)) == counted.stages
        assert len(store.applications.executors(app_id)) == counted.executors
        assert len(store.applications.jobs(app_id)) == counted.jobs
        run = runs[app_id]
        assert run.databricks_run_id == 900 + i  # spark.databricks.job.runId in the log
        # The run's own bounds from runs/get: the cluster's setup before the application included.
        assert (run.start_ms, run.end_ms) == (sim.start_time_ms, sim.end_time_ms) < (counted.start_ms, counted.end_ms)
        assert run.setup_s == pytest.approx((sim.running_ms - sim.start_time_ms) / 1000) and run.setup_s > 60
        assert run.input_bytes == sim.summary["storage_input_bytes"]
        assert run.outcome == "succeeded" and sim.result_state == "SUCCESS"
        assert run.config is not None and run.config.node_type_id == node_type  # the run's job_clusters spec
        assert run.config.num_workers == 2
        # As found: no recommendation, and the phase of a project nothing was planned for (auto-apply off).
        assert (run.recommendation_id, run.phase, run.message) == (None, "monitoring", "")
        assert ("spot_loss" in run.anomalies) == (sim.summary["spot_losses"] > 0)
        assert store.runs.for_application(app_id) == run


def test_backfill_twice_stores_once(delivered: Delivered, sqlite_store: Store, runs_api: GatewayFor) -> None:
    project = add_project(sqlite_store)
    first = backfill(sqlite_store, project.name, str(delivered.root), workers=1, gateway_for=runs_api)
    events = sqlite_store.applications.event_count()
    second = backfill(sqlite_store, project.name, str(delivered.root), workers=1, gateway_for=runs_api)
    assert (second.imported, second.already_present, second.runs_created) == (0, 3, 0)
    assert second.events_stored == 0 and second.events_duplicate == first.events_stored
    assert sqlite_store.applications.event_count() == events == first.events_stored
    assert sqlite_store.runs.count(int(project.id or 0)) == 3


def test_one_new_application_later(delivered: Delivered, sqlite_store: Store, runs_api: GatewayFor) -> None:
    project = add_project(sqlite_store)
    first = backfill(sqlite_store, project.name, str(delivered.app_dirs[0].parent), gateway_for=runs_api)
    assert (first.applications_found, first.runs_created) == (1, 1)
    again = backfill(sqlite_store, project.name, str(delivered.root), gateway_for=runs_api)
    assert (again.imported, again.already_present, again.runs_created) == (2, 1, 2)


def test_errors(delivered: Delivered, sqlite_store: Store, tmp_path: Path) -> None:
    project = add_project(sqlite_store)
    with pytest.raises(NotFound, match="no such file"):
        backfill(sqlite_store, project.name, str(tmp_path / "missing"))
    (tmp_path / "empty" / "x").mkdir(parents=True)
    with pytest.raises(FailedPrecondition, match="no event logs"):
        backfill(sqlite_store, project.name, str(tmp_path / "empty"))
    with pytest.raises(NotFound, match="project"):
        backfill(sqlite_store, "sbx/999/main", str(delivered.root))


def _copy_app(app_dir: Path, dest_root: Path, *, context_id: str) -> Path:
    """The application under a new Spark context id (a driver restart writes a new one)."""
    import shutil

    target = dest_root / app_dir.parent.parent.parent.name / "eventlog" / app_dir.parent.name / context_id
    shutil.copytree(app_dir, target)
    return target


def test_a_log_that_stops_early_at_a_line_end_is_a_failed_run(tagged: Delivered, sqlite_store: Store,
                                                               tmp_path: Path) -> None:
    delivered = tagged  # the project's tag in the logs: runs are made from the logs alone
    app_dir = _copy_app(delivered.app_dirs[0], tmp_path / "logs", context_id="777001")
    live = app_dir / "eventlog"
    lines = live.read_text().splitlines(keepends=True)
    cut = max(i for i, line in enumerate(lines) if '"SparkListenerStageCompleted"' in line)
    live.write_text("".join(lines[:cut]))  # the driver died in its last stage: no ApplicationEnd
    project = add_project(sqlite_store)
    report = backfill(sqlite_store, project.name, str(tmp_path / "logs"))
    # The log ends cleanly, so it is not a cut copy: the driver died, and that is a failed run.
    assert (report.imported, report.runs_created, report.incomplete_logs) == (1, 1, 1)
    damaged = report.damaged_logs[0]
    assert damaged.incomplete and not damaged.cut and damaged.run_made and damaged.path == str(app_dir)
    app = sqlite_store.applications.get("777001")
    assert not app.ended and app.start_time_ms > 0
    run = sqlite_store.runs.for_application("777001")
    assert run is not None and run.outcome == "failed" and "failure" in run.anomalies
    assert "the event log ends without the application's end" in run.message
    stages = sqlite_store.applications.stages("777001")
    assert run.end_ms == max(s.completion_time_ms for s in stages)  # the last thing the log saw
    # The stage it died in is stored too, from its TaskEnd lines, saying its completion was not seen.
    assert len(stages) == count_from_files(delivered.app_dirs[0]).stages
    assert [s.failure_reason for s in stages].count(COMPLETION_NOT_SEEN) == 1

    # The same log cut inside its last line is an incomplete copy: no run (another context id).
    other = _copy_app(delivered.app_dirs[1], tmp_path / "cut", context_id="777002")
    text = (other / "eventlog").read_text()
    (other / "eventlog").write_text(text[: len(text) - 40])  # inside the last line, which has no end
    report = backfill(sqlite_store, project.name, str(tmp_path / "cut"))
    assert (report.imported, report.runs_created) == (1, 0)
    assert report.damaged_logs[0].cut and sqlite_store.runs.for_application("777002") is None


def test_applications_of_one_databricks_run_make_one_run(delivered: Delivered, sqlite_store: Store,
                                                         tmp_path: Path, runs_api: GatewayFor) -> None:
    # Same log under two Spark context ids: both name job run 900, so they are one run.
    for context_id in ("880001", "880002"):
        _copy_app(delivered.app_dirs[0], tmp_path / "logs", context_id=context_id)
    project = add_project(sqlite_store)
    report = backfill(sqlite_store, project.name, str(tmp_path / "logs"), gateway_for=runs_api)
    assert (report.imported, report.runs_created) == (2, 1)
    (run,) = sqlite_store.runs.history(int(project.id or 0))
    assert run.databricks_run_id == 900 and run.application_ids == ("880001", "880002")


def test_logs_of_another_job_make_no_runs(delivered: Delivered, sqlite_store: Store, runs_api: GatewayFor) -> None:
    from dataclasses import replace

    other = sqlite_store.projects.add(replace(add_project(sqlite_store), id=None, job_id=JOB_ID + 1))
    report = backfill(sqlite_store, other.name, str(delivered.root), gateway_for=runs_api)
    assert (report.imported, report.runs_created, report.skipped_other_job) == (3, 0, 3)
    assert sqlite_store.runs.count(int(other.id or 0)) == 0
