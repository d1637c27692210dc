"""An unset max_workers never falls below min_workers: the default is twice the larger of the imported
cluster's workers and the minimum (at least 8), and a minimum far above the cluster still leaves
candidates to choose (the core span is measured from the cluster moved up to the minimum)."""

from __future__ import annotations

import pytest

from server.costing.catalog import load_catalog
from server.domain import ClusterConfig, Project, ProjectSettings
from server.plan.candidates import Pricing, build_candidates, config_id_of, default_max_workers
from server.plan.planner import plan_project
from server.store import Store

PRICING = Pricing(cloud="aws", region="us-east-1", plan="premium")
CURRENT = ClusterConfig(node_type_id="m5d.xlarge", driver_node_type_id="m5d.xlarge", num_workers=4,
                        availability="ON_DEMAND", first_on_demand=1)
SPEC = {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5.xlarge", "num_workers": 4,
        "aws_attributes": {"availability": "ON_DEMAND", "first_on_demand": 1}}


@pytest.mark.parametrize("workers, min_workers, expected", [
    (4, None, 8),  # as before: max(2 x 4, 8)
    (12, None, 24),
    (4, 3, 8),  # a minimum inside the default range leaves it as it was
    (12, 5, 24),
    (4, 50, 100),  # the review's case: 8 was below the minimum
    (4, 5, 10),
    (1, 1, 8),
])
def test_default_max_workers(workers: int, min_workers: int | None, expected: int) -> None:
    assert default_max_workers(workers, min_workers) == expected


def _allowed_workers(settings: ProjectSettings) -> set[int]:
    pairs = build_candidates(CURRENT, settings, load_catalog(), PRICING)
    return {cfg.num_workers for c, cfg in pairs if c.allowed and config_id_of(cfg) != config_id_of(CURRENT)}


def test_a_minimum_above_the_default_maximum_leaves_candidates_up_to_twice_it() -> None:
    workers = _allowed_workers(ProjectSettings(min_workers=50))
    assert workers and min(workers) == 50 and max(workers) == 100
    # With the maximum given too, the core span no longer leaves nothing (it was measured from 4 workers).
    assert _allowed_workers(ProjectSettings(min_workers=50, max_workers=64)) == {50, 64}


def test_bounds_around_the_cluster_search_as_before() -> None:
    assert max(_allowed_workers(ProjectSettings())) == 8
    assert _allowed_workers(ProjectSettings(min_workers=2, max_workers=6)) <= set(range(2, 7))


def test_the_review_case_plans(store: Store) -> None:
    project = store.projects.add(Project(workspace="ws", job_id=1, cluster_key="main", current_spec=SPEC,
                                         original_spec=SPEC,
                                         settings=ProjectSettings(sla_seconds=900.0, min_workers=50)))
    rec = plan_project(store, int(project.id or 0), load_catalog())
    assert rec is not None and 50 <= rec.config.num_workers <= 100, rec
