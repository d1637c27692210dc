"""INTERNAL/UNKNOWN are retried before a batch is parked, parked/ counts in the spool's bound, and a
token gRPC cannot send keeps the batches spooled (review, repro parkbound.py).

Every status outside the retry list parked the batch at once, and parked/ was outside the spool's
byte bound: a load balancer answering INTERNAL (RST_STREAM) for a few seconds, or a server bug,
parked batch after batch, and parked/ grew to 8x the bound. A token with a newline made gRPC's
client refuse every call ("INTERNAL: Invalid metadata") and every batch was parked, the log blaming
the server.
"""

from __future__ import annotations

import logging
import random
import time
from pathlib import Path

import grpc
import orjson
import pytest

from agent.clock import FakeClock
from agent.send import Sender, SenderSettings
from agent.spool import Spool
from protos.trimtab.v1 import ingest_pb2
from tests.agent.conftest import TOKEN, IngestServer


def _batch(n: int, tag: str) -> bytes:
    return ingest_pb2.EventBatch(batch_id=tag, events=[
        ingest_pb2.Event(key=f"job/{tag}-{i}", application_id="app") for i in range(n)]).SerializeToString()


def _sender(spool: Spool, ingest: IngestServer, clock: FakeClock, token: str = TOKEN) -> Sender:
    return Sender(spool, SenderSettings(ingest.address, token, backoff_base_s=1.0, backoff_max_s=30.0),
                  clock, prepare=lambda b: None, rng=random.Random(5))


def _disk_bytes(spool_dir: Path) -> int:
    """Bytes of batches on disk, waiting or parked. A file the sender parks between the two listings
    is seen in both (same inode, counted once) or in neither (skipped)."""
    sizes: dict[int, int] = {}
    for d in (spool_dir, spool_dir / "parked"):
        for p in d.glob("*.batch"):
            try:
                st = p.stat()
            except FileNotFoundError:
                continue
            sizes[st.st_ino] = st.st_size
    return sum(sizes.values())


@pytest.mark.parametrize("code", [grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN])
def test_a_few_internal_errors_are_retried_with_backoff_not_parked(code: grpc.StatusCode, tmp_path: Path,
                                                                  ingest: IngestServer):
    s = ingest.servicer
    s.script.extend([(code, None)] * 3)
    spool = Spool(tmp_path / "spool", 1 << 20)
    spool.put(_batch(2, "x"), 2)
    clock = FakeClock()
    sender = _sender(spool, ingest, clock)
    sender.start()
    try:
        assert s.wait_for(lambda: len(s.stored) == 2, 20)
    finally:
        sender.stop(1.0)
    assert s.calls == 4 and spool.parked() == 0 and spool.pending() == (0, 0)
    assert len(clock.waits) == 3
    for n, w in enumerate(clock.waits, start=1):
        assert 0.8 * 2 ** (n - 1) <= w <= 1.2 * 2 ** (n - 1)


def test_internal_errors_past_the_retry_bound_park_the_batch(tmp_path: Path, ingest: IngestServer,
                                                             caplog: pytest.LogCaptureFixture):
    s = ingest.servicer
    retries = SenderSettings("x", "y").transient_retries
    s.script.extend([(grpc.StatusCode.INTERNAL, None)] * (retries + 1))
    spool = Spool(tmp_path / "spool", 1 << 20)
    spool.put(_batch(1, "bad"), 1)
    spool.put(_batch(1, "good"), 1)
    clock = FakeClock()
    sender = _sender(spool, ingest, clock)
    with caplog.at_level(logging.ERROR, logger="trimtab.agent.send"):
        sender.start()
        try:
            assert s.wait_for(lambda: ("app", "job/good-0") in s.stored, 20)
        finally:
            sender.stop(1.0)
    assert s.calls == retries + 2 and len(clock.waits) == retries
    assert spool.parked() == 1 and spool.snapshot_counters().batches_rejected == 1
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and f"{retries + 1} times in a row" in errors[0] and "INTERNAL" in errors[0]


