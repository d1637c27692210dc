"""A backlog when the agent stops, and a backlog while it runs.

Reviewer's sigterm_backlog.sh: SIGTERM 15 s into a 948 MB log left 664 MB unread (the stop reads for
half of its bound), and the last line was the INFO "trimtab-agent stopped; 0 batch(es) left in the
spool": on a job cluster the node ends with the log, and nothing said the run was sent in part.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import replace
from pathlib import Path

import pytest
import zstandard

from agent.clock import FakeClock
from agent.runner import Agent
from tests.agent import many_stages
from tests.agent.conftest import IngestServer, agent_config


class _PassClock(FakeClock):
    """A fake clock on which every reading takes ``step`` seconds, so passes take time as on a real
    disk (a FakeClock stands still while the agent reads, and a drain would never reach its deadline)."""

    def __init__(self, step: float) -> None:
        super().__init__()
        self.step = step

    def monotonic(self) -> float:
        with self._lock:
            self.now += self.step
            return self.now


def _write(logs: Path, codec: str, stages: int) -> Path:
    data = b"".join(many_stages.lines(stages))
    if codec == "zstd":
        path = logs / f"{many_stages.APP_ID}.zstd.inprogress"
        path.write_bytes(zstandard.ZstdCompressor(level=3).compress(data))
    else:
        path = logs / f"{many_stages.APP_ID}.inprogress"
        path.write_bytes(data)
    return path


@pytest.mark.parametrize("codec", ["none", "zstd"])
def test_a_backlog_left_at_stop_is_a_warning_naming_the_application_bytes_and_backfill(
        tmp_path: Path, ingest: IngestServer, caplog: pytest.LogCaptureFixture, codec: str):
    logs = tmp_path / "logs"
    logs.mkdir()
    log_file = _write(logs, codec, 3000)  # about 3.2 MB decoded
    size = log_file.stat().st_size
    cfg = replace(agent_config(logs, tmp_path / "state", ingest.address), read_budget_bytes=4096,
                  poll_interval_s=0.5, shutdown_flush_s=1.0, cluster_id="0101-abc")
    caplog.set_level(logging.INFO, logger="trimtab.agent")
    agent = Agent(cfg, _PassClock(0.01))  # some ten passes of 4 KiB in the drain's 0.5 s
    agent.stop()  # SIGTERM before the first pass: run() goes straight to the stop's drain
    assert agent.run() == 0
    (key,) = agent.followers
    follower = agent.followers[key]
    assert not follower.finished and follower.pos is not None
    warned = [r.getMessage() for r in caplog.records
              if r.levelno == logging.WARNING and "before its event log was read to its end" in r.getMessage()]
    assert len(warned) == 1, [r.getMessage() for r in caplog.records]
    msg = warned[0]
    assert msg.startswith(f"{many_stages.APP_ID} ({key} on cluster 0101-abc): "), msg
    assert "`trimtab project backfill <project> --eventlogs <the cluster's log destination>`" in msg
    assert "file bytes on disk" in msg
    unread = int(re.search(r"(\d+) bytes of its log files", msg).group(1))  # type: ignore[union-attr]
    if codec == "none":
        # What the reader took past the saved position is at most the partial line it holds.
        assert size - follower.pos.out - 4096 <= unread <= size - follower.pos.out, (unread, size)
    else:
        assert 0 < unread < size
    assert agent.unread_at_stop == {key: (many_stages.APP_ID, unread)}
    last = caplog.records[-1]
    assert last.levelno == logging.WARNING, last.getMessage()
    assert last.getMessage().startswith(
        f"trimtab-agent stopped; 1 application(s) not read to the end of their event log ({unread} file bytes "
        "unread, named above); 0 batch(es) left in the spool"), last.getMessage()


def test_a_log_read_to_its_end_at_stop_names_nothing_unread(tmp_path: Path, ingest: IngestServer,
                                                            caplog: pytest.LogCaptureFixture):
    logs = tmp_path / "logs"
    logs.mkdir()
    _write(logs, "none", 20)
    cfg = replace(agent_config(logs, tmp_path / "state", ingest.address), shutdown_flush_s=1.0)
    caplog.set_level(logging.INFO, logger="trimtab.agent")
    agent = Agent(cfg, _PassClock(0.001))
    agent.stop()
    assert agent.run() == 0
    assert agent.unread_at_stop == {}
    assert not [r for r in caplog.records if "read to its end" in r.getMessage()]
    assert caplog.records[-1].levelno == logging.INFO


class _LoopClock(FakeClock):
    """A fake clock that records the follower loop's waits and stops the agent once ``done()``."""

    def __init__(self) -> None:
        super().__init__()
        self.agent: Agent | None = None
        self.loop_waits: list[float] = []
        self.done_at: float | None = None

    def wait(self, event: threading.Event, seconds: float) -> bool:
        agent = self.agent
        if agent is not None and threading.current_thread() is threading.main_thread():
            if self.done_at is None and any(v.get("finished") for v in agent.saved.values()):
                self.done_at = self.now
                agent.stop()
            elif self.done_at is None:
                self.loop_waits.append(seconds)
        return super().wait(event, seconds)


def test_a_backlog_is_read_pass_after_pass_not_one_read_budget_per_poll_interval(tmp_path: Path,
                                                                                 ingest: IngestServer):
    """Reviewer: a 948 MB log took 93.5 s with the default poll (0.5 s), 27.2 s with 0.05 s, for the same
    CPU: ``run`` waited the poll interval after every pass, so a backlog was read one read budget per
    interval. Now a pass that leaves a log behind is followed by a short wait (as long as the pass took,
    at least a few ms: the loop still yields), and an idle or caught-up agent waits the interval."""
    logs = tmp_path / "logs"
    logs.mkdir()
    data = b"".join(many_stages.lines(300))  # about 320 KB: some 80 passes of 4 KiB
    (logs / many_stages.APP_ID).write_bytes(data)  # complete: the application finishes once read
    cfg = replace(agent_config(logs, tmp_path / "state", ingest.address), read_budget_bytes=4096,
                  poll_interval_s=0.5)
    clock = _LoopClock()
    agent = Agent(cfg, clock)
    clock.agent = agent
    assert agent.run() == 0
    assert clock.done_at is not None
    passes = len(clock.loop_waits)
    assert passes >= len(data) // 4096 // 2, passes
    # Every pass but the last few (the one that reached the end, and the batch's age) was behind.
    short = [w for w in clock.loop_waits if w < cfg.poll_interval_s]
    assert len(short) >= passes - 3, clock.loop_waits
    assert all(w > 0 for w in clock.loop_waits)  # it always yields
    assert clock.done_at - 1000.0 < 3 * cfg.poll_interval_s, (clock.done_at, passes)  # was about 40 s
    assert ingest.servicer.wait_for(lambda: any(k[1] == "app-end" for k in ingest.servicer.stored), 20)


def test_an_idle_agent_still_waits_the_poll_interval(tmp_path: Path, ingest: IngestServer):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / f"{many_stages.APP_ID}.inprogress").write_bytes(b"".join(many_stages.lines(5)))
    cfg = replace(agent_config(logs, tmp_path / "state", ingest.address), poll_interval_s=0.5)
    agent = Agent(cfg, FakeClock())
    try:
        for _ in range(3):
            started = agent.clock.monotonic()
            agent.tick()
            pause = agent._pause_after(started)
        assert pause == 0.5  # read to its end: nothing to hurry for
    finally:
        agent.close()
