"""AWS stand-in: an in-process moto server on 127.0.0.1 (port 0) seeded with simulated clusters.

What moto gives as is: EC2 instances and EBS volumes with tags, paginated
describe calls, spot lifecycle. Two things are added so the stand-in behaves
like AWS where Trimtab depends on it:

- Cost Explorer: moto's documented static-results queue returns each queued
  result verbatim to whichever request comes next and never applies
  ``Filter``/``GroupBy`` (see ../shared/notes/stand-ins.md), so two clusters
  queried out of order would swap bills. The stand-in instead answers
  ``GetCostAndUsage`` on moto's CE backend from seeded line items, applying
  the tag/dimension filter (``USAGE_TYPE``, ``SERVICE``, ``RECORD_TYPE``), the period, ``GroupBy`` and ``NextPageToken``
  paging. Results still travel through moto's HTTP server and boto3's real
  parser.
- EC2 rejects more than 200 values in one filter (``FilterLimitExceeded``);
  moto does not, so describe calls are checked here, which makes a gateway that
  forgets to chunk fail as it would against AWS.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import boto3
from moto.ce.models import ce_backends
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ec2.exceptions import EC2ClientError
from moto.ec2.models import ec2_backends
from moto.moto_server.threaded_moto_server import ThreadedMotoServer

MAX_FILTER_VALUES = 200
DUMMY_KEY = "testing"


@dataclass(frozen=True)
class CostLineItem:
    """One day's charge for one usage type of one cluster (what Cost Explorer aggregates)."""

    day: date
    usage_type: str  # e.g. USE1-BoxUsage:m5.xlarge, USE1-SpotUsage:m5.xlarge, USE1-EBS:VolumeUsage.gp3
    amount: float
    tags: dict[str, str]
    service: str = "Amazon Elastic Compute Cloud - Compute"
    # Cost Explorer marks a day's figures estimated until the month's bill is final.
    estimated: bool = False
    # What UnblendedCost says when it differs from ``amount`` (the AmortizedCost): an hour covered by a
    # Reserved Instance or Savings Plan reads ~0 unblended but carries its share of the commitment amortized.
    unblended: float | None = None
    # Cost Explorer's RECORD_TYPE (the console's "Charge type"): "Usage" for what a resource consumed;
    # "Credit" and "Refund" lines are negative and carry the usage type and tags of what they offset.
    record_type: str = "Usage"


@dataclass
class SeededNode:
    """A simulated node to create in EC2; volumes are dicts {"type","size_gb","count","iops"?,"throughput"?}."""

    node_type_id: str
    spot: bool
    ebs_volumes: list[dict[str, Any]] = field(default_factory=list)
    sandbox_instance_id: str = ""


