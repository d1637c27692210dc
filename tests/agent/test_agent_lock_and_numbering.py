"""One agent per state directory (the lock is taken before the spool is scanned, a second agent
refuses to start, a ``kill -9``'d one never blocks a restart, a file system without locks only
warns), and batch numbers never reused across restarts so parked batches survive and replay in
the order they were made. Real processes, a real gRPC server, real files."""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from agent import cli
from agent.clock import FakeClock
from agent.durable import LockHeld, try_lock
from agent.runner import Agent
from agent.spool import Spool, replay_parked
from tests.agent.conftest import REPO, TOKEN, IngestServer, agent_config
from tests.agent.test_agent_delivery_errors import _sender, batch


def _start(logs: Path, state: Path, address: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO), TRIMTAB_TOKEN=TOKEN, TRIMTAB_AGENT_POLL_S="0.05")
    return subprocess.Popen([sys.executable, "-m", "agent.cli", "run", "--eventlog-dir", str(logs), "--server",
                             address, "--token-env", "TRIMTAB_TOKEN", "--state-dir", str(state)],
                            cwd=REPO, env=env, stderr=subprocess.PIPE, text=True)


def _wait_running(proc: subprocess.Popen) -> None:
    """Read the agent's log until its start line (written once it holds the lock and runs)."""
    assert proc.stderr is not None
    for line in proc.stderr:
        if "following" in line:
            return
    raise AssertionError(f"agent ended before running (rc {proc.wait(10)})")


def test_second_agent_refuses_and_kill_9_never_blocks_a_restart(ingest: IngestServer, tmp_path: Path):
    logs, state = tmp_path / "logs", tmp_path / "state"
    logs.mkdir()
    first = _start(logs, state, ingest.address)
    try:
        _wait_running(first)
        second = _start(logs, state, ingest.address)
        _, err = second.communicate(timeout=60)
        assert second.returncode == 1, err
        assert f"another trimtab-agent (pid {first.pid}) is running on state directory {state}" in err
        assert str(state / "agent.lock") in err
        assert first.poll() is None, "the first agent keeps running"
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    # The kernel dropped the dead agent's lock: the restart runs (and stops cleanly).
    third = _start(logs, state, ingest.address)
    try:
        _wait_running(third)
        third.send_signal(signal.SIGTERM)
        assert third.wait(20) == 0
    finally:
        if third.poll() is None:
            third.kill()


def test_lock_is_taken_before_the_spool_is_touched(tmp_path: Path, ingest: IngestServer):
    state = tmp_path / "state"
    (state / "spool").mkdir(parents=True)
    leftover = state / "spool" / "000000000001-5.batch.tmp"  # Spool.__init__ would delete it
    leftover.write_bytes(b"x")
    held = try_lock(state / "agent.lock")
    try:
        with pytest.raises(LockHeld) as refused:
            Agent(agent_config(tmp_path, state, ingest.address))
        assert refused.value.holder == f"pid {os.getpid()}"
        assert leftover.exists() and not (state / "spool" / "parked").exists()
    finally:
        os.close(held)
    agent = Agent(agent_config(tmp_path, state, ingest.address))
    try:
        assert not leftover.exists()  # now it owns the directory
    finally:
        agent.close()
    os.close(try_lock(state / "agent.lock"))  # close() released it


@pytest.fixture
def no_flock(monkeypatch: pytest.MonkeyPatch) -> None:
    """A file system without flock (some FUSE/NFS mounts answer ENOLCK); none is mountable here."""
    def refuse(fd: int, op: int) -> None:
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(fcntl, "flock", refuse)


def test_without_flock_the_agent_runs_with_one_warning(no_flock: None, tmp_path: Path, ingest: IngestServer,
                                                       caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.WARNING, "trimtab.agent")
    with pytest.raises(OSError) as exc:
        try_lock(tmp_path / "agent.lock")
    assert exc.value.errno == errno.ENOLCK and not isinstance(exc.value, LockHeld)
    agent = Agent(agent_config(tmp_path, tmp_path / "state", ingest.address))
    agent.close()
    warns = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warns) == 1 and "locking is not available" in warns[0] and "running without the lock" in warns[0]


def test_without_flock_replay_parked_says_so_and_proceeds(no_flock: None, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]):
    spool = Spool(tmp_path / "spool", 1 << 20)
    spool.put(batch(1, "p"), 1)
    spool.park(spool.oldest())  # type: ignore[arg-type]
    assert cli._replay_parked(tmp_path) == 0
    out, err = capsys.readouterr()
    assert "locking is not available here" in err and "moved 1 parked batch(es)" in out


def test_parked_batches_are_never_overwritten_across_restarts(tmp_path: Path):
    first = Spool(tmp_path / "spool", 1 << 20)
    first.put(batch(500, "life1"), 500)
    first.park(first.oldest())  # type: ignore[arg-type]
    # A restart with an empty spool: the next batch has the same event count (a full batch).
    second = Spool(tmp_path / "spool", 1 << 20)
    assert second.put(batch(500, "life2"), 500) == 2
    second.park(second.oldest())  # type: ignore[arg-type]
    assert second.parked() == 2 and second.snapshot_counters().batches_rejected == 2
    names = sorted(p.name for p in (tmp_path / "spool" / "parked").iterdir())
    assert names == ["000000000001-500.batch", "000000000002-500.batch"]
    # After a replay the spool numbers above what it moved back.
    assert replay_parked(tmp_path / "spool") == 2
    third = Spool(tmp_path / "spool", 1 << 20)
    assert third.put(batch(1, "new"), 1) == 5


def test_replay_sends_parked_batches_of_two_lifetimes_oldest_first(tmp_path: Path, ingest: IngestServer):
    spool_dir = tmp_path / "spool"
    ingest.servicer.script.extend([(grpc.StatusCode.INVALID_ARGUMENT, None)] * 4)
    for life in range(2):  # each lifetime parks two batches, then the agent restarts
        spool = Spool(spool_dir, 1 << 20)
        for i in range(2):
            spool.put(batch(500, f"L{life}-{i}"), 500)
        s = _sender(spool, ingest.address, FakeClock())
        s.start()
        assert ingest.servicer.wait_for(lambda n=life: ingest.servicer.calls >= 2 * (n + 1), 20)
        s.stop(1.0)
    assert Spool(spool_dir, 1 << 20).parked() == 4
    assert replay_parked(spool_dir) == 4
    again = Spool(spool_dir, 1 << 20)
    sender = _sender(again, ingest.address, FakeClock())
    sender.start()
    assert ingest.servicer.wait_for(lambda: len(ingest.servicer.acked_batches) == 4, 20)
    sender.stop(1.0)
    assert ingest.servicer.acked_batches == ["L0-0", "L0-1", "L1-0", "L1-1"]
