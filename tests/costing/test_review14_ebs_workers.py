"""EBS advice is sized per node for the workers of the configuration advised, not the measured run's
(review rev14f): 200 GB of shuffle measured over 8 workers was advised as 100 GB a node for a 1-worker
cluster, which then writes all 200 GB on its one node."""

from __future__ import annotations

from typing import Any

import pytest

from server.costing.catalog import load_catalog
from server.costing.ebs import DiskUse, VolumeSpec, recommend_storage, typical_workers

GB = 1_000_000_000
GP2_2X500 = [VolumeSpec("gp2", 2, 500)]


def _advise(runs: list[DiskUse], current: list[VolumeSpec], node_type: str, workers: int | None,
            **kw: Any):
    advice = recommend_storage(runs, current, node_type, load_catalog(), region="us-east-1",
                               node_hours_per_month=100, workers=workers, **kw)
    assert advice is not None
    return advice


def test_the_reviews_case_one_worker_holds_all_the_shuffle_of_eight() -> None:
    # 200 GB written over 8 workers; advised for 1 worker: 200 GB on the node, x1.5 = 300 GB.
    use = DiskUse(spill_bytes=0, shuffle_write_bytes=200 * GB, workers=8)
    advice = _advise([use], GP2_2X500, "c6i.4xlarge", workers=1)
    assert advice.needed_gb_per_node == pytest.approx(300)
    # 2x gp2 500 GB give 2 x 1500 IOPS and 2 x 250 MiB/s: one gp3 of 300 GB at 3000 IOPS / 500 MiB/s.
    assert advice.volumes == VolumeSpec("gp3", 1, 300, 3000, 500)
    assert "200.0 GB on disk across the cluster" in advice.reason
    assert "200.0 GB per node over 1 worker;" in advice.reason
    assert "2x gp2 500 GB -> 1x gp3 300 GB" in advice.reason


@pytest.mark.parametrize(("workers", "needed", "size"), [
    (8, 37.5, 100),  # 25 GB a node, as measured; gp3's smallest size
    (4, 75.0, 100),  # 50 GB a node
    (2, 150.0, 150),  # 100 GB a node
])
def test_the_same_run_spreads_over_each_worker_count(workers: int, needed: float, size: int) -> None:
    use = DiskUse(spill_bytes=0, shuffle_write_bytes=200 * GB, workers=8)
    advice = _advise([use], GP2_2X500, "c6i.4xlarge", workers=workers)
    assert advice.needed_gb_per_node == pytest.approx(needed)
    assert advice.volumes is not None and (advice.volumes.count, advice.volumes.size_gb) == (1, size)


def test_more_workers_than_measured_need_less_each_the_demos_rec_9() -> None:
    # The demo: 80.5 GB written on 1 worker; the advice for 5 workers said "short of the 121 GB
    # needed ... -> 130 GB". Spread over 5: 16.1 GB a node, 24.15 GB with headroom: gp3's 100 GB.
    use = DiskUse(spill_bytes=500_000_000, shuffle_write_bytes=80 * GB, workers=1)
    advice = _advise([use], [VolumeSpec("gp3", 1, 130, 3000, 125)], "m5.2xlarge", workers=5)
    assert advice.needed_gb_per_node == pytest.approx(80.5 / 5 * 1.5)
    assert advice.volumes == VolumeSpec("gp3", 1, 100, 3000, 125)
    assert advice.changed and advice.projected_monthly_saving > 0
    assert "16.1 GB per node over 5 workers; 24 GB covers it with 50% headroom" in advice.reason


def test_a_measured_local_disk_peak_counts_times_the_measured_workers() -> None:
    # 30 GB a node measured on 4 workers is 120 GB over the cluster (more than the 10 GB of shuffle).
    use = DiskUse(spill_bytes=0, shuffle_write_bytes=10 * GB, workers=4, local_disk_peak_bytes=30 * GB)
    assert use.cluster_bytes() == 120 * GB
    assert use.per_node_bytes() == 30 * GB  # on the measured workers: as before
    assert use.per_node_bytes(1) == 120 * GB
    advice = _advise([use], [], "m5.2xlarge", workers=1)
    assert advice.needed_gb_per_node == pytest.approx(180)
    assert advice.volumes == VolumeSpec("gp3", 1, 180, 3000, 125)


