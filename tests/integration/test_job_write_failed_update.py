"""A ``jobs/update`` that failed with no answer saying whether it was written (a 5xx, a timeout)
is judged from the job itself (review F5): before, the previous spec was always written back, which
after a 500 that had written nothing cost a second failing call (another retry budget) and logged
``ERROR ... could not restore the previous spec``, as if Trimtab had broken the job. Now the job is
read: it still holds the previous spec, so nothing was written and the log says so (WARNING), with
nothing sent again; a write that did land before the failure is still undone. SQLite and
PostgreSQL, the real databricks-sdk against the emulator (its fault injection answers
``jobs/update`` with a 500), the gateway's retries on a fake clock."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from sandbox.workspace import RunningWorkspace
from server.apply import apply_recommendation
from server.clock import FakeClock
from server.databricks import DatabricksGateway, DatabricksServerError, DatabricksUnavailable
from server.domain import Workspace
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store
from tests.integration.test_dbx_user_edit_hold import _Loop


class _WritesThenFails:
    """The real gateway whose first ``jobs/update`` lands and is then answered as lost (a 504 from a
    proxy after the service wrote it): what the emulator's faults, answered before the write, cannot do."""

    def __init__(self, inner: DatabricksGateway) -> None:
        self._inner = inner
        self.updates = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def update_job(self, job_id: int, new_settings: dict[str, Any]) -> None:
        self.updates += 1
        self._inner.update_job(job_id, new_settings)
        if self.updates == 1:
            raise DatabricksServerError("POST /api/2.2/jobs/update: Gateway Timeout (HTTP 504)")


def _said(caplog: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if text in r.getMessage()]


def test_a_failed_update_that_wrote_nothing_is_said_so_and_nothing_is_written_back(
        store: Store, secrets: SecretBox, connected: Workspace, job_ids: list[int], emulator: RunningWorkspace,
        gateway: DatabricksGateway, integration_clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    loop = _Loop(store, secrets, job_ids[0], emulator, gateway, auto_apply=False)
    loop.cycle()
    before = loop.live()
    emulator.inject_fault("POST", "jobs/update", job_id=loop.project.job_id)
    caplog.set_level(logging.INFO)
    with pytest.raises(DatabricksServerError):
        apply_recommendation(store, workspaces.gateway_for(store, secrets, connected), loop.pid)
    assert loop.live() == before
    (said,) = _said(caplog, "nothing was written")
    assert said.levelno == logging.WARNING and said.name == "server.apply"
    assert "jobs/update failed and the job still holds its previous spec" in said.getMessage()
    assert not _said(caplog, "could not restore") and not _said(caplog, "writing the previous spec back")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_failed_update_that_was_written_is_still_undone(
        store: Store, secrets: SecretBox, connected: Workspace, job_ids: list[int], emulator: RunningWorkspace,
        gateway: DatabricksGateway, integration_clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    loop = _Loop(store, secrets, job_ids[0], emulator, gateway, auto_apply=False)
    loop.cycle()
    before = loop.live()
    flaky = _WritesThenFails(workspaces.gateway_for(store, secrets, connected))
    caplog.set_level(logging.INFO)
    with pytest.raises(DatabricksServerError):
        apply_recommendation(store, flaky, loop.pid)  # type: ignore[arg-type]
    assert flaky.updates == 2  # the write, then the previous spec written back
    assert loop.live() == before
    assert _said(caplog, "yet the job holds part of the new spec; writing the previous spec back")
    assert not _said(caplog, "nothing was written")


class _GoesAway:
    """The real gateway until its ``jobs/update``: that fails as a lost connection does, unsent, and the
    workspace answers nothing after it (an outage that begins with the write)."""

    def __init__(self, inner: DatabricksGateway) -> None:
        self._inner = inner
        self.down = False
        self.updates = 0

    def __getattr__(self, name: str) -> Any:
        if self.down:
            raise DatabricksUnavailable(f"{name}: cannot reach the workspace (Connection refused)")
        return getattr(self._inner, name)

    def update_job(self, job_id: int, new_settings: dict[str, Any]) -> None:
        self.updates += 1
        self.down = True
        raise DatabricksUnavailable("POST /api/2.2/jobs/update: cannot reach the workspace (Connection refused)")


def test_a_failed_update_in_an_outage_is_left_to_the_next_poll_not_written_back(
        store: Store, secrets: SecretBox, connected: Workspace, job_ids: list[int], emulator: RunningWorkspace,
        gateway: DatabricksGateway, integration_clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    """Written back blindly, the restore met the same outage: another call's whole retry budget, then
    ERROR "could not restore". The write is announced, so the next poll settles it from the job."""
    loop = _Loop(store, secrets, job_ids[0], emulator, gateway, auto_apply=False)
    loop.cycle()
    before = loop.live()
    away = _GoesAway(workspaces.gateway_for(store, secrets, connected))
    caplog.set_level(logging.INFO)
    with pytest.raises(DatabricksUnavailable):
        apply_recommendation(store, away, loop.pid)  # type: ignore[arg-type]
    assert away.updates == 1
    assert _said(caplog, "could not be read to tell whether it was written")
    assert _said(caplog, "nothing written back: the next collection poll reads the job")
    assert not _said(caplog, "could not restore")
    assert loop.live() == before
