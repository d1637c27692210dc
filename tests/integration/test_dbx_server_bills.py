"""Cloud bills in the running server: a run collected before its bill landed is re-costed from the bill
once it lands (the sandbox's AWS stand-in, fed by the emulator's runs through the billing observer)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from sandbox.clouds.stack import CloudStack
from sandbox.workspace import RunningWorkspace
from server.cli.main import main
from server.clock import FakeClock
from server.collect.bills import WorkspaceBills
from server.config import ServerConfig
from server.costing.billing import NOTE_NO_CREDENTIALS, NOTE_NOT_LANDED, UnusableCredentials, list_price_rates
from server.costing.catalog import load_catalog
from server.domain import Workspace
from server.serve import RunningServer, start_server
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store
from tests.integration.conftest import NOOP_INIT, WIRING

HOUR_S = 3600.0
BILL_DELAY_S = 6 * HOUR_S


@pytest.fixture
def bill_now() -> list[float]:
    """The cloud's clock (seconds): bills land BILL_DELAY_S after a run ends, by this clock."""
    return [1_000.0]


@pytest.fixture
def stack(emulator: RunningWorkspace, bill_now: list[float]) -> Iterator[CloudStack]:
    instance_rate, storage_rate = list_price_rates(load_catalog(), {"aws": "us-east-1", "azure": "eastus"})
    started = CloudStack.start(instance_rate, storage_rate, delay_s=BILL_DELAY_S, now=lambda: bill_now[0])
    try:
        yield started.attach(emulator)
    finally:
        started.stop()


@pytest.fixture
def key() -> bytes:
    return Fernet.generate_key()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start_ms=0)


@pytest.fixture
def billing_server(sqlite_store: Store, key: bytes, clock: FakeClock, tmp_path: Path,
                   monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningServer]:
    # Hour-long intervals: every poll and re-cost pass in this test is one the test asked for. Bills
    # are first asked for 2 h after a run (TRIMTAB_BILL_WAIT_HOURS), so none at collection.
    config = ServerConfig(listen="127.0.0.1:0", state_dir=tmp_path / "server", secret_key=key.decode(),
                          collect=1, collect_interval_seconds=HOUR_S, recost_interval_seconds=HOUR_S,
                          bill_wait_hours=2)
    running = start_server(config, store=sqlite_store, clock=clock)
    monkeypatch.setattr(workspaces._integration, "wiring", WIRING)
    try:
        yield running
    finally:
        running.stop(grace=1)


def test_a_run_collected_before_its_bill_landed_gets_the_billed_amount_after_it_lands(
        billing_server: RunningServer, sqlite_store: Store, stack: CloudStack, emulator: RunningWorkspace,
        gateway, job_ids: list[int], clock: FakeClock, bill_now: list[float],  # type: ignore[no-untyped-def]
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    store = sqlite_store
    collector = billing_server.collector
    assert collector is not None and collector.recost is not None
    assert collector.wait_for_poll(1, 30) and collector.recost.wait_for_pass(1, 30)  # the start-up passes
    gateway.put_dbfs_file("/trimtab/test-init.sh", NOOP_INIT)
    _, admin = store.tokens.create("cli", "admin")
    monkeypatch.setenv("TT_DBX_TOKEN", emulator.token)
    monkeypatch.setenv("TT_AWS", stack.credentials_json("aws"))
    cli = ["--server", billing_server.address, "--token", admin]
    assert main([*cli, "workspace", "add", "sbx", "--host", emulator.host, "--token-env", "TT_DBX_TOKEN",
                 "--cloud", "aws", "--region", "us-east-1", "--cloud-credentials-env", "TT_AWS"]) == 0
    assert main([*cli, "workspace", "import", "sbx", "--job", str(job_ids[0])]) == 0
    (project,) = store.projects.list()

    gateway.run_now(project.job_id)
    assert emulator.wait_idle(60)
    collector.wake()
    assert collector.wait_for_poll(2, 60)
    (run,) = store.runs.history(int(project.id or 0))
    estimate = run.cost
    assert estimate is not None and estimate.source == "estimate" and estimate.note == NOTE_NOT_LANDED
    assert estimate.compute_cost > 0 and estimate.dbu_cost > 0

    # Three hours later by the server's clock the bill has still not landed: the estimate stays.
    clock.advance((run.end_ms - clock.now_ms()) / 1000 + 3 * HOUR_S)
    collector.recost.wake()
    assert collector.recost.wait_for_pass(2, 60)
    assert store.runs.get(int(run.id or 0)).cost == estimate

    bill_now[0] += BILL_DELAY_S + 1  # the cloud publishes the run's charges
    collector.recost.wake()
    assert collector.recost.wait_for_pass(3, 60)
    billed = store.runs.get(int(run.id or 0)).cost
    assert billed is not None and billed.source == "billed" and billed.used_by_models == "billed"
    # The stand-in bills at list prices per second with a one-minute minimum: never below the estimate, and
    # above it only by those minimums (this simulated run is minutes long, so they show).
    cloud_estimate = estimate.compute_cost + estimate.storage_cost
    assert cloud_estimate <= billed.billed_cloud_cost <= cloud_estimate * 1.25
    assert billed.dbu_cost == estimate.dbu_cost and billed.compute_cost == estimate.compute_cost
    assert billed.total == pytest.approx(estimate.dbu_cost + billed.billed_cloud_cost)

    # What an operator sees.
    capsys.readouterr()
    assert main([*cli, "run", "show", str(run.id)]) == 0
    shown = capsys.readouterr().out
    assert "billed" in shown and f"{billed.total:.2f}" in shown


def test_workspace_bills_without_or_with_unusable_credentials_fall_back_to_the_estimate(
        sqlite_store: Store, key: bytes, stack: CloudStack, caplog: pytest.LogCaptureFixture) -> None:
    box = SecretBox(key)
    plain = sqlite_store.workspaces.add(Workspace(name="plain", host="https://a.example.com", cloud="aws"), "x")
    billed = sqlite_store.workspaces.add(Workspace(name="billed", host="https://b.example.com", cloud="aws"), "x",
                                         box.encrypt(stack.credentials_json("aws")))
    broken = sqlite_store.workspaces.add(Workspace(name="broken", host="https://c.example.com", cloud="aws"), "x",
                                         box.encrypt('{"access_key_id": "A"}'))
    bills = WorkspaceBills(sqlite_store, box)
    assert bills(plain) is None
    source = bills(billed)
    assert source is not None and bills(billed) is source  # built once, not per run
    unusable = bills(broken)
    assert isinstance(unusable, UnusableCredentials) and "secret_access_key" in unusable.why
    assert "secret_access_key" in caplog.text and "A\"" not in caplog.text
    # A workspace priced without a bill source says why in the cost note.
    from server.costing.billing import price_run
    from server.costing.run_cost import ClusterUsage, NodeUsage

    usage = ClusterUsage("aws", "us-east-1", "premium", "jobs", [NodeUsage("m5.xlarge", True, False, 0, 3_600_000)])
    cost = price_run(usage, load_catalog(), cluster_id="c", start_ms=0, end_ms=3_600_000, bill_source=bills(plain))
    assert cost.source == "estimate" and NOTE_NO_CREDENTIALS in cost.note
    # Credentials that are set but unusable say so, not that there are none.
    cost = price_run(usage, load_catalog(), cluster_id="c", start_ms=0, end_ms=3_600_000, bill_source=bills(broken))
    assert cost.source == "estimate" and "cloud credentials not usable" in cost.note and "secret_access_key" in cost.note
    assert NOTE_NO_CREDENTIALS not in cost.note
