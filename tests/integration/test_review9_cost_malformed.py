"""Review 9: a cloud bill refused at collection (`MalformedBill`: here a day whose tagged charges net
negative after a refund) left the run unpriced for good, as if the catalog could not price it. The
documented behaviour holds: the bill is refused, the run keeps the catalog estimate, its note says why,
and re-costing may still look at the bill later.

Against the workspace emulator through the real databricks-sdk, and moto's Cost Explorer through boto3."""

from __future__ import annotations

from datetime import UTC, datetime

from sandbox.clouds.aws import AwsStandIn, CostLineItem
from sandbox.workspace import RunningWorkspace
from server.clock import SystemClock
from server.clouds.aws import AwsCredentials, AwsGateway
from server.collect import Collector
from server.collect.collector import UNPRICED_MARK
from server.collect.run_parse import cluster_runs
from server.costing.billing import AwsBill, RecostPolicy, should_recost
from server.costing.catalog import load_catalog
from server.costing.recost import recost_runs
from server.databricks import DatabricksGateway
from server.domain import Project
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store

HOUR_MS = 3_600_000


class SevenHoursLater(SystemClock):
    """The server collecting 7 h after the run ended (it was down, or catching up after a restart):
    past the first check, so the bill is asked for at collection. Counted from the run's end, not from
    the machine's clock: the emulator's simulated runs end ahead of it by however much earlier tests
    advanced its time, and at 85 min ahead "7 h later" was still short of the 6 h check (flaky)."""

    def __init__(self, run_end_ms: int) -> None:
        self._offset = run_end_ms + 7 * HOUR_MS - super().now_ms()

    def now_ms(self) -> int:
        return super().now_ms() + self._offset


def test_a_bill_refused_at_collection_keeps_the_estimate(store: Store, secrets: SecretBox,
                                                          emulator: RunningWorkspace,
                                                          gateway: DatabricksGateway, daily: Project) -> None:
    run_id = gateway.run_now(daily.job_id)
    assert emulator.wait_idle(60)
    (piece,) = cluster_runs(gateway.get_run(run_id))
    day = datetime.fromtimestamp(piece.start_ms / 1000, tz=UTC).date()
    policy = RecostPolicy(first_check_after_ms=6 * HOUR_MS)
    with AwsStandIn() as aws:
        tags = {"Vendor": "Databricks", "ClusterId": piece.cluster_id}
        # The day's tagged charges net negative: a refund line on the cluster's usage type.
        aws.add_cost(CostLineItem(day, "USE1-BoxUsage:m5.xlarge", 0.20, tags))
        aws.add_cost(CostLineItem(day, "USE1-BoxUsage:m5.xlarge", -0.50, tags))
        bills = AwsBill(AwsGateway(AwsCredentials("testing", "testing", endpoint_url=aws.endpoint_url)))
        collector = Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws),
                              clock=SevenHoursLater(piece.end_ms), catalog=load_catalog(),
                              bill_source_for=lambda ws: bills,
                              recost_policy=policy)

        (run,) = collector.poll_once()

        assert run.cost is not None  # before: None, and never tried again with this catalog
        assert run.cost.source == "estimate" and run.cost.total > 0 and run.cost.billed_cloud_cost is None
        assert "cloud bill refused" in run.cost.note and "negative" in run.cost.note
        assert UNPRICED_MARK not in run.message
        assert collector.poll_once() == []
        # Still an estimate: re-costing looks again, and refuses the same bill without touching the cost.
        now = SevenHoursLater(piece.end_ms).now_ms()
        assert should_recost(run.cost, run.end_ms, now, True, policy)
        report = recost_runs([run], bills, now_ms=now, set_cost=store.runs.set_cost, policy=policy)
        assert list(report.rejected) == [run.id]
    assert store.runs.get(int(run.id or 0)).cost == run.cost
