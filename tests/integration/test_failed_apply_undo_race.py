"""A failed apply Trimtab undid is not recorded as applied by a collector poll that read the job while
the write was on it (review: a hung ``jobs/update`` answer, or every answer a 500).

The first ``jobs/update`` lands but its answer is lost; the apply reads the job, writes the previous
spec back and fails. A collector poll that read the job between the write and the write-back waited
for the project's lock (the apply's), then settled the apply's announced write against that stale
read: "the job holds recommendation 1 ... recorded as applied now". The job ran its old cluster, so
the next run read as the owner's edit and paused auto-apply. Now the write-back clears the
announcement with it, and a poll settles an announced write only from a read made under the lock;
the apply's error names the job and what it holds, and the log says what happened.

Real databricks-sdk against the emulator, the real collector and planner, SQLite and PostgreSQL.
The poll is started from inside the apply's ``jobs/update`` (after the write landed, before its
answer is lost), so the interleaving is the reviewer's, every time, with no timeout waited for."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import pytest

from sandbox.workspace import RunningWorkspace
from server.apply import apply_recommendation, restore_original, revert
from server.clock import FakeClock, SystemClock
from server.collect import Collector
from server.costing.catalog import load_catalog
from server.databricks import DatabricksGateway, DatabricksServerError
from server.domain import Workspace
from server.plan.planner import edit_hold
from server.services import workspaces
from server.services.projects import update_settings
from server.services.secrets import SecretBox
from server.store import Store
from server.write_intent import INTENT_KEY
from tests.integration.loop import _Loop

LOST = "POST /api/2.2/jobs/update: Gateway Timeout (HTTP 504)"


class _SignalsRead:
    """The collector's gateway: ``read`` is set once its first read of ``job_id``'s settings has
    answered (its ``jobs/get``, or the ``jobs/list`` of a poll after its first)."""

    def __init__(self, inner: DatabricksGateway, job_id: int, read: threading.Event) -> None:
        self._inner, self._job_id, self._read = inner, job_id, read

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def get_job(self, job_id: int) -> dict[str, Any]:
        job = self._inner.get_job(job_id)
        if job_id == self._job_id:
            self._read.set()
        return job

    def list_job_settings(self) -> list[dict[str, Any]]:
        jobs = self._inner.list_job_settings()
        self._read.set()
        return jobs


class _PollMidWrite:
    """The apply's gateway: each ``jobs/update`` lands and its answer is then lost (``lost`` of them:
    1, the write only; None, the write-back too). Between the first write and its lost answer, a
    collector poll runs in another thread up to its read of the job, which then holds the write."""

    def __init__(self, inner: DatabricksGateway, poll: Callable[[], object], read: threading.Event,
                 lost: int | None) -> None:
        self._inner, self._poll, self._read, self._lost = inner, poll, read, lost
        self.updates = 0
        self.poller: threading.Thread | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def update_job(self, job_id: int, new_settings: dict[str, Any]) -> None:
        self.updates += 1
        self._inner.update_job(job_id, new_settings)
        if self.updates == 1:
            self.poller = threading.Thread(target=self._poll, name="racing-poll", daemon=True)
            self.poller.start()
            assert self._read.wait(60), "the racing poll never read the job"
        if self._lost is None or self.updates <= self._lost:
            raise DatabricksServerError(LOST)


def _apply_by_hand(store: Store, gateway: Any, project_id: int) -> object:
    return apply_recommendation(store, gateway, project_id, by_hand=True)


def _race(store: Store, secrets: SecretBox, connected: Workspace, loop: _Loop, lost: int | None, *,
          listed: bool = False, write: Callable[[Store, Any, int], object] = _apply_by_hand,
          ) -> tuple[_PollMidWrite, DatabricksServerError]:
    """``write`` (the pending recommendation applied, by default) through `_PollMidWrite`: its gateway
    (the poll joined) and the error. ``listed``: the racing poll is its collector's second, which reads
    the job from ``jobs/list``."""
    read = threading.Event()
    poller = Collector(store, lambda ws: _SignalsRead(workspaces.gateway_for(store, secrets, ws),  # type: ignore[arg-type,return-value]
                                                      loop.project.job_id, read),
                       clock=SystemClock(), catalog=load_catalog())
    if listed:
        assert poller.poll_once() == []  # every job read in full once: the next poll goes by the listings
        read.clear()
    racing = _PollMidWrite(workspaces.gateway_for(store, secrets, connected), poller.poll_once, read, lost)
    with pytest.raises(DatabricksServerError) as raised:
        write(store, racing, loop.pid)
    assert racing.poller is not None
    racing.poller.join(60)
    assert not racing.poller.is_alive()
    return racing, raised.value


def _said(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


def test_an_undone_apply_is_not_recorded_by_a_poll_that_read_the_job_mid_write(
        store: Store, secrets: SecretBox, connected: Workspace, job_ids: list[int], emulator: RunningWorkspace,
        gateway: DatabricksGateway, integration_clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    loop = _Loop(store, secrets, job_ids[0], emulator, gateway, auto_apply=False)
    loop.cycle()
    rec = store.recommendations.pending(loop.pid)
    assert rec is not None and rec.id is not None
    before = loop.live()
    caplog.set_level(logging.INFO)

    racing, err = _race(store, secrets, connected, loop, lost=1)

    assert racing.updates == 2  # the write, then the previous spec written back
    assert loop.live() == before
    project = store.projects.get(loop.pid)
    assert store.recommendations.get(rec.id).state == "pending"
    assert project.pending_apply is None and INTENT_KEY not in project.state
    assert not _said(caplog, "recorded as applied now")
    # What the person is told: the job, and that it is back on its cluster.
    assert err.message == (f"jobs/update of job {project.job_id} ({project.job_name}) failed (the previous cluster "
                           f"was written back): {LOST}")

    # Auto-apply on: the next run is no owner's edit, nothing pauses, and it applies after the run.
    update_settings(store, str(loop.pid), {"auto_apply": True})
    run, _ = loop.cycle()
    assert "user_edit" not in run.anomalies
    project = store.projects.get(loop.pid)
    assert "user_edit_paths" not in project.state
    assert edit_hold(project, store.runs.list(loop.pid)) == ""
    assert loop.applied_id() is not None
    assert not _said(caplog, "edited outside Trimtab")


@pytest.mark.parametrize("listed", [False, True], ids=["full-read", "listing"])
def test_a_write_back_whose_answer_is_lost_is_settled_from_the_job_read_under_the_lock(
        store: Store, secrets: SecretBox, connected: Workspace, job_ids: list[int], emulator: RunningWorkspace,
        gateway: DatabricksGateway, integration_clock: FakeClock, caplog: pytest.LogCaptureFixture,
        listed: bool) -> None:
    """Every answer lost (each write lands): the apply cannot tell the write-back landed and says so;
    the poll waiting for the lock reads the job again under it, finds the previous spec, records nothing,
    and says the write reached the job and was written back (not "never reached the job"). The same when
    the poll read the job from its listing of the workspace's jobs."""
    loop = _Loop(store, secrets, job_ids[0], emulator, gateway, auto_apply=False)
    loop.cycle()
    rec = store.recommendations.pending(loop.pid)
    assert rec is not None and rec.id is not None
    before = loop.live()
    caplog.set_level(logging.INFO)

    racing, err = _race(store, secrets, connected, loop, lost=None, listed=listed)

    assert racing.updates == 2
    assert loop.live() == before
    assert err.message == (f"jobs/update of job {loop.project.job_id} ({loop.project.job_name}) failed (state "
                           f"unknown: the next poll settles it): {LOST}")
    project = store.projects.get(loop.pid)
    assert store.recommendations.get(rec.id).state == "pending"
    assert project.pending_apply is None and INTENT_KEY not in project.state
    assert not _said(caplog, "recorded as applied now")
    assert not _said(caplog, "never reached the job")
    assert _said(caplog, "reached the job and was written back")

    run, _ = loop.cycle()
    assert "user_edit" not in run.anomalies
    assert "user_edit_paths" not in store.projects.get(loop.pid).state