class AwsStandIn:
    """Start with ``start()`` (or ``with``); point boto3 at ``endpoint_url`` with any dummy keys."""

    def __init__(self, region: str = "us-east-1", account_id: str = DEFAULT_ACCOUNT_ID,
                 ce_page_days: int = 31) -> None:
        self.region = region
        self.account_id = account_id
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._items: list[CostLineItem] = []
        self._lock = threading.Lock()
        self._page_days = ce_page_days
        self.endpoint_url = ""
        self.before_query: Callable[[], None] | None = None  # lets a billing delay release bills on demand
        self._saved: list[tuple[Any, str, Any]] = []

    # ----------------------------------------------------------- life cycle
    def start(self) -> AwsStandIn:
        # werkzeug logs every request at INFO; the stand-in should be quiet.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        # moto keeps its backends per process, so the hooks go on the shared backend objects; each is
        # put back on stop, which lets a second stand-in come and go while another keeps running.
        ce = ce_backends[self.account_id]["aws"]
        ec2 = ec2_backends[self.account_id][self.region]
        self._saved = [(obj, name, obj.__dict__.get(name)) for obj, name in
                       ((ce, "get_cost_and_usage"), (ec2, "describe_volumes"), (ec2, "describe_instances"))]
        ce.get_cost_and_usage = self._answer_cost_and_usage  # type: ignore[method-assign]
        ec2.describe_volumes = _limit_filters(ec2.describe_volumes)  # type: ignore[method-assign]
        ec2.describe_instances = _limit_filters(ec2.describe_instances)  # type: ignore[method-assign]
        return self

    def stop(self) -> None:
        for obj, name, previous in reversed(self._saved):
            if previous is None:
                obj.__dict__.pop(name, None)
            else:
                setattr(obj, name, previous)
        self._saved = []
        self._server.stop()
        server = getattr(self._server, "_server", None)
        if server is not None:
            server.server_close()

    def __enter__(self) -> AwsStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.endpoint_url, region_name=self.region,
                            aws_access_key_id=DUMMY_KEY, aws_secret_access_key=DUMMY_KEY)

    # ----------------------------------------------------------- seeding EC2
    def seed_cluster(self, cluster_id: str, nodes: list[SeededNode], custom_tags: dict[str, str] | None = None,
                     terminate: bool = False, tags: dict[str, str] | None = None) -> dict[str, str]:
        """Creates the cluster's instances and attached volumes, tagged as Databricks tags them.

        Returns {sandbox instance id (or index) -> EC2 instance id}. ``terminate``
        leaves the instances terminated, as after the run (volumes stay attached
        in moto's model, so they can still be described). ``tags``: every tag, in place of the
        cluster's (``Vendor``, ``ClusterId``, ``custom_tags``): a pool's instances carry the pool's.
        """
        tags = dict(tags) if tags is not None else {"Vendor": "Databricks", "ClusterId": cluster_id,
                                                    **(custom_tags or {})}
        ec2 = self.client("ec2")
        zone = f"{self.region}a"
        ids: dict[str, str] = {}
        # One run_instances call per run of nodes with the same type and market keeps large
        # clusters quick to seed; per-node sandbox ids are added as a tag afterwards.
        n = 0
        while n < len(nodes):
            first = nodes[n]
            group = [first]
            while (n + len(group) < len(nodes) and nodes[n + len(group)].node_type_id == first.node_type_id
                   and nodes[n + len(group)].spot == first.spot):
                group.append(nodes[n + len(group)])
            kwargs: dict[str, Any] = {
                "ImageId": "ami-12c6146b", "InstanceType": first.node_type_id,
                "MinCount": len(group), "MaxCount": len(group), "Placement": {"AvailabilityZone": zone},
                "TagSpecifications": [{"ResourceType": "instance", "Tags": _tag_list(tags)}],
            }
            if first.spot:
                kwargs["InstanceMarketOptions"] = {"MarketType": "spot"}
            created = ec2.run_instances(**kwargs)["Instances"]
            for k, (node, inst) in enumerate(zip(group, created, strict=True)):
                iid = inst["InstanceId"]
                ids[node.sandbox_instance_id or str(n + k)] = iid
                if node.sandbox_instance_id:
                    ec2.create_tags(Resources=[iid], Tags=[{"Key": "SandboxInstanceId",
                                                            "Value": node.sandbox_instance_id}])
                self._attach_volumes(ec2, iid, zone, node.ebs_volumes, tags)
            n += len(group)
        if terminate and ids:
            ec2.terminate_instances(InstanceIds=list(ids.values()))
        return ids

    @staticmethod
    def _attach_volumes(ec2: Any, instance_id: str, zone: str, specs: list[dict[str, Any]],
                        tags: dict[str, str]) -> None:
        device = 0
        for spec in specs:
            for _ in range(int(spec.get("count", 1))):
                kwargs: dict[str, Any] = {"AvailabilityZone": zone, "Size": int(spec["size_gb"]),
                                          "VolumeType": spec["type"],
                                          "TagSpecifications": [{"ResourceType": "volume", "Tags": _tag_list(tags)}]}
                if spec["type"] == "gp3":  # AWS reports gp3's baseline when none is given; moto does not
                    kwargs["Iops"] = int(spec.get("iops") or 3000)
                    kwargs["Throughput"] = int(spec.get("throughput") or 125)
                vid = ec2.create_volume(**kwargs)["VolumeId"]
                ec2.attach_volume(VolumeId=vid, InstanceId=instance_id, Device=f"/dev/xvd{chr(ord('b') + device)}")
                device += 1

    # ----------------------------------------------------------- Cost Explorer
    def add_cost(self, item: CostLineItem) -> None:
        """Makes a charge visible to Cost Explorer (call it when the simulated bill 'lands')."""
        with self._lock:
            self._items.append(item)

    def _answer_cost_and_usage(self, body: str) -> dict[str, Any]:
        if self.before_query is not None:
            self.before_query()
        req = json.loads(body)
        start = date.fromisoformat(req["TimePeriod"]["Start"])
        end = date.fromisoformat(req["TimePeriod"]["End"])
        metrics = req.get("Metrics") or ["UnblendedCost"]
        group_by = req.get("GroupBy") or []
        keep = _predicate(req.get("Filter"))
        with self._lock:
            items = [i for i in self._items if start <= i.day < end and keep(i)]
        days = [start + timedelta(days=d) for d in range((end - start).days)]
        offset = int(req.get("NextPageToken") or 0)
        page = days[offset:offset + self._page_days]
        results = []
        for day in page:
            todays = [i for i in items if i.day == day]
            period = {"Start": day.isoformat(), "End": (day + timedelta(days=1)).isoformat()}
            estimated = any(i.estimated for i in todays)
            if not group_by:
                results.append({"TimePeriod": period,
                                "Total": {m: _money(sum(_metric(i, m) for i in todays)) for m in metrics},
                                "Groups": [], "Estimated": estimated})
                continue
            sums: dict[tuple[str, ...], dict[str, float]] = {}
            for i in todays:
                key = tuple(_group_key(g, i) for g in group_by)
                acc = sums.setdefault(key, dict.fromkeys(metrics, 0.0))
                for m in metrics:
                    acc[m] += _metric(i, m)
            groups = [{"Keys": list(k), "Metrics": {m: _money(v[m]) for m in metrics}} for k, v in sorted(sums.items())]
            results.append({"TimePeriod": period, "Total": {}, "Groups": groups, "Estimated": estimated})
        out: dict[str, Any] = {"ResultsByTime": results, "DimensionValueAttributes": [],
                               "GroupDefinitions": group_by}
        if offset + self._page_days < len(days):
            out["NextPageToken"] = str(offset + self._page_days)
        return out