def test_the_largest_run_over_the_advised_workers_sets_the_size() -> None:
    # 200 GB over 8 workers, and a 150 GB-a-node peak over 2 (300 GB): on 4 workers the second needs
    # 75 GB a node, 112.5 with headroom -> 120 GB. Per measured node (the old rule) it read 150 GB.
    runs = [DiskUse(spill_bytes=0, shuffle_write_bytes=200 * GB, workers=8),
            DiskUse(spill_bytes=0, shuffle_write_bytes=0, workers=2, local_disk_peak_bytes=150 * GB)]
    advice = _advise(runs, [], "m5.2xlarge", workers=4)
    assert advice.needed_gb_per_node == pytest.approx(112.5)
    assert advice.volumes == VolumeSpec("gp3", 1, 120, 3000, 125)
    assert "300.0 GB on disk across the cluster (largest of 2 runs), 75.0 GB per node over 4 workers" \
        in advice.reason


def test_local_storage_is_judged_for_the_advised_workers() -> None:
    # m5d.2xlarge has 300 GB of NVMe. 1200 GB over 8 workers is 150 GB a node (225 with headroom): the
    # EBS volumes can go. On 2 workers it is 600 GB a node (900): they cannot.
    use = DiskUse(spill_bytes=0, shuffle_write_bytes=1200 * GB, workers=8)
    same = _advise([use], GP2_2X500, "m5d.2xlarge", workers=8)
    assert same.volumes is None and "can go" in same.reason
    fewer = _advise([use], GP2_2X500, "m5d.2xlarge", workers=2)
    assert fewer.needed_gb_per_node == pytest.approx(900)
    assert fewer.volumes == VolumeSpec("gp3", 1, 900, 3000, 500)
    assert "can go" not in fewer.reason


def test_headroom_applies_to_the_spread_bytes() -> None:
    use = DiskUse(spill_bytes=150 * GB, shuffle_write_bytes=450 * GB, workers=6)  # 600 GB, 200 a node on 3
    advice = _advise([use], [VolumeSpec("gp3", 1, 1000, 3000, 125)], "m5.2xlarge", workers=3, headroom=2.0)
    assert advice.needed_gb_per_node == pytest.approx(400)
    assert advice.volumes == VolumeSpec("gp3", 1, 400, 3000, 125)
    assert "400 GB covers it with 100% headroom" in advice.reason


def test_no_workers_is_refused_with_a_clear_message() -> None:
    use = DiskUse(spill_bytes=0, shuffle_write_bytes=GB, workers=2)
    with pytest.raises(ValueError, match="workers must be at least 1"):
        use.per_node_bytes(0)
    with pytest.raises(ValueError, match="workers must be at least 1 to size disks per node, got 0"):
        recommend_storage([use], [], "m5.2xlarge", load_catalog(), region="us-east-1", node_hours_per_month=1,
                          workers=0)


# rev14h: an autoscaling configuration was sized for its minimum workers (and priced over its maximum).
ON_2_40 = DiskUse(spill_bytes=0, shuffle_write_bytes=10_000 * GB, workers=40, autoscale_min=2, attached_gb=1000)


def test_runs_on_the_advised_range_count_what_they_measured_per_node() -> None:
    # 10 TB written on 2..40 workers: 10000 / 40 = 250 GB a node, 375 with headroom -> 1x gp3 380 GB
    # at the 3000 IOPS / 500 MiB/s of 2x gp2 500 GB (it read 5000 GB a node on 2 workers: 2x 3750 GB).
    advice = _advise([ON_2_40], GP2_2X500, "m5.2xlarge", workers=None, autoscale=(2, 40))
    assert advice.needed_gb_per_node == pytest.approx(375)
    assert advice.volumes == VolumeSpec("gp3", 1, 380, 3000, 500)
    assert "runs on 2-40 workers put up to 250.0 GB per node on disk (one run);" in advice.reason
    assert "375 GB covers it with 50% headroom" in advice.reason


