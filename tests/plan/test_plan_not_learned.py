"""The planner keeps why each run was not learned with the run, and a recommendation with no usable run yet
counts them (review diag F1: after three runs that lost spot nodes, `recommendation show` said only "no usable
run yet: measuring ..." and `run show` only "unusual: spot_loss"). SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from server.costing.catalog import load_catalog
from server.domain import Project, ProjectSettings, Run, Workspace
from server.plan.planner import plan_project
from server.spec import config_from_spec
from server.store import Store, open_store

RUNNING = {"spark_version": "15.4.x-scala2.12", "node_type_id": "r6id.xlarge", "driver_node_type_id": "r6id.xlarge",
           "num_workers": 8, "aws_attributes": {"availability": "SPOT_WITH_FALLBACK", "first_on_demand": 1}}
DAY_MS = 86_400_000


@pytest.fixture
def stored(migrated_db_url: str) -> Iterator[tuple[Store, int]]:
    """A project on 8 spot workers whose three runs all lost spot nodes."""
    store = open_store(migrated_db_url)
    try:
        store.workspaces.add(Workspace(name="ws", host="http://x", cloud="aws", plan="premium"), "enc")
        project = store.projects.add(Project(workspace="ws", job_id=2, cluster_key="main", current_spec=RUNNING,
                                             original_spec=RUNNING,
                                             settings=ProjectSettings(sla_seconds=900.0, auto_apply=True)))
        pid = int(project.id or 0)
        for i, runtime in enumerate((236.0, 251.0, 240.0)):
            store.runs.add(Run(project_id=pid, databricks_run_id=10 + i, start_ms=1_750_000_000_000 + i * DAY_MS,
                               runtime_s=runtime, config=config_from_spec(RUNNING), anomalies=("spot_loss",)))
        yield store, pid
    finally:
        store.close()


def test_each_run_keeps_why_it_was_not_learned(stored: tuple[Store, int]) -> None:
    store, pid = stored
    rec = plan_project(store, pid, load_catalog())
    assert rec is not None
    runs = store.runs.history(pid)
    assert [r.not_learned for r in runs] == [
        f"spot_loss: execution {r.runtime_s:.0f}s is not this configuration's normal" for r in runs]
    assert "no usable run yet" in rec.reason
    assert rec.reason.endswith("; not learned so far: 3 runs lost spot nodes "
                               "(`trimtab run list ws/2/main` says why of each)"), rec.reason
    assert store.recommendations.get(int(rec.id or 0)).reason == rec.reason


def test_a_run_learned_now_drops_the_reason_of_an_older_plan(stored: tuple[Store, int]) -> None:
    store, pid = stored
    plan_project(store, pid, load_catalog())
    healthy = store.runs.add(Run(project_id=pid, databricks_run_id=20, start_ms=1_750_000_000_000 + 3 * DAY_MS,
                                 runtime_s=610.0, config=config_from_spec(RUNNING)))
    # As an older plan would have left it (e.g. before a change point or a widening of the bounds).
    store.runs.set_not_learned({int(healthy.id or 0): "spot_loss: runtime 610s is not this configuration's normal"})
    rec = plan_project(store, pid, load_catalog())
    assert rec is not None
    assert store.runs.get(int(healthy.id or 0)).not_learned == ""
    assert [bool(r.not_learned) for r in store.runs.history(pid)] == [True, True, True, False]
    assert "not learned so far" not in rec.reason  # a usable run now: no "no usable run yet" reason


def test_a_whole_run_update_keeps_the_planners_reason(stored: tuple[Store, int]) -> None:
    """The collector writes back a run it read before its Databricks calls (a repair, late data): a plan
    meanwhile must not lose its reason to that older copy."""
    store, pid = stored
    read_before = store.runs.history(pid)[0]
    plan_project(store, pid, load_catalog())
    store.runs.update(dataclasses.replace(read_before, message="repaired"))
    assert store.runs.get(int(read_before.id or 0)).not_learned.startswith("spot_loss: execution 236s")
