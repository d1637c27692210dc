"""AWS fleet node types (md-fleet.xlarge...): sized, priced and validated from their members.

A fleet launches, per node, whichever same-size member Databricks finds available and cheapest; the
catalog prices it at its dearest member's on-demand price (an upper bound) with the smallest spot
discount of its members' families, and DBUs at its size's rate (`server.costing.catalog`)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from server.costing.catalog import load_catalog
from server.costing.errors import InvalidCatalog, UnknownNodeType
from server.costing.run_cost import ClusterUsage, NodeUsage, cost_run, hourly_cost
from server.domain import ClusterConfig
from tests.costing.catalog_entries import (
    CATALOG_DIR,
    dbus,
    entry,
    multiplier,
    price,
    rate,
    root_per_hour,
    spot,
)

MIN = 60_000
T0 = 1_750_000_000_000
# The four fleet families Databricks introduced, in the four sizes, with the catalog's members.
FLEETS = {"m-fleet": ("m5", "m6i"), "md-fleet": ("m5d", "m6id"), "r-fleet": ("r5", "r6i"), "rd-fleet": ("r5d", "r6id")}
SIZES = ("xlarge", "2xlarge", "4xlarge", "8xlarge")


@pytest.mark.parametrize("fleet", [f"{f}.{s}" for f in FLEETS for s in SIZES])
def test_every_fleet_is_sized_and_priced_from_its_members_in_every_region(fleet: str) -> None:
    cat = load_catalog()
    family, size = fleet.split(".")
    info = cat.node_type("aws", fleet)
    members = [f"{m}.{size}" for m in FLEETS[family]]
    assert info.members == tuple(members) and info.is_fleet and info.family == family
    sized = [cat.node_type("aws", m) for m in members]
    # DBU/h and vCPUs: the size's (every member's); memory, local disk, network: what any node has at least.
    assert info.dbus_per_hour == dbus("aws", members[0]) == dbus("aws", members[1])
    assert info.vcpus == sized[0].vcpus == sized[1].vcpus
    assert info.memory_gb == min(m.memory_gb for m in sized)
    assert info.local_disk_gb == min(m.local_disk_gb for m in sized)
    assert (info.local_disk_gb > 0) == family.endswith("d-fleet")  # the d fleets have local NVMe
    for region in cat.regions("aws"):
        assert cat.hourly_price("aws", region, fleet) == max(price("aws", region, m) for m in members)
    assert cat.spot_discount("aws", family) == min(spot("aws", m) for m in FLEETS[family])
    assert fleet in cat.node_types("aws") and fleet not in cat.node_types("azure")


def test_md_fleet_xlarge_run_is_priced_as_its_dearest_member_with_the_least_spot_discount() -> None:
    # Driver on demand and two spot workers, one hour, us-east-1, Premium jobs compute.
    nodes = [NodeUsage("md-fleet.xlarge", True, False, T0, T0 + 60 * MIN, [])]
    nodes += [NodeUsage("md-fleet.xlarge", False, True, T0, T0 + 60 * MIN, []) for _ in range(2)]
    cost = cost_run(ClusterUsage("aws", "us-east-1", "premium", "jobs", nodes), load_catalog())

    on_demand = max(price("aws", "us-east-1", "m5d.xlarge"), price("aws", "us-east-1", "m6id.xlarge"))
    spot_off = min(spot("aws", "m5d"), spot("aws", "m6id"))
    assert on_demand == price("aws", "us-east-1", "m6id.xlarge") == 0.2373  # m6id is the dearer member
    assert cost.dbus == pytest.approx(3 * dbus("aws", "m5d.xlarge"))
    assert cost.dbu_cost == pytest.approx(3 * 0.69 * rate("aws", "premium", "jobs"))
    assert cost.compute_cost == pytest.approx(on_demand + 2 * on_demand * (1 - spot_off))
    assert cost.storage_cost == pytest.approx(3 * root_per_hour("us-east-1", T0))
    assert [line.node_type_id for line in cost.lines] == ["md-fleet.xlarge"] * 3


def test_the_planner_prices_a_fleet_configuration_like_a_run_of_it() -> None:
    config = ClusterConfig(node_type_id="md-fleet.2xlarge", num_workers=3, availability="ON_DEMAND",
                           first_on_demand=1)
    hour = hourly_cost(config, "aws", "us-west-2", "premium", "jobs_photon", load_catalog(), workers=3)
    node = price("aws", "us-west-2", "m6id.2xlarge") + dbus("aws", "m6id.2xlarge") * \
        multiplier("aws", "jobs_photon") * rate("aws", "premium", "jobs_photon") + root_per_hour("us-west-2")
    assert hour == pytest.approx(4 * node)


def _fleet_catalog(tmp_path: Path, edit) -> Path:
    d = tmp_path / "cat"
    shutil.copytree(CATALOG_DIR, d)
    data = json.loads((d / "node_types.json").read_text())
    (fleet,) = [e for e in data["node_types"] if e["node_type"] == "md-fleet.xlarge"]
    edit(fleet)
    (d / "node_types.json").write_text(json.dumps(data))
    return d


@pytest.mark.parametrize(("edit", "message"), [
    (lambda e: e.__setitem__("members", ["m5d.xlarge", "md-fleet.2xlarge"]),
     "member 'md-fleet.2xlarge' is a fleet itself"),
    (lambda e: e.__setitem__("members", ["m5d.xlarge", "m6id.2xlarge"]), "'vcpus' 4 must be every member's"),
    (lambda e: e.__setitem__("dbus_per_hour", 0.6), "'dbus_per_hour' 0.6 must be every member's"),
    (lambda e: e.__setitem__("memory_gb", 32), "'memory_gb' 32 must be the smallest member's (16)"),
    (lambda e: e.__setitem__("local_disk_gb", 237), "'local_disk_gb' 237 must be the smallest member's (150)"),
    (lambda e: e.__setitem__("network_gbps", 12.5), "'network_gbps' 12.5 must not be above the smallest member's (10"),
    (lambda e: e.__setitem__("members", []), "'members' must be a non-empty list"),
    (lambda e: e.__setitem__("members", ["m5d.xlarge", "m5d.xlarge"]), "'members' must be a non-empty list"),
])
def test_a_fleet_whose_figures_are_not_its_members_is_refused(tmp_path: Path, edit, message: str) -> None:
    with pytest.raises(InvalidCatalog) as err:
        load_catalog(_fleet_catalog(tmp_path, edit))
    assert message in err.value.message and "md-fleet.xlarge" in err.value.message


def test_a_member_without_a_price_in_the_region_leaves_the_fleet_unpriced_naming_it() -> None:
    cat = load_catalog()
    prices = tuple(e for e in cat.entries["compute_prices"]
                   if not (e["node_type"] == "m6id.xlarge" and e["region"] == "eu-west-1"))
    cat = type(cat)(cat.version, cat.currency, cat.hours_per_month, {**cat.entries, "compute_prices": prices})
    # Priced from m5d alone it would read cheaper than the m6id node it may have launched.
    with pytest.raises(UnknownNodeType) as err:
        cat.hourly_price("aws", "eu-west-1", "md-fleet.xlarge")
    assert err.value.message == ("unknown node type 'm6id.xlarge' on aws: the price catalog has no on-demand price "
                                 "in eu-west-1 (a member of fleet md-fleet.xlarge) for it")
    assert cat.hourly_price("aws", "us-east-1", "md-fleet.xlarge") == 0.2373


def test_a_member_the_catalog_lacks_leaves_the_fleet_unpriced_naming_it(tmp_path: Path) -> None:
    # An older or hand-made catalog: it loads (its other prices are good), but the fleet is not priced,
    # which would read it cheaper than an m5dn node it may have launched.
    cat = load_catalog(_fleet_catalog(tmp_path, lambda e: e.__setitem__("members", ["m5d.xlarge", "m5dn.xlarge"])))
    assert cat.node_type("aws", "md-fleet.xlarge").members == ("m5d.xlarge", "m5dn.xlarge")
    with pytest.raises(UnknownNodeType, match="'m5dn.xlarge' on aws: .* in us-east-1 \\(a member of fleet md-fleet"):
        cat.hourly_price("aws", "us-east-1", "md-fleet.xlarge")
    with pytest.raises(UnknownNodeType, match="'m5dn.xlarge' on aws: .*a member of fleet family md-fleet"):
        cat.spot_discount("aws", "md-fleet")
    assert cat.hourly_price("aws", "us-east-1", "m5d.xlarge") == price("aws", "us-east-1", "m5d.xlarge")


def test_a_price_of_the_fleets_own_wins_over_its_members() -> None:
    # A catalog may state a representative price for a fleet (say, from a bill): it is used as written.
    cat = load_catalog()
    own = {**entry("compute_prices.json", cloud="aws", region="us-east-1", node_type="m5d.xlarge"),
           "node_type": "md-fleet.xlarge", "usd_per_hour": 0.21, "source": "a stated representative", "date": "2026-12-07"}
    cat = cat.with_entries("compute_prices", [own], "test-fleet")
    assert cat.hourly_price("aws", "us-east-1", "md-fleet.xlarge") == 0.21
    assert cat.hourly_price("aws", "us-west-2", "md-fleet.xlarge") == 0.2373
