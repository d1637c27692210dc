"""A recommendation that puts more of the cluster on spot says so ("more nodes on spot: ..."), as one
that takes nodes off spot after losses does ("fewer nodes on spot: ...") (review spot, finding 2).

A job on demand was recommended SPOT_WITH_FALLBACK with a reason of cost and learning alone."""

from __future__ import annotations

import dataclasses
from typing import Any

from server.costing.catalog import load_catalog
from server.domain import ClusterConfig, ProjectSettings
from server.plan.candidates import leaving_note
from server.store import Store
from tests.plan.test_plan_spot_driver_kept import _project, _runs, _spec

BOUNDS = ProjectSettings(allowed_families=("m5d",), min_workers=2, max_workers=8)


def _on_demand_spec() -> dict[str, Any]:
    return {**_spec(), "aws_attributes": {"availability": "ON_DEMAND", "first_on_demand": 1}}


def _spot(node_type: str, workers: int, first_on_demand: int = 1) -> ClusterConfig:
    return ClusterConfig(node_type_id=node_type, num_workers=workers, availability="SPOT_WITH_FALLBACK",
                         first_on_demand=first_on_demand)


def test_a_move_from_on_demand_onto_spot_says_so_and_how_to_stay_on_demand(store: Store) -> None:
    project = _project(store, _on_demand_spec(), BOUNDS)
    runs = _runs(store, project, 3)
    chosen = _spot("m5d.2xlarge", 2)
    # Was "": the move onto spot had no word of it. Said for a learning run too (``best`` is another).
    for best in (None, _spot("m5d.xlarge", 6)):
        note = leaving_note(project, load_catalog(), "aws", runs, chosen, best=best)
        assert note == ("more nodes on spot: m5d.xlarge x 4 workers runs every node on demand, and the project "
                        f"allows spot (`trimtab project set {project.name} --spot off` keeps it on demand)"), note


def test_fewer_workers_kept_on_demand_is_more_nodes_on_spot(store: Store) -> None:
    project = _project(store, _spec(first_on_demand=3), BOUNDS)  # 2 of its 4 workers on demand
    runs = _runs(store, project, 3)
    note = leaving_note(project, load_catalog(), "aws", runs, _spot("m5d.xlarge", 8, 3))
    assert note == "more nodes on spot: 75% of the workers on spot, against 50% now", note
    driver = leaving_note(project, load_catalog(), "aws", runs, _spot("m5d.xlarge", 4, 0))
    assert driver.startswith("more nodes on spot: 100% of the workers on spot, against 50% now, and the driver too; "
                             "puts the driver and 2 workers back on spot"), driver


def test_no_move_onto_spot_says_nothing_of_it(store: Store) -> None:
    project = _project(store, _spec(first_on_demand=1), BOUNDS)
    runs = _runs(store, project, 3)
    for chosen in (_spot("m5d.2xlarge", 2), dataclasses.replace(_spot("m5d.xlarge", 4), availability="ON_DEMAND"),
                   _spot("m5d.xlarge", 4, 2)):
        assert "more nodes on spot" not in leaving_note(project, load_catalog(), "aws", runs, chosen)
