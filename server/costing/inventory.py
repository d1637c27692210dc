"""Correct a cluster timeline with the cloud's own instance list (pure).

Cluster events say when nodes came and went, but not always what the cloud
actually gave: a SPOT_WITH_FALLBACK worker may have fallen back to on-demand,
and the volumes attached may differ from the spec. When the workspace has
cloud credentials the instances and volumes tagged with the cluster id are
read (``server.clouds.aws.AwsGateway``); nodes whose instance id matches take
the cloud's instance type, market and volumes. Volumes are often gone by the
time a run is collected (Databricks deletes them with the instance), so a node
without listed volumes keeps those of its spec. Every correction is noted so
the cost breakdown can say why it differs from the spec.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from server.costing.run_cost import NodeUsage


class InstanceLike(Protocol):
    instance_id: str
    instance_type: str
    spot: bool


class VolumeLike(Protocol):
    volume_type: str
    size_gb: int
    iops: int | None
    throughput: int | None
    instance_id: str


@dataclass(frozen=True)
class InventoryCheck:
    nodes: list[NodeUsage]
    matched: int
    notes: list[str]


def volumes_by_instance(volumes: Sequence[VolumeLike]) -> dict[str, list[dict[str, Any]]]:
    """Attached volumes per instance in the usage shape, identical volumes counted together."""
    counts: dict[str, dict[tuple[Any, ...], int]] = {}
    for v in volumes:
        key = (v.volume_type, int(v.size_gb), v.iops if v.volume_type == "gp3" else None,
               v.throughput if v.volume_type == "gp3" else None)
        per = counts.setdefault(v.instance_id, {})
        per[key] = per.get(key, 0) + 1
    out: dict[str, list[dict[str, Any]]] = {}
    for iid, per in counts.items():
        specs = []
        for (vtype, size, iops, throughput), count in sorted(per.items(), key=str):
            spec: dict[str, Any] = {"type": vtype, "size_gb": size, "count": count}
            if iops is not None:
                spec["iops"] = iops
            if throughput is not None:
                spec["throughput"] = throughput
            specs.append(spec)
        out[iid] = specs
    return out


def apply_inventory(nodes: Sequence[NodeUsage], instances: Sequence[InstanceLike],
                    volumes: Sequence[VolumeLike]) -> InventoryCheck:
    by_id = {i.instance_id: i for i in instances}
    attached = volumes_by_instance(volumes)
    out: list[NodeUsage] = []
    notes: list[str] = []
    matched = 0
    for node in nodes:
        inst = by_id.get(node.instance_id)
        if inst is None:
            out.append(node)
            continue
        matched += 1
        fixed = replace(node, node_type_id=inst.instance_type or node.node_type_id, spot=bool(inst.spot),
                        ebs_volumes=attached.get(inst.instance_id, node.ebs_volumes))
        if fixed.spot != node.spot:
            notes.append(f"{node.instance_id} ran {'spot' if fixed.spot else 'on-demand'} "
                         f"(the timeline said {'spot' if node.spot else 'on-demand'})")
        if fixed.node_type_id != node.node_type_id:
            notes.append(f"{node.instance_id} is a {fixed.node_type_id} (the timeline said {node.node_type_id})")
        if fixed.ebs_volumes != node.ebs_volumes:
            notes.append(f"{node.instance_id} had volumes {fixed.ebs_volumes} (the spec said {node.ebs_volumes})")
        out.append(fixed)
    known = {n.instance_id for n in nodes}
    extra = sorted(i.instance_id for i in instances if i.instance_id not in known)
    if extra:
        notes.append(f"{len(extra)} instance(s) tagged with the cluster are not in its timeline and are not "
                     f"priced: {', '.join(extra[:5])}{' ...' if len(extra) > 5 else ''}")
    return InventoryCheck(out, matched, notes)
