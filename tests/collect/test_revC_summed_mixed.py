"""revC F3: a run over several job clusters (a task retried on a new cluster, a repair) where one
cluster's bill was whole at collection and another's was not was stored as that bill plus the other's
estimate, labelled "estimate" with no bill: DBU 0.41 + compute 0.53 + storage 0.10 = 1.04, total 1.63.
Now the sum of the estimates unless every cluster is billed, and the note names the bill read (pure)."""

from __future__ import annotations

import pytest

from server.collect.collector import _summed
from server.costing.billing import apply_bill
from server.costing.catalog import load_catalog
from server.costing.reconcile import BillLine, breakdown
from server.costing.run_cost import ClusterUsage, NodeUsage, cost_run
from server.domain import CostBreakdown

H, T0 = 3_600_000, 1_796_444_220_000
CATALOG = load_catalog()


def estimate(t: int) -> CostBreakdown:
    return breakdown(cost_run(ClusterUsage("aws", "us-east-1", "premium", "jobs", [
        NodeUsage("m5.xlarge", True, False, t, t + H), NodeUsage("m5.xlarge", False, True, t, t + H)]), CATALOG))


def billed(t: int, amount: float) -> CostBreakdown:
    line = BillLine("aws", "c", "2026-12-05", "compute", "USE1-BoxUsage:m5.xlarge", amount, "USD")
    return apply_bill(estimate(t), [line], start_ms=t, end_ms=t + H, input_bytes=None, age_ms=49 * H)


def parts_add_up(cost: CostBreakdown) -> bool:
    cloud = cost.billed_cloud_cost if cost.source == "billed" else cost.compute_cost + cost.storage_cost
    return cost.total == pytest.approx(cost.dbu_cost + float(cloud or 0.0))


def test_one_billed_cluster_and_one_estimate_sum_the_estimates_and_name_the_bill() -> None:
    first, second = billed(T0, 0.90), estimate(T0 + 2 * H)
    assert first.source == "billed" and second.source == "estimate"
    run = _summed([first, second], None, "a task retried on a new cluster", ["c-first", "c-second"])
    assert run is not None and run.source == "estimate" and run.billed_cloud_cost is None
    assert parts_add_up(run)  # was 1.04 of parts for a total of 1.63
    assert run.total == pytest.approx(first.dbu_cost + first.compute_cost + first.storage_cost + second.total)
    assert "c-first 0.90 USD (final" in run.note and "c-second" not in run.note
    assert "compute+storage from the cloud bill" not in run.note  # that was the one cluster's, not the sum's
    assert "the estimate stays" in run.note and run.used_by_models == "estimate"


def test_every_cluster_billed_sums_the_bills_with_the_dbus() -> None:
    first, second = billed(T0, 0.90), billed(T0 + 2 * H, 0.70)
    run = _summed([first, second], 2 * 10**9, "repaired", ["a", "b"])
    assert run is not None and run.source == "billed" and run.used_by_models == "billed"
    assert run.billed_cloud_cost == pytest.approx(1.60)
    assert run.total == pytest.approx(first.dbu_cost + second.dbu_cost + 1.60) and parts_add_up(run)
    assert run.cost_per_input_gb == pytest.approx(run.total / 2)


def test_estimates_only_are_summed_as_before() -> None:
    first, second = estimate(T0), estimate(T0 + 2 * H)
    run = _summed([first, second], None, "repaired")
    assert run is not None and run.total == pytest.approx(first.total + second.total) and parts_add_up(run)
    assert _summed([first, None], None, "repaired") is None
