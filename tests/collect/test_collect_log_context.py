"""A collector poll's JSON log lines carry the workspace, job, project and run they are about
(`server.log_context`), so `jq 'select(.workspace=="prod")'` finds a workspace's lines; before, these
were only in the message text, and not even there on a library's lines (urllib3's request lines).

Two workspaces (two emulators, real databricks-sdk over HTTP) polled in one pass by the collector on
its own thread, as the server runs it, with the server's logging set up for JSON and the planner
called after each run; real store (SQLite, then PostgreSQL)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from sandbox.workspace import RunningWorkspace, start_workspace
from server.clock import SystemClock
from server.collect import Collector
from server.collect.running import RunningCollector
from server.costing.catalog import load_catalog
from server.databricks import DatabricksGateway, GatewayConfig
from server.log_context import current
from server.plan.planner import Planner
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store
from tests.collect.conftest import run_and_wait
from tests.integration.conftest import NOOP_INIT
from tests.json_logs import server_logging

# urllib3's line for each request: http://127.0.0.1:PORT "GET /api/2.1/jobs/get?job_id=7 HTTP/1.1" 200 123
REQUEST = re.compile(r'https?://[^:]+:(\d+) "(\w+) (\S+) HTTP')
JOB_OF_URL = re.compile(r"[?&]job_id=(\d+)")


@pytest.fixture
def second_emulator(tmp_path: Path, emulator: RunningWorkspace) -> Iterator[RunningWorkspace]:
    """Another workspace emulator beside ``emulator`` (the fixture clears DATABRICKS_* and sets the wiring)."""
    with start_workspace(tmp_path / "workspace-2", speed=20000) as running:
        DatabricksGateway(GatewayConfig(running.host, running.token, retry_timeout_s=20),
                          clock=SystemClock()).put_dbfs_file("/trimtab/test-init.sh", NOOP_INIT)
        yield running


def _port(emulator: RunningWorkspace) -> str:
    return emulator.host.rsplit(":", 1)[1].strip("/")


def _poll_on_the_collectors_thread(store: Store, secrets: SecretBox) -> list[dict[str, Any]]:
    """One poll of every workspace on the collector's own thread (as `start_collector` runs it), planning
    after each run, with the server's JSON logging: the lines written."""
    def gateway_for(ws: Any) -> DatabricksGateway:
        return workspaces.gateway_for(store, secrets, ws)

    planner = Planner(store, load_catalog(), gateway_for)
    collector = Collector(store, gateway_for, clock=SystemClock(), on_run_collected=planner)
    with server_logging("json") as captured:
        running = RunningCollector(collector).start()
        try:
            assert running.wait_for_poll(1, 180), "the collector did not finish a poll"
        finally:
            assert running.stop(60)
    return captured.records()


def test_a_polls_lines_carry_their_workspace_and_job_and_no_other(
        any_store: Store, emulator: RunningWorkspace, second_emulator: RunningWorkspace) -> None:
    store = any_store
    secrets = SecretBox(Fernet.generate_key())
    jobs: dict[str, int] = {}
    # Another job id in each workspace, so a line with the other's job id is told apart.
    for n, (name, running) in enumerate((("prod", emulator), ("dev", second_emulator))):
        job_id = running.seed_jobs()[n]
        workspaces.add_workspace(store, secrets, name, running.host, running.token, "aws")
        workspaces.import_jobs(store, secrets, name, [job_id])
        run_and_wait(running, job_id)
        jobs[name] = job_id
    records = _poll_on_the_collectors_thread(store, secrets)

    workspace_of_port = {_port(emulator): "prod", _port(second_emulator): "dev"}
    requests = [(r, REQUEST.search(r["message"])) for r in records if r["logger"] == "urllib3.connectionpool"]
    requests = [(r, m) for r, m in requests if m is not None and m.group(1) in workspace_of_port]
    # Both workspaces were polled, and every call a library logged names the workspace it went to:
    # the second workspace's lines do not carry the first's (nor the other way round).
    assert {workspace_of_port[m.group(1)] for _, m in requests} == {"prod", "dev"}
    for record, match in requests:
        assert record.get("workspace") == workspace_of_port[match.group(1)], record
    # A job's own calls (its settings, its runs, their clusters) carry its Databricks job id.
    by_job = [(r, int(j.group(1))) for r, m in requests if (j := JOB_OF_URL.search(m.group(3))) is not None]
    assert {job for _, job in by_job} == set(jobs.values())
    for record, job_id in by_job:
        assert record["job_id"] == job_id and record["workspace"] == workspace_of_port[
            REQUEST.search(record["message"]).group(1)], record  # type: ignore[union-attr]
    # The workspace's own calls after its jobs (its listings of runs going) carry no job's fields:
    # neither the last job's of this workspace, nor the other workspace's.
    own = [r for r, m in requests if not re.search(r"[?&](job_id|run_id|cluster_id)=", m.group(3))
           and m.group(3).startswith("/api/2.2/jobs/runs/list")]
    assert {r["workspace"] for r in own} == {"prod", "dev"}
    assert all({"job_id", "project_id", "project", "run_id"}.isdisjoint(r) for r in own), own
    # What is done for one project's piece of the run (its cluster read, the planner's work after it)
    # names the project and the Databricks run too; ``dev``'s job has two clusters, two projects.
    projects = [p for name in jobs for p in store.projects.list(name)]
    assert len(projects) == 3
    for project in projects:
        (run,) = store.runs.list(int(project.id or 0))
        fields = {"workspace": project.workspace, "project_id": project.id, "project": project.name,
                  "job_id": project.job_id, "run_id": run.databricks_run_id}
        its = [r for r in records if r.get("project_id") == project.id]
        assert {r["logger"] for r in its} >= {"urllib3.connectionpool", "databricks.sdk", "server.plan.planner"}
        assert all({k: r.get(k) for k in fields} == fields for r in its), its
    # The collector's thread gave each field back after its workspace; the test's thread never had any.
    assert current() == {}
