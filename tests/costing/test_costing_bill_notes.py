"""What pricing and re-costing do with bills that never come or cannot be trusted (review revC F1, F5, F8).

- A pool-backed cluster's instances carry the pool's tags, not its ClusterId, so its bill is never asked
  for: neither at collection nor by any re-cost pass, and its note says why.
- A run whose cluster has no tagged line says so 48 h after it ended, instead of promising the bill.
- A bill with a day netting negative (a refund) is refused, checked per day.
"""

from __future__ import annotations

import dataclasses

import pytest

from server.costing.billing import NOTE_NOT_LANDED, RecostPolicy, apply_bill, price_run
from server.costing.catalog import load_catalog
from server.costing.errors import MalformedBill
from server.costing.notes import NOTE_POOL, bill_outlook
from server.costing.reconcile import BillLine, breakdown, sum_bill
from server.costing.recost import recost_runs
from server.costing.run_cost import ClusterUsage, NodeUsage, cost_run
from server.domain import ClusterConfig, CostBreakdown, Run

H = 3_600_000
T0 = 1_796_444_220_000  # 2026-12-04 04:57 UTC
POLICY = RecostPolicy(first_check_after_ms=6 * H)  # the server's default wait (bill_wait_hours 6)
POOL_SPEC = {"instance_pool_id": "pool-1", "num_workers": 4, "spark_version": "15.4.x-scala2.12"}


class CostExplorer:
    """Answers with ``lines`` for every cluster; counts the requests (each is $0.01 on AWS)."""

    def __init__(self, lines: list[BillLine] | None = None) -> None:
        self.lines = lines or []
        self.calls = 0

    def cluster_bill(self, cluster_id: str, start_ms: int, end_ms: int) -> list[BillLine]:
        self.calls += 1
        return list(self.lines)


def _usage(pooled: bool = False) -> ClusterUsage:
    nodes = [NodeUsage("m5d.xlarge", i == 0, False, T0, T0 + H) for i in range(5)]
    return ClusterUsage("aws", "us-east-1", "premium", "jobs", nodes, pooled=pooled)


def _passes(run: Run, bills: CostExplorer, *, hours: float = 80) -> tuple[Run, list[float]]:
    """``run`` after a re-cost pass every 30 min (the default interval) for ``hours``; when it was stored."""
    stored: list[float] = []
    now = run.end_ms
    while now <= run.end_ms + hours * H:
        def keep(_run_id: int, cost: CostBreakdown, at: float = (now - run.end_ms) / H) -> None:
            nonlocal run
            run = dataclasses.replace(run, cost=cost)
            stored.append(at)
        recost_runs([run], bills, now_ms=now, set_cost=keep, policy=POLICY)
        now += H // 2
    return run, stored


# ------------------------------------------------------------------ F1: pool-backed clusters


def test_a_pool_backed_run_is_priced_from_the_catalog_without_asking_for_its_bill() -> None:
    bills = CostExplorer()
    catalog = load_catalog()
    # Collected late (past the wait): an ordinary run's bill would be asked for now.
    cost = price_run(_usage(pooled=True), catalog, cluster_id="c-pool", start_ms=T0, end_ms=T0 + H,
                     bill_source=bills, now_ms=T0 + 7 * H, policy=POLICY)
    assert bills.calls == 0
    assert cost.source == "estimate" and cost.billed_cloud_cost is None
    assert cost.note == f"{NOTE_POOL} (catalog {catalog.version})"
    assert cost.total == pytest.approx(cost_run(_usage(), catalog).total)
    assert "pool-backed" in bill_outlook(cost.note)
    # Off a pool the same collection asks (the rule is the pool's, not the timing's).
    price_run(_usage(), catalog, cluster_id="c-own", start_ms=T0, end_ms=T0 + H, bill_source=bills,
              now_ms=T0 + 7 * H, policy=POLICY)
    assert bills.calls == 1


def test_re_costing_never_asks_for_a_pool_backed_runs_bill_and_says_why() -> None:
    """A run collected before the rule (its note promising the bill) is named by its configuration:
    before, it cost 133 Cost Explorer requests ($1.33) over 72 h and its note blamed billing lag."""
    bills = CostExplorer()
    cost = price_run(_usage(), load_catalog(), cluster_id="c-pool", start_ms=T0, end_ms=T0 + H,
                     bill_source=bills, now_ms=T0 + H + 60_000, policy=POLICY)
    assert cost.note.startswith("cloud bill not available yet")
    run = Run(project_id=1, databricks_run_id=1, cluster_id="c-pool", start_ms=T0, end_ms=T0 + H, id=1,
              cost=cost, config=ClusterConfig(node_type_id="m5d.xlarge", num_workers=4, spec=POOL_SPEC))
    run, stored = _passes(run, bills)
    assert bills.calls == 0
    assert stored == [0.0]  # the note is put right once, at the first pass
    assert run.cost is not None and run.cost.note == NOTE_POOL
    assert dataclasses.replace(run.cost, note=cost.note) == cost  # no figure changed


def test_a_cost_noted_pool_backed_is_not_looked_up_even_without_its_configuration() -> None:
    bills = CostExplorer()
    cost = price_run(_usage(pooled=True), load_catalog(), cluster_id="c-pool", start_ms=T0, end_ms=T0 + H,
                     bill_source=bills, now_ms=T0 + H, policy=POLICY)
    run = Run(project_id=1, databricks_run_id=1, cluster_id="c-pool", start_ms=T0, end_ms=T0 + H, id=1, cost=cost)
    report = recost_runs([run], bills, now_ms=T0 + 10 * H, set_cost=lambda *_: pytest.fail("stored"),
                         policy=POLICY)
    assert bills.calls == 0 and report.pool_backed == [1] and report.waiting == []


