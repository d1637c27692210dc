"""EBS advice: gp3 over gp2, sized from the runs' disk use, with a saving checked by hand."""

from __future__ import annotations

import pytest

from server.costing.catalog import load_catalog
from server.costing.ebs import DiskUse, VolumeSpec, recommend_storage
from server.costing.errors import UnknownNodeType
from tests.costing.catalog_entries import gb_month, hours_per_month

GB = 10**9
NODE_HOURS = 2_000.0  # per month


def test_oversized_gp2_becomes_a_smaller_gp3_with_the_saving_computed_by_hand() -> None:
    runs = [DiskUse(spill_bytes=20 * GB, shuffle_write_bytes=60 * GB, workers=8),  # 10 GB per node
            DiskUse(spill_bytes=0, shuffle_write_bytes=40 * GB, workers=8, local_disk_peak_bytes=45 * GB)]
    current = [VolumeSpec("gp2", 2, 500)]
    advice = recommend_storage(runs, current, "m5.xlarge", load_catalog(), region="us-east-1",
                               node_hours_per_month=NODE_HOURS)
    assert advice is not None and advice.changed
    assert advice.needed_gb_per_node == pytest.approx(45 * 1.5)
    # 67.5 GB rounds up to the 100 GB minimum. Each gp2 500 GB gives 1500 IOPS and 250 MiB/s (over 170
    # GiB), so the node has 3000 IOPS and 500 MiB/s; one gp3 gives that at 3000 IOPS and 500 MiB/s.
    assert advice.volumes == VolumeSpec("gp3", 1, 100, 3000, 500)
    per_month = NODE_HOURS / hours_per_month()
    current_cost = 2 * 500 * gb_month("aws", "us-east-1", "gp2") * per_month
    # us-east-1 gp3: 100 GB x 0.08 + (500 - 125) MiB/s x 0.04 = 8 + 15 = 23 USD/month at 730 h.
    new_cost = (100 * gb_month("aws", "us-east-1", "gp3") + (500 - 125) * 0.04) * per_month
    assert advice.projected_monthly_saving == pytest.approx(current_cost - new_cost)
    assert advice.projected_monthly_saving == pytest.approx((100 - 23) * NODE_HOURS / 730)
    assert "at least the 3000 IOPS and 500 MiB/s of 2x gp2 500 GB" in advice.reason and "saves" in advice.reason
    assert advice.aws_attributes() == {"ebs_volume_type": "GENERAL_PURPOSE_SSD", "ebs_volume_count": 1,
                                       "ebs_volume_size": 100, "ebs_volume_iops": 3000,
                                       "ebs_volume_throughput": 500}


def test_disk_heavy_project_gets_more_disk_even_if_it_costs_more() -> None:
    runs = [DiskUse(spill_bytes=2_000 * GB, shuffle_write_bytes=1_000 * GB, workers=4)]  # 750 GB per node
    advice = recommend_storage(runs, [VolumeSpec("gp3", 1, 100)], "r5.2xlarge", load_catalog(),
                               region="us-west-2", node_hours_per_month=NODE_HOURS)
    assert advice is not None
    assert advice.volumes == VolumeSpec("gp3", 1, 1130, 3000, 125)  # 1125 GB rounded up to 10 GB
    assert advice.projected_monthly_saving < 0
    assert "short of the 1125 GB needed" in advice.reason and "costs" in advice.reason


def test_very_large_scratch_is_spread_over_several_volumes() -> None:
    runs = [DiskUse(spill_bytes=0, shuffle_write_bytes=0, workers=1, local_disk_peak_bytes=6_000 * GB)]
    advice = recommend_storage(runs, [], "c6i.4xlarge", load_catalog(), region="us-east-1",
                               node_hours_per_month=NODE_HOURS)
    assert advice is not None and advice.volumes is not None
    assert advice.volumes.count == 3 and advice.volumes.size_gb == 3000  # 9000 GB / 3, each under 4096


def test_local_nvme_that_fits_the_scratch_drops_the_ebs_volumes() -> None:
    runs = [DiskUse(spill_bytes=100 * GB, shuffle_write_bytes=200 * GB, workers=4)]  # 75 GB/node, 112.5 needed
    advice = recommend_storage(runs, [VolumeSpec("gp2", 1, 100)], "r5d.2xlarge", load_catalog(),
                               region="us-east-1", node_hours_per_month=NODE_HOURS)
    assert advice is not None and advice.volumes is None and advice.changed
    assert advice.projected_monthly_saving == pytest.approx(
        100 * gb_month("aws", "us-east-1", "gp2") * NODE_HOURS / hours_per_month())
    assert advice.aws_attributes() == {"ebs_volume_count": 0}
    assert "300 GB local storage" in advice.reason


def test_right_sized_gp3_is_left_alone_and_other_cases() -> None:
    runs = [DiskUse(spill_bytes=0, shuffle_write_bytes=40 * GB, workers=1)]
    advice = recommend_storage(runs, [VolumeSpec("gp3", 1, 100, 3000, 125)], "m5.xlarge", load_catalog(),
                               region="us-east-1", node_hours_per_month=NODE_HOURS)
    assert advice is not None and not advice.changed and advice.projected_monthly_saving == 0
    assert recommend_storage(runs, [], "Standard_D4s_v5", load_catalog(), region="eastus", cloud="azure",
                             node_hours_per_month=NODE_HOURS) is None
    assert recommend_storage([], [], "m5.xlarge", load_catalog(), region="us-east-1",
                             node_hours_per_month=NODE_HOURS) is None
    with pytest.raises(UnknownNodeType, match="x9.mega"):
        recommend_storage(runs, [], "x9.mega", load_catalog(), region="us-east-1", node_hours_per_month=1)


def test_gp3_written_without_iops_is_its_baseline_not_a_change() -> None:
    # Review: a gp3 volume given without IOPS/throughput read "1x gp3 100 GB -> 1x gp3 100 GB (saves
    # 0.00 USD/month)" as advice; gp3 without them gets 3000 IOPS and 125 MB/s.
    runs = [DiskUse(spill_bytes=0, shuffle_write_bytes=40 * GB, workers=1)]
    advice = recommend_storage(runs, [VolumeSpec("gp3", 1, 100)], "m5.xlarge", load_catalog(),
                               region="us-east-1", node_hours_per_month=NODE_HOURS)
    assert advice is not None and not advice.changed and "saves" not in advice.reason
    assert advice.reason.endswith("1x gp3 100 GB kept"), advice.reason
