"""The one rule for an availability a cluster spec leaves unset (`server.spec.default_availability`):
Databricks runs an AWS cluster on SPOT_WITH_FALLBACK (first_on_demand 1), an Azure one on demand; a
cloud not known (GCP, or none given and no attributes block) keeps unset as no spot. Run collection
(which nodes were spot), the configuration read from a spec and its hourly price all follow it."""

from __future__ import annotations

import pytest

from server.collect.build import with_pool_node_types
from server.collect.usage import cluster_timeline
from server.costing.catalog import load_catalog
from server.costing.run_cost import hourly_cost
from server.spec import config_from_spec, default_availability, spec_drift

BARE = {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5d.xlarge", "num_workers": 4}
HOUR = 3_600_000


@pytest.mark.parametrize(("spec", "cloud", "availability", "first_on_demand"), [
    (BARE, "aws", "SPOT_WITH_FALLBACK", 1),
    # An attributes block without the availability names the cloud itself.
    ({**BARE, "aws_attributes": {"zone_id": "auto"}}, "", "SPOT_WITH_FALLBACK", 1),
    ({**BARE, "aws_attributes": {"first_on_demand": 3}}, "aws", "SPOT_WITH_FALLBACK", 3),
    ({**BARE, "node_type_id": "Standard_D4ds_v5"}, "azure", "ON_DEMAND", 1),
    # Written out, the spec decides, whatever the cloud's default.
    ({**BARE, "aws_attributes": {"availability": "ON_DEMAND"}}, "aws", "ON_DEMAND", 1),
    ({**BARE, "aws_attributes": {"availability": "SPOT", "first_on_demand": 0}}, "aws", "SPOT", 0),
    # No cloud known: unset stays unset (no spot), as it was.
    (BARE, "", "", 0),
    (BARE, "gcp", "", 0),
    # Over an instance pool the pool's instances decide: no cluster default.
    ({**BARE, "instance_pool_id": "p-1"}, "aws", "", 0),
])
def test_an_unset_availability_reads_as_the_clouds_default(spec: dict, cloud: str, availability: str,
                                                          first_on_demand: int) -> None:
    config = config_from_spec(spec, cloud=cloud)
    assert (config.availability, config.first_on_demand) == (availability, first_on_demand)
    assert config.spec == spec  # the spec is kept as written: nothing is filled into it


def test_collection_puts_workers_past_first_on_demand_on_spot_on_aws_only() -> None:
    def spot_flags(cloud: str) -> list[bool]:
        timeline = cluster_timeline(BARE, [], fallback_start_ms=0, fallback_end_ms=HOUR, cloud=cloud)
        return [n.spot for n in sorted(timeline.nodes, key=lambda n: n.instance_id)]

    assert spot_flags("aws") == [False, True, True, True, True]  # the driver, then 4 spot workers
    assert spot_flags("azure") == [False] * 5
    assert spot_flags("") == [False] * 5


def test_the_hourly_price_of_an_unset_aws_spec_is_that_of_spot_with_fallback() -> None:
    catalog = load_catalog()
    explicit = {**BARE, "aws_attributes": {"availability": "SPOT_WITH_FALLBACK", "first_on_demand": 1}}

    def price(spec: dict, cloud: str) -> float:
        return hourly_cost(config_from_spec(spec, cloud=cloud), "aws", "us-east-1", "premium", "jobs", catalog)

    assert price(BARE, "aws") == pytest.approx(price(explicit, "aws"))
    assert price(BARE, "") > 1.3 * price(explicit, "aws")  # unknown cloud: on demand, as before


def test_the_default_is_never_a_spec_difference() -> None:
    # Drift compares specs as written: the default lives in the configuration read from them only.
    assert default_availability(BARE, "aws") == "SPOT_WITH_FALLBACK"
    assert spec_drift(BARE, BARE) == []
    assert spec_drift({**BARE, "aws_attributes": {"availability": "ON_DEMAND"}}, BARE) == \
        ["aws_attributes.availability"]


def test_the_cluster_record_says_what_an_unset_availability_ran_with_before_the_clouds_default() -> None:
    # clusters/get fills in what the cluster ran with: the backend default, or a cluster policy's
    # fixed value (here ON_DEMAND), which the cloud's default must not override.
    record = {"cluster_id": "c-1", "aws_attributes": {"availability": "ON_DEMAND", "first_on_demand": 1,
                                                      "zone_id": "us-east-1a"}}
    ran = with_pool_node_types(BARE, record)
    assert ran["aws_attributes"] == {"availability": "ON_DEMAND", "first_on_demand": 1}
    assert config_from_spec(ran, cloud="aws").availability == "ON_DEMAND"
    timeline = cluster_timeline(ran, [], fallback_start_ms=0, fallback_end_ms=HOUR, cloud="aws")
    assert not any(n.spot for n in timeline.nodes)
    # A spec that names its availability keeps it; without a record the cloud's default stands.
    named = {**BARE, "aws_attributes": {"availability": "SPOT", "first_on_demand": 2}}
    assert with_pool_node_types(named, record) == named
    assert config_from_spec(with_pool_node_types(BARE, None), cloud="aws").availability == "SPOT_WITH_FALLBACK"
