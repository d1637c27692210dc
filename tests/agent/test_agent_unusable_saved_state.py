"""A saved read position the agent cannot use (a damaged state.json) once made every pass of the
follower loop raise, so the application was never read again; now it is read from its start."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from tests.agent.conftest import AgentThread, IngestServer, agent_config


def test_an_unusable_saved_position_reads_the_application_again(ingest: IngestServer, tmp_path: Path,
                                                                 caplog: pytest.LogCaptureFixture):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "app-1").write_text("".join(json.dumps(e) + "\n" for e in [
        {"Event": "SparkListenerApplicationStart", "App ID": "app-1", "App Name": "x", "Timestamp": 1},
        {"Event": "SparkListenerApplicationEnd", "Timestamp": 10}]))
    state = tmp_path / "state"
    state.mkdir()
    (state / "state.json").write_text(json.dumps(
        {"version": 1, "apps": {"single:app-1": {"pos": {"bogus": 1}, "finished": False}}, "read": {}}))
    caplog.set_level(logging.INFO, logger="trimtab.agent")
    with AgentThread(agent_config(logs, state, ingest.address)) as t:
        s = ingest.servicer
        assert s.wait_for(lambda: ("app-1", "app-end") in s.stored, 20), sorted(s.stored)
        t.stop()
    assert t.agent.tick_errors == 0
    warns = [r.getMessage() for r in caplog.records if "saved read position unusable" in r.getMessage()]
    assert len(warns) == 1 and warns[0].startswith("single:app-1: ")
    assert json.loads((state / "state.json").read_text())["apps"] == {"single:app-1": {"finished": True}}
