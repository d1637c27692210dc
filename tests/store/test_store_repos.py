"""Repositories on both engines: what goes in comes back as domain objects."""

from __future__ import annotations

import dataclasses

import pytest

from server.clock import FakeClock
from server.domain import (
    ClusterConfig,
    CostBreakdown,
    JobSchedule,
    Project,
    ProjectSettings,
    Recommendation,
    Run,
    Workspace,
)
from server.errors import AlreadyExists, InvalidArgument, NotFound, Unauthenticated
from server.store import Store

SPEC = {"node_type_id": "m5.xlarge", "num_workers": 4, "spark_version": "15.4.x-scala2.12",
        "aws_attributes": {"availability": "SPOT_WITH_FALLBACK"}}


def _project(store: Store, key: str = "main") -> Project:
    return store.projects.add(Project(workspace="prod", job_id=42, cluster_key=key, job_name="nightly",
                                      original_spec=SPEC, current_spec=SPEC))


def test_project_round_trip_and_lookup(store: Store, clock: FakeClock) -> None:
    p = _project(store)
    assert p.id is not None and p.created_at_ms == clock.now_ms()
    assert store.projects.get(p.id) == p
    assert store.projects.find(str(p.id)) == p
    assert store.projects.find("prod/42/main") == p
    assert store.projects.get_by_key("prod", 42, "main") == p
    with pytest.raises(AlreadyExists):
        _project(store)
    with pytest.raises(NotFound):
        store.projects.find("prod/42/other")
    with pytest.raises(NotFound):
        store.projects.get(p.id + 100)


def test_project_update_keeps_every_field(store: Store) -> None:
    p = _project(store)
    settings = ProjectSettings(sla_seconds=2700.0, auto_apply=True, allowed_families=("m5", "r5"), max_workers=40)
    changed = dataclasses.replace(
        p, phase="optimizing", orphaned=True, last_seen_run_id=2**40, pending_apply={"rec": 3},
        state={"model": [1.5, 2]}, current_spec={**SPEC, "num_workers": 8}, settings=settings,
        schedule=JobSchedule("0 0 2 * * ?", "Europe/Berlin", paused=True))
    # Every field but the settings, which only update_settings writes
    # (test_store_settings_not_overwritten.py).
    assert store.projects.update(changed) == dataclasses.replace(changed, settings=p.settings)
    assert store.projects.update_settings(p.id, settings) == changed
    assert store.projects.list() == [changed]
    assert store.projects.list(workspace="other") == []
    only = store.projects.update_settings(p.id, ProjectSettings(learning_budget=3))
    assert only.settings == ProjectSettings(learning_budget=3) and only.phase == "optimizing"


def test_project_schedule_is_stored_changed_paused_and_removed(store: Store) -> None:
    p = _project(store)
    assert p.schedule is None  # a job without a schedule
    nightly = JobSchedule("0 30 2 * * ?", "America/Los_Angeles")
    assert store.projects.update(dataclasses.replace(p, schedule=nightly)).schedule == nightly
    assert store.projects.get_by_key("prod", 42, "main").schedule == nightly
    weekdays = JobSchedule("0 0 6 ? * MON-FRI", "UTC", paused=True)
    assert store.projects.update(dataclasses.replace(p, schedule=weekdays)).schedule == weekdays
    assert store.projects.update(dataclasses.replace(p, schedule=None)).schedule is None
    # Other writers replace the whole project from a fresh read: the schedule survives them.
    store.projects.update(dataclasses.replace(p, schedule=nightly))
    fresh = store.projects.get(p.id)
    assert store.projects.update(dataclasses.replace(fresh, last_seen_run_id=9)).schedule == nightly
    assert store.projects.update_settings(p.id, ProjectSettings(auto_apply=True)).schedule == nightly


def test_runs_with_cost_applications_and_paging(store: Store) -> None:
    p = _project(store)
    config = ClusterConfig(node_type_id="m5.xlarge", num_workers=4, spec=SPEC)
    runs = [store.runs.add(Run(project_id=p.id, databricks_run_id=1000 + i, start_ms=i * 1000, runtime_s=60.0 + i,
                               config=config, input_bytes=5 * 2**30, anomalies=("spot_loss",) if i == 2 else (),
                               application_ids=(f"app-{i}",), cost=CostBreakdown(total=1.0 + i, dbus=2.0)))
            for i in range(5)]
    assert runs[2].anomalies == ("spot_loss",) and runs[2].cost == CostBreakdown(total=3.0, dbus=2.0)
    assert runs[3].config == config and runs[3].input_bytes == 5 * 2**30
    with pytest.raises(AlreadyExists):
        store.runs.add(Run(project_id=p.id, databricks_run_id=1000))
    first = store.runs.list(p.id, limit=2)
    assert [r.databricks_run_id for r in first] == [1004, 1003]
    second = store.runs.list(p.id, limit=2, before_id=first[-1].id)
    assert [r.databricks_run_id for r in second] == [1002, 1001]
    assert [r.databricks_run_id for r in store.runs.history(p.id)] == [1000, 1001, 1002, 1003, 1004]
    assert store.runs.count(p.id) == 5
    assert store.runs.for_application("app-3") == runs[3]
    assert store.runs.get_by_databricks_run(p.id, 1001) == runs[1]

    billed = CostBreakdown(total=2.5, source="billed", billed_cloud_cost=1.2, used_by_models="billed")
    assert store.runs.set_cost(runs[0].id, billed).cost == billed
    updated = store.runs.update(dataclasses.replace(runs[1], outcome="failed", application_ids=("x", "y"),
                                                    cost=None))
    assert updated.outcome == "failed" and updated.application_ids == ("x", "y") and updated.cost is None


