"""EBS advice is written as it is priced, and only as Databricks accepts it (`server.spec.ebs_overlay`)."""

from __future__ import annotations

import pytest

from server.costing.catalog import load_catalog
from server.domain import ClusterConfig, Run, Stage
from server.plan.storage import advise, disk_use, volumes_of
from server.spec import ebs_size_problem, recommendation_overlay

GB = 10**9


def _advised(node_type: str, spill_gb: float, **volumes: object) -> tuple[ClusterConfig, object]:
    config = ClusterConfig(**{"node_type_id": node_type, "num_workers": 4, "availability": "ON_DEMAND",
                              **volumes})  # type: ignore[arg-type]
    use = disk_use(Run(project_id=1, databricks_run_id=1, config=config),
                   [Stage("a", 1, metrics={"disk_bytes_spilled": int(spill_gb * GB)})])
    assert use is not None
    return advise(config, [use], 3600.0, load_catalog(), cloud="aws", region="us-east-1")


def test_gp3_advice_writes_the_iops_and_throughput_it_was_priced_at() -> None:
    new, advice = _advised("m5.2xlarge", 200, ebs_volume_type="GENERAL_PURPOSE_SSD", ebs_volume_count=3,
                           ebs_volume_size_gb=1000)
    assert advice is not None and advice.changed  # type: ignore[attr-defined]
    attrs = recommendation_overlay(new, azure=False)["aws_attributes"]
    assert attrs["ebs_volume_type"] == "GENERAL_PURPOSE_SSD"
    # 3x gp2 1000 GB per node give 3 x 3000 IOPS and 3 x 250 MiB/s; one gp3 matches them.
    assert (attrs["ebs_volume_iops"], attrs["ebs_volume_throughput"]) == (9000, 750)
    assert ebs_size_problem(attrs["ebs_volume_type"], attrs["ebs_volume_size"]) is None


def test_advice_to_drop_the_volumes_writes_count_zero_on_a_type_with_local_disks() -> None:
    # m5d.2xlarge has local NVMe: 1 GB of spill fits there, the EBS volumes only cost.
    new, advice = _advised("m5d.2xlarge", 1, ebs_volume_type="GENERAL_PURPOSE_SSD", ebs_volume_count=2,
                           ebs_volume_size_gb=500)
    assert advice is not None and advice.changed and advice.volumes is None  # type: ignore[attr-defined]
    assert recommendation_overlay(new, azure=False)["aws_attributes"]["ebs_volume_count"] == 0


def test_no_advice_drops_the_volumes_of_a_type_without_local_disks() -> None:
    # Databricks refuses a cluster of an EBS-only type with no EBS volume.
    config = ClusterConfig(node_type_id="m5.2xlarge", num_workers=4, ebs_volume_type="GENERAL_PURPOSE_SSD",
                           ebs_volume_count=1, ebs_volume_size_gb=100)
    new, advice = advise(config, [disk_use(Run(project_id=1, databricks_run_id=1, config=config), [])],  # type: ignore[list-item]
                         3600.0, load_catalog(), cloud="aws", region="us-east-1")
    assert advice is None and new == config
    assert recommendation_overlay(new, azure=False)["aws_attributes"]["ebs_volume_count"] == 1


@pytest.mark.parametrize(("vtype", "size", "ok"), [
    ("GENERAL_PURPOSE_SSD", 100, True), ("GENERAL_PURPOSE_SSD", 4096, True), ("GENERAL_PURPOSE_SSD", 99, False),
    ("GENERAL_PURPOSE_SSD", 0, False), ("GENERAL_PURPOSE_SSD", 4097, False),
    ("THROUGHPUT_OPTIMIZED_HDD", 500, True), ("THROUGHPUT_OPTIMIZED_HDD", 499, False), ("gp3", 200, False)])
def test_ebs_size_ranges_are_databricks(vtype: str, size: int, ok: bool) -> None:
    assert (ebs_size_problem(vtype, size) is None) is ok


def test_the_overlay_never_writes_a_size_out_of_range() -> None:
    # A count with no size (read as 0): the size is left to Databricks' default, never written as 0.
    unset = ClusterConfig(node_type_id="m5.xlarge", num_workers=2, ebs_volume_type="GENERAL_PURPOSE_SSD",
                          ebs_volume_count=1)
    assert recommendation_overlay(unset, azure=False)["aws_attributes"] == {
        "ebs_volume_type": "GENERAL_PURPOSE_SSD", "ebs_volume_count": 1}
    # 200 GiB is too small for throughput-optimised HDD: the volumes are not written at all.
    small_hdd = ClusterConfig(node_type_id="m5.xlarge", num_workers=2, ebs_volume_type="THROUGHPUT_OPTIMIZED_HDD",
                              ebs_volume_count=1, ebs_volume_size_gb=200)
    assert "aws_attributes" not in recommendation_overlay(small_hdd, azure=False)


def test_a_live_gp3_keeps_its_own_iops_and_throughput_through_the_plan() -> None:
    # A gp3 bought at 6000 IOPS / 500 MiB/s: `volumes_of` read it as a baseline 3000 / 125 one, so
    # the plan's advice cut its speed to that and called the extras it no longer priced a saving.
    live = {"ebs_volume_type": "GENERAL_PURPOSE_SSD", "ebs_volume_iops": 6000, "ebs_volume_throughput": 500}
    config = ClusterConfig(node_type_id="m5.2xlarge", num_workers=4, availability="ON_DEMAND",
                           ebs_volume_type="GENERAL_PURPOSE_SSD", ebs_volume_count=1, ebs_volume_size_gb=1000)
    (volume,) = volumes_of(config, live)
    assert (volume.type, volume.iops, volume.throughput) == ("gp3", 6000, 500)
    use = disk_use(Run(project_id=1, databricks_run_id=1, config=config),
                   [Stage("a", 1, metrics={"disk_bytes_spilled": 200 * GB})])
    assert use is not None
    new, advice = advise(config, [use], 3600.0, load_catalog(), cloud="aws", region="us-east-1", live_attrs=live)
    attrs = recommendation_overlay(new, azure=False)["aws_attributes"]
    # Shrunk to 100 GB (75 GB needed) at the speed it has, not cut to 3000 / 125.
    assert (attrs["ebs_volume_size"], attrs["ebs_volume_iops"], attrs["ebs_volume_throughput"]) == (100, 6000, 500)
    # The current volume priced with its extras: 1000 GB x 0.08 + 3000 IOPS x 0.005 + 375 MiB/s x 0.04
    # a month (us-east-1) = 80 + 15 + 15 = 110 USD per 730 h, for 1 h x 5 nodes x 30 runs = 150 h.
    assert advice is not None and advice.current_monthly_cost == pytest.approx(110 * 150 / 730)  # type: ignore[attr-defined]
