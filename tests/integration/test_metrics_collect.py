"""``GET /metrics`` follows what the server's own collector does to a workspace (the sandbox emulator,
through the real SDK), on SQLite and PostgreSQL: a poll that collects a run, the recommendation made
after it and auto-applied, an auto-apply Databricks refuses, a poll refused for its token, a restart,
and the workspace's removal. Each is scraped over HTTP as Prometheus does."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from cryptography.fernet import Fernet

from protos.trimtab.v1 import admin_pb2, admin_pb2_grpc
from sandbox.workspace import RunningWorkspace
from server import metrics
from server.config import ServerConfig
from server.databricks import DatabricksGateway
from server.metrics_scrape import ScrapedFigures
from server.serve import RunningServer, start_server
from server.services import workspaces
from server.services.projects import update_settings
from server.services.secrets import SecretBox
from server.store import Store
from tests.integration.conftest import NOOP_INIT, import_etl_job
from tests.metrics_scrape import Samples, samples_of, scrape_text, value

SPEC = {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5d.xlarge", "num_workers": 2,
        "aws_attributes": {"availability": "ON_DEMAND", "first_on_demand": 1}}
WAIT_S = 90.0  # for what a poll does; a figure that arrives wrong fails at once, saying what was scraped
# How often the server reads the store's figures again, for these tests only: each check waited out the
# server's 5 s (`STORE_READ_EVERY_S`, tested in tests/server/test_metrics.py) for figures it had changed.
READ_EVERY_S = 0.5


@pytest.fixture
def key() -> bytes:
    return Fernet.generate_key()


def _start(store: Store, key: bytes, state_dir: Path) -> RunningServer:
    """A server that collects by itself (woken by the test: its own interval is an hour) and serves
    its dashboard, /metrics included."""
    config = ServerConfig(listen="127.0.0.1:0", http="127.0.0.1:0", state_dir=state_dir,
                          secret_key=key.decode(), collect=1, collect_interval_seconds=3600)
    return start_server(config, store=store)


@pytest.fixture
def collecting(store: Store, key: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningServer]:
    """`_start`'s server, the store read again every `READ_EVERY_S` (for the servers the test starts too)."""
    monkeypatch.setattr(metrics, "ScrapedFigures", functools.partial(ScrapedFigures, read_every_s=READ_EVERY_S))
    running = _start(store, key, tmp_path / "server")
    try:
        yield running
    finally:
        running.stop(grace=1)


@dataclass(frozen=True)
class Scraped:
    """One scrape: its samples, and its text to say in a failure."""

    samples: Samples
    text: str

    def of(self, name: str, **labels: str) -> float | None:
        return value(self.samples, name, **labels)

    def ws(self, name: str) -> float | None:
        """Workspace sbx's ``trimtab_workspace_<name>``."""
        return self.of(f"trimtab_workspace_{name}", workspace="sbx")

    def shown(self) -> str:
        """The scrape's lines of workspace sbx and of the collector, as the server wrote them."""
        return "\n".join(line for line in self.text.splitlines()
                         if not line.startswith("#") and "_created{" not in line
                         and ('workspace="sbx"' in line or line.startswith("trimtab_collector")))


def _scrape(running: RunningServer) -> Scraped:
    assert running.dashboard is not None
    text = scrape_text(running.dashboard.url)
    return Scraped(samples_of(text), text)


def _scraped_until(running: RunningServer, what: str, check: Callable[[Scraped], bool]) -> Scraped:
    """Scrapes, waking the collector between them, until ``check`` holds (the store's figures are
    read again at most every `READ_EVERY_S`, and a poll takes its time), for `WAIT_S` at most. Each
    check asks only that the figures got far enough, so a count that goes wrong fails at once on
    `_expect` rather than here after the whole wait."""
    assert running.collector is not None
    deadline = time.monotonic() + WAIT_S
    while True:
        scraped = _scrape(running)
        if check(scraped):
            return scraped
        if time.monotonic() >= deadline:
            pytest.fail(f"/metrics did not show {what} within {WAIT_S:.0f} s; the last scrape said:\n{scraped.shown()}")
        running.collector.wake()
        time.sleep(0.5)


def _expect(scraped: Scraped, **expected: float) -> None:
    """Workspace sbx's figures (``trimtab_workspace_<name>``) are ``expected``."""
    got = {name: scraped.ws(name) for name in expected}
    assert got == expected, f"/metrics said:\n{scraped.shown()}"


