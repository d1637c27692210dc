"""An agent sending to a server older than ``BatchAck.refused_applications``: that server refuses a
whole batch with PERMISSION_DENIED when it holds an application another workspace's agent token sent
first. The agent keeps the batch and retries it (a server upgraded meanwhile takes it), as for a
refused token, but its WARNING no longer says "refused the agent token ... fix TRIMTAB_TOKEN": the
token was accepted, and the current server answers PERMISSION_DENIED to no agent call. A real gRPC
server; a fake clock for the backoff."""

from __future__ import annotations

import logging
import random
from pathlib import Path

import grpc
import pytest

from agent.clock import FakeClock
from agent.send import Sender, SenderSettings
from agent.spool import Spool
from protos.trimtab.v1 import ingest_pb2
from tests.agent.conftest import TOKEN, IngestServer


def test_a_whole_batch_refused_by_an_older_server_is_kept_and_not_blamed_on_the_token(
        tmp_path: Path, ingest: IngestServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "trimtab.agent")
    ingest.servicer.script.extend([(grpc.StatusCode.PERMISSION_DENIED, None)] * 6)  # then upgraded
    spool = Spool(tmp_path / "spool", 1 << 20)
    spool.put(ingest_pb2.EventBatch(batch_id="b1", events=[
        ingest_pb2.Event(key="job/1", application_id="app-x")]).SerializeToString(), 1)
    sender = Sender(spool, SenderSettings(ingest.address, TOKEN, rpc_timeout_s=5, backoff_base_s=1.0,
                                          backoff_max_s=30), FakeClock(), prepare=lambda b: None,
                    rng=random.Random(3))
    sender.start()
    assert ingest.servicer.wait_for(lambda: len(ingest.servicer.stored) == 1, 30)
    sender.stop(1.0)
    assert spool.pending()[0] == 0 and spool.parked() == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings and not [w for w in warnings if "refused the agent token" in w or "TRIMTAB_TOKEN" in w]
    assert "accepted the agent token but refused a batch (PERMISSION_DENIED: scripted failure)" in warnings[0]
    assert "upgrade the server" in warnings[0]
