"""The import's spot default and the owner's own spot choices (review of this session's diff).

A job its owner ran wholly on demand is imported with spot off. When the owner later puts the job on
spot themselves, the next plan recommended ON_DEMAND "spot is not allowed: spot_allowed is off",
undoing their move: the import's default now gives way to the owner's edit (a person's own
`project set --spot` stands). And a spot cluster whose first_on_demand covers the driver and every
worker runs wholly on demand too, which the import read as spot."""

from __future__ import annotations

from server.apply import rebase
from server.costing.catalog import load_catalog
from server.domain import Project, ProjectSettings
from server.plan.owner_on_demand import SPOT_OFF_BY_IMPORT_KEY, runs_on_demand, with_owner_spec
from server.plan.planner import plan_project
from server.services.projects import update_settings
from server.store import Store
from tests.plan.test_plan_spot_driver_kept import _runs, _spec

ON_DEMAND = {**_spec(), "aws_attributes": {"availability": "ON_DEMAND", "first_on_demand": 1}}
SETTINGS = ProjectSettings(spot_allowed=False, allowed_families=("m5d",), min_workers=4, max_workers=4)


def _imported(store: Store) -> Project:
    """As the import stores a job run wholly on demand (`server.services.job_import_one`)."""
    return store.projects.add(Project(workspace="ws", job_id=7, cluster_key="main", current_spec=ON_DEMAND,
                                      original_spec=ON_DEMAND, settings=SETTINGS,
                                      state={**with_owner_spec({}, ON_DEMAND, cloud="aws"),
                                             SPOT_OFF_BY_IMPORT_KEY: True}))


def test_the_owners_move_to_spot_allows_spot_again_and_the_plan_keeps_it(store: Store) -> None:
    project = _imported(store)
    owners = _spec(first_on_demand=1)  # their edit: SPOT_WITH_FALLBACK
    moved = rebase(store, project, owners, ["aws_attributes.availability"])
    assert moved.settings.spot_allowed is True
    assert SPOT_OFF_BY_IMPORT_KEY not in moved.state
    _runs(store, moved, 4)
    rec = plan_project(store, int(project.id or 0), load_catalog())
    assert rec.config.availability.upper().startswith("SPOT"), rec.reason
    assert "spot is not allowed" not in rec.reason


def test_a_persons_own_spot_off_stands_over_the_owners_edit(store: Store) -> None:
    project = _imported(store)
    update_settings(store, str(project.id), {"spot_allowed": True})
    update_settings(store, str(project.id), {"spot_allowed": False})  # their choice, not the import's
    kept = store.projects.get(int(project.id or 0))
    assert SPOT_OFF_BY_IMPORT_KEY not in kept.state
    moved = rebase(store, kept, _spec(first_on_demand=1), ["aws_attributes.availability"])
    assert moved.settings.spot_allowed is False


def test_an_edit_that_stays_on_demand_leaves_spot_off(store: Store) -> None:
    project = _imported(store)
    resized = {**ON_DEMAND, "num_workers": 6}
    moved = rebase(store, project, resized, ["num_workers"])
    assert moved.settings.spot_allowed is False and moved.state.get(SPOT_OFF_BY_IMPORT_KEY) is True


def test_first_on_demand_covering_every_node_runs_on_demand() -> None:
    assert runs_on_demand(_spec(first_on_demand=5), {}, cloud="aws")  # the driver and 4 workers
    assert not runs_on_demand(_spec(first_on_demand=4), {}, cloud="aws")  # one worker on spot
    autoscale = {**_spec(first_on_demand=5), "autoscale": {"min_workers": 2, "max_workers": 8}}
    autoscale.pop("num_workers")
    assert not runs_on_demand(autoscale, {}, cloud="aws")  # up to 8 workers: 4 may be on spot
    assert runs_on_demand({**autoscale, "aws_attributes": {"availability": "SPOT", "first_on_demand": 9}}, {},
                          cloud="aws")
