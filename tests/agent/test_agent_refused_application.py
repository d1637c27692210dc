"""One application the server refuses to an agent's token holds back none of its other applications
(review of the agent: head-of-line blocking). The server refused a whole batch with PERMISSION_DENIED
when it held events of an application another workspace's agent token sent first; the agent took
that for a bad token ("fix TRIMTAB_TOKEN"), kept the batch and resent it, oldest first, forever: no
later batch, of any application, was delivered again. Now the server stores the batch's other
applications and names the refused one in its acknowledgement; the agent drops that one's events,
says so once naming it, and delivers the rest. The real server (SQLite and PostgreSQL), real
PySpark event logs, the agent in a thread."""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import replace
from pathlib import Path

import pytest

from agent.runner import Agent
from server.config import ServerConfig
from server.domain import Workspace
from server.serve import RunningServer, start_server
from tests.agent.conftest import AgentThread, agent_config
from tests.agent.expected import events_of, expected_summary
from tests.agent.test_agent_real_server import _summary_from_store

pytestmark = [pytest.mark.spark, pytest.mark.postgres]


def _app_id(log: Path) -> str:
    return next(e["App ID"] for e in events_of(log) if e["Event"] == "SparkListenerApplicationStart")


def _delivered(agent: Agent, apps: int, timeout: float = 60.0) -> bool:
    """Whether ``agent`` read ``apps`` applications to their end and has nothing left to send, within
    ``timeout`` (a refused batch kept in the spool never gets there)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not agent.followers and len(agent.saved) == apps and agent.spool.pending()[0] == 0:
            return True
        agent.wait_ticks(1, 5)
    return False


def _start(db_url: str, state: Path) -> RunningServer:
    return start_server(ServerConfig(listen="127.0.0.1:0", http="", collect=0, state_dir=state, db_url=db_url))


def test_a_refused_application_holds_back_none_of_the_others(spark_logs: Path, migrated_db_url: str,
                                                             tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    x, y = sorted(spark_logs.glob("*.lz4")) + sorted(spark_logs.glob("*.snappy"))
    app_x, app_y = _app_id(x), _app_id(y)
    running = _start(migrated_db_url, tmp_path / "server")
    try:
        for name in ("wa", "wb"):
            running.store.workspaces.add(Workspace(name=name, host=f"https://{name}.example", cloud="aws"), "x")
        _, token_a = running.store.tokens.create("agent-wa", "agent", workspace="wa")
        _, token_b = running.store.tokens.create("agent-wb", "agent", workspace="wb")

        # Workspace wa's agent sends X first: X is wa's.
        (tmp_path / "logs-a").mkdir()
        shutil.copy(x, tmp_path / "logs-a")
        cfg_a = replace(agent_config(tmp_path / "logs-a", tmp_path / "agent-a", running.address), token=token_a)
        with AgentThread(cfg_a) as run:
            assert _delivered(run.agent, 1)
            run.stop()
        stored_x = running.store.applications.event_count(app_x)
        assert stored_x > 0 and running.store.applications.get(app_x).workspace == "wa"

        # Workspace wb's agent follows X too (a state directory or event log shared by mistake, a
        # forgery), and Y, of its own cluster, appears once X's events were sent: later batches.
        (tmp_path / "logs-b").mkdir()
        shutil.copy(x, tmp_path / "logs-b")
        cfg_b = replace(agent_config(tmp_path / "logs-b", tmp_path / "agent-b", running.address), token=token_b)
        with caplog.at_level(logging.INFO, logger="trimtab"), AgentThread(cfg_b) as run:
            a = run.agent
            assert _delivered(a, 1), "the refused application's batch stayed in the spool"
            shutil.copy(y, tmp_path / "logs-b")
            assert _delivered(a, 2), "the application after the refused one was not delivered"
            assert a.sender.last_error is None and a.spool.parked() == 0
            refused = a.sender.events_refused_by_server
            run.stop()

        # Y is stored whole, under wb; X as wa's agent sent it, nothing of wb's agent added.
        assert _summary_from_store(running.store, app_y) == expected_summary(events_of(y))
        assert running.store.applications.get(app_y).workspace == "wb"
        assert running.store.applications.event_count(app_x) == stored_x
        assert running.store.applications.get(app_x).workspace == "wa"
        # Every event of X that wb's agent sent was refused, and counted.
        assert refused == stored_x
        lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        (said,) = [m for m in lines if "refused the events of application" in m]
        assert repr(app_x) in said and "another workspace's agent token" in said and app_y not in said
        assert not [m for m in lines if "refused the agent token" in m or "TRIMTAB_TOKEN" in m]
        stopped = [r.getMessage() for r in caplog.records if r.getMessage().startswith("trimtab-agent stopped")]
        assert f"the server refused {stored_x} event(s)" in stopped[-1]
    finally:
        running.stop(grace=1)
