"""Review 14: the EBS advice moved large gp2 volumes to gp3 at its included 3000 IOPS and 125 MiB/s,
claiming "at least the same baseline speed", and read a 1.5 headroom factor as "150% headroom".

gp2's speed (AWS EC2 user guide, gp2 volumes): 3 IOPS per GiB (100 to 16000), 250 MiB/s above
170 GiB (bursting up to 334 GiB, always from 334 GiB), 128 MiB/s at most below; the advice matches it
(taking gp3's 125 MiB/s for 170 GiB and less). Prices by hand from storage_prices.json, in USD per
month of 730 h: us-east-1 gp2 0.10/GB; gp3 0.08/GB, 0.005 per IOPS over 3000, 0.04 per MiB/s over
125; eu-west-1 gp2 0.11/GB; gp3 0.088/GB, 0.0055 per IOPS, 0.044 per MiB/s.
"""

from __future__ import annotations

import pytest

from server.costing.catalog import load_catalog
from server.costing.ebs import DiskUse, StorageAdvice, VolumeSpec, gp2_speed, recommend_storage

GB = 10**9
MONTH = 730.0  # node-hours per month: one node all month, so the costs below are the catalog's $/month


def _advice(peak_gb: float, current: list[VolumeSpec], *, node_type: str = "m5.2xlarge",
            region: str = "us-east-1", node_hours: float = MONTH) -> StorageAdvice:
    runs = [DiskUse(spill_bytes=0, shuffle_write_bytes=0, workers=1, local_disk_peak_bytes=int(peak_gb * GB))]
    advice = recommend_storage(runs, current, node_type, load_catalog(), region=region,
                               node_hours_per_month=node_hours)
    assert advice is not None
    return advice


def test_gp2_speed_follows_aws_rules_at_the_edges() -> None:
    assert gp2_speed(10) == (100, 125)  # 30 IOPS by size, 100 the least
    assert gp2_speed(170) == (510, 125)  # 170 GiB and less: not the 250 MiB/s
    assert gp2_speed(171) == (513, 250)  # above 170 GiB: 250 MiB/s (while bursting until 334)
    assert gp2_speed(334) == (1002, 250)
    assert gp2_speed(6000) == (16000, 250)  # 18000 by size, 16000 the most


def test_reviewers_gp2_500_keeps_its_250_mibps() -> None:
    # The review's case: 8 workers each wrote 330 GB; 1x gp2 500 GB per node; 720 node-hours a month.
    runs = [DiskUse(spill_bytes=0, shuffle_write_bytes=8 * 330 * GB, workers=8)] * 3
    advice = recommend_storage(runs, [VolumeSpec("gp2", 1, 500)], "m5.2xlarge", load_catalog(),
                               region="us-east-1", node_hours_per_month=720)
    assert advice is not None and advice.changed
    # 330 x 1.5 = 495 GB -> 500 GB. gp2 500: 1500 IOPS, 250 MiB/s -> gp3 3000 IOPS (its least), 250 MiB/s.
    assert advice.volumes == VolumeSpec("gp3", 1, 500, 3000, 250)
    # gp2 50.00; gp3 500 x 0.08 + 125 x 0.04 = 45.00; over 720 of 730 h: 5 x 720 / 730 = 4.93 saved.
    assert advice.current_monthly_cost == pytest.approx(50 * 720 / 730)
    assert advice.recommended_monthly_cost == pytest.approx(45 * 720 / 730)
    assert advice.projected_monthly_saving == pytest.approx(4.93, abs=0.005)
    assert "495 GB covers it with 50% headroom" in advice.reason
    assert "150%" not in advice.reason and "same baseline speed" not in advice.reason
    assert "at least the 1500 IOPS and 250 MiB/s of 1x gp2 500 GB" in advice.reason
    assert advice.aws_attributes()["ebs_volume_throughput"] == 250


def test_reviewers_gp2_2000_gets_6000_iops_and_the_like_for_like_saving() -> None:
    runs = [DiskUse(spill_bytes=0, shuffle_write_bytes=8 * 1300 * GB, workers=8)]
    advice = recommend_storage(runs, [VolumeSpec("gp2", 1, 2000)], "m5.2xlarge", load_catalog(),
                               region="us-east-1", node_hours_per_month=720)
    assert advice is not None and advice.changed
    # 1300 x 1.5 = 1950 GB. gp2 2000: 6000 IOPS, 250 MiB/s.
    assert advice.volumes == VolumeSpec("gp3", 1, 1950, 6000, 250)
    # gp2 200.00; gp3 1950 x 0.08 + 3000 x 0.005 + 125 x 0.04 = 156 + 15 + 5 = 176.00;
    # (200 - 176) x 720 / 730 = 23.67 (the review's like-for-like figure), not 43.40.
    assert advice.projected_monthly_saving == pytest.approx(24 * 720 / 730)
    assert "saves 23.67 USD/month" in advice.reason


