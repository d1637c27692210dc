"""The prior a project starts from: the public fits pooled with this server's other projects (never its own)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import server.plan.prior as prior_module
from models.prior import DEFAULT_PRIOR
from models.space import FEATURES
from server.costing.catalog import load_catalog
from server.domain import Project, ProjectSettings, Run
from server.plan.prior import ProjectPriors
from server.spec import config_from_spec

CORES = FEATURES.index("log_cores")


def _spec(node: str, workers: int) -> dict:
    return {"spark_version": "15.4.x-scala2.12", "node_type_id": node, "num_workers": workers,
            "aws_attributes": {"availability": "ON_DEMAND", "first_on_demand": 1}}


# Seven configurations of one family: cores, nodes and their square are identified (six would do).
SHAPES = [("m5.xlarge", 2), ("m5.xlarge", 4), ("m5.xlarge", 8), ("m5.xlarge", 16),
          ("m5.2xlarge", 2), ("m5.2xlarge", 4), ("m5.2xlarge", 8)]


def _project(store, job_id: int, node: str = "m5.xlarge") -> Project:
    spec = _spec(node, 8)
    return store.projects.add(Project(workspace="ws", job_id=job_id, cluster_key="main", current_spec=spec,
                                      original_spec=spec, settings=ProjectSettings(sla_seconds=7200.0)))


def _scaling_runs(store, project: Project, elasticity: float, start: int = 0, setup_s: float = 0.0) -> None:
    """Runs whose execution follows cores^elasticity exactly, each configuration twice (1% apart),
    after a cluster setup of ``setup_s`` +-10% (reported with the run) when given."""
    n = start
    for node, workers in SHAPES:
        cores = workers * (4 if node == "m5.xlarge" else 8)
        for noise in (1.0, 1.01):
            n += 1
            setup = setup_s * (0.9 + 0.2 * (n % 3) / 2) if setup_s else None
            store.runs.add(Run(project_id=int(project.id), databricks_run_id=n, start_ms=n * 86_400_000,
                               end_ms=n * 86_400_000 + 1000, outcome="succeeded",
                               runtime_s=3600.0 * (cores / 32) ** elasticity * noise + (setup or 0.0),
                               config=config_from_spec(_spec(node, workers)), setup_s=setup))


def test_without_other_projects_a_project_starts_from_the_public_fits(store) -> None:
    priors = ProjectPriors(store, load_catalog())
    new = _project(store, 1)
    prior = priors.for_project(int(new.id))
    assert prior == priors.base and prior.n_workloads == 118  # every public workload that could be fitted
    assert prior.mean != DEFAULT_PRIOR.mean  # learned, not the built-in guess
    assert -0.8 < prior.mean[CORES] < -0.2  # runtime falls with cores, sublinearly, as most jobs do


def test_other_projects_pull_the_prior_towards_how_they_scale_and_own_runs_never_count(store) -> None:
    priors = ProjectPriors(store, load_catalog())
    new, linear = _project(store, 1), _project(store, 2)
    _scaling_runs(store, linear, elasticity=-0.95)  # scales almost perfectly with cores
    pooled = priors.for_project(int(new.id))
    assert pooled.n_workloads == 119
    assert pooled.mean[CORES] < priors.base.mean[CORES] - 0.05
    # The linear project's own prior leaves its own runs out: nothing else qualifies.
    assert priors.for_project(int(linear.id)) == priors.base


def test_another_projects_cluster_setup_does_not_flatten_how_it_scales(store) -> None:
    # Its execution scales almost perfectly with cores, after an hour's setup that no configuration
    # changes: whole runtimes would flatten the slope to about the public fits' own.
    priors = ProjectPriors(store, load_catalog())
    new, slow_start = _project(store, 1), _project(store, 2)
    _scaling_runs(store, slow_start, elasticity=-0.95, setup_s=3600.0)
    assert priors.for_project(int(new.id)).mean[CORES] < priors.base.mean[CORES] - 0.05


def test_fits_are_cached_until_a_project_runs_again(store, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = prior_module.fit_workload
    monkeypatch.setattr(prior_module, "fit_workload", lambda c, h: calls.append(len(h)) or real(c, h))
    priors = ProjectPriors(store, load_catalog())
    new, other = _project(store, 1), _project(store, 2)
    _scaling_runs(store, other, elasticity=-0.95)
    first = priors.for_project(int(new.id))
    assert priors.for_project(int(new.id)) == first and calls == [14]
    _scaling_runs(store, other, elasticity=-0.2, start=100)  # the job changed how it scales
    again = priors.for_project(int(new.id))
    # Refitted on its current segment: the change of scaling starts a new one.
    assert len(calls) == 2 and calls[1] < 28 and again.mean[CORES] > first.mean[CORES]


def test_a_project_that_cannot_be_priced_or_is_detached_adds_nothing(store) -> None:
    priors = ProjectPriors(store, load_catalog())
    new = _project(store, 1)
    unknown = _project(store, 2, node="x9.huge")  # the catalog has no such node type
    _scaling_runs(store, unknown, elasticity=-0.95)
    assert priors.for_project(int(new.id)) == priors.base
    gone = _project(store, 3)
    _scaling_runs(store, gone, elasticity=-0.95, start=100)
    assert priors.for_project(int(new.id)) != priors.base
    store.projects.update(dataclasses.replace(store.projects.get(int(gone.id)), detached=True))
    assert priors.for_project(int(new.id)) == priors.base


def test_the_planner_plans_every_project_from_its_pooled_prior(store, monkeypatch: pytest.MonkeyPatch) -> None:
    import server.plan.planner as planner_module

    seen = []
    monkeypatch.setattr(planner_module, "plan_project", lambda st, pid, cat, prior=None, **_: seen.append(prior))
    new, other = _project(store, 1), _project(store, 2)
    _scaling_runs(store, other, elasticity=-0.95)
    planner = planner_module.Planner(store, load_catalog(), lambda ws: None)  # type: ignore[arg-type,return-value]
    planner.after_run(Run(project_id=int(new.id), databricks_run_id=999))
    assert seen == [ProjectPriors(store, load_catalog()).for_project(int(new.id))]
    assert seen[0].n_workloads == 119


def test_a_pool_backed_project_adds_its_shape_with_the_node_types_its_runs_got(store) -> None:
    """The spec names a pool, not a node type; the collector records the type the cluster got, and
    the shared prior reads the pool's type from those runs (before, the project was left out)."""
    pooled = {"spark_version": "15.4.x-scala2.12", "instance_pool_id": "pool-1", "num_workers": 8}
    project = store.projects.add(Project(workspace="ws", job_id=9, cluster_key="main", current_spec=pooled,
                                         original_spec=pooled, settings=ProjectSettings(sla_seconds=7200.0)))
    for n, workers in enumerate((1, 2, 3, 4, 6, 8, 12, 16), start=1):
        config = dataclasses.replace(config_from_spec({**pooled, "num_workers": workers}),
                                     node_type_id="m5.xlarge", driver_node_type_id="m5.xlarge")
        for noise in (1.0, 1.01):
            store.runs.add(Run(project_id=int(project.id), databricks_run_id=2 * n + int(noise > 1),
                               start_ms=n * 86_400_000, end_ms=n * 86_400_000 + 1000, outcome="succeeded",
                               runtime_s=3600.0 * (workers / 8) ** -0.5 * noise, config=config))
    fit = ProjectPriors(store, load_catalog())._fit(store.projects.get(int(project.id)))
    assert fit is not None


