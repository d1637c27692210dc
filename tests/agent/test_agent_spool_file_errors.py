"""The spool and the sender when a file operation fails midway (a full disk, a flaky mount, a bug).

- counters.json that could not be saved after a delivery is saved again while the sender is idle
  and when it stops: a clean restart used to read fewer events sent than were sent;
- an ack or a park whose unlink / rename fails leaves the batch tracked and on disk (it used to
  be forgotten in memory but sent, and counted, again after a restart);
- a directory fsync that fails after a batch's rename does not fail ``put`` (the runner spooled
  the same events again under a new number and both were sent after a restart);
- an unexpected error in the sender's loop no longer ends its thread.
"""

from __future__ import annotations

import errno
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

import agent.durable as durable
import agent.spool as spool_mod
from agent.clock import SystemClock
from agent.send import Sender, SenderSettings
from agent.spool import Spool
from protos.trimtab.v1 import ingest_pb2
from tests.agent.conftest import TOKEN, IngestServer


def _batch(i: int, events: int = 5) -> bytes:
    return ingest_pb2.EventBatch(batch_id=f"b{i}", events=[
        ingest_pb2.Event(key=f"job/{i}-{j}", application_id="app") for j in range(events)]).SerializeToString()


def _saved_sent(directory: Path) -> int:
    return orjson.loads((directory / "counters.json").read_bytes())["events_sent"]


class _FailingCounters:
    """``write_atomic`` that fails for counters.json while ``failing`` (as a full disk would)."""

    def __init__(self) -> None:
        self.failing = False
        self.real = spool_mod.write_atomic

    def __call__(self, path: Path, data: bytes) -> None:
        if self.failing and path.name == "counters.json":
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        self.real(path, data)


