"""Node catalog figures and cluster-spec validation."""

from __future__ import annotations

import pytest

from sandbox.nodes import NODE_TYPES, UnknownNodeType, get_node_type
from sandbox.sim.cluster import MAX_WORKERS_LIMIT, SpecError, plan_cluster, validate_cluster_spec


@pytest.mark.parametrize(("node_type_id", "vcpus", "memory", "disk"), [
    ("m5.xlarge", 4, 16, 0), ("m5d.2xlarge", 8, 32, 300), ("r5.4xlarge", 16, 128, 0), ("c5.2xlarge", 8, 16, 0),
    ("i3.xlarge", 4, 30.5, 950), ("i3.2xlarge", 8, 61, 1900), ("m6id.xlarge", 4, 16, 237),
    ("m7g.2xlarge", 8, 32, 0), ("i4i.xlarge", 4, 32, 937), ("c6i.8xlarge", 32, 64, 0),
    ("Standard_D8s_v5", 8, 32, 0), ("Standard_D16ds_v5", 16, 64, 600), ("Standard_E8s_v5", 8, 64, 0),
    ("Standard_F16s_v2", 16, 32, 128), ("Standard_L8s_v3", 8, 64, 1920), ("Standard_E4s_v4", 4, 32, 0),
])
def test_catalog_has_published_figures(node_type_id: str, vcpus: int, memory: float, disk: float) -> None:
    node = get_node_type(node_type_id)
    assert (node.vcpus, node.memory_gib, node.local_disk_gb) == (vcpus, memory, disk)
    assert node.network_gbps > 0


def test_catalog_covers_the_agreed_families() -> None:
    for family in ("m5", "m5d", "m6i", "m6id", "m7g", "m7gd", "r5", "r5d", "r6i", "r6id", "c5", "c5d", "c6i",
                   "c6id", "i3", "i4i"):
        for size in ("xlarge", "2xlarge", "4xlarge"):
            assert NODE_TYPES[f"{family}.{size}"].cloud == "aws"
    for name in ("D{}s_v5", "D{}ds_v5", "E{}s_v5", "F{}s_v2", "D{}s_v4", "E{}s_v4"):
        for n in (4, 8, 16):
            assert NODE_TYPES["Standard_" + name.format(n)].cloud == "azure"
    assert get_node_type("m7g.xlarge").arch == "arm64"


def test_unknown_node_type_names_it() -> None:
    with pytest.raises(UnknownNodeType) as err:
        get_node_type("m5.huge")
    assert "m5.huge" in str(err.value)
    assert isinstance(err.value, KeyError)


@pytest.mark.parametrize(("spec", "field", "words"), [
    ({"num_workers": 2}, "node_type_id", "required"),
    ({"node_type_id": "x9.large", "num_workers": 2}, "node_type_id", "x9.large"),
    ({"node_type_id": "m5.xlarge", "driver_node_type_id": "nope", "num_workers": 1}, "driver_node_type_id", "nope"),
    ({"node_type_id": "m5.xlarge", "num_workers": -1}, "num_workers", "out of range"),
    ({"node_type_id": "m5.xlarge", "num_workers": MAX_WORKERS_LIMIT + 1}, "num_workers", "out of range"),
    ({"node_type_id": "m5.xlarge", "num_workers": "4"}, "num_workers", "integer"),
    ({"node_type_id": "m5.xlarge"}, "num_workers", "required"),
    ({"node_type_id": "m5.xlarge", "autoscale": {"min_workers": 5, "max_workers": 2}}, "autoscale", "greater"),
    ({"node_type_id": "m5.xlarge", "autoscale": {"min_workers": 1}}, "autoscale.max_workers", "required"),
    ({"node_type_id": "m5.xlarge", "autoscale": {"min_workers": 0, "max_workers": 999}}, "autoscale.max_workers",
     "out of range"),
    ({"node_type_id": "m5.xlarge", "num_workers": 2, "aws_attributes": {"availability": "SPOT_AZURE"}},
     "aws_attributes.availability", "SPOT_AZURE"),
    ({"node_type_id": "Standard_D4s_v5", "num_workers": 2, "aws_attributes": {"availability": "SPOT"}},
     "aws_attributes", "does not apply"),
    ({"node_type_id": "m5.xlarge", "driver_node_type_id": "Standard_D4s_v5", "num_workers": 1},
     "driver_node_type_id", "aws"),
    ({"node_type_id": "m5.xlarge", "num_workers": 1, "aws_attributes": {"first_on_demand": -1}},
     "aws_attributes.first_on_demand", "non-negative"),
])
def test_invalid_specs_are_rejected_with_the_field(spec: dict, field: str, words: str) -> None:
    with pytest.raises(SpecError) as err:
        validate_cluster_spec(spec)
    assert err.value.field == field
    assert words in str(err.value)


