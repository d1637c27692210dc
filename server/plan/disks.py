"""The volumes a candidate is written and priced with: the one Databricks requires on a type with no
instance store, the storage advice, or its pool's disks."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from server.costing.catalog import PriceCatalog
from server.costing.ebs import DiskUse
from server.costing.errors import TrimtabCostError
from server.domain import ClusterConfig
from server.plan.config_id import driver_of
from server.plan.policy import ClusterPolicy
from server.plan.pools import PoolBacking
from server.plan.pricing import Pricing
from server.plan.range_use import RangeUse
from server.plan.storage import advise
from server.spec import POOL_ID_FIELDS, ebs_size_problem, recommended_spec

# The volume every node of a candidate gets when one of its node types has no instance store
# (``local_disk_gb`` 0) and the live spec asks for none (``ebs_volume_count`` 0, which applying keeps):
# Databricks refuses that ("For node types with no instance store, at least one EBS volume needs to be
# specified; otherwise, cluster creation will fail", databricks-sdk ``AwsAttributes.ebs_volume_count``).
# One General Purpose SSD of 100 GiB: the smallest Databricks accepts for that type (`EBS_SIZE_RANGE_GB`),
# and gp2 as Databricks attaches it without IOPS or throughput. (Left unset, Databricks attaches no such
# volume: it refuses the spec unless autoscaling local storage is on, `server.collect.usage.ebs_volumes`.) Nothing measured says the job needs more: once its
# runs show disk use, the storage advice sizes the volumes of every candidate (`as_written`).
REQUIRED_VOLUME_TYPE = "GENERAL_PURPOSE_SSD"
REQUIRED_VOLUME_GB = 100


def with_required_volume(config: ClusterConfig, live: ClusterConfig, catalog: PriceCatalog,
                         cloud: str) -> ClusterConfig:
    """``config`` with one volume (`REQUIRED_VOLUME_GB`) when Databricks would refuse it without: on AWS,
    a worker or driver type with no instance store, no volume of its own, and a live spec (``live``'s)
    asking for none with ``ebs_volume_count`` 0, which applying keeps (`server.spec.recommended_spec`
    merges into the live ``aws_attributes``). A spec that leaves the count unset gets Databricks' own
    default and is left so. ``config`` as it is otherwise."""
    if cloud != "aws" or config.ebs_volume_count > 0:
        return config
    attrs = (live.spec or {}).get("aws_attributes") or {}
    if "ebs_volume_count" not in attrs or attrs["ebs_volume_count"] not in (0, "0"):
        return config

    def no_store(node_type: str) -> bool:
        try:
            return catalog.node_type(cloud, node_type).local_disk_gb <= 0
        except TrimtabCostError:
            return False  # a type the catalog does not know is never a candidate anyway

    if not any(no_store(t) for t in {config.node_type_id, driver_of(config)} if t):
        return config
    size = REQUIRED_VOLUME_GB
    volume_type = str(attrs.get("ebs_volume_type") or REQUIRED_VOLUME_TYPE)
    if attrs.get("ebs_volume_size") and ebs_size_problem(volume_type, int(attrs["ebs_volume_size"])) is None:
        size = int(attrs["ebs_volume_size"])  # the size the live spec names for its volumes, when valid
    elif ebs_size_problem(volume_type, size) is not None:
        volume_type = REQUIRED_VOLUME_TYPE
    return dataclasses.replace(config, ebs_volume_type=volume_type, ebs_volume_count=1, ebs_volume_size_gb=size)


@dataclass(frozen=True)
class _Written(ClusterConfig):
    """A configuration as the spec applying it is written, with what `hourly_cost` reads of gp3
    volumes (no `ClusterConfig` field holds their IOPS/throughput; without them gp3 reads as gp2)."""

    ebs_volume_iops: int | None = None
    ebs_volume_throughput: int | None = None


def as_written(config: ClusterConfig, live: ClusterConfig, catalog: PriceCatalog, pricing: Pricing, *,
               policy: ClusterPolicy | None, pool: PoolBacking | None,
               disk_uses: Sequence[DiskUse], use: RangeUse | None = None) -> ClusterConfig:
    """What the planner and apply make of ``config`` when it is recommended, to price it so: the
    planner drops its spec and adds the storage advice (`server.plan.storage.advise`; none on a pool,
    and none the policy refuses), and apply merges it into the live spec, keeping the live volumes'
    gp3 IOPS and anything the recommendation does not set (`server.spec.recommended_spec`). On a pool
    the pool's disks, which no recommendation changes, as run collection prices its runs' nodes with
    them: left out, a pool-backed configuration was planned cheaper than its runs are charged."""
    if pricing.cloud != "aws":
        return config  # Azure's managed disks are not sized (nor priced on a pool, as collection does)
    if pool is not None:
        return _written(config, dict(pool.disks))
    planned = dataclasses.replace(config, spec={})
    if disk_uses:
        advised, advice = advise(planned, disk_uses, 3600.0, catalog, cloud=pricing.cloud, region=pricing.region,
                                 live_attrs=(live.spec or {}).get("aws_attributes"), use=use)
        if advice is not None and advice.changed and (
                policy is None or policy.allows_config(advised, live.spec, azure=False)):
            planned = advised
    # What merges into aws_attributes depends on the live spec's own and on its pool fields alone:
    # merged over the whole spec, its Spark conf, tags and init scripts were deep-copied per candidate.
    base = {k: v for k, v in (live.spec or {}).items() if k == "aws_attributes" or k in POOL_ID_FIELDS}
    attrs = recommended_spec(base, planned, cloud="aws").get("aws_attributes") or {}
    return _written(planned, attrs, spec=config.spec)


def _written(config: ClusterConfig, attrs: Mapping[str, Any], *, spec: dict | None = None) -> _Written:
    """``config`` with the volumes ``aws_attributes`` ``attrs`` give every node (``ebs_volume_*``; none
    without them). ``spec``: read for first_on_demand 0 against unset (`shape_first_on_demand`);
    ``config``'s own by default."""

    def number(key: str) -> int | None:
        value = attrs.get(key)
        return int(value) if value else None

    return _Written(**{f.name: getattr(config, f.name) for f in dataclasses.fields(ClusterConfig)} | {
        "ebs_volume_type": str(attrs.get("ebs_volume_type") or ""),
        "ebs_volume_count": int(attrs.get("ebs_volume_count") or 0),
        "ebs_volume_size_gb": int(attrs.get("ebs_volume_size") or 0),
        "spec": config.spec if spec is None else spec,
    }, ebs_volume_iops=number("ebs_volume_iops"), ebs_volume_throughput=number("ebs_volume_throughput"))
