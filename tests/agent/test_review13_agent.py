"""Review 13b of the agent: an empty agent id file, a driver that dies mid-stage, the REST poller
behind a cluster's http_proxy, and settings out of range."""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
import threading
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson
import pytest

from agent import durable
from agent.config import ConfigError, agent_id, load_config, usable_agent_id
from agent.parse import COMPLETION_NOT_SEEN
from agent.rest import RestPoller
from protos.trimtab.v1 import ingest_pb2
from tests.agent.conftest import REPO, AgentThread, IngestServer, agent_config


def _write_log(path: Path, lines: list[dict]) -> None:
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))


APP_LINES: list[dict] = [
    {"Event": "SparkListenerLogStart", "Spark Version": "3.5.0"},
    {"Event": "SparkListenerApplicationStart", "App ID": "app-1", "App Name": "x", "Timestamp": 1000,
     "User": "u"},
    {"Event": "SparkListenerApplicationEnd", "Timestamp": 5000},
]


# -- 1. an agent_id file a full disk left empty ------------------------------------------------------
@pytest.mark.parametrize("content", [b"", b"\n", b"   ", b"\x00" * 8, b"\xff\xfe", b"a" * 300])
def test_an_unusable_agent_id_file_gets_a_new_id(tmp_path: Path, content: bytes):
    (tmp_path / "agent_id").write_bytes(content)
    aid = agent_id(tmp_path)
    assert usable_agent_id(aid) and len(aid) == 32
    assert (tmp_path / "agent_id").read_text() == aid  # replaced, so the next start keeps it
    assert agent_id(tmp_path) == aid


def test_a_usable_agent_id_is_kept(tmp_path: Path):
    (tmp_path / "agent_id").write_text("0123abcd\n")
    assert agent_id(tmp_path) == "0123abcd"


