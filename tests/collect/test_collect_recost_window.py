"""Re-costing looks at every run still priced by the estimate within the policy's window.

It looked at each project's newest 100 runs only. Runs are re-costed for up to 72 h and bills land
about a day after a run, so a job every 5 minutes (864 runs in 72 h) had its 100th newest run end
8.3 h ago: none of its runs ever got its bill. Runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import dataclasses

import pytest

from server.clock import FakeClock
from server.collect import bills as bills_module
from server.collect.bills import Recoster
from server.costing.billing import DEFAULT_RECOST_POLICY, RecostPolicy
from server.costing.reconcile import BillLine, window_days
from server.domain import CostBreakdown, Project, Run
from server.errors import InvalidArgument, Unavailable
from server.store import Store

HOUR = 3_600_000
NOW = 1_800_000_000_000
ESTIMATE = CostBreakdown(dbu_cost=1, compute_cost=1, storage_cost=0, total=2)


class LandsAfterADay:
    """A bill source whose bills land 24 h after the run; records what it was asked for."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def cluster_bill(self, cluster_id: str, start_ms: int, end_ms: int) -> list[BillLine]:
        self.asked.append(cluster_id)
        if NOW - end_ms < 24 * HOUR:
            return []
        return [BillLine("aws", cluster_id, day, "compute", "BoxUsage", 0.9, "USD")
                for day in window_days(start_ms, end_ms)]


def _add(store: Store, project_id: int, n: int, end_ms: int, cost: CostBreakdown | None = ESTIMATE,
         cluster_id: str | None = None) -> Run:
    return store.runs.add(Run(project_id=project_id, databricks_run_id=n, cluster_id=f"c{n}" if cluster_id is None
                              else cluster_id, start_ms=end_ms - 60_000, end_ms=end_ms, cost=cost))


def test_a_job_every_five_minutes_gets_every_bill_that_landed(store: Store) -> None:
    project = store.projects.add(Project(workspace="w", job_id=1, cluster_key="k"))
    pid = int(project.id or 0)
    every = 5 * 60_000
    for i in range(864):  # 72 h of runs, oldest first
        _add(store, pid, i + 1, NOW - (864 - i) * every)
    source = LandsAfterADay()
    report = Recoster(store, lambda ws: source, FakeClock(NOW)).recost_once()
    assert len(source.asked) == 864  # was 100: the newest, none of them old enough to be billed
    old_enough = sum(1 for i in range(864) if (864 - i) * every >= 24 * HOUR)
    assert old_enough == 577
    assert len(report.billed) == old_enough and len(report.waiting) == 864 - old_enough
    billed = [r for r in store.runs.history(pid) if r.cost is not None and r.cost.source == "billed"]
    assert len(billed) == old_enough
    # The next pass asks only for the runs still waiting.
    source.asked.clear()
    Recoster(store, lambda ws: source, FakeClock(NOW)).recost_once()
    assert len(source.asked) == 864 - old_enough


def test_the_store_selects_estimates_that_ended_within_the_window(store: Store) -> None:
    p = int(store.projects.add(Project(workspace="w", job_id=1, cluster_key="k")).id or 0)
    other = int(store.projects.add(Project(workspace="w", job_id=2, cluster_key="k")).id or 0)
    lo, hi = NOW - 72 * HOUR, NOW
    inside = [_add(store, p, 1, lo), _add(store, p, 2, NOW - 30 * HOUR), _add(store, p, 3, hi)]
    _add(store, p, 4, lo - 1)  # ended before the window: given up
    _add(store, p, 5, hi + 1)  # not in the window yet
    _add(store, p, 6, NOW - HOUR, cost=dataclasses.replace(ESTIMATE, source="billed"))
    _add(store, p, 7, NOW - HOUR, cost=None)  # not costed: nothing to re-cost
    _add(store, p, 8, NOW - HOUR, cluster_id="")  # no cluster: no bill to ask for
    _add(store, other, 9, NOW - HOUR)  # another project's
    late = _add(store, p, 10, NOW - 50 * HOUR)  # added later, ended earlier: oldest end comes first
    # The bill window is the cluster's when the cost has it (it outlives the run): that end counts.
    _add(store, p, 11, lo - HOUR, cost=dataclasses.replace(ESTIMATE, window_start_ms=lo - 2 * HOUR,
                                                            window_end_ms=lo + HOUR))
    _add(store, p, 12, hi - HOUR, cost=dataclasses.replace(ESTIMATE, window_start_ms=hi - 2 * HOUR,
                                                            window_end_ms=hi + HOUR))
    found = store.runs.ended_with_cost_source(p, "estimate", lo, hi, limit=100)
    assert [r.databricks_run_id for r in found] == [1, 11, 10, 2, 3]
    assert [r.id for r in found if r.databricks_run_id != 11] == [inside[0].id, late.id, inside[1].id, inside[2].id]
    assert found[0].cost == ESTIMATE
    assert [r.databricks_run_id for r in store.runs.ended_with_cost_source(p, "estimate", lo, hi, limit=2)] == [1, 11]
    assert [r.databricks_run_id for r in store.runs.ended_with_cost_source(p, "billed", lo, hi, limit=9)] == [6]
    with pytest.raises(InvalidArgument, match="limit: 0 runs, must be at least 1"):
        store.runs.ended_with_cost_source(p, "estimate", lo, hi, limit=0)


