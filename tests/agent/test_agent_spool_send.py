"""Spool durability and bounds; the sender's retry, backoff, hints, parking and shutdown,
against a real gRPC server with scripted answers and an instant fake clock."""

from __future__ import annotations

import random
from pathlib import Path

import grpc
import pytest

from agent.clock import FakeClock
from agent.config import load_config
from agent.send import Sender, SenderSettings, backoff_delay
from agent.spool import Spool
from protos.trimtab.v1 import ingest_pb2
from tests.agent.conftest import TOKEN, IngestServer, RecordingIngest


def batch(n: int, tag: str) -> bytes:
    return ingest_pb2.EventBatch(batch_id=tag, events=[
        ingest_pb2.Event(key=f"job/{tag}-{i}", application_id="app") for i in range(n)]).SerializeToString()


def test_spool_is_durable_ordered_and_drops_oldest_exactly(tmp_path: Path):
    sizes = [len(batch(3, f"b{i}")) for i in range(3)]
    bound = sum(sizes) + 10
    sp = Spool(tmp_path, max_bytes=bound)
    seqs = [sp.put(batch(3, f"b{i}"), 3) for i in range(3)]
    assert seqs == [1, 2, 3] and sp.pending() == (3, sum(sizes))
    first = sp.oldest()
    assert first.seq == 1
    # A batch bigger than what is left pushes out the oldest — except the one being sent.
    sp.put(batch(6, "big"), 6)  # about two batches' worth: b2 and b3 go, b1 is in flight
    assert sp.snapshot_counters().batches_dropped_spool_full == 2
    assert sp.pending()[1] <= bound
    assert sp.oldest().seq == 1  # still in flight, never dropped
    sp.ack(first)
    reopened = Spool(tmp_path, max_bytes=bound)
    assert reopened.pending() == sp.pending()
    c = reopened.snapshot_counters()
    assert (c.events_sent, c.events_dropped_spool_full, c.batches_dropped_spool_full) == (3, 6, 2)
    assert reopened.put(batch(200, "too-big"), 200) is None
    assert reopened.snapshot_counters().events_dropped_spool_full == c.events_dropped_spool_full + 200


def test_interrupted_drop_is_finished_on_restart(tmp_path: Path):
    sp = Spool(tmp_path, max_bytes=10_000)
    sp.put(batch(2, "a"), 2)
    victim = next(tmp_path.glob("*.batch")).name
    # A crash after the counters were saved but before the file was deleted:
    (tmp_path / "counters.json").write_text(
        '{"events_dropped_spool_full": 2, "batches_dropped_spool_full": 1, "pending_drop": ["' + victim + '"]}')
    (tmp_path / "000000000099-1.batch.tmp").write_bytes(b"half written")
    again = Spool(tmp_path, max_bytes=10_000)
    assert again.pending() == (0, 0) and not list(tmp_path.glob("*.tmp"))
    assert again.snapshot_counters().events_dropped_spool_full == 2


def test_backoff_is_exponential_jittered_and_capped():
    rng = random.Random(1)
    delays = [backoff_delay(n, 1.0, 30.0, rng) for n in range(1, 10)]
    for n, d in enumerate(delays[:4], start=1):
        assert 0.8 * 2 ** (n - 1) <= d <= 1.2 * 2 ** (n - 1)
    assert max(delays) == 30.0 and all(d <= 30.0 for d in delays)


def _sender(tmp_path: Path, srv: IngestServer, clock: FakeClock, token: str = TOKEN) -> tuple[Sender, Spool]:
    spool = Spool(tmp_path / "spool", 1 << 20)
    s = Sender(spool, SenderSettings(srv.address, token, rpc_timeout_s=5, backoff_base_s=1.0, backoff_max_s=30),
               clock, prepare=lambda b: None, rng=random.Random(3))
    return s, spool


