"""Two server processes on one PostgreSQL database (a rolling deploy, two replicas): a project's
read-modify-write (apply, revert, the collector's row update) is locked across processes, so an
apply is never sent twice and no process overwrites what the other wrote.

The other server is a real second Python process (`_OTHER`) on the same database and emulator."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import threading
import time
from typing import Any

import pytest
from cryptography.fernet import Fernet

from sandbox.workspace.seed import LOG_CONF, SPARK_VERSION
from server.apply import apply_recommendation, project_lock
from server.clock import SystemClock
from server.collect import Collector
from server.databricks import DatabricksGateway
from server.domain import ClusterConfig, JobSchedule, Project, Recommendation
from server.errors import FailedPrecondition, Unavailable
from server.onboard import RECOMMENDATION_TAG
from server.services import workspaces
from server.services.secrets import SecretBox
from server.spec import find_cluster_spec
from server.store import Store
from tests.integration.conftest import WIRING

KEY = Fernet.generate_key()

# The other server: takes the project's lock (as apply or the collector does) or applies through
# the service, printing what happened as one JSON line per step. It reads commands on stdin.
_OTHER = r"""
import json, sys, dataclasses
from server.apply import project_lock
from server.errors import TrimtabError
from server.services import recommendations
from server.services.secrets import SecretBox
from server.store import open_store

url, key, project_id, mode = sys.argv[1], sys.argv[2].encode(), int(sys.argv[3]), sys.argv[4]
store = open_store(url, upgrade=False)
say = lambda **kw: print(json.dumps(kw), flush=True)
if mode == "apply":
    say(step="started")
    try:
        out = recommendations.apply_recommendation(store, SecretBox(key), str(project_id))
        say(step="done", applied=out.applied)
    except TrimtabError as err:
        say(step="done", code=err.code, message=str(err))
elif mode == "hold":
    with project_lock(project_id, store):
        project = store.projects.get(project_id)  # read under the lock, as every writer does
        say(step="locked")
        sys.stdin.readline()  # "go"
        store.projects.update(dataclasses.replace(project, pending_apply={"marker": "other server"}))
    say(step="released")
