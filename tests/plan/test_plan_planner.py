"""Planning on a real store: candidates priced from the catalog, decisions stored, phases followed."""

from __future__ import annotations

import dataclasses
import re

import pytest

from server.costing.catalog import load_catalog
from server.domain import ClusterConfig, Project, ProjectSettings, Run
from server.errors import FailedPrecondition
from server.plan.candidates import Pricing, build_candidates, config_id_of, default_families
from server.plan.planner import plan_project
from server.spec import config_from_spec

SPEC = {
    "spark_version": "15.4.x-scala2.12",
    "node_type_id": "m5.2xlarge",
    "num_workers": 12,
    "aws_attributes": {"availability": "ON_DEMAND", "first_on_demand": 1},
    "custom_tags": {"team": "data"},
}


def _runtime_s(config: ClusterConfig) -> float:
    """A CPU-bound job: 40 core-hours of work, 60 s fixed, coordination growing with nodes."""
    catalog = load_catalog()
    info = catalog.node_type("aws", config.node_type_id)
    workers = config.num_workers or config.autoscale_max
    return 60.0 + 40 * 3600 / (info.vcpus * workers) + 4.0 * workers


def _project(store, **settings) -> Project:
    return store.projects.add(Project(workspace="ws", job_id=1, cluster_key="main", current_spec=SPEC,
                                      original_spec=SPEC, settings=ProjectSettings(**settings)))


def test_candidates_cover_bounds_and_keep_the_current_configuration() -> None:
    catalog = load_catalog()
    current = config_from_spec(SPEC)
    settings = ProjectSettings(min_workers=2, max_workers=16, spot_allowed=False)
    pairs = build_candidates(current, settings, catalog, Pricing("aws", "us-east-1", "premium"))
    ids = {c.config_id for c, _ in pairs}
    assert config_id_of(current) in ids
    assert all(2 <= cfg.num_workers <= 16 for _, cfg in pairs)
    assert {c.family for c, _ in pairs} == set(default_families(catalog, "aws", "m5")) == {"m5", "c5", "r5"}
    assert not any(c.spot for c, _ in pairs)
    # Prices come from the catalog: more workers of the same type cost proportionally more, driver included.
    by = {c.config_id: c for c, _ in pairs}
    p4, p8 = by["m5.2xlargex4"].price_per_hour, by["m5.2xlargex8"].price_per_hour
    assert p8 > p4 and (p8 - p4) == pytest.approx((by["m5.2xlargex16"].price_per_hour - p8) / 2)


def test_spot_candidates_carry_interruption_risk() -> None:
    pairs = build_candidates(config_from_spec(SPEC), ProjectSettings(spot_allowed=True), load_catalog(),
                             Pricing("aws", "us-east-1", "premium"))
    by = {c.config_id: c for c, _ in pairs}
    assert by["m5.2xlargex8-spot"].price_per_hour < by["m5.2xlargex8"].price_per_hour
    assert by["m5.2xlargex8-spot"].interruption_rate > 0 and by["m5.2xlargex8"].interruption_rate == 0


def _collect(store, project: Project, n: int, config: ClusterConfig, rec_id: int | None) -> None:
    store.runs.add(Run(project_id=int(project.id), databricks_run_id=n, start_ms=n * 86_400_000,
                       end_ms=n * 86_400_000 + int(_runtime_s(config) * 1000), runtime_s=_runtime_s(config),
                       outcome="succeeded", config=config, recommendation_id=rec_id))


def test_closed_loop_learns_then_optimizes_within_sla(store) -> None:
    catalog = load_catalog()
    sla = 1500.0
    project = _project(store, sla_seconds=sla, auto_apply=True, learning_budget=3, spot_allowed=False)
    start = config_from_spec(SPEC)
    _collect(store, project, 1, start, None)
    phases, configs = [], []
    config = start
    for n in range(2, 12):
        rec = plan_project(store, int(project.id), catalog)
        assert rec is not None and rec.id is not None and rec.reason
        phases.append(rec.phase)
        config = rec.config
        configs.append(config_id_of(config))
        # "apply": the project now runs the recommendation
        spec = {**SPEC, "node_type_id": config.node_type_id, "num_workers": config.num_workers}
        project = store.projects.update(dataclasses.replace(store.projects.get(int(project.id)), current_spec=spec))
        _collect(store, project, n, config, rec.id)
    assert phases[0] == "learning"
    assert phases[-1] == "optimizing"
    assert store.projects.get(int(project.id)).phase == "optimizing"
    assert phases.count("learning") <= 3
    final = store.recommendations.pending(int(project.id))
    assert final is not None and final.p_meet_sla is not None
    assert final.runtime_interval_s[0] <= final.predicted_runtime_s <= final.runtime_interval_s[1]
    # The settled configuration meets the SLA and is cheaper than where the job started.
    price = {c.config_id: c.price_per_hour for c, _ in build_candidates(
        start, ProjectSettings(spot_allowed=False), catalog, Pricing("aws", "us-east-1", "premium"),
        tried=[final.config])}
    assert _runtime_s(final.config) <= sla
    start_cost = price[config_id_of(start)] * _runtime_s(start)
    final_cost = price[config_id_of(final.config)] * _runtime_s(final.config)
    assert final_cost < start_cost


