"""A server's ``retry-after-ms`` is the minimum delay, not the delay (review, repro hint.py).

While its database is down the server answers UNAVAILABLE with ``retry-after-ms: 500``; the sender
took the hint as the delay, so every agent retried twice a second, in lockstep, for the whole
outage. Now the delay is max(hint, jittered exponential backoff).
"""

from __future__ import annotations

import random
from pathlib import Path

import grpc

from agent.clock import FakeClock
from agent.send import Sender, SenderSettings
from agent.spool import Spool
from protos.trimtab.v1 import ingest_pb2
from tests.agent.conftest import TOKEN, IngestServer


def _sender(tmp_path: Path, ingest: IngestServer, clock: FakeClock, seed: int) -> tuple[Sender, Spool]:
    spool = Spool(tmp_path / f"spool{seed}", 1 << 20)
    spool.put(ingest_pb2.EventBatch(batch_id="b1", events=[ingest_pb2.Event(key="k", application_id="a")])
              .SerializeToString(), 1)
    s = Sender(spool, SenderSettings(ingest.address, TOKEN, backoff_base_s=1.0, backoff_max_s=30.0),
               clock, prepare=lambda b: None, rng=random.Random(seed))
    return s, spool


def _run(tmp_path: Path, ingest: IngestServer, script: list[tuple[grpc.StatusCode, int | None]],
         seed: int) -> list[float]:
    s = ingest.servicer
    s.stored.clear()
    s.script.extend(script)
    clock = FakeClock()
    sender, spool = _sender(tmp_path, ingest, clock, seed)
    sender.start()
    try:
        assert s.wait_for(lambda: len(s.stored) == 1, 30)
    finally:
        sender.stop(0.5)
    assert spool.pending() == (0, 0)
    return clock.waits


def test_a_short_hint_does_not_replace_the_backoff(tmp_path: Path, ingest: IngestServer):
    waits = _run(tmp_path, ingest, [(grpc.StatusCode.UNAVAILABLE, 500)] * 12, seed=3)
    assert len(waits) == 12
    for n, w in enumerate(waits, start=1):
        assert w >= 0.5  # the hint is still honoured as a floor
        assert min(30.0, 0.8 * 2 ** (n - 1)) <= w <= min(30.0, 1.2 * 2 ** (n - 1))
    assert waits[-1] == 30.0


def test_two_agents_do_not_retry_in_lockstep(tmp_path: Path, ingest: IngestServer):
    a = _run(tmp_path, ingest, [(grpc.StatusCode.UNAVAILABLE, 500)] * 4, seed=1)
    b = _run(tmp_path, ingest, [(grpc.StatusCode.UNAVAILABLE, 500)] * 4, seed=2)
    assert a != b  # jittered: their retries spread out instead of hitting the server together


def test_a_long_hint_still_wins_over_the_backoff_and_the_cap(tmp_path: Path, ingest: IngestServer):
    waits = _run(tmp_path, ingest, [(grpc.StatusCode.UNAVAILABLE, None),
                                    (grpc.StatusCode.RESOURCE_EXHAUSTED, 40_000)], seed=3)
    assert 0.8 <= waits[0] <= 1.2 and waits[1] == 40.0
