"""A refused token keeps the data (retried, never parked), delivery failures are logged with their
target and cause (once, then at most every few minutes) plus a line on recovery, parked batches
can be replayed, and TLS trusts a private CA from TRIMTAB_TLS_CA. Real gRPC servers, a fake clock
only where backoff would make the test wait."""

from __future__ import annotations

import logging
import random
import subprocess
import sys
from concurrent import futures
from pathlib import Path

import grpc
import pytest

from agent.clock import FakeClock, SystemClock
from agent.send import Sender, SenderSettings
from agent.spool import Spool
from protos.trimtab.v1 import ingest_pb2, ingest_pb2_grpc
from tests.agent.conftest import REPO, TOKEN, IngestServer, RecordingIngest


def batch(n: int, tag: str) -> bytes:
    return ingest_pb2.EventBatch(batch_id=tag, events=[
        ingest_pb2.Event(key=f"job/{tag}-{i}", application_id="app") for i in range(n)]).SerializeToString()


def _sender(spool: Spool, address: str, clock, token: str = TOKEN, **kw) -> Sender:
    return Sender(spool, SenderSettings(address, token, rpc_timeout_s=5, backoff_base_s=1.0, backoff_max_s=30, **kw),
                  clock, prepare=lambda b: None, rng=random.Random(3))


def _messages(caplog: pytest.LogCaptureFixture, level: int, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == level and text in r.getMessage()]


def test_refused_token_keeps_batches_and_retries_with_capped_backoff(tmp_path: Path, ingest: IngestServer,
                                                                     caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO, "trimtab.agent")
    clock = FakeClock()
    spool = Spool(tmp_path / "spool", 1 << 20)
    for i in range(3):
        spool.put(batch(1, f"t{i}"), 1)
    sender = _sender(spool, ingest.address, clock, token="rotated-away")
    sender.start()
    assert ingest.servicer.wait_for(lambda: ingest.servicer.calls >= 12, 20)
    sender.stop(0.0)
    assert spool.pending()[0] == 3 and spool.parked() == 0  # nothing parked, nothing lost
    assert spool.snapshot_counters().batches_rejected == 0
    assert max(clock.waits) == 30.0 and clock.waits[0] < 2  # the same capped backoff as UNAVAILABLE
    warns = _messages(caplog, logging.WARNING, "refused the agent token")
    assert 1 <= len(warns) < ingest.servicer.calls / 3  # not one per retry
    assert ingest.address in warns[0] and "UNAUTHENTICATED" in warns[0] and "bad token" in warns[0]

    # The token is fixed (a new agent process reads the new secret): the same spool is delivered whole.
    fixed = _sender(Spool(tmp_path / "spool", 1 << 20), ingest.address, FakeClock())
    fixed.start()
    assert ingest.servicer.wait_for(lambda: len(ingest.servicer.stored) == 3, 20)
    fixed.stop(1.0)
    assert {k for _, k in ingest.servicer.stored} == {"job/t0-0", "job/t1-0", "job/t2-0"}


def test_refused_token_with_full_spool_drops_oldest_counted(tmp_path: Path, ingest: IngestServer):
    # While the token is refused the spool only grows; its bound and oldest-first drop still hold.
    one = len(batch(1, "f0"))
    spool = Spool(tmp_path / "spool", 3 * one + 5)
    spool.put(batch(1, "f0"), 1)
    sender = _sender(spool, ingest.address, FakeClock(), token="wrong")
    sender.start()
    assert ingest.servicer.wait_for(lambda: ingest.servicer.calls >= 2, 20)
    for i in range(1, 6):
        spool.put(batch(1, f"f{i}"), 1)
    sender.stop(0.0)
    c = spool.snapshot_counters()
    assert spool.pending()[0] <= 3 and spool.pending()[1] <= 3 * one + 5
    assert c.batches_dropped_spool_full == 6 - spool.pending()[0] and c.batches_rejected == 0


