"""A full disk under the agent's state directory (a real tmpfs mounted small, then filled).

While the spool cannot be written the agent stops reading ahead (what it holds in memory stays
bounded), leaves no ``.tmp`` files, logs one WARNING instead of a traceback a pass, and never
checkpoints past what it could not spool: once space returns every event reaches the server,
each batch once, and the counters are exact; an agent killed meanwhile and restarted loses
nothing either.

Mounting needs root (CI runs as root); elsewhere these tests are skipped saying so.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from agent.clock import SystemClock
from agent.send import Sender, SenderSettings
from agent.spool import Spool
from protos.trimtab.v1 import ingest_pb2
from tests.agent.conftest import REPO, TOKEN, AgentThread, IngestServer, RecordingIngest, agent_config
from tests.conftest import _require

APP = "app-disk-full"
STAGES = 12_000
FS_BYTES = 256 * 1024
FILLER_BYTES = 128 * 1024  # removed to give the space back


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30)


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs with 128 KiB taken by ``filler`` (delete it to give the space back)."""
    if os.geteuid() != 0:
        _require("root, to mount a small tmpfs (a disk that fills)")
    mnt = tmp_path / "small"
    mnt.mkdir()
    done = _run("mount", "-t", "tmpfs", "-o", f"size={FS_BYTES // 1024}k", "tmpfs", str(mnt))
    if done.returncode != 0:
        _require(f"mounting a tmpfs ({done.stderr.strip()})")
    try:
        (mnt / "filler").write_bytes(b"\0" * FILLER_BYTES)
        yield mnt
    finally:
        _run("umount", "-l", str(mnt))


def _write_log(directory: Path) -> int:
    """An in-progress Spark event log of STAGES completed stages; returns its shortest line."""
    directory.mkdir()
    t = 1_760_000_000_000
    lines = [{"Event": "SparkListenerLogStart", "Spark Version": "3.5.0"},
             {"Event": "SparkListenerApplicationStart", "App Name": "gen", "App ID": APP, "Timestamp": t,
              "User": "root"}]
    lines += [{"Event": "SparkListenerStageCompleted", "Stage Info": {
        "Stage ID": i, "Stage Attempt ID": 0, "Stage Name": f"s{i}", "Number of Tasks": 1, "RDD Info": [],
        "Parent IDs": [], "Details": "", "Submission Time": t + i, "Completion Time": t + i + 3,
        "Accumulables": []}} for i in range(STAGES)]
    raw = [orjson.dumps(x) + b"\n" for x in lines]
    (directory / f"{APP}.inprogress").write_bytes(b"".join(raw))
    return min(len(x) for x in raw)


def _want() -> set[tuple[str, str]]:
    # No app-start: this log has no SparkListenerEnvironmentUpdate, which the start event waits for.
    return {(APP, f"stage/{i}/0") for i in range(STAGES)}


def _until(run: AgentThread, predicate, ticks: int = 2000) -> bool:
    for _ in range(ticks):
        if predicate():
            return True
        run.agent.wait_ticks(1, 5)
    return predicate()


def test_full_disk_pauses_reading_then_delivers_every_event_once(small_fs: Path, tmp_path: Path,
                                                                  caplog: pytest.LogCaptureFixture):
    shortest = _write_log(tmp_path / "logs")
    srv = IngestServer(RecordingIngest()).start()
    srv.stop()  # keep the port, nobody listens: the spool only grows until the disk is full
    budget = 128 * 1024
    # No disk reserve: with one the spool drops its oldest batches before the disk fills
    # (test_agent_disk_reserve.py); this is the disk that fills anyway (other files, reserve off).
    cfg = agent_config(tmp_path / "logs", small_fs / "state", srv.address, batch_max_events=100,
                       read_budget_bytes=budget, disk_reserve_bytes=0, disk_reserve_percent=0.0)
    # A poll returns at most the lines its budget covers (plus the one it ends inside).
    bound = cfg.batch_max_events - 1 + budget // shortest + 1
    caplog.set_level(logging.INFO, logger="trimtab.agent")
    with AgentThread(cfg) as run:
        a = run.agent
        def full() -> bool:  # what it logged says the spool could not be written
            return any("No space left" in r.getMessage() or (r.exc_info and "No space left" in str(r.exc_info[1]))
                       for r in caplog.records)

        assert _until(run, full)
        run.agent.wait_ticks(3, 5)
        f = next(iter(a.followers.values()))
        pos, read = f.pos, a.read.events_read
        most = 0
        for _ in range(60):  # reading stays paused however long the disk stays full
            run.agent.wait_ticks(1, 5)
            most = max(most, len(a.pending))
        assert f.pos == pos and a.read.events_read == read < STAGES
        assert 0 < most <= bound
        assert list((small_fs / "state").rglob("*.tmp")) == []
        warned = [r for r in caplog.records if r.levelno == logging.WARNING and "cannot write" in r.getMessage()]
        assert len(warned) == 1, [r.getMessage() for r in warned]
        assert "No space left on device" in warned[0].getMessage()
        assert str(small_fs / "state") in warned[0].getMessage()
        assert re.search(r"\d+ bytes free", warned[0].getMessage())
        assert not [r for r in caplog.records if r.exc_info]  # no traceback per pass any more
        assert (small_fs / "state" / "state.json").exists() or a.spool.pending()[0] > 0

        (small_fs / "filler").unlink()
        srv.start()
        s = srv.servicer
        assert s.wait_for(lambda: len(s.stored) == len(_want()), 60), (len(s.stored), a.read.events_read)
        assert _until(run, lambda: a.spool.pending()[0] == 0)
        assert run.thread.is_alive()
        run.stop()
    srv.stop()
    assert set(s.stored) == _want()
    # Each batch went out once: no group re-spooled after a flush that failed part-way.
    assert s.duplicates == 0
    c = a.spool.snapshot_counters()
    assert c.events_sent == a.read.events_read == len(_want())
    assert c.events_dropped_spool_full == 0
    messages = [r.getMessage() for r in caplog.records]
    assert any("works again" in m for m in messages)
    assert list((small_fs / "state").rglob("*.tmp")) == []


