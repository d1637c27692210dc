"""Cost a run and reconcile it with the cloud bill when the workspace has cloud credentials.

``price_run`` is what run collection calls after each run, and again later
while ``should_recost`` says the bill may still land (cloud billing lags by
hours). It never stores anything; it returns the breakdown to store. A bill it
refuses (``MalformedBill``: a day netting negative after a refund, another currency)
leaves the catalog estimate, with a note saying why; ``apply_bill``, which
re-costing calls on a stored cost, raises it so the stored cost is left untouched.

Fallbacks, each said in ``note``:
- no cloud credentials: the catalog estimate;
- a pool-backed cluster (``ClusterUsage.pooled``): the catalog estimate, and the bill is never asked
  for: Databricks tags a pool's instances with the pool's tags only, so no line carries the
  cluster's ClusterId (`notes.NOTE_POOL`);
- a bill refused (``MalformedBill``): the catalog estimate, and why it was refused;
- credentials stored that cannot be used (`UnusableCredentials`, e.g. stored before `workspace add`
  checked them): the catalog estimate, and why they cannot be used;
- the bill could not be read (network, permissions): the catalog estimate;
- no lines for the cluster yet: the catalog estimate, re-costed later;
- lines for only some days of the run's window (a run across midnight UTC whose second day has not
  landed): still the catalog estimate, the partial amount said in the note, re-costed later. Once
  ``RecostPolicy.settle_after_ms`` has passed since the run ended, a day still without a line is
  taken as a day without charges and the bill is used;
- every day landed but the cloud marks the figures estimated (Cost Explorer's ``Estimated``,
  which it says of the whole current month): the bill is shown beside the estimate
  (``billed_cloud_cost``) while source, total and the models stay on the estimate, and it is
  looked at once more after ``settle_after_ms``; that look is final (estimated or not), so the
  flag costs each run at most one more Cost Explorer call;
- an Azure bill younger than ``settle_after_ms``: the same, though Azure marks nothing (its usage
  lands over 8-24 h, and a day's first line is not its last): looked at once more after the settle time.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Protocol

from server.costing.catalog import PriceCatalog
from server.costing.errors import MalformedBill
from server.costing.notes import (
    NOTE_NO_BILL_FMT,
    NOTE_NO_CREDENTIALS,
    NOTE_POOL,
    NOTE_REFUSED_PREFIX,
    NOTE_UNUSABLE,
)
from server.costing.reconcile import (
    CATEGORIES,
    SOURCE_BILLED,
    SOURCE_ESTIMATE,
    BillLine,
    breakdown,
    missing_days,
    parse_aws_cost_pages,
    parse_azure_query,
    sum_bill,
    window_days,
    with_bill,
)
from server.costing.run_cost import ClusterUsage, cost_run
from server.domain import CostBreakdown
from server.errors import FailedPrecondition, Unavailable

HOUR_MS = 3_600_000


@dataclass(frozen=True)
class RecostPolicy:
    """How long to keep looking for a run's bill: AWS and Azure usually publish within a day.

    ``settle_after_ms``: after it a day of the run's window still without a line is taken as a day
    without charges, and a bill the cloud still marks estimated is taken as it is (one last look).
    """

    first_check_after_ms: int = 0
    settle_after_ms: int = 48 * HOUR_MS
    give_up_after_ms: int = 72 * HOUR_MS


DEFAULT_RECOST_POLICY = RecostPolicy()
_GIVE_UP_H = DEFAULT_RECOST_POLICY.give_up_after_ms // HOUR_MS

# Said of a run that may never get its bill too, so it promises no re-costing, only the looking.
NOTE_NOT_LANDED_FMT = ("cloud bill not available yet (billing lags by hours): estimate shown; "
                       "looked for again until {give_up_h} h after the run")
NOTE_NOT_LANDED = NOTE_NOT_LANDED_FMT.format(give_up_h=_GIVE_UP_H)
NOTE_REFUSED = NOTE_REFUSED_PREFIX + " ({why}): catalog estimate kept (catalog {version})"
NOTE_PARTIAL = ("cloud bill partial: {landed} of {days} day(s) landed ({amount:.2f} {currency} so far, "
                "missing {missing}): estimate shown; looked for again until {give_up_h} h after the run")


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
    now_ms: int | None = None,
    policy: RecostPolicy | None = None,
) -> CostBreakdown:
    """The run's breakdown: catalog estimate, plus the cloud bill beside it when all of it has landed
    (see ``apply_bill``; ``now_ms`` tells how long ago the run ended, unknown when None).

    ``start_ms``..``end_ms`` is the span priced (the cluster's timeline): it is kept on the breakdown
    (``window_start_ms``/``window_end_ms``), so re-costing asks the bill for the same days."""
    cost = _price_run(usage, catalog, cluster_id=cluster_id, start_ms=start_ms, end_ms=end_ms,
                      bill_source=bill_source, now_ms=now_ms, policy=policy or DEFAULT_RECOST_POLICY)
    return dataclasses.replace(cost, window_start_ms=start_ms, window_end_ms=end_ms)


def _price_run(usage: ClusterUsage, catalog: PriceCatalog, *, cluster_id: str, start_ms: int, end_ms: int,
               bill_source: BillSource | None, now_ms: int | None, policy: RecostPolicy) -> CostBreakdown:
    estimate = cost_run(usage, catalog)
    if isinstance(bill_source, UnusableCredentials):
        return breakdown(estimate, usage.input_bytes,
                         note=f"{NOTE_UNUSABLE.format(why=bill_source.why)} (catalog {catalog.version})")
    if bill_source is None:
        return breakdown(estimate, usage.input_bytes, note=f"{NOTE_NO_CREDENTIALS} (catalog {catalog.version})")
    if usage.pooled:
        # No line of the bill carries this cluster's ClusterId (`NOTE_POOL`): asking would cost a
        # request every re-cost pass for 72 h and find nothing.
        return breakdown(estimate, usage.input_bytes, note=f"{NOTE_POOL} (catalog {catalog.version})")
    if policy.first_check_after_ms and (now_ms is None or now_ms - end_ms < policy.first_check_after_ms):
        # Too early for a bill (they lag by hours): not asked for, as each request may cost money;
        # re-costing looks once the wait is over (`should_recost`).
        return _as_estimate(breakdown(estimate, usage.input_bytes),
                            NOTE_NOT_LANDED_FMT.format(give_up_h=policy.give_up_after_ms // HOUR_MS))
    try:
        lines = bill_source.cluster_bill(cluster_id, start_ms, end_ms)
    except (Unavailable, FailedPrecondition) as exc:
        return breakdown(estimate, usage.input_bytes, note=f"cloud bill not read ({exc.message}): catalog estimate")
    try:
        return apply_bill(breakdown(estimate, usage.input_bytes), lines, start_ms=start_ms, end_ms=end_ms,
                          input_bytes=usage.input_bytes, age_ms=None if now_ms is None else now_ms - end_ms,
                          policy=policy)
    except MalformedBill as exc:
        # The bill cannot be trusted, the estimate can: the run is priced from it, not left unpriced
        # (a MalformedBill is a TrimtabCostError, which the collector takes for "cannot be priced",
        # and an unpriced run is never tried again with the same catalog). Re-costing looks again
        # (`should_recost`): a bill corrected later is used then.
        return breakdown(estimate, usage.input_bytes,
                         note=NOTE_REFUSED.format(why=exc.message, version=catalog.version))


def apply_bill(cost: CostBreakdown, lines: list[BillLine], *, start_ms: int, end_ms: int, input_bytes: int | None,
               age_ms: int | None, policy: RecostPolicy = DEFAULT_RECOST_POLICY) -> CostBreakdown:
    """``cost`` (an estimate, or a bill still marked estimated) with ``lines`` applied where they are a whole bill.

    A bill is whole when every UTC day of the run's window has a cloud line, or ``settle_after_ms``
    has passed since the run ended (``age_ms``; None when unknown, e.g. at first collection). Until
    then the estimate stays and the note says what has landed. Raises ``MalformedBill``.
    """
    missing = missing_days(lines, start_ms, end_ms)
    days = window_days(start_ms, end_ms)
    settled = age_ms is not None and age_ms >= policy.settle_after_ms
    give_up_h = policy.give_up_after_ms // HOUR_MS
    if len(missing) == len(days) and not settled:
        return _as_estimate(cost, NOTE_NOT_LANDED_FMT.format(give_up_h=give_up_h))
    billed = sum_bill(lines, cost.currency) if len(missing) < len(days) else None
    if billed is None:  # settled with no line on any day: nothing was billed to this cluster's tags
        return _as_estimate(cost, NOTE_NO_BILL_FMT.format(settle_h=policy.settle_after_ms // HOUR_MS))
    if missing and not settled:
        return _as_estimate(cost, NOTE_PARTIAL.format(
            landed=len(days) - len(missing), days=len(days), amount=billed.total, currency=billed.currency,
            missing=", ".join(missing), give_up_h=give_up_h))
    cloud_lines = [line for line in lines if line.category in CATEGORIES]
    estimated = any(line.estimated for line in cloud_lines)
    # Azure has no such flag, and a day's first line is not its last: Cost Management takes 8-24 h to
    # show an hour's usage (a day's VM hours land before its disks'), and the open month's charges
    # are estimates until the invoice. A bill younger than the settle time is therefore not final:
    # set beside the estimate and looked at once more, as a bill Cost Explorer marks Estimated is.
    landing = not settled and any(line.cloud == "azure" for line in cloud_lines)
    suffix = ""
    if missing:
        suffix += f"; no cloud line for {', '.join(missing)} after {policy.settle_after_ms // HOUR_MS} h: taken as none"
    if estimated and settled:
        suffix += "; the cloud still marks it estimated: taken as final"
    elif estimated or landing:
        suffix += (f"; {'Azure usage lands over up to 24 h: ' if landing and not estimated else ''}"
                   f"looked at once more {policy.settle_after_ms // HOUR_MS} h after the run")
    return with_bill(cost, billed, input_bytes, final=settled or not (estimated or landing), note_suffix=suffix)


def _as_estimate(cost: CostBreakdown, note: str) -> CostBreakdown:
    """``cost`` priced from its estimate, with ``note``; a bill already seen whole is kept (never downgraded)."""
    if cost.source != SOURCE_ESTIMATE or cost.billed_cloud_cost is not None:
        return cost
    return dataclasses.replace(cost, note=note)


def should_recost(cost: CostBreakdown | None, run_end_ms: int, now_ms: int, has_credentials: bool,
                  policy: RecostPolicy = DEFAULT_RECOST_POLICY) -> bool:
    """True while a run's bill may still land or change.

    Estimates are looked at every pass inside [first_check_after_ms, give_up_after_ms]; an estimate
    with a whole bill beside it that the cloud marked estimated (``billed_cloud_cost`` set) only once
    more, from ``settle_after_ms`` on (that look is final); a final bill never again.
    """
    if not has_credentials or (cost is not None and cost.source == SOURCE_BILLED):
        return False
    if cost is None:
        return True
    age = now_ms - run_end_ms
    if cost.billed_cloud_cost is not None:
        return policy.settle_after_ms <= age <= policy.give_up_after_ms
    return policy.first_check_after_ms <= age <= policy.give_up_after_ms


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


def list_dbu_rate(catalog: PriceCatalog, plan: str, sku: str) -> Any:
    """A dbu_rate callable (cloud, node type) -> DBU $/h at catalog prices, for the sandbox's Azure bill."""

    def dbu_rate(cloud: str, node_type: str) -> float:
        return (catalog.dbus_per_hour(cloud, node_type) * catalog.dbu_multiplier(cloud, sku)
                * catalog.dbu_rate(cloud, plan, sku))

    return dbu_rate
