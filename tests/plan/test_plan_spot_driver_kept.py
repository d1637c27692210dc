"""A driver the user put on spot (``first_on_demand`` 0) stays on spot (review fod0).

A job on m5d.xlarge x 4 spot workers with first_on_demand 0, under a policy fixing the workers' type,
was recommended the same hardware with first_on_demand 1: the candidates' floor was at least 1, and the
grid's copy of the running configuration (same id: an id leaves out 0 against 1) stood in for the live
one. Auto-apply wrote it, and the reason said nothing of the driver. The floor is now the user's value
as it is, the running configuration is the live one, and a change of the nodes kept on demand is said.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from server.already_runs import already_runs
from server.costing.catalog import load_catalog
from server.costing.run_cost import hourly_cost
from server.domain import ClusterConfig, Project, ProjectSettings, Run
from server.plan.candidates import (
    SPOT_INTERRUPTIONS_PER_NODE_HOUR,
    Pricing,
    build_candidates,
    config_id_of,
    leaving_note,
    spot_losses,
)
from server.plan.on_demand_note import on_demand_note
from server.plan.planner import plan_project
from server.spec import config_from_spec, recommended_spec
from server.store import Store

PRICING = Pricing(cloud="aws", region="us-east-1", plan="premium")
FIXED = {"policy_id": "P1", "name": "fixed",
         "definition": json.dumps({"node_type_id": {"type": "fixed", "value": "m5d.xlarge"}})}
FOUR = ProjectSettings(allowed_families=("m5d",), min_workers=4, max_workers=4)


def _spec(node_type: str = "m5d.xlarge", first_on_demand: int = 0, **extra: Any) -> dict[str, Any]:
    return {"spark_version": "15.4.x-scala2.12", "node_type_id": node_type, "num_workers": 4,
            "aws_attributes": {"availability": "SPOT_WITH_FALLBACK", "first_on_demand": first_on_demand}, **extra}


def _runs(store: Store, project: Project, n: int, lost: tuple[int, ...] = ()) -> list[Run]:
    config = config_from_spec(project.current_spec, cloud="aws")
    for i in range(n):
        store.runs.add(Run(project_id=int(project.id or 0), databricks_run_id=100 + i, start_ms=(i + 1) * 86_400_000,
                           end_ms=(i + 1) * 86_400_000 + 900_000, runtime_s=900.0, outcome="succeeded",
                           config=config, anomalies=("spot_loss",) if i in lost else ()))
    return store.runs.history(int(project.id or 0))


def _project(store: Store, spec: dict[str, Any], settings: ProjectSettings = FOUR) -> Project:
    return store.projects.add(Project(workspace="ws", job_id=7, cluster_key="main", current_spec=spec,
                                      original_spec=spec, settings=settings))


def test_the_plan_keeps_a_driver_the_user_put_on_spot(store: Store) -> None:
    spec = _spec(policy_id="P1")
    project = _project(store, spec, ProjectSettings(auto_apply=True, allowed_families=("m5d",), min_workers=4,
                                                    max_workers=4))
    _runs(store, project, 1)
    rec = plan_project(store, int(project.id or 0), load_catalog(), policy=FIXED)
    assert rec is not None
    # Was first_on_demand 1: the grid's copy of the running cluster, which auto-apply then wrote.
    assert (rec.config.node_type_id, rec.config.num_workers, rec.config.first_on_demand) == ("m5d.xlarge", 4, 0)
    assert recommended_spec(spec, rec.config, cloud="aws")["aws_attributes"]["first_on_demand"] == 0
    assert already_runs(spec, rec.config, cloud="aws")
    assert "(the driver too)" in rec.reason and "on demand" not in rec.reason, rec.reason


def test_spot_candidates_keep_the_spot_driver_and_are_priced_with_it() -> None:
    catalog = load_catalog()
    current = config_from_spec(_spec(), cloud="aws")
    pairs = build_candidates(current, ProjectSettings(allowed_families=("m5d",), min_workers=4), catalog, PRICING)
    by_id = {c.config_id: (c, cfg) for c, cfg in pairs}
    # The running configuration is the live one, first_on_demand 0 and all (was the grid's copy, 1).
    assert by_id[config_id_of(current)][1].first_on_demand == 0
    spot = [(c, cfg) for c, cfg in pairs if c.allowed and c.spot]
    assert spot and {cfg.first_on_demand for _, cfg in spot} == {0}
    # A new spot candidate is priced as its spec runs: the driver on spot too, and one more spot node.
    other, cfg = by_id["m5d.2xlargex4-spot"]
    written = config_from_spec(recommended_spec(_spec(), cfg, cloud="aws"), cloud="aws")
    assert written.first_on_demand == 0
    assert other.price_per_hour == pytest.approx(hourly_cost(written, "aws", "us-east-1", "premium", "jobs", catalog))
    assert other.interruption_rate == pytest.approx(SPOT_INTERRUPTIONS_PER_NODE_HOUR * 5)  # 4 workers + driver
    # Unset stays Databricks' 1 (the driver on demand): only a written 0 is the floor.
    unset = config_from_spec({**_spec(), "aws_attributes": {"availability": "SPOT_WITH_FALLBACK"}}, cloud="aws")
    assert {cfg.first_on_demand for c, cfg in build_candidates(unset, FOUR, catalog, PRICING) if c.spot} == {1}


def test_half_on_demand_after_losses_says_the_driver_goes_on_demand() -> None:
    current = config_from_spec(_spec(), cloud="aws")
    lossy = spot_losses([Run(project_id=1, databricks_run_id=i, runtime_s=900.0, config=current,
                             anomalies=("spot_loss",) if i != 2 else ()) for i in range(4)])
    pairs = {c.config_id: cfg for c, cfg in build_candidates(current, FOUR, load_catalog(), PRICING,
                                                             spot_losses=lossy)}
    half = pairs["m5d.xlargex4-spot-2od"]
    assert half.first_on_demand == 3  # the driver and 2 of the 4 workers
    assert on_demand_note(current, half) == "puts the driver and 2 workers on demand (first_on_demand 0 → 3)"


@pytest.mark.parametrize(("now", "then", "said"), [
    (0, 1, "puts the driver on demand (first_on_demand 0 → 1)"),
    (1, 3, "puts 2 workers on demand (first_on_demand 1 → 3)"),
    (2, 3, "puts 1 more worker on demand (first_on_demand 2 → 3)"),
    (3, 1, "puts 2 workers back on spot (first_on_demand 3 → 1)"),
    (1, 0, "puts the driver back on spot (first_on_demand 1 → 0)"),
    (3, 0, "puts the driver and 2 workers back on spot (first_on_demand 3 → 0)"),
    (0, 0, ""),
    (1, 1, ""),
])
def test_the_on_demand_note_says_which_nodes_move(now: int, then: int, said: str) -> None:
    def spot(first: int) -> ClusterConfig:
        return ClusterConfig(node_type_id="m5d.xlarge", num_workers=4, availability="SPOT_WITH_FALLBACK",
                             first_on_demand=first)

    assert on_demand_note(spot(now), spot(then)) == said
    # A move to or from on demand is its label's to say ("m5d.xlarge x 4 workers" has no ", spot").
    on_demand = ClusterConfig(node_type_id="m5d.xlarge", num_workers=4, availability="ON_DEMAND", first_on_demand=1)
    assert on_demand_note(spot(now), on_demand) == on_demand_note(on_demand, spot(then)) == ""


def test_the_leaving_note_says_a_spot_driver_moves_and_reads_a_recommendations_0_as_written(store: Store) -> None:
    catalog = load_catalog()
    project = _project(store, _spec(), ProjectSettings(allowed_families=("m5d",), min_workers=4, max_workers=4))
    runs = _runs(store, project, 6, lost=(1, 2, 3, 4))
    current = config_from_spec(project.current_spec, cloud="aws")
    # A recommendation's configuration carries no spec (the planner drops it): its 0 is the written 0.
    as_planned = ClusterConfig(node_type_id="m5d.xlarge", num_workers=4, availability="SPOT_WITH_FALLBACK",
                               first_on_demand=0, ebs_volume_type=current.ebs_volume_type,
                               ebs_volume_count=current.ebs_volume_count,
                               ebs_volume_size_gb=current.ebs_volume_size_gb)
    assert leaving_note(project, catalog, "aws", runs, as_planned) == ""
    # The same hardware with the driver on demand: was "" (same hardware), the move unsaid.
    driver_on_demand = ClusterConfig(**{**as_planned.__dict__, "first_on_demand": 1})
    assert leaving_note(project, catalog, "aws", runs, driver_on_demand) == \
        "puts the driver on demand (first_on_demand 0 → 1)"
    # Larger spot nodes, the driver still on spot: no move off spot the losses made (was "fewer nodes
    # on spot: ...", a bare 0 read as the driver on demand).
    bigger = ClusterConfig(**{**as_planned.__dict__, "node_type_id": "m5d.2xlarge", "num_workers": 2})
    assert leaving_note(project, catalog, "aws", runs, bigger, best=bigger) == ""
