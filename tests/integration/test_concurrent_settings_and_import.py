"""Two writers at once on one project or workspace (two servers on one database, or two calls of one
server): neither loses the other's change, and an import racing another import of the same job does
not take Trimtab's own wiring for a user's edit.

Every test runs on SQLite and on PostgreSQL (the integration `store` fixture). "Another server" is a
second `Store` on the same database: on PostgreSQL its project lock is the advisory lock other
servers see; on SQLite (one process serves it) the in-process lock.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest

from server.apply import project_lock
from server.clock import Clock
from server.databricks import DatabricksGateway, GatewayConfig
from server.domain import ImportResult, Project, ProjectSettings, Workspace
from server.onboard import PROJECT_TAG
from server.services import job_import, workspaces
from server.services import projects as project_service
from server.services.secrets import SecretBox
from server.spec import find_cluster_spec, spec_drift
from server.store import Store, open_store
from tests.integration.conftest import WIRING

# Each stress loop's rounds: enough that the unlocked read-modify-write lost a change in most runs.
ROUNDS = 25


@pytest.fixture
def other(store: Store) -> Iterator[Store]:
    """A second server's store on the same database."""
    opened = open_store(store.engine.url.render_as_string(hide_password=False), upgrade=False)
    try:
        yield opened
    finally:
        opened.close()


# ------------------------------------------------------------------ import racing an import


class _Interleaved(DatabricksGateway):
    """The real gateway on the emulator. Its first call of ``method`` runs ``meanwhile`` (another
    importer's whole import) right after the real call: this importer then goes on with what it read
    before the other one onboarded the job. It counts its jobs/update calls."""

    def __init__(self, config: GatewayConfig, clock: Clock, method: str, meanwhile: Callable[[], None]) -> None:
        super().__init__(config, clock=clock)
        self._method, self._meanwhile = method, meanwhile
        self.updates = 0
        self.job_reads = 0

    def _after(self, method: str) -> None:
        if method == self._method and self._meanwhile is not None:
            run, self._meanwhile = self._meanwhile, None
            run()

    def get_job(self, job_id: int) -> dict[str, Any]:
        job = super().get_job(job_id)
        self.job_reads += 1
        self._after("get_job")
        return job

    def latest_run_id(self, job_id: int) -> int | None:
        newest = super().latest_run_id(job_id)
        self._after("latest_run_id")
        return newest

    def update_job(self, job_id: int, new_settings: dict[str, Any]) -> None:
        self.updates += 1
        super().update_job(job_id, new_settings)


def _import_while_another_imports(monkeypatch: pytest.MonkeyPatch, store: Store, other: Store,
                                  secrets: SecretBox, job_id: int, method: str) -> tuple[ImportResult, ImportResult, _Interleaved]:
    """This server imports ``job_id``; right after its first ``method`` call the other server
    imports the same job, whole. (this import's result, the other's, this import's gateway)"""
    theirs: list[ImportResult] = []
    mine: list[_Interleaved] = []
    real = workspaces._integration.gateway_factory

    def meanwhile() -> None:
        theirs.append(workspaces.import_jobs(other, secrets, "sbx", [job_id], wiring=WIRING))

    def factory(config: GatewayConfig, clock: Clock) -> DatabricksGateway:
        if mine:  # the other server's gateway: the plain real one
            return real(config, clock)
        mine.append(_Interleaved(config, clock, method, meanwhile))
        return mine[0]

    monkeypatch.setattr(workspaces._integration, "gateway_factory", factory)
    # Two servers' imports of one job no longer meet on PostgreSQL: each holds the job's import lock from
    # reading it to recording its projects (tests/integration/test_dbx_auto_import_two_servers.py), and the
    # other server's import here would wait for this one. What is tested here is what still stands behind
    # that lock (and is all there is on SQLite, where the lock is a no-op): the project lock, the job read
    # again under it, the unique key. So the import lock is left out, as on SQLite.
    monkeypatch.setattr(job_import, "job_import_lock", lambda *args: contextlib.nullcontext())
    result = workspaces.import_jobs(store, secrets, "sbx", [job_id], wiring=WIRING)
    assert theirs, f"the other import never ran (no {method} call)"
    return result, theirs[0], mine[0]


