"""Backfill review fixes: a past run is the run it was (its own tags, phase, setup, outcome), only the
project's own cluster's applications make runs, and a run already collected gets its applications' data
(SQLite and PostgreSQL, real logs and the workspace emulator)."""

from __future__ import annotations

import dataclasses
import gzip
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from sandbox.workspace import RunningWorkspace
from server.backfill import backfill
from server.backfill.runs import SETUP_UNKNOWN
from server.costing.catalog import load_catalog
from server.databricks import DatabricksGateway
from server.domain import CostBreakdown, Recommendation, Run
from server.onboard import PROJECT_TAG, RECOMMENDATION_TAG
from server.services import workspaces
from server.services.secrets import SecretBox
from server.spec import config_from_spec
from server.store import Store
from tests.backfill.conftest import (
    SPEC,
    Delivered,
    add_project,
    delivered_records,
    put_runs,
    with_tags,
)

pytestmark = pytest.mark.postgres

GatewayFor = Callable[[str], DatabricksGateway]


def _copy(delivered: Delivered, root: Path, prefix: str = "") -> Delivered:
    """A copy of the logs; ``prefix`` before each Spark context id makes them other applications."""
    shutil.copytree(delivered.root, root)
    app_dirs = []
    for d in delivered.app_dirs:
        copied = root / d.relative_to(delivered.root)
        app_dirs.append(copied.rename(copied.with_name(prefix + d.name)) if prefix else copied)
    return Delivered(root, delivered.runs, delivered.cluster_ids, tuple(app_dirs))


