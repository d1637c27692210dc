"""Spot losses are named as a move's reason only when the configuration the model settles on moved
off spot because of them (review finding 6).

Over a simulated month the reason "fewer nodes on spot: 2 of the last 13 runs on spot lost spot
nodes" was put on moves from 8 small spot workers to 4 large ones (every worker still on spot), and
on learning runs that went back to spot the next run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from server.costing.catalog import load_catalog
from server.domain import ClusterConfig, Project, ProjectSettings, Run, Workspace
from server.plan.candidates import leaving_note, moved_off_spot, spot_losses
from server.spec import config_from_spec
from server.store import Store, open_store

SPOT = {"availability": "SPOT_WITH_FALLBACK", "first_on_demand": 1}
RUNNING = {"spark_version": "15.4.x-scala2.12", "node_type_id": "r6id.xlarge", "driver_node_type_id": "r6id.xlarge",
           "num_workers": 8, "aws_attributes": SPOT}


def _config(node_type: str, workers: int, availability: str = "SPOT_WITH_FALLBACK",
            first_on_demand: int = 1) -> ClusterConfig:
    return ClusterConfig(node_type_id=node_type, driver_node_type_id="r6id.xlarge", num_workers=workers,
                         availability=availability, first_on_demand=first_on_demand)


@pytest.fixture
def stored(migrated_db_url: str) -> Iterator[tuple[Store, Project]]:
    """A project on 8 spot workers whose runs lost spot nodes 2 times in 13, on SQLite and PostgreSQL."""
    store = open_store(migrated_db_url)
    try:
        store.workspaces.add(Workspace(name="ws", host="http://x", cloud="aws", plan="premium"), "enc")
        project = store.projects.add(Project(workspace="ws", job_id=2, cluster_key="main", current_spec=RUNNING,
                                             original_spec=RUNNING,
                                             settings=ProjectSettings(sla_seconds=900.0, auto_apply=True)))
        running = config_from_spec(RUNNING)
        for i in range(13):
            store.runs.add(Run(project_id=int(project.id or 0), databricks_run_id=10 + i,
                               start_ms=1_750_000_000_000 + i * 86_400_000, runtime_s=700.0, config=running,
                               anomalies=("spot_loss",) if i in (5, 11) else ()))
        yield store, project
    finally:
        store.close()


def test_bigger_spot_nodes_are_no_move_off_spot(stored: tuple[Store, Project]) -> None:
    store, project = stored
    runs = store.runs.history(int(project.id or 0))
    assert spot_losses(runs).note().startswith("2 of the last 13 runs on spot lost spot nodes")
    bigger = _config("r6id.2xlarge", 4)  # 4 spot workers for 8: every worker still on spot
    assert not moved_off_spot(config_from_spec(RUNNING), bigger)
    # Was "fewer nodes on spot: 2 of the last 13 runs ..." (4 spot nodes < 8).
    assert leaving_note(project, load_catalog(), "aws", runs, bigger) == ""


def test_a_learning_or_exploration_run_is_not_blamed_on_spot_losses(stored: tuple[Store, Project]) -> None:
    store, project = stored
    runs = store.runs.history(int(project.id or 0))
    trial = _config("m6id.xlarge", 16, availability="ON_DEMAND")  # a trial run on demand
    settled = _config("r6id.xlarge", 16)  # what the model would settle on: on spot
    assert moved_off_spot(config_from_spec(RUNNING), trial)
    assert leaving_note(project, load_catalog(), "aws", runs, trial, best=settled) == ""


def test_the_settled_configuration_moved_off_spot_by_the_losses_says_so(stored: tuple[Store, Project]) -> None:
    store, project = stored
    runs = store.runs.history(int(project.id or 0))
    catalog = load_catalog()
    half = _config("r6id.xlarge", 8, first_on_demand=5)  # 4 of 8 workers on demand
    on_demand = _config("r6id.xlarge", 8, availability="ON_DEMAND")
    for chosen in (half, on_demand):
        note = leaving_note(project, catalog, "aws", runs, chosen, best=chosen)
        assert note.startswith("fewer nodes on spot: 2 of the last 13 runs on spot lost spot nodes"), note
        assert leaving_note(project, catalog, "aws", runs, chosen) == note  # best unknown: chosen is taken as it


def test_losses_that_leave_spot_cheaper_than_assumed_are_no_reason(stored: tuple[Store, Project]) -> None:
    """One loss over many spot node-hours puts the job's rate under the prior: not why anything moved."""
    store, project = stored
    running = config_from_spec(RUNNING)
    runs = [Run(project_id=int(project.id or 0), databricks_run_id=100 + i, runtime_s=3 * 3600.0, config=running,
                anomalies=("spot_loss",) if i == 30 else ()) for i in range(40)]
    losses = spot_losses(runs)
    assert losses.has_losses and losses.per_node_hour < losses.prior_per_node_hour
    on_demand = _config("r6id.xlarge", 8, availability="ON_DEMAND")
    assert leaving_note(project, load_catalog(), "aws", runs, on_demand, best=on_demand) == ""
