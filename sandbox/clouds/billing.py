"""Feeds the cloud stand-ins from the simulated workspace: a run observer.

Register ``CloudBilling.observe`` with ``Workspace.add_run_observer``. When a
simulated cluster terminates it is called with (job, run, SimulatedRun,
cluster spec); it then
- creates the cluster's instances and volumes in the AWS stand-in (tagged
  ``Vendor=Databricks``, ``ClusterId``, the spec's ``custom_tags``), left
  terminated as after a real run. A pool-backed cluster's instances carry the
  pool's tags instead, its custom and default ones, not the cluster's (Databricks:
  "If a cluster is created from a pool, its EC2 instances inherit only the custom
  and default pool tags, not the cluster tags"), so no line of theirs names the
  cluster;
- writes the run's charges as the cloud would bill them: per node and UTC day,
  per second with EC2's 60-second minimum, spot or on-demand rate, volumes
  prorated from $/GB-month over the hours of the month they fall in (AWS's rule,
  `_hours_in_month`), from when each was attached (``attached_ms``: EBS
  autoscaling's, `sandbox.sim.run`), a gp3 volume's IOPS and throughput above
  its included 3000 IOPS and 125 MiB/s on their own usage types
  (``EBS:VolumeP-IOPS.gp3``, ``EBS:VolumeP-Throughput.gp3``), as AWS bills them.
  An autoscaling upsize's instances are billed from the RESIZING that asked for
  them, when Databricks launched them (the simulator's nodes start then). On AWS
  each node's bill also carries the root
  volumes Databricks attaches to every node (``AWS_DEFAULT_VOLUMES``), which
  it tags with the cluster's tags; they are billed, not created in EC2. AWS
  charges go to Cost Explorer, Azure ones to the Cost Management stand-in;
  with ``dbu_rate``, Azure's DBU charge too, on the "Azure Databricks" meter
  with the cluster's tags, as Azure bills it;
- with ``credit_share``, a credit against each charge: on AWS a ``Credit`` line (Cost
  Explorer's RECORD_TYPE) of minus that share of the charge, with its usage type and tags, as
  promotional or EDP credits are applied line by line; on Azure, whose cost data carries no
  credits (they are applied on the invoice), a ``Refund`` row (ChargeType) of the same size.
  What the run's resources cost is unchanged; the account pays less.

Billing is late in real clouds (hours). With ``delay_s`` the charges wait in a
queue until ``now() >= end + delay``; the stand-ins call ``release_due``
before answering a bill query, so nothing needs a timer thread and tests
move an injected clock instead of sleeping.

Prices come from the caller (``instance_rate``, ``storage_rate``): the sandbox
does not read Trimtab's catalog, its caller (`sandbox up --clouds`, the tests) passes list
prices in.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sandbox.clouds.aws import AwsStandIn, CostLineItem, SeededNode
from sandbox.clouds.azure import AzureCostRow, AzureStandIn
from sandbox.nodes import instance_type_of

MS_PER_HOUR = 3_600_000
MIN_BILLED_MS = 60_000  # EC2 bills Linux per second with a one-minute minimum
# Usage-type prefix Cost Explorer puts before each usage type, by region.
AWS_USAGE_PREFIX = {"us-east-1": "USE1", "us-east-2": "USE2", "us-west-2": "USW2", "eu-west-1": "EU",
                    "eu-central-1": "EUC1"}

# Databricks' default EBS volumes on every AWS node besides the spec's ``ebs_volume_*``: "A 30 GB
# unencrypted EBS instance root volume" and "A 150 GB encrypted EBS container root volume used by the
# Spark worker" (https://docs.databricks.com/user-guide/clusters/aws-config.html, "Default EBS
# volumes"). The page names no type: billed as gp2, as Trimtab prices them
# (server.costing.run_cost.AWS_DEFAULT_VOLUMES; the sandbox does not import Trimtab, a test checks the
# two agree). The HIPAA-only 75 GB log volume is left out.
AWS_DEFAULT_VOLUMES: tuple[dict[str, Any], ...] = ({"type": "gp2", "size_gb": 30, "count": 1},
                                                   {"type": "gp2", "size_gb": 150, "count": 1})

# AWS's list prices for a gp3 volume's provisioned performance above what it includes (3000 IOPS, 125 MiB/s):
# $0.005 per IOPS-month and $0.040 per MiB/s-month in us-east-1 (Amazon EBS pricing); a caller may pass
# its own (``provisioned_rate``).
GP3_INCLUDED_IOPS, GP3_INCLUDED_THROUGHPUT = 3000, 125
AWS_GP3_PROVISIONED = (0.005, 0.040)

InstanceRate = Callable[[str, str, bool], float]  # (cloud, node type, spot) -> $/h
StorageRate = Callable[[str, str], float]  # (cloud, volume type) -> $/GB-month
DbuRate = Callable[[str, str], float]  # (cloud, node type) -> DBU $/h
# (cloud, volume type) -> ($/IOPS-month, $/MiB/s-month) above the type's included IOPS and throughput
ProvisionedRate = Callable[[str, str], tuple[float, float]]
PoolLookup = Callable[[str], dict[str, Any] | None]  # pool id -> the pool (instance-pools/get), None unknown
# Azure bills DBUs itself, on this meter category, tagged with the cluster's tags like its VMs.
AZURE_DBU_METER = "Azure Databricks"


def _cluster_id(run: dict[str, Any] | None, sim: Any) -> str:
    cid = getattr(sim, "cluster_id", "") or ""
    if cid:
        return str(cid)
    for task in (run or {}).get("tasks", []):
        cid = (task.get("cluster_instance") or {}).get("cluster_id")
        if cid:
            return str(cid)
    raise ValueError("cannot tell the cluster id of a simulated run")


def _hours_in_month(day: datetime) -> int:
    """The hours of ``day``'s calendar month: AWS prorates a GB-month over them ("In a 30-day month,
    you're billed for one GB-month [...] 1-GB volume for 720 hours", AWS re:Post knowledge center, "How
    are charges for Amazon EBS volumes calculated on my bill?"). Azure's disks are billed the same way
    here, for want of a rule of its own."""
    first = day.replace(day=1)
    following = first.replace(year=first.year + 1, month=1) if first.month == 12 else first.replace(month=first.month + 1)
    return round((following - first).total_seconds() / 3600)


def _day_slices(start_ms: int, end_ms: int) -> list[tuple[datetime, int]]:
    """(UTC day, milliseconds in it) for an interval, so charges land on the right day."""
    out = []
    t = start_ms
    while t < end_ms:
        day = datetime.fromtimestamp(t / 1000, tz=UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        next_day_ms = int((day + timedelta(days=1)).timestamp() * 1000)
        cut = min(end_ms, next_day_ms)
        out.append((day, cut - t))
        t = cut
    return out


class CloudBilling:
    def __init__(
        self,
        *,
        instance_rate: InstanceRate,
        storage_rate: StorageRate,
        aws: AwsStandIn | None = None,
        azure: AzureStandIn | None = None,
        region: str = "us-east-1",
        delay_s: float = 0.0,
        now: Callable[[], float] = time.time,
        hours_per_month: float | None = None,
        dbu_rate: DbuRate | None = None,
        provisioned_rate: ProvisionedRate | None = None,
        credit_share: float = 0.0,
    ) -> None:
        self._aws = aws
        self._azure = azure
        self._instance_rate = instance_rate
        self._storage_rate = storage_rate
        self._region = region
        self._delay_s = delay_s
        self._now = now
        self._hours_per_month = hours_per_month
        self._dbu_rate = dbu_rate
        self._credit_share = credit_share
        self._provisioned_rate = provisioned_rate or (lambda cloud, volume_type: AWS_GP3_PROVISIONED)
        self._pool: PoolLookup = lambda pool_id: None  # the attached workspace's pools (`attach`)
        self._pending: list[tuple[float, Callable[[], None]]] = []
        self._lock = threading.Lock()
        self.instance_ids: dict[str, dict[str, str]] = {}  # cluster id -> {sandbox instance id: EC2 id}
        for stand_in in (aws, azure):
            if stand_in is not None:
                stand_in.before_query = self.release_due

    def attach(self, workspace: Any) -> None:
        workspace.add_run_observer(self.observe)
        ws = getattr(workspace, "workspace", workspace)  # a RunningWorkspace serves a Workspace
        store = getattr(ws, "store", None)
        if store is not None:
            from sandbox.workspace.pools import pool_of

            def lookup(pool_id: str) -> dict[str, Any] | None:
                with store.lock:
                    return pool_of(store.data, pool_id)

            self._pool = lookup

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def observe(self, job: dict[str, Any] | None, run: dict[str, Any] | None, sim: Any,
                spec: dict[str, Any]) -> None:
        cluster_id = _cluster_id(run, sim)
        nodes = list(getattr(sim, "nodes", []))
        if not nodes:
            return
        cloud = "azure" if str(nodes[0].node_type_id).startswith("Standard_") else "aws"
        cluster_tags = {"Vendor": "Databricks", "ClusterId": cluster_id, **(spec.get("custom_tags") or {})}
        worker_pool = str(spec.get("instance_pool_id") or "")
        driver_pool = str(spec.get("driver_instance_pool_id") or worker_pool)
        worker_tags = self._pool_tags(worker_pool) if worker_pool else cluster_tags
        driver_tags = self._pool_tags(driver_pool) if driver_pool else cluster_tags
        if cloud == "aws" and self._aws is not None:
            ids: dict[str, str] = {}
            for tags in ({**driver_tags}, {**worker_tags}) if driver_tags != worker_tags else ({**worker_tags},):
                group = [n for n in nodes if (driver_tags if n.is_driver else worker_tags) == tags]
                # EC2 knows the instance a fleet node was launched as, not the Databricks fleet name.
                seeded = [SeededNode(instance_type_of(n.node_type_id), bool(n.spot), list(n.ebs_volumes or []),
                                     str(n.instance_id))
                          for n in group]
                ids.update(self._aws.seed_cluster(cluster_id, seeded, spec.get("custom_tags"), terminate=True,
                                                  tags=tags))
            self.instance_ids[cluster_id] = ids
        publish = self._charges(cloud, nodes, lambda n: driver_tags if n.is_driver else worker_tags)
        due = self._now() + self._delay_s
        with self._lock:
            self._pending.append((due, publish))
        self.release_due()

    def release_due(self) -> int:
        """Publishes every bill whose time has come; returns how many."""
        now = self._now()
        with self._lock:
            due = [p for t, p in self._pending if t <= now]
            self._pending = [(t, p) for t, p in self._pending if t > now]
        for publish in due:
            publish()
        return len(due)

    def _pool_tags(self, pool_id: str) -> dict[str, str]:
        """The tags a pool's instances carry: the pool's default tags (``Vendor``,
        ``DatabricksInstancePoolCreatorId``, ``DatabricksInstancePoolId``) and its ``custom_tags``."""
        pool = self._pool(pool_id) or {}
        defaults = pool.get("default_tags") or {"Vendor": "Databricks", "DatabricksInstancePoolId": pool_id}
        return {**defaults, **(pool.get("custom_tags") or {})}

    def _charges(self, cloud: str, nodes: list[Any], tags_of: Callable[[Any], dict[str, str]]) -> Callable[[], None]:
        prefix = AWS_USAGE_PREFIX.get(self._region, self._region.upper())
        aws_items: list[CostLineItem] = []
        azure_rows: list[AzureCostRow] = []
        for n in nodes:
            tags = tags_of(n)
            start, end = int(n.start_ms), int(n.end_ms)
            if end <= start:
                continue
            end = max(end, start + MIN_BILLED_MS) if cloud == "aws" else end
            # A fleet node is billed as the instance it was launched as, at that instance's price.
            instance = instance_type_of(n.node_type_id)
            rate = self._instance_rate(cloud, instance, bool(n.spot))
            for day, ms in _day_slices(start, end):
                hours = ms / MS_PER_HOUR
                if cloud == "aws":
                    kind = "SpotUsage" if n.spot else "BoxUsage"
                    aws_items.append(CostLineItem(day.date(), f"{prefix}-{kind}:{instance}", rate * hours, tags))
                else:
                    azure_rows.append(AzureCostRow(day.date(), "Virtual Machines", rate * hours, tags))
                    if self._dbu_rate is not None:
                        azure_rows.append(AzureCostRow(day.date(), AZURE_DBU_METER,
                                                       self._dbu_rate(cloud, n.node_type_id) * hours, tags))
            defaults = list(AWS_DEFAULT_VOLUMES) if cloud == "aws" else []
            for v in [*defaults, *(n.ebs_volumes or [])]:
                # A volume attached partway (EBS autoscaling) is billed from then to the node's end.
                attached = min(max(start, int(v.get("attached_ms") or start)), end)
                for day, ms in _day_slices(attached, end):
                    months = ms / MS_PER_HOUR / (self._hours_per_month or _hours_in_month(day))
                    for usage, amount in self._volume_charges(cloud, v, months):
                        if cloud == "aws":
                            aws_items.append(CostLineItem(day.date(), f"{prefix}-EBS:{usage}", amount, tags,
                                                          service="EC2 - Other"))
                        else:
                            azure_rows.append(AzureCostRow(day.date(), "Storage", amount, tags))

        if self._credit_share:
            share = self._credit_share
            aws_items += [dataclasses.replace(i, amount=-share * i.amount, record_type="Credit") for i in aws_items]
            azure_rows += [dataclasses.replace(r, cost=-share * r.cost, charge_type="Refund") for r in azure_rows]

        def publish() -> None:
            for item in aws_items:
                if self._aws is not None:
                    self._aws.add_cost(item)
            for row in azure_rows:
                if self._azure is not None:
                    self._azure.add_cost(row)

        return publish

    def _volume_charges(self, cloud: str, volume: dict[str, Any], months: float) -> list[tuple[str, float]]:
        """(usage type, amount) of one volume spec (times its ``count``) over ``months``: its GB-months and,
        for gp3, the IOPS and throughput provisioned above what gp3 includes, each its own line as AWS
        bills them."""
        count = int(volume.get("count", 1))
        vtype = str(volume["type"])
        out = [(f"VolumeUsage.{vtype}", float(volume["size_gb"]) * count * self._storage_rate(cloud, vtype) * months)]
        if cloud == "aws" and vtype == "gp3":
            iops_rate, throughput_rate = self._provisioned_rate(cloud, vtype)
            iops = max(0, int(volume.get("iops") or GP3_INCLUDED_IOPS) - GP3_INCLUDED_IOPS)
            throughput = max(0, int(volume.get("throughput") or GP3_INCLUDED_THROUGHPUT) - GP3_INCLUDED_THROUGHPUT)
            if iops:
                out.append((f"VolumeP-IOPS.{vtype}", iops * count * iops_rate * months))
            if throughput:
                out.append((f"VolumeP-Throughput.{vtype}", throughput * count * throughput_rate * months))
        return out