def test_a_full_disk_leaves_no_agent_id_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Written atomically: a write that fails leaves no file (was: 0 bytes, read back as "")."""
    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as m:
        m.setattr(durable.os, "fsync", full)
        aid = agent_id(tmp_path)
    assert usable_agent_id(aid)
    assert sorted(os.listdir(tmp_path)) == []
    assert agent_id(tmp_path) != aid  # a new one next time, never ""


def test_an_empty_agent_id_file_no_longer_gets_batches_parked_by_the_real_server(tmp_path: Path):
    """The real server refuses agent_id "" (INVALID_ARGUMENT): every batch was parked for good."""
    from server.config import ServerConfig
    from server.serve import start_server

    logs = tmp_path / "logs"
    logs.mkdir()
    _write_log(logs / "app-1", APP_LINES)
    state = tmp_path / "state"
    state.mkdir()
    (state / "agent_id").write_bytes(b"")
    running = start_server(ServerConfig(listen="127.0.0.1:0", state_dir=tmp_path / "server",
                                        db_url=f"sqlite:///{tmp_path / 'server.db'}"))
    try:
        _, token = running.store.tokens.create("agent-test", "agent")
        cfg = replace(agent_config(logs, state, running.address), token=token)
        with AgentThread(cfg) as run:
            a = run.agent
            for _ in range(500):
                if a.saved.get("single:app-1", {}).get("finished") and a.spool.pending()[0] == 0:
                    break
                a.wait_ticks(1, 5)
            run.stop()
        assert a.spool.parked() == 0 and a.spool.pending()[0] == 0
        ids = [s.agent_id for s in running.store.ingest.agents()]
        assert ids == [(state / "agent_id").read_text()] and usable_agent_id(ids[0])
    finally:
        running.stop()


# -- 3. the Spark REST poller on a cluster with an egress proxy --------------------------------------
class _SparkUi(BaseHTTPRequestHandler):
    BODIES: dict[str, object] = {
        "/api/v1/applications?status=running": [{"id": "app-1"}],
        "/api/v1/applications/app-1/executors": [{"id": "driver", "memoryUsed": 5, "maxMemory": 10}],
        "/metrics/json": {"counters": {"LiveListenerBus.queue.eventLog.numDroppedEvents": {"count": 7}}},
    }

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        data = orjson.dumps(self.BODIES.get(self.path))
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again: nothing listens there


def test_the_rest_poller_reaches_the_driver_ui_directly_despite_http_proxy(monkeypatch: pytest.MonkeyPatch):
    ui = ThreadingHTTPServer(("127.0.0.1", 0), _SparkUi)
    threading.Thread(target=ui.serve_forever, daemon=True).start()
    try:
        proxy = f"http://127.0.0.1:{_dead_port()}"
        with monkeypatch.context() as m:
            for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
                m.setenv(name, proxy)
            m.delenv("no_proxy", raising=False)
            m.delenv("NO_PROXY", raising=False)
            poller = RestPoller(f"http://127.0.0.1:{ui.server_port}")
            events, dropped = poller.poll(1000, lambda spark_id: "app-1" if spark_id == "app-1" else None)
        assert poller.failures == 0
        assert [(e.key, e.application_id) for e in events] == [("gauges/driver/1000", "app-1")]
        assert dropped == {"eventLog": 7}
    finally:
        ui.shutdown()
        ui.server_close()


# -- 4. numeric and address settings out of range ----------------------------------------------------
@pytest.mark.parametrize(("env", "words"), [
    ({"TRIMTAB_AGENT_POLL_S": "0"}, r"poll_interval_s \(env TRIMTAB_AGENT_POLL_S\).*at least 0.01"),
    ({"TRIMTAB_AGENT_POLL_S": "-1"}, r"poll_interval_s.*at least 0.01"),
    ({"TRIMTAB_AGENT_POLL_S": "nan"}, r"poll_interval_s.*finite"),
    ({"TRIMTAB_AGENT_RPC_TIMEOUT_S": "0"}, r"rpc_timeout_s.*at least 1"),
    ({"TRIMTAB_AGENT_SPOOL_BYTES": "0"}, r"spool_max_bytes.*at least 1048576"),
    ({"TRIMTAB_AGENT_BATCH_EVENTS": "0"}, r"batch_max_events.*at least 1 and at most 20000"),
    ({"TRIMTAB_AGENT_BATCH_EVENTS": "20001"}, r"batch_max_events.*at most 20000"),
    ({"TRIMTAB_AGENT_READ_BUDGET": "-5"}, r"read_budget_bytes.*at least 4096"),
    ({"TRIMTAB_AGENT_MAX_LINE": "100"}, r"max_line_bytes.*at least 1048576"),
    ({"TRIMTAB_AGENT_BACKOFF_BASE_S": "0"}, r"backoff_base_s.*at least 0.01"),
    ({"TRIMTAB_AGENT_BATCH_AGE_S": "-1"}, r"batch_max_age_s.*at least 0"),
    ({"TRIMTAB_AGENT_SHUTDOWN_FLUSH_S": "inf"}, r"shutdown_flush_s.*finite"),
    ({"TRIMTAB_SERVER": "http://trimtab:50051"}, r"server \(env TRIMTAB_SERVER\).*without a scheme"),
    ({"TRIMTAB_SERVER": "trimtab:50051/"}, r"server.*must be host:port"),
    ({"TRIMTAB_SERVER": "trimtab"}, r"server.*must be host:port"),
    ({"TRIMTAB_SERVER": "trimtab:99999"}, r"server.*port 99999"),
])
def test_settings_out_of_range_are_refused_naming_the_setting(env: dict[str, str], words: str):
    with pytest.raises(ConfigError, match=words):
        load_config({}, env=env)


def test_settings_in_range_and_addresses_are_kept(tmp_path: Path):
    cfg = load_config({}, env={"TRIMTAB_SERVER": " trimtab.example.com:50051\n", "TRIMTAB_AGENT_POLL_S": "0.01",
                               "TRIMTAB_AGENT_BATCH_AGE_S": "0", "TRIMTAB_AGENT_SPOOL_BYTES": str(1024 * 1024)})
    assert (cfg.server, cfg.poll_interval_s, cfg.batch_max_age_s) == ("trimtab.example.com:50051", 0.01, 0.0)
    for address in ("127.0.0.1:1", "[::1]:50051", "my-host_1.internal:443"):
        assert load_config({"server": address}, env={}).server == address
    f = tmp_path / "agent.json"
    f.write_text('{"rpc_timeout_s": 0.5}')
    with pytest.raises(ConfigError, match=rf"rpc_timeout_s.*from config file {f}.*at least 1"):
        load_config({}, env={}, file=f)


def test_the_agent_refuses_to_start_with_a_setting_out_of_range(tmp_path: Path):
    """Exit 2 at start, like a value of the wrong type (the init script reports it, and its supervisor
    does not restart the agent)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIMTAB_")}
    env.update(TRIMTAB_TOKEN="t", TRIMTAB_AGENT_POLL_S="0", PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-m", "agent.cli", "run", "--eventlog-dir", str(tmp_path),
                           "--server", "127.0.0.1:1", "--state-dir", str(tmp_path / "state")],
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "bad configuration: bad value '0' for setting poll_interval_s (env TRIMTAB_AGENT_POLL_S)" in proc.stderr
    assert not (tmp_path / "state").exists()


# -- 2. a driver that dies mid-stage (Databricks' layout is never "complete") ------------------------
def _meta(ctx: str) -> dict:
    return {"Event": "DBCEventLoggingListenerMetadata", "Spark Version": "3.5.0", "Timestamp": 1,
            "Rollover Number": 0, "SparkContext Id": ctx}


