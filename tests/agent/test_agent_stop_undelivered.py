"""An agent stopped with batches it could not deliver says so as a WARNING, with what is lost.

A job cluster that ends while the server is away takes its driver's disk, and the spool on it,
along: the stop line was an INFO ("stopped; 1 batch(es) left in the spool"), and the server
never hears of those batches (counters travel only with delivered ones).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import pytest

from agent.spool import _parse_name
from tests.agent import many_stages
from tests.agent.conftest import AgentThread, IngestServer, RecordingIngest, agent_config


def test_stop_with_undelivered_batches_is_a_warning_naming_batches_and_events(tmp_path: Path,
                                                                              caplog: pytest.LogCaptureFixture):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / f"{many_stages.APP_ID}.inprogress").write_bytes(b"".join(many_stages.lines(300)))
    srv = IngestServer(RecordingIngest()).start()
    srv.stop()  # the server is away for the whole run
    cfg = replace(agent_config(logs, tmp_path / "state", srv.address, batch_max_events=100), shutdown_flush_s=1.0)
    caplog.set_level(logging.INFO, logger="trimtab.agent")
    with AgentThread(cfg) as run:
        for _ in range(500):
            if run.agent.spool.pending()[0] >= 3:
                break
            run.agent.wait_ticks(1, 5)
        assert run.stop() == 0
    spooled = [p for f in (tmp_path / "state" / "spool").glob("*.batch") if (p := _parse_name(f.name))]
    batches, events = len(spooled), sum(e for _, e in spooled)
    assert batches >= 3
    last = caplog.records[-1]
    assert last.levelno == logging.WARNING, last.getMessage()
    msg = last.getMessage()
    assert msg.startswith(f"trimtab-agent stopped with {batches} batch(es) ({events} events) not delivered to "
                          f"{srv.address}"), msg
    assert "lost if the node ends" in msg and "trimtab project backfill" in msg


def test_stop_with_nothing_left_stays_an_info(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / f"{many_stages.APP_ID}.inprogress").write_bytes(b"".join(many_stages.lines(20)))
    srv = IngestServer(RecordingIngest()).start()
    cfg = agent_config(logs, tmp_path / "state", srv.address)
    caplog.set_level(logging.INFO, logger="trimtab.agent")
    try:
        with AgentThread(cfg) as run:
            assert srv.servicer.wait_for(lambda: len(srv.servicer.stored) > 0, 20)
            for _ in range(500):
                if run.agent.spool.pending()[0] == 0 and not run.agent.pending:
                    break
                run.agent.wait_ticks(1, 5)
            assert run.stop() == 0
    finally:
        srv.stop()
    last = caplog.records[-1]
    assert last.levelno == logging.INFO
    assert last.getMessage().startswith("trimtab-agent stopped; 0 batch(es) left in the spool, 0 parked")
