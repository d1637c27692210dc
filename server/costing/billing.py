"""Cost a run and reconcile it with the cloud bill when the workspace has cloud credentials.

``price_run`` is what run collection calls after each run, and again later
while ``should_recost`` says the bill may still land (cloud billing lags by
hours). It never stores anything; it returns the breakdown to store, or
raises ``MalformedBill`` so the caller leaves the stored cost untouched.

Fallbacks, each said in ``note``:
- no cloud credentials: the catalog estimate;
- credentials stored that cannot be used (`UnusableCredentials`, e.g. stored before `workspace add`
  checked them): the catalog estimate, and why they cannot be used;
- the bill could not be read (network, permissions): the catalog estimate;
- no lines for the cluster yet: the catalog estimate, re-costed later.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from server.costing.catalog import PriceCatalog
from server.costing.reconcile import (
    BillLine,
    breakdown,
    parse_aws_cost_pages,
    parse_azure_query,
    sum_bill,
)
from server.costing.run_cost import ClusterUsage, cost_run
from server.domain import CostBreakdown
from server.errors import FailedPrecondition, Unavailable

HOUR_MS = 3_600_000
NOTE_NO_CREDENTIALS = "no cloud credentials for this workspace: compute and storage are catalog estimates"
NOTE_UNUSABLE = "cloud credentials not usable: {why}: compute and storage are catalog estimates"
NOTE_NOT_LANDED = "cloud bill not available yet (billing lags by hours): estimate shown, re-costed when it lands"


class BillSource(Protocol):
    def cluster_bill(self, cluster_id: str, start_ms: int, end_ms: int) -> list[BillLine]:
        """Bill lines of the cluster; an empty list while the bill has not landed."""


class _AwsGatewayLike(Protocol):
    def cluster_cost_pages(self, cluster_id: str, start_ms: int, end_ms: int) -> list[dict[str, Any]]: ...


class _AzureGatewayLike(Protocol):
    def cluster_cost_pages(self, cluster_id: str, start_ms: int, end_ms: int) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class UnusableCredentials:
    """The workspace has cloud credentials that cannot be used, and ``why``: in place of a bill
    source, so a run's note says that, not that the workspace has none (which `workspace show`
    would contradict). It never reaches a cloud."""

    why: str

    def cluster_bill(self, cluster_id: str, start_ms: int, end_ms: int) -> list[BillLine]:
        raise FailedPrecondition(f"cloud credentials not usable: {self.why}")


def usable(bill_source: BillSource | None) -> BillSource | None:
    """``bill_source`` when it can read a bill, else None (no credentials, or unusable ones)."""
    return None if isinstance(bill_source, UnusableCredentials) else bill_source


@dataclass
class AwsBill:
    """Cost Explorer through ``server.clouds.aws.AwsGateway``."""

    gateway: _AwsGatewayLike

    def cluster_bill(self, cluster_id: str, start_ms: int, end_ms: int) -> list[BillLine]:
        return parse_aws_cost_pages(self.gateway.cluster_cost_pages(cluster_id, start_ms, end_ms), cluster_id)


@dataclass
class AzureBill:
    """Cost Management through ``server.clouds.azure.AzureCostGateway``."""

    gateway: _AzureGatewayLike

    def cluster_bill(self, cluster_id: str, start_ms: int, end_ms: int) -> list[BillLine]:
        return parse_azure_query(self.gateway.cluster_cost_pages(cluster_id, start_ms, end_ms), cluster_id)


def price_run(
    usage: ClusterUsage,
    catalog: PriceCatalog,
    *,
    cluster_id: str,
    start_ms: int,
    end_ms: int,
    bill_source: BillSource | None,
) -> CostBreakdown:
    """The run's breakdown: catalog estimate, plus the cloud bill beside it when it has landed."""
    estimate = cost_run(usage, catalog)
    if isinstance(bill_source, UnusableCredentials):
        return breakdown(estimate, usage.input_bytes,
                         note=f"{NOTE_UNUSABLE.format(why=bill_source.why)} (catalog {catalog.version})")
    if bill_source is None:
        return breakdown(estimate, usage.input_bytes, note=f"{NOTE_NO_CREDENTIALS} (catalog {catalog.version})")
    try:
        lines = bill_source.cluster_bill(cluster_id, start_ms, end_ms)
    except (Unavailable, FailedPrecondition) as exc:
        return breakdown(estimate, usage.input_bytes, note=f"cloud bill not read ({exc.message}): catalog estimate")
    if not lines:
        return breakdown(estimate, usage.input_bytes, note=NOTE_NOT_LANDED)
    return breakdown(estimate, usage.input_bytes, billed=sum_bill(lines, catalog.currency))


@dataclass(frozen=True)
class RecostPolicy:
    """How long to keep looking for a run's bill: AWS and Azure usually publish within a day."""

    first_check_after_ms: int = 0
    give_up_after_ms: int = 72 * HOUR_MS


DEFAULT_RECOST_POLICY = RecostPolicy()


def should_recost(cost: CostBreakdown | None, run_end_ms: int, now_ms: int, has_credentials: bool,
                  policy: RecostPolicy = DEFAULT_RECOST_POLICY) -> bool:
    """True while a run priced from the estimate may still get its cloud bill."""
    if not has_credentials or (cost is not None and cost.source == "billed"):
        return False
    age = now_ms - run_end_ms
    return policy.first_check_after_ms <= age <= policy.give_up_after_ms or cost is None


def list_price_rates(catalog: PriceCatalog, regions: dict[str, str]) -> tuple[Any, Any]:
    """(instance_rate, storage_rate) callables at catalog list prices, for the sandbox's billing stand-in.

    ``regions`` maps a cloud to the region its bill is priced in, e.g. {"aws": "us-east-1", "azure": "eastus"}.
    """

    def instance_rate(cloud: str, node_type: str, spot: bool) -> float:
        price = catalog.hourly_price(cloud, regions[cloud], node_type)
        if spot:
            price *= 1.0 - catalog.spot_discount(cloud, catalog.node_type(cloud, node_type).family)
        return price

    def storage_rate(cloud: str, volume_type: str) -> float:
        return catalog.ebs_price(cloud, regions[cloud], volume_type).usd_per_gb_month

    return instance_rate, storage_rate