def _agent_process(logs: Path, state: Path, address: str, err: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO), TRIMTAB_TOKEN=TOKEN, TRIMTAB_AGENT_POLL_S="0.02",
               TRIMTAB_AGENT_BATCH_AGE_S="0.02", TRIMTAB_AGENT_BATCH_EVENTS="100",
               TRIMTAB_AGENT_READ_BUDGET=str(128 * 1024), TRIMTAB_AGENT_CHECKPOINT_S="0.02",
               TRIMTAB_AGENT_BACKOFF_BASE_S="0.05", TRIMTAB_AGENT_BACKOFF_MAX_S="0.3",
               TRIMTAB_AGENT_DISK_RESERVE_BYTES="0", TRIMTAB_AGENT_DISK_RESERVE_PCT="0")  # a disk that fills
    with err.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "agent.cli", "run", "--eventlog-dir", str(logs),
                                 "--server", address, "--token-env", "TRIMTAB_TOKEN", "--state-dir", str(state)],
                                cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=out)


def test_kill_9_while_the_disk_is_full_loses_nothing(small_fs: Path, tmp_path: Path):
    """The saved read positions never pass what is held unspooled in memory: SIGKILL the agent
    while it holds such events, give the space back, and a new agent still delivers them."""
    _write_log(tmp_path / "logs")
    srv = IngestServer(RecordingIngest()).start()
    srv.stop()
    err = tmp_path / "agent.err"
    first = _agent_process(tmp_path / "logs", small_fs / "state", srv.address, err)
    try:
        deadline = time.monotonic() + 60
        while b"No space left on device" not in err.read_bytes() and time.monotonic() < deadline and first.poll() is None:
            time.sleep(0.05)
        assert b"No space left on device" in err.read_bytes(), err.read_text()[-3000:]
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    assert b"Traceback" not in err.read_bytes()
    (small_fs / "filler").unlink()
    srv.start()
    s = srv.servicer
    second = _agent_process(tmp_path / "logs", small_fs / "state", srv.address, err)
    try:
        assert s.wait_for(lambda: len(s.stored) == len(_want()), 60), len(s.stored)
        second.send_signal(signal.SIGTERM)
        assert second.wait(15) == 0
    finally:
        if second.poll() is None:
            second.kill()
        srv.stop()
    assert set(s.stored) == _want()


def test_spool_put_on_a_full_disk_changes_nothing_until_it_succeeds(small_fs: Path):
    """A put that fails (the disk is full) leaves no file and no counter behind, even when it had
    to drop the oldest batch first: retried once space returns, the drop is counted once."""
    spool = Spool(small_fs / "spool", max_bytes=150 * 1024)
    assert spool.put(b"a" * 60 * 1024, 10) is not None
    assert spool.put(b"b" * 60 * 1024, 10) is not None
    with (small_fs / "rest").open("wb", buffering=0) as rest, pytest.raises(OSError):
        while True:  # take the last free pages: not even counters.json can be written now
            rest.write(b"\0" * 4096)
    big = b"c" * 60 * 1024  # needs the oldest batch dropped, and space the disk does not have
    with pytest.raises(OSError):
        spool.put(big, 10)
    assert list(spool.dir.glob("*.tmp")) == []
    c = spool.snapshot_counters()
    before = (c.events_dropped_spool_full, c.batches_dropped_spool_full)
    (small_fs / "filler").unlink()
    assert spool.put(big, 10) is not None
    c = spool.snapshot_counters()
    assert (c.events_dropped_spool_full, c.batches_dropped_spool_full) == (before[0] + 10, before[1] + 1)
    assert spool.pending() == (2, 120 * 1024)


def test_sender_keeps_delivering_when_the_counters_cannot_be_saved(tmp_path: Path, ingest: IngestServer,
                                                                   caplog: pytest.LogCaptureFixture):
    """Saving counters.json after an ack fails (here: a directory stands at its name, so the
    rename fails as a full disk would fail the write): the sender logs it once and goes on,
    where it used to end its thread with the batches still in the spool."""
    spool = Spool(tmp_path / "spool", max_bytes=1 << 20)
    for i in range(3):
        spool.put(ingest_pb2.EventBatch(batch_id=f"b{i}", events=[
            ingest_pb2.Event(key=f"job/{i}-{j}", application_id="app") for j in range(2)]).SerializeToString(), 2)
    (tmp_path / "spool" / "counters.json").mkdir()
    caplog.set_level(logging.INFO, logger="trimtab.agent")
    sender = Sender(spool, SenderSettings(ingest.address, TOKEN, backoff_base_s=0.05, backoff_max_s=0.2),
                    SystemClock(), lambda b: None)
    sender.start()
    try:
        assert ingest.servicer.wait_for(lambda: len(ingest.servicer.acked_batches) == 3, 20)
        deadline = time.monotonic() + 10
        while spool.pending()[0] and time.monotonic() < deadline:
            time.sleep(0.02)
        assert spool.pending() == (0, 0)
        assert sender.is_alive()
    finally:
        sender.stop(1.0)
    assert spool.snapshot_counters().events_sent == 6  # exact in memory, saved at the next save that works
    warned = [r.getMessage() for r in caplog.records if "cannot save the delivery counters" in r.getMessage()]
    assert len(warned) == 1, warned
    assert not [r for r in caplog.records if r.exc_info]
