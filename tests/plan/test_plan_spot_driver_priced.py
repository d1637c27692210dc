"""A candidate's spot driver is priced as one: `server.plan.pricing.priced_candidate` says how many of
its nodes run on spot and whether the driver is one of them, so the decision core prices a lost
driver as a failed run and a lost worker as its share of the work (`models.spot_rework`)."""

from __future__ import annotations

from typing import Any

from server.costing.catalog import load_catalog
from server.domain import ProjectSettings
from server.plan.candidates import SPOT_INTERRUPTIONS_PER_NODE_HOUR, Pricing, build_candidates
from server.spec import config_from_spec

PRICING = Pricing(cloud="aws", region="us-east-1", plan="premium")


def _live(first_on_demand: int) -> Any:
    return config_from_spec({"spark_version": "15.4.x-scala2.12", "node_type_id": "m5d.xlarge", "num_workers": 4,
                             "aws_attributes": {"availability": "SPOT_WITH_FALLBACK",
                                                "first_on_demand": first_on_demand}}, cloud="aws")


def test_a_spot_driver_is_counted_among_the_candidates_spot_nodes() -> None:
    settings = ProjectSettings(allowed_families=("m5d",), min_workers=4, max_workers=4)
    for first_on_demand, driver, spot_nodes in ((0, True, 5.0), (1, False, 4.0)):
        live = _live(first_on_demand)
        pairs = build_candidates(live, settings, load_catalog(), PRICING)
        own = next(c for c, cfg in pairs if c.spot and cfg.node_type_id == "m5d.xlarge"
                   and cfg.num_workers == 4 and cfg.first_on_demand == first_on_demand)
        assert own.spot_driver is driver and own.spot_nodes == spot_nodes
        assert own.interruption_rate == SPOT_INTERRUPTIONS_PER_NODE_HOUR * spot_nodes
    # On demand: no spot node, and no driver on spot.
    od = next(c for c, _ in build_candidates(_live(1), settings, load_catalog(), PRICING) if not c.spot)
    assert od.spot_nodes is None and not od.spot_driver and od.interruption_rate == 0.0
