"""A cluster policy that fixes ``first_on_demand`` 0 where the spec leaves it out puts the driver on spot
too: the planner's hourly price of the job's cluster (`hourly_cost`, `spot_share`) reads it so, as the
run's own cost does from the cluster record (review revC F10)."""

from __future__ import annotations

import json

import pytest

from server.costing.catalog import load_catalog
from server.costing.run_cost import hourly_cost, shape_first_on_demand
from server.domain import ClusterConfig
from server.plan.candidates import spot_share
from server.plan.policy import ClusterPolicy, filled_into
from server.spec import config_from_spec

SPEC = {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5.xlarge", "num_workers": 4, "policy_id": "P1",
        "aws_attributes": {"availability": "SPOT_WITH_FALLBACK"}}
FIXED_ZERO = {"aws_attributes.first_on_demand": {"type": "fixed", "value": 0}}


def _price(config: ClusterConfig) -> float:
    return hourly_cost(config, "aws", "us-east-1", "premium", "jobs", load_catalog())


def test_the_policys_first_on_demand_0_prices_the_driver_on_spot() -> None:
    policy = ClusterPolicy.from_api({"policy_id": "P1", "name": "spot", "definition": json.dumps(FIXED_ZERO)})
    under_policy = config_from_spec(SPEC, cloud="aws", policy_values=filled_into(policy, SPEC))
    written = config_from_spec({**SPEC, "aws_attributes": {"availability": "SPOT_WITH_FALLBACK", "first_on_demand": 0}},
                               cloud="aws")
    assert shape_first_on_demand(under_policy) == 0
    assert _price(under_policy) == pytest.approx(_price(written))  # was the driver on demand: +0.119 $/h
    assert spot_share(under_policy) == (1.0, True)


def test_an_unset_first_on_demand_without_a_policy_is_still_databricks_1() -> None:
    unset = config_from_spec({k: v for k, v in SPEC.items() if k != "policy_id"}, cloud="aws")
    assert shape_first_on_demand(unset) == 1
    # A configuration with 0 and no policy (stored before unset read as 1, or built by hand): unset.
    legacy = ClusterConfig(node_type_id="m5.xlarge", num_workers=4, availability="SPOT_WITH_FALLBACK",
                           first_on_demand=0, spec={"aws_attributes": {"availability": "SPOT_WITH_FALLBACK"}})
    assert shape_first_on_demand(legacy) == 1
    # Under a policy that fills nothing in, config_from_spec reads unset as 1: kept.
    plain = config_from_spec(SPEC, cloud="aws", policy_values={})
    assert shape_first_on_demand(plain) == 1
