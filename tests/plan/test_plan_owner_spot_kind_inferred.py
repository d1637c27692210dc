"""The owner's spot kind of a project stored before it was recorded (`server.plan.owner_on_demand`) is
inferred from the records of Trimtab's writes, as their first_on_demand is: never read from an
ON_DEMAND write of Trimtab's (review spot, finding 1)."""

from __future__ import annotations

import dataclasses

from server.costing.catalog import load_catalog
from server.domain import ClusterConfig, Project
from server.plan.candidates import project_candidates
from server.plan.owner_on_demand import OWNER_AVAILABILITY_KEY
from server.plan.planner import USER_EDIT_AFTER_KEY
from server.plan.project_cluster import owner_availability
from server.spec import recommended_spec
from server.store import Store
from tests.plan.test_plan_owner_spot_floor import WS, _apply, _project
from tests.plan.test_plan_spot_driver_kept import _spec

ON_DEMAND = ClusterConfig(node_type_id="m5d.xlarge", num_workers=4, availability="ON_DEMAND", first_on_demand=1)


def _pure_spot() -> dict[str, object]:
    return {**_spec(), "aws_attributes": {"availability": "SPOT", "first_on_demand": 1}}


def _spot_kinds(store: Store, project: Project) -> set[str]:
    project = store.projects.get(int(project.id or 0))
    pairs = project_candidates(project, WS, load_catalog(), store.runs.history(int(project.id or 0)))
    return {cfg.availability for c, cfg in pairs if c.spot and c.allowed}


def test_a_project_stored_before_the_kind_was_kept_reads_it_from_before_trimtabs_writes(store: Store) -> None:
    project = _project(store, _pure_spot(), _pure_spot())
    assert OWNER_AVAILABILITY_KEY not in project.state
    project = _apply(store, project, ON_DEMAND)
    assert owner_availability(project, cloud="aws") == "SPOT"
    assert _spot_kinds(store, project) == {"SPOT"}  # was SPOT_WITH_FALLBACK: the live ON_DEMAND's


def test_past_two_writes_over_an_edit_a_pure_spot_spec_in_the_record_says_spot(store: Store) -> None:
    project = _project(store, _pure_spot(), _pure_spot())
    written = recommended_spec(project.current_spec, ON_DEMAND, cloud="aws")
    record = {"recommendation_id": None, "applied_spec": written, "previous_spec": _pure_spot(),
              "applied_after_run_id": 0, "applied_at_ms": 0, "confirmed": True}
    project = store.projects.update(dataclasses.replace(
        project, current_spec=written, pending_apply=record, state={USER_EDIT_AFTER_KEY: 1}))
    assert owner_availability(project, cloud="aws") == "SPOT"
    assert _spot_kinds(store, project) == {"SPOT"}
