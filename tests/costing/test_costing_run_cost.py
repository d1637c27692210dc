"""Run costs computed by hand from catalog entries equal Trimtab's."""

from __future__ import annotations

import pytest

from server.costing.catalog import PriceCatalog, load_catalog
from server.costing.errors import TrimtabCostError, UnknownNodeType, UnknownPlan, UnknownRegion
from server.costing.run_cost import ClusterUsage, NodeUsage, cost_run, hourly_cost
from server.domain import ClusterConfig
from tests.costing.catalog_entries import (
    dbus,
    family,
    gb_month,
    hours_per_month,
    month_hours,
    multiplier,
    price,
    rate,
    root_per_hour,
    spot,
)

MIN = 60_000
T0 = 1_750_000_000_000


def node(nt: str, start_min: float, end_min: float, *, driver: bool = False, spot_: bool = False,
         volumes: list | None = None) -> NodeUsage:
    return NodeUsage(nt, driver, spot_, int(T0 + start_min * MIN), int(T0 + end_min * MIN), volumes or [])


def test_fixed_cluster_matches_hand_computation() -> None:
    gp3 = [{"type": "gp3", "size_gb": 100, "count": 1}]
    nodes = [node("m5.xlarge", 0, 90, driver=True, volumes=gp3)] + [
        node("m5.xlarge", 0, 90, volumes=gp3) for _ in range(4)
    ]
    cost = cost_run(ClusterUsage("aws", "us-east-1", "premium", "jobs", nodes, input_bytes=50 * 10**9),
                    load_catalog())

    hours = 1.5
    exp_dbus = 5 * dbus("aws", "m5.xlarge") * hours  # 5 nodes x 0.69 DBU/h x 1.5 h
    exp_dbu_cost = exp_dbus * rate("aws", "premium", "jobs")
    exp_compute = 5 * price("aws", "us-east-1", "m5.xlarge") * hours
    # The spec's gp3 volume, and Databricks' 30 + 150 GB default volumes (gp2) on each node.
    # Prorated over the hours of the run's month, June 2025 (720), as AWS bills a GB-month.
    exp_storage = 5 * 100 * gb_month("aws", "us-east-1", "gp3") * hours / month_hours(T0)
    exp_storage += 5 * root_per_hour("us-east-1", T0) * hours
    assert cost.dbus == pytest.approx(exp_dbus)
    assert cost.dbu_cost == pytest.approx(exp_dbu_cost)
    assert cost.compute_cost == pytest.approx(exp_compute)
    assert cost.storage_cost == pytest.approx(exp_storage)
    assert cost.total == pytest.approx(exp_dbu_cost + exp_compute + exp_storage)
    assert cost.cost_per_input_gb == pytest.approx((exp_dbu_cost + exp_compute + exp_storage) / 50)
    assert [line.role for line in cost.lines] == ["driver"] + ["worker"] * 4
    # Plain numbers as a sanity anchor for a reader: 5 x 0.192 $/h x 1.5 h.
    assert cost.compute_cost == pytest.approx(1.44)


def test_autoscaling_with_resizes_and_photon_spot_workers() -> None:
    # Driver on-demand for 60 min; two spot workers all along; two more added at
    # minute 20 (upsize) and removed at minute 50 (downsize).
    nodes = [node("r5.2xlarge", 0, 60, driver=True)]
    nodes += [node("r5.2xlarge", 0, 60, spot_=True) for _ in range(2)]
    nodes += [node("r5.2xlarge", 20, 50, spot_=True) for _ in range(2)]
    cost = cost_run(ClusterUsage("aws", "us-west-2", "enterprise", "jobs_photon", nodes), load_catalog())

    node_hours = 1.0 + 2 * 1.0 + 2 * 0.5
    exp_dbus = dbus("aws", "r5.2xlarge") * node_hours * multiplier("aws", "jobs_photon")
    exp_dbu_cost = exp_dbus * rate("aws", "enterprise", "jobs_photon")
    p = price("aws", "us-west-2", "r5.2xlarge")
    spot_price = p * (1 - spot("aws", family("aws", "r5.2xlarge")))
    exp_compute = p * 1.0 + spot_price * 3.0
    assert cost.dbus == pytest.approx(exp_dbus)
    assert cost.dbu_cost == pytest.approx(exp_dbu_cost)
    assert cost.compute_cost == pytest.approx(exp_compute)
    # No spec volumes: only Databricks' default ones, on each node for its hours.
    assert cost.storage_cost == pytest.approx(root_per_hour("us-west-2", T0) * node_hours)
    assert cost.cost_per_input_gb is None