def _until_the_stage(ctx: str) -> list[dict]:
    """A Databricks application (sent under its context id) cut where its driver died: two of
    stage 0's tasks ended, nothing after."""
    return [
        _meta(ctx),
        {"Event": "SparkListenerApplicationStart", "App ID": f"app-{ctx}", "App Name": "nightly", "Timestamp": 1000,
         "User": "u"},
        {"Event": "SparkListenerJobStart", "Job ID": 0, "Stage IDs": [0], "Submission Time": 1100,
         "Properties": {}},
        {"Event": "SparkListenerStageSubmitted", "Stage Info": {
            "Stage ID": 0, "Stage Attempt ID": 0, "Stage Name": "map at job.py:1", "Number of Tasks": 3,
            "Parent IDs": [], "Submission Time": 1200}},
        *[{"Event": "SparkListenerTaskEnd", "Stage ID": 0, "Stage Attempt ID": 0,
           "Task End Reason": {"Reason": "Success"}, "Task Info": {"Launch Time": 1300, "Finish Time": 1400 + i},
           "Task Metrics": {"Executor Run Time": 7, "Input Metrics": {"Bytes Read": 1000}}} for i in range(2)],
    ]


def _rest_of_it() -> list[dict]:
    """What a live driver writes after the cut: the last task, the stage's and job's end, the app's end."""
    return [
        {"Event": "SparkListenerTaskEnd", "Stage ID": 0, "Stage Attempt ID": 0,
         "Task End Reason": {"Reason": "Success"}, "Task Info": {"Launch Time": 1300, "Finish Time": 1500},
         "Task Metrics": {"Executor Run Time": 7, "Input Metrics": {"Bytes Read": 1000}}},
        {"Event": "SparkListenerStageCompleted", "Stage Info": {
            "Stage ID": 0, "Stage Attempt ID": 0, "Stage Name": "map at job.py:1", "Number of Tasks": 3,
            "Submission Time": 1200, "Completion Time": 1600}},
        {"Event": "SparkListenerJobEnd", "Job ID": 0, "Completion Time": 1700,
         "Job Result": {"Result": "JobSucceeded"}},
        {"Event": "SparkListenerApplicationEnd", "Timestamp": 1800},
    ]


def _stored(ingest: IngestServer, app: str, key: str) -> ingest_pb2.Event | None:
    with ingest.servicer.cond:
        return ingest.servicer.stored.get((app, key))


def test_a_stage_cut_by_a_dead_driver_is_sent_when_the_agent_stops(tmp_path: Path, ingest: IngestServer):
    """docs/agent.md: sent "at its job's end (or the log's end)"; a Databricks log never ends, so at
    SIGTERM (cluster termination) the stage was lost. A restart on a live cluster sends no key twice."""
    logs, state = tmp_path / "eventlogs", tmp_path / "state"
    (logs / "888").mkdir(parents=True)
    _write_log(logs / "888" / "eventlog", _until_the_stage("888"))
    cfg = agent_config(logs, state, ingest.address)
    with AgentThread(cfg) as run:
        assert ingest.servicer.wait_for(lambda: ("888", "app-start") in ingest.servicer.stored, 20)
        run.agent.wait_ticks(3, 5)  # it reads on: nothing more comes
        assert _stored(ingest, "888", "stage/0/0") is None
        assert run.stop() == 0
    stage = _stored(ingest, "888", "stage/0/0")
    assert stage is not None, "the open stage was not sent at the stop"
    sc = stage.stage_completed
    assert sc.failure_reason == COMPLETION_NOT_SEEN
    assert (sc.tasks_succeeded, sc.num_tasks, sc.completion_time_ms) == (2, 3, 1401)
    assert ingest.servicer.duplicates == 0

    # The agent was only restarted (by hand: the cluster lives on) and the driver writes on.
    with open(logs / "888" / "eventlog", "ab") as f:
        f.write(b"".join(orjson.dumps(line) + b"\n" for line in _rest_of_it()))
    with AgentThread(agent_config(logs, state, ingest.address)) as run:
        assert ingest.servicer.wait_for(lambda: ("888", "app-end") in ingest.servicer.stored, 20)
        run.stop()
        assert run.agent.spool.pending()[0] == 0
    assert _stored(ingest, "888", "job/0") is not None
    assert _stored(ingest, "888", "stage/0/0").stage_completed.failure_reason == COMPLETION_NOT_SEEN
    assert ingest.servicer.duplicates == 0  # the stage's later lines are recognised: nothing sent twice
    assert ingest.servicer.keys("stage_completed") == {("888", "stage/0/0")}