def _tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def _metric(item: CostLineItem, metric: str) -> float:
    """The item's amount under ``metric``: only the unblended cost of a committed hour differs here."""
    if metric in ("UnblendedCost", "NetUnblendedCost") and item.unblended is not None:
        return item.unblended
    return item.amount


def _money(amount: float) -> dict[str, str]:
    return {"Amount": f"{amount:.10f}", "Unit": "USD"}


def _group_key(group: dict[str, str], item: CostLineItem) -> str:
    if group.get("Type") == "TAG":
        return f"{group['Key']}${item.tags.get(group['Key'], '')}"
    return _dimension(item, group.get("Key", ""))


def _dimension(item: CostLineItem, key: str) -> str:
    """The item's value of a Cost Explorer dimension the stand-in knows ("" for any other)."""
    return {"USAGE_TYPE": item.usage_type, "SERVICE": item.service, "RECORD_TYPE": item.record_type}.get(key, "")


def _predicate(expr: dict[str, Any] | None) -> Callable[[CostLineItem], bool]:
    """Cost Explorer's Expression: And / Or / Not / Tags / Dimensions (USAGE_TYPE, SERVICE, RECORD_TYPE).
    A dimension's values match exactly (Cost Explorer's default EQUALS), any of them (OR)."""
    if not expr:
        return lambda _i: True
    if "And" in expr:
        parts = [_predicate(e) for e in expr["And"]]
        return lambda i: all(p(i) for p in parts)
    if "Or" in expr:
        parts = [_predicate(e) for e in expr["Or"]]
        return lambda i: any(p(i) for p in parts)
    if "Not" in expr:
        inner = _predicate(expr["Not"])
        return lambda i: not inner(i)
    if "Tags" in expr:
        key, values = expr["Tags"]["Key"], set(expr["Tags"].get("Values") or [])
        return lambda i: i.tags.get(key) in values
    if "Dimensions" in expr:
        dim, values = expr["Dimensions"]["Key"], set(expr["Dimensions"].get("Values") or [])
        return lambda i: _dimension(i, dim) in values
    raise ValueError(f"unsupported Cost Explorer filter {sorted(expr)}")


def _limit_filters(method: Callable[..., Any]) -> Callable[..., Any]:
    def checked(*args: Any, **kwargs: Any) -> Any:
        for name, values in (kwargs.get("filters") or {}).items():
            if len(values) > MAX_FILTER_VALUES:
                raise EC2ClientError(
                    "FilterLimitExceeded",
                    f"The maximum number of filter values specified on a single call is {MAX_FILTER_VALUES}"
                    f" (filter {name!r} has {len(values)})",
                )
        return method(*args, **kwargs)

    return checked
