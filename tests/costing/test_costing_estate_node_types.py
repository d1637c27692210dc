"""Node types a real AWS Databricks estate runs: GPU (g4dn, g5), Graviton2 (m6g, m6gd, c6gd, r6gd),
i3en and the c-, cd- and rgd-fleets, loaded, sized and priced from the shipped catalog's sourced entries.

GPU and Graviton types carry ``gpus`` and ``arch`` so the planner can keep a job on hardware it runs on;
both are optional to the loader (an entry without them is a CPU-only x86_64 type)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from server.costing.catalog import load_catalog
from server.costing.errors import InvalidCatalog
from server.costing.run_cost import ClusterUsage, NodeUsage, cost_run
from tests.costing.catalog_entries import CATALOG_DIR, dbus, entry, price, rate, root_per_hour, spot

MIN = 60_000
T0 = 1_750_000_000_000
GPU = {f"g4dn.{s}": g for s, g in (("xlarge", 1), ("2xlarge", 1), ("4xlarge", 1), ("8xlarge", 1), ("12xlarge", 4))}
GPU |= {f"g5.{s}": g for s, g in (("xlarge", 1), ("2xlarge", 1), ("4xlarge", 1), ("8xlarge", 1), ("12xlarge", 4))}
GRAVITON = [f"{f}.{s}" for f in ("m6g", "m6gd", "c6gd", "r6gd", "m7g", "m7gd")
            for s in ("xlarge", "2xlarge", "4xlarge", "8xlarge")]
I3EN = ["i3en.xlarge", "i3en.2xlarge", "i3en.3xlarge", "i3en.6xlarge"]
FLEETS = {"c-fleet": ("c5", "c6i"), "cd-fleet": ("c5d", "c6id"), "rgd-fleet": ("r6gd",)}


@pytest.mark.parametrize("node_type", [*GPU, *GRAVITON, *I3EN])
def test_estate_node_type_is_sized_and_priced_in_every_region(node_type: str) -> None:
    cat = load_catalog()
    info = cat.node_type("aws", node_type)
    assert info.dbus_per_hour == dbus("aws", node_type) > 0
    assert info.gpus == GPU.get(node_type, 0)
    assert info.arch == ("arm64" if node_type in GRAVITON else "x86_64")
    assert info.network_gbps is not None
    for region in cat.regions("aws"):
        assert cat.hourly_price("aws", region, node_type) == price("aws", region, node_type) > 0
    # us-west-2 and eu-west-1 are derived from us-east-1 the way the catalog's other entries are.
    east = price("aws", "us-east-1", node_type)
    assert price("aws", "us-west-2", node_type) == east
    assert price("aws", "eu-west-1", node_type) == round(east * 1.115, 4)
    assert "derived" in entry("compute_prices.json", cloud="aws", region="eu-west-1", node_type=node_type)["source"]


def test_a_gpu_run_is_priced_from_its_entries() -> None:
    # g4dn.xlarge driver and two workers, one hour on demand, us-east-1, Premium jobs compute:
    # 3 x 0.71 DBU x $0.15 + 3 x $0.526 + 3 default volumes.
    nodes = [NodeUsage("g4dn.xlarge", i == 0, False, T0, T0 + 60 * MIN, []) for i in range(3)]
    cost = cost_run(ClusterUsage("aws", "us-east-1", "premium", "jobs", nodes), load_catalog())
    assert (dbus("aws", "g4dn.xlarge"), price("aws", "us-east-1", "g4dn.xlarge")) == (0.71, 0.526)
    assert cost.dbus == pytest.approx(3 * 0.71)
    assert cost.dbu_cost == pytest.approx(3 * 0.71 * rate("aws", "premium", "jobs"))
    assert cost.compute_cost == pytest.approx(3 * 0.526)
    assert cost.storage_cost == pytest.approx(3 * root_per_hour("us-east-1", T0))


def test_a_gpu_spot_worker_takes_the_spot_advisor_saving() -> None:
    # g4dn: 70% off in the Spot Instance Advisor data for every catalog size (its source says which).
    assert spot("aws", "g4dn") == 0.7
    assert "instance-advisor" in entry("spot_discounts.json", cloud="aws", family="g4dn")["source"]
    nodes = [NodeUsage("g4dn.2xlarge", True, False, T0, T0 + 60 * MIN, []),
             NodeUsage("g4dn.2xlarge", False, True, T0, T0 + 60 * MIN, [])]
    cost = cost_run(ClusterUsage("aws", "us-west-2", "premium", "jobs", nodes), load_catalog())
    on_demand = price("aws", "us-west-2", "g4dn.2xlarge")
    assert cost.compute_cost == pytest.approx(on_demand + on_demand * 0.3)


def test_a_graviton_spot_run_without_a_sourced_saving_is_priced_at_on_demand() -> None:
    # No typical spot saving was transcribed for m6gd: its discount is 0, so a spot node is never read
    # cheaper than it may have cost (an upper bound), and the entry says why.
    assert spot("aws", "m6gd") == 0
    assert "no typical spot saving transcribed" in entry("spot_discounts.json", cloud="aws", family="m6gd")["source"]
    nodes = [NodeUsage("m6gd.2xlarge", True, False, T0, T0 + 30 * MIN, []),
             NodeUsage("m6gd.2xlarge", False, True, T0, T0 + 30 * MIN, [])]
    cost = cost_run(ClusterUsage("aws", "eu-west-1", "premium", "jobs", nodes), load_catalog())
    assert cost.compute_cost == pytest.approx(2 * price("aws", "eu-west-1", "m6gd.2xlarge") * 0.5)
    assert cost.dbus == pytest.approx(2 * 1.54 * 0.5)


@pytest.mark.parametrize("fleet", [f"{f}.{s}" for f in FLEETS for s in ("xlarge", "2xlarge", "4xlarge", "8xlarge")])
def test_new_fleet_is_sized_and_priced_from_its_members(fleet: str) -> None:
    cat = load_catalog()
    family, size = fleet.split(".")
    info = cat.node_type("aws", fleet)
    # c5 and c5d have no 8xlarge (their next size is the 36-vCPU 9xlarge): those fleets launch c6i/c6id there.
    members = [f"{m}.{size}" for m in FLEETS[family] if not (m in ("c5", "c5d") and size == "8xlarge")]
    assert info.members == tuple(members) and info.family == family
    sized = [cat.node_type("aws", m) for m in members]
    assert {(m.vcpus, m.dbus_per_hour, m.arch, m.gpus) for m in sized} == \
        {(info.vcpus, info.dbus_per_hour, info.arch, info.gpus)}
    assert info.arch == ("arm64" if family == "rgd-fleet" else "x86_64")
    assert info.memory_gb == min(m.memory_gb for m in sized)
    assert info.local_disk_gb == min(m.local_disk_gb for m in sized)
    for region in cat.regions("aws"):
        assert cat.hourly_price("aws", region, fleet) == max(price("aws", region, m) for m in members)
    assert cat.spot_discount("aws", family) == min(spot("aws", m.split(".")[0]) for m in members)


def test_cd_fleet_run_is_priced_as_its_dearest_member() -> None:
    nodes = [NodeUsage("cd-fleet.xlarge", True, False, T0, T0 + 60 * MIN, []),
             NodeUsage("cd-fleet.xlarge", False, True, T0, T0 + 60 * MIN, [])]
    cost = cost_run(ClusterUsage("aws", "us-east-1", "premium", "jobs", nodes), load_catalog())
    dearest = price("aws", "us-east-1", "c6id.xlarge")
    assert dearest == 0.2016 > price("aws", "us-east-1", "c5d.xlarge")
    assert cost.compute_cost == pytest.approx(dearest + dearest * (1 - min(spot("aws", "c5d"), spot("aws", "c6id"))))


def _catalog_with(tmp_path: Path, node_type: str, change: Callable[[dict[str, Any]], None]) -> Path:
    d = tmp_path / "cat"
    shutil.copytree(CATALOG_DIR, d)
    data = json.loads((d / "node_types.json").read_text())
    (e,) = [e for e in data["node_types"] if e["node_type"] == node_type]
    change(e)
    (d / "node_types.json").write_text(json.dumps(data))
    return d


@pytest.mark.parametrize(("node_type", "change", "message"), [
    # A fleet whose members could be GPU and CPU types, or arm64 and x86_64 ones, could land a job on
    # hardware it cannot run on.
    ("rgd-fleet.xlarge", lambda e: e.update(members=["r6gd.xlarge", "r5d.xlarge"]),
     "'arch' arm64 must be every member's (r6gd.xlarge arm64, r5d.xlarge x86_64)"),
    ("md-fleet.xlarge", lambda e: e.update(members=["m5d.xlarge", "g4dn.xlarge"]),
     "'gpus' 0 must be every member's (m5d.xlarge 0, g4dn.xlarge 1)"),
    ("g4dn.xlarge", lambda e: e.update(arch="aarch64"), "'arch' must be one of x86_64, arm64"),
    ("g4dn.xlarge", lambda e: e.update(gpus=-1), "'gpus' must be a whole number >= 0"),
    ("g4dn.xlarge", lambda e: e.update(gpus=1.5), "'gpus' must be a whole number >= 0"),
])
def test_gpu_and_arch_figures_a_lookup_could_not_use_are_refused(tmp_path: Path, node_type: str,
                                                                  change: Callable[[dict[str, Any]], None],
                                                                  message: str) -> None:
    with pytest.raises(InvalidCatalog) as err:
        load_catalog(_catalog_with(tmp_path, node_type, change))
    assert message in err.value.message and node_type in err.value.message


def test_an_entry_without_gpus_or_arch_is_a_cpu_only_x86_64_type(tmp_path: Path) -> None:
    # Catalogs written before the fields (an older `trimtab prices update` output) still load.
    def strip(e: dict[str, Any]) -> None:
        e.pop("gpus", None)
        e.pop("arch", None)

    info = load_catalog(_catalog_with(tmp_path, "g5.xlarge", strip)).node_type("aws", "g5.xlarge")
    assert (info.gpus, info.arch) == (0, "x86_64")


def test_every_shipped_node_type_names_its_architecture() -> None:
    cat = load_catalog()
    for cloud in ("aws", "azure"):
        for node_type in cat.node_types(cloud):
            assert entry("node_types.json", cloud=cloud, node_type=node_type)["arch"] in ("x86_64", "arm64")
    assert {t for t in cat.node_types("aws") if cat.node_type("aws", t).gpus} == set(GPU)


# Shipped node types whose catalog entry deliberately says otherwise than their name (a type the name
# rules misread, `server.hardware.kind_from_name`): (cloud, node type) -> why. None today.
NAME_MISREAD: dict[tuple[str, str], str] = {}


def test_the_catalogs_gpus_and_arch_agree_with_the_name_but_for_the_listed_exceptions() -> None:
    # The planner reads the catalog's word where it states it, the name where it does not
    # (`server.hardware.node_kind`): a shipped entry that disagrees with its name is either a
    # transcription error or a type the name rules misread, which must be listed here.
    from server.hardware import kind_from_name, node_kind

    cat = load_catalog()
    disagree = {}
    for cloud in ("aws", "azure"):
        for node_type in cat.node_types(cloud):
            info, kind = cat.node_type(cloud, node_type), node_kind(node_type, cat.entry("node_types", cloud, node_type))
            assert (info.arch, info.gpus > 0) == (kind.arch, kind.gpu), node_type  # the loaded figures too
            if kind != kind_from_name(node_type):
                disagree[(cloud, node_type)] = kind
    assert set(disagree) == set(NAME_MISREAD), disagree
