"""What a cluster's instance pool(s) fix for its candidates: node types, the most workers, disks."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from server.domain import ClusterConfig
from server.spec import pool_ids, with_pool_disks


@dataclass(frozen=True)
class PoolBacking:
    """What a cluster's instance pool(s) fix: the node types, and the most workers the pool holds.

    Nothing is added to the price for a pool but its instances' disks (``disks``): Databricks bills a
    pool's instances as any cluster's while a cluster uses them (no surcharge), and the idle instances a pool keeps warm are the
    pool owner's cost, which no one job's configuration changes."""

    node_type: str  # the worker pool's
    driver: str  # the driver pool's (the worker pool's when the spec names no driver pool)
    # The worker pool's max_capacity, less the driver when it comes from the same pool; None:
    # unlimited. Other clusters on the pool share it, so this is only an upper bound.
    max_workers: int | None
    # For messages: the worker pool's id and its max_capacity as the pool states it.
    pool_id: str = ""
    capacity: int | None = None
    # The EBS volumes every instance of the worker pool comes with (its ``disk_spec``) as
    # ``aws_attributes.ebs_volume_*`` items, read by the rule run collection prices them with
    # (`server.spec.with_pool_disks`); empty: none, or not AWS disks.
    disks: tuple[tuple[str, Any], ...] = ()


def pool_backing(spec: dict, pools: dict[str, dict] | None) -> PoolBacking | None:
    """The pool side of ``spec`` from its pools (``instance-pools/get`` by id); None off a pool
    (or when its worker pool is not among ``pools``)."""
    worker_id, driver_id = pool_ids(spec)
    worker = (pools or {}).get(worker_id) if worker_id else None
    driver = (pools or {}).get(driver_id) if driver_id else None
    if not worker or not driver:
        return None
    capacity = worker.get("max_capacity")
    max_workers = None
    if capacity is not None:
        max_workers = max(0, int(capacity) - (1 if driver_id == worker_id else 0))
    attrs = with_pool_disks(spec, pools).get("aws_attributes") or {}
    return PoolBacking(node_type=str(worker["node_type_id"]), driver=str(driver["node_type_id"]),
                       max_workers=max_workers, pool_id=str(worker_id),
                       capacity=int(capacity) if capacity is not None else None,
                       disks=tuple(sorted((k, v) for k, v in attrs.items() if str(k).startswith("ebs_volume_"))))


def on_pool(config: ClusterConfig, current: ClusterConfig) -> ClusterConfig:
    """A run's configuration as the planner compares it: a run on the current pool(s) whose node
    types were not recorded (the run's spec names the pool, not the type) gets the pool's types."""
    if config.node_type_id or not current.spec or pool_ids(config.spec) != pool_ids(current.spec):
        return config
    return dataclasses.replace(config, node_type_id=current.node_type_id,
                               driver_node_type_id=current.driver_node_type_id,
                               availability=config.availability or current.availability)


def pool_too_small(pool: PoolBacking, min_workers: int, high: int) -> str:
    """Why a pool-backed cluster cannot be sized within the project's min_workers (``high``: the most
    workers the candidates may have on the pool), and what to change."""
    room = pool.max_workers if pool.max_workers is not None else high
    beside = " beside the driver it also holds" if pool.capacity is not None and room < pool.capacity else ""
    return (f"the project's min_workers {min_workers} does not fit its instance pool {pool.pool_id or '(unnamed)'}: "
            f"max_capacity {pool.capacity} leaves room for {room} worker{'' if room == 1 else 's'}{beside}; "
            f"lower min_workers to {high} or less (`trimtab project set --min-workers {high}`) "
            "or raise the pool's max_capacity")
