"""The rules run collection and planning share: Photon, first_on_demand, GENERAL_PURPOSE_SSD, default volumes."""

from __future__ import annotations

import pytest

from server.collect.build import with_pool_node_types
from server.collect.usage import cluster_timeline, cluster_usage, ebs_volumes
from server.costing.catalog import load_catalog
from server.costing.run_cost import cost_run, ebs_volume_type, hourly_cost, is_photon, shape_volumes
from server.domain import ClusterConfig, Workspace
from server.plan.candidates import pricing_for
from server.spec import config_from_spec
from tests.costing.catalog_entries import (
    dbus,
    gb_month,
    hours_per_month,
    month_hours,
    price,
    rate,
    root_per_hour,
    spot,
)


def test_planning_prices_a_photon_spark_version_as_photon() -> None:
    ws = Workspace(name="w", host="https://x", cloud="aws", region="us-east-1", plan="premium")
    assert pricing_for(ws, {"spark_version": "13.3.x-photon-scala2.12"}).sku == "jobs_photon"
    assert pricing_for(ws, {"spark_version": "13.3.x-scala2.12"}).sku == "jobs"
    assert pricing_for(ws, {"spark_version": "13.3.x-scala2.12", "runtime_engine": "photon"}).sku == "jobs_photon"
    assert not is_photon({"spark_version": "14.3.x-photon-scala2.12", "runtime_engine": "STANDARD"})


def test_planning_reads_an_explicit_first_on_demand_zero_from_the_spec() -> None:
    base = {"node_type_id": "r5.xlarge", "num_workers": 2, "spark_version": "13.3.x-scala2.12"}
    zero = config_from_spec({**base, "aws_attributes": {"availability": "SPOT", "first_on_demand": 0}})
    unset = config_from_spec({**base, "aws_attributes": {"availability": "SPOT"}})
    r = rate("aws", "premium", "jobs")
    od, dbu = price("aws", "us-east-1", "r5.xlarge"), dbus("aws", "r5.xlarge") * r
    dbu += root_per_hour("us-east-1")  # each node's default volumes, like its DBUs, whatever its market
    sp = od * (1 - spot("aws", "r5"))
    cat = load_catalog()
    assert hourly_cost(zero, "aws", "us-east-1", "premium", "jobs", cat) == pytest.approx(3 * (sp + dbu))
    assert hourly_cost(unset, "aws", "us-east-1", "premium", "jobs", cat) == pytest.approx(od + dbu + 2 * (sp + dbu))


def test_general_purpose_ssd_is_one_rule_for_planning_and_collection() -> None:
    assert ebs_volume_type("GENERAL_PURPOSE_SSD") == "gp2"
    assert ebs_volume_type("GENERAL_PURPOSE_SSD", iops=3000) == "gp3"
    assert ebs_volume_type("GENERAL_PURPOSE_SSD", throughput=250) == "gp3"
    assert ebs_volume_type("THROUGHPUT_OPTIMIZED_HDD") == "st1"
    cfg = ClusterConfig(node_type_id="m5.xlarge", num_workers=1, availability="ON_DEMAND",
                        ebs_volume_type="GENERAL_PURPOSE_SSD", ebs_volume_count=1, ebs_volume_size_gb=100)
    assert shape_volumes(cfg) == [{"type": "gp2", "size_gb": 100, "count": 1}]
    disk = 100 * gb_month("aws", "us-east-1", "gp2") / hours_per_month() + root_per_hour("us-east-1")
    one = price("aws", "us-east-1", "m5.xlarge") + dbus("aws", "m5.xlarge") * rate("aws", "premium", "jobs")
    got = hourly_cost(cfg, "aws", "us-east-1", "premium", "jobs", load_catalog())
    assert got == pytest.approx(2 * (one + disk))


def test_default_volumes_are_one_rule_for_planning_and_collection() -> None:
    """Databricks' default volumes (30 + 150 GB per AWS node, gp2) price the same way in a run's
    cost (timeline from the spec, no cluster events) and in planning's hourly price, for a
    single-node cluster, a pool-backed one (node types from the cluster record) and a plain one."""
    cat = load_catalog()
    hour = 3_600_000
    root = root_per_hour("us-east-1")  # 180 GB x $0.10 / 730 h = $0.0246575 per node-hour
    pool_spec = with_pool_node_types({"instance_pool_id": "p-1", "num_workers": 3, "spark_version": "15.4.x-scala2.12"},
                                     {"node_type_id": "m5.xlarge", "driver_node_type_id": "m5.xlarge"})
    specs = {
        "single-node": ({"node_type_id": "m5.xlarge", "num_workers": 0, "spark_version": "15.4.x-scala2.12",
                         "aws_attributes": {"availability": "ON_DEMAND"}}, 1),
        "pool": (pool_spec, 4),
        "plain": ({"node_type_id": "r5.xlarge", "num_workers": 2, "spark_version": "15.4.x-scala2.12",
                   "aws_attributes": {"availability": "SPOT", "ebs_volume_type": "GENERAL_PURPOSE_SSD",
                                      "ebs_volume_count": 1, "ebs_volume_size": 100}}, 3),
    }
    for name, (spec, nodes) in specs.items():
        timeline = cluster_timeline(spec, [], fallback_start_ms=0, fallback_end_ms=hour)  # no events
        assert len(timeline.nodes) == nodes, name
        run = cost_run(cluster_usage(timeline, spec, cloud="aws", region="us-east-1", plan="premium",
                                     input_bytes=None), cat)
        planned = hourly_cost(config_from_spec(spec), "aws", "us-east-1", "premium", "jobs", cat)
        spec_disks = sum(v["size_gb"] * v["count"] for v in ebs_volumes(spec)) * gb_month("aws", "us-east-1", "gp2")
        # The same volumes; a run's month is its own (January 1970 here: 744 h, as AWS bills it), an
        # hour of planning's the catalog's average month.
        per_month = nodes * (root * hours_per_month() + spec_disks)
        assert run.storage_cost == pytest.approx(per_month / month_hours(0)), name
        assert run.total - run.storage_cost == pytest.approx(planned - per_month / hours_per_month()), name
