"""`server.already_runs`: whether the job already runs a recommendation, gp3's IOPS and throughput
included (pure)."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from server.already_runs import already_runs, decided, edited_to
from server.domain import ClusterConfig

GP3 = {"ebs_volume_type": "GENERAL_PURPOSE_SSD", "ebs_volume_count": 1, "ebs_volume_size": 200}
LIVE = {"node_type_id": "m5.xlarge", "num_workers": 4, "spark_version": "15.4.x-scala2.12",
        "aws_attributes": {"availability": "ON_DEMAND", "first_on_demand": 1, **GP3,
                           "ebs_volume_iops": 6000, "ebs_volume_throughput": 500}}


def _advised(iops: int | None, throughput: int | None) -> ClusterConfig:
    """LIVE's cluster as a recommendation names it, with the storage advice's gp3 performance."""
    perf = {k: v for k, v in (("ebs_volume_iops", iops), ("ebs_volume_throughput", throughput)) if v}
    return ClusterConfig(node_type_id="m5.xlarge", num_workers=4, availability="ON_DEMAND", first_on_demand=1,
                         ebs_volume_type="GENERAL_PURPOSE_SSD", ebs_volume_count=1, ebs_volume_size_gb=200,
                         spark_version="15.4.x-scala2.12", spec={"aws_attributes": {**GP3, **perf}})


def _with(**attrs: Any) -> dict[str, Any]:
    spec = copy.deepcopy(LIVE)
    spec["aws_attributes"].update(attrs)
    return spec


def test_the_same_gp3_performance_is_already_run() -> None:
    assert already_runs(LIVE, _advised(6000, 500), cloud="aws")


def test_other_gp3_iops_or_throughput_is_a_change() -> None:
    # The storage advice cut a 6000 IOPS / 500 MiB/s volume to the 3000 / 125 baseline: an apply
    # writes both, so the job does not run it yet.
    assert not already_runs(LIVE, _advised(3000, 125), cloud="aws")
    assert not already_runs(LIVE, _advised(6000, 250), cloud="aws")
    assert not already_runs(LIVE, _advised(9000, 500), cloud="aws")


def test_a_recommendation_without_gp3_performance_keeps_the_live_one() -> None:
    # An apply writes none then (`ebs_overlay`): the live IOPS and throughput stay on the cluster.
    assert already_runs(LIVE, _advised(None, None), cloud="aws")


def test_two_specs_that_differ_only_in_gp3_settings_are_not_decided_alike() -> None:
    assert decided(LIVE, cloud="aws") != decided(_with(ebs_volume_iops=3000), cloud="aws")
    assert decided(LIVE, cloud="aws") != decided(_with(ebs_volume_throughput=125), cloud="aws")
    assert decided(LIVE, cloud="aws") == decided(copy.deepcopy(LIVE), cloud="aws")
    # Unset, empty and 0 all leave Databricks' default performance.
    unset = copy.deepcopy(LIVE)
    for key in ("ebs_volume_iops", "ebs_volume_throughput"):
        del unset["aws_attributes"][key]
    assert decided(unset, cloud="aws") == decided(_with(ebs_volume_iops=0, ebs_volume_throughput=None), cloud="aws")


def test_fields_outside_gp3_are_compared_as_before() -> None:
    assert not already_runs(LIVE, dataclasses.replace(_advised(6000, 500), num_workers=5), cloud="aws")
    assert not already_runs({}, _advised(6000, 500), cloud="aws")


# ------------------------------------------------------------------ edited_to: the owner applied it by hand


def test_an_edit_to_exactly_the_recommendation_is_it() -> None:
    rec = dataclasses.replace(_advised(3000, 125), num_workers=6)
    by_hand = _with(ebs_volume_iops=3000, ebs_volume_throughput=125)
    by_hand["num_workers"] = 6
    assert edited_to(by_hand, LIVE, rec, cloud="aws")


def test_an_owned_field_written_another_way_is_still_it() -> None:
    # The owner left first_on_demand to Databricks' default (1), which the recommendation writes out.
    rec = dataclasses.replace(_advised(6000, 500), num_workers=6)
    by_hand = copy.deepcopy(LIVE)
    by_hand["num_workers"] = 6
    del by_hand["aws_attributes"]["first_on_demand"]
    assert edited_to(by_hand, LIVE, rec, cloud="aws")


def test_an_edit_of_anything_more_or_else_is_the_users() -> None:
    rec = dataclasses.replace(_advised(6000, 500), num_workers=6)
    size = copy.deepcopy(LIVE)
    size["num_workers"] = 6
    conf = {**size, "spark_conf": {"spark.sql.shuffle.partitions": "64"}}  # beside the sizing
    assert not edited_to(conf, LIVE, rec, cloud="aws")
    other = {**size, "num_workers": 7}
    assert not edited_to(other, LIVE, rec, cloud="aws")
    iops = _with(ebs_volume_iops=3000)  # the size right, the disks' performance not
    iops["num_workers"] = 6
    assert not edited_to(iops, LIVE, rec, cloud="aws")
    pooled = {**size, "instance_pool_id": "pool-1"}  # no recommendation chooses the pool
    assert not edited_to(pooled, LIVE, rec, cloud="aws")
    assert not edited_to(size, {}, rec, cloud="aws")
