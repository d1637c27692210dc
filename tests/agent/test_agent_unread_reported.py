"""The file bytes a stop leaves unread reach the server in the agent's counters
(``AgentCounters.file_bytes_unread_at_stop``): they were only in a WARNING in agent.log, on the node's
disk, which goes with a job cluster; the server, and `trimtab agent list`, never heard of them."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from agent.runner import Agent
from server.cli.agent import EXPLAIN, _losses
from server.config import ServerConfig
from server.domain import AgentCounters
from server.serve import start_server
from tests.agent import many_stages
from tests.agent.conftest import AgentThread, agent_config
from tests.agent.test_agent_backlog_at_stop import _PassClock

pytestmark = pytest.mark.postgres


def test_the_bytes_a_stop_left_unread_reach_the_server_and_a_restart_reading_on_clears_them(
        tmp_path: Path, db_url: str) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / f"{many_stages.APP_ID}.inprogress").write_bytes(b"".join(many_stages.lines(300)))  # ~320 KB
    running = start_server(ServerConfig(listen="127.0.0.1:0", state_dir=tmp_path / "server", db_url=db_url))
    try:
        _, token = running.store.tokens.create("agent-test", "agent")
        cfg = replace(agent_config(logs, tmp_path / "agent", running.address), token=token, read_budget_bytes=4096,
                      poll_interval_s=0.5, shutdown_flush_s=1.0)
        # Each clock reading takes 10 ms: a few passes of 4 KiB at most in the drain's 0.5 s, a backlog left.
        agent = Agent(cfg, _PassClock(0.01))
        agent.stop()  # SIGTERM before the first pass: run() goes straight to the stop's drain
        assert agent.run() == 0
        unread = sum(n for _, n in agent.unread_at_stop.values())
        assert unread > 0 and agent.spool.pending()[0] == 0  # everything spooled was delivered

        (reported,) = running.store.ingest.agents()
        # Was 0: the counters had no place for them, and the drain's batches may all have been sent before it.
        assert reported.counters.file_bytes_unread_at_stop == unread

        # An agent started again on the node reads on from the saved position, to the application's end
        # (the log ends with it): nothing unread.
        with AgentThread(replace(cfg, poll_interval_s=0.02, read_budget_bytes=8 << 20)) as again:
            for _ in range(2000):  # loop passes, not sleeps
                if again.agent.saved.get(f"single:{many_stages.APP_ID}", {}).get("finished") \
                        and again.agent.spool.pending()[0] == 0:
                    break
                again.agent.wait_ticks(1, 5)
            again.stop()
        assert again.agent.unread_at_stop == {} and again.agent.sender.last_error is None
        (reported,) = running.store.ingest.agents()
        assert reported.counters.file_bytes_unread_at_stop == 0
    finally:
        running.stop(grace=1)


def test_agent_list_names_the_unread_bytes_and_what_to_do() -> None:
    assert _losses(AgentCounters(file_bytes_unread_at_stop=663_938_219)) == [
        ("663,938,219 file bytes of event logs left unread at its stop", "unread")]
    assert "trimtab project backfill <project> --eventlogs" in EXPLAIN["unread"]
    assert _losses(AgentCounters()) == []
