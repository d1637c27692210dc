"""Candidates carry what the replay needs from the catalog: the node's network bandwidth."""

from __future__ import annotations

from server.costing.catalog import load_catalog
from server.domain import ClusterConfig, ProjectSettings
from server.plan.candidates import Pricing, build_candidates


def test_candidates_carry_the_catalog_network_bandwidth_and_none_when_it_is_unknown() -> None:
    catalog = load_catalog()
    current = ClusterConfig(node_type_id="m5d.2xlarge", driver_node_type_id="m5d.2xlarge", num_workers=8)
    pricing = Pricing(cloud="aws", region="us-east-1", plan="premium")
    pairs = build_candidates(current, ProjectSettings(), catalog, pricing)
    by_type = {c.instance_type: c.network_gbps for c, _ in pairs}
    assert by_type["m5d.2xlarge"] == 10.0 and by_type["r5d.8xlarge"] == 10.0 and by_type["c5d.9xlarge"] == 12.0
    assert all(gbps == catalog.node_type("aws", t).network_gbps for t, gbps in by_type.items())
    # A catalog without the field (say, an older refreshed copy) gives candidates without bandwidth.
    stripped = [{k: v for k, v in e.items() if not k.startswith("network_")} for e in catalog.entries["node_types"]]
    old = catalog.with_entries("node_types", stripped, version="no-network")
    assert old.node_type("aws", "m5d.2xlarge").network_gbps is None
    assert all(c.network_gbps is None for c, _ in build_candidates(current, ProjectSettings(), old, pricing))
