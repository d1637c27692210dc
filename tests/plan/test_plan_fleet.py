"""A job on an AWS fleet node type (md-fleet.xlarge) is planned over fleets, and over instance
families only where the project's allowed_families name them."""

from __future__ import annotations

from server.costing.catalog import load_catalog
from server.domain import ClusterConfig, ProjectSettings
from server.plan.candidates import Pricing, build_candidates, default_families, families_for
from server.plan.driver import driver_options

PRICING = Pricing(cloud="aws", region="us-east-1", plan="premium")
FLEET_JOB = ClusterConfig(node_type_id="md-fleet.xlarge", num_workers=4, availability="SPOT_WITH_FALLBACK",
                          first_on_demand=1)


def test_a_fleet_job_is_planned_over_fleet_sizes_with_the_same_local_disks() -> None:
    catalog = load_catalog()
    pairs = build_candidates(FLEET_JOB, ProjectSettings(), catalog, PRICING)
    types = {c.instance_type for c, _ in pairs}
    assert {"md-fleet.xlarge", "md-fleet.2xlarge", "md-fleet.4xlarge", "rd-fleet.xlarge"} <= types
    # Fleets only: the d fleets' siblings (the catalog has cd-fleet too), never an instance family the
    # job did not run on, nor a fleet without local disks (its spill would move to EBS).
    assert {t.split(".")[0] for t in types} == {"md-fleet", "cd-fleet", "rd-fleet"}
    assert all(c.allowed and c.price_per_hour > 0 and c.family == t.split(".")[0]
               for c, cfg in pairs for t in [cfg.node_type_id])
    # Every candidate runs its driver on the job's own fleet type.
    assert {cfg.driver_node_type_id for _, cfg in pairs} == {"md-fleet.xlarge"}
    assert default_families(catalog, "aws", "m-fleet") == ("m-fleet", "c-fleet", "r-fleet")
    # The Graviton rgd-fleet is no sibling of the x86 fleets, nor they of it.
    assert default_families(catalog, "aws", "rgd-fleet") == ("rgd-fleet",)


def test_allowed_families_add_instance_families_to_a_fleet_job() -> None:
    catalog = load_catalog()
    settings = ProjectSettings(allowed_families=("md-fleet", "m6id"))
    pairs = build_candidates(FLEET_JOB, settings, catalog, PRICING)
    assert {cfg.node_type_id.split(".")[0] for _, cfg in pairs} == {"md-fleet", "m6id"}
    # A fleet and its dearest member cost the same per hour (the fleet's upper bound), so the model
    # chooses between them on the speed runs show, not on a price the fleet may never pay.
    by_id = {c.config_id: c for c, _ in pairs}
    fleet, member = by_id["md-fleet.xlargex4"], by_id["m6id.xlargex4"]
    assert fleet.price_per_hour == member.price_per_hour and fleet.on_demand_price_per_hour > 0


def test_the_driver_of_a_fleet_job_is_chosen_among_the_fleets() -> None:
    catalog = load_catalog()
    families = families_for(FLEET_JOB, ProjectSettings(), catalog, "aws")
    options = driver_options(catalog, "aws", families, FLEET_JOB, region="us-east-1", plan="premium", sku="jobs")
    assert {o.node_type.split(".")[0] for o in options} == {"md-fleet", "cd-fleet", "rd-fleet"}
    assert all(o.price_per_hour > 0 for o in options)
