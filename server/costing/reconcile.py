"""Cloud bills: parse and validate what AWS Cost Explorer or Azure Cost Management returned,
then set the billed amount beside the catalog estimate (pure: no I/O).

A bill that does not parse, names another cluster, mixes currencies, has
an amount that is not a finite number or a day netting negative (a refund) raises ``MalformedBill`` before
anything is computed, so a caller that stores the result never overwrites a
good stored cost with a bad one.

The cloud bill covers compute and storage only; DBUs are billed by
Databricks, so the DBU part always comes from the catalog. When a bill is
present the models use it: ``total`` = DBU cost + billed cloud cost, while
``compute_cost``/``storage_cost`` stay the catalog estimate so both can be
shown side by side (``note`` says which was used).

On Azure the DBUs *are* on the cloud bill: the "Azure Databricks" meter carries
the cluster's tags, so the tag-filtered query returns it. Those lines get
category ``dbu`` and are left out of the billed amount (they would otherwise be
counted twice: once from the catalog, once from the bill). We keep the catalog's
DBU cost rather than the billed one so a run's DBU part is priced the same way
on both clouds (AWS bills DBUs outside Cost Explorer) and the same way as the
planner prices the candidates it compares a run with.

Amounts are amortized (AWS ``AmortizedCost``, Azure ``AmortizedCost``): hours
covered by a Reserved Instance, Savings Plan or Azure reservation carry their
share of the commitment instead of reading ~0, so the bill compares with the
catalog's on-demand price like for like. Moving a job off a committed family
does not reduce the committed spend itself (the commitment is paid anyway);
the saving is only real if the commitment is used by something else.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from server.costing.errors import MalformedBill
from server.costing.run_cost import BYTES_PER_GB, RunCost
from server.domain import CostBreakdown

CATEGORIES = ("compute", "storage", "other")  # summed into the billed cloud cost; "dbu" lines are not
# The metric asked of Cost Explorer and read back (``server.clouds.aws.cost_query``). AmortizedCost
# rather than NetAmortizedCost: the net metrics also subtract negotiated discounts (EDP, private
# pricing) that only some accounts have, which would make the bill-vs-catalog delta depend on the
# contract instead of on the run; the catalog holds list prices.
AWS_COST_METRIC = "AmortizedCost"
# A run's cost source: the catalog estimate, or a whole, final bill (never re-costed again). A whole
# bill the cloud still marks estimated is set beside the estimate (``billed_cloud_cost``) with source
# ``estimate``: the models and savings (which count ``billed`` runs) keep the estimate until it is final.
SOURCE_ESTIMATE = "estimate"
SOURCE_BILLED = "billed"
# Azure's DBU meter (the Databricks service's own charge, tagged with the cluster's tags).
AZURE_DBU_METER = "Azure Databricks"
# Cost Management's cost columns, USD first: PreTaxCostUSD/CostUSD are the same charges in USD
# whatever the billing currency, so a EUR-billed subscription still compares with the USD catalog.
AZURE_USD_COLUMNS = ("PreTaxCostUSD", "CostUSD")
AZURE_BILLING_CURRENCY_COLUMNS = ("PreTaxCost", "Cost")


@dataclass(frozen=True)
class BillLine:
    cloud: str
    cluster_id: str
    day: str  # YYYY-MM-DD
    category: str  # compute | storage | other
    usage: str  # the cloud's own name for it (usage type, meter category)
    amount: float
    currency: str
    estimated: bool = False  # the cloud says this figure may still change (Cost Explorer's Estimated)


def _amount(value: Any, where: str) -> float:
    try:
        amount = float(value)
    except (TypeError, ValueError):
        raise MalformedBill(f"{where}: amount {value!r} is not a number") from None
    if not math.isfinite(amount):
        raise MalformedBill(f"{where}: amount {value!r} is not a finite number")
    return amount


def aws_category(usage_type: str) -> str:
    """EC2 instance hours are BoxUsage (on-demand) or SpotUsage; EBS volume charges start with EBS:."""
    if "BoxUsage" in usage_type or "SpotUsage" in usage_type:
        return "compute"
    if "EBS:" in usage_type:
        return "storage"
    return "other"


def parse_aws_cost_pages(pages: list[dict[str, Any]], cluster_id: str) -> list[BillLine]:
    """Cost Explorer pages grouped by (TAG ClusterId, DIMENSION USAGE_TYPE) -> bill lines of one cluster."""
    lines: list[BillLine] = []
    for p, page in enumerate(pages):
        results = page.get("ResultsByTime") if isinstance(page, dict) else None
        if not isinstance(results, list):
            raise MalformedBill(f"Cost Explorer page {p}: no ResultsByTime list")
        for result in results:
            day = str((result.get("TimePeriod") or {}).get("Start", ""))
            if len(day) != 10:
                raise MalformedBill(f"Cost Explorer page {p}: result without a TimePeriod start day")
            estimated = bool(result.get("Estimated", False))
            for group in result.get("Groups") or []:
                keys = group.get("Keys")
                if not isinstance(keys, list) or len(keys) != 2:
                    raise MalformedBill(f"Cost Explorer {day}: group keys {keys!r} are not (ClusterId tag, usage type)")
                tag, usage = keys
                if tag != f"ClusterId${cluster_id}":
                    raise MalformedBill(f"Cost Explorer {day}: line for {tag!r} in the bill of cluster {cluster_id}")
                metric = (group.get("Metrics") or {}).get(AWS_COST_METRIC)
                if not isinstance(metric, dict):
                    raise MalformedBill(f"Cost Explorer {day} {usage}: no {AWS_COST_METRIC} metric")
                amount = _amount(metric.get("Amount"), f"Cost Explorer {day} {usage}")
                lines.append(BillLine("aws", cluster_id, day, aws_category(str(usage)), str(usage), amount,
                                      str(metric.get("Unit") or ""), estimated))
    return lines


def azure_category(meter_category: str) -> str:
    return {"Virtual Machines": "compute", "Storage": "storage", AZURE_DBU_METER: "dbu"}.get(meter_category, "other")


def parse_azure_query(pages: list[dict[str, Any]], cluster_id: str) -> list[BillLine]:
    """Cost Management query pages ({"columns", "rows"}) grouped by the ClusterId tag and MeterCategory."""
    lines: list[BillLine] = []
    for p, page in enumerate(pages):
        columns = page.get("columns") if isinstance(page, dict) else None
        rows = page.get("rows") if isinstance(page, dict) else None
        if not isinstance(columns, list) or not isinstance(rows, list):
            raise MalformedBill(f"Cost Management page {p}: expected columns and rows")
        names = [str(c.get("name", "")) for c in columns if isinstance(c, dict)]
        # The USD column when Azure sent one (then the amounts are USD whatever ``Currency`` says,
        # which is the billing currency); else the billing-currency column and its ``Currency``.
        usd_col = next((n for n in AZURE_USD_COLUMNS if n in names), None)
        cost_col = usd_col or next((n for n in AZURE_BILLING_CURRENCY_COLUMNS if n in names), None)
        needed = {"UsageDate", "TagKey", "TagValue", "MeterCategory", "Currency"}
        if cost_col is None or not needed <= set(names):
            raise MalformedBill(f"Cost Management page {p}: columns {names} lack a cost or {sorted(needed)}")
        at = {n: i for i, n in enumerate(names)}
        for r, row in enumerate(rows):
            if not isinstance(row, list) or len(row) != len(names):
                raise MalformedBill(f"Cost Management page {p} row {r}: {len(names)} values expected")
            if str(row[at["TagKey"]]).lower() != "clusterid" or row[at["TagValue"]] != cluster_id:
                raise MalformedBill(f"Cost Management row {r}: tag {row[at['TagKey']]}={row[at['TagValue']]!r} "
                                    f"in the bill of cluster {cluster_id}")
            raw_day = str(row[at["UsageDate"]])
            if len(raw_day) != 8 or not raw_day.isdigit():
                raise MalformedBill(f"Cost Management row {r}: UsageDate {raw_day!r} is not YYYYMMDD")
            meter = str(row[at["MeterCategory"]])
            lines.append(BillLine("azure", cluster_id, f"{raw_day[:4]}-{raw_day[4:6]}-{raw_day[6:]}",
                                  azure_category(meter), meter,
                                  _amount(row[at[cost_col]], f"Cost Management row {r}"),
                                  "USD" if usd_col else str(row[at["Currency"]])))
    return lines


@dataclass(frozen=True)
class BilledAmounts:
    compute: float
    storage: float
    other: float
    currency: str

    @property
    def total(self) -> float:
        return self.compute + self.storage + self.other


def window_days(start_ms: int, end_ms: int) -> list[str]:
    """The UTC days (YYYY-MM-DD) a run's window touches; a run ending exactly at midnight ends the day before."""
    first = datetime.fromtimestamp(start_ms / 1000, tz=UTC).date()
    last = datetime.fromtimestamp(max(start_ms, end_ms - 1) / 1000, tz=UTC).date()
    return [(first + timedelta(days=d)).isoformat() for d in range((last - first).days + 1)]


