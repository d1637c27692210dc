"""Re-costing asks the cloud bill for the span the run was priced over (its cluster's timeline,
CREATING..TERMINATING), not the run's tasks: a cluster that terminates after UTC midnight past the
last task has a bill on that day too."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from server.collect.usage import cluster_timeline, cluster_usage
from server.costing.billing import price_run
from server.costing.catalog import load_catalog
from server.costing.reconcile import BillLine, window_days
from server.costing.recost import bill_window, recost_runs
from server.domain import CostBreakdown, Run

HOUR_MS = 3_600_000


def _ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).replace(tzinfo=UTC).timestamp() * 1000)


SPEC = {"node_type_id": "m5.xlarge", "num_workers": 4, "spark_version": "15.4.x-scala2.12"}
EVENTS = [{"type": "CREATING", "timestamp": _ms("2026-12-01T23:40:00")},
          {"type": "RUNNING", "timestamp": _ms("2026-12-01T23:46:00"), "details": {"current_num_workers": 4}},
          {"type": "TERMINATING", "timestamp": _ms("2026-12-02T00:03:00")}]
TASK_START, TASK_END = _ms("2026-12-01T23:40:05"), _ms("2026-12-01T23:59:40")
CLUSTER_BILL = {"2026-12-01": 1.50, "2026-12-02": 0.45}  # what the cloud holds for the cluster


class Bills:
    """A cloud bill that has landed (``landed``) for the days asked for; records what was asked."""

    def __init__(self, landed: bool = True) -> None:
        self.landed = landed
        self.asked: list[tuple[int, int]] = []

    def cluster_bill(self, cluster_id: str, start_ms: int, end_ms: int) -> list[BillLine]:
        self.asked.append((start_ms, end_ms))
        if not self.landed:
            return []
        return [BillLine("aws", cluster_id, day, "compute", "BoxUsage:m5.xlarge", amount, "USD")
                for day, amount in CLUSTER_BILL.items() if day in window_days(start_ms, end_ms)]


def _collected() -> Run:
    """The run as collection stores it: priced over its cluster's timeline before the bill landed."""
    timeline = cluster_timeline(SPEC, EVENTS, fallback_start_ms=TASK_START, fallback_end_ms=TASK_END)
    usage = cluster_usage(timeline, SPEC, cloud="aws", region="us-east-1", plan="premium", input_bytes=None)
    cost = price_run(usage, load_catalog(), cluster_id="c-1", start_ms=timeline.start_ms, end_ms=timeline.end_ms,
                     bill_source=Bills(landed=False), now_ms=timeline.end_ms + HOUR_MS)
    return Run(id=1, project_id=1, databricks_run_id=7, cluster_id="c-1", start_ms=TASK_START, end_ms=TASK_END,
               cost=cost)


def test_the_cost_keeps_the_cluster_window_it_was_priced_over() -> None:
    run = _collected()
    assert run.cost is not None and run.cost.source == "estimate"
    assert bill_window(run) == (EVENTS[0]["timestamp"], EVENTS[-1]["timestamp"])
    assert window_days(*bill_window(run)) == ["2026-12-01", "2026-12-02"]


def test_recost_asks_for_every_day_of_the_cluster_and_bills_them_all() -> None:
    run = _collected()
    bills = Bills()
    got: dict[int, CostBreakdown] = {}
    # Past the settle time: a day still without a line would be taken as none, so the window decides.
    report = recost_runs([run], bills, now_ms=TASK_END + 50 * HOUR_MS, set_cost=got.__setitem__)
    assert bills.asked == [bill_window(run)]
    assert report.billed == [1]
    assert got[1].source == "billed" and got[1].billed_cloud_cost == 1.95
    assert (got[1].window_start_ms, got[1].window_end_ms) == bill_window(run)  # kept for the next look


def test_a_cost_stored_without_its_window_is_looked_up_over_the_run() -> None:
    """Costs stored before the window was kept (migration 0008) have none: the run's bounds, as before."""
    run = _collected()
    assert run.cost is not None
    old = dataclasses.replace(run, cost=dataclasses.replace(run.cost, window_start_ms=None, window_end_ms=None))
    assert bill_window(old) == (TASK_START, TASK_END)
