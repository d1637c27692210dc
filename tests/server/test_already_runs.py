"""`server.already_runs`: whether the job already runs a recommendation, gp3's IOPS and throughput
included (pure)."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from server.already_runs import already_runs, decided
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