def _runs_on_days(store, project: Project, elasticity: float, first_day: int, scale: float) -> None:
    """Each of `SHAPES` twice (1% apart) on consecutive days from ``first_day``, executing in
    ``scale`` x cores^elasticity hours."""
    day = first_day
    for node, workers in SHAPES:
        cores = workers * (4 if node == "m5.xlarge" else 8)
        for noise in (1.0, 1.01):
            store.runs.add(Run(project_id=int(project.id), databricks_run_id=day, start_ms=day * 86_400_000,
                               end_ms=day * 86_400_000 + 1000, outcome="succeeded",
                               runtime_s=scale * 3600.0 * (cores / 32) ** elasticity * noise,
                               config=config_from_spec(_spec(node, workers))))
            day += 1


def test_a_projects_fit_reads_its_runs_in_the_order_they_ran_not_the_order_stored(store) -> None:
    # A job rewritten on day 15 (slower and scaling worse before). One project was collected as it
    # ran; the other collected the new runs, then backfilled the old ones (stored after them). Read in
    # storage order, the old runs came last, as if the newest: its change points were looked for
    # backwards and it added nothing to the shared prior (None here) where its twin adds its shape.
    priors = ProjectPriors(store, load_catalog())
    as_ran, backfilled = _project(store, 1), _project(store, 2)
    _runs_on_days(store, as_ran, elasticity=-0.3, first_day=1, scale=2.0)
    _runs_on_days(store, as_ran, elasticity=-0.95, first_day=15, scale=1.0)
    _runs_on_days(store, backfilled, elasticity=-0.95, first_day=15, scale=1.0)
    _runs_on_days(store, backfilled, elasticity=-0.3, first_day=1, scale=2.0)
    fits = [priors._fit(store.projects.get(int(p.id))) for p in (as_ran, backfilled)]
    assert fits[0] is not None and fits[1] is not None
    assert np.allclose(fits[1].coef, fits[0].coef, equal_nan=True)  # NaN: a feature not identified
    assert (fits[1].tau2, fits[1].typical_sd) == (fits[0].tau2, fits[0].typical_sd)
