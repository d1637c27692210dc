"""``GET /metrics`` follows what the server's own collector does to a workspace (the sandbox emulator,
through the real SDK), on SQLite and PostgreSQL: a poll that collects a run, the recommendation made
after it and auto-applied, an auto-apply Databricks refuses, and a poll refused for its token. Each
is scraped over HTTP as Prometheus does."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

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
from tests.metrics_scrape import Samples, scrape, value

SPEC = {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5d.xlarge", "num_workers": 2,
        "aws_attributes": {"availability": "ON_DEMAND", "first_on_demand": 1}}
WAIT_S = 90.0
# How often the server reads the store's figures again, for these tests only: each check waited out the
# server's 5 s (`STORE_READ_EVERY_S`, tested in tests/server/test_metrics.py) for figures it had changed.
READ_EVERY_S = 0.5


@pytest.fixture
def key() -> bytes:
    return Fernet.generate_key()


@pytest.fixture
def collecting(store: Store, key: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningServer]:
    """A server that collects by itself (woken by the test: its own interval is an hour) and serves
    its dashboard, /metrics included (the store read again every `READ_EVERY_S`)."""
    monkeypatch.setattr(metrics, "ScrapedFigures", functools.partial(ScrapedFigures, read_every_s=READ_EVERY_S))
    config = ServerConfig(listen="127.0.0.1:0", http="127.0.0.1:0", state_dir=tmp_path / "server",
                          secret_key=key.decode(), collect=1, collect_interval_seconds=3600)
    running = start_server(config, store=store)
    try:
        yield running
    finally:
        running.stop(grace=1)


def _scraped_until(running: RunningServer, check: Callable[[Samples], bool]) -> Samples:
    """Scrapes, waking the collector between them, until ``check`` holds (the store's figures are
    read again at most every `READ_EVERY_S`, and a poll takes its time)."""
    assert running.dashboard is not None and running.collector is not None
    deadline = time.monotonic() + WAIT_S
    while True:
        samples = scrape(running.dashboard.url)
        if check(samples):
            return samples
        shown = sorted((name, v) for (name, labels), v in samples.items() if ("workspace", "sbx") in labels)
        assert time.monotonic() < deadline, f"the metrics never got there: {shown}"
        running.collector.wake()
        time.sleep(0.5)


def test_a_real_poll_moves_the_workspace_s_metrics(store: Store, key: bytes, collecting: RunningServer,
                                                   emulator: RunningWorkspace, gateway: DatabricksGateway) -> None:
    secrets = SecretBox(key)  # the server's: its collector reads the token stored with it
    gateway.put_dbfs_file("/trimtab/test-init.sh", NOOP_INIT)
    token = emulator.add_token()
    workspaces.add_workspace(store, secrets, "sbx", emulator.host, token, "aws")
    project = import_etl_job(store, secrets, gateway, SPEC)
    update_settings(store, str(project.id), {"auto_apply": True, "spot_allowed": False})
    ws = {"workspace": "sbx"}

    before = _scraped_until(collecting, lambda s: value(s, "trimtab_workspace_polls_total", **ws) is not None)
    assert value(before, "trimtab_workspace_runs_collected_total", **ws) == 0
    assert value(before, "trimtab_workspace_poll_failures_total", **ws) == 0
    assert value(before, "trimtab_workspace_ok", **ws) == 1
    assert value(before, "trimtab_workspace_projects", **ws) == 1

    gateway.run_now(project.job_id)
    assert emulator.wait_idle(60)
    # The poll is counted once it is over, after its apply is stored: a store read in between shows the
    # apply beside the count from before (0.5 s reads meet that moment; the 5 s ones seldom did).
    after = _scraped_until(collecting, lambda s: value(s, "trimtab_workspace_recommendations_applied_total", **ws) == 1
                           and (value(s, "trimtab_workspace_polls_total", **ws) or 0) >= 2)
    assert value(after, "trimtab_workspace_runs_collected_total", **ws) == 1
    assert value(after, "trimtab_workspace_recommendations_total", **ws) == 1
    assert value(after, "trimtab_workspace_projects_apply_failing", **ws) == 0
    polls = value(after, "trimtab_workspace_polls_total", **ws)
    assert polls is not None and polls >= 2
    age = value(after, "trimtab_workspace_seconds_since_last_successful_poll", **ws)
    assert age is not None and age < 30
    assert value(after, "trimtab_collector_failing") == 0

    # Trimtab loses CAN_MANAGE on the job: the next run's auto-apply is refused (403).
    emulator.set_job_manage(project.job_id, False)
    gateway.run_now(project.job_id)
    assert emulator.wait_idle(60)
    refused = _scraped_until(collecting, lambda s: value(s, "trimtab_workspace_projects_apply_failing", **ws) == 1)
    assert value(refused, "trimtab_workspace_runs_collected_total", **ws) == 2
    assert value(refused, "trimtab_workspace_recommendations_applied_total", **ws) == 1

    # The workspace's token is revoked: the next poll fails as a whole.
    emulator.revoke_token(token)
    failed = _scraped_until(collecting, lambda s: (value(s, "trimtab_workspace_poll_failures_total", **ws) or 0) >= 1
                            and value(s, "trimtab_workspace_ok", **ws) == 0)
    assert (value(failed, "trimtab_workspace_polls_total", **ws) or 0) > polls
    # The age goes on from the last poll that worked (the resting workspace is not polled meanwhile).
    age_then = value(failed, "trimtab_workspace_seconds_since_last_successful_poll", **ws)
    time.sleep(1.5)
    later = _scraped_until(collecting, lambda s: True)
    age_now = value(later, "trimtab_workspace_seconds_since_last_successful_poll", **ws)
    assert age_then is not None and age_now is not None and age_now >= age_then + 1.0
