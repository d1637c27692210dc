"""Run collection's node timeline and usage from a spec and its cluster events (pure)."""

from __future__ import annotations

import pytest

from server.collect.usage import cluster_timeline, cluster_usage, ebs_volumes
from server.costing.catalog import load_catalog
from server.costing.run_cost import cost_run
from tests.costing.catalog_entries import dbus, price, rate, root_per_hour

S = 1_000
T0 = 1_750_000_000_000


def ev(kind: str, at_s: float, **details: object) -> dict:
    return {"type": kind, "timestamp": int(T0 + at_s * S), "details": details}


def worker_seconds(timeline) -> float:  # type: ignore[no-untyped-def]
    return sum((n.end_ms - n.start_ms) / S for n in timeline.nodes if not n.is_driver)


AUTOSCALING = {"node_type_id": "m5.xlarge", "autoscale": {"min_workers": 2, "max_workers": 8},
               "aws_attributes": {"availability": "ON_DEMAND"}}


def test_an_upsize_is_counted_from_the_resizing_that_asked_for_it() -> None:
    events = [ev("CREATING", 0), ev("RUNNING", 0, current_num_workers=2),
              ev("RESIZING", 600, current_num_workers=2, target_num_workers=8, cause="AUTOSCALE"),
              ev("AUTOSCALING_STATS_REPORT", 700, current_num_workers=2),  # does not see the new nodes yet
              ev("UPSIZE_COMPLETED", 900, current_num_workers=8, target_num_workers=8),
              ev("TERMINATING", 1800)]
    tl = cluster_timeline(AUTOSCALING, events, fallback_start_ms=T0, fallback_end_ms=T0)
    # 2 workers for 1800 s, 6 more from the request at 600 s (not from completion at 900 s).
    assert worker_seconds(tl) == pytest.approx(2 * 1800 + 6 * 1200)
    assert tl.max_workers_seen == 8


def test_an_upsize_under_way_at_termination_is_not_counted() -> None:
    # No count showed the six nodes arrive: as workers still joining at RUNNING, none is billed
    # (they were, from the request to the end, until revC's F4).
    events = [ev("CREATING", 0), ev("RUNNING", 0, current_num_workers=2),
              ev("RESIZING", 600, current_num_workers=2, target_num_workers=8), ev("TERMINATING", 900)]
    tl = cluster_timeline(AUTOSCALING, events, fallback_start_ms=T0, fallback_end_ms=T0)
    assert worker_seconds(tl) == pytest.approx(2 * 900)


def test_an_upsize_that_got_fewer_nodes_bills_only_the_ones_that_came() -> None:
    events = [ev("CREATING", 0), ev("RUNNING", 0, current_num_workers=2),
              ev("RESIZING", 600, current_num_workers=2, target_num_workers=8),
              ev("UPSIZE_COMPLETED", 900, current_num_workers=5), ev("TERMINATING", 1800)]
    tl = cluster_timeline(AUTOSCALING, events, fallback_start_ms=T0, fallback_end_ms=T0)
    # The three that came from the request; the three that never did not at all (were 300 s each).
    assert worker_seconds(tl) == pytest.approx(2 * 1800 + 3 * 1200)


def test_a_downsize_still_releases_nodes_at_the_resizing() -> None:
    events = [ev("CREATING", 0), ev("RUNNING", 0, current_num_workers=4),
              ev("RESIZING", 600, current_num_workers=4, target_num_workers=2), ev("TERMINATING", 1200)]
    spec = {**AUTOSCALING, "autoscale": {"min_workers": 2, "max_workers": 4}}
    tl = cluster_timeline(spec, events, fallback_start_ms=T0, fallback_end_ms=T0)
    assert worker_seconds(tl) == pytest.approx(2 * 1200 + 2 * 600)


def test_the_example_upsize_costs_its_six_nodes_for_the_300_seconds_before_completion() -> None:
    events = [ev("CREATING", 0), ev("RUNNING", 0, current_num_workers=2),
              ev("RESIZING", 600, current_num_workers=2, target_num_workers=8),
              ev("UPSIZE_COMPLETED", 900, current_num_workers=8), ev("TERMINATING", 1800)]
    tl = cluster_timeline(AUTOSCALING, events, fallback_start_ms=T0, fallback_end_ms=T0)
    usage = cluster_usage(tl, AUTOSCALING, cloud="aws", region="us-east-1", plan="premium", input_bytes=None)
    cost = cost_run(usage, load_catalog()).total
    one_hour = price("aws", "us-east-1", "m5.xlarge") + dbus("aws", "m5.xlarge") * rate("aws", "premium", "jobs")
    one_hour += root_per_hour("us-east-1", T0)  # each node's default 30 + 150 GB (gp2), over June's 720 h
    nodes_hours = (1800 + 2 * 1800 + 6 * 1200) / 3600  # driver, 2 workers, 6 workers from the request
    assert cost == pytest.approx(one_hour * nodes_hours)


@pytest.mark.parametrize(("spec", "sku"), [
    ({"spark_version": "13.3.x-photon-scala2.12"}, "jobs_photon"),
    ({"spark_version": "13.3.x-scala2.12", "runtime_engine": "PHOTON"}, "jobs_photon"),
    ({"spark_version": "13.3.x-scala2.12"}, "jobs"),
    ({"spark_version": "13.3.x-photon-scala2.12", "runtime_engine": "STANDARD"}, "jobs"),
])
def test_photon_from_the_engine_or_else_the_spark_version(spec: dict, sku: str) -> None:
    spec = {"node_type_id": "m5.xlarge", "num_workers": 1, **spec}
    tl = cluster_timeline(spec, [], fallback_start_ms=T0, fallback_end_ms=T0 + 3_600_000)
    usage = cluster_usage(tl, spec, cloud="aws", region="us-east-1", plan="premium", input_bytes=None)
    assert usage.sku == sku


def spots(spec: dict) -> list[bool]:
    tl = cluster_timeline(spec, [], fallback_start_ms=T0, fallback_end_ms=T0 + 1000)
    return [n.spot for n in sorted(tl.nodes, key=lambda n: (not n.is_driver, n.instance_id))]


def test_first_on_demand_zero_puts_the_driver_on_spot_and_unset_keeps_it_on_demand() -> None:
    base = {"node_type_id": "r5.xlarge", "num_workers": 2}
    assert spots({**base, "aws_attributes": {"availability": "SPOT", "first_on_demand": 0}}) == [True, True, True]
    assert spots({**base, "aws_attributes": {"availability": "SPOT"}}) == [False, True, True]
    assert spots({**base, "aws_attributes": {"availability": "SPOT", "first_on_demand": 2}}) == [False, False, True]
    assert spots({**base, "azure_attributes": {"availability": "SPOT_AZURE", "first_on_demand": 0}}) == [True] * 3


def test_general_purpose_ssd_is_gp2_unless_iops_or_throughput_make_it_gp3() -> None:
    attrs = {"ebs_volume_type": "GENERAL_PURPOSE_SSD", "ebs_volume_count": 1, "ebs_volume_size": 100}
    assert ebs_volumes({"aws_attributes": attrs}) == [{"type": "gp2", "size_gb": 100, "count": 1}]
    assert ebs_volumes({"aws_attributes": {**attrs, "ebs_volume_iops": 4000}}) == [
        {"type": "gp3", "size_gb": 100, "count": 1, "iops": 4000}]