def test_spot_loss_and_replacement_with_gp2_and_gp3_extras() -> None:
    vols = [{"type": "gp2", "size_gb": 50, "count": 2}]
    gp3_fast = [{"type": "gp3", "size_gb": 200, "count": 1, "iops": 6000, "throughput": 250}]
    nodes = [
        node("i3.xlarge", 0, 60, driver=True, volumes=gp3_fast),
        node("i3.xlarge", 0, 60, spot_=True, volumes=vols),
        node("i3.xlarge", 0, 30, spot_=True, volumes=vols),  # lost to a spot interruption at minute 30
        node("i3.xlarge", 36, 60, spot_=True, volumes=vols),  # its replacement, up from minute 36
    ]
    cost = cost_run(ClusterUsage("aws", "eu-west-1", "standard", "jobs", nodes), load_catalog())

    hpm = month_hours(T0)  # June 2025's 720 hours: AWS prorates a GB-month over the run's month
    p = price("aws", "eu-west-1", "i3.xlarge")
    sp = p * (1 - spot("aws", "i3"))
    worker_hours = 1.0 + 0.5 + 0.4
    exp_compute = p * 1.0 + sp * worker_hours
    exp_dbus = dbus("aws", "i3.xlarge") * (1.0 + worker_hours)
    g = gb_month("aws", "eu-west-1", "gp3")
    # gp3 extras: IOPS and throughput above the included 3000 / 125 are charged per month.
    from tests.costing.catalog_entries import entry

    e = entry("storage_prices.json", cloud="aws", region="eu-west-1", volume_type="gp3")
    gp3_month = 200 * g + (6000 - 3000) * e["usd_per_iops_month"] + (250 - 125) * e["usd_per_mibps_month"]
    gp2_month = 2 * 50 * gb_month("aws", "eu-west-1", "gp2")
    exp_storage = gp3_month * 1.0 / hpm + gp2_month * worker_hours / hpm
    exp_storage += root_per_hour("eu-west-1", T0) * (1.0 + worker_hours)  # default volumes, every node
    assert cost.compute_cost == pytest.approx(exp_compute)
    assert cost.dbus == pytest.approx(exp_dbus)
    assert cost.dbu_cost == pytest.approx(exp_dbus * rate("aws", "standard", "jobs"))
    assert cost.storage_cost == pytest.approx(exp_storage)
    assert cost.lines[2].hours == pytest.approx(0.5)


def test_azure_cluster() -> None:
    nodes = [node("Standard_D8s_v5", 0, 45, driver=True)] + [node("Standard_E16ds_v5", 0, 45) for _ in range(3)]
    cost = cost_run(ClusterUsage("azure", "westeurope", "premium", "jobs", nodes), load_catalog())
    h = 0.75
    exp_compute = (price("azure", "westeurope", "Standard_D8s_v5") + 3 * price("azure", "westeurope",
                                                                                  "Standard_E16ds_v5")) * h
    exp_dbus = (dbus("azure", "Standard_D8s_v5") + 3 * dbus("azure", "Standard_E16ds_v5")) * h
    assert cost.compute_cost == pytest.approx(exp_compute)
    assert cost.dbu_cost == pytest.approx(exp_dbus * rate("azure", "premium", "jobs"))


def test_hourly_cost_of_a_configuration_matches_hand_computation() -> None:
    cfg = ClusterConfig(node_type_id="m6id.2xlarge", driver_node_type_id="m6i.xlarge", num_workers=6,
                        availability="SPOT_WITH_FALLBACK", first_on_demand=3,
                        ebs_volume_type="GENERAL_PURPOSE_SSD", ebs_volume_count=1, ebs_volume_size_gb=100)
    got = hourly_cost(cfg, "aws", "us-east-1", "premium", "jobs", load_catalog())
    r = rate("aws", "premium", "jobs")
    disk = 100 * gb_month("aws", "us-east-1", "gp2") / hours_per_month()  # GENERAL_PURPOSE_SSD is gp2 (API docs)
    disk += root_per_hour("us-east-1")  # and every node's default volumes
    driver = price("aws", "us-east-1", "m6i.xlarge") + dbus("aws", "m6i.xlarge") * r + disk
    w_od = price("aws", "us-east-1", "m6id.2xlarge")
    w_spot = w_od * (1 - spot("aws", "m6id"))
    w_dbu = dbus("aws", "m6id.2xlarge") * r
    # first_on_demand=3: driver + 2 workers on-demand, 4 workers spot.
    expected = driver + 2 * (w_od + w_dbu + disk) + 4 * (w_spot + w_dbu + disk)
    assert got == pytest.approx(expected)

    autoscaling = ClusterConfig(node_type_id="c5.4xlarge", autoscale_min=2, autoscale_max=5, availability="ON_DEMAND")
    got = hourly_cost(autoscaling, "aws", "us-east-1", "premium", "jobs", load_catalog())
    one = price("aws", "us-east-1", "c5.4xlarge") + dbus("aws", "c5.4xlarge") * r + root_per_hour("us-east-1")
    assert got == pytest.approx(one * (1 + 3.5))

    # first_on_demand unset (0) reads as Databricks' default of 1: on-demand driver, spot workers.
    unset = ClusterConfig(node_type_id="r5.xlarge", num_workers=2, availability="SPOT")
    got = hourly_cost(unset, "aws", "us-east-1", "premium", "jobs", load_catalog())
    od, w_dbu = price("aws", "us-east-1", "r5.xlarge"), dbus("aws", "r5.xlarge") * r
    root = root_per_hour("us-east-1")
    assert got == pytest.approx(od + w_dbu + root + 2 * (od * (1 - spot("aws", "r5")) + w_dbu + root))


