"""The sender's backoff stays a number however long the server is down (review, repro overflow.py).

``backoff_delay`` computed ``base * 2 ** (attempt - 1)``: at the 1,025th consecutive failure the
power no longer converts to a float (OverflowError), a bug the sender's loop caught, logged with a
traceback and paused on; every later retry failed the same way. The exponent is capped now.
"""

from __future__ import annotations

import random
from pathlib import Path

import grpc

from agent.clock import FakeClock
from agent.send import Sender, SenderSettings, backoff_delay
from agent.spool import Spool
from protos.trimtab.v1 import ingest_pb2
from tests.agent.conftest import TOKEN, IngestServer


def test_backoff_delay_stays_capped_past_a_thousand_attempts():
    rng = random.Random(7)
    for attempt in (1024, 1025, 1100, 10**6):
        assert backoff_delay(attempt, 1.0, 30.0, rng) == 30.0
    # The cap still comes from ``cap``, not from the exponent's limit.
    assert backoff_delay(10**6, 1e-30, 1e9, rng) < 1e9


def test_sender_keeps_retrying_after_1100_consecutive_failures(tmp_path: Path, ingest: IngestServer):
    s = ingest.servicer
    s.script.extend([(grpc.StatusCode.UNAVAILABLE, None)] * 1100)
    spool = Spool(tmp_path / "spool", 1 << 20)
    spool.put(ingest_pb2.EventBatch(batch_id="b1", events=[ingest_pb2.Event(key="k", application_id="a")])
              .SerializeToString(), 1)
    clock = FakeClock()
    sender = Sender(spool, SenderSettings(ingest.address, TOKEN, backoff_base_s=1.0, backoff_max_s=30.0),
                    clock, prepare=lambda b: None, rng=random.Random(3))
    sender.start()
    try:
        assert s.wait_for(lambda: len(s.stored) == 1, 120)
    finally:
        sender.stop(0.5)
    assert sender.unexpected_errors == 0
    assert s.calls == 1101 and len(clock.waits) == 1100
    assert all(0 < w <= 30.0 for w in clock.waits) and clock.waits[-1] == 30.0