def test_a_real_poll_moves_the_workspace_s_metrics(store: Store, key: bytes, collecting: RunningServer,
                                                   emulator: RunningWorkspace, gateway: DatabricksGateway,
                                                   tmp_path: Path) -> None:
    secrets = SecretBox(key)  # the server's: its collector reads the token stored with it
    gateway.put_dbfs_file("/trimtab/test-init.sh", NOOP_INIT)
    token = emulator.add_token()
    workspaces.add_workspace(store, secrets, "sbx", emulator.host, token, "aws")
    project = import_etl_job(store, secrets, gateway, SPEC)
    update_settings(store, str(project.id), {"auto_apply": True, "spot_allowed": False})

    before = _scraped_until(collecting, "a poll of sbx", lambda s: s.ws("polls_total") is not None)
    _expect(before, runs_collected_total=0, poll_failures_total=0, auto_apply_failures_total=0, ok=1, projects=1)

    gateway.run_now(project.job_id)
    assert emulator.wait_idle(60)
    # The poll is counted once it is over, after its apply is stored: a store read in between shows the
    # apply beside the count from before (0.5 s reads meet that moment; the 5 s ones seldom did).
    after = _scraped_until(collecting, "the run's recommendation applied and a second poll",
                           lambda s: (s.ws("recommendations_applied_total") or 0) >= 1
                           and (s.ws("polls_total") or 0) >= 2)
    _expect(after, runs_collected_total=1, recommendations_total=1, recommendations_applied_total=1,
            projects_apply_failing=0, auto_apply_failures_total=0, poll_failures_total=0)
    polls = after.ws("polls_total") or 0
    age = after.ws("seconds_since_last_successful_poll")
    assert age is not None and age < 30, after.shown()
    assert after.of("trimtab_collector_failing") == 0, after.shown()

    # Trimtab loses CAN_MANAGE on the job: the next run's auto-apply is refused (403).
    emulator.set_job_manage(project.job_id, False)
    gateway.run_now(project.job_id)
    assert emulator.wait_idle(60)
    refused = _scraped_until(collecting, "the refused auto-apply",
                             lambda s: (s.ws("projects_apply_failing") or 0) >= 1
                             and (s.ws("auto_apply_failures_total") or 0) >= 1)
    _expect(refused, runs_collected_total=2, recommendations_applied_total=1, projects_apply_failing=1,
            auto_apply_failures_total=1)

    # The workspace's token is revoked: the next poll fails as a whole.
    emulator.revoke_token(token)
    failed = _scraped_until(collecting, "a failed poll", lambda s: (s.ws("poll_failures_total") or 0) >= 1
                            and s.ws("ok") == 0)
    assert (failed.ws("polls_total") or 0) > polls, failed.shown()
    # The age goes on from the last poll that worked (the resting workspace is not polled meanwhile).
    age_then = failed.ws("seconds_since_last_successful_poll")
    time.sleep(1.5)
    later = _scrape(collecting)
    age_now = later.ws("seconds_since_last_successful_poll")
    assert age_then is not None and age_now is not None and age_now >= age_then + 1.0, later.shown()

    # A restart: the age goes on from the poll that worked before it (the store's record), not from
    # the new server's start, which hid that every poll had been failing.
    scraped_at = time.monotonic()
    collecting.stop(grace=1)
    restarted = _start(store, key, tmp_path / "restarted")
    try:
        again = _scraped_until(restarted, "the restarted server's failed poll",
                               lambda s: (s.ws("poll_failures_total") or 0) >= 1)
        age_again = again.ws("seconds_since_last_successful_poll")
        assert age_again is not None and age_again >= age_now + (time.monotonic() - scraped_at) - 0.5, \
            f"{age_now=} before the restart\n{again.shown()}"
    finally:
        restarted.stop(grace=1)


def test_a_removed_workspace_leaves_the_scrape(store: Store, key: bytes, collecting: RunningServer,
                                               emulator: RunningWorkspace) -> None:
    """`trimtab workspace remove` over the real API: the poll counters, kept in the server's memory,
    stayed on /metrics under the removed name until a restart."""
    workspaces.add_workspace(store, SecretBox(key), "sbx", emulator.host, emulator.add_token(), "aws")
    polled = _scraped_until(collecting, "a poll of sbx", lambda s: (s.ws("polls_total") or 0) >= 1)
    _expect(polled, poll_failures_total=0, auto_apply_failures_total=0, ok=1)

    _, admin = store.tokens.create("admin", "admin")
    with grpc.insecure_channel(collecting.address) as channel:
        admin_pb2_grpc.WorkspaceServiceStub(channel).RemoveWorkspace(
            admin_pb2.RemoveWorkspaceRequest(name="sbx"), metadata=(("authorization", f"Bearer {admin}"),), timeout=30)
    gone = _scraped_until(collecting, "no series of sbx",
                          lambda s: not [name for name, labels in s.samples if ("workspace", "sbx") in labels])
    assert gone.of("trimtab_metrics_store_read_ok") == 1