def test_failure_warning_names_target_and_cause_then_recovery(tmp_path: Path, ingest: IngestServer,
                                                             caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO, "trimtab.agent")
    ingest.servicer.script.extend([(grpc.StatusCode.UNAVAILABLE, None)] * 25)
    clock = FakeClock()
    spool = Spool(tmp_path / "spool", 1 << 20)
    spool.put(batch(2, "x"), 2)
    sender = _sender(spool, ingest.address, clock, warn_every_s=300.0)
    sender.start()
    assert ingest.servicer.wait_for(lambda: len(ingest.servicer.stored) == 2, 30)
    sender.stop(1.0)
    warns = _messages(caplog, logging.WARNING, "cannot deliver to")
    # ~630 s of fake backoff: the first failure, then at most one per 300 s — not 25 lines.
    assert 2 <= len(warns) <= 3, warns
    assert all(ingest.address in w and "UNAVAILABLE: scripted failure" in w for w in warns)
    assert _messages(caplog, logging.INFO, f"delivering again to {ingest.address} after 25 failed attempt(s)")


@pytest.mark.parametrize("codes", [
    [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED],
    [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.ABORTED, grpc.StatusCode.DEADLINE_EXCEEDED],
])
def test_alternating_codes_still_warn_at_most_once_per_window(tmp_path: Path, ingest: IngestServer,
                                                              caplog: pytest.LogCaptureFixture, codes):
    # An overloaded server: some calls UNAVAILABLE, others past the deadline. Throttled per episode.
    caplog.set_level(logging.INFO, "trimtab.agent")
    ingest.servicer.script.extend([(codes[i % len(codes)], None) for i in range(24)])
    clock = FakeClock()
    spool = Spool(tmp_path / "spool", 1 << 20)
    spool.put(batch(1, "a"), 1)
    sender = _sender(spool, ingest.address, clock, warn_every_s=300.0)
    sender.start()
    assert ingest.servicer.wait_for(lambda: len(ingest.servicer.stored) == 1, 30)
    sender.stop(1.0)
    span = sum(clock.waits[:-1])  # fake time from the first failure to the last one
    warns = _messages(caplog, logging.WARNING, "cannot deliver to")
    assert 1 <= len(warns) <= 1 + int(span // 300), (span, warns)
    assert len(warns) < 24 / 4
    # What was seen between two warnings is not hidden: the later line names the other codes.
    if len(warns) > 1:
        assert "also seen since the last warning:" in warns[1]


def test_token_refused_once_the_server_is_up_adds_at_most_one_warning_per_window(
        tmp_path: Path, ingest: IngestServer, caplog: pytest.LogCaptureFixture):
    # Alternating between "unavailable" and "token refused": the change of class is news (one
    # extra line), but alternation cannot flood the log.
    caplog.set_level(logging.INFO, "trimtab.agent")
    ingest.servicer.script.extend([(grpc.StatusCode.UNAVAILABLE if i % 2 == 0 else grpc.StatusCode.UNAUTHENTICATED,
                                    None) for i in range(24)])
    clock = FakeClock()
    spool = Spool(tmp_path / "spool", 1 << 20)
    spool.put(batch(1, "b"), 1)
    sender = _sender(spool, ingest.address, clock, warn_every_s=300.0)
    sender.start()
    assert ingest.servicer.wait_for(lambda: len(ingest.servicer.stored) == 1, 30)
    sender.stop(1.0)
    span = sum(clock.waits[:-1])
    unavailable = _messages(caplog, logging.WARNING, "cannot deliver to")
    refused = _messages(caplog, logging.WARNING, "refused the agent token")
    windows = 1 + int(span // 300)
    assert unavailable and refused, "the change to a refused token is told"
    assert len(unavailable) + len(refused) <= 2 * windows, (span, unavailable, refused)


def test_unreachable_server_warning_carries_grpc_cause(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO, "trimtab.agent")
    srv = IngestServer(RecordingIngest()).start()
    srv.stop()  # the port is known and nobody listens
    spool = Spool(tmp_path / "spool", 1 << 20)
    spool.put(batch(1, "k"), 1)
    sender = Sender(spool, SenderSettings(srv.address, TOKEN, rpc_timeout_s=1, backoff_base_s=0.05,
                                          backoff_max_s=0.1), SystemClock(), prepare=lambda b: None)
    sender.start()
    sender.stop(1.0)
    warns = _messages(caplog, logging.WARNING, f"cannot deliver to {srv.address}")
    assert len(warns) == 1 and "UNAVAILABLE" in warns[0] and "connect" in warns[0].lower(), warns


def test_replay_parked_moves_batches_back_and_refuses_while_agent_runs(tmp_path: Path, ingest: IngestServer):
    state = tmp_path / "state"
    spool = Spool(state / "spool", 1 << 20)
    ingest.servicer.script.extend([(grpc.StatusCode.INVALID_ARGUMENT, None)] * 2)
    for i in range(2):
        spool.put(batch(1, f"r{i}"), 1)
    s = _sender(spool, ingest.address, FakeClock())
    s.start()
    s.stop(1.0)
    assert spool.parked() == 2 and spool.pending()[0] == 0
    spool.put(batch(1, "r2"), 1)  # a newer batch still waiting

    cmd = [sys.executable, "-m", "agent.cli", "replay-parked", "--state-dir", str(state)]
    from agent.durable import try_lock

    held = try_lock(state / "agent.lock")  # as a running agent holds it
    assert held is not None
    busy = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=60)
    import os

    assert busy.returncode == 1 and f"an agent (pid {os.getpid()}) is running" in busy.stderr

    os.close(held)
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "moved 2 parked batch(es)" in done.stdout, done.stderr
    again = Spool(state / "spool", 1 << 20)
    assert again.parked() == 0 and again.pending()[0] == 3
    sender = _sender(again, ingest.address, FakeClock())
    sender.start()
    assert ingest.servicer.wait_for(lambda: len(ingest.servicer.stored) == 3, 20)
    sender.stop(1.0)
    # One sender, one batch at a time: the batch already waiting, then the parked ones oldest first.
    assert ingest.servicer.acked_batches == ["r2", "r0", "r1"]


def _self_signed(tmp_path: Path) -> tuple[bytes, bytes]:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True, timeout=60)
    return key.read_bytes(), cert.read_bytes()