store.close()
"""


@pytest.fixture
def store(postgres_store: Store) -> Store:
    """PostgreSQL only (`postgres_store`)."""
    return postgres_store


@pytest.fixture
def secrets() -> SecretBox:
    return SecretBox(KEY)


@pytest.fixture
def project(store: Store, secrets: SecretBox, connected: Any, gateway: DatabricksGateway) -> Project:
    spec = {"spark_version": SPARK_VERSION, "node_type_id": "m5.xlarge", "num_workers": 4,
            "cluster_log_conf": LOG_CONF}
    job_id = gateway.create_job({
        "name": "two-servers", "job_clusters": [{"job_cluster_key": "main", "new_cluster": spec}],
        "tasks": [{"task_key": "main", "job_cluster_key": "main",
                   "spark_python_task": {"python_file": "dbfs:/jobs/etl.py"}}]})
    (imported,) = workspaces.import_jobs(store, secrets, "sbx", [job_id], wiring=WIRING).projects
    return imported.project


class Other:
    """The second server process."""

    def __init__(self, store: Store, project: Project, mode: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _OTHER, store.engine.url.render_as_string(hide_password=False),
             KEY.decode(), str(project.id), mode],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def next(self, timeout_s: float = 60) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(self.proc.stdout.readline()))  # type: ignore[union-attr]
        reader.start()
        reader.join(timeout_s)
        assert line and line[0], f"the other server said nothing in {timeout_s}s (exit {self.proc.poll()})"
        return dict(json.loads(line[0]))

    def send(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


def _recommend(store: Store, project: Project) -> Recommendation:
    return store.recommendations.add(Recommendation(
        project_id=int(project.id or 0), config=ClusterConfig(node_type_id="m5.2xlarge", num_workers=2),
        reason="test"))


def test_an_apply_on_another_server_waits_for_this_one_and_then_refuses_the_applied_recommendation(
        store: Store, gateway: DatabricksGateway, project: Project) -> None:
    rec = _recommend(store, project)
    project_id = int(project.id or 0)
    other: Other | None = None
    try:
        with project_lock(project_id, store):
            # This server's apply (auto-apply, say) is under way: it holds the project's lock.
            other = Other(store, project, "apply")
            assert other.next() == {"step": "started"}
            time.sleep(1.5)
            assert other.proc.poll() is None, "the other server's apply did not wait for the lock"
            result = apply_recommendation(store, gateway, project_id)  # re-entrant: already held here
            assert result.applied
            updated_at = gateway.get_job(project.job_id)["settings"]
        # Released: the other server reads the project and its recommendation afresh, under the lock.
        done = other.next()
        assert done["step"] == "done" and done.get("code") == "FAILED_PRECONDITION", done
        assert f"recommendation {rec.id} is already applied" in done["message"]
        assert other.proc.wait(30) == 0
    finally:
        if other is not None:
            other.close()
    # Databricks got one apply: the job is as this server left it, tagged with the recommendation.
    assert gateway.get_job(project.job_id)["settings"] == updated_at
    live = find_cluster_spec(updated_at, project.cluster_key)
    assert live is not None and live["custom_tags"][RECOMMENDATION_TAG] == str(rec.id)
    assert (live["node_type_id"], live["num_workers"]) == ("m5.2xlarge", 2)
    stored = store.projects.get(project_id)
    assert stored.pending_apply is not None and stored.pending_apply["recommendation_id"] == rec.id


def test_the_collector_does_not_overwrite_a_pending_apply_another_server_writes_meanwhile(
        store: Store, secrets: SecretBox, project: Project) -> None:
    # The stored schedule differs from the job's (it has none), so the collector's poll writes the row.
    project = store.projects.update(dataclasses.replace(project, schedule=JobSchedule("0 0 5 * * ?")))
    collector = Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws), clock=SystemClock())
    other = Other(store, project, "hold")
    try:
        assert other.next() == {"step": "locked"}  # it read the row and is about to write it
        errors: list[BaseException] = []

        def poll() -> None:
            try:
                collector.poll_once()
            except BaseException as err:
                errors.append(err)

        polling = threading.Thread(target=poll)
        polling.start()
        time.sleep(1.5)
        assert polling.is_alive(), "the collector did not wait for the other server's lock"
        other.send("go")
        assert other.next() == {"step": "released"}
        polling.join(60)
        assert not polling.is_alive() and not errors, errors
        assert other.proc.wait(30) == 0
    finally:
        other.close()
    stored = store.projects.get(int(project.id or 0))
    assert stored.pending_apply == {"marker": "other server"}  # the other server's write stands
    assert stored.schedule is None  # and so does the collector's, made after it on the fresh row


def test_a_lock_held_too_long_by_another_server_is_unavailable_naming_the_project(
        store: Store, gateway: DatabricksGateway, project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    _recommend(store, project)
    monkeypatch.setattr("server.apply_lock.PROJECT_LOCK_WAIT_S", 0.5)  # read where the lock is: server.apply_lock
    other = Other(store, project, "hold")
    try:
        assert other.next() == {"step": "locked"}
        started = time.monotonic()
        with pytest.raises(Unavailable, match=rf"project {project.id} is locked by another Trimtab server"):
            apply_recommendation(store, gateway, int(project.id or 0))
        assert time.monotonic() - started < 10
        other.send("go")
        assert other.next() == {"step": "released"}
    finally:
        other.close()
    # Nothing was applied; the lock is free again, and this server now reads what the other wrote
    # (its marker stands for an apply no run has confirmed yet, so the next apply waits).
    assert store.recommendations.pending(int(project.id or 0)) is not None
    with pytest.raises(FailedPrecondition, match="the last apply is not confirmed yet"):
        apply_recommendation(store, gateway, int(project.id or 0))


def _end_lock_session(store: Store, project_id: int) -> None:
    """The database ends the session holding the project's lock (pg_terminate_backend; an
    idle_session_timeout or a failover does the same): the lock is free for another server."""
    import sqlalchemy as sa

    from server.store.locks import PROJECT_NAMESPACE

    with store.engine.connect() as conn:
        ended = conn.execute(sa.text(
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2 "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND classid = CAST(CAST(:ns AS integer) AS oid) AND objid = CAST(CAST(:key AS integer) AS oid)"),
            {"ns": PROJECT_NAMESPACE, "key": project_id}).scalars().all()
        conn.commit()
    assert ended == [True]


@pytest.mark.parametrize("write", ["apply", "revert"])
def test_a_write_whose_project_lock_was_lost_meanwhile_sends_nothing_to_the_job(
        write: str, store: Store, gateway: DatabricksGateway, project: Project,
        caplog: pytest.LogCaptureFixture) -> None:
    # Review: the lock's session ended during the block (pg_terminate_backend): another server could take
    # the lock, and this one's jobs/update went out all the same.
    from server.apply import revert

    project_id = int(project.id or 0)
    _recommend(store, project)
    if write == "revert":
        apply_recommendation(store, gateway, project_id)
    before = gateway.get_job(project.job_id)["settings"]
    lost = (rf"^project {project_id}: its lock was lost during the block \(its database connection ended: .*\); "
            r"another server may be working on it: stopped before writing to the job, which was not done; retry$")
    with pytest.raises(Unavailable, match=lost), project_lock(project_id, store):  # as auto-apply holds it
        _end_lock_session(store, project_id)
        if write == "apply":
            apply_recommendation(store, gateway, project_id)
        else:
            revert(store, gateway, project_id)
    assert gateway.get_job(project.job_id)["settings"] == before  # nothing sent
    # Release said so too, as an ERROR.
    assert any(r.levelname == "ERROR" and f"project {project_id}: its lock was lost during the block" in r.getMessage()
               for r in caplog.records)
    # The next write, under a fresh lock, goes through: the write Trimtab announced and never sent is
    # settled by reading the job, which does not hold it.
    if write == "apply":
        assert apply_recommendation(store, gateway, project_id).applied
    else:
        assert revert(store, gateway, project_id).applied
    assert gateway.get_job(project.job_id)["settings"] != before
