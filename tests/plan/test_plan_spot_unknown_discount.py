"""A node type whose spot saving the catalog does not know (discount 0: priced on demand, an upper
bound) keeps the live cluster's availability. Compared at one price, spot lost to on demand on its
interruption risk alone, so a job on m6gd spot (really far cheaper) was planned onto on demand."""

from __future__ import annotations

from server.costing.catalog import load_catalog
from server.domain import ClusterConfig, ProjectSettings
from server.plan.candidates import Pricing, build_candidates

PRICING = Pricing(cloud="aws", region="us-east-1", plan="premium")


def _availability(job: ClusterConfig, **settings: object) -> dict[str, set[bool]]:
    pairs = build_candidates(job, ProjectSettings(**settings), load_catalog(), PRICING)  # type: ignore[arg-type]
    out: dict[str, set[bool]] = {}
    for _, config in pairs:
        out.setdefault(config.node_type_id.split(".")[0], set()).add(config.availability.upper().startswith("SPOT"))
    return out


def test_a_family_without_a_known_spot_saving_keeps_the_jobs_availability() -> None:
    catalog = load_catalog()
    assert catalog.spot_discount("aws", "m6gd") == 0 and catalog.spot_discount("aws", "m6g") > 0
    on_spot = ClusterConfig(node_type_id="m6gd.xlarge", num_workers=4, availability="SPOT_WITH_FALLBACK",
                            first_on_demand=1)
    by_family = _availability(on_spot, allowed_families=("m6gd", "m6g"))
    assert by_family["m6gd"] == {True}  # not moved to on demand at an unknown saving
    assert by_family["m6g"] == {True, False}  # a known saving: both, the model chooses
    on_demand = ClusterConfig(node_type_id="m6gd.xlarge", num_workers=4, availability="ON_DEMAND")
    assert _availability(on_demand, allowed_families=("m6gd",))["m6gd"] == {False}