def test_unknown_node_type_region_and_plan_are_errors_naming_them() -> None:
    cat = load_catalog()
    with pytest.raises(UnknownNodeType, match="m99.huge"):
        cost_run(ClusterUsage("aws", "us-east-1", "premium", "jobs", [node("m99.huge", 0, 10, driver=True)]), cat)
    with pytest.raises(UnknownRegion, match="mars-north-1"):
        cost_run(ClusterUsage("aws", "mars-north-1", "premium", "jobs", [node("m5.xlarge", 0, 10, driver=True)]),
                 cat)
    with pytest.raises(UnknownPlan, match="enterprise"):
        cost_run(ClusterUsage("azure", "eastus", "enterprise", "jobs",
                              [node("Standard_D4s_v5", 0, 10, driver=True)]), cat)
    with pytest.raises(UnknownNodeType, match="m5.xlarge"):  # an AWS type on Azure
        cost_run(ClusterUsage("azure", "eastus", "premium", "jobs", [node("m5.xlarge", 0, 10, driver=True)]), cat)
    with pytest.raises(TrimtabCostError, match="ends before it starts"):
        cost_run(ClusterUsage("aws", "us-east-1", "premium", "jobs", [node("m5.xlarge", 10, 5, driver=True)]), cat)
    with pytest.raises(TrimtabCostError, match="io9"):
        cost_run(ClusterUsage("aws", "us-east-1", "premium", "jobs",
                              [node("m5.xlarge", 0, 5, driver=True, volumes=[{"type": "io9", "size_gb": 1}])]), cat)


def test_databricks_default_volumes_are_priced_on_every_aws_node() -> None:
    # Driver + 2 on-demand m5.xlarge workers, no spec volumes, us-east-1; one worker leaves at minute 30.
    nodes = [node("m5.xlarge", 0, 60, driver=True), node("m5.xlarge", 0, 60), node("m5.xlarge", 0, 30)]
    cost = cost_run(ClusterUsage("aws", "us-east-1", "premium", "jobs", nodes), load_catalog())
    # Each node has Databricks' 30 GB instance root + 150 GB container root volumes, priced as gp2
    # ($0.10/GB-month in us-east-1) over June 2025's 720 hours: 180 x 0.10 / 720 = $0.025 per node-hour.
    # Node-hours 1 + 1 + 0.5 = 2.5, so $0.0625; compute is 2.5 x $0.192 = $0.48.
    assert cost.storage_cost == pytest.approx(0.0625, abs=1e-7)
    assert [line.storage_cost for line in cost.lines] == pytest.approx([0.025, 0.025, 0.0125], abs=1e-7)
    assert cost.compute_cost == pytest.approx(0.48)
    assert cost.cloud_cost == pytest.approx(0.48 + 0.0625, abs=1e-7)

    # Azure: the OS disk has no documented size, so it stays unpriced.
    azure = cost_run(ClusterUsage("azure", "eastus", "premium", "jobs", [node("Standard_D4s_v5", 0, 60, driver=True)]),
                     load_catalog())
    assert azure.storage_cost == 0


def test_a_catalog_without_gp2_names_the_default_volumes() -> None:
    cat = load_catalog()
    entries = dict(cat.entries)
    entries["storage_prices"] = tuple(e for e in cat.entries["storage_prices"]
                                      if not (e["region"] == "us-east-1" and e["volume_type"] == "gp2"))
    no_gp2 = PriceCatalog(cat.version, cat.currency, cat.hours_per_month, entries)
    with pytest.raises(TrimtabCostError, match=r"default volumes on every aws node \(30 GB .*150 GB.*gp2"):
        cost_run(ClusterUsage("aws", "us-east-1", "premium", "jobs", [node("m5.xlarge", 0, 60, driver=True)]),
                 no_gp2)