def test_auto_apply_off_means_monitoring(store) -> None:
    project = _project(store, sla_seconds=3000.0, auto_apply=False)
    _collect(store, project, 1, config_from_spec(SPEC), None)
    rec = plan_project(store, int(project.id), load_catalog())
    assert rec is not None and rec.phase == "monitoring"
    assert store.projects.get(int(project.id)).phase == "monitoring"


def test_detached_projects_are_not_planned(store) -> None:
    project = _project(store)
    store.projects.update(dataclasses.replace(project, detached=True))
    assert plan_project(store, int(project.id), load_catalog()) is None


def test_every_priced_node_type_exists_in_the_sandbox_workspace() -> None:
    """The planner proposes any node type the catalog prices; the sandbox must accept each of them."""
    from sandbox.nodes import NODE_TYPES

    catalog = load_catalog()
    for cloud in ("aws", "azure"):
        offered = {k for k, v in NODE_TYPES.items() if v.cloud == cloud}
        assert set(catalog.node_types(cloud)) <= offered, cloud


def test_a_new_projects_learning_budget_is_the_decision_cores_default() -> None:
    from models.decide import Settings

    # Imported projects start with the learning budget the tuner was measured with (3 designed runs).
    assert ProjectSettings().learning_budget == Settings(sla_s=None).learning_budget == 3


@pytest.mark.parametrize(("edit", "expected"), [
    # Made single-node since import: workers added to it would idle.
    ({"num_workers": 0}, "is now a single-node cluster"),
    # Made standard access since import, with the workspace-file script import put there: the
    # service never runs it there, so every run fails at start.
    ({"data_security_mode": "USER_ISOLATION",
      "init_scripts": [{"workspace": {"destination": "/Shared/trimtab/trimtab-init.sh"}}]},
     "/Shared/trimtab/trimtab-init.sh is a workspace file, so the cluster fails at start"),
    # Standard access on runtime 19: its init scripts no longer see spark_env_vars.
    ({"data_security_mode": "DATA_SECURITY_MODE_STANDARD", "spark_version": "19.0.x-scala2.13",
      "init_scripts": [{"volumes": {"destination": "/Volumes/main/ops/scripts/trimtab-init.sh"}}]},
     "its runtime is 19.0"),
])
def test_a_cluster_edited_into_one_trimtab_cannot_serve_is_a_problem_not_a_plan(store, edit: dict,
                                                                               expected: str) -> None:
    project = _project(store, sla_seconds=3000.0, auto_apply=True)
    _collect(store, project, 1, config_from_spec(SPEC), None)
    store.projects.update(dataclasses.replace(store.projects.get(int(project.id)),
                                              current_spec={**SPEC, **edit}))
    with pytest.raises(FailedPrecondition, match=re.escape(expected)):
        plan_project(store, int(project.id), load_catalog())
    assert store.recommendations.latest(int(project.id)) is None


def test_a_standard_access_cluster_with_a_volume_script_on_a_supported_runtime_is_planned(store) -> None:
    # Whether the volume script is allowlisted only the allowlist says (import read it): planned.
    spec = {**SPEC, "data_security_mode": "USER_ISOLATION",
            "init_scripts": [{"volumes": {"destination": "/Volumes/main/ops/scripts/trimtab-init.sh"}}]}
    project = store.projects.add(Project(workspace="ws", job_id=1, cluster_key="main", current_spec=spec,
                                         original_spec=spec, settings=ProjectSettings(sla_seconds=3000.0)))
    _collect(store, project, 1, config_from_spec(spec), None)
    assert plan_project(store, int(project.id), load_catalog()) is not None
