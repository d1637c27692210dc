"""ImportJobs naming jobs: at most `MAX_NAMED_JOBS` ids a call, and the work stops when the call ends.

Finding: an unpaged ImportJobs took any number of ids and went on calling jobs/get after the client
gave up: 30,000 ids with a 3 s deadline were still read 30 s later (some 700 a second), 200,000 for
4 minutes. Real parts: the gRPC server on 127.0.0.1:0, the sandbox workspace emulator over HTTP, whose
injected 404 on every jobs/get counts the reads (each named job is one jobs/get, then skipped).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import grpc
import pytest

from protos.trimtab.v1 import admin_pb2, admin_pb2_grpc
from sandbox.workspace import RunningWorkspace
from server.serve import RunningServer
from server.services import workspaces
from server.services.job_import import MAX_NAMED_JOBS
from server.services.secrets import SecretBox
from server.store import Store

# Reads allowed after the client's end of the call: the server hears of it a little later (up to 4
# seen here, at ~1 ms a read); the old server went on to read all 1,000.
SEEN_LATE = 50


@pytest.fixture
def store(sqlite_store: Store) -> Store:
    """SQLite only: what is tested is the call's life, not the store."""
    return sqlite_store


@pytest.fixture
def stub(store: Store, server: RunningServer, server_key: bytes, emulator: RunningWorkspace) -> admin_pb2_grpc.WorkspaceServiceStub:
    workspaces.add_workspace(store, SecretBox(server_key), "sbx", emulator.host, emulator.token, "aws")
    # Every jobs/get is a 404: each named job costs one read, counted, and is skipped as not found.
    emulator.inject_fault("GET", "jobs/get", status=404, error_code="RESOURCE_DOES_NOT_EXIST")
    channel = grpc.insecure_channel(server.address)
    return admin_pb2_grpc.WorkspaceServiceStub(channel)


@pytest.fixture
def admin(store: Store) -> list[tuple[str, str]]:
    _, token = store.tokens.create("admin", "admin")
    return [("authorization", f"Bearer {token}")]


def _settled(reads: Callable[[], int], quiet_s: float = 2.0, within_s: float = 120.0) -> int:
    """The count once it has not moved for ``quiet_s``."""
    ends = time.monotonic() + within_s
    last, since = reads(), time.monotonic()
    while time.monotonic() < ends:
        time.sleep(0.1)
        now = reads()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return now
    raise AssertionError(f"still reading after {within_s} s ({last} reads)")


def _request(n: int, paged: bool = False) -> admin_pb2.ImportJobsRequest:
    return admin_pb2.ImportJobsRequest(workspace="sbx", job_ids=list(range(100_000, 100_000 + n)), dry_run=True,
                                       paged=paged)


@pytest.mark.parametrize("paged", [False, True], ids=["unpaged", "paged"])
def test_more_ids_than_the_maximum_are_refused_before_any_read(stub: admin_pb2_grpc.WorkspaceServiceStub,
                                                               admin: list[tuple[str, str]],
                                                               emulator: RunningWorkspace, paged: bool) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        stub.ImportJobs(_request(MAX_NAMED_JOBS + 1, paged), metadata=admin, timeout=60)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.value.details() == (f"job_ids: {MAX_NAMED_JOBS + 1:,} ids; at most {MAX_NAMED_JOBS:,} a call "
                                       "(name none to import every job)")
    assert emulator.fault_hits == 0


def test_the_maximum_is_imported(stub: admin_pb2_grpc.WorkspaceServiceStub, admin: list[tuple[str, str]],
                                 emulator: RunningWorkspace) -> None:
    reply = stub.ImportJobs(_request(MAX_NAMED_JOBS), metadata=admin, timeout=300)
    assert len(reply.skipped) == MAX_NAMED_JOBS and all(s.not_found for s in reply.skipped)
    assert emulator.fault_hits == MAX_NAMED_JOBS


def test_a_cancelled_call_stops_reading_jobs(stub: admin_pb2_grpc.WorkspaceServiceStub, admin: list[tuple[str, str]],
                                             emulator: RunningWorkspace) -> None:
    call = stub.ImportJobs.future(_request(MAX_NAMED_JOBS), metadata=admin, timeout=300)
    ends = time.monotonic() + 60
    while emulator.fault_hits < 5:
        assert time.monotonic() < ends and not call.done(), "no job read"
        time.sleep(0.01)
    assert call.cancel()
    at_cancel = emulator.fault_hits
    reads = _settled(lambda: emulator.fault_hits)
    # The job under way when the server saw the cancel finishes; none after it starts (a few reads were
    # seen after the client's cancel, the time the server takes to hear of it; before, all 1,000 went).
    assert reads - at_cancel <= SEEN_LATE and reads < MAX_NAMED_JOBS, (at_cancel, reads)


def test_a_call_past_its_deadline_stops_reading_jobs(stub: admin_pb2_grpc.WorkspaceServiceStub,
                                                     admin: list[tuple[str, str]], emulator: RunningWorkspace) -> None:
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as ended:
        stub.ImportJobs(_request(MAX_NAMED_JOBS), metadata=admin, timeout=0.5)
    assert ended.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    at_deadline = emulator.fault_hits
    reads = _settled(lambda: emulator.fault_hits)
    assert reads - at_deadline <= SEEN_LATE and reads < MAX_NAMED_JOBS, (at_deadline, reads, time.monotonic() - started)
