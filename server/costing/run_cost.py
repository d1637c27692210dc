"""Cost of one run from its cluster timeline (pure: no I/O, no clock).

Each node (driver included) is priced for the time it was up, from
``start_ms`` to ``end_ms``, which already reflects autoscaling resizes and
spot losses (a lost node simply ends early and its replacement is its own
node). Three parts are kept apart because they come from different bills:

- DBU cost: node DBUs/h x hours x the SKU's multiplier x $/DBU of the plan.
  Databricks charges DBUs at the full rate on spot nodes too.
- Compute cost: the instance's on-demand $/h x hours, less the family's
  typical spot discount when the node was spot.
- Storage cost: each attached volume's $/GB-month prorated to the node's
  hours, plus gp3 IOPS and throughput above the included baseline. On AWS a
  month is the calendar month the hours fall in, as AWS bills a GB-month
  (`months_of`); elsewhere, and for an hour of no month in particular
  (``hourly_cost``), the catalog's ``hours_per_month``. On AWS every node
  also has the root volumes Databricks attaches to each (``default_volumes``).

Cost per GB of input uses 10^9 bytes per GB.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from server.costing.catalog import PriceCatalog
from server.costing.errors import TrimtabCostError, UnknownVolumeType

MS_PER_HOUR = 3_600_000
BYTES_PER_GB = 1_000_000_000
SKUS = ("jobs", "jobs_photon", "all_purpose")
# Databricks' default ``first_on_demand`` when a cluster's cloud attributes leave it unset: the
# driver on-demand (Clusters API, ``aws_attributes.first_on_demand``).
DEFAULT_FIRST_ON_DEMAND = 1


def is_photon(spec: Mapping[str, Any]) -> bool:
    """Whether a cluster with ``spec`` runs Photon (and is billed under its SKU).

    Clusters API, ``runtime_engine``: "If left unspecified, the runtime engine defaults to standard
    unless the spark_version contains -photon-, in which case Photon will be used." A set engine
    decides (the API refuses ``-photon-`` versions beside one).
    """
    engine = str(spec.get("runtime_engine") or "").upper()
    if engine:
        return engine == "PHOTON"
    return "-photon-" in str(spec.get("spark_version") or "").lower()


def sku_of(spec: Mapping[str, Any]) -> str:
    """The jobs SKU a job cluster with ``spec`` is billed under: Photon clusters have their own."""
    return "jobs_photon" if is_photon(spec) else "jobs"


def cloud_attributes(spec: Mapping[str, Any]) -> Mapping[str, Any]:
    return spec.get("aws_attributes") or spec.get("azure_attributes") or {}


def first_on_demand_of(attrs: Mapping[str, Any]) -> int:
    """How many nodes (the driver first) are on-demand under these cloud attributes.

    Unset is Databricks' default (1: the driver on-demand); an explicit 0 means the availability
    applies to the whole cluster, driver included, so the two must not be read alike.
    """
    value = attrs.get("first_on_demand")
    if value is None or value == "":
        return DEFAULT_FIRST_ON_DEMAND
    count = int(value)
    if count < 0:
        raise TrimtabCostError(f"first_on_demand {value!r} is negative")
    return count


# Volumes Databricks attaches to every node besides the spec's ``ebs_volume_*``:
# - AWS: "Databricks provisions EBS volumes for every worker node as follows: A 30 GB unencrypted EBS
#   instance root volume [...] A 150 GB encrypted EBS container root volume used by the Spark worker"
#   (https://docs.databricks.com/user-guide/clusters/aws-config.html, "Default EBS volumes"). Each
#   Databricks node, the driver too, is an EC2 instance running that container, so every AWS node is
#   priced with both. Databricks tags them with the cluster's tags, so Cost Explorer bills them to the
#   cluster. ASSUMPTION: the page names no volume type; they are priced as gp2 (the type Databricks
#   documents for its other default, GENERAL_PURPOSE_SSD). The page's third volume, 75 GB, is for
#   HIPAA deployments only and is not priced. About 180 GB x $0.10/GB-month: $0.025 per node-hour
#   in us-east-1. Nothing else is attached at launch, on a node type with no instance store too
#   (m5, c5...): the spec names its volumes or Databricks refuses it unless autoscaling local storage
#   attaches them as disks fill (`server.collect.usage.ebs_volumes` says where that is written).
# - Azure: each VM's managed OS disk; no Databricks page found gives its size or tier, so the
#   catalog's premium_ssd/standard_ssd prices cannot be applied to it. Azure estimates are low by
#   its cost.
AWS_DEFAULT_VOLUME_TYPE = "gp2"
AWS_DEFAULT_VOLUMES: tuple[tuple[str, int], ...] = (("instance root", 30), ("container root", 150))


def default_volumes(cloud: str) -> list[dict[str, Any]]:
    """The volumes Databricks attaches to every node on ``cloud`` besides the spec's (none on Azure):
    the one rule run collection and planning share, applied by ``cost_run`` to every node."""
    if cloud != "aws":
        return []
    return [{"type": AWS_DEFAULT_VOLUME_TYPE, "size_gb": size, "count": 1} for _, size in AWS_DEFAULT_VOLUMES]


def default_volumes_cost_per_hour(cloud: str, region: str, catalog: PriceCatalog) -> float:
    """$/h of ``default_volumes`` on one node (a month of the catalog's ``hours_per_month``)."""
    return default_volumes_cost_per_month(cloud, region, catalog) / catalog.hours_per_month


def default_volumes_cost_per_month(cloud: str, region: str, catalog: PriceCatalog) -> float:
    """$/month of ``default_volumes`` on one node; a catalog without their price is an error naming them."""
    volumes = default_volumes(cloud)
    try:
        return math.fsum(volume_cost_per_month(cloud, region, v, catalog) for v in volumes)
    except UnknownVolumeType as exc:
        sizes = " + ".join(f"{size} GB {what}" for what, size in AWS_DEFAULT_VOLUMES)
        raise TrimtabCostError(
            f"Databricks' default volumes on every {cloud} node ({sizes}) are priced as "
            f"{AWS_DEFAULT_VOLUME_TYPE}: {exc.message}") from exc


def ebs_volume_type(databricks_type: str, *, iops: int | None = None, throughput: int | None = None) -> str:
    """The EBS volume type behind a Databricks ``ebs_volume_type``: the one rule run collection
    and planning share.

    The Clusters API documents ``GENERAL_PURPOSE_SSD`` as "Provision extra storage using AWS gp2
    EBS volumes", and ``ebs_volume_iops``/``ebs_volume_throughput`` as "If using gp3 volumes, what
    IOPS/throughput to use": so gp2, unless IOPS or throughput are given, which only gp3 takes.
    ``THROUGHPUT_OPTIMIZED_HDD`` is st1. Any other value is passed on (the catalog refuses it by name).
    """
    if databricks_type == "GENERAL_PURPOSE_SSD":
        return "gp3" if (iops or throughput) else "gp2"
    if databricks_type == "THROUGHPUT_OPTIMIZED_HDD":
        return "st1"
    return databricks_type


@dataclass(frozen=True)
class NodeUsage:
    """One instance's up time. ``ebs_volumes`` items: {"type", "size_gb", "count", "iops"?, "throughput"?}."""

    node_type_id: str
    is_driver: bool
    spot: bool
    start_ms: int
    end_ms: int
    ebs_volumes: list[dict[str, Any]] = field(default_factory=list)
    instance_id: str = ""


@dataclass(frozen=True)
class ClusterUsage:
    cloud: str  # aws | azure
    region: str
    plan: str  # standard | premium | enterprise
    sku: str  # jobs | jobs_photon | all_purpose
    nodes: list[NodeUsage]
    input_bytes: int | None = None
    # The nodes came from an instance pool: their cloud lines carry the pool's tags, not the cluster's
    # ClusterId, so no bill can be read for them (`billing.price_run`). Set from the spec's pool fields
    # (`server.spec.pool_fields`) by whoever builds the usage.
    pooled: bool = False
    # Prorate AWS volumes by the calendar months the nodes' hours fall in (`months_of`), as the bill
    # does; False for an hour that stands for any (``hourly_cost``): the catalog's average month.
    calendar_months: bool = True


@dataclass(frozen=True)
class CostLine:
    """One node's share, so a person can redo the sum with the catalog at hand."""

    node_type_id: str
    role: str  # driver | worker
    spot: bool
    hours: float
    dbus: float
    dbu_cost: float
    compute_cost: float
    storage_cost: float
    instance_id: str = ""

    @property
    def total(self) -> float:
        return self.dbu_cost + self.compute_cost + self.storage_cost


@dataclass(frozen=True)
class RunCost:
    dbu_cost: float
    compute_cost: float
    storage_cost: float
    dbus: float
    currency: str
    catalog_version: str
    lines: tuple[CostLine, ...]
    cost_per_input_gb: float | None = None

    @property
    def total(self) -> float:
        return self.dbu_cost + self.compute_cost + self.storage_cost

    @property
    def cloud_cost(self) -> float:
        """What the cloud provider bills (compute + storage); DBUs are Databricks' bill."""
        return self.compute_cost + self.storage_cost


def volume_cost_per_hour(cloud: str, region: str, volume: dict[str, Any], catalog: PriceCatalog) -> float:
    """$/h of one volume spec (times its ``count``) in a month of the catalog's ``hours_per_month``."""
    return volume_cost_per_month(cloud, region, volume, catalog) / catalog.hours_per_month


def months_of(start_ms: int, end_ms: int) -> float:
    """How many months ``start_ms``..``end_ms`` is, each part over the hours of its UTC calendar month:
    AWS bills a GB-month as the month's own hours ("In a 30-day month, you're billed for one GB-month
    [...] You provision a 1-GB volume for 720 hours", AWS re:Post knowledge center, "How are charges
    for Amazon EBS volumes calculated on my bill?"; 744 hours in a 31-day month), not 730."""
    months = 0.0
    at = start_ms
    while at < end_ms:
        first = datetime.fromtimestamp(at / 1000, tz=UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        following = first.replace(year=first.year + 1, month=1) if first.month == 12 else \
            first.replace(month=first.month + 1)
        month_start, month_end = int(first.timestamp() * 1000), int(following.timestamp() * 1000)
        cut = min(end_ms, month_end)
        months += (cut - at) / (month_end - month_start)
        at = cut
    return months


def volume_cost_per_month(cloud: str, region: str, volume: dict[str, Any], catalog: PriceCatalog) -> float:
    """$/month of one volume spec (times its ``count``)."""
    vtype = str(volume.get("type", ""))
    size = float(volume.get("size_gb", 0))
    count = int(volume.get("count", 1))
    if size < 0 or count < 0:
        raise TrimtabCostError(f"invalid volume {volume!r}: size and count must not be negative")
    price = catalog.ebs_price(cloud, region, vtype)
    monthly = size * price.usd_per_gb_month
    iops = volume.get("iops")
    if iops is not None and price.usd_per_iops_month:
        monthly += max(0.0, float(iops) - price.included_iops) * price.usd_per_iops_month
    throughput = volume.get("throughput")
    if throughput is not None and price.usd_per_mibps_month:
        monthly += max(0.0, float(throughput) - price.included_throughput_mibps) * price.usd_per_mibps_month
    return count * monthly


def cost_run(usage: ClusterUsage, catalog: PriceCatalog) -> RunCost:
    """DBU, compute and storage cost of a run, with one line per node."""
    if usage.sku not in SKUS:
        raise TrimtabCostError(f"unknown SKU {usage.sku!r}: expected one of {', '.join(SKUS)}")
    if not usage.nodes:
        raise TrimtabCostError("a run without nodes cannot be priced (no driver in the cluster timeline)")
    usd_per_dbu = catalog.dbu_rate(usage.cloud, usage.plan, usage.sku)
    multiplier = catalog.dbu_multiplier(usage.cloud, usage.sku)
    defaults_per_month = default_volumes_cost_per_month(usage.cloud, usage.region, catalog)
    calendar = usage.calendar_months and usage.cloud == "aws"
    lines: list[CostLine] = []
    for node in usage.nodes:
        if node.end_ms < node.start_ms:
            raise TrimtabCostError(
                f"node {node.instance_id or node.node_type_id} ends before it starts ({node.end_ms} < {node.start_ms})"
            )
        hours = (node.end_ms - node.start_ms) / MS_PER_HOUR
        info = catalog.node_type(usage.cloud, node.node_type_id)
        dbus = info.dbus_per_hour * hours * multiplier
        price = catalog.hourly_price(usage.cloud, usage.region, node.node_type_id)
        if node.spot:
            price *= 1.0 - catalog.spot_discount(usage.cloud, info.family)
        storage_per_month = defaults_per_month + math.fsum(
            volume_cost_per_month(usage.cloud, usage.region, v, catalog) for v in node.ebs_volumes)
        months = months_of(node.start_ms, node.end_ms) if calendar else hours / catalog.hours_per_month
        lines.append(CostLine(
            node_type_id=node.node_type_id,
            role="driver" if node.is_driver else "worker",
            spot=node.spot,
            hours=hours,
            dbus=dbus,
            dbu_cost=dbus * usd_per_dbu,
            compute_cost=price * hours,
            storage_cost=storage_per_month * months,
            instance_id=node.instance_id,
        ))
    dbu_cost = math.fsum(line.dbu_cost for line in lines)
    compute = math.fsum(line.compute_cost for line in lines)
    storage = math.fsum(line.storage_cost for line in lines)
    per_gb = None
    if usage.input_bytes:
        per_gb = (dbu_cost + compute + storage) / (usage.input_bytes / BYTES_PER_GB)
    return RunCost(
        dbu_cost=dbu_cost,
        compute_cost=compute,
        storage_cost=storage,
        dbus=math.fsum(line.dbus for line in lines),
        currency=catalog.currency,
        catalog_version=catalog.version,
        lines=tuple(lines),
        cost_per_input_gb=per_gb,
    )


class ShapeLike(Protocol):
    """What ``hourly_cost`` reads; ``server.domain.ClusterConfig`` fits it."""

    node_type_id: str
    driver_node_type_id: str
    num_workers: int
    autoscale_min: int
    autoscale_max: int
    availability: str
    first_on_demand: int
    ebs_volume_type: str
    ebs_volume_count: int
    ebs_volume_size_gb: int


def shape_volumes(shape: ShapeLike) -> list[dict[str, Any]]:
    """The EBS volumes each node of ``shape`` gets (none when the shape asks for none), typed by
    `ebs_volume_type`, as run collection types a run's volumes."""
    vtype = getattr(shape, "ebs_volume_type", "") or ""
    count = int(getattr(shape, "ebs_volume_count", 0) or 0)
    size = int(getattr(shape, "ebs_volume_size_gb", 0) or 0)
    if not vtype or count <= 0 or size <= 0:
        return []
    iops = getattr(shape, "ebs_volume_iops", None)
    throughput = getattr(shape, "ebs_volume_throughput", None)
    volume: dict[str, Any] = {"type": ebs_volume_type(vtype, iops=iops, throughput=throughput),
                              "size_gb": size, "count": count}
    if volume["type"] == "gp3" and (iops or throughput):
        volume.update(iops=iops or 3000, throughput=throughput or 125)
    return [volume]


def shape_first_on_demand(shape: ShapeLike) -> int:
    """``first_on_demand`` of a shape: its named field, unless that is a 0 that may mean unset.

    ``server.spec.config_from_spec`` reads an unset ``first_on_demand`` under a spot availability as
    Databricks' 1, so its 0 is one the spec sets, or one the spec's cluster policy fills in
    (`server.spec.unset_attributes`; only a spec naming a ``policy_id`` is filled). A 0 that comes
    from neither (a configuration stored before that rule, or built by hand) is taken as unset: the
    shape's own ``spec``, when it has one, tells the two apart; without one, 0 is Databricks' default."""
    if shape.first_on_demand:
        return int(shape.first_on_demand)
    spec = getattr(shape, "spec", None) or {}
    if spec.get("instance_pool_id"):
        return 0  # a pool's spot driver (`server.spec.pool_first_on_demand`): first_on_demand is not read there
    attrs = cloud_attributes(spec)
    if "first_on_demand" in attrs:
        return first_on_demand_of(attrs)
    if spec.get("policy_id") and str(getattr(shape, "availability", "")).upper().startswith("SPOT"):
        return 0  # the policy's value, as the planner read it (`server.spec.unset_attributes`)
    return DEFAULT_FIRST_ON_DEMAND


def hourly_cost(
    shape: ShapeLike,
    cloud: str,
    region: str,
    plan: str,
    sku: str,
    catalog: PriceCatalog,
    workers: float | None = None,
) -> float:
    """All-in price of one hour of ``shape`` (DBUs + instances + volumes), driver included.

    ``workers`` overrides the worker count (an autoscaling cluster's expected
    size); by default fixed clusters use ``num_workers`` and autoscaling ones
    the midpoint of their range. Spot follows Databricks: with a SPOT
    availability the first ``first_on_demand`` nodes (the driver first) are
    on-demand and the rest spot; with ``first_on_demand`` 0 the driver is spot too. Priced through ``cost_run`` so the models and
    the stored run costs can never disagree.
    """
    if workers is None:
        if shape.autoscale_max > 0:
            workers = (shape.autoscale_min + shape.autoscale_max) / 2
        else:
            workers = shape.num_workers
    spot = shape.availability.upper().startswith("SPOT")
    first_on_demand = shape_first_on_demand(shape)
    on_demand_workers = max(0, (first_on_demand if spot else 10**9) - 1)
    volumes = shape_volumes(shape)
    driver_type = shape.driver_node_type_id or shape.node_type_id
    nodes = [NodeUsage(driver_type, True, spot and first_on_demand < 1, 0, MS_PER_HOUR, volumes)]
    whole = int(workers)
    for i in range(whole):
        nodes.append(NodeUsage(shape.node_type_id, False, spot and i >= on_demand_workers, 0, MS_PER_HOUR, volumes))
    total = cost_run(ClusterUsage(cloud, region, plan, sku, nodes, calendar_months=False), catalog).total
    fraction = workers - whole
    if fraction > 0:  # part of one more worker, priced like the next worker would be
        extra = NodeUsage(shape.node_type_id, False, spot and whole >= on_demand_workers, 0, MS_PER_HOUR, volumes)
        total += fraction * cost_run(ClusterUsage(cloud, region, plan, sku, [extra], calendar_months=False),
                                     catalog).total
    return total
