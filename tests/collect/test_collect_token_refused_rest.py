"""A workspace whose token is refused rests as an unreachable one does (review of 515c233,
token_expired.py): an expired or revoked token logged an ERROR and cost a jobs/get call on every
poll, for as long as nobody rotated it. Now it is said once, tried 1, 2, 4, ... polls apart, and a
new token (`workspace add --replace`, `workspace set --token-env`) ends the rest at once. Real
store (SQLite, then PostgreSQL), real emulator through the real databricks-sdk."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.fernet import Fernet

from sandbox.workspace import RunningWorkspace
from server.clock import FakeClock
from server.collect import Collector
from server.domain import Workspace
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store
from tests.collect.conftest import CountedGateway, run_and_wait


def test_a_refused_token_is_said_once_rests_and_a_new_token_ends_the_rest(
        store: Store, emulator: RunningWorkspace, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    monkeypatch.setattr(workspaces._integration, "clock", clock)  # the SDK's retries wait on fake time
    secrets = SecretBox(Fernet.generate_key())
    job_id = emulator.seed_jobs()[0]
    workspaces.add_workspace(store, secrets, "sbx", emulator.host, emulator.token, "aws")
    (imported,) = workspaces.import_jobs(store, secrets, "sbx", [job_id]).projects
    calls: Counter[str] = Counter()
    gateway_for: Callable[[Workspace], Any] = \
        lambda ws: CountedGateway(workspaces.gateway_for(store, secrets, ws), calls)  # noqa: E731
    collector = Collector(store, gateway_for, clock=clock, poll_interval_s=60)
    emulator.revoke_token(emulator.token)

    with caplog.at_level(logging.INFO, logger="server.collect.collector"):
        for _ in range(5):  # five minutes of polls
            collector.poll_once()
            clock.advance(60)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "refused the token" in errors[0].getMessage()
    # Polls at 0, 60 (rested 60 s), 180 (rested 120 s): three calls, not five.
    assert sum(calls.values()) == 3, calls
    assert store.workspaces.get("sbx").status == "error"

    # A new token (as `trimtab workspace add sbx ... --replace` gives it) ends the rest at once.
    caplog.clear()
    token = emulator.add_token()
    workspaces.add_workspace(store, secrets, "sbx", emulator.host, token, "aws", replace=True)
    run_and_wait(emulator, job_id, token)
    before = sum(calls.values())
    with caplog.at_level(logging.INFO, logger="server.collect.collector"):
        (run,) = collector.poll_once()  # no clock advance: still inside the 240 s rest
    assert run.project_id == imported.project.id and sum(calls.values()) > before
    assert store.workspaces.get("sbx").status == "ok"
    assert any("status is ok again; trying it now" in r.getMessage() for r in caplog.records)



def test_a_refused_rest_ends_with_a_new_token_or_host_and_a_new_refusal_is_said(
        store: Store, caplog: pytest.LogCaptureFixture) -> None:
    from server.collect.health import WorkspaceHealth
    from server.databricks import WorkspaceAuthError

    clock = FakeClock()
    health = WorkspaceHealth(store, clock, poll_interval_s=60.0)
    refusal = WorkspaceAuthError("the workspace refused the token: Invalid access token")
    with caplog.at_level(logging.DEBUG, logger="server.collect.collector"):
        for _ in range(2):
            health.refused(store.workspaces.get("w"), refusal)
        assert health.resting_now(store.workspaces.get("w"))
        # A new refusal (another message) is said again; the same one is not.
        health.refused(store.workspaces.get("w"), WorkspaceAuthError("the token lacks permission"))
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 2 and "lacks permission" in errors[1]
    # `workspace add --replace` (set_token) and `workspace set --host ... --token-env` (set_host) set ok.
    store.workspaces.set_token("w", "enc2", "****")
    assert not health.resting_now(store.workspaces.get("w"))
    health.refused(store.workspaces.get("w"), refusal)
    assert health.resting_now(store.workspaces.get("w"))
    store.workspaces.set_host("w", "http://x", "enc3", "****")
    assert not health.resting_now(store.workspaces.get("w"))


def test_after_a_restart_a_workspace_stored_unreachable_is_tried_with_the_short_probe_first(
        store: Store, emulator: RunningWorkspace) -> None:
    # The rests live in memory: a new collector (a restarted server) met a workspace still down with
    # the full calls and their 60 s retry budget. It now probes first, as a resting one is.
    secrets = SecretBox(Fernet.generate_key())
    job_id = emulator.seed_jobs()[0]
    workspaces.add_workspace(store, secrets, "sbx", emulator.host, emulator.token, "aws")
    workspaces.import_jobs(store, secrets, "sbx", [job_id])
    store.workspaces.set_status("sbx", "unreachable", "connection refused")  # what the old server stored
    calls: Counter[str] = Counter()
    collector = Collector(store, lambda ws: CountedGateway(workspaces.gateway_for(store, secrets, ws), calls),
                          clock=FakeClock(), poll_interval_s=60)
    collector.poll_once()
    assert calls["probe"] == 1 and calls["get_job"] == 1  # it answers: probed, then collected
    assert store.workspaces.get("sbx").status == "ok"