def test_a_pass_is_bounded_and_the_rest_come_in_later_passes(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    pid = int(store.projects.add(Project(workspace="w", job_id=1, cluster_key="k")).id or 0)
    for i in range(6):
        _add(store, pid, i + 1, NOW - (30 + i) * HOUR)  # all old enough to be billed
    monkeypatch.setattr(bills_module, "RECOST_RUNS_PER_PROJECT", 4)
    source = LandsAfterADay()
    recoster = Recoster(store, lambda ws: source, FakeClock(NOW))
    assert len(recoster.recost_once().billed) == 4
    assert source.asked == ["c6", "c5", "c4", "c3"]  # the oldest, nearest to being given up, first
    assert len(recoster.recost_once().billed) == 2
    assert source.asked[4:] == ["c2", "c1"]


def test_the_window_follows_the_policy(store: Store) -> None:
    pid = int(store.projects.add(Project(workspace="w", job_id=1, cluster_key="k")).id or 0)
    _add(store, pid, 1, NOW - 30 * HOUR)
    _add(store, pid, 2, NOW - 2 * HOUR)
    source = LandsAfterADay()
    policy = RecostPolicy(first_check_after_ms=4 * HOUR, settle_after_ms=12 * HOUR, give_up_after_ms=24 * HOUR)
    assert policy != DEFAULT_RECOST_POLICY
    Recoster(store, lambda ws: source, FakeClock(NOW), policy).recost_once()
    assert source.asked == []  # one past giving up, the other too new to look at


class Unreachable:
    """A bill source whose cloud does not answer (credentials for an endpoint that is gone)."""

    def __init__(self) -> None:
        self.fail = True

    def cluster_bill(self, cluster_id: str, start_ms: int, end_ms: int) -> list[BillLine]:
        if self.fail:
            raise Unavailable('AWS get_cost_and_usage failed: Could not connect to the endpoint URL: "http://127.0.0.1:1/"')
        return [BillLine("aws", cluster_id, day, "compute", "BoxUsage", 0.9, "USD")
                for day in window_days(start_ms, end_ms)]


def test_bill_reads_failing_are_logged_once_per_workspace_until_they_work_again(
        store: Store, caplog: pytest.LogCaptureFixture) -> None:
    """Before, a workspace whose billing credentials could not read the bill left no trace but each
    run's cost note, while `workspace show` said the credentials were set (review revD 4)."""
    pid = int(store.projects.add(Project(workspace="w", job_id=1, cluster_key="k")).id or 0)
    for n in range(3):
        _add(store, pid, n + 1, NOW - 30 * HOUR)
    source = Unreachable()
    recoster = Recoster(store, lambda ws: source, FakeClock(NOW))
    caplog.set_level("INFO", logger=bills_module.__name__)
    for _ in range(3):  # a pass an hour: said once, not every pass
        assert len(recoster.recost_once().errors) == 3
    said = [r for r in caplog.records if "could not be read" in r.getMessage()]
    assert len(said) == 1 and said[0].levelname == "WARNING"
    assert said[0].getMessage().startswith("workspace w: the cloud bill could not be read for 3 run(s): AWS "
                                           "get_cost_and_usage failed")
    assert "--cloud-credentials-env" in said[0].getMessage()
    source.fail = False
    assert len(recoster.recost_once().billed) == 3
    assert any(r.getMessage() == "workspace w: the cloud bill is read again" for r in caplog.records)
