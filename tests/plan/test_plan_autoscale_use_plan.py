"""The review's pool job on a real store: an autoscale range 2-8 whose runs never used more than 2
workers kept its max (priced at the geometric mean, 4 workers, its max was cut to 4 as the cheaper
range: headroom halved for nothing), and the recommendation's cost is near what its runs measured."""

from __future__ import annotations

import dataclasses

import pytest

from server.costing.catalog import load_catalog
from server.domain import Project, ProjectSettings
from server.plan.planner import plan_project
from tests.plan.test_plan_autoscale_use import POOL_SPEC, POOLS, SPEC, _run


def test_a_pool_range_that_never_used_its_max_keeps_it(store) -> None:
    catalog = load_catalog()
    project = store.projects.add(Project(workspace="ws", job_id=1, cluster_key="main", current_spec=POOL_SPEC,
                                         original_spec=POOL_SPEC,
                                         settings=ProjectSettings(keep_autoscaling=True, spot_allowed=False)))
    runs = [store.runs.add(dataclasses.replace(_run(n, POOL_SPEC, [2], catalog, POOLS), project_id=int(project.id or 0)))
            for n in range(1, 6)]
    store.projects.update(dataclasses.replace(store.projects.get(int(project.id or 0)), phase="optimizing"))
    rec = plan_project(store, int(project.id or 0), catalog, pools=POOLS)
    assert rec is not None
    assert (rec.config.autoscale_min, rec.config.autoscale_max) == (2, 8), rec.reason
    measured = runs[0].cost.total if runs[0].cost else 0.0
    assert rec.predicted_cost == pytest.approx(measured, rel=0.1)


def test_a_recommendation_that_moves_the_range_says_what_the_runs_used(store) -> None:
    catalog = load_catalog()
    project = store.projects.add(Project(workspace="ws", job_id=2, cluster_key="main", current_spec=SPEC,
                                         original_spec=SPEC,
                                         settings=ProjectSettings(keep_autoscaling=True, spot_allowed=False)))
    for n in range(1, 6):
        store.runs.add(dataclasses.replace(_run(n, SPEC, [2], catalog), project_id=int(project.id or 0)))
    store.projects.update(dataclasses.replace(store.projects.get(int(project.id or 0)), phase="optimizing"))
    rec = plan_project(store, int(project.id or 0), catalog)
    assert rec is not None and rec.config.autoscale_max > 0
    assert (rec.config.autoscale_min, rec.config.autoscale_max) != (2, 5), rec.reason
    assert rec.reason.startswith(f"autoscale 2-5 -> {rec.config.autoscale_min}-{rec.config.autoscale_max}: "
                                 "its last 5 autoscaling runs used 2.0 workers on average, of 2-5 "
                                 "(0% of the way from min to max)"), rec.reason