def _assert_onboarded_once(store: Store, gateway: DatabricksGateway, project: Project,
                           mine: _Interleaved) -> None:
    fresh = store.projects.get(int(project.id or 0))
    # Trimtab's own wiring is no user edit: nothing recorded that would hold auto-apply.
    assert "user_edit_paths" not in fresh.state, fresh.state.get("user_edit_paths")
    assert "user_edit_after_run_id" not in fresh.state
    live = find_cluster_spec(gateway.get_job(fresh.job_id)["settings"], fresh.cluster_key)
    assert live is not None and live["custom_tags"][PROJECT_TAG] == str(fresh.id)
    assert spec_drift(live, fresh.current_spec) == []
    # The other server onboarded the job: this one sent no second jobs/update from its stale read.
    assert mine.updates == 0
    # The record detach reads names Trimtab's script (added by the import that onboarded the job).
    assert fresh.state["onboarded"]["init_scripts"] == [dict(WIRING.init_script)]
    assert fresh.original_spec.get("custom_tags", {}).get(PROJECT_TAG) is None


def test_an_import_reading_the_job_before_another_server_onboarded_it(
        monkeypatch: pytest.MonkeyPatch, store: Store, other: Store, secrets: SecretBox, connected: Workspace,
        gateway: DatabricksGateway, job_ids: list[int]) -> None:
    """The reviewer's two-servers auto-import: this import read the job, then the other server created
    the project and onboarded the job; this one finds the project and must judge the job as it is now."""
    result, theirs, mine = _import_while_another_imports(monkeypatch, store, other, secrets, job_ids[0], "get_job")
    (created,) = theirs.projects
    (found,) = result.projects
    assert created.created and not found.created
    assert found.project.id == created.project.id
    _assert_onboarded_once(store, gateway, found.project, mine)
    assert found.diff == ""  # nothing left to change: the other server wired it


def test_an_import_creating_the_project_another_server_just_created(
        monkeypatch: pytest.MonkeyPatch, store: Store, other: Store, secrets: SecretBox, connected: Workspace,
        gateway: DatabricksGateway, job_ids: list[int]) -> None:
    """Both imports found no project; the other server created and onboarded it first: this one goes
    on with that project (the key is unique) instead of failing with "already exists"."""
    result, theirs, mine = _import_while_another_imports(monkeypatch, store, other, secrets, job_ids[0],
                                                         "latest_run_id")
    (created,) = theirs.projects
    (found,) = result.projects
    assert created.created and not found.created
    assert found.project.id == created.project.id
    assert len(store.projects.list("sbx")) == 1
    _assert_onboarded_once(store, gateway, found.project, mine)


def test_a_user_edit_found_by_an_import_is_still_a_user_edit(
        store: Store, secrets: SecretBox, connected: Workspace, gateway: DatabricksGateway,
        job_ids: list[int]) -> None:
    """Leaving Trimtab's wiring out of the comparison leaves a user's own edit in it: a resize and a
    Spark setting made outside Trimtab are still found, and Trimtab's wiring is not among them."""
    (first,) = workspaces.import_jobs(store, secrets, "sbx", [job_ids[0]], wiring=WIRING).projects
    project = first.project
    settings = gateway.get_job(project.job_id)["settings"]
    live = find_cluster_spec(settings, project.cluster_key)
    assert live is not None
    edited = {**live, "num_workers": int(live.get("num_workers") or 1) + 3,
              "spark_conf": {**(live.get("spark_conf") or {}), "spark.sql.shuffle.partitions": "77"}}
    from server.spec import cluster_entry_update

    gateway.update_job(project.job_id, cluster_entry_update(settings, project.cluster_key, edited))
    workspaces.import_jobs(store, secrets, "sbx", [project.job_id], wiring=WIRING)
    paths = store.projects.get(int(project.id or 0)).state["user_edit_paths"]
    assert paths == ["num_workers", "spark_conf.spark.sql.shuffle.partitions"]


# ------------------------------------------------------------------ settings changed at once


@pytest.fixture
def project(store: Store) -> Project:
    return store.projects.add(Project(workspace="ws", job_id=7, cluster_key="main", job_name="nightly",
                                      original_spec={"num_workers": 2}, current_spec={"num_workers": 2}))


