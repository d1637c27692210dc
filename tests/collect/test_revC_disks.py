"""revC F6: disks a run's nodes had that its cost left out (pure). (a) EBS autoscaling: Databricks attaches
volumes to a worker running low on disk and says so in EXPANDED_DISK {instance_id, previous_disk_size,
disk_size} (bytes); they were ignored. (b) A pool's disk_spec (instance-pools/get): every instance of
the pool carries those volumes; a pool-backed run was priced with the default root volumes only."""

from __future__ import annotations

import pytest

from server.collect.build import with_pool_node_types
from server.collect.usage import cluster_timeline, cluster_usage
from server.costing.catalog import load_catalog
from server.costing.run_cost import cost_run
from server.spec import with_pool_disks
from tests.costing.catalog_entries import month_hours

M, T0 = 60_000, 1_796_444_220_000
GIB = 2**30
CATALOG = load_catalog()
SPEC = {"node_type_id": "m5.2xlarge", "num_workers": 4, "enable_elastic_disk": True,
        "aws_attributes": {"availability": "ON_DEMAND"}}
BASE = [{"timestamp": T0, "type": "CREATING"},
        {"timestamp": T0 + 5 * M, "type": "RUNNING", "details": {"current_num_workers": 4}},
        {"timestamp": T0 + 120 * M, "type": "TERMINATING"}]


def expanded(minute: int, instance: str, before_gib: int, after_gib: int) -> dict[str, object]:
    return {"timestamp": T0 + minute * M, "type": "EXPANDED_DISK",
            "details": {"instance_id": instance, "previous_disk_size": before_gib * GIB,
                        "disk_size": after_gib * GIB, "free_space": 5 * GIB}}


def storage(spec: dict, events: list[dict], cloud: str = "aws") -> float:
    tl = cluster_timeline(spec, events, fallback_start_ms=T0, fallback_end_ms=T0, cloud=cloud)
    usage = cluster_usage(tl, spec, cloud="aws", region="us-east-1", plan="premium", input_bytes=None)
    return cost_run(usage, CATALOG).storage_cost


def test_disks_ebs_autoscaling_attached_are_priced_from_then_to_the_nodes_end() -> None:
    events = [*BASE[:2], *(expanded(20 + i, f"i-{i}", 150, 650) for i in range(4)), BASE[2]]
    st1 = CATALOG.ebs_price("aws", "us-east-1", "st1").usd_per_gb_month
    # Over December 2026's 744 hours: AWS prorates a GB-month over the month's own hours.
    by_hand = sum(500 * st1 * (120 - 20 - i) / 60 / month_hours(T0) for i in range(4))
    assert storage(SPEC, events) - storage(SPEC, BASE) == pytest.approx(by_hand)  # was 0


def test_one_instance_expanded_twice_keeps_one_node_and_a_shrink_is_nothing() -> None:
    events = [*BASE[:2], expanded(20, "i-a", 150, 300), expanded(50, "i-a", 300, 450),
              expanded(60, "i-b", 450, 450), BASE[2]]
    tl = cluster_timeline(SPEC, events, fallback_start_ms=T0, fallback_end_ms=T0, cloud="aws")
    attached = [(n.instance_id, v["attached_gb"], (v["attached_ms"] - T0) // M)
                for n in tl.nodes for v in n.ebs_volumes if "attached_ms" in v]
    assert attached == [(attached[0][0], 150, 20), (attached[0][0], 150, 50)]


def test_azure_attached_disks_are_left_unpriced() -> None:
    spec = {"node_type_id": "Standard_D8ds_v5", "num_workers": 4}
    tl = cluster_timeline(spec, [*BASE[:2], expanded(20, "vm-1", 150, 650), BASE[2]], fallback_start_ms=T0,
                          fallback_end_ms=T0, cloud="azure")
    assert all(not n.ebs_volumes for n in tl.nodes)


def test_a_pools_disk_spec_is_priced_on_every_node() -> None:
    pool = {"instance_pool_id": "p1", "node_type_id": "m5.2xlarge",
            "disk_spec": {"disk_type": {"ebs_volume_type": "GENERAL_PURPOSE_SSD"}, "disk_count": 2, "disk_size": 500}}
    record = {"node_type_id": "m5.2xlarge", "driver_node_type_id": "m5.2xlarge",
              "aws_attributes": {"availability": "ON_DEMAND"}}
    spec = {"instance_pool_id": "p1", "num_workers": 4}
    without = storage(with_pool_node_types(spec, record), BASE)
    ran = with_pool_node_types(spec, record, {"p1": pool})
    gp2 = CATALOG.ebs_price("aws", "us-east-1", "gp2").usd_per_gb_month
    assert storage(ran, BASE) - without == pytest.approx(5 * 2 * 500 * gp2 * 2 / month_hours(T0))
    # gp3 when the pool gives IOPS or throughput, as for a cluster's own volumes.
    fast = {**pool, "disk_spec": {**pool["disk_spec"], "disk_iops": 4000, "disk_throughput": 250}}
    attrs = with_pool_disks(spec, {"p1": fast})["aws_attributes"]
    assert (attrs["ebs_volume_count"], attrs["ebs_volume_iops"], attrs["ebs_volume_throughput"]) == (2, 4000, 250)
    # Off a pool, or a pool without AWS disks: the spec as it is.
    assert with_pool_disks(SPEC, {"p1": pool}) == SPEC
    assert with_pool_disks(spec, {"p1": {"disk_spec": {"disk_type": {"azure_disk_volume_type": "PREMIUM_LRS"},
                                                       "disk_count": 1}}}) == spec
