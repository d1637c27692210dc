"""revC F2: a billed run that migration 0013 noted as priced on demand (`PRICED_ON_DEMAND_NOTE`) is
priced again by the collector (`Collector._reprice_on_demand`). It asked the cloud for the bill again,
and when that failed (Cost Explorer throttled, credentials removed) stored the catalog estimate in
place of the bill, for good: the run is past the re-cost window, which never looks again. Now a final
bill is kept without asking, only its estimate parts are priced again, and a bill not final yet that
cannot be read again is kept beside the new estimate (emulator, real store on both engines)."""

from __future__ import annotations

import dataclasses

import pytest

from sandbox.workspace import RunningWorkspace
from server.clock import FakeClock, SystemClock
from server.collect import Collector
from server.collect.collector import PRICED_ON_DEMAND_NOTE
from server.costing.catalog import load_catalog
from server.costing.reconcile import BillLine, window_days
from server.databricks import DatabricksGateway
from server.domain import Project, Run
from server.errors import Unavailable
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store
from tests.integration.conftest import WIRING

CATALOG = load_catalog()
DAY_MS = 24 * 3600 * 1000


class Bill:
    """Cost Explorer for the sandbox's clusters: 5.00 a day, until it refuses (throttled)."""

    def __init__(self) -> None:
        self.fail = False
        self.estimated = False
        self.calls = 0

    def cluster_bill(self, cluster_id: str, start_ms: int, end_ms: int) -> list[BillLine]:
        self.calls += 1
        if self.fail:
            raise Unavailable("AWS get_cost_and_usage failed (LimitExceededException): Rate exceeded")
        return [BillLine("aws", cluster_id, day, "compute", "USE1-BoxUsage:m5d.2xlarge", 5.0, "USD", self.estimated)
                for day in window_days(start_ms, end_ms)]


def _collected_and_noted(store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
                         daily: Project, bill: Bill, monkeypatch: pytest.MonkeyPatch) -> tuple[Run, Collector]:
    monkeypatch.setattr(workspaces._integration, "wiring", WIRING)
    gateway.run_now(daily.job_id)
    assert emulator.wait_idle(60)
    gateway_for = lambda ws: workspaces.gateway_for(store, secrets, ws)  # noqa: E731
    (run,) = Collector(store, gateway_for, clock=SystemClock(), catalog=CATALOG,
                       bill_source_for=lambda ws: bill).poll_once()
    assert run.cost is not None
    # As migration 0013 leaves a cost it noted ("; " + PRICED_ON_DEMAND_NOTE).
    store.runs.set_cost(int(run.id or 0), dataclasses.replace(run.cost, note=f"{run.cost.note}; {PRICED_ON_DEMAND_NOTE}"))
    later = Collector(store, gateway_for, clock=FakeClock(start_ms=run.end_ms + 5 * DAY_MS), catalog=CATALOG,
                      bill_source_for=lambda ws: bill)
    return store.runs.get(int(run.id or 0)), later


def _reprice(store: Store, secrets: SecretBox, collector: Collector, run: Run) -> Run:
    ws = store.workspaces.get("sbx")
    collector._reprice_on_demand(ws, workspaces.gateway_for(store, secrets, ws), [store.projects.get(run.project_id)])
    return store.runs.get(int(run.id or 0))


def test_a_billed_run_keeps_its_bill_when_the_bill_cannot_be_read_again(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway, daily: Project,
        monkeypatch: pytest.MonkeyPatch) -> None:
    bill = Bill()
    run, later = _collected_and_noted(store, secrets, emulator, gateway, daily, bill, monkeypatch)
    before = run.cost
    assert before is not None and before.source == "billed" and before.billed_cloud_cost is not None
    bill.fail, calls = True, bill.calls
    after = _reprice(store, secrets, later, run).cost
    assert after is not None
    # Was: source estimate, billed_cloud_cost None, total the catalog estimate.
    assert after.source == "billed" and after.used_by_models == "billed"
    assert after.billed_cloud_cost == pytest.approx(before.billed_cloud_cost)
    assert after.total == pytest.approx(after.dbu_cost + before.billed_cloud_cost)
    assert bill.calls == calls  # a final bill is not asked for again
    assert PRICED_ON_DEMAND_NOTE not in after.note and "the cloud bill read before" in after.note
    assert "compute+storage from the cloud bill" in after.note  # the bill's own note stays


def test_a_bill_not_final_is_kept_beside_the_new_estimate_when_it_cannot_be_read_again(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway, daily: Project,
        monkeypatch: pytest.MonkeyPatch) -> None:
    bill = Bill()
    bill.estimated = True  # Cost Explorer marks the open month estimated: beside the estimate
    run, later = _collected_and_noted(store, secrets, emulator, gateway, daily, bill, monkeypatch)
    before = run.cost
    assert before is not None and before.source == "estimate" and before.billed_cloud_cost is not None
    bill.fail = True
    after = _reprice(store, secrets, later, run).cost
    assert after is not None and after.source == "estimate"
    assert after.billed_cloud_cost == pytest.approx(before.billed_cloud_cost)
    assert after.total == pytest.approx(after.dbu_cost + after.compute_cost + after.storage_cost)
    assert PRICED_ON_DEMAND_NOTE not in after.note