def test_an_undone_revert_clears_its_announcement_with_the_write_back(
        store: Store, secrets: SecretBox, connected: Workspace, job_ids: list[int], emulator: RunningWorkspace,
        gateway: DatabricksGateway, integration_clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    """A revert shares the write (`server.job_write`): undone, nothing is left for a poll to settle."""
    loop = _Loop(store, secrets, job_ids[0], emulator, gateway, auto_apply=False)
    loop.cycle()
    assert apply_recommendation(store, gateway, loop.pid, by_hand=True).applied
    applied = loop.live()
    recorded = store.projects.get(loop.pid).pending_apply
    caplog.set_level(logging.INFO)
    _, err = _race(store, secrets, connected, loop, lost=1, write=revert)

    assert loop.live() == applied
    project = store.projects.get(loop.pid)
    assert INTENT_KEY not in project.state
    assert project.pending_apply == recorded  # not reverted: the job holds the apply
    assert "the previous cluster was written back" in err.message
    assert not _said(caplog, "recorded as reverted now")


def test_an_undone_detach_is_not_recorded_by_a_poll_that_read_the_job_mid_write(
        store: Store, secrets: SecretBox, connected: Workspace, job_ids: list[int], emulator: RunningWorkspace,
        gateway: DatabricksGateway, integration_clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    """Detach shares the write too: recorded from the stale read, the project read detached while the
    job, written back, still ran Trimtab's agent and tags."""
    loop = _Loop(store, secrets, job_ids[0], emulator, gateway, auto_apply=False)
    loop.cycle()
    wired = loop.live()
    caplog.set_level(logging.INFO)
    _, err = _race(store, secrets, connected, loop, lost=1, write=restore_original)

    assert loop.live() == wired
    project = store.projects.get(loop.pid)
    assert not project.detached and INTENT_KEY not in project.state
    assert "the previous cluster was written back" in err.message
    assert not _said(caplog, "recorded as detached now")
