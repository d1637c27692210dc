"""Fixtures for the agent tests: a real in-process gRPC IngestService that records what it
stores (de-duplicated by key, like the real server), real PySpark event logs made once per
session, and a harness that runs the agent in a thread.
"""

from __future__ import annotations

import collections
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import replace
from pathlib import Path

import grpc
import pytest

from agent.config import AgentConfig, load_config
from agent.runner import Agent
from protos.trimtab.v1 import ingest_pb2, ingest_pb2_grpc

TOKEN = "agent-token-for-tests"
REPO = Path(__file__).resolve().parents[2]


class RecordingIngest(ingest_pb2_grpc.IngestServiceServicer):
    """Stores events once per (application, key); scripted failures via ``script``."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.stored: dict[tuple[str, str], ingest_pb2.Event] = {}
        self.calls = 0
        self.acked_batches: list[str] = []
        self.duplicates = 0
        self.script: collections.deque[tuple[grpc.StatusCode, int | None]] = collections.deque()
        self.delay: threading.Event | None = None  # when set: calls block until it is set
        self.last_counters: ingest_pb2.AgentCounters | None = None
        self.agents: set[str] = set()

    def SendBatch(self, request: ingest_pb2.EventBatch, context: grpc.ServicerContext) -> ingest_pb2.BatchAck:
        with self.cond:
            self.calls += 1
            step = self.script.popleft() if self.script else None
            self.cond.notify_all()
        if self.delay is not None:
            self.delay.wait(10)
        md = dict(context.invocation_metadata())
        if md.get("authorization") != f"Bearer {TOKEN}":
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "bad token")
        if step is not None:
            code, hint = step
            if hint is not None:
                context.set_trailing_metadata((("retry-after-ms", str(hint)),))
            context.abort(code, "scripted failure")
        new = dup = 0
        with self.cond:
            for e in request.events:
                k = (e.application_id, e.key)
                if k in self.stored:
                    dup += 1
                else:
                    self.stored[k] = e
                    new += 1
            self.duplicates += dup
            self.acked_batches.append(request.batch_id)
            self.last_counters = request.counters
            self.agents.add(request.agent.agent_id)
            self.cond.notify_all()
        return ingest_pb2.BatchAck(batch_id=request.batch_id, stored_events=new, duplicate_events=dup)

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 30.0) -> bool:
        with self.cond:
            return self.cond.wait_for(predicate, timeout)

    def keys(self, kind: str | None = None) -> set[tuple[str, str]]:
        with self.cond:
            return {k for k, e in self.stored.items() if kind is None or e.WhichOneof("body") == kind}


class IngestServer:
    """A real gRPC server on 127.0.0.1 (port chosen by the OS, kept across restarts)."""

    def __init__(self, servicer: RecordingIngest) -> None:
        self.servicer = servicer
        self.port = 0
        self.server: grpc.Server | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> IngestServer:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        ingest_pb2_grpc.add_IngestServiceServicer_to_server(self.servicer, server)
        self.port = server.add_insecure_port(f"127.0.0.1:{self.port}")
        server.start()
        self.server = server
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop(grace=None).wait()
            self.server = None


@pytest.fixture
def ingest() -> Iterator[IngestServer]:
    srv = IngestServer(RecordingIngest()).start()
    yield srv
    srv.stop()


def agent_config(eventlog_dir: Path, state_dir: Path, server: str, **overrides) -> AgentConfig:
    """Fast settings for tests: short polls and backoffs (the logic is the same)."""
    env = {"TRIMTAB_TOKEN": TOKEN}
    cfg = load_config({"eventlog_dir": eventlog_dir, "state_dir": state_dir, "server": server}, env=env)
    return replace(cfg, poll_interval_s=0.02, batch_max_age_s=0.05, backoff_base_s=0.05, backoff_max_s=0.3,
                   rpc_timeout_s=2.0, checkpoint_interval_s=0.05, shutdown_flush_s=3.0, **overrides)


class AgentThread:
    def __init__(self, cfg: AgentConfig) -> None:
        self.agent = Agent(cfg)
        self.rc: int | None = None
        self.thread = threading.Thread(target=self._run, name="agent-under-test", daemon=True)

    def _run(self) -> None:
        self.rc = self.agent.run()

    def __enter__(self) -> AgentThread:
        self.thread.start()
        return self

    def stop(self) -> int | None:
        self.agent.stop()
        self.thread.join(20)
        assert not self.thread.is_alive(), "agent did not stop"
        return self.rc

    def __exit__(self, *exc: object) -> None:
        if self.thread.is_alive():
            self.stop()


@pytest.fixture(scope="session")
def spark_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real PySpark 4 event logs: zstd rolling, lz4/snappy/lzf/plain single files (one JVM, once)."""
    return run_spark_module("tests.agent.spark_apps", tmp_path_factory.mktemp("spark-eventlogs"))


def run_spark_module(module: str, out: Path) -> Path:
    """Run a real PySpark application module (its own JVM) writing its event logs under ``out``."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-m", module, str(out)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out