def test_without_credentials_a_pool_backed_run_says_the_workspace_has_none() -> None:
    cost = price_run(_usage(pooled=True), load_catalog(), cluster_id="c-pool", start_ms=T0, end_ms=T0 + H,
                     bill_source=None, now_ms=T0 + 7 * H)
    assert cost.note.startswith("no cloud credentials")


# ------------------------------------------------------------------ F5: the 48 h note is stored


def test_a_run_without_tagged_lines_says_so_48_h_after_it_ended() -> None:
    bills = CostExplorer()  # Cost Explorer answers, with no line for the cluster (tag not active)
    cost = price_run(_usage(), load_catalog(), cluster_id="c-untagged", start_ms=T0, end_ms=T0 + H,
                     bill_source=bills, now_ms=T0 + H + 120_000, policy=POLICY)
    run = Run(project_id=1, databricks_run_id=1, cluster_id="c-untagged", start_ms=T0, end_ms=T0 + H, id=1,
              cost=cost)
    run, stored = _passes(run, bills)
    assert stored == [48.0]  # once, when the settle time passed; before, never
    assert run.cost is not None and run.cost.note.startswith("no cloud bill 48 h after the run")
    assert "active cost allocation tag" in run.cost.note
    assert dataclasses.replace(run.cost, note=cost.note) == cost
    assert "no cloud bill found" in bill_outlook(run.cost.note)


def test_re_costing_keeps_the_collectors_word_that_workers_were_priced_on_demand() -> None:
    """The collector looks for that note to price the run again: a note re-costing writes keeps it."""
    marker = "workers priced on demand: stored before Trimtab read an availability the spec leaves unset"
    cost = breakdown(cost_run(_usage(), load_catalog()),
                     note=f"{NOTE_NOT_LANDED}; {marker}")
    run = Run(project_id=1, databricks_run_id=1, cluster_id="c-old", start_ms=T0, end_ms=T0 + H, id=1, cost=cost)
    run, stored = _passes(run, CostExplorer())
    assert stored == [48.0]
    assert run.cost is not None and run.cost.note.startswith("no cloud bill 48 h") and run.cost.note.endswith(marker)


# ------------------------------------------------------------------ F8: a day netting negative


def _line(day: str, amount: float, usage: str = "USE1-BoxUsage:m5.xlarge", category: str = "compute") -> BillLine:
    return BillLine("aws", "c", day, category, usage, amount, "USD")


# 2026-12-05 22:00 UTC for 4 h: two days
START = 1_796_515_200_000 - 2 * H
REFUND_DAY = [_line("2026-12-05", 0.38), _line("2026-12-06", 0.38), _line("2026-12-06", -0.60, "USE1-Credit", "other")]


def test_a_bill_with_a_day_netting_negative_is_refused_though_its_total_is_positive() -> None:
    assert sum(line.amount for line in REFUND_DAY) > 0  # the whole-bill check let it through: 82% cheaper
    with pytest.raises(MalformedBill, match="2026-12-06 nets negative, -0.22 USD"):
        sum_bill(REFUND_DAY, "USD")
    estimate = breakdown(cost_run(ClusterUsage("aws", "us-east-1", "premium", "jobs",
                                               [NodeUsage("m5.xlarge", True, False, START, START + 4 * H)]),
                                  load_catalog()))
    with pytest.raises(MalformedBill):
        apply_bill(estimate, REFUND_DAY, start_ms=START, end_ms=START + 4 * H, input_bytes=None, age_ms=50 * H)
    # A credit smaller than its day's charges cannot be told from a cheaper day: taken.
    assert sum_bill([*REFUND_DAY[:2], _line("2026-12-06", -0.10, "USE1-Credit", "other")], "USD").total \
        == pytest.approx(0.66)
    # A day refunded in full nets 0: taken.
    assert sum_bill([_line("2026-12-05", 0.1), _line("2026-12-05", 0.2), _line("2026-12-05", -0.3)], "USD").total \
        == pytest.approx(0.0)


def test_a_refused_bill_leaves_the_figures_and_says_why_at_collection_and_at_re_costing() -> None:
    usage = ClusterUsage("aws", "us-east-1", "premium", "jobs", [NodeUsage("m5.xlarge", True, False, START, START + 4 * H)])
    bills = CostExplorer(REFUND_DAY)
    collected = price_run(usage, load_catalog(), cluster_id="c", start_ms=START, end_ms=START + 4 * H,
                          bill_source=bills, now_ms=START + 4 * H + 7 * H, policy=POLICY)
    assert collected.source == "estimate" and collected.note.startswith("cloud bill refused (bill day 2026-12-06")
    waiting = dataclasses.replace(collected, note="cloud bill not available yet (billing lags by hours)")
    run = Run(project_id=1, databricks_run_id=1, cluster_id="c", start_ms=START, end_ms=START + 4 * H, id=1,
              cost=waiting)
    got: dict[int, CostBreakdown] = {}
    report = recost_runs([run], bills, now_ms=START + 4 * H + 30 * H, set_cost=got.__setitem__, policy=POLICY)
    assert list(report.rejected) == [1] and "nets negative" in report.rejected[1]
    assert got[1].note.startswith("cloud bill refused (bill day 2026-12-06 nets negative")
    assert dataclasses.replace(got[1], note=waiting.note) == waiting  # no figure changed
    # Said once: the next pass finds the same bill and stores nothing.
    again = recost_runs([dataclasses.replace(run, cost=got[1])], bills, now_ms=START + 4 * H + 31 * H,
                        set_cost=lambda *_: pytest.fail("stored again"), policy=POLICY)
    assert list(again.rejected) == [1]
