"""A project whose planning or auto-apply fails says so: the failure is kept on the project
(`PlanProblem` in its state) until a later plan, or apply, succeeds. On SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import json
import logging
import sqlite3
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from sandbox.workspace import RunningWorkspace, start_workspace
from server.clock import FakeClock
from server.costing.catalog import load_catalog
from server.costing.errors import UnknownNodeType
from server.dashboard import pages, views
from server.databricks import DatabricksGateway
from server.domain import PROBLEM_KEY, PlanProblem, Project, ProjectSettings, Run, Workspace
from server.plan.planner import PROBLEM_MESSAGE_CHARS, Planner, problem_message
from server.services import workspaces
from server.services.projects import update_settings
from server.services.secrets import SecretBox
from server.spec import config_from_spec
from server.store import Store, open_store
from tests.integration.conftest import NOOP_INIT, WIRING

SPEC = {
    "spark_version": "15.4.x-scala2.12",
    "node_type_id": "m5.2xlarge",
    "num_workers": 12,
    "aws_attributes": {"availability": "ON_DEMAND", "first_on_demand": 1},
}
# A driver type the price catalog does not know: every candidate is priced with the driver, so the
# project cannot be planned. `project set` refuses it as a new setting (`update_settings` checks it
# against the catalog), so the tests save it through the store, below that check: how a catalog
# update that dropped the type leaves a project whose owner set it while the catalog still knew it.
UNKNOWN_DRIVER = "m5.mega"
UNKNOWN_DRIVER_MESSAGE = (f"UnknownNodeType: unknown node type {UNKNOWN_DRIVER!r} on aws: "
                          "the price catalog has no DBUs per hour or sizes for it")
START_MS = 1_796_444_220_000  # 2026-12-05 04:17 UTC
BUSY_TIMEOUT_MS = 300  # how long a locked database is waited for before it counts as unavailable


@pytest.fixture
def store(migrated_db_url: str) -> Iterator[Store]:
    """Both engines (the folder's `store` is SQLite only), with workspace "ws"."""
    s = open_store(migrated_db_url, busy_timeout_ms=BUSY_TIMEOUT_MS)
    s.workspaces.add(Workspace(name="ws", host="http://x", cloud="aws", plan="premium"), "enc")
    yield s
    s.close()


def _no_gateway(ws: Workspace) -> DatabricksGateway:
    raise AssertionError(f"auto-apply is off: nothing may call workspace {ws.name}")


def _project(store: Store, **settings: object) -> Project:
    """A project with `settings` saved as they are (through the store: no catalog check)."""
    return store.projects.add(Project(
        workspace="ws", job_id=1, cluster_key="main", current_spec=SPEC, original_spec=SPEC,
        settings=ProjectSettings(**{"sla_seconds": 3000.0, "auto_apply": False, **settings}),  # type: ignore[arg-type]
        state={"user_edit_paths": ["num_workers"]}))


def _run(store: Store, project: Project, n: int) -> Run:
    config = config_from_spec(project.current_spec)
    return store.runs.add(Run(project_id=int(project.id or 0), databricks_run_id=n, start_ms=n * 86_400_000,
                              end_ms=n * 86_400_000 + 1_500_000, runtime_s=1500.0, outcome="succeeded",
                              config=config))


def test_a_failed_plan_is_kept_on_the_project_and_the_next_good_plan_clears_it(store: Store) -> None:
    clock = FakeClock(START_MS)
    project = _project(store, driver_node_type_id=UNKNOWN_DRIVER)
    pid = int(project.id or 0)
    planner = Planner(store, load_catalog(), _no_gateway, clock=clock)
    first = _run(store, project, 1)

    planner(first)  # the collector's call: logged and kept, never raised

    got = store.projects.get(pid)
    assert got.problem == PlanProblem(step="plan", run_id=int(first.id or 0), at_ms=START_MS,
                                      message=UNKNOWN_DRIVER_MESSAGE)
    assert got.state["user_edit_paths"] == ["num_workers"]  # the other keys of the state are kept
    assert store.recommendations.pending(pid) is None and got.phase == "learning"
    # Called directly, the planner still raises the planning error (after keeping it).
    clock.advance(60)
    with pytest.raises(UnknownNodeType):
        planner.after_run(first)
    assert store.projects.get(pid).problem == PlanProblem("plan", int(first.id or 0), START_MS + 60_000,
                                                          UNKNOWN_DRIVER_MESSAGE)

    # The owner fixes the setting (checked against the catalog, as the server does); the next
    # run's plan succeeds and the problem is gone.
    update_settings(store, str(pid), {"driver_node_type_id": "m5.xlarge"}, load_catalog())
    clock.advance(3600)
    rec = planner.after_run(_run(store, project, 2))
    assert rec is not None and rec.id is not None
    got = store.projects.get(pid)
    assert got.problem is None and PROBLEM_KEY not in got.state
    assert got.state == {"user_edit_paths": ["num_workers"]}
    assert got.phase == "monitoring" and store.recommendations.pending(pid) == rec


def test_the_project_page_shows_the_problem_under_the_phase(store: Store) -> None:
    project = _project(store, driver_node_type_id=UNKNOWN_DRIVER)
    run = _run(store, project, 1)
    Planner(store, load_catalog(), _no_gateway, clock=FakeClock(START_MS))(run)

    html = pages.project_page(views.project_page(store, int(project.id or 0)))
    assert (f'<span class="bad" id="problem" data-step="plan">planning after run {run.id} failed '
            f"2026-12-05 04:17 UTC: UnknownNodeType: unknown node type &#x27;{UNKNOWN_DRIVER}&#x27; on aws") in html
    assert html.index("<dt>phase</dt>") < html.index("<dt>problem</dt>") < html.index("<dt>SLA</dt>")


@contextmanager
def _database_held(store: Store) -> Iterator[None]:
    """Another client holds the database (SQLite: the write lock; PostgreSQL: the project and
    recommendation tables), so this store's calls give up after its busy timeout: `Unavailable`."""
    if store.is_sqlite:
        conn = sqlite3.connect(str(store.engine.url.database), isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    engine = sa.create_engine(store.engine.url)
    try:
        with engine.connect() as conn, conn.begin():
            conn.execute(sa.text("LOCK TABLE projects, recommendations IN ACCESS EXCLUSIVE MODE"))
            yield
    finally:
        engine.dispose()


def test_a_store_that_is_down_is_logged_and_never_raised_into_the_collector(
        store: Store, caplog: pytest.LogCaptureFixture) -> None:
    project = _project(store)
    pid = int(project.id or 0)
    planner = Planner(store, load_catalog(), _no_gateway, clock=FakeClock(START_MS))
    run = _run(store, project, 1)

    with caplog.at_level(logging.WARNING, logger="server.plan.planner"), _database_held(store):
        planner(run)  # planning fails on the store, and so does recording it: neither is raised
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith(f"planning or auto-apply after run {run.id} of project {pid} failed") for m in messages)
    assert any(m.startswith(f"project {pid}: could not record the plan failure after run {run.id}: "
                            "database ") for m in messages), messages

    # The database back, the next plan goes through and nothing stale is left on the project.
    assert planner.after_run(run) is not None
    assert store.projects.get(pid).problem is None


def test_a_kept_message_is_one_line_of_bounded_length() -> None:
    err = UnknownNodeType("aws", "x" * 500)
    line = problem_message(err)
    assert line.startswith("UnknownNodeType: unknown node type 'xxx") and line.endswith("…")
    assert len(line) == PROBLEM_MESSAGE_CHARS
    assert problem_message(RuntimeError("first line\n  second\tline ")) == "RuntimeError: first line second line"
    assert problem_message(KeyError()) == "KeyError"


def test_state_that_is_not_a_problem_reads_as_none() -> None:
    project = Project(workspace="ws", job_id=1, cluster_key="main")
    for junk in (None, "x", [], {"step": "other", "run_id": 1}, {"step": "plan", "run_id": "not a number"}):
        assert dataclasses.replace(project, state={PROBLEM_KEY: junk}).problem is None
    kept = PlanProblem("apply", 7, START_MS, "WorkspaceAuthError: refused")
    assert dataclasses.replace(project, state={PROBLEM_KEY: kept.to_json()}).problem == kept


# ------------------------------------------------------------------ auto-apply against the emulator


@pytest.fixture
def _no_databricks_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # The SDK's Config reads DATABRICKS_* for anything not passed explicitly.
    import os

    for name in list(os.environ):
        if name.startswith("DATABRICKS_"):
            monkeypatch.delenv(name)


@pytest.fixture
def emulator(tmp_path: Path, _no_databricks_env: None) -> Iterator[RunningWorkspace]:
    running = start_workspace(tmp_path / "workspace", speed=20000)
    try:
        yield running
    finally:
        running.stop()


@dataclasses.dataclass
class _Imported:
    pid: int
    planner: Planner
    clock: FakeClock
    secrets: SecretBox
    spare_token: str


def _import_with_a_revoked_token(store: Store, emulator: RunningWorkspace) -> _Imported:
    """A job imported with auto-apply on, then its workspace's token revoked (a spare one kept)."""
    secrets = SecretBox(Fernet.generate_key())
    job_id = emulator.seed_jobs()[0]
    workspaces.add_workspace(store, secrets, "sbx", emulator.host, emulator.token, "aws")
    workspaces.gateway_for(store, secrets, "sbx").put_dbfs_file("/trimtab/test-init.sh", NOOP_INIT)
    (imported,) = workspaces.import_jobs(store, secrets, "sbx", [job_id], wiring=WIRING).projects
    pid = int(imported.project.id or 0)
    update_settings(store, str(pid), {"auto_apply": True})
    clock = FakeClock(START_MS)
    planner = Planner(store, load_catalog(), lambda ws: workspaces.gateway_for(store, secrets, ws), clock=clock)
    spare = emulator.add_token()
    emulator.revoke_token(emulator.token)
    return _Imported(pid, planner, clock, secrets, spare)


def test_a_failed_auto_apply_is_kept_until_an_apply_succeeds(store: Store, emulator: RunningWorkspace,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    """The workspace's token is revoked: auto-apply fails (not a precondition), the owner sees it,
    rotates the token, and the next run's apply goes through and clears it."""
    it = _import_with_a_revoked_token(store, emulator)
    first = _run(store, store.projects.get(it.pid), 1)
    rec = it.planner.after_run(first)  # planned; the apply is refused
    assert rec is not None and rec.state == "pending"
    got = store.projects.get(it.pid)
    assert got.problem is not None and got.pending_apply is None
    assert (got.problem.step, got.problem.run_id, got.problem.at_ms) == ("apply", first.id, START_MS)
    assert got.problem.message.startswith("WorkspaceAuthError: ") and "refused the token" in got.problem.message

    # The owner rotates the token; the next run's plan is applied and the problem cleared.
    workspaces.add_workspace(store, it.secrets, "sbx", emulator.host, it.spare_token, "aws", replace=True)
    it.clock.advance(86_400)
    applied = it.planner.after_run(_run(store, store.projects.get(it.pid), 2))
    got = store.projects.get(it.pid)
    assert applied is not None and applied.state == "applied"
    assert got.pending_apply is not None and got.pending_apply["recommendation_id"] == applied.id
    assert got.problem is None and PROBLEM_KEY not in got.state

    # An apply waiting for its run is a precondition, not a problem: nothing is kept.
    with caplog.at_level(logging.INFO, logger="server.plan.planner"):
        it.planner.after_run(_run(store, got, 3))
    assert any("not applied now" in r.getMessage() and "not confirmed yet" in r.getMessage()
               for r in caplog.records)
    assert store.projects.get(it.pid).problem is None


def test_an_apply_problem_follows_the_latest_run_and_goes_when_no_apply_is_needed(
        store: Store, emulator: RunningWorkspace) -> None:
    it = _import_with_a_revoked_token(store, emulator)
    it.planner.after_run(_run(store, store.projects.get(it.pid), 1))
    it.clock.advance(86_400)
    second = _run(store, store.projects.get(it.pid), 2)
    it.planner.after_run(second)  # still refused: the problem is the latest one
    problem = store.projects.get(it.pid).problem
    assert problem is not None and (problem.step, problem.run_id, problem.at_ms) == \
        ("apply", second.id, START_MS + 86_400_000)

    # Auto-apply turned off: the plan needs no apply, so nothing is failing any more.
    update_settings(store, str(it.pid), {"auto_apply": False})
    rec = it.planner.after_run(_run(store, store.projects.get(it.pid), 3))
    got = store.projects.get(it.pid)
    assert rec is not None and rec.phase == "monitoring" and got.problem is None and got.pending_apply is None


def test_a_manual_apply_that_goes_through_clears_a_kept_apply_problem(store: Store, emulator: RunningWorkspace) -> None:
    """The owner fixes the token and applies by hand (`trimtab recommendation apply`): the kept
    auto-apply failure goes at once, not only after the next run."""
    from server import apply

    it = _import_with_a_revoked_token(store, emulator)
    it.planner.after_run(_run(store, store.projects.get(it.pid), 1))
    assert store.projects.get(it.pid).problem is not None
    workspaces.add_workspace(store, it.secrets, "sbx", emulator.host, it.spare_token, "aws", replace=True)
    result = apply.apply_recommendation(store, workspaces.gateway_for(store, it.secrets, "sbx"), it.pid)
    got = store.projects.get(it.pid)
    assert result.applied and got.problem is None and PROBLEM_KEY not in got.state
    assert got.pending_apply is not None and got.pending_apply["recommendation_id"] == result.recommendation.id


def test_a_cluster_moved_onto_an_instance_pool_is_planned_on_the_pool_and_an_unknown_pool_says_why(
        store: Store, emulator: RunningWorkspace) -> None:
    """A cluster moved onto a pool later (a user edit) is planned on the pool's node type, the pool
    read from the workspace; moved onto a pool the workspace does not have, its plan fails and the
    owner is told why (the pool's node type is the cluster's, and it could not be read)."""
    secrets = SecretBox(Fernet.generate_key())
    workspaces.add_workspace(store, secrets, "sbx", emulator.host, emulator.token, "aws")
    # An admin's call Trimtab never makes: the pool is created over plain HTTP.
    request = urllib.request.Request(
        f"{emulator.host}/api/2.0/instance-pools/create", method="POST",
        data=json.dumps({"instance_pool_name": "warm", "node_type_id": "m5.xlarge"}).encode(),
        headers={"Authorization": f"Bearer {emulator.token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        pool_id = str(json.loads(answer.read())["instance_pool_id"])
    project = store.projects.add(Project(
        workspace="sbx", job_id=1, cluster_key="main", current_spec=SPEC, original_spec=SPEC,
        settings=ProjectSettings(sla_seconds=3000.0, auto_apply=False)))
    pid = int(project.id or 0)
    pooled = {k: v for k, v in SPEC.items() if k != "node_type_id"} | {"instance_pool_id": "0101-gone-pool"}
    store.projects.update(dataclasses.replace(store.projects.get(pid), current_spec=pooled))
    clock = FakeClock(START_MS)
    planner = Planner(store, load_catalog(), lambda ws: workspaces.gateway_for(store, secrets, ws), clock=clock)

    planner(_run(store, store.projects.get(pid), 1))

    got = store.projects.get(pid)
    assert got.problem is not None and got.problem.step == "plan"
    assert got.problem.message.startswith("DatabricksNotFound: ") and "0101-gone-pool" in got.problem.message
    assert store.recommendations.pending(pid) is None

    # The owner points the cluster at a pool that exists: planned on its node type, problem gone.
    store.projects.update(dataclasses.replace(store.projects.get(pid), current_spec=pooled | {
        "instance_pool_id": pool_id}))
    rec = planner.after_run(_run(store, store.projects.get(pid), 2))
    got = store.projects.get(pid)
    assert rec is not None and got.problem is None
    assert rec.config.node_type_id == "m5.xlarge" and rec.config.driver_node_type_id == "m5.xlarge"
