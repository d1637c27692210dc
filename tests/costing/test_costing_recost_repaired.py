"""A repaired run's cost adds up its clusters (the failed attempt's and the repair's): re-costing does
not replace it with the bill of the one cluster its cluster_id names."""

from __future__ import annotations

from models.observation import REPAIRED
from server.costing.reconcile import BillLine
from server.costing.recost import recost_runs
from server.domain import CostBreakdown, Run

T0 = 1_796_444_220_000


class RecordingBills:
    def __init__(self) -> None:
        self.asked: list[str] = []

    def cluster_bill(self, cluster_id: str, start_ms: int, end_ms: int) -> list[BillLine]:
        self.asked.append(cluster_id)
        return []


def test_a_repaired_run_is_not_recosted_from_one_clusters_bill() -> None:
    cost = CostBreakdown(dbu_cost=1.0, compute_cost=2.0, total=3.0, note="over the run's 2 clusters (repaired)")
    repaired = Run(project_id=1, databricks_run_id=5, cluster_id="c-repair", start_ms=T0, end_ms=T0 + 3_600_000,
                   cost=cost, anomalies=(REPAIRED,), id=7)
    # One cluster's estimate: its note does not say it is summed (a summed note is skipped too).
    plain = Run(project_id=1, databricks_run_id=6, cluster_id="c-plain", start_ms=T0, end_ms=T0 + 3_600_000,
                cost=CostBreakdown(dbu_cost=1.0, compute_cost=2.0, total=3.0), id=8)
    bills = RecordingBills()
    stored: list[tuple[int, CostBreakdown]] = []
    recost_runs([repaired, plain], bills, now_ms=T0 + 2 * 86_400_000, set_cost=lambda i, c: stored.append((i, c)))
    assert bills.asked == ["c-plain"]  # the repaired run's bill is never asked for
    assert all(run_id != 7 for run_id, _ in stored)
