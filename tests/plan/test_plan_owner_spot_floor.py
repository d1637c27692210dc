"""The spot floor is the owner's current ``first_on_demand`` (review owndiff2).

3c5f63b took the floor from the cluster as imported, as it is (a driver put on spot, 0, stays there).
A job imported with the driver on spot whose owner later put it on demand (edited to 1, often after
losing spot drivers) was then recommended the driver back on spot ("first_on_demand 1 → 0"). The
import's value is replaced by one the owner set by editing the job, never by one Trimtab wrote.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from server.apply import rebase
from server.apply_record import _record_apply
from server.costing.catalog import load_catalog
from server.domain import ClusterConfig, Project, ProjectSettings, Recommendation, Workspace
from server.plan.candidates import project_candidates
from server.plan.planner import plan_project
from server.plan.project_cluster import owner_first_on_demand
from server.spec import config_from_spec, recommended_spec
from server.store import Store
from tests.plan.test_plan_spot_driver_kept import _runs, _spec

WS = Workspace(name="ws", host="https://x", cloud="aws", plan="premium")
SETTINGS = ProjectSettings(allowed_families=("m5d",), min_workers=2, max_workers=8)


def _spot_floors(store: Store, project_id: int) -> set[int]:
    """The ``first_on_demand`` of the project's new spot candidates (the floor, or above it after losses)."""
    project = store.projects.get(project_id)
    pairs = project_candidates(project, WS, load_catalog(), store.runs.history(project_id))
    return {cfg.first_on_demand for c, cfg in pairs if c.spot and c.allowed}


def _project(store: Store, imported: dict[str, Any], live: dict[str, Any]) -> Project:
    project = store.projects.add(Project(workspace="ws", job_id=7, cluster_key="main", current_spec=live,
                                         original_spec=imported, settings=SETTINGS))
    _runs(store, project, 3)
    return store.projects.get(int(project.id or 0))


def _apply(store: Store, project: Project, config: ClusterConfig) -> Project:
    """Trimtab's apply of ``config`` recorded as `server.apply` records it."""
    rec = store.recommendations.add(Recommendation(project_id=int(project.id or 0), config=config))
    new_spec = recommended_spec(project.current_spec, config, cloud="aws")
    _record_apply(store, project, rec, new_spec, project.current_spec, int(project.last_seen_run_id or 0))
    return store.projects.get(int(project.id or 0))


def _spot(node_type: str, first_on_demand: int) -> ClusterConfig:
    return ClusterConfig(node_type_id=node_type, num_workers=4, availability="SPOT_WITH_FALLBACK",
                         first_on_demand=first_on_demand)


def test_the_owner_put_the_driver_on_demand_after_the_import(store: Store) -> None:
    project = _project(store, _spec(first_on_demand=0), _spec(first_on_demand=1))
    # Was {0, 1}: the import's 0 was the floor, putting the driver the owner moved back on spot.
    assert _spot_floors(store, int(project.id or 0)) == {1}
    rec = plan_project(store, int(project.id or 0), load_catalog())
    assert rec is not None and "back on spot" not in rec.reason, rec.reason


def test_an_owner_who_moved_the_cluster_off_spot_keeps_the_driver_on_demand(store: Store) -> None:
    on_demand = {**_spec(), "aws_attributes": {"availability": "ON_DEMAND"}}
    project = _project(store, _spec(first_on_demand=0), on_demand)
    assert _spot_floors(store, int(project.id or 0)) == {1}  # was {0}: spot candidates with a spot driver


def test_an_owner_who_keeps_the_driver_on_spot_keeps_it(store: Store) -> None:
    project = _project(store, _spec(first_on_demand=0), _spec(first_on_demand=0))
    assert _spot_floors(store, int(project.id or 0)) == {0}  # 3c5f63b's fix stands


def test_the_owners_edit_stays_the_floor_through_trimtabs_writes(store: Store) -> None:
    project = _project(store, _spec(first_on_demand=0), _spec(first_on_demand=0))
    project = _apply(store, project, _spot("m5d.2xlarge", 0))
    # The owner edits the job outside Trimtab, the driver on demand; Trimtab adopts the edit.
    edited = recommended_spec(project.current_spec, _spot("m5d.2xlarge", 1), cloud="aws")
    project = rebase(store, project, edited, ["aws_attributes.first_on_demand"])
    assert owner_first_on_demand(project, cloud="aws") == 1
    # Two applies of Trimtab's over the edit: the first record keeps the owner's spec, the second not.
    project = _apply(store, project, _spot("m5d.xlarge", 1))
    assert owner_first_on_demand(project, cloud="aws") == 1
    project = _apply(store, project, _spot("m5d.4xlarge", 1))
    assert owner_first_on_demand(project, cloud="aws") == 1
    assert _spot_floors(store, int(project.id or 0)) == {1}


def test_a_half_on_demand_variant_trimtab_wrote_is_no_floor(store: Store) -> None:
    project = _project(store, _spec(first_on_demand=0), _spec(first_on_demand=0))
    project = _apply(store, project, _spot("m5d.xlarge", 3))  # after losses: the driver and 2 workers
    assert config_from_spec(project.current_spec, cloud="aws").first_on_demand == 3
    assert owner_first_on_demand(project, cloud="aws") == 0
    project = _apply(store, project, dataclasses.replace(_spot("m5d.2xlarge", 3)))
    assert owner_first_on_demand(project, cloud="aws") == 0
    assert 0 in _spot_floors(store, int(project.id or 0))
