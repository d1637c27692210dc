"""Faults: the server away or killed, the agent killed with SIGKILL, a full spool, bad lines,
files deleted and directories unreadable. After each: nothing acknowledged is lost, nothing is
stored twice, the agent still runs and its counters say exactly what was dropped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.agent.conftest import REPO, TOKEN, AgentThread, IngestServer, RecordingIngest, agent_config
from tests.agent.expected import events_of, expected_summary, stored_summary

pytestmark = pytest.mark.spark


@pytest.fixture
def plain_log(spark_logs: Path) -> Path:
    return next(p for p in spark_logs.iterdir() if p.is_file() and "." not in p.name)


def _app(srv: RecordingIngest) -> str:
    return next(a for a, _ in srv.stored)


def _until(run: AgentThread, predicate, ticks: int = 500) -> bool:
    """Let the agent loop run until ``predicate`` holds (no sleeps: waits on loop passes)."""
    for _ in range(ticks):
        if predicate():
            return True
        run.agent.wait_ticks(1, 5)
    return predicate()


def test_server_absent_at_start_then_up(plain_log: Path, tmp_path: Path):
    srv = IngestServer(RecordingIngest()).start()
    srv.stop()  # keep the port, nobody listens
    with AgentThread(agent_config(plain_log.parent, tmp_path / "s", srv.address)) as run:
        assert _until(run, lambda: run.agent.sender.attempts >= 3)
        assert run.agent.spool.pending()[0] >= 1
        srv.start()
        apps = sum(1 for q in plain_log.parent.iterdir() if not q.name.startswith("."))
        assert srv.servicer.wait_for(lambda: len(srv.servicer.keys("application_end")) == apps, 30)
        assert run.thread.is_alive()
        run.stop()
    srv.stop()
    s = srv.servicer
    want: dict = {}
    for p in plain_log.parent.iterdir():
        evs = events_of(p)
        app = next(e["App ID"] for e in evs if e["Event"] == "SparkListenerApplicationStart")
        want.update({(app, k): v for k, v in expected_summary(evs).items()})
    assert stored_summary(list(s.stored.values())) == want
    assert s.duplicates == 0


def test_server_killed_mid_stream(plain_log: Path, ingest: IngestServer, tmp_path: Path):
    lines = plain_log.read_bytes().splitlines(keepends=True)
    root = tmp_path / "logs"
    root.mkdir()
    f = root / (plain_log.name + ".inprogress")
    f.write_bytes(b"".join(lines[: len(lines) // 2]))
    s = ingest.servicer
    with AgentThread(agent_config(root, tmp_path / "s", ingest.address)) as run:
        assert s.wait_for(lambda: len(s.stored) >= 2, 20)
        ingest.stop()
        with f.open("ab") as out:
            out.write(b"".join(lines[len(lines) // 2 :]))
        f.rename(root / plain_log.name)
        assert _until(run, lambda: run.agent.sender.last_error is not None and not run.agent.followers)
        ingest.start()
        assert s.wait_for(lambda: s.keys("application_end"), 30)
        assert run.thread.is_alive()
        run.stop()
    assert stored_summary(list(s.stored.values()), _app(s)) == expected_summary(events_of(plain_log))
    assert run.agent.spool.pending()[0] == 0
    # Every event read was acknowledged (a resend after a lost ack may add to events_sent).
    assert run.agent.read.events_read == len(s.stored) <= run.agent.spool.snapshot_counters().events_sent


def _agent_process(root: Path, state: Path, address: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO), TRIMTAB_TOKEN=TOKEN, TRIMTAB_AGENT_POLL_S="0.02",
               TRIMTAB_AGENT_BATCH_AGE_S="0.02", TRIMTAB_AGENT_BATCH_EVENTS="2", TRIMTAB_AGENT_CHECKPOINT_S="0.02",
               TRIMTAB_AGENT_BACKOFF_BASE_S="0.05", TRIMTAB_AGENT_BACKOFF_MAX_S="0.3")
    return subprocess.Popen([sys.executable, "-m", "agent.cli", "run", "--eventlog-dir", str(root),
                             "--server", address, "--token-env", "TRIMTAB_TOKEN", "--state-dir", str(state)],
                            cwd=REPO, env=env, stderr=subprocess.DEVNULL)


def test_kill_9_mid_file_then_restart_resumes_without_gap(plain_log: Path, ingest: IngestServer, tmp_path: Path):
    lines = plain_log.read_bytes().splitlines(keepends=True)
    # Cut inside a stage: after some of its TaskEnd lines but before its StageCompleted.
    task_ends = [i for i, line in enumerate(lines) if b'"SparkListenerTaskEnd"' in line]
    cut = task_ends[len(task_ends) // 2]
    root = tmp_path / "logs"
    root.mkdir()
    f = root / (plain_log.name + ".inprogress")
    f.write_bytes(b"".join(lines[: cut + 1]))
    s = ingest.servicer
    first = _agent_process(root, tmp_path / "state", ingest.address)
    try:
        assert s.wait_for(lambda: len(s.keys("stage_completed")) >= 1, 30)
        ckpt = tmp_path / "state" / "state.json"
        assert s.wait_for(lambda: ckpt.exists(), 10)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    before = dict(s.stored)
    with f.open("ab") as out:
        out.write(b"".join(lines[cut + 1 :]))
    f.rename(root / plain_log.name)
    second = _agent_process(root, tmp_path / "state", ingest.address)
    try:
        assert s.wait_for(lambda: s.keys("application_end"), 30)
        assert second.poll() is None, "agent must still be running"
        second.send_signal(signal.SIGTERM)
        assert second.wait(10) == 0
    finally:
        if second.poll() is None:
            second.kill()
    assert all(s.stored[k] == v for k, v in before.items())
    assert stored_summary(list(s.stored.values()), _app(s)) == expected_summary(events_of(plain_log))
    assert len(s.agents) == 1, "a restarted agent keeps its id"
    assert s.last_counters.lines_corrupt == 0


def test_spool_full_drops_oldest_and_counts_exactly(plain_log: Path, tmp_path: Path):
    srv = IngestServer(RecordingIngest()).start()
    srv.stop()
    cfg = agent_config(plain_log.parent, tmp_path / "s", srv.address, batch_max_events=1, spool_max_bytes=4000)
    with AgentThread(cfg) as run:
        a = run.agent
        assert _until(run, lambda: not a.followers and a.saved and a.read.events_read > 40)
        dropped = a.spool.snapshot_counters()
        assert dropped.batches_dropped_spool_full > 0
        left = a.spool.pending()[0]
        srv.start()
        s = srv.servicer
        assert s.wait_for(lambda: len(s.stored) == left, 30)
        assert _until(run, lambda: a.spool.pending()[0] == 0)
        assert run.thread.is_alive()
        run.stop()
    srv.stop()
    c = s.last_counters
    assert c.events_read == a.read.events_read
    # Every event read is either stored or counted as dropped, exactly (one event per batch here).
    assert c.events_dropped_spool_full + len(s.stored) == c.events_read
    assert c.batches_dropped_spool_full == c.events_dropped_spool_full
    assert s.duplicates == 0


def test_corrupt_truncated_and_oversized_lines_are_counted(plain_log: Path, ingest: IngestServer, tmp_path: Path):
    lines = plain_log.read_bytes().splitlines(keepends=True)
    bad = [b"this is not json\n", b'{"Event":"SparkListenerJobEnd","Job ID":\n',
           b'{"Event":"SparkListenerTaskEnd","pad":"' + b"x" * 300_000 + b'"}\n', b"[1,2]\n"]
    mixed = lines[:5] + bad[:2] + lines[5:20] + bad[2:] + lines[20:]
    root = tmp_path / "logs"
    root.mkdir()
    (root / plain_log.name).write_bytes(b"".join(mixed))
    s = ingest.servicer
    with AgentThread(agent_config(root, tmp_path / "s", ingest.address, max_line_bytes=200_000)) as run:
        assert s.wait_for(lambda: s.keys("application_end"), 30)
        run.stop()
    assert stored_summary(list(s.stored.values()), _app(s)) == expected_summary(events_of(plain_log))
    assert (s.last_counters.lines_corrupt, s.last_counters.lines_oversized) == (3, 1)


def test_file_deleted_while_followed_and_unreadable_directory(plain_log: Path, ingest: IngestServer,
                                                              tmp_path: Path):
    lines = plain_log.read_bytes().splitlines(keepends=True)
    root = tmp_path / "logs"  # does not exist yet: unreadable until created
    s = ingest.servicer
    with AgentThread(agent_config(root, tmp_path / "s", ingest.address)) as run:
        assert run.agent.wait_ticks(3, 10)
        root.write_text("a file where a directory should be")
        assert run.agent.wait_ticks(3, 10)
        root.unlink()
        root.mkdir()
        f = root / "app-1.inprogress"
        f.write_bytes(b"".join(lines[: len(lines) // 2]))
        assert s.wait_for(lambda: len(s.stored) >= 2, 20)
        f.unlink()
        assert _until(run, lambda: not run.agent.followers)
        n = len(s.stored)
        (root / plain_log.name).write_bytes(b"".join(lines))  # a new application still gets followed
        assert s.wait_for(lambda: s.keys("application_end"), 30)
        assert run.thread.is_alive()
        run.stop()
    # The same application again under a new file name: what was stored before comes back as
    # duplicates (recognised by key), and the rest completes it.
    assert n >= 2 and s.duplicates == n
    assert stored_summary(list(s.stored.values()), _app(s)) == expected_summary(events_of(plain_log))
