"""Fixtures for the Databricks integration: the sandbox workspace emulator over HTTP,
a store, a secret box, and the workspace connected through the real services."""

from __future__ import annotations

import copy
import json
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from databricks.sdk import WorkspaceClient
from databricks.sdk.core import Config

from sandbox.workspace import RunningWorkspace, start_workspace
from server.clock import FakeClock, SystemClock
from server.collect import Collector
from server.collect.usage import cluster_timeline, cluster_usage
from server.config import ServerConfig
from server.costing.catalog import load_catalog
from server.costing.run_cost import cost_run
from server.databricks import DatabricksGateway, GatewayConfig
from server.domain import Project, Run, Workspace
from server.onboard import AgentWiring
from server.serve import RunningServer, start_server
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store, open_store

# A no-op init script: these tests check what Trimtab does to jobs and runs, not the agent. It stays
# on DBFS (import logs that DBFS init scripts are end of life): tests upload their own script there,
# a failing one included (test_dbx_run_message.py). The wheel location is never read by it; it is one a
# DBFS script could read (import refuses a /Volumes wheel for a script outside a volume).
NOOP_INIT = b"#!/bin/bash\nexit 0\n"
WIRING = AgentWiring(server_address="127.0.0.1:50999", secret_scope="trimtab", secret_key="agent-token",
                     init_script={"dbfs": {"destination": "dbfs:/trimtab/test-init.sh"}},
                     upload_init_script=False,
                     agent_wheel="/dbfs/trimtab/agent/trimtab-0.1.0-py3-none-any.whl")


def priced_collector(store: Store, secrets: SecretBox) -> Collector:
    """A collector on the real clock that prices runs with the shipped catalog (no background thread)."""
    return Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws), clock=SystemClock(),
                     catalog=load_catalog())


def run_and_collect(store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
                    job_id: int) -> tuple[int, list[Run]]:
    """Run the job now, wait for the emulator to finish it, and collect once with a priced collector:
    the Databricks run id and the runs stored."""
    run_id = gateway.run_now(job_id)
    assert emulator.wait_idle(60)
    return run_id, priced_collector(store, secrets).poll_once()


def priced_as(gateway: DatabricksGateway, store: Store, run: Run, aws_attributes: dict[str, Any]) -> float:
    """What the run's own cluster (in workspace "sbx") costs priced as if its spec named ``aws_attributes``
    over its own: what the collector's price of it is checked against."""
    spec = copy.deepcopy(gateway.get_cluster(run.cluster_id)["spec"])
    spec["aws_attributes"] = {**(spec.get("aws_attributes") or {}), **aws_attributes}
    return priced_on(gateway, store, run, spec)


def priced_on(gateway: DatabricksGateway, store: Store, run: Run, spec: dict[str, Any]) -> float:
    """What the run's own cluster (in workspace "sbx", its events) costs priced on ``spec``."""
    workspace = store.workspaces.get("sbx")
    timeline = cluster_timeline(spec, gateway.cluster_events(run.cluster_id), fallback_start_ms=run.start_ms,
                                fallback_end_ms=run.end_ms, cloud="aws")
    usage = cluster_usage(timeline, spec, cloud="aws", region=workspace.pricing_region, plan=workspace.plan,
                          input_bytes=None)
    return cost_run(usage, load_catalog()).total


def etl_job(spec: dict[str, Any], name: str = "etl") -> dict[str, Any]:
    """A one-task job's settings: a Python task on job cluster "main", which ``spec`` describes."""
    return {"name": name, "job_clusters": [{"job_cluster_key": "main", "new_cluster": spec}],
            "tasks": [{"task_key": "main", "job_cluster_key": "main",
                       "spark_python_task": {"python_file": "dbfs:/jobs/etl.py"}}]}


def import_etl_job(store: Store, secrets: SecretBox, gateway: DatabricksGateway, spec: dict[str, Any]) -> Project:
    """`etl_job` on ``spec`` created in the emulator and imported into workspace "sbx": its project."""
    job_id = gateway.create_job(etl_job(spec))
    (imported,) = workspaces.import_jobs(store, secrets, "sbx", [job_id], wiring=WIRING).projects
    return imported.project


