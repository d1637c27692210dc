"""A valid JSON line of an unexpected shape costs that line only.

`"Task End Reason": "Success"` (a string where Spark writes an object) made a parse handler raise;
the follower fed lines unguarded, so the whole read (up to a read budget: the application's start
line with it) was lost and nothing was counted. Now the line is counted as corrupt, its segment is
named once, and every other line of the read is delivered.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from agent.follow.app import AppFollower, ReadCounters
from agent.follow.discover import SegmentLister, discover
from tests.agent.conftest import AgentThread, IngestServer, agent_config

ODD = [
    {"Event": "SparkListenerTaskEnd", "Stage ID": 0, "Stage Attempt ID": 0, "Task End Reason": "Success"},
    {"Event": "SparkListenerExecutorAdded", "Executor ID": "1", "Timestamp": 5, "Executor Info": "big"},
]


def _write_log(path: Path, odd: list[dict[str, Any]]) -> None:
    events: list[dict[str, Any]] = [
        {"Event": "SparkListenerApplicationStart", "App ID": "app-1", "App Name": "x", "Timestamp": 1},
        {"Event": "SparkListenerJobStart", "Job ID": 0, "Stage IDs": [0, 1], "Properties": {}},
        {"Event": "SparkListenerStageSubmitted", "Stage Info": {"Stage ID": 0, "Stage Attempt ID": 0}},
        *odd[:1],
        {"Event": "SparkListenerStageCompleted", "Stage Info": {"Stage ID": 0, "Stage Attempt ID": 0}},
        {"Event": "SparkListenerStageSubmitted", "Stage Info": {"Stage ID": 1, "Stage Attempt ID": 0}},
        {"Event": "SparkListenerStageCompleted", "Stage Info": {"Stage ID": 1, "Stage Attempt ID": 0}},
        *odd[1:],
        {"Event": "SparkListenerJobEnd", "Job ID": 0, "Completion Time": 9, "Job Result": {"Result": "JobSucceeded"}},
        {"Event": "SparkListenerApplicationEnd", "Timestamp": 10},
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(e, separators=(",", ":")) + "\n" for e in events))


def test_one_odd_line_is_counted_and_the_rest_of_the_read_delivered(tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture):
    logs = tmp_path / "logs"
    _write_log(logs / "app-1", ODD)
    counters = ReadCounters()
    follower = AppFollower(discover(logs)[0], SegmentLister(), counters, 1 << 20)
    keys: list[str] = []
    with caplog.at_level(logging.WARNING, logger="trimtab.agent.follow"):
        for _ in range(3):  # one read takes the whole file: every line is in the same chunk
            keys += [e.key for e in follower.poll(1 << 20)]
    assert keys == ["app-start", "stage/0/0", "stage/1/0", "job/0", "app-end"]
    assert follower.finished
    assert counters.lines_corrupt == len(ODD)
    warns = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warns) == 1, warns  # the segment is named once, however many of its lines are odd
    assert str(logs / "app-1") in warns[0] and "SparkListenerTaskEnd" in warns[0]
    assert "later lines are still read" in warns[0]

    # A replay of the same lines (a restart before the checkpoint moved) does not count them again.
    again = AppFollower(discover(logs)[0], SegmentLister(), counters, 1 << 20,
                        saved={"counted": list(follower.counted)})
    for _ in range(3):
        again.poll(1 << 20)
    assert counters.lines_corrupt == len(ODD)


def test_the_agent_delivers_an_application_with_an_odd_line(ingest: IngestServer, tmp_path: Path):
    logs = tmp_path / "logs"
    _write_log(logs / "app-1", ODD)
    with AgentThread(agent_config(logs, tmp_path / "state", ingest.address)) as t:
        s = ingest.servicer
        assert s.wait_for(lambda: ("app-1", "app-end") in s.stored, 20), sorted(s.stored)
        assert s.wait_for(lambda: s.last_counters is not None and s.last_counters.lines_corrupt == 2, 20)
        t.stop()
    assert {k for _, k in s.stored} >= {"app-start", "stage/0/0", "stage/1/0", "job/0", "app-end"}


def test_a_job_end_whose_result_is_a_bare_string_is_still_sent() -> None:
    # Review: "Job Result": "JobSucceeded" (a string) raised after the job was marked done, so the job
    # was never sent, not even from a later, well-formed JobEnd line for it.
    from agent.parse import AppParser

    parser = AppParser()
    emitted = []
    for position, line in enumerate(({"Event": "SparkListenerApplicationStart", "App ID": "app-1", "App Name": "x",
                                      "Timestamp": 1},
                                     {"Event": "SparkListenerJobStart", "Job ID": 3, "Submission Time": 2,
                                      "Stage IDs": [], "Properties": {}},
                                     {"Event": "SparkListenerJobEnd", "Job ID": 3, "Completion Time": 9,
                                      "Job Result": "JobSucceeded"})):
        emitted += parser.feed(line, position)
    jobs = [e for e in emitted if e.key == "job/3"]
    assert len(jobs) == 1 and jobs[0].body.succeeded