def _until(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _sender(spool: Spool, ingest: IngestServer, prepare: Callable[[ingest_pb2.EventBatch], None] = lambda b: None
            ) -> Sender:
    return Sender(spool, SenderSettings(ingest.address, TOKEN, backoff_base_s=0.05, backoff_max_s=0.1),
                  SystemClock(), prepare)


# -- 2: counters saved again after a failed save ----------------------------------------------------
def test_counters_saved_while_the_sender_is_idle_after_a_failed_save(tmp_path: Path, ingest: IngestServer,
                                                                     monkeypatch: pytest.MonkeyPatch):
    d = tmp_path / "spool"
    spool = Spool(d, 1 << 20)
    writes = _FailingCounters()
    monkeypatch.setattr(spool_mod, "write_atomic", writes)
    spool.put(_batch(0), 5)
    sender = _sender(spool, ingest)
    sender.start()
    try:
        assert _until(lambda: spool.pending()[0] == 0) and _saved_sent(d) == 5
        writes.failing = True
        spool.put(_batch(1), 5)
        spool.put(_batch(2), 5)
        assert _until(lambda: spool.snapshot_counters().events_sent == 15)
        assert _saved_sent(d) == 5  # the saves after those two deliveries failed
        writes.failing = False  # room again; nothing more to send
        assert _until(lambda: _saved_sent(d) == 15, 5.0), "not saved while idle"
    finally:
        sender.stop(1.0)
    assert Spool(d, 1 << 20).counters.events_sent == 15  # a clean restart


def test_counters_saved_when_the_sender_stops_after_a_failed_save(tmp_path: Path, ingest: IngestServer,
                                                                  monkeypatch: pytest.MonkeyPatch):
    d = tmp_path / "spool"
    spool = Spool(d, 1 << 20)
    writes = _FailingCounters()
    monkeypatch.setattr(spool_mod, "write_atomic", writes)
    writes.failing = True
    for i in range(3):
        spool.put(_batch(i), 5)
    sender = _sender(spool, ingest)
    sender.start()
    assert _until(lambda: spool.snapshot_counters().events_sent == 15)
    close = sender._channel.close

    def close_then_room() -> None:  # the disk has room only once the thread ended: stop's own save
        close()
        writes.failing = False

    monkeypatch.setattr(sender._channel, "close", close_then_room)
    sender.stop(1.0)
    assert not sender.is_alive()
    assert Spool(d, 1 << 20).counters.events_sent == 15


# -- 3: the file operation before the in-memory change ----------------------------------------------
def test_ack_whose_unlink_fails_keeps_the_batch_tracked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    d = tmp_path / "spool"
    spool = Spool(d, 1 << 20)
    spool.put(b"x" * 10, 5)
    b = spool.oldest()
    assert b is not None
    real_unlink = Path.unlink

    def eio(self: Path, missing_ok: bool = False) -> None:
        if self.name.endswith(".batch"):
            raise OSError(errno.EIO, "Input/output error", str(self))
        real_unlink(self, missing_ok=missing_ok)

    with monkeypatch.context() as m:
        m.setattr(Path, "unlink", eio)
        with pytest.raises(OSError):
            spool.ack(b)
    assert spool.pending() == (1, 10) and spool.snapshot_counters().events_sent == 0
    assert Spool(d, 1 << 20).pending() == (1, 10)  # what a restart finds agrees with memory
    b = spool.oldest()
    assert b is not None
    spool.ack(b)  # the sender's retry
    assert spool.pending() == (0, 0) and spool.snapshot_counters().events_sent == 5
    restarted = Spool(d, 1 << 20)
    assert restarted.pending() == (0, 0) and restarted.counters.events_sent == 5


def test_park_whose_rename_fails_keeps_the_batch_tracked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    d = tmp_path / "spool"
    spool = Spool(d, 1 << 20)
    spool.put(b"x" * 10, 5)
    b = spool.oldest()
    assert b is not None

    def eio(src: object, dst: object) -> None:
        raise OSError(errno.EIO, "Input/output error", str(src))

    with monkeypatch.context() as m:
        m.setattr(spool_mod.os, "replace", eio)
        with pytest.raises(OSError):
            spool.park(b)
    assert spool.pending() == (1, 10) and spool.snapshot_counters().batches_rejected == 0
    spool.park(b)
    assert spool.pending() == (0, 0) and spool.parked() == 1
    assert spool.snapshot_counters().batches_rejected == 1 and Spool(d, 1 << 20).counters.batches_rejected == 1


# -- 4: a failed directory fsync after the rename ---------------------------------------------------
def test_put_succeeds_when_only_the_directory_fsync_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          caplog: pytest.LogCaptureFixture):
    d = tmp_path / "spool"
    spool = Spool(d, 1 << 20)

    def eio(path: Path) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(durable, "fsync_dir", eio)
    monkeypatch.setattr(durable, "_dir_sync_warned_at", None)
    caplog.set_level(logging.WARNING, logger="trimtab.agent")
    assert spool.put(b"batch-A", 3) == 1
    assert spool.put(b"batch-B", 3) == 2
    on_disk = sorted(e.name for e in os.scandir(d) if e.name.endswith(".batch"))
    assert on_disk == ["000000000001-3.batch", "000000000002-3.batch"]
    assert spool.pending() == (2, 14) and Spool(d, 1 << 20).pending() == (2, 14)
    warned = [r.getMessage() for r in caplog.records if "cannot fsync directory" in r.getMessage()]
    assert len(warned) == 1, warned  # throttled: one per window, not one per file


# -- 5: an unexpected error in the sender -----------------------------------------------------------
def test_sender_survives_an_unexpected_error(tmp_path: Path, ingest: IngestServer,
                                             caplog: pytest.LogCaptureFixture):
    spool = Spool(tmp_path / "spool", 1 << 20)
    for i in range(3):
        spool.put(_batch(i), 5)
    calls = {"n": 0}

    def prepare(batch: ingest_pb2.EventBatch) -> None:
        calls["n"] += 1
        if calls["n"] <= 3:
            raise RuntimeError("a bug in prepare")

    caplog.set_level(logging.DEBUG, logger="trimtab.agent")
    sender = _sender(spool, ingest, prepare)
    started = time.monotonic()
    sender.start()
    try:
        assert ingest.servicer.wait_for(lambda: len(ingest.servicer.acked_batches) == 3, 10)
        assert _until(lambda: spool.pending()[0] == 0)
        assert sender.is_alive()
    finally:
        sender.stop(1.0)
    assert sender.unexpected_errors == 3
    assert time.monotonic() - started >= 0.3  # a pause after each error, not a busy loop
    tracebacks = [r for r in caplog.records if r.exc_info and r.levelno >= logging.WARNING]
    assert len(tracebacks) == 1, [r.getMessage() for r in tracebacks]  # once per warn_every_s
    assert spool.snapshot_counters().events_sent == 15