@pytest.mark.parametrize("measured", [
    DiskUse(spill_bytes=0, shuffle_write_bytes=10_000 * GB, workers=8),  # a fixed 8 workers
    DiskUse(spill_bytes=0, shuffle_write_bytes=10_000 * GB, workers=8, autoscale_min=2),  # 2..8
    DiskUse(spill_bytes=0, shuffle_write_bytes=10_000 * GB, workers=40, autoscale_min=4),  # 4..40
])
def test_runs_on_another_size_spread_over_the_ranges_geometric_mean(measured: DiskUse) -> None:
    # 2..40 is modelled at sqrt(2 x 40) = 8.944 workers: 10000 / 8.944 = 1118.0 GB a node,
    # 1677.1 with headroom -> one gp3 of 1680 GB (not 5000 GB a node on the minimum's 2 workers).
    assert typical_workers(2, 40) == pytest.approx(80 ** 0.5)
    advice = _advise([measured], GP2_2X500, "m5.2xlarge", workers=None, autoscale=(2, 40))
    assert advice.needed_gb_per_node == pytest.approx(10_000 / 80 ** 0.5 * 1.5)
    assert advice.volumes == VolumeSpec("gp3", 1, 1680, 3000, 500)
    assert ("1118.0 GB per node over 8.9 workers (the geometric mean of 2-40 workers, its typical size)"
            in advice.reason)


def test_runs_on_the_range_and_off_it_each_count_their_own_way() -> None:
    # 250 GB a node measured on 2..40; 4000 GB on a fixed 4 is 4000 / 8.944 = 447.2 GB a node on
    # 2..40, the larger: 670.8 GB with headroom -> 680 GB.
    other = DiskUse(spill_bytes=0, shuffle_write_bytes=4000 * GB, workers=4)
    advice = _advise([ON_2_40, other], GP2_2X500, "m5.2xlarge", workers=None, autoscale=(2, 40))
    assert advice.needed_gb_per_node == pytest.approx(4000 / 80 ** 0.5 * 1.5)
    assert advice.volumes == VolumeSpec("gp3", 1, 680, 3000, 500)
    assert "447.2 GB per node (2-40 workers runs as measured per node, others over 8.9 workers" in advice.reason


def test_volumes_runs_on_the_range_succeeded_with_are_not_short() -> None:
    # 300 GB a node held the runs on 2..40 (250 GB a node): headroom asks 375, but not as "short".
    held = DiskUse(spill_bytes=0, shuffle_write_bytes=10_000 * GB, workers=40, autoscale_min=2, attached_gb=300)
    current = [VolumeSpec("gp2", 2, 150)]
    advice = _advise([held], current, "m5.2xlarge", workers=None, autoscale=(2, 40))
    assert advice.volumes is not None and (advice.volumes.count, advice.volumes.size_gb) == (1, 380)
    assert "attached 300 GB held the runs on 2-40 workers; 375 GB gives 50% headroom;" in advice.reason
    assert "short" not in advice.reason
    # Unknown volumes (attached_gb 0), or more than now attached, held nothing known: short.
    for attached in (0, 400):
        unknown = DiskUse(spill_bytes=0, shuffle_write_bytes=10_000 * GB, workers=40, autoscale_min=2,
                          attached_gb=attached)
        advice = _advise([unknown], current, "m5.2xlarge", workers=None, autoscale=(2, 40))
        assert "attached 300 GB is short of the 375 GB needed" in advice.reason


def test_a_range_and_a_worker_count_together_or_a_bad_range_are_refused() -> None:
    with pytest.raises(ValueError, match=r"give the advised workers \(4\) or its autoscale range \(\(2, 40\)\)"):
        _advise([ON_2_40], [], "m5.2xlarge", workers=4, autoscale=(2, 40))
    with pytest.raises(ValueError, match="an autoscaling range needs 0 <= min <= max and max >= 1, got 5..3"):
        typical_workers(5, 3)