def missing_days(lines: list[BillLine], start_ms: int, end_ms: int) -> list[str]:
    """Days of the run's window with no cloud line yet (DBU lines do not count: they are not the cloud part)."""
    landed = {line.day for line in lines if line.category in CATEGORIES}
    return [day for day in window_days(start_ms, end_ms) if day not in landed]


def sum_bill(lines: list[BillLine], expected_currency: str) -> BilledAmounts:
    lines = [line for line in lines if line.category in CATEGORIES]  # DBU lines: see the module doc
    if not lines:
        raise MalformedBill("bill has no compute, storage or other line (DBU lines only)")
    currencies = {line.currency for line in lines}
    if currencies != {expected_currency}:
        raise MalformedBill(f"bill currencies {sorted(currencies)} do not match the catalog's {expected_currency}")
    # A day netting negative is a refund or credit larger than that day's charges: not what the run's
    # resources cost (taken, it read a run 82% cheaper and the models learned it). Checked per day, as
    # a credit on one day hides in a whole bill's positive total. The queries leave credits and refunds
    # out (`server.clouds.aws.NOT_CONSUMED`, Azure's ChargeType Usage), so what this still catches is
    # a negative the cloud files as usage; a smaller one cannot be told from a cheaper day, and is taken.
    for day in sorted({line.day for line in lines}):
        net = math.fsum(line.amount for line in lines if line.day == day)
        if round(net, 9) < 0:  # a day refunded in full nets 0, which float sums may leave at -1e-17
            raise MalformedBill(f"bill day {day} nets negative, {net:.2f} {expected_currency}: a refund or "
                                "credit larger than the day's charges")
    by = {c: math.fsum(line.amount for line in lines if line.category == c) for c in CATEGORIES}
    return BilledAmounts(by["compute"], by["storage"], by["other"], expected_currency)


