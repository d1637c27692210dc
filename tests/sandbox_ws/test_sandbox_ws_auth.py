"""PAT auth, the host-metadata probe, and rate limiting with Retry-After."""

from __future__ import annotations

import time

import pytest
import requests
from databricks.sdk.errors import PermissionDenied

from sandbox.workspace.clock import FakeClock, RealClock
from tests.sandbox_ws.conftest import Sandbox, client


def test_well_known_config_is_404_without_auth(sandbox: Sandbox) -> None:
    ws = sandbox.start()
    reply = requests.get(ws.host + "/.well-known/databricks-config", timeout=5)
    assert reply.status_code == 404 and reply.json()["error_code"] == "NOT_FOUND"


def test_missing_token_is_401_and_wrong_or_revoked_token_is_403(sandbox: Sandbox) -> None:
    ws = sandbox.start()
    reply = requests.get(ws.host + "/api/2.2/jobs/list", timeout=5)
    assert reply.status_code == 401
    assert set(reply.json()) == {"error_code", "message"}
    reply = requests.get(ws.host + "/api/2.2/jobs/list", timeout=5,
                         headers={"Authorization": "Basic abc"})
    assert reply.status_code == 401 and reply.json()["error_code"] == "UNAUTHENTICATED"
    with pytest.raises(PermissionDenied):
        list(client(ws, token="dapi-wrong").jobs.list())

    extra = ws.add_token()
    assert list(client(ws, token=extra).jobs.list()) == []
    ws.revoke_token(extra)
    reply = requests.get(ws.host + "/api/2.2/jobs/list", timeout=5,
                         headers={"Authorization": f"Bearer {extra}"})
    assert reply.status_code == 403 and reply.json()["error_code"] == 403  # a number, as Databricks sends it
    with pytest.raises(PermissionDenied):
        list(client(ws, token=extra).jobs.list())
    # The original token is unaffected.
    assert list(client(ws).jobs.list()) == []


def test_rate_limit_answers_429_with_retry_after(sandbox: Sandbox) -> None:
    clock = FakeClock(start=1_000.25)  # frozen mid-second: nothing refills until advanced
    ws = sandbox.start(clock=clock, rate_limit=3)
    headers = {"Authorization": f"Bearer {ws.token}"}
    codes = [requests.get(ws.host + "/api/2.2/jobs/list", headers=headers, timeout=5)
             for _ in range(5)]
    assert [r.status_code for r in codes] == [200, 200, 200, 429, 429]
    assert codes[3].headers["Retry-After"] == "1"
    assert codes[3].json()["error_code"] == "REQUEST_LIMIT_EXCEEDED"
    clock.advance(1.0)
    assert requests.get(ws.host + "/api/2.2/jobs/list", headers=headers,
                        timeout=5).status_code == 200


def test_sdk_waits_out_the_rate_limit_and_succeeds(sandbox: Sandbox) -> None:
    ws = sandbox.start(clock=RealClock(), rate_limit=2)
    w = client(ws, retry_timeout=20)
    began = time.monotonic()
    # Five, not four: the quota's windows are wall-clock seconds, so four quick calls can fall two
    # and two either side of a second's edge and meet no 429. Five cannot fit in two windows, and
    # spanning three takes over a second anyway.
    ids = [w.jobs.create(name=f"j{i}").job_id for i in range(5)]
    elapsed = time.monotonic() - began
    assert ids == [1, 2, 3, 4, 5]  # retried POSTs never created a job twice
    assert len(list(w.jobs.list())) == 5
    assert elapsed >= 1.0  # a Retry-After was honoured (or the calls spanned three windows)
