"""A file whose name is not UTF-8 in the event-log directory.

Python lists such a name with lone surrogates, which orjson refuses: saving the checkpoint failed
for every application, so no read position was saved again, and the follower loop logged a
traceback every poll (137 in 3 s). Now the name is skipped with one WARNING, a state JSON cannot
hold costs only its own application, and the loop's tracebacks are throttled.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import orjson
import pytest

from agent import runner
from agent.checkpoint import CheckpointStore
from agent.follow.discover import discover
from tests.agent.conftest import AgentThread, IngestServer, agent_config


def _app_log(path: Path, app_id: str) -> None:
    lines = [
        {"Event": "SparkListenerApplicationStart", "App ID": app_id, "App Name": "x", "Timestamp": 1},
        {"Event": "SparkListenerJobStart", "Job ID": 0, "Stage IDs": [], "Properties": {}},
        {"Event": "SparkListenerJobEnd", "Job ID": 0, "Completion Time": 9, "Job Result": {"Result": "JobSucceeded"}},
        {"Event": "SparkListenerApplicationEnd", "Timestamp": 10},
    ]
    path.write_text("".join(json.dumps(e) + "\n" for e in lines))


def _not_utf8(logs: Path, name: bytes, content: bytes = b"") -> None:
    fd = os.open(os.fsencode(logs) + b"/" + name, os.O_CREAT | os.O_WRONLY)
    try:
        os.write(fd, content)
    finally:
        os.close(fd)


def test_a_name_that_is_not_utf8_is_skipped_with_one_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    logs = tmp_path / "logs"
    logs.mkdir()
    _app_log(logs / "app-1", "app-1")
    _not_utf8(logs, b"app-\xff.inprogress")
    os.mkdir(os.fsencode(logs) + b"/eventlog_v2_app-\xfe")
    with caplog.at_level(logging.WARNING, logger="trimtab.agent.follow"):
        for _ in range(3):  # discover runs every poll: the warning does not
            assert [s.app_key for s in discover(logs)] == ["single:app-1"]
    warns = [r.getMessage() for r in caplog.records]
    assert len(warns) == 2, warns
    assert any("'app-\\xff.inprogress'" in w and "not valid UTF-8" in w for w in warns)
    assert any("'eventlog_v2_app-\\xfe'" in w for w in warns)


def test_the_agent_saves_positions_and_delivers_beside_such_a_file(ingest: IngestServer, tmp_path: Path,
                                                                  caplog: pytest.LogCaptureFixture):
    logs = tmp_path / "logs"
    logs.mkdir()
    _not_utf8(logs, b"app-\xfd", b'{"Event":"SparkListenerApplicationStart","App ID":"bad"}\n')
    _app_log(logs / "app-1", "app-1")
    cfg = agent_config(logs, tmp_path / "state", ingest.address)
    caplog.set_level(logging.INFO, logger="trimtab.agent")
    with AgentThread(cfg) as t:
        s = ingest.servicer
        assert s.wait_for(lambda: ("app-1", "app-end") in s.stored, 20), sorted(s.stored)
        assert t.agent.wait_ticks(20, 20)
        t.stop()
    assert {a for a, _ in s.stored} == {"app-1"}
    state = orjson.loads((tmp_path / "state" / "state.json").read_bytes())
    assert state["apps"] == {"single:app-1": {"finished": True}}
    messages = [r.getMessage() for r in caplog.records]
    assert not [m for m in messages if "follower loop error" in m]
    assert len([m for m in messages if "not valid UTF-8" in m]) == 1


def test_a_state_json_cannot_hold_costs_only_its_own_application(tmp_path: Path,
                                                                 caplog: pytest.LogCaptureFixture):
    store = CheckpointStore(tmp_path / "state")
    bad = os.fsdecode(b"single:app-\xff")
    apps = {"single:app-1": {"counted": [0, 7], "finished": False}, bad: {"finished": False}}
    with caplog.at_level(logging.WARNING, logger="trimtab.agent"):
        store.save(apps, {"events_read": 3})
        store.save(apps, {"events_read": 4})
    assert store.load()["apps"] == {"single:app-1": {"counted": [0, 7], "finished": False}}
    assert store.load()["read"] == {"events_read": 4}
    warns = [r.getMessage() for r in caplog.records]
    assert len(warns) == 1 and "'single:app-\\xff'" in warns[0] and "the other applications are saved" in warns[0]


def test_the_loops_tracebacks_are_throttled(ingest: IngestServer, tmp_path: Path,
                                            caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch):
    logs = tmp_path / "logs"
    logs.mkdir()
    broken = {"on": True}
    real_discover = runner.discover

    def failing_discover(root: Path) -> list:
        if broken["on"]:
            raise RuntimeError("a bug in the follower loop")
        return real_discover(root)

    # A deliberate bug: no real input makes the loop raise once the faults above are fixed.
    monkeypatch.setattr(runner, "discover", failing_discover)
    caplog.set_level(logging.DEBUG, logger="trimtab.agent")
    with AgentThread(agent_config(logs, tmp_path / "state", ingest.address)) as t:
        assert t.agent.wait_ticks(30, 20)
        broken["on"] = False
        assert t.agent.wait_ticks(3, 20)
        t.stop()
    assert t.agent.tick_errors >= 30
    tracebacks = [r for r in caplog.records if r.levelno == logging.ERROR and r.exc_info]
    assert len(tracebacks) == 1 and "repeated at most every 300 s" in tracebacks[0].getMessage()
    again = [r for r in caplog.records if r.levelno == logging.DEBUG and "follower loop error again" in r.getMessage()]
    assert len(again) == t.agent.tick_errors - 1
    assert [r.getMessage() for r in caplog.records if "works again" in r.getMessage()] == [
        f"follower loop works again ({t.agent.tick_errors} unexpected error(s) so far)"]