def test_gp2_stays_when_gp3_at_its_speed_costs_no_less() -> None:
    # 130 GB peak x 1.5 = 195 -> 200 GB, the size attached. gp2 200: 600 IOPS, 250 MiB/s, 20.00;
    # gp3 200 at 3000 IOPS, 250 MiB/s: 16 + 125 x 0.04 = 21.00, 1.00 more.
    advice = _advice(130, [VolumeSpec("gp2", 1, 200)])
    assert not advice.changed and advice.volumes == VolumeSpec("gp2", 1, 200)
    assert advice.projected_monthly_saving == 0
    assert advice.reason.endswith(
        "gp3 at 3000 IOPS and 250 MiB/s per volume (the speed of 1x gp2 200 GB) would cost 1.00 USD/month "
        "more than gp2, so gp2 stays; 1x gp2 200 GB kept"), advice.reason
    assert advice.aws_attributes() == {"ebs_volume_type": "GENERAL_PURPOSE_SSD", "ebs_volume_count": 1,
                                       "ebs_volume_size": 200}  # no IOPS: Databricks attaches gp2


def test_small_gp2_moves_to_gp3_at_its_included_speed() -> None:
    # 60 x 1.5 = 90 -> 100 GB. gp2 150: 450 IOPS, 170 GiB or less so 125 MiB/s: gp3's included 3000/125.
    advice = _advice(60, [VolumeSpec("gp2", 1, 150)])
    assert advice.volumes == VolumeSpec("gp3", 1, 100, 3000, 125)
    assert advice.projected_monthly_saving == pytest.approx(15 - 8)  # gp2 150 x 0.10; gp3 100 x 0.08


def test_shrunk_gp2_gets_gp3_at_the_old_speed_not_the_slower_small_gp2() -> None:
    # 60 x 1.5 -> 100 GB. gp2 300 gives 900 IOPS, 250 MiB/s; a gp2 100 would give 300 IOPS, 125 MiB/s
    # (slower, so not kept though 10.00 is cheaper). gp3 100 at 3000/250: 8 + 5 = 13.00; gp2 300 30.00.
    advice = _advice(60, [VolumeSpec("gp2", 1, 300)])
    assert advice.volumes == VolumeSpec("gp3", 1, 100, 3000, 250)
    assert advice.projected_monthly_saving == pytest.approx(30 - 13)


def test_several_gp2_volumes_are_matched_per_node() -> None:
    # 4x gp2 200 per node: 4 x 600 = 2400 IOPS, 4 x 250 = 1000 MiB/s; 60 x 1.5 -> one 100 GB gp3.
    # 1000 MiB/s needs 1000 / 0.25 = 4000 IOPS (AWS: at most 0.25 MiB/s per IOPS).
    # gp3: 8 + (4000 - 3000) x 0.005 + (1000 - 125) x 0.04 = 8 + 5 + 35 = 48.00; gp2 4 x 20 = 80.00.
    advice = _advice(60, [VolumeSpec("gp2", 4, 200)])
    assert advice.volumes == VolumeSpec("gp3", 1, 100, 4000, 1000)
    assert advice.projected_monthly_saving == pytest.approx(80 - 48)
    assert "at least the 2400 IOPS and 1000 MiB/s of 4x gp2 200 GB" in advice.reason


def test_more_speed_than_one_gp3_gives_takes_more_volumes() -> None:
    # 2x gp2 5000: 2 x 15000 = 30000 IOPS, 500 MiB/s; one gp3 gives 16000 IOPS at most, so two.
    # 400 x 1.5 = 600 GB over 2 -> 2x 300 GB at 15000 IOPS, 250 MiB/s each:
    # 2 x (24 + 12000 x 0.005 + 125 x 0.04) = 2 x 89 = 178.00; gp2 2 x 500 = 1000.00.
    advice = _advice(400, [VolumeSpec("gp2", 2, 5000)])
    assert advice.volumes == VolumeSpec("gp3", 2, 300, 15000, 250)
    assert advice.projected_monthly_saving == pytest.approx(1000 - 178)


def test_gp3_with_its_own_iops_is_not_cut_to_the_included_speed() -> None:
    # 330 x 1.5 = 495 -> 500 GB, the size attached: the same volumes, kept (it was advised down to
    # 3000/125 "saving" the 15 + 15 USD of its extra IOPS and throughput).
    advice = _advice(330, [VolumeSpec("gp3", 1, 500, 6000, 500)])
    assert not advice.changed and advice.volumes == VolumeSpec("gp3", 1, 500, 6000, 500)
    assert advice.current_monthly_cost == pytest.approx(40 + 15 + 15)


def test_the_extras_are_priced_from_the_regions_catalog() -> None:
    # eu-west-1: gp2 2000 x 0.11 = 220.00; gp3 1950 x 0.088 + 3000 x 0.0055 + 125 x 0.044
    # = 171.60 + 16.50 + 5.50 = 193.60; 26.40 saved.
    advice = _advice(1300, [VolumeSpec("gp2", 1, 2000)], region="eu-west-1")
    assert advice.volumes == VolumeSpec("gp3", 1, 1950, 6000, 250)
    assert advice.projected_monthly_saving == pytest.approx(220 - 193.6)


def test_local_storage_reason_says_50_percent_headroom() -> None:
    # r5d.2xlarge has 300 GB of NVMe; 100 x 1.5 = 150 GB fits.
    advice = _advice(100, [VolumeSpec("gp2", 1, 100)], node_type="r5d.2xlarge")
    assert advice.volumes is None and "enough with 50% headroom" in advice.reason