def test_run_setup_round_trips_set_and_unknown(store: Store) -> None:
    p = _project(store)
    timed = store.runs.add(Run(project_id=p.id, databricks_run_id=1, runtime_s=370.0, setup_s=235.5))
    unknown = store.runs.add(Run(project_id=p.id, databricks_run_id=2, runtime_s=120.0))
    assert (timed.setup_s, unknown.setup_s) == (235.5, None)
    assert [r.setup_s for r in store.runs.history(p.id)] == [235.5, None]
    assert store.runs.update(dataclasses.replace(timed, setup_s=None)).setup_s is None
    assert store.runs.update(dataclasses.replace(unknown, setup_s=61.25)).setup_s == 61.25


def test_only_one_pending_recommendation(store: Store) -> None:
    p = _project(store)
    config = ClusterConfig(node_type_id="r5.xlarge", num_workers=6, spec={"node_type_id": "r5.xlarge"})
    first = store.recommendations.add(Recommendation(project_id=p.id, config=config, predicted_cost=3.0,
                                                     cost_interval=(2.5, 3.5), p_meet_sla=0.9))
    second = store.recommendations.add(Recommendation(project_id=p.id, config=config, predicted_cost=2.0))
    assert store.recommendations.get(first.id).state == "superseded"
    assert store.recommendations.pending(p.id) == second
    assert store.recommendations.get(first.id).cost_interval == (2.5, 3.5)
    assert store.recommendations.set_state(second.id, "applied").state == "applied"
    assert store.recommendations.pending(p.id) is None
    assert store.recommendations.latest(p.id) == dataclasses.replace(second, state="applied")
    assert [r.id for r in store.recommendations.list(p.id)] == [first.id, second.id]
    with pytest.raises(InvalidArgument):
        store.recommendations.set_state(second.id, "bogus")


def test_project_update_sets_recommendation_states_in_the_same_transaction(store: Store) -> None:
    # An apply's record is the recommendation's state and the project's row: written apart, a
    # database failure between the two left a recommendation applied that the project never recorded.
    p = _project(store)
    other = _project(store, key="other")
    config = ClusterConfig(node_type_id="r5.xlarge", num_workers=6, spec={"node_type_id": "r5.xlarge"})
    rec = store.recommendations.add(Recommendation(project_id=p.id, config=config))
    theirs = store.recommendations.add(Recommendation(project_id=other.id, config=config))
    record = {"recommendation_id": rec.id, "applied_spec": SPEC, "confirmed": False}

    updated = store.projects.update(dataclasses.replace(p, pending_apply=record), recommendations={rec.id: "applied"})
    assert updated.pending_apply == record
    assert store.recommendations.get(rec.id).state == "applied"

    # Either fails whole: a recommendation not the project's (nor one unknown) writes neither.
    for wrong in (theirs.id, 999_999):
        with pytest.raises(NotFound):
            store.projects.update(dataclasses.replace(updated, pending_apply=None, detached=True),
                                  recommendations={rec.id: "rejected", wrong: "superseded"})
        assert store.projects.get(p.id) == updated
        assert store.recommendations.get(rec.id).state == "applied"
        assert store.recommendations.get(theirs.id).state == "pending"
    with pytest.raises(InvalidArgument):
        store.projects.update(dataclasses.replace(updated, detached=True), recommendations={rec.id: "bogus"})
    assert store.projects.get(p.id) == updated


def test_tokens_are_stored_hashed(store: Store) -> None:
    token, plaintext = store.tokens.create("ci", "agent")
    assert store.tokens.verify(plaintext) == token
    with store.engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT secret_sha256 FROM api_tokens").scalar_one()
    assert plaintext.rsplit("_", 1)[1] not in stored
    for bad in ("", "tt_nope", plaintext[:-1] + ("A" if plaintext[-1] != "A" else "B"), "Bearer x"):
        with pytest.raises(Unauthenticated):
            store.tokens.verify(bad)
    store.tokens.revoke(token.token_id)
    with pytest.raises(Unauthenticated):
        store.tokens.verify(plaintext)
    with pytest.raises(InvalidArgument):
        store.tokens.create("x", "root")


def test_workspaces_keep_secrets_apart(store: Store) -> None:
    ws = store.workspaces.add(Workspace(name="prod", host="https://dbc.example", cloud="aws", token_masked="dapi…1f2e"),
                              token_encrypted="ENC", cloud_credentials_encrypted="CREDS")
    assert ws.has_cloud_credentials and ws.token_masked == "dapi…1f2e"
    assert store.workspaces.secrets("prod").token_encrypted == "ENC"
    assert store.workspaces.set_status("prod", "error", "401").last_error == "401"
    assert [w.name for w in store.workspaces.list()] == ["prod"]
    with pytest.raises(AlreadyExists):
        store.workspaces.add(Workspace(name="prod", host="h", cloud="aws"), token_encrypted="E")
    with pytest.raises(NotFound):
        store.workspaces.get("nope")
