"""Damaged log lines never make an event the server refuses (review; repro typemismatch-style lines).

The server checks each event (server/translate.py ``check_event``) and refused the whole batch for
one bad event with INVALID_ARGUMENT; the agent then parked the batch with all its valid events. Lines
that did it: an executor removal without a Timestamp, an executor added without an Executor ID,
timestamps of -5 or 1e17. Now such a line is dropped as corrupt (counted, its segment named once)
when no event can be made of it, and an impossible time elsewhere is sent as 0 ("unknown").
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import grpc
import pytest

from agent.encode import encode_event
from agent.events import AppStarted, PlainEvent
from agent.follow.app import AppFollower, ReadCounters
from agent.follow.discover import SegmentLister, discover
from agent.parse import AppParser, refusal
from protos.trimtab.v1 import ingest_pb2
from server.errors import InvalidArgument
from server.translate import check_event
from tests.agent.conftest import AgentThread, IngestServer, RecordingIngest, agent_config

Line = dict[str, Any]
BAD_TIMES = (-5, 1e17, "soon", None)

# Each damaged line, and whether it is dropped as corrupt (True) or repaired (False).
DAMAGED: list[tuple[Line, bool]] = [
    ({"Event": "SparkListenerExecutorRemoved", "Executor ID": "3", "Removed Reason": "lost"}, True),
    ({"Event": "SparkListenerExecutorRemoved", "Executor ID": "4", "Timestamp": -5, "Removed Reason": "x"}, True),
    ({"Event": "SparkListenerExecutorRemoved", "Executor ID": "5", "Timestamp": 1e17}, True),
    ({"Event": "SparkListenerExecutorRemoved", "Timestamp": 50}, True),
    ({"Event": "SparkListenerExecutorAdded", "Timestamp": 5, "Executor Info": {"Host": "h", "Total Cores": 4}}, True),
    ({"Event": "SparkListenerExecutorAdded", "Executor ID": " ", "Timestamp": 5}, True),
    ({"Event": "SparkListenerExecutorAdded", "Executor ID": "a\u0000b", "Timestamp": 5}, True),
    ({"Event": "SparkListenerExecutorAdded", "Executor ID": "x" * 300, "Timestamp": 5}, True),
    ({"Event": "SparkListenerStageExecutorMetrics", "Stage ID": 0, "Stage Attempt ID": 0,
      "Executor Metrics": {"JVMHeapMemory": 5}}, True),
    ({"Event": "SparkListenerTaskEnd", "Stage ID": -2, "Stage Attempt ID": 0,
      "Task End Reason": {"Reason": "Success"}}, True),
    ({"Event": "SparkListenerExecutorAdded", "Executor ID": "7", "Timestamp": -5,
      "Executor Info": {"Host": "h", "Total Cores": 4}}, False),
    ({"Event": "SparkListenerExecutorAdded", "Executor ID": "8", "Timestamp": 1e17,
      "Executor Info": {"Host": "h", "Total Cores": 4}}, False),
    ({"Event": "SparkListenerExecutorMetricsUpdate", "Executor ID": "driver", "Executor Metrics Updated": [
        {"Executor Metrics": {"": 7, "x" * 300: 9, "JVMHeapMemory": 1000}}]}, False),
]


def _log(damaged: list[Line]) -> list[Line]:
    """A small application whose every time field is impossible, plus the damaged lines."""
    return [
        {"Event": "SparkListenerApplicationStart", "App ID": "app-1", "App Name": "x", "Timestamp": -5},
        {"Event": "SparkListenerExecutorAdded", "Executor ID": "1", "Timestamp": 1e17,
         "Executor Info": {"Host": "h", "Total Cores": 4}},
        {"Event": "SparkListenerJobStart", "Job ID": 0, "Stage IDs": [0], "Submission Time": -5, "Properties": {}},
        {"Event": "SparkListenerStageSubmitted", "Stage Info": {"Stage ID": 0, "Stage Attempt ID": 0}},
        {"Event": "SparkListenerTaskEnd", "Stage ID": 0, "Stage Attempt ID": 0,
         "Task End Reason": {"Reason": "Success"}, "Task Info": {"Launch Time": 1, "Finish Time": 5}},
        *damaged,
        {"Event": "SparkListenerStageCompleted", "Stage Info": {"Stage ID": 0, "Stage Attempt ID": 0,
                                                                "Submission Time": 1e17, "Completion Time": -5}},
        {"Event": "SparkListenerJobEnd", "Job ID": 0, "Completion Time": 1e17,
         "Job Result": {"Result": "JobSucceeded"}},
        {"Event": "org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionStart", "executionId": 0,
         "description": "q", "time": -5},
        {"Event": "org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionEnd", "executionId": 0, "time": 1e17},
        {"Event": "SparkListenerExecutorRemoved", "Executor ID": "1", "Timestamp": 20, "Removed Reason": "ok"},
        {"Event": "SparkListenerApplicationEnd", "Timestamp": 1e17},
    ]


def _accepted(events: list[PlainEvent]) -> None:
    for i, e in enumerate(events):
        check_event(encode_event(e), i)  # raises InvalidArgument for what the server refuses


def test_every_event_made_from_damaged_lines_passes_the_servers_checks():
    p = AppParser()
    out: list[PlainEvent] = []
    dropped = 0
    for i, line in enumerate(_log([line for line, _ in DAMAGED])):
        try:
            out += p.feed(line, (0, i))
        except ValueError:
            dropped += 1  # the follower counts it as a corrupt line
    out += p.finish()
    _accepted(out)
    assert dropped == sum(drop for _, drop in DAMAGED)
    keys = [e.key for e in out]
    for want in ("app-start", "executor-added/1", "executor-added/7", "executor-added/8", "stage/0/0", "job/0",
                 "sql/0", "executor-removed/1", "app-end"):
        assert want in keys
    assert not [k for k in keys if k.startswith("executor-removed/") and k != "executor-removed/1"]
    bodies = {e.key: e.body for e in out}
    assert bodies["executor-added/8"].time_ms == 0 and bodies["app-end"].end_time_ms == 0  # type: ignore[union-attr]
    assert bodies["executor-removed/1"].time_ms == 20  # type: ignore[union-attr]
    driver = [e.body for e in out if e.key.startswith("driver/")]
    assert driver and all(set(b.metrics) == {"JVMHeapMemory"} for b in driver)  # type: ignore[union-attr]
    assert p.events_refused == 0  # the handlers caught everything; the last check had nothing to stop


@pytest.mark.parametrize("value", BAD_TIMES)
def test_a_removal_line_with_each_bad_time_is_corrupt_and_a_good_one_still_counts(value: Any):
    p = AppParser("app-1")
    with pytest.raises(ValueError, match="Timestamp"):
        p.feed({"Event": "SparkListenerExecutorRemoved", "Executor ID": "3", "Timestamp": value}, (0, 0))
    # Nothing was recorded for it: a good line for the same executor later is still sent.
    out = p.feed({"Event": "SparkListenerExecutorRemoved", "Executor ID": "3", "Timestamp": 30}, (0, 1))
    assert [e.key for e in out] == ["executor-removed/3"]


def test_the_last_check_stops_what_the_server_would_refuse(caplog: pytest.LogCaptureFixture):
    p = AppParser("app-1")
    start = AppStarted("other", "s", "", "", "", "", 0, "", "", "", "", "", {}, "")
    with caplog.at_level(logging.WARNING, logger="trimtab.agent.parse"):
        out = p._stamp([("app-start", start), ("x" * 600, start), ("", start)])
    assert [e.key for e in out] == ["app-start"] and out[0].body.application_id == "app-1"  # type: ignore[union-attr]
    assert p.events_refused == 2 and len(caplog.records) == 1
    assert refusal(PlainEvent("k", "app-1", start)) is None and refusal(PlainEvent("k", "app-2", start))
    long_app = AppParser(fallback_id="fallback-1")
    long_app.feed({"Event": "SparkListenerApplicationStart", "App ID": "a" * 300, "Timestamp": 1}, (0, 0))
    assert [e.application_id for e in long_app.finish()] == ["fallback-1"]


def _write(path: Path, lines: list[Line]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(e, separators=(",", ":")) + "\n" for e in lines))


def test_the_follower_counts_dropped_lines_as_corrupt_and_names_the_segment_once(
        tmp_path: Path, caplog: pytest.LogCaptureFixture):
    _write(tmp_path / "logs" / "app-1", _log([line for line, _ in DAMAGED]))
    counters = ReadCounters()
    follower = AppFollower(discover(tmp_path / "logs")[0], SegmentLister(), counters, 1 << 20)
    with caplog.at_level(logging.WARNING, logger="trimtab.agent.follow"):
        events = [e for _ in range(3) for e in follower.poll(1 << 20)]
    assert follower.finished
    _accepted(events)
    assert counters.lines_corrupt == sum(drop for _, drop in DAMAGED)
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


class CheckingIngest(RecordingIngest):
    """Refuses a batch holding an event the server's checks refuse, as the server did (and parks)."""

    def SendBatch(self, request: ingest_pb2.EventBatch, context: grpc.ServicerContext) -> ingest_pb2.BatchAck:
        for i, ev in enumerate(request.events):
            try:
                check_event(ev, i)
            except InvalidArgument as exc:
                with self.cond:
                    self.calls += 1
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        return super().SendBatch(request, context)


def test_the_agent_delivers_every_valid_event_of_a_damaged_log(tmp_path: Path):
    srv = IngestServer(CheckingIngest()).start()
    try:
        logs = tmp_path / "logs"
        _write(logs / "app-1", _log([line for line, _ in DAMAGED]))
        with AgentThread(agent_config(logs, tmp_path / "state", srv.address)) as t:
            s = srv.servicer
            assert s.wait_for(lambda: ("app-1", "app-end") in s.stored, 20)
            t.stop()
        assert t.agent.spool.parked() == 0 and t.agent.spool.snapshot_counters().batches_rejected == 0
        assert {"stage/0/0", "job/0", "sql/0", "executor-removed/1"} <= {k for _, k in s.stored}
    finally:
        srv.stop()