def test_a_log_still_growing_at_the_stop_keeps_its_open_stage(tmp_path: Path, ingest: IngestServer):
    """Only a log the drain read to its end is flushed; one the drain had no time to finish is not."""
    logs, state = tmp_path / "eventlogs", tmp_path / "state"
    (logs / "888").mkdir(parents=True)
    lines = _until_the_stage("888")
    _write_log(logs / "888" / "eventlog", lines)
    cfg = replace(agent_config(logs, state, ingest.address), shutdown_flush_s=0.0)
    run = AgentThread(cfg)
    a = run.agent
    a.tick()
    assert a.followers["databricks:888"].at_end
    held = len(a.pending)
    a._moved_keys.add("databricks:888")  # as if the drain's last pass had read new lines of it
    a._flush_stopped_logs()
    assert len(a.pending) == held and a.followers["databricks:888"].parser.open_stages
    a._moved_keys.clear()
    a._flush_stopped_logs()
    assert not a.followers["databricks:888"].parser.open_stages and not a.pending  # flushed and spooled
    assert not a.followers["databricks:888"].finished  # read on if the log grows again
    a.close()


def test_a_context_replaced_by_a_newer_driver_is_finished_while_the_agent_runs(tmp_path: Path,
                                                                              ingest: IngestServer):
    """An all-purpose cluster's driver died and restarted under a new context id: once the agent sees
    the new context grow, the old context's open stage and its driver peaks are sent, and it is
    finished; the new one is followed on. (File times play no part: see test_review13_agent2.py.)"""
    logs, state = tmp_path / "eventlogs", tmp_path / "state"
    for ctx in ("111", "222"):
        (logs / ctx).mkdir(parents=True)
    _write_log(logs / "111" / "eventlog", _until_the_stage("111"))
    _write_log(logs / "222" / "eventlog", _until_the_stage("222"))
    rest = _rest_of_it()
    with AgentThread(agent_config(logs, state, ingest.address)) as run:
        assert ingest.servicer.wait_for(lambda: ("222", "app-start") in ingest.servicer.stored, 10)
        run.agent.wait_ticks(3, 5)
        assert _stored(ingest, "111", "stage/0/0") is None  # neither grew yet: neither is judged
        with open(logs / "222" / "eventlog", "ab") as f:  # the new driver writes on
            f.write(orjson.dumps(rest[0]) + b"\n")
        assert ingest.servicer.wait_for(lambda: ("111", "stage/0/0") in ingest.servicer.stored, 10), \
            "the replaced context's open stage was not sent"
        assert ingest.servicer.wait_for(lambda: run.agent.saved.get("databricks:111", {}).get("finished"), 10)
        run.agent.wait_ticks(3, 5)
        assert "databricks:222" in run.agent.followers and not run.agent.followers["databricks:222"].finished
        assert _stored(ingest, "222", "stage/0/0") is None  # the live context's stage still runs
        assert _stored(ingest, "111", "stage/0/0").stage_completed.failure_reason == COMPLETION_NOT_SEEN
        # The newest context's log goes on as usual.
        with open(logs / "222" / "eventlog", "ab") as f:
            f.write(b"".join(orjson.dumps(line) + b"\n" for line in rest[1:]))
        assert ingest.servicer.wait_for(lambda: ("222", "app-end") in ingest.servicer.stored, 10)
        run.stop()
    assert _stored(ingest, "222", "stage/0/0").stage_completed.failure_reason == ""
    assert ingest.servicer.duplicates == 0


def test_the_stop_sends_the_drivers_last_peaks_but_not_a_start_that_waits_for_its_job(tmp_path: Path,
                                                                                     ingest: IngestServer):
    """The start waits for the first job's ids (the server keeps a key's first event): an agent stopped
    by hand before it does not send it without them; the driver's last peaks do go."""
    logs, state = tmp_path / "eventlogs", tmp_path / "state"
    (logs / "888").mkdir(parents=True)
    beat = {"Event": "SparkListenerExecutorMetricsUpdate", "Executor ID": "driver",
            "Executor Metrics Updated": [{"Stage ID": -1, "Executor Metrics": {"JVMHeapMemory": 104}}]}
    _write_log(logs / "888" / "eventlog", [*_until_the_stage("888")[:2], {**beat, "Executor Metrics Updated": [
        {"Stage ID": -1, "Executor Metrics": {"JVMHeapMemory": 100}}]}, beat])
    with AgentThread(agent_config(logs, state, ingest.address)) as run:
        assert ingest.servicer.wait_for(lambda: ("888", "driver/100/0/0") in ingest.servicer.stored, 20)
        run.agent.wait_ticks(3, 5)
        run.stop()
    assert ingest.servicer.keys() == {("888", "driver/100/0/0"), ("888", "driver/104/0/0")}