def test_parked_batches_count_in_the_spool_bound_oldest_dropped_first(tmp_path: Path,
                                                                      caplog: pytest.LogCaptureFixture):
    size = len(_batch(20, "b000"))
    bound = 10 * size
    spool = Spool(tmp_path, max_bytes=bound)
    for i in range(8):
        spool.put(_batch(20, f"b{i:03d}"), 20)
        spool.park(spool.oldest())  # type: ignore[arg-type]
    assert spool.parked() == 8 and _disk_bytes(tmp_path) == 8 * size
    with caplog.at_level(logging.WARNING, logger="trimtab.agent.spool"):
        for i in range(8, 16):
            spool.put(_batch(20, f"b{i:03d}"), 20)
    assert _disk_bytes(tmp_path) <= bound
    assert spool.pending()[0] == 8 and spool.parked() == 2  # the 6 oldest parked went, the newest stayed
    kept = sorted(p.name for p in (tmp_path / "parked").glob("*.batch"))
    assert kept == [f"{7:012d}-20.batch", f"{8:012d}-20.batch"]
    c = spool.snapshot_counters()
    assert c.batches_dropped_spool_full == 6 and c.events_dropped_spool_full == 120 and c.batches_rejected == 8
    assert any("parked" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    # A restart sees parked/ in the bound too.
    again = Spool(tmp_path, max_bytes=bound)
    for i in range(16, 18):
        again.put(_batch(20, f"b{i:03d}"), 20)
    assert _disk_bytes(tmp_path) <= bound and again.parked() == 0 and again.pending()[0] == 10
    assert again.snapshot_counters().batches_dropped_spool_full == 8


def test_a_parked_drop_interrupted_by_a_crash_is_finished_at_start(tmp_path: Path):
    spool = Spool(tmp_path, max_bytes=1 << 20)
    spool.put(_batch(1, "p"), 1)
    spool.park(spool.oldest())  # type: ignore[arg-type]
    name = next((tmp_path / "parked").glob("*.batch")).name
    # What _record_drops saves before unlinking: the crash came between the two steps.
    (tmp_path / "counters.json").write_bytes(orjson.dumps({"events_dropped_spool_full": 1,
                                                           "batches_dropped_spool_full": 1,
                                                           "pending_drop": [f"parked/{name}"]}))
    again = Spool(tmp_path, max_bytes=1 << 20)
    assert again.parked() == 0 and again.snapshot_counters().batches_dropped_spool_full == 1


def test_a_server_failing_with_internal_keeps_spool_and_parked_within_the_bound(tmp_path: Path,
                                                                              ingest: IngestServer):
    ingest.servicer.script.extend([(grpc.StatusCode.INTERNAL, None)] * 100_000)
    bound = 20_000
    spool = Spool(tmp_path / "spool", bound)
    sender = _sender(spool, ingest, FakeClock())
    sender.start()
    try:
        for i in range(120):
            spool.put(_batch(100, f"b{i}"), 100)
            if i % 10 == 0:
                time.sleep(0.05)  # let the sender park some meanwhile
            assert _disk_bytes(tmp_path / "spool") <= bound
    finally:
        sender.stop(0.5)
    assert _disk_bytes(tmp_path / "spool") <= bound
    c = spool.snapshot_counters()
    assert c.batches_rejected > 0, "the scripted INTERNAL answers should have parked some batches"
    assert c.batches_dropped_spool_full > 0 and c.events_dropped_spool_full == 100 * c.batches_dropped_spool_full


def test_a_token_grpc_cannot_send_keeps_batches_spooled_with_one_error(tmp_path: Path, ingest: IngestServer,
                                                                      caplog: pytest.LogCaptureFixture):
    spool = Spool(tmp_path / "spool", 1 << 20)
    spool.put(_batch(1, "a"), 1)
    spool.put(_batch(1, "b"), 1)
    clock = FakeClock()
    sender = _sender(spool, ingest, clock, token=TOKEN + "\n")
    with caplog.at_level(logging.WARNING, logger="trimtab.agent.send"):
        sender.start()
        try:
            end = time.monotonic() + 20
            while sender.attempts < 8 and time.monotonic() < end:
                time.sleep(0.02)
        finally:
            sender.stop(0.5)
    assert sender.attempts >= 8 and ingest.servicer.calls == 0  # refused by gRPC's client itself
    assert spool.parked() == 0 and spool.pending()[0] == 2 and spool.snapshot_counters().batches_rejected == 0
    logged = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(logged) == 1 and logged[0].levelno == logging.ERROR, [r.getMessage() for r in logged]
    assert "TRIMTAB_TOKEN" in logged[0].getMessage()
    assert max(clock.waits) == 30.0  # retried with the capped backoff, not in a tight loop