def test_valid_specs_plan_spot_and_ebs() -> None:
    validate_cluster_spec({"node_type_id": "m5.xlarge", "num_workers": 0})
    plan = plan_cluster({"node_type_id": "m5.xlarge", "autoscale": {"min_workers": 2, "max_workers": 6},
                         "aws_attributes": {"availability": "SPOT", "first_on_demand": 2,
                                            "ebs_volume_count": 2, "ebs_volume_size": 200}})
    assert (plan.min_workers, plan.max_workers, plan.autoscale) == (2, 6, True)
    assert [plan.is_spot(i) for i in range(4)] == [False, False, True, True]
    assert plan.ebs_volumes == [{"type": "gp2", "size_gb": 200, "count": 2}]  # GENERAL_PURPOSE_SSD: gp2
    azure = plan_cluster({"node_type_id": "Standard_E8s_v5", "num_workers": 3,
                          "azure_attributes": {"availability": "SPOT_WITH_FALLBACK_AZURE"}})
    assert azure.availability == "SPOT_WITH_FALLBACK" and azure.ebs_volumes == []
    on_demand = plan_cluster({"node_type_id": "i3.xlarge", "num_workers": 3,
                              "aws_attributes": {"availability": "ON_DEMAND"}})
    assert not any(on_demand.is_spot(i) for i in range(4)) and on_demand.ebs_volumes == []


def _volumes(**attrs: object) -> list[dict[str, object]]:
    return plan_cluster({"node_type_id": "m5.xlarge", "num_workers": 1, "aws_attributes": attrs}).ebs_volumes


def test_ebs_volumes_are_billed_by_the_documented_type() -> None:
    # The Clusters API: GENERAL_PURPOSE_SSD is gp2; IOPS or throughput ("if using gp3 volumes") make it gp3,
    # which gets gp3's baseline for the one not given; THROUGHPUT_OPTIMIZED_HDD is st1.
    ssd = {"ebs_volume_type": "GENERAL_PURPOSE_SSD", "ebs_volume_count": 1, "ebs_volume_size": 100}
    assert _volumes(**ssd) == [{"type": "gp2", "size_gb": 100, "count": 1}]
    assert _volumes(**ssd, ebs_volume_iops=6000) == \
        [{"type": "gp3", "size_gb": 100, "count": 1, "iops": 6000, "throughput": 125}]
    assert _volumes(**ssd, ebs_volume_throughput=250) == \
        [{"type": "gp3", "size_gb": 100, "count": 1, "iops": 3000, "throughput": 250}]
    assert _volumes(ebs_volume_type="THROUGHPUT_OPTIMIZED_HDD", ebs_volume_count=1, ebs_volume_size=500) == \
        [{"type": "st1", "size_gb": 500, "count": 1}]
    # An EBS-only node type with no volumes asked for gets none beyond the default root volumes the
    # billing adds: Databricks attaches no other at launch (cost review; was one 100 GB gp2 per node).
    assert _volumes() == _volumes(ebs_volume_type=None) == []


@pytest.mark.parametrize(("attrs", "field", "words"), [
    ({"ebs_volume_type": "GP3"}, "aws_attributes.ebs_volume_type", "GENERAL_PURPOSE_SSD"),
    ({"ebs_volume_iops": "fast"}, "aws_attributes.ebs_volume_iops", "positive integer"),
    ({"ebs_volume_throughput": 0}, "aws_attributes.ebs_volume_throughput", "positive integer"),
])
def test_bad_ebs_attributes_are_rejected_with_the_field(attrs: dict, field: str, words: str) -> None:
    with pytest.raises(SpecError) as err:
        _volumes(**attrs)
    assert err.value.field == field and words in str(err.value)


@pytest.mark.parametrize("spec", [
    {"node_type_id": "m5.xlarge", "num_workers": 2},
    {"node_type_id": "m5d.xlarge", "driver_node_type_id": "m5.xlarge", "num_workers": 2},
])
def test_no_volume_on_a_type_without_instance_store_is_refused_unless_elastic_disk_attaches_them(spec: dict) -> None:
    # "For node types with no instance store, at least one EBS volume needs to be specified; otherwise,
    # cluster creation will fail" (AwsAttributes.ebs_volume_count); the count is every node's, the driver's too.
    with pytest.raises(SpecError) as err:
        validate_cluster_spec({**spec, "aws_attributes": {"ebs_volume_count": 0}})
    assert err.value.field == "aws_attributes.ebs_volume_count" and "m5.xlarge" in str(err.value)
    # Autoscaling local storage acquires the disk itself; unset is the service's default volume.
    validate_cluster_spec({**spec, "aws_attributes": {"ebs_volume_count": 0}, "enable_elastic_disk": True})
    validate_cluster_spec(spec)
    validate_cluster_spec({**spec, "aws_attributes": {"ebs_volume_count": 1, "ebs_volume_size": 100}})
    # A type with instance store needs none.
    validate_cluster_spec({"node_type_id": "m5d.xlarge", "num_workers": 2, "aws_attributes": {"ebs_volume_count": 0}})
