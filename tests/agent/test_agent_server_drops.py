"""The agent says what the real server dropped from a batch (``BatchAck.dropped_events``)."""

from __future__ import annotations

import logging
import random
import time
from pathlib import Path

import pytest

from agent.clock import SystemClock
from agent.send import Sender, SenderSettings
from agent.spool import Spool
from protos.trimtab.v1 import ingest_pb2
from server.config import ServerConfig
from server.serve import start_server


def test_events_the_server_dropped_are_counted_and_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # The server stores a batch's valid events and drops invalid ones, naming them in its ack; the
    # sender discarded the ack, so nobody on the cluster side learned of the drop.
    running = start_server(ServerConfig(listen="127.0.0.1:0", http="", collect=0, state_dir=tmp_path / "server"))
    try:
        _, token = running.store.tokens.create("agents", "agent")
        spool = Spool(tmp_path / "spool", 1 << 20)
        good = ingest_pb2.Event(key="app-start", application_id="app-1", application_start=ingest_pb2.ApplicationStart(
            application_id="app-1", spark_app_id="app-1", app_name="x", start_time_ms=1000))
        bad = ingest_pb2.Event(key="exec-removed/1", application_id="app-1",
                               executor_removed=ingest_pb2.ExecutorRemoved(executor_id="1"))  # no time
        spool.put(ingest_pb2.EventBatch(batch_id="b1", agent=ingest_pb2.AgentInfo(agent_id="agent-1"), events=[good, bad]).SerializeToString(), 2)
        sender = Sender(spool, SenderSettings(running.address, token), SystemClock(), prepare=lambda b: None,
                        rng=random.Random(1))
        with caplog.at_level(logging.WARNING, logger="trimtab.agent.send"):
            sender.start()
            try:
                for _ in range(200):
                    if spool.pending() == (0, 0):
                        break
                    time.sleep(0.05)
            finally:
                sender.stop(1.0)
        assert spool.pending() == (0, 0)  # acknowledged, not parked
        assert sender.events_dropped_by_server == 1
        (line,) = [r.getMessage() for r in caplog.records if r.name == "trimtab.agent.send" and "dropped" in r.getMessage()]
        assert "dropped 1 invalid event(s) of batch b1" in line and "executor_removed.time_ms" in line
        assert running.store.applications.event_count() == 1
    finally:
        running.stop(0)