def test_retryable_codes_back_off_and_honour_retry_hints(tmp_path: Path, ingest: IngestServer):
    s = ingest.servicer
    s.script.extend([(grpc.StatusCode.UNAVAILABLE, None), (grpc.StatusCode.UNAVAILABLE, 250),
                     (grpc.StatusCode.RESOURCE_EXHAUSTED, 40_000), (grpc.StatusCode.DEADLINE_EXCEEDED, None)])
    clock = FakeClock()
    sender, spool = _sender(tmp_path, ingest, clock)
    spool.put(batch(2, "x"), 2)
    sender.start()
    assert s.wait_for(lambda: len(s.stored) == 2, 20)
    sender.stop(1.0)
    # 1 s ±20 %, then the 2nd attempt's backoff (the server's 0.25 s is only its floor), then its
    # 40 s hint (a hint is obeyed even above the cap), then the computed backoff for the 4th attempt.
    assert 0.8 <= clock.waits[0] <= 1.2 and 1.6 <= clock.waits[1] <= 2.4 and clock.waits[2] == 40.0
    assert 6.4 <= clock.waits[3] <= 9.6
    assert s.calls == 5 and spool.pending() == (0, 0) and spool.snapshot_counters().events_sent == 2


def test_permanent_errors_park_the_batch_and_log_once(tmp_path: Path, ingest: IngestServer,
                                                       caplog: pytest.LogCaptureFixture):
    # A malformed batch (INVALID_ARGUMENT) is parked; a refused token no longer is (test below).
    ingest.servicer.script.extend([(grpc.StatusCode.INVALID_ARGUMENT, None)] * 3)
    clock = FakeClock()
    sender, spool = _sender(tmp_path, ingest, clock)
    for i in range(3):
        spool.put(batch(1, f"p{i}"), 1)
    sender.start()
    sender.stop(1.0)  # the fake clock never reaches the bound: stop returns once the spool is drained
    assert spool.pending() == (0, 0) and ingest.servicer.calls == 3  # each tried once, none retried
    assert clock.waits == []
    assert spool.snapshot_counters().batches_rejected == 3 and spool.parked() == 3
    assert len(list((tmp_path / "spool" / "parked").glob("*.batch"))) == 3
    assert sum("rejected batch" in r.message for r in caplog.records) == 1


def test_stop_interrupts_backoff_and_bounds_the_flush(tmp_path: Path):
    srv = IngestServer(RecordingIngest()).start()
    srv.stop()  # nobody listens: every attempt is UNAVAILABLE
    spool = Spool(tmp_path / "spool", 1 << 20)
    spool.put(batch(1, "kept"), 1)
    from agent.clock import SystemClock

    sender = Sender(spool, SenderSettings(srv.address, TOKEN, rpc_timeout_s=0.5, backoff_base_s=30.0,
                                          backoff_max_s=30.0), SystemClock(), prepare=lambda b: None)
    sender.start()
    clock = SystemClock()
    t0 = clock.monotonic()
    sender.stop(0.5)  # the 30 s backoff must not hold it
    assert clock.monotonic() - t0 < 3.0 and not sender.is_alive() and sender.attempts >= 1
    assert spool.pending()[0] == 1  # not acknowledged, so still spooled for the next start


def test_config_precedence_and_masking(tmp_path: Path):
    f = tmp_path / "agent.json"
    f.write_text('{"server": "file:1", "batch_max_events": 7, "poll_interval_s": 9}')
    env = {"TRIMTAB_SERVER": "env:1", "TRIMTAB_AGENT_BATCH_EVENTS": "8", "MY_TOKEN": "secret-abcd1234"}
    cfg = load_config({"server": "flag:1", "token_env": "MY_TOKEN", "state_dir": None}, env=env, file=f)
    assert cfg.server == "flag:1" and cfg.batch_max_events == 8 and cfg.poll_interval_s == 9.0
    assert cfg.backoff_max_s == 30.0 and cfg.token == "secret-abcd1234"
    assert cfg.masked()["token"] == "…1234" and "secret-abcd1234" not in repr(cfg)
