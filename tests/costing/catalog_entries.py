"""Reads raw entries from the shipped catalog files, so tests compute expected costs by hand."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

CATALOG_DIR = Path(__file__).resolve().parents[2] / "server" / "costing" / "catalog"


def entry(fname: str, **match: str) -> dict[str, Any]:
    top = json.loads((CATALOG_DIR / fname).read_text())
    (items,) = top.values()
    found = [e for e in items if all(e.get(k) == v for k, v in match.items())]
    assert len(found) == 1, f"{fname} {match}: {len(found)} entries"
    return found[0]


def price(cloud: str, region: str, node_type: str) -> float:
    return entry("compute_prices.json", cloud=cloud, region=region, node_type=node_type)["usd_per_hour"]


def dbus(cloud: str, node_type: str) -> float:
    return entry("node_types.json", cloud=cloud, node_type=node_type)["dbus_per_hour"]


def family(cloud: str, node_type: str) -> str:
    return entry("node_types.json", cloud=cloud, node_type=node_type)["family"]


def rate(cloud: str, plan: str, sku: str) -> float:
    return entry("dbu_rates.json", cloud=cloud, plan=plan, sku=sku)["usd_per_dbu"]


def multiplier(cloud: str, sku: str) -> float:
    return entry("dbu_multipliers.json", cloud=cloud, sku=sku)["multiplier"]


def spot(cloud: str, fam: str) -> float:
    return entry("spot_discounts.json", cloud=cloud, family=fam)["discount"]


def gb_month(cloud: str, region: str, volume_type: str) -> float:
    return entry("storage_prices.json", cloud=cloud, region=region, volume_type=volume_type)["usd_per_gb_month"]


def hours_per_month() -> float:
    return json.loads((CATALOG_DIR / "manifest.json").read_text())["hours_per_month"]


# Databricks' default EBS volumes on every AWS node (docs.databricks.com AWS cluster configuration,
# "Default EBS volumes": a 30 GB instance root and a 150 GB container root), priced as gp2.
AWS_ROOT_GB = 30 + 150


def month_hours(at_ms: int) -> int:
    """Hours of the UTC calendar month ``at_ms`` falls in: what AWS prorates a GB-month over, and so a
    run's cost (`server.costing.run_cost.months_of`); planning's hour of no month keeps the catalog's."""
    first = datetime.fromtimestamp(at_ms / 1000, tz=UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = first.replace(year=first.year + 1, month=1) if first.month == 12 else first.replace(month=first.month + 1)
    return round((following - first).total_seconds() / 3600)


def root_per_hour(region: str, at_ms: int | None = None) -> float:
    """$/h of one AWS node's default volumes: 180 GB x gp2 $/GB-month / hours per month (the catalog's,
    or those of the month ``at_ms`` falls in, for a run then)."""
    hours = hours_per_month() if at_ms is None else month_hours(at_ms)
    return AWS_ROOT_GB * gb_month("aws", region, "gp2") / hours
