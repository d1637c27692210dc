"""Review 13f of the agent: a live Databricks context finished because another context directory had
newer file times, a shutdown drain that did not wait for the driver's last lines, server addresses
the agent refuses, and a Spark UI address without a scheme."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import replace
from http.server import ThreadingHTTPServer
from pathlib import Path

import orjson
import pytest

from agent.clock import FakeClock
from agent.config import ConfigError, load_config
from agent.parse import COMPLETION_NOT_SEEN
from agent.rest import RestPoller
from agent.runner import Agent
from tests.agent.conftest import REPO, AgentThread, IngestServer, agent_config
from tests.agent.test_review13_agent import _rest_of_it, _SparkUi, _stored, _until_the_stage, _write_log


def _append(path: Path, lines: list[dict]) -> None:
    with open(path, "ab") as f:
        f.write(b"".join(orjson.dumps(line) + b"\n" for line in lines))


def _task_end(i: int) -> dict:
    return {"Event": "SparkListenerTaskEnd", "Stage ID": 0, "Stage Attempt ID": 0,
            "Task End Reason": {"Reason": "Success"}, "Task Info": {"Launch Time": 1300, "Finish Time": 1400 + i},
            "Task Metrics": {"Executor Run Time": 7}}


# -- 1. a context is replaced only by one the agent saw grow --------------------------------------------
def _copy_in(src: Path, dst: Path, mtime_ns: int) -> None:
    """An old context put back into the event-log directory (a restore, ``cp -r``), its file times
    newer than everything of the live context (copied now, or written while the clock was ahead)."""
    shutil.copytree(src, dst)
    for f in dst.iterdir():
        os.utime(f, ns=(mtime_ns, mtime_ns))


def test_an_old_context_copied_in_with_newer_file_times_does_not_finish_the_live_one(tmp_path: Path,
                                                                                    ingest: IngestServer):
    """Reviewer's r1/r1b: the live context was finished for good (its stage sent flagged with 2 of 3
    tasks, its job and end lost) because a copied-in context's oldest file time was newer than its
    newest. Neither copy (one ended, one whose driver had died) grows, so neither replaces it."""
    logs, state, backup = tmp_path / "eventlogs", tmp_path / "state", tmp_path / "backup"
    (logs / "222").mkdir(parents=True)
    _write_log(logs / "222" / "eventlog", _until_the_stage("222"))
    for ctx, lines in (("111", _until_the_stage("111") + _rest_of_it()), ("100", _until_the_stage("100"))):
        (backup / ctx).mkdir(parents=True)
        _write_log(backup / ctx / "eventlog", lines)
    with AgentThread(agent_config(logs, state, ingest.address)) as run:
        assert ingest.servicer.wait_for(lambda: ("222", "app-start") in ingest.servicer.stored, 10)
        assert run.agent.wait_ticks(3, 5)
        later = time.time_ns() + 7200 * 10**9  # two hours ahead: a clock that was stepped back since
        _copy_in(backup / "111", logs / "111", later)
        _copy_in(backup / "100", logs / "100", later)
        assert ingest.servicer.wait_for(lambda: ("111", "app-end") in ingest.servicer.stored, 10)
        assert run.agent.wait_ticks(5, 5)
        live = run.agent.followers["databricks:222"]
        assert not live.superseded and not live.finished
        assert _stored(ingest, "222", "stage/0/0") is None  # still running: nothing sent for it yet
        rest = _rest_of_it()
        _append(logs / "222" / "eventlog", rest[:1])  # the live driver writes on
        # The live context grew while the dead copy did not: the copy is the one finished.
        assert ingest.servicer.wait_for(lambda: ("100", "stage/0/0") in ingest.servicer.stored, 10)
        _append(logs / "222" / "eventlog", rest[1:])
        assert ingest.servicer.wait_for(lambda: ("222", "app-end") in ingest.servicer.stored, 10)
        assert run.stop() == 0
    sc = _stored(ingest, "222", "stage/0/0").stage_completed
    assert (sc.failure_reason, sc.tasks_succeeded, sc.num_tasks) == ("", 3, 3)
    assert _stored(ingest, "222", "job/0") is not None
    assert _stored(ingest, "100", "stage/0/0").stage_completed.failure_reason == COMPLETION_NOT_SEEN
    saved = orjson.loads((state / "state.json").read_bytes())["apps"]
    assert saved["databricks:222"] == {"finished": True}  # by its own ApplicationEnd
    assert ingest.servicer.duplicates == 0


def test_a_driver_restart_finishes_the_old_context_once_the_new_one_grows(tmp_path: Path,
                                                                          ingest: IngestServer):
    """9b7f3c3's case as the agent sees it live: the old driver writes, dies mid-stage, a new context
    appears and grows. The old one is finished with its open stage flagged, whatever the file times
    say (here the dead one's look newer: its driver ran under a clock ahead)."""
    logs, state = tmp_path / "eventlogs", tmp_path / "state"
    (logs / "111").mkdir(parents=True)
    lines = _until_the_stage("111")
    _write_log(logs / "111" / "eventlog", lines[:4])
    with AgentThread(agent_config(logs, state, ingest.address)) as run:
        assert ingest.servicer.wait_for(lambda: ("111", "app-start") in ingest.servicer.stored, 10)
        _append(logs / "111" / "eventlog", lines[4:])  # two tasks end, then the driver dies
        assert run.agent.wait_ticks(3, 5)
        ahead = time.time_ns() + 3600 * 10**9
        os.utime(logs / "111" / "eventlog", ns=(ahead, ahead))
        (logs / "222").mkdir()
        _write_log(logs / "222" / "eventlog", _until_the_stage("222")[:2])
        assert run.agent.wait_ticks(3, 5)
        assert _stored(ingest, "111", "stage/0/0") is None  # the new context has not grown yet
        _append(logs / "222" / "eventlog", _until_the_stage("222")[2:])
        assert ingest.servicer.wait_for(lambda: ("111", "stage/0/0") in ingest.servicer.stored, 10)
        assert ingest.servicer.wait_for(lambda: run.agent.saved.get("databricks:111", {}).get("finished"), 10)
        assert not run.agent.followers["databricks:222"].superseded
        assert run.stop() == 0
    sc = _stored(ingest, "111", "stage/0/0").stage_completed
    assert (sc.failure_reason, sc.tasks_succeeded, sc.num_tasks) == (COMPLETION_NOT_SEEN, 2, 3)
    assert ingest.servicer.duplicates == 0


def test_a_context_that_grows_again_is_no_longer_taken_as_replaced(tmp_path: Path):
    """The flag is revocable until the context is finished: a context taken as replaced while it was
    still being read (a backlog) and that grows again is followed on, not finished."""
    logs = tmp_path / "eventlogs"
    for ctx in ("111", "222"):
        (logs / ctx).mkdir(parents=True)
    backlog = _until_the_stage("111")[:4] + [_task_end(i) for i in range(200)]  # ~40 KB: ten read budgets
    _write_log(logs / "111" / "eventlog", backlog)
    _write_log(logs / "222" / "eventlog", _until_the_stage("222")[:2])
    cfg = replace(agent_config(logs, tmp_path / "state", "127.0.0.1:1"), read_budget_bytes=4096)
    a = Agent(cfg)
    try:
        a.tick()
        _append(logs / "222" / "eventlog", [_until_the_stage("222")[2]])
        a.tick()  # seen growing: it counts once read, from the next pass
        a.tick()
        old = a.followers["databricks:111"]
        assert old.superseded and not old.finished and not old.at_end  # taken as replaced, still reading
        _append(logs / "111" / "eventlog", [_task_end(1000)])  # its driver is live after all
        a.tick()
        assert not old.superseded
        for _ in range(30):
            a.tick()
        assert old.at_end and not old.finished and old.parser.open_stages
        assert "databricks:111" not in {k for k, v in a.saved.items() if v.get("finished")}
    finally:
        a.close()


def test_only_a_growing_context_that_has_not_ended_replaces_another(tmp_path: Path):
    """Pass by pass: first sight is not growth, nor a file time; a growth counts from the pass after it
    was seen (its lines read); a context that grew in the pass another first appeared in, or after, is
    not replaced by it."""
    from agent.follow.discover import discover

    logs = tmp_path / "eventlogs"
    for ctx in ("1", "2"):
        (logs / ctx).mkdir(parents=True)
        _write_log(logs / ctx / "eventlog", _until_the_stage(ctx)[:2])
    a = Agent(agent_config(logs, tmp_path / "state", "127.0.0.1:1"))
    try:
        assert a._superseded(discover(logs)) == {}
        assert a._superseded(discover(logs)) == {}  # nothing grew
        os.utime(logs / "2" / "eventlog", ns=(10**18, 10**18))
        assert a._superseded(discover(logs)) == {}  # a file time is not growth
        _append(logs / "2" / "eventlog", [_until_the_stage("2")[2]])
        assert a._superseded(discover(logs)) == {}  # seen growing now: read in this pass first
        assert a._superseded(discover(logs)) == {"databricks:1": "databricks:2"}
        (logs / "3").mkdir()
        _write_log(logs / "3" / "eventlog", _until_the_stage("3")[:2])
        _append(logs / "2" / "eventlog", [_until_the_stage("2")[3]])
        assert a._superseded(discover(logs)) == {"databricks:1": "databricks:2"}  # 2 grew as 3 appeared
        _append(logs / "3" / "eventlog", [_until_the_stage("3")[2]])
        assert a._superseded(discover(logs)) == {"databricks:1": "databricks:2"}
        assert a._superseded(discover(logs)) == {"databricks:1": "databricks:2"}
    finally:
        a.close()


def test_a_complete_context_caught_while_copied_in_replaces_nothing(tmp_path: Path):
    """An old, complete context seen half copied, then grown to its ApplicationEnd: its growth counts
    only once read, and by then it has ended, so the quiet live context is left alone."""
    logs = tmp_path / "eventlogs"
    for ctx in ("5", "6"):
        (logs / ctx).mkdir(parents=True)
    _write_log(logs / "5" / "eventlog", _until_the_stage("5"))
    copy = _until_the_stage("6") + _rest_of_it()
    _write_log(logs / "6" / "eventlog", copy[:3])
    a = Agent(agent_config(logs, tmp_path / "state", "127.0.0.1:1"))
    try:
        a.tick()
        _append(logs / "6" / "eventlog", copy[3:])
        for _ in range(3):
            a.tick()
        assert a.saved.get("databricks:6") == {"finished": True}
        live = a.followers["databricks:5"]
        assert not live.superseded and not live.finished and live.parser.open_stages
    finally:
        a.close()


# -- 2. the shutdown drain waits for the driver's last lines -------------------------------------------
_SHUTDOWN_LINES: list[dict] = [
    {"Event": "SparkListenerStageCompleted", "Stage Info": {
        "Stage ID": 0, "Stage Attempt ID": 0, "Stage Name": "map at job.py:1", "Number of Tasks": 3,
        "Submission Time": 1200, "Completion Time": 1600,
        "Failure Reason": "Job 0 cancelled because SparkContext was shut down"}},
    {"Event": "SparkListenerJobEnd", "Job ID": 0, "Completion Time": 1700,
     "Job Result": {"Result": "JobFailed", "Exception": {"Message": "SparkContext was shut down"}}},
    {"Event": "SparkListenerApplicationEnd", "Timestamp": 1800},
]


class _DriverClock(FakeClock):
    """The agent's clock, advanced by its own waits; the driver's writes are scheduled on it: each
    ``(at, path, lines)`` is appended once the clock reaches ``at`` (the driver got SIGTERM too)."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[tuple[float, Path, list[dict]]] = []

    def wait(self, event: threading.Event, seconds: float) -> bool:
        done = super().wait(event, seconds)
        due = [w for w in self.writes if w[0] <= self.now]
        self.writes = [w for w in self.writes if w[0] > self.now]
        for _, path, lines in due:
            _append(path, lines)
        return done


def _stopping_agent(logs: Path, state: Path, server: str, clock: _DriverClock) -> Agent:
    """An agent that has read the log (its stage open), then got SIGTERM: ``run`` goes to the drain."""
    cfg = replace(agent_config(logs, state, server), poll_interval_s=0.5, shutdown_flush_s=8.0)
    a = Agent(cfg, clock)
    a.tick()
    a.tick()
    a.stop()
    return a


def test_the_drain_reads_what_the_drivers_shutdown_hook_writes_after_the_signal(tmp_path: Path,
                                                                               ingest: IngestServer):
    """Reviewer's r5: the driver writes StageCompleted, JobEnd and ApplicationEnd 300 ms after SIGTERM.
    The drain stopped after two back-to-back passes (milliseconds): the stage went flagged 2/3 for
    good and the job's and application's ends were lost. It now waits between passes until the logs
    have been quiet for 1 s (of its 4 s)."""
    logs, state = tmp_path / "eventlogs", tmp_path / "state"
    (logs / "333").mkdir(parents=True)
    _write_log(logs / "333" / "eventlog", _until_the_stage("333"))
    clock = _DriverClock()
    a = _stopping_agent(logs, state, ingest.address, clock)
    assert a.followers["databricks:333"].parser.open_stages
    signalled = clock.now
    clock.writes.append((signalled + 0.3, logs / "333" / "eventlog", _SHUTDOWN_LINES))
    assert a.run() == 0
    sc = _stored(ingest, "333", "stage/0/0").stage_completed
    assert (sc.failure_reason, sc.tasks_succeeded) == ("Job 0 cancelled because SparkContext was shut down", 2)
    assert _stored(ingest, "333", "job/0") is not None and _stored(ingest, "333", "app-end") is not None
    assert ingest.servicer.duplicates == 0
    # It waited a poll interval between passes, stopped after 1 s with nothing new after the 0.5 s pass
    # that read the end, within half the shutdown bound.
    assert 0.5 in clock.waits
    assert 1.5 <= clock.now - signalled <= 4.0


def test_a_log_that_keeps_growing_is_read_until_the_drains_deadline_and_not_flushed(tmp_path: Path,
                                                                                  ingest: IngestServer):
    """The drain is bounded by half the shutdown bound however busy the log; a log read from during
    the quiet period keeps its open stage (its end may still come; a restart reads on)."""
    logs, state = tmp_path / "eventlogs", tmp_path / "state"
    (logs / "333").mkdir(parents=True)
    _write_log(logs / "333" / "eventlog", _until_the_stage("333"))
    clock = _DriverClock()
    a = _stopping_agent(logs, state, ingest.address, clock)
    signalled = clock.now
    beat = {"Event": "SparkListenerExecutorMetricsUpdate", "Executor ID": "1", "Executor Metrics Updated": []}
    clock.writes.extend((signalled + 0.25 + 0.5 * i, logs / "333" / "eventlog", [beat]) for i in range(20))
    assert a.run() == 0
    assert 4.0 <= clock.now - signalled < 4.6  # the drain's deadline, then the sender (nothing left to send)
    assert _stored(ingest, "333", "stage/0/0") is None
    assert a.followers["databricks:333"].parser.open_stages


def test_an_idle_log_is_flushed_after_the_quiet_period(tmp_path: Path, ingest: IngestServer):
    """A driver that died mid-stage writes nothing after the signal: its open stage is sent flagged
    once the logs have been quiet for 1 s, not before."""
    logs, state = tmp_path / "eventlogs", tmp_path / "state"
    (logs / "333").mkdir(parents=True)
    _write_log(logs / "333" / "eventlog", _until_the_stage("333"))
    clock = _DriverClock()
    a = _stopping_agent(logs, state, ingest.address, clock)
    signalled = clock.now
    assert a.run() == 0
    sc = _stored(ingest, "333", "stage/0/0").stage_completed
    assert (sc.failure_reason, sc.tasks_succeeded) == (COMPLETION_NOT_SEEN, 2)
    assert 1.0 <= clock.now - signalled <= 1.5


# -- 4. a Spark UI address without a scheme ------------------------------------------------------------
def test_a_spark_ui_without_a_scheme_gets_http_and_is_polled(caplog: pytest.LogCaptureFixture):
    """Reviewer's r6b: TRIMTAB_SPARK_UI=10.0.0.5:4040 was taken and every REST poll then failed
    ('unknown url type'), logged once as 'not usable yet'. http:// is added at start, and said."""
    ui = ThreadingHTTPServer(("127.0.0.1", 0), _SparkUi)
    threading.Thread(target=ui.serve_forever, daemon=True).start()
    try:
        with caplog.at_level(logging.INFO, logger="trimtab.agent.config"):
            cfg = load_config({"server": "h:1"}, env={"TRIMTAB_TOKEN": "t",
                                                      "TRIMTAB_SPARK_UI": f" 127.0.0.1:{ui.server_port} "})
        assert cfg.spark_ui == f"http://127.0.0.1:{ui.server_port}"
        assert f"has no scheme: using http://127.0.0.1:{ui.server_port}" in caplog.text
        assert "TRIMTAB_SPARK_UI" in caplog.text
        poller = RestPoller(cfg.spark_ui)
        events, dropped = poller.poll(1000, lambda spark_id: "app-1" if spark_id == "app-1" else None)
        assert poller.failures == 0 and dropped == {"eventLog": 7}
        assert [e.key for e in events] == ["gauges/driver/1000"]
    finally:
        ui.shutdown()
        ui.server_close()
    for given in ("http://10.0.0.5:4040", "https://ui.example:443/", ""):
        assert load_config({"server": "h:1", "spark_ui": given}, env={"TRIMTAB_TOKEN": "t"}).spark_ui == given


@pytest.mark.parametrize("given", ["ftp://10.0.0.5:4040", "http://", "http://10.0.0.5:99999", "10.0.0.5:ui",
                                   "http://10.0.0.5 :4040", "10.0.0.5:0"])
def test_a_spark_ui_the_poller_cannot_use_stops_the_agent_naming_the_setting(given: str):
    with pytest.raises(ConfigError, match=r"for setting spark_ui \(env TRIMTAB_SPARK_UI\), from env "
                                          r"TRIMTAB_SPARK_UI: .*http://"):
        load_config({"server": "h:1"}, env={"TRIMTAB_TOKEN": "t", "TRIMTAB_SPARK_UI": given})


def test_the_agent_exits_2_on_a_spark_ui_it_cannot_use(tmp_path: Path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "TRIMTAB_TOKEN": "t", "TRIMTAB_SPARK_UI": "ftp://10.0.0.5:4040"}
    proc = subprocess.run([sys.executable, "-m", "agent.cli", "run", "--eventlog-dir", str(tmp_path / "logs"),
                           "--server", "127.0.0.1:1", "--state-dir", str(tmp_path / "state")],
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "bad configuration: bad value 'ftp://10.0.0.5:4040' for setting spark_ui" in proc.stderr
