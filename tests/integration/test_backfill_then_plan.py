"""A project whose history came from a backfill is planned by a settings change, and the collector's
catch-up says where its runs came from (SQLite and PostgreSQL, the real databricks-sdk against the
workspace emulator, a real backfill from ``dbfs:/``).

operations.md says every settings change "plans again at once". Before, `Planner.replan` skipped a
project with no recommendation yet even when it had runs, which is every project just backfilled:
`trimtab project set --auto-apply on` planned nothing and `recommendation show` said "no
recommendation yet"; the collector planned at its next poll, logging that "the server stopped
between the two" (storing the run and planning after it), which no server had done."""

from __future__ import annotations

import logging

import pytest

from sandbox.workspace import RunningWorkspace
from server.backfill import backfill
from server.clock import SystemClock
from server.collect import Collector
from server.costing.catalog import load_catalog
from server.domain import Project, Run, Workspace
from server.plan.planner import Planner
from server.services import workspaces
from server.services.projects import update_settings
from server.services.secrets import SecretBox
from server.store import Store
from tests.integration.conftest import WIRING


def _backfilled(store: Store, secrets: SecretBox, emulator: RunningWorkspace, job_id: int) -> Project:
    """Three nights run before the import (their cluster logs on DBFS), then imported and backfilled."""
    gateway = workspaces.gateway_for(store, secrets, "sbx")
    for _ in range(3):
        gateway.run_now(job_id)
        assert emulator.wait_idle(60)
    (imported,) = workspaces.import_jobs(store, secrets, "sbx", [job_id], wiring=WIRING).projects
    project = imported.project
    report = backfill(store, project.name, "dbfs:/cluster-logs",
                      gateway_for=lambda name: workspaces.gateway_for(store, secrets, name), catalog=load_catalog())
    assert report.runs_created == 3
    assert store.runs.count(int(project.id or 0)) == 3 and store.recommendations.latest(int(project.id or 0)) is None
    return project


def test_a_settings_change_plans_a_backfilled_project_with_no_recommendation_yet(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, connected: Workspace,
        job_ids: list[int]) -> None:
    project = _backfilled(store, secrets, emulator, job_ids[0])
    pid = int(project.id or 0)
    planner = Planner(store, load_catalog(), lambda ws: workspaces.gateway_for(store, secrets, ws))

    # `trimtab project set --sla 15m --auto-apply on`: the server's servicer saves, then replans.
    update_settings(store, project.name, {"sla_seconds": 900, "auto_apply": True})
    rec = planner.replan(pid)
    assert rec is not None and store.recommendations.latest(pid) is not None
    assert rec.id == store.recommendations.latest(pid).id  # type: ignore[union-attr]
    assert store.projects.get(pid).problem is None

    # The collector has nothing left to catch up on: the settings change planned after those runs.
    calls: list[Run] = []
    Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws), clock=SystemClock(),
              on_run_collected=calls.append).poll_once()
    assert calls == []


def test_a_project_with_no_run_is_still_not_planned_by_a_settings_change(
        store: Store, secrets: SecretBox, daily: Project) -> None:
    planner = Planner(store, load_catalog(), lambda ws: workspaces.gateway_for(store, secrets, ws))
    update_settings(store, daily.name, {"sla_seconds": 900})
    assert planner.replan(int(daily.id or 0)) is None
    assert store.recommendations.latest(int(daily.id or 0)) is None


def test_the_collector_says_a_backfilled_run_was_not_planned_after(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, connected: Workspace,
        job_ids: list[int], caplog: pytest.LogCaptureFixture) -> None:
    project = _backfilled(store, secrets, emulator, job_ids[0])
    pid = int(project.id or 0)
    planner = Planner(store, load_catalog(), lambda ws: workspaces.gateway_for(store, secrets, ws))
    with caplog.at_level(logging.INFO, logger="server.collect.collector"):
        Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws), clock=SystemClock(),
                  on_run_collected=planner).poll_once()
    assert store.recommendations.latest(pid) is not None
    (line,) = [r.getMessage() for r in caplog.records if "not planned after" in r.getMessage()
               or "planning now" in r.getMessage()]
    newest = max(r.id or 0 for r in store.runs.list(pid))
    # Nothing stored tells a backfilled run from one a stopped server left: the line names both,
    # the backfill first, not a server stop alone.
    assert line == (f"project {project.name}: run {newest} was stored but not planned after (stored by a "
                    "backfill, which leaves planning to the server, or by a server that stopped before "
                    "planning after it); planning now")
