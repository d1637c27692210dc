"""`trimtab db prune` and `trimtab project remove`: on both engines through the CLI, and what
`run show`, the timeline and savings say after a prune, through a real server."""

from __future__ import annotations

import dataclasses
import json

import pytest

from server.clock import FakeClock
from server.domain import Project
from server.store import Store, open_store
from tests.cli.conftest import Trimtab
from tests.inprocess_cli import run_cli as _run
from tests.store.retention_history import DETAIL_PER_RUN, store_daily_runs


def _history(db_url: str, runs: int, **flags: bool) -> int:
    """A project of ``runs`` daily runs long ago (2023: older than any cutoff the tests give); its id."""
    store = open_store(db_url, clock=FakeClock())
    try:
        project = store.projects.add(Project(workspace="ws", job_id=7, cluster_key="main", **flags))
        store_daily_runs(store, FakeClock(), project, runs)
        return int(project.id or 0)
    finally:
        store.close()


def test_db_prune_dry_run_then_prune(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    project_id = _history(db_url, 53)  # all old: the newest 50 are kept, 3 pruned
    code, out, err = _run(capsys, "--json", "db", "prune", "--older-than", "30d", "--dry-run", "--db", db_url)
    assert code == 0, err
    dry = json.loads(out)
    assert (dry["dry_run"], dry["runs"], dry["applications"], dry["newest_kept_per_project"]) == (True, 3, 3, 50)
    assert {t: dry["rows"][t] for t in DETAIL_PER_RUN} == {t: 3 * n for t, n in DETAIL_PER_RUN.items()}
    assert dry["rows"]["agents"] == 53 and dry["rows"]["ingest_batches"] == 53

    code, out, err = _run(capsys, "db", "prune", "--older-than", "30d", "--db", db_url)
    assert code == 0, err
    assert "deleted the per-executor detail of 3 runs (3 Spark applications)" in out
    assert "newest 50 runs excepted" in out and f"stage_executor_peaks  {3 * 4:>10,} rows" in out
    assert ("VACUUM" in out) == db_url.startswith("sqlite")
    store = open_store(db_url)
    try:
        assert len(store.applications.executors("app-0")) == 0 and len(store.applications.executors("app-3")) == 2
        assert len(store.applications.stages("app-0")) == 2 and store.runs.count(project_id) == 53
    finally:
        store.close()
    code, out, _ = _run(capsys, "--json", "db", "prune", "--older-than", "30d", "--db", db_url)
    assert code == 0 and json.loads(out)["runs"] == 0 and not any(json.loads(out)["rows"].values())
    code, _, err = _run(capsys, "db", "prune", "--older-than", "soon", "--db", db_url)
    assert code == 2 and "--older-than" in err


def test_project_remove_refuses_an_attached_project_and_purges_a_detached_one_on_yes(
        db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    project_id = _history(db_url, 3)
    code, _, err = _run(capsys, "project", "remove", str(project_id), "--purge", "--yes", "--db", db_url)
    assert code == 1 and "is attached" in err and "trimtab project detach" in err
    store = open_store(db_url)
    try:
        store.projects.update(dataclasses.replace(store.projects.get(project_id), detached=True))
    finally:
        store.close()
    # With history and no --purge: refused, saying what --purge does.
    code, _, err = _run(capsys, "project", "remove", "ws/7/main", "--yes", "--db", db_url)
    assert code == 1 and "3 runs" in err and "--purge" in err
    # No --yes: what would go is said, nothing goes.
    code, out, err = _run(capsys, "project", "remove", "ws/7/main", "--purge", "--db", db_url)
    assert code == 2 and "would delete project" in out and "3 runs" in out and "--yes" in err
    code, out, err = _run(capsys, "--json", "project", "remove", "ws/7/main", "--purge", "--yes", "--db", db_url)
    assert code == 0, err
    rows = json.loads(out)["deleted_rows"]
    assert (rows["runs"], rows["applications"], rows["projects"], rows["run_costs"]) == (3, 3, 1, 3)
    store = open_store(db_url)
    try:
        assert store.projects.list() == [] and store.applications.event_count() == 0
    finally:
        store.close()
    code, _, err = _run(capsys, "project", "remove", "ws/7/main", "--purge", "--yes", "--db", db_url)
    assert code == 1 and "not found" in err


def test_run_show_timeline_and_savings_after_a_prune(trimtab: Trimtab, cli_store: Store) -> None:
    project = cli_store.projects.add(Project(workspace="ws", job_id=7, cluster_key="main"))
    runs = store_daily_runs(cli_store, FakeClock(), project, 52)
    code, savings_before, err = trimtab("--json", "savings")
    assert code == 0, err
    _, timeline_before, _ = trimtab("--json", "timeline", str(project.id))

    report = cli_store.retention.prune_detail(cli_store.clock.now_ms())
    assert report.runs == 2
    code, out, err = trimtab("run", "show", str(runs[0].id))
    assert code == 0, err
    assert "executor detail pruned" in out and "its stages and summary are" in out and "agent data" not in out
    assert "stage0" in out and "EXECUTOR" not in out
    code, out, _ = trimtab("run", "show", str(runs[-1].id))
    assert code == 0 and "pruned" not in out and "EXECUTOR" in out
    code, out, _ = trimtab("--json", "run", "show", str(runs[0].id))
    assert json.loads(out)["detail_pruned_at_ms"]
    # The timeline and savings read the runs' summaries only: the same as before.
    code, out, err = trimtab("--json", "timeline", str(project.id))
    assert code == 0 and out == timeline_before, err
    code, out, _ = trimtab("--json", "savings")
    assert code == 0 and out == savings_before
