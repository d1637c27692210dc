"""Reads raw entries from the shipped catalog files, so tests compute expected costs by hand."""

from __future__ import annotations

import json
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


def root_per_hour(region: str) -> float:
    """$/h of one AWS node's default volumes: 180 GB x gp2 $/GB-month / hours per month."""
    return AWS_ROOT_GB * gb_month("aws", region, "gp2") / hours_per_month()
