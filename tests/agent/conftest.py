"""Fixtures for the agent tests: a real in-process gRPC IngestService that records what it
stores (de-duplicated by key, like the real server), real PySpark event logs made once per
session (one JVM runs every Spark application the tests ask for), and a harness that runs the
agent in a thread.
"""

from __future__ import annotations

import collections
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import grpc
import pytest

from agent.config import AgentConfig, load_config
from agent.runner import Agent
from protos.trimtab.v1 import ingest_pb2, ingest_pb2_grpc
from tests.agent import spark_apps as spark_apps_main

TOKEN = "agent-token-for-tests"
RECHECK_S = 0.05  # how often `RecordingIngest.wait_for` reads its predicate again without a call
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

    def wait_for(self, predicate: Callable[[], object], timeout: float = 30.0) -> object:
        """``predicate``'s value once it holds, or at ``timeout``. Checked at every call this servicer
        takes and every `RECHECK_S` besides: a predicate may read what no call changes (a checkpoint
        the agent's process writes, the agent's own state), which only a call would otherwise have
        it read again: a kill -9 test waited its whole 30 s timeout for a checkpoint written in 1 s."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while not (result := predicate()):
                left = deadline - time.monotonic()
                if left <= 0:
                    return result
                self.cond.wait(min(left, RECHECK_S))
            return result

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


# JVM flags for the short-lived test JVMs: the C1 compiler only and the serial collector start
# Spark about a third faster on 2 cores and run these tiny workloads no slower. They are JVM
# options, not Spark settings: no Spark property in the event logs changes.
FAST_JVM_OPTS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"


class SparkApps:
    """A Python process that runs real PySpark applications on request (``spark_apps.serve``).

    Its JVM starts on the first request and serves every later one (the agent's logs, the cache
    application, the simulator's reference log): one JVM start-up per test session, not one per
    fixture. Each application still has its own SparkContext and writes its own event log; all
    measure process trees (a JVM-wide switch in Spark, see ``spark_apps.serve``).
    """

    def __init__(self, work: Path) -> None:
        self.stderr_path = work / "spark-apps.stderr"
        env = dict(os.environ, PYTHONPATH=str(REPO), SPARK_LOCAL_IP="127.0.0.1", PYSPARK_PYTHON=sys.executable,
                   SPARK_SUBMIT_OPTS=FAST_JVM_OPTS)
        with open(self.stderr_path, "wb") as err:  # a file: a long-lived pipe nobody reads would fill up
            self.proc = subprocess.Popen([sys.executable, "-m", "tests.agent.spark_apps", spark_apps_main.SERVE],
                                         cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=err, text=True)
        self.lock = threading.Lock()
        self.replies: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, name="spark-apps-replies", daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith(spark_apps_main.REPLY):  # anything else is the JVM's own output
                self.replies.put(json.loads(line[len(spark_apps_main.REPLY):]))
        self.replies.put(None)  # the process ended

    def run(self, target: str, out: Path, timeout_s: float = 300.0) -> Path:
        """Call ``target`` (``"module:function"``) with ``out`` in the Spark process; ``out`` back."""
        assert self.proc.stdin is not None
        with self.lock:
            try:
                self.proc.stdin.write(json.dumps([target, str(out)]) + "\n")
                self.proc.stdin.flush()
                answer = self.replies.get(timeout=timeout_s)
            except (OSError, queue.Empty) as e:
                self.proc.kill()  # a late answer must not be taken for the next request's
                answer = f"no answer ({e!r})"
        if answer is None:
            answer = f"the Spark process ended (exit code {self.proc.poll()})"
        assert answer == "ok", f"{target} {out}: {answer}\n{self.stderr_path.read_text(errors='replace')[-3000:]}"
        return out

    def close(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()  # the serve loop ends and stops the JVM with it
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


_SPARK_APPS = pytest.StashKey[SparkApps]()


def spark_apps(config: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> SparkApps:
    """The session's ``SparkApps``, started on first use and closed when the session ends; started
    again when it died (a JVM crash or a request that timed out fails its own fixture, not every
    later one of the session)."""
    if _SPARK_APPS not in config.stash or config.stash[_SPARK_APPS].proc.poll() is not None:
        config.stash[_SPARK_APPS] = SparkApps(tmp_path_factory.mktemp("spark-apps"))
        config.add_cleanup(config.stash[_SPARK_APPS].close)
    return config.stash[_SPARK_APPS]


# The fixtures that run a Spark application in ``SparkApps``: (``"module:function"``, its directory).
SPARK_RUNS: dict[str, tuple[str, str]] = {
    "spark_logs": ("tests.agent.spark_apps:run", "spark-eventlogs"),
    "cache_log": ("tests.agent.spark_cache_app:run", "spark-cache"),
    "real_spark_events": ("tests.sandbox_sim.conftest:write_reference_log", "real-spark-log"),
}
_SPARK_AHEAD = pytest.StashKey[dict[str, "Future[Path]"]]()


def run_spark_app(config: pytest.Config, tmp_path_factory: pytest.TempPathFactory, fixture: str) -> Path:
    """The output directory of ``fixture``'s Spark application: run now, or taken from the run the
    session started ahead (`run_spark_apps_ahead`; its failure is this fixture's)."""
    ahead = config.stash.get(_SPARK_AHEAD, {}).pop(fixture, None)
    if ahead is not None:
        return ahead.result()
    target, directory = SPARK_RUNS[fixture]
    return spark_apps(config, tmp_path_factory).run(target, tmp_path_factory.mktemp(directory))


def run_spark_apps_ahead(config: pytest.Config, tmp_path_factory: pytest.TempPathFactory,
                         fixtures: list[str]) -> None:
    """Run the Spark applications of ``fixtures`` (the session's tests use them) one after the other
    on a thread, from the end of collection: the JVM's start-up and the applications (~30 s) overlap
    the tests that come before, on the other core, instead of stalling the first test that needs
    them. The same applications in the same process as on demand; only when they run changes."""
    spark_apps(config, tmp_path_factory)  # started here: its close is a cleanup registered first
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spark-apps-ahead")
    # Cleanups run last-registered first: the pool ends (a running application finishes, queued ones
    # are dropped) before the Spark process is closed.
    config.add_cleanup(lambda: pool.shutdown(wait=True, cancel_futures=True))

    def run(target: str, out: Path) -> Path:
        # spark_apps() here, not once above: a Spark process that died is started again for the next.
        return spark_apps(config, tmp_path_factory).run(target, out)

    ahead = config.stash.setdefault(_SPARK_AHEAD, {})
    for fixture in fixtures:
        target, directory = SPARK_RUNS[fixture]
        ahead[fixture] = pool.submit(run, target, tmp_path_factory.mktemp(directory))


@pytest.fixture(scope="session")
def spark_logs(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real PySpark 4 event logs: zstd rolling, lz4/snappy/lzf/plain single files (made once)."""
    return run_spark_app(pytestconfig, tmp_path_factory, "spark_logs")


@pytest.fixture
def unrelated() -> Iterator[subprocess.Popen]:
    """A live process that is not Trimtab's."""
    proc = subprocess.Popen(["sleep", "300"])
    yield proc
    proc.kill()
    proc.wait()
