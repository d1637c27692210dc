"""Instance pools: `instance-pools/create|get`, and job cluster specs that draw their nodes from one.

A pool holds idle instances of one node type, so a cluster that names ``instance_pool_id`` takes
its workers' type (and its driver's, unless ``driver_instance_pool_id`` names another pool) from
the pool. The service refuses ``node_type_id`` beside ``instance_pool_id`` and
``driver_node_type_id`` beside a pool that supplies the driver, and ``driver_instance_pool_id``
without ``instance_pool_id`` (`check_spec`). A run's cluster is played with the pool's types
filled in (`resolve_spec`), as the service's cluster record shows them. Idle instances, the
pool's ``min_idle_instances`` and autotermination are not emulated: a pool only names the node
type and caps the nodes (``max_capacity``, not enforced at run time), its instances carry its
``disk_spec`` volumes (`with_pool_disks`), and its clusters provision faster (`sandbox.sim.run`).
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping
from typing import Any

from sandbox.workspace.errors import ApiError, invalid

# The fields of a pool as `instance-pools/get` returns them (besides id, state and defaults).
POOL_FIELDS = ("instance_pool_name", "node_type_id", "min_idle_instances", "max_capacity",
               "idle_instance_autotermination_minutes", "aws_attributes", "azure_attributes",
               "custom_tags", "enable_elastic_disk", "preloaded_spark_versions", "disk_spec")


def _pools(data: dict[str, Any]) -> dict[str, Any]:
    # State files written before pools existed have no such key: created on first use.
    return data.setdefault("instance_pools", {})


def pool_missing(pool_id: object) -> ApiError:
    return ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"Can't find an instance pool with id: {pool_id}.")


def create_pool(data: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """``POST instance-pools/create {instance_pool_name, node_type_id, ...}`` -> ``{instance_pool_id}``."""
    name = body.get("instance_pool_name")
    if not isinstance(name, str) or not 1 <= len(name) <= 100:
        raise invalid("Missing required field: instance_pool_name (1 to 100 characters)")
    node_type = body.get("node_type_id")
    if not isinstance(node_type, str) or not node_type:
        raise invalid("Missing required field: node_type_id")
    for field in ("min_idle_instances", "max_capacity"):
        value = body.get(field)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise invalid(f"{field} must be a non-negative integer, got {value!r}")
    low, high = body.get("min_idle_instances"), body.get("max_capacity")
    if low is not None and high is not None and low > high:
        raise invalid(f"min_idle_instances ({low}) cannot be greater than max_capacity ({high})")
    counters = data["counters"]
    counters["instance_pool_id"] = int(counters.get("instance_pool_id", 0)) + 1
    # The service's ids look like 1220-224524-shore2-pool-0dlxvf9c.
    digest = hashlib.sha1(f"pool/{counters['instance_pool_id']}".encode()).hexdigest()[:8]
    pool_id = f"1205-000000-sandbox{counters['instance_pool_id']}-pool-{digest}"
    pool = {k: copy.deepcopy(body[k]) for k in POOL_FIELDS if k in body}
    pool.setdefault("min_idle_instances", 0)
    pool.update({"instance_pool_id": pool_id, "state": "ACTIVE",
                 "default_tags": {"Vendor": "Databricks", "DatabricksInstancePoolCreatorId": "1",
                                  "DatabricksInstancePoolId": pool_id}})
    _pools(data)[pool_id] = pool
    return {"instance_pool_id": pool_id}


def get_pool(data: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """``GET instance-pools/get?instance_pool_id=`` -> the pool (404 unknown, 400 none)."""
    pool_id = params.get("instance_pool_id")
    if not pool_id:
        raise invalid("Missing required field: instance_pool_id")
    pool = _pools(data).get(str(pool_id))
    if pool is None:
        raise pool_missing(pool_id)
    return copy.deepcopy(pool)


def check_spec(data: dict[str, Any] | None, spec: Mapping[str, Any]) -> None:
    """Refuse what the service refuses in a pool-backed spec (400 ``INVALID_PARAMETER_VALUE``)."""
    worker_pool, driver_pool = spec.get("instance_pool_id"), spec.get("driver_instance_pool_id")
    if driver_pool and not worker_pool:
        raise invalid("The field 'driver_instance_pool_id' cannot be supplied without 'instance_pool_id'.")
    if not worker_pool:
        return
    if spec.get("node_type_id"):
        raise invalid("The field 'node_type_id' cannot be supplied when an instance pool ID is provided.")
    if spec.get("driver_node_type_id"):
        raise invalid("The field 'driver_node_type_id' cannot be supplied when an instance pool ID is provided.")
    if data is not None:
        for pool_id in (worker_pool, driver_pool):
            if pool_id and str(pool_id) not in _pools(data):
                raise invalid(f"Can't find an instance pool with id: {pool_id}.")


def pool_of(data: dict[str, Any], pool_id: object) -> dict[str, Any] | None:
    """A copy of the pool ``pool_id`` (None when unknown)."""
    pool = _pools(data).get(str(pool_id))
    return copy.deepcopy(pool) if pool is not None else None


def with_pool_disks(data: dict[str, Any], spec: Mapping[str, Any]) -> dict[str, Any]:
    """``spec`` (resolved) as the simulator runs it: every instance of its worker pool carries the
    pool's ``disk_spec`` EBS volumes (``disk_type.ebs_volume_type``, ``disk_count``, ``disk_size``,
    ``disk_iops``, ``disk_throughput``), entered as the cluster's ``aws_attributes.ebs_volume_*``.
    Only for the simulation: the cluster record keeps the spec as `resolve_spec` made it (the user's
    spec sets no volumes on a pool, and a record showing the pool's would read as an edit)."""
    out = copy.deepcopy(dict(spec))
    pool = _pools(data).get(str(spec.get("instance_pool_id") or ""))
    disk = (pool or {}).get("disk_spec") or {}
    volume_type = (disk.get("disk_type") or {}).get("ebs_volume_type")
    if not volume_type or not disk.get("disk_count"):
        return out
    attrs = {k: v for k, v in (out.get("aws_attributes") or {}).items() if not str(k).startswith("ebs_volume_")}
    attrs.update(ebs_volume_type=volume_type, ebs_volume_count=disk["disk_count"],
                 ebs_volume_size=disk.get("disk_size") or 100)
    for key, field in (("disk_iops", "ebs_volume_iops"), ("disk_throughput", "ebs_volume_throughput")):
        if disk.get(key):
            attrs[field] = disk[key]
    out["aws_attributes"] = attrs
    return out


def resolve_spec(data: dict[str, Any], spec: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``spec`` with the node types its pools supply filled in (``spec`` itself when it
    names no pool): what the cluster runs on, and what ``clusters/get`` reports. The pool's
    ``aws_attributes``/``azure_attributes`` (its availability) replace the spec's: the pool owns them."""
    out = copy.deepcopy(dict(spec))
    worker_pool = spec.get("instance_pool_id")
    if not worker_pool:
        return out
    pools = _pools(data)
    worker = pools.get(str(worker_pool))
    if worker is None:
        raise ValueError(f"instance_pool_id: Can't find an instance pool with id: {worker_pool}")
    driver = worker
    if spec.get("driver_instance_pool_id"):
        driver = pools.get(str(spec["driver_instance_pool_id"]))
        if driver is None:
            raise ValueError("driver_instance_pool_id: Can't find an instance pool with id: "
                             f"{spec['driver_instance_pool_id']}")
    out["node_type_id"] = worker["node_type_id"]
    out["driver_node_type_id"] = driver["node_type_id"]
    for key in ("aws_attributes", "azure_attributes"):
        if worker.get(key):
            out[key] = {**(out.get(key) or {}), **copy.deepcopy(worker[key])}
        # first_on_demand does not apply to pool nodes: the driver is spot when its pool is (the
        # worker pool without a driver pool). The simulation places the driver by first_on_demand.
        driver_availability = str((driver.get(key) or {}).get("availability") or "")
        if driver_availability and out.get(key):
            out[key] = {**out[key], "first_on_demand": 0 if driver_availability.upper().startswith("SPOT") else 1}
    return out