def admin_call(emulator: RunningWorkspace, method: str, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
    """An admin's call the gateway does not make (Trimtab never creates policies or pools, nor reads a
    scope's ACL list): ``body`` as JSON for a POST, as the query otherwise."""
    data = json.dumps(body).encode() if method == "POST" else None
    query = "" if method == "POST" else "?" + "&".join(f"{k}={v}" for k, v in body.items())
    request = urllib.request.Request(f"{emulator.host}/api/2.0/{endpoint}{query}", data=data, method=method,
                                     headers={"Authorization": f"Bearer {emulator.token}",
                                              "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return dict(json.loads(answer.read() or b"{}"))


def admin_post(emulator: RunningWorkspace, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
    return admin_call(emulator, "POST", endpoint, body)


@pytest.fixture(autouse=True)
def _no_databricks_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # The SDK's Config reads DATABRICKS_* for anything not passed explicitly.
    import os

    for name in list(os.environ):
        if name.startswith("DATABRICKS_"):
            monkeypatch.delenv(name)


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[RunningWorkspace]:
    running = start_workspace(tmp_path / "workspace", speed=20000)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def slower(tmp_path: Path) -> Iterator[RunningWorkspace]:
    """A workspace whose clusters run long enough for their agents to send: at speed >= ~1000 a run is
    over before the agent process (started by the init script) is up, and it streams nothing."""
    running = start_workspace(tmp_path / "agent-ws", speed=200)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def job_ids(emulator: RunningWorkspace) -> list[int]:
    return emulator.seed_jobs()



@pytest.fixture
def store(any_store: Store) -> Store:
    """Each test runs on SQLite and on PostgreSQL (the store's two engines)."""
    return any_store


@pytest.fixture
def postgres_store(migrated_postgres_url: str) -> Iterator[Store]:
    """One store on PostgreSQL only: what crosses servers (advisory locks, a lock lost with its session)
    has no SQLite form, which is served by one process at a time (docs/operations.md)."""
    opened = open_store(migrated_postgres_url)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def secrets() -> SecretBox:
    return SecretBox(Fernet.generate_key())


@pytest.fixture
def gateway(emulator: RunningWorkspace) -> DatabricksGateway:
    from server.clock import SystemClock

    return DatabricksGateway(GatewayConfig(emulator.host, emulator.token, retry_timeout_s=20),
                             clock=SystemClock())


@pytest.fixture
def server_key() -> bytes:
    """The `server` fixture's secret key: tests read what it encrypted into the store with it."""
    return Fernet.generate_key()


@pytest.fixture
def server(store: Store, server_key: bytes, tmp_path: Path) -> Iterator[RunningServer]:
    """A real Trimtab server (gRPC on a free port) over the test's store."""
    # collect=0: these tests drive a Collector themselves (the background one would race them).
    config = ServerConfig(listen="127.0.0.1:0", state_dir=tmp_path / "server", secret_key=server_key.decode(),
                          collect=0)
    running = start_server(config, store=store)
    try:
        yield running
    finally:
        running.stop(grace=1)


@pytest.fixture
def cli_workspace(trimtab: Callable[..., tuple[int, str, str]], emulator: RunningWorkspace,
                  gateway: DatabricksGateway, monkeypatch: pytest.MonkeyPatch) -> str:
    """The emulator added as workspace "sbx" through the CLI (so under the server's own key)."""
    gateway.put_dbfs_file("/trimtab/test-init.sh", NOOP_INIT)
    monkeypatch.setenv("TT_DBX_TOKEN", emulator.token)
    code, _, err = trimtab("workspace", "add", "sbx", "--host", emulator.host, "--token-env", "TT_DBX_TOKEN",
                           "--cloud", "aws")
    assert code == 0, err
    return "sbx"


@pytest.fixture
def connected(store: Store, secrets: SecretBox, emulator: RunningWorkspace,
              gateway: DatabricksGateway, job_ids: list[int]) -> Workspace:
    """The emulator added as workspace "sbx" (token checked), with the test init script in DBFS."""
    gateway.put_dbfs_file("/trimtab/test-init.sh", NOOP_INIT)
    return workspaces.add_workspace(store, secrets, "sbx", emulator.host, emulator.token, "aws")


@pytest.fixture
def aws_workspace(store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway) -> str:
    """The emulator added as AWS workspace "sbx", with the test init script in DBFS and no job seeded."""
    gateway.put_dbfs_file("/trimtab/test-init.sh", NOOP_INIT)
    workspaces.add_workspace(store, secrets, "sbx", emulator.host, emulator.token, "aws")
    return "sbx"


@pytest.fixture
def daily(store: Store, secrets: SecretBox, connected: Workspace, job_ids: list[int]) -> Project:
    """The single-task job "daily-..." imported (one project on job cluster "main")."""
    (imported,) = workspaces.import_jobs(store, secrets, "sbx", [job_ids[0]], wiring=WIRING).projects
    return imported.project


def sdk_client(emulator: RunningWorkspace) -> WorkspaceClient:
    """The real databricks-sdk client on the emulator, for what Trimtab does not call (cancel, repair)."""
    return WorkspaceClient(config=Config(host=emulator.host, token=emulator.token, auth_type="pat",
                                         retry_timeout_seconds=20, http_timeout_seconds=10))


class CountingGateway:
    """The real gateway, recording the ids asked of one fetch method (``get_cluster_policy``,
    ``get_instance_pool``): to see the planner's cache. Every other call goes straight through."""

    def __init__(self, inner: DatabricksGateway, method: str, fetched: list[str]) -> None:
        self._inner = inner
        self._method = method
        self._fetched = fetched

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._inner, name)
        if name != self._method:
            return target

        def counted(object_id: str) -> Any:
            self._fetched.append(object_id)
            return target(object_id)

        return counted


@pytest.fixture
def integration_clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """A FakeClock the real services' gateways wait on (the SDK's retries cost fake time), with the
    test wiring: the collector and import tests' clock."""
    fake = FakeClock()
    monkeypatch.setattr(workspaces._integration, "clock", fake)
    monkeypatch.setattr(workspaces._integration, "wiring", WIRING)
    return fake


@pytest.fixture
def trimtab(server: RunningServer, store: Store, capsys: pytest.CaptureFixture[str],
            monkeypatch: pytest.MonkeyPatch) -> Callable[..., tuple[int, str, str]]:
    """The `trimtab` CLI against the real gRPC server: run(*args) -> (exit code, stdout, stderr)."""
    from server.cli.main import main

    monkeypatch.setattr(workspaces._integration, "wiring", WIRING)
    _, token = store.tokens.create("cli", "admin")

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(["--server", server.address, "--token", token, *args])
        out, err = capsys.readouterr()
        return code, out, err

    return run