def _edit(app_dir: Path, edit: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """Rewrite each event of the application's log (every segment, gzip kept)."""
    for part in app_dir.iterdir():
        if not part.name.startswith("eventlog"):
            continue
        packed = part.suffix == ".gz"
        raw = gzip.decompress(part.read_bytes()) if packed else part.read_bytes()
        text = "".join(json.dumps(edit(json.loads(line))) + "\n" for line in raw.decode().splitlines())
        part.write_bytes(gzip.compress(text.encode()) if packed else text.encode())


# ------------------------------------------------------------------ 1: the run's own tags and phase


def test_a_past_run_is_not_credited_to_the_recommendation_applied_today(tagged: Delivered, store: Store,
                                                                        tmp_path: Path) -> None:
    project = add_project(store)
    rec = store.recommendations.add(Recommendation(project_id=int(project.id or 0), config=config_from_spec(SPEC),
                                                   phase="learning"))
    # Today: the recommendation applied (its tag on the cluster) and the project optimizing.
    today = {**SPEC, "custom_tags": {PROJECT_TAG: str(project.id), RECOMMENDATION_TAG: str(rec.id), "team": "x"}}
    project = store.projects.update(dataclasses.replace(project, current_spec=today, phase="optimizing"))
    logs = _copy(tagged, tmp_path / "logs")  # the log's tags: project id, no recommendation (as found)
    # The third run ran with the recommendation: its cluster's tags in the log name it.
    with_tags(logs.app_dirs[2], {"Vendor": "Databricks", PROJECT_TAG: str(project.id),
                                 RECOMMENDATION_TAG: str(rec.id)})
    report = backfill(store, project.name, str(logs.root))
    assert report.runs_created == 3
    found = [store.runs.for_application(d.name) for d in logs.app_dirs]
    for run in found[:2]:
        assert run is not None and run.recommendation_id is None and run.phase == "monitoring"  # as found
        assert run.config is not None and run.config.spec["custom_tags"] == {"team": "data", PROJECT_TAG: "1"}
    third = found[2]
    assert third is not None and (third.recommendation_id, third.phase) == (rec.id, "learning")  # the rec's own


# ------------------------------------------------------------------ 2: setup time


def test_runtime_and_cost_include_setup_from_runs_get_else_the_run_is_unpriced(
        delivered: Delivered, tagged: Delivered, store: Store, runs_api: GatewayFor, jobs_api: RunningWorkspace,
        monkeypatch: pytest.MonkeyPatch) -> None:
    key = Fernet.generate_key().decode()
    workspaces.add_workspace(store, SecretBox(key), "sbx", jobs_api.host, jobs_api.token, "aws")
    project = add_project(store)
    catalog = load_catalog()
    # From the log alone the cluster's setup is unknown: no cost over a span that leaves it out.
    alone = backfill(store, project.name, str(tagged.app_dirs[0]), catalog=catalog)
    (run,) = [store.runs.get(i) for i in alone.run_ids]
    assert alone.runs_setup_unknown == 1 and run.cost is None and run.setup_s is None
    assert SETUP_UNKNOWN in run.message and "unpriced" in run.message

    # With the workspace's run: its bounds (setup included) and a cost over them.
    for sim, app_dir in zip(delivered.runs[1:], delivered.app_dirs[1:], strict=True):
        report = backfill(store, project.name, str(app_dir), catalog=catalog, gateway_for=runs_api)
        assert report.runs_created == 1 and report.runs_setup_unknown == 0
        run = store.runs.for_application(app_dir.name)
        assert run is not None
        assert run.runtime_s == pytest.approx((sim.end_time_ms - sim.start_time_ms) / 1000)
        assert run.setup_s == pytest.approx((sim.running_ms - sim.start_time_ms) / 1000)
        assert run.cost is not None and run.cost.total > 0 and run.message == ""


# ------------------------------------------------------------------ 3: the project's own cluster


def _without_job(event: dict[str, Any]) -> dict[str, Any]:
    for field in ("Spark Properties", "Properties"):
        if isinstance(event.get(field), dict):
            for name in ("spark.databricks.job.id", "spark.databricks.job.runId"):
                event[field].pop(name, None)
    return event


def test_only_applications_of_the_projects_cluster_make_its_runs(delivered: Delivered, tagged: Delivered,
                                                                 store: Store, runs_api: GatewayFor,
                                                                 jobs_api: RunningWorkspace, tmp_path: Path) -> None:
    main = add_project(store)
    etl = store.projects.add(dataclasses.replace(main, id=None, cluster_key="etl"))
    # Run 901 ran its task on the job's other job cluster, "etl".
    put_runs(jobs_api, delivered_records(delivered, key="etl")[1])
    report = backfill(store, main.name, str(delivered.root), gateway_for=runs_api)
    assert report.runs_created == 2 and report.skipped_other_cluster == (delivered.app_dirs[1].name,)
    assert store.runs.for_application(delivered.app_dirs[1].name) is None
    report = backfill(store, etl.name, str(delivered.root), gateway_for=runs_api)
    assert report.runs_created == 1
    run = store.runs.for_application(delivered.app_dirs[1].name)
    assert run is not None and run.project_id == etl.id

    # An all-purpose cluster's application names no job: not a run of any job's project.
    logs = _copy(tagged, tmp_path / "nojob", prefix="8")
    _edit(logs.app_dirs[0], _without_job)
    report = backfill(store, main.name, str(logs.app_dirs[0]))
    assert report.runs_created == 0 and report.skipped_no_job == (logs.app_dirs[0].name,)

    # Without the workspace's run and without the project's tag, the cluster key is unknown; a tag
    # naming another project places it there.
    other = _copy(delivered, tmp_path / "untagged", prefix="9")  # new context ids: not tied yet
    with_tags(other.app_dirs[2], {PROJECT_TAG: str(etl.id)})
    shutil.rmtree(other.app_dirs[1])
    fresh = store.projects.add(dataclasses.replace(main, id=None, cluster_key="fresh"))
    report = backfill(store, fresh.name, str(other.root))
    assert report.runs_created == 0
    assert report.skipped_unknown_cluster == (other.app_dirs[0].name,)
    assert report.skipped_other_cluster == (other.app_dirs[2].name,)


# ------------------------------------------------------------------ 5: a run collected before


def test_applications_tied_to_a_collected_run_give_it_their_input(delivered: Delivered, store: Store,
                                                                  runs_api: GatewayFor) -> None:
    project = add_project(store)
    sim = delivered.runs[0]
    collected = store.runs.add(Run(
        project_id=int(project.id or 0), databricks_run_id=900, cluster_id=delivered.cluster_ids[0],
        start_ms=sim.start_time_ms, end_ms=sim.end_time_ms, runtime_s=(sim.end_time_ms - sim.start_time_ms) / 1000,
        config=config_from_spec(SPEC), cost=CostBreakdown(total=2.0, dbu_cost=1.0, compute_cost=1.0)))
    report = backfill(store, project.name, str(delivered.app_dirs[0]), gateway_for=runs_api)
    assert (report.runs_created, report.tied_to_existing_runs) == (0, 1)
    run = store.runs.get(int(collected.id or 0))
    assert run.application_ids == (delivered.app_dirs[0].name,)
    assert run.input_bytes == sim.summary["storage_input_bytes"] > 0
    assert run.cost is not None and run.cost.total == 2.0
    assert run.cost.cost_per_input_gb == pytest.approx(2.0 / (run.input_bytes / 1e9), rel=0.1)


# ------------------------------------------------------------------ 6: the outcome


def _fail_job(why: str, job: int, stage: int) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Spark job ``job`` ends failed, its stage ``stage`` failed with ``why``."""

    def edit(event: dict[str, Any]) -> dict[str, Any]:
        if event["Event"] == "SparkListenerStageCompleted" and event["Stage Info"]["Stage ID"] == stage:
            event["Stage Info"]["Failure Reason"] = why
        elif event["Event"] == "SparkListenerJobEnd" and event["Job ID"] == job:
            event["Job Result"] = {"Result": "JobFailed", "Exception": {"Message": why}}
        return event

    return edit


def _last_job(app_dir: Path) -> tuple[int, int]:
    job = stage = -1
    for part in app_dir.iterdir():
        if part.name.startswith("eventlog"):
            raw = gzip.decompress(part.read_bytes()) if part.suffix == ".gz" else part.read_bytes()
            for line in raw.decode().splitlines():
                ev = json.loads(line)
                if ev["Event"] == "SparkListenerJobStart" and ev["Job ID"] > job:
                    job, stage = ev["Job ID"], max(ev["Stage IDs"])
    return job, stage


def test_the_outcome_is_the_runs_else_a_cancelled_job_group_is_no_failure(
        delivered: Delivered, tagged: Delivered, store: Store, runs_api: GatewayFor, jobs_api: RunningWorkspace,
        tmp_path: Path) -> None:
    project = add_project(store)
    logs = _copy(tagged, tmp_path / "logs", prefix="7")
    for app_dir, why in zip(logs.app_dirs[:2], ("Job 9 cancelled part of cancelled job group abc",
                                                  "Job aborted due to stage failure: OOM"), strict=True):
        _edit(app_dir, _fail_job(why, *_last_job(app_dir)))
    shutil.rmtree(logs.app_dirs[2])
    report = backfill(store, project.name, str(logs.root))
    assert report.runs_created == 2
    cancelled, failed = [store.runs.for_application(d.name) for d in logs.app_dirs[:2]]
    assert cancelled is not None and cancelled.outcome == "succeeded"  # a cancelled cell, not a failure
    assert failed is not None and failed.outcome == "failed" and "a Spark job failed" in failed.message

    # With the workspace's run, its state decides: a notebook that raised after its jobs succeeded.
    other = store.projects.add(dataclasses.replace(project, id=None, cluster_key="other"))
    records = delivered_records(delivered, key="other")
    records[2] = {**records[2], "state": {"life_cycle_state": "TERMINATED", "result_state": "FAILED",
                                          "state_message": "ValueError: bad row"}}
    records[2]["tasks"][0]["state"] = records[2]["state"]
    put_runs(jobs_api, *records)
    backfill(store, other.name, str(delivered.app_dirs[2]), gateway_for=runs_api)
    run = store.runs.for_application(delivered.app_dirs[2].name)
    assert run is not None and run.project_id == other.id
    assert run.outcome == "failed" and run.message.startswith("ValueError: bad row")
