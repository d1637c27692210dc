"""The shipped catalog: complete, sourced, and covering the sandbox's node types."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from server.costing.catalog import KINDS, load_catalog
from server.costing.errors import InvalidCatalog
from tests.costing.catalog_entries import CATALOG_DIR

AWS_FAMILIES = ["m5", "m5d", "m6i", "m6id", "m7g", "m7gd", "r5", "r5d", "r6i", "r6id", "c5", "c5d", "c6i",
                "c6id", "i3", "i4i"]
AZURE_TYPES = [f"Standard_{f}{n}{s}" for f in ("D", "E") for n in (4, 8, 16) for s in ("s_v5", "ds_v5", "s_v4")]
AZURE_TYPES += ["Standard_F4s_v2", "Standard_F8s_v2", "Standard_F16s_v2", "Standard_L8s_v3", "Standard_L16s_v3",
                "Standard_DS3_v2"]


def _aws_types() -> list[str]:
    out = []
    for fam in AWS_FAMILIES:
        sizes = ["xlarge", "2xlarge", "4xlarge"] + (["9xlarge"] if fam in ("c5", "c5d") else ["8xlarge"])
        out += [f"{fam}.{s}" for s in sizes]
    return out


def _sandbox_node_types() -> list[tuple[str, str]]:
    """(cloud, node type) of every type the sandbox simulator offers, once sandbox/nodes.py exists."""
    if importlib.util.find_spec("sandbox.nodes") is None:
        return [("aws", t) for t in _aws_types()] + [("azure", t) for t in AZURE_TYPES]
    from sandbox.nodes import NODE_TYPES  # type: ignore[import-not-found]

    items = NODE_TYPES.values() if isinstance(NODE_TYPES, dict) else NODE_TYPES
    out = []
    for nt in items:
        name = getattr(nt, "node_type_id", None) or getattr(nt, "name", None) or nt
        cloud = getattr(nt, "cloud", None) or ("azure" if str(name).startswith("Standard_") else "aws")
        out.append((str(cloud).lower(), str(name)))
    return out


@pytest.mark.parametrize("cloud,node_type", _sandbox_node_types())
def test_every_sandbox_node_type_is_priced_in_every_region(cloud: str, node_type: str) -> None:
    cat = load_catalog()
    assert cat.dbus_per_hour(cloud, node_type) > 0
    family = cat.node_type(cloud, node_type).family
    discount = cat.spot_discount(cloud, family)
    # 0 only for a family whose typical saving was not transcribed (spot priced at on-demand, an upper
    # bound), and its entry says so; a fleet family takes its members' least.
    assert 0 <= discount < 1
    if discount == 0:
        families = [cat.node_type(cloud, m).family for m in cat.members(cloud, node_type)] or [family]
        assert any("no typical spot saving transcribed" in (cat.entry("spot_discounts", cloud, f) or {})["source"]
                   for f in families)
    for region in cat.regions(cloud):
        assert cat.hourly_price(cloud, region, node_type) > 0


def test_every_entry_has_source_and_date_and_every_region_has_storage_prices() -> None:
    cat = load_catalog()
    for kind in KINDS:
        assert cat.entries[kind], kind
        for e in cat.entries[kind]:
            assert e["source"].strip() and e["date"][:2] == "20", e
    for region in cat.regions("aws"):
        for vt in ("gp2", "gp3", "st1"):
            assert cat.ebs_price("aws", region, vt).usd_per_gb_month > 0
        assert cat.ebs_price("aws", region, "gp3").included_iops == 3000
    for cloud, plans in (("aws", ("standard", "premium", "enterprise")), ("azure", ("standard", "premium"))):
        for plan in plans:
            for sku in ("jobs", "jobs_photon", "all_purpose"):
                assert cat.dbu_rate(cloud, plan, sku) > 0
    # Premium jobs DBUs cost more than standard, all-purpose more than jobs: the ordering users know.
    assert cat.dbu_rate("aws", "standard", "jobs") < cat.dbu_rate("aws", "premium", "jobs")
    assert cat.dbu_rate("aws", "premium", "jobs") < cat.dbu_rate("aws", "premium", "all_purpose")


def test_catalog_round_trips_and_updates_make_a_new_version(tmp_path: Path) -> None:
    cat = load_catalog()
    updated = dict(cat.entry("compute_prices", "aws", "us-east-1", "m5.xlarge") or {})
    updated.update(usd_per_hour=0.2, source="test", date="2026-12-01")
    new = cat.with_entries("compute_prices", [updated], version="test-2")
    new.write(tmp_path / "cat")
    back = load_catalog(tmp_path / "cat")
    assert back.version == "test-2"
    assert back.hourly_price("aws", "us-east-1", "m5.xlarge") == 0.2
    assert back.hourly_price("aws", "us-west-2", "m5.xlarge") == cat.hourly_price("aws", "us-west-2", "m5.xlarge")
    assert cat.hourly_price("aws", "us-east-1", "m5.xlarge") != 0.2  # the original is untouched


def test_entry_without_source_or_with_bad_price_is_rejected(tmp_path: Path) -> None:
    d = tmp_path / "cat"
    shutil.copytree(CATALOG_DIR, d)
    data = json.loads((d / "compute_prices.json").read_text())
    del data["prices"][3]["source"]
    (d / "compute_prices.json").write_text(json.dumps(data))
    with pytest.raises(InvalidCatalog, match="source"):
        load_catalog(d)
    data["prices"][3]["source"] = "x"
    data["prices"][3]["usd_per_hour"] = "cheap"
    (d / "compute_prices.json").write_text(json.dumps(data))
    with pytest.raises(InvalidCatalog, match="usd_per_hour"):
        load_catalog(d)
    with pytest.raises(InvalidCatalog, match="manifest"):
        load_catalog(tmp_path / "nowhere")


def test_every_shipped_node_type_has_a_sourced_network_bandwidth() -> None:
    cat = load_catalog()
    for cloud in ("aws", "azure"):
        for node_type in cat.node_types(cloud):
            info = cat.node_type(cloud, node_type)
            assert info.network_gbps is not None and 1.0 <= info.network_gbps <= 100.0, (cloud, node_type)
            e = cat.entry("node_types", cloud, node_type) or {}
            assert e["network_source"].startswith("https://") and e["network_date"][:2] == "20", e


@pytest.mark.parametrize("cloud,node_type", _sandbox_node_types())
def test_sandbox_and_catalog_agree_on_sizes_and_network(cloud: str, node_type: str) -> None:
    """The simulator's physics and the planner's candidates describe the same hardware."""
    from sandbox.nodes import get_node_type

    node = get_node_type(node_type)
    info = load_catalog().node_type(cloud, node_type)
    assert (info.vcpus, info.memory_gb) == (node.vcpus, node.memory_gib)
    assert info.network_gbps == node.network_gbps
    # The emulator's DBU/h judges cluster policies' dbus_per_hour rules as the planner does.
    assert info.dbus_per_hour == node.dbus_per_hour
    assert (info.gpus, info.arch) == (node.gpus, node.arch)


def test_network_bandwidth_is_optional_but_must_be_sourced_and_valid(tmp_path: Path) -> None:
    d = tmp_path / "cat"
    shutil.copytree(CATALOG_DIR, d)
    data = json.loads((d / "node_types.json").read_text())
    first = data["node_types"][0]
    # A catalog without the field (an older or hand-made one) still loads; the type has no bandwidth.
    for k in ("network_gbps", "network_source", "network_date"):
        del first[k]
    (d / "node_types.json").write_text(json.dumps(data))
    assert load_catalog(d).node_type("aws", first["node_type"]).network_gbps is None
    first["network_gbps"] = 10
    (d / "node_types.json").write_text(json.dumps(data))
    with pytest.raises(InvalidCatalog, match="network_source"):
        load_catalog(d)
    first.update(network_gbps=-1, network_source="x", network_date="2026-12-04")
    (d / "node_types.json").write_text(json.dumps(data))
    with pytest.raises(InvalidCatalog, match="network_gbps"):
        load_catalog(d)