def test_tls_ca_trusts_a_self_signed_server(tmp_path: Path):
    key, cert = _self_signed(tmp_path)
    servicer = RecordingIngest()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    ingest_pb2_grpc.add_IngestServiceServicer_to_server(servicer, server)
    port = server.add_secure_port("127.0.0.1:0", grpc.ssl_server_credentials([(key, cert)]))
    server.start()
    try:
        spool = Spool(tmp_path / "spool", 1 << 20)
        spool.put(batch(1, "tls"), 1)
        sender = _sender(spool, f"127.0.0.1:{port}", FakeClock(), tls=True, root_certificates=cert)
        sender.start()
        assert servicer.wait_for(lambda: len(servicer.stored) == 1, 20)
        sender.stop(1.0)
    finally:
        server.stop(grace=None).wait()


def test_tls_ca_setting_is_checked_at_start(tmp_path: Path):
    base = [sys.executable, "-m", "agent.cli", "run", "--server", "127.0.0.1:1", "--state-dir", str(tmp_path / "s"),
            "--eventlog-dir", str(tmp_path)]
    env = {"PATH": "/usr/bin:/bin", "TRIMTAB_TOKEN": TOKEN, "TRIMTAB_TLS": "1"}
    missing = subprocess.run(base + ["--tls-ca", str(tmp_path / "nope.pem")], cwd=REPO, env=env,
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "TRIMTAB_TLS_CA" in missing.stderr and "nope.pem" in missing.stderr
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    bad = subprocess.run(base, cwd=REPO, env=dict(env, TRIMTAB_TLS_CA=str(junk)), capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 2 and "holds no PEM certificate" in bad.stderr