def with_bill(cost: CostBreakdown, billed: BilledAmounts, input_bytes: int | None = None, *,
              final: bool = True, note_suffix: str = "") -> CostBreakdown:
    """A stored estimate with the cloud bill set beside it; the DBU part and the estimate stay as they were.

    ``final`` False (the cloud still marks the figures estimated): the bill is only shown beside the
    estimate (``billed_cloud_cost``), ``total`` and ``source`` stay the estimate's.
    """
    if billed.currency != cost.currency:
        raise MalformedBill(f"bill in {billed.currency} for a run priced in {cost.currency}")
    estimate = cost.compute_cost + cost.storage_cost
    if not final:
        total = cost.dbu_cost + estimate
        return dataclasses.replace(
            cost, total=total, source=SOURCE_ESTIMATE, billed_cloud_cost=billed.total,
            cost_per_input_gb=total / (input_bytes / BYTES_PER_GB) if input_bytes else None,
            used_by_models="estimate",
            note=(f"cloud bill {billed.total:.2f} {billed.currency} not final yet (catalog estimate "
                  f"{estimate:.2f}, {billed.total - estimate:+.2f}): estimate used" + note_suffix))
    total = cost.dbu_cost + billed.total
    return dataclasses.replace(
        cost,
        total=total,
        source=SOURCE_BILLED,
        billed_cloud_cost=billed.total,
        cost_per_input_gb=total / (input_bytes / BYTES_PER_GB) if input_bytes else None,
        used_by_models="billed",
        note=(f"compute+storage from the cloud bill {billed.total:.2f} {billed.currency} "
              f"(catalog estimate {estimate:.2f}, {billed.total - estimate:+.2f}); DBUs from the catalog"
              + note_suffix),
    )


def breakdown(estimate: RunCost, input_bytes: int | None = None, billed: BilledAmounts | None = None,
              note: str = "") -> CostBreakdown:
    """The stored cost of a run: the estimate, and the bill beside it when there is one."""
    total = estimate.total
    cost = CostBreakdown(
        dbu_cost=estimate.dbu_cost,
        compute_cost=estimate.compute_cost,
        storage_cost=estimate.storage_cost,
        total=total,
        dbus=estimate.dbus,
        currency=estimate.currency,
        source=SOURCE_ESTIMATE,
        billed_cloud_cost=None,
        cost_per_input_gb=total / (input_bytes / BYTES_PER_GB) if input_bytes else None,
        used_by_models="estimate",
        note=note or f"catalog estimate (catalog {estimate.catalog_version})",
    )
    return cost if billed is None else with_bill(cost, billed, input_bytes)
