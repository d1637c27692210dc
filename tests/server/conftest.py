"""A real server on 127.0.0.1:0 over a real store, with an agent and an admin token."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from protos.trimtab.v1 import admin_pb2_grpc, ingest_pb2, ingest_pb2_grpc
from server.clock import Clock
from server.config import ServerConfig
from server.domain import Project, ProjectSettings, Run, Workspace
from server.serve import RunningServer, start_server
from server.store import Store, open_store
from tests.conftest import migrated_sqlite_file

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Harness:
    running: RunningServer
    store: Store
    channel: grpc.Channel
    agent_token: str
    admin_token: str
    state_dir: Path

    @property
    def agent(self) -> tuple[tuple[str, str]]:
        return (("authorization", f"Bearer {self.agent_token}"),)

    @property
    def admin(self) -> tuple[tuple[str, str]]:
        return (("authorization", f"Bearer {self.admin_token}"),)

    @property
    def ingest(self) -> ingest_pb2_grpc.IngestServiceStub:
        return ingest_pb2_grpc.IngestServiceStub(self.channel)

    @property
    def projects(self) -> admin_pb2_grpc.ProjectServiceStub:
        return admin_pb2_grpc.ProjectServiceStub(self.channel)

    @property
    def runs(self) -> admin_pb2_grpc.RunServiceStub:
        return admin_pb2_grpc.RunServiceStub(self.channel)


StartHarness = Callable[..., Harness]


@pytest.fixture
def start_harness(tmp_path: Path, sqlite_template: Path) -> Iterator[StartHarness]:
    """Start a server over `url` (a migrated SQLite file in tmp_path by default) with config overrides."""
    started: list[Harness] = []

    def start(url: str | None = None, busy_timeout_ms: int = 5000, clock: Clock | None = None,
              **overrides: object) -> Harness:
        url = url or migrated_sqlite_file(sqlite_template, tmp_path / "trimtab.db")
        store = open_store(url, busy_timeout_ms=busy_timeout_ms)
        config = ServerConfig(listen="127.0.0.1:0", state_dir=tmp_path / "state",
                              db_busy_timeout_ms=busy_timeout_ms, **overrides)  # type: ignore[arg-type]
        running = start_server(config, store, clock)
        _, agent = store.tokens.create("agent", "agent")
        _, admin = store.tokens.create("admin", "admin")
        harness = Harness(running, store, grpc.insecure_channel(running.address), agent, admin, config.state_dir)
        started.append(harness)
        return harness

    yield start
    for h in started:
        h.channel.close()
        h.running.stop(0)
        h.store.close()


@pytest.fixture
def harness(start_harness: StartHarness) -> Harness:
    return start_harness()


def event_batch(batch_id: str, n: int, app: str = "app-1", agent: str = "agent-1", first: int = 0) -> ingest_pb2.EventBatch:
    events = [ingest_pb2.Event(key=f"stage/{i}/0", application_id=app,
                               stage_completed=ingest_pb2.StageCompleted(stage_id=i, name=f"s{i}", num_tasks=4))
              for i in range(first, first + n)]
    return ingest_pb2.EventBatch(batch_id=batch_id, agent=ingest_pb2.AgentInfo(agent_id=agent), events=events)


class ServerProcess:
    """`trimtab server start` in a child process, as an operator runs it."""

    def __init__(self, state_dir: Path, db_url: str, extra_env: dict[str, str] | None = None) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO), **(extra_env or {})}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "server.cli.main", "server", "start", "--listen", "127.0.0.1:0",
             "--db", db_url, "--state-dir", str(state_dir)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # blocks until the server says where it listens
        if not line.startswith("listening on "):
            self.proc.kill()
            raise AssertionError(f"server did not start: {line!r} {self.proc.stderr.read() if self.proc.stderr else ''}")
        self.address = line.split()[-1]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(30)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    procs: list[ServerProcess] = []

    def launch(db_url: str, extra_env: dict[str, str] | None = None) -> ServerProcess:
        p = ServerProcess(tmp_path / "state", db_url, extra_env)
        procs.append(p)
        return p

    yield launch
    for p in procs:
        p.stop()


# A project planned through the store, as the settings and API tests of a real server start from.
PLANNED_SPEC = {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5.2xlarge", "num_workers": 12,
                "aws_attributes": {"availability": "ON_DEMAND", "first_on_demand": 1}}
DAY_MS = 86_400_000
START_MS = 1_796_444_220_000


def planned_project(h: Harness, job_id: int = 1, settings: ProjectSettings | None = None) -> tuple[Project, int]:
    """A project of job ``job_id`` on `PLANNED_SPEC` (workspace "ws", made once) with three daily runs
    and a pending recommendation: the project and the recommendation's id."""
    from server.costing.catalog import load_catalog
    from server.plan.planner import plan_project
    from server.spec import config_from_spec

    if not any(w.name == "ws" for w in h.store.workspaces.list()):
        h.store.workspaces.add(Workspace(name="ws", host="http://x", cloud="aws", plan="premium"), "enc")
    project = h.store.projects.add(Project(workspace="ws", job_id=job_id, cluster_key="main",
                                           current_spec=PLANNED_SPEC, original_spec=PLANNED_SPEC,
                                           settings=settings or ProjectSettings(spot_allowed=False)))
    pid = int(project.id or 0)
    for n in range(3):
        h.store.runs.add(Run(project_id=pid, databricks_run_id=job_id * 1000 + n, start_ms=START_MS + n * DAY_MS,
                             end_ms=START_MS + n * DAY_MS + 600_000, runtime_s=600.0, outcome="succeeded",
                             config=config_from_spec(PLANNED_SPEC), input_bytes=100 * 10**9))
    rec = plan_project(h.store, pid, load_catalog())
    assert rec is not None and rec.state == "pending" and rec.id is not None
    return project, rec.id
