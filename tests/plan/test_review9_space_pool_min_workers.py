"""A pool-backed cluster whose pool holds fewer workers than the project's min_workers: planning
refuses with both numbers and what to change, and never recommends fewer workers than the minimum
(the floor was lowered to the pool's room, with no word of it; ninth review)."""

from __future__ import annotations

from typing import Any

import pytest

from server.costing.catalog import load_catalog
from server.domain import Project, ProjectSettings
from server.errors import FailedPrecondition
from server.plan.candidates import Pricing, build_candidates, pool_backing
from server.plan.planner import plan_project
from server.spec import config_from_spec

PRICING = Pricing(cloud="aws", region="us-east-1", plan="premium")
SPEC: dict[str, Any] = {"spark_version": "15.4.x-scala2.12", "instance_pool_id": "p-w", "num_workers": 4}
# max_capacity 6, the driver from the same pool: room for 5 workers.
POOLS = {"p-w": {"instance_pool_id": "p-w", "node_type_id": "m5.xlarge", "max_capacity": 6}}


def test_a_minimum_above_the_pools_room_is_refused_naming_both_numbers() -> None:
    with pytest.raises(FailedPrecondition) as err:
        build_candidates(config_from_spec(SPEC, POOLS), ProjectSettings(min_workers=10), load_catalog(), PRICING,
                         pool=pool_backing(SPEC, POOLS))
    message = err.value.message
    assert "min_workers 10" in message and "p-w" in message and "max_capacity 6" in message
    assert "room for 5 workers beside the driver" in message
    assert "--min-workers 5" in message and "raise the pool's max_capacity" in message


def test_a_minimum_the_pool_holds_is_kept_as_the_floor() -> None:
    pairs = build_candidates(config_from_spec(SPEC, POOLS), ProjectSettings(min_workers=5), load_catalog(), PRICING,
                             pool=pool_backing(SPEC, POOLS))
    new = [cfg for c, cfg in pairs if c.allowed]
    assert new and {cfg.num_workers for cfg in new} == {5}
    # A driver from another pool leaves the worker pool's whole capacity to the workers.
    split = {**SPEC, "driver_instance_pool_id": "p-d"}
    pools = {**POOLS, "p-d": {"instance_pool_id": "p-d", "node_type_id": "r5.xlarge"}}
    pairs = build_candidates(config_from_spec(split, pools), ProjectSettings(min_workers=6), load_catalog(),
                             PRICING, pool=pool_backing(split, pools))
    assert {cfg.num_workers for c, cfg in pairs if c.allowed} == {6}
    with pytest.raises(FailedPrecondition, match=r"max_capacity 6 leaves room for 6 workers; lower min_workers"):
        build_candidates(config_from_spec(split, pools), ProjectSettings(min_workers=7), load_catalog(), PRICING,
                         pool=pool_backing(split, pools))


def test_the_planner_refuses_and_stores_no_recommendation_below_the_minimum(store) -> None:
    project = store.projects.add(Project(workspace="ws", job_id=1, cluster_key="main", current_spec=SPEC,
                                         original_spec=SPEC, settings=ProjectSettings(min_workers=10)))
    with pytest.raises(FailedPrecondition, match="min_workers 10 does not fit its instance pool p-w"):
        plan_project(store, int(project.id or 0), load_catalog(), pools=POOLS)
    assert store.recommendations.latest(int(project.id or 0)) is None