def _run_together(*calls: Callable[[], Any]) -> None:
    """Run ``calls`` on threads released together; re-raise the first failure."""
    barrier = threading.Barrier(len(calls))
    errors: list[BaseException] = []

    def one(call: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            call()
        except BaseException as err:  # re-raised in the test's thread
            errors.append(err)

    threads = [threading.Thread(target=one, args=(c,)) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    if errors:
        raise errors[0]


def test_a_settings_change_waiting_for_the_lock_keeps_the_one_made_meanwhile(
        store: Store, other: Store, project: Project) -> None:
    """Deterministic: an apply holds the project's lock; a --max-workers change (which waits for the
    lock) and an --sla change arrive. Both must be kept: the one that waited re-reads the settings."""
    ref = str(project.id)
    errors: list[BaseException] = []

    def call(target: Store, changes: dict[str, Any]) -> Callable[[], None]:
        def run() -> None:
            try:
                project_service.update_settings(target, ref, changes)
            except BaseException as err:
                errors.append(err)
        return run

    with project_lock(int(project.id or 0), store):
        bounds = threading.Thread(target=call(other, {"max_workers": 12}))
        bounds.start()
        time.sleep(0.5)  # it has read the settings and waits for the lock
        sla = threading.Thread(target=call(store, {"sla_seconds": 5400.0}))
        sla.start()
        sla.join(0.5)
    bounds.join(60)
    sla.join(60)
    assert not errors, errors
    settings = store.projects.get(int(project.id or 0)).settings
    assert (settings.sla_seconds, settings.max_workers) == (5400.0, 12)


@pytest.mark.parametrize("servers", ["one server", "two servers"])
def test_settings_changed_at_once_keep_both_changes(store: Store, other: Store, project: Project,
                                                    servers: str) -> None:
    """The reviewer's `project set --sla` beside `project set --max-workers`, many times over."""
    second = store if servers == "one server" else other
    ref = str(project.id)
    lost = []
    for i in range(ROUNDS):
        sla, high = 3600.0 + i * 60, 10 + i
        _run_together(partial(project_service.update_settings, store, ref, {"sla_seconds": sla}),
                      partial(project_service.update_settings, second, ref, {"max_workers": high}),
                      partial(project_service.update_settings, second, ref, {"learning_budget": i % 5}))
        s = store.projects.get(int(project.id or 0)).settings
        if (s.sla_seconds, s.max_workers, s.learning_budget) != (sla, high, i % 5):
            lost.append((i, s.sla_seconds, s.max_workers, s.learning_budget))
    assert lost == []


def test_a_refused_settings_change_changes_nothing(store: Store, project: Project) -> None:
    """Checked under the lock against the settings read there: a bad value still saves nothing."""
    project_service.update_settings(store, str(project.id), {"max_workers": 8})
    from server.errors import InvalidArgument

    with pytest.raises(InvalidArgument, match="min_workers"):
        project_service.update_settings(store, str(project.id), {"min_workers": 9})
    assert store.projects.get(int(project.id or 0)).settings == dataclasses.replace(ProjectSettings(), max_workers=8)


# ------------------------------------------------------------------ workspace plan and region at once


@pytest.fixture
def priced(store: Store) -> Workspace:
    return store.workspaces.add(Workspace(name="w1", host="https://w1.example.com", cloud="aws",
                                          plan="premium", region="us-east-1"), "token-encrypted")


def test_a_plan_change_from_an_earlier_read_keeps_the_region_set_since(store: Store, other: Store,
                                                                       priced: Workspace) -> None:
    """Deterministic: the plan change read the workspace before the region change was written."""
    stale = store.workspaces.get("w1")
    workspaces.update_workspace(other, "w1", region="us-west-2")
    workspaces._set_pricing(store, stale, plan="enterprise", region=None)
    back = store.workspaces.get("w1")
    assert (back.plan, back.region) == ("enterprise", "us-west-2")


@pytest.mark.parametrize("servers", ["one server", "two servers"])
def test_plan_and_region_set_at_once_keep_both(store: Store, other: Store, priced: Workspace,
                                               servers: str) -> None:
    second = store if servers == "one server" else other
    lost = []
    for i in range(ROUNDS):
        plan, region = ("premium", "enterprise")[i % 2], ("us-east-1", "us-west-2")[(i // 2) % 2]
        _run_together(partial(workspaces.update_workspace, store, "w1", plan=plan),
                      partial(workspaces.update_workspace, second, "w1", region=region))
        back = store.workspaces.get("w1")
        if (back.plan, back.region) != (plan, region):
            lost.append((i, back.plan, back.region))
    assert lost == []


def test_a_region_checked_for_one_cloud_is_not_written_on_another(store: Store, priced: Workspace) -> None:
    """The region was checked against the cloud read first; a workspace moved to another cloud since
    (`workspace add --replace --cloud`, while it had no project) is not given it."""
    from server.errors import FailedPrecondition

    stale = store.workspaces.get("w1")
    store.workspaces.set_pricing("w1", cloud="azure", plan="premium", region="eastus")
    with pytest.raises(FailedPrecondition, match="moved to azure"):
        workspaces._set_pricing(store, stale, plan=None, region="us-west-2")
    back = store.workspaces.get("w1")
    assert (back.cloud, back.region) == ("azure", "eastus")
