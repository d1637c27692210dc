"""A job its owner edits outside Trimtab (jobs/update, as the Databricks UI does) to exactly the
pending recommendation: the recommendation applied by that edit, not a user's edit to rebase on
(emulator, real databricks-sdk, SQLite and PostgreSQL).

Before, the run on the edit was flagged ``user_edit``, the recommendation superseded (never checked
against its prediction) and, with auto-apply on, auto-apply paused for an "edit" that was
Trimtab's own advice.
"""

from __future__ import annotations

import pytest

from sandbox.workspace import RunningWorkspace
from server.actor import AUTO
from server.apply import apply_recommendation, project_cloud
from server.apply_record import OUTSIDE_EDIT
from server.databricks import DatabricksGateway
from server.domain import ClusterConfig, Recommendation, Workspace
from server.errors import FailedPrecondition
from server.onboard import RECOMMENDATION_TAG
from server.plan.planner import edit_hold
from server.services.projects import update_settings
from server.services.secrets import SecretBox
from server.spec import config_from_spec, recommended_spec
from server.store import Store
from tests.integration.loop import _Loop


def _pending_other_than_live(loop: _Loop, store: Store) -> Recommendation:
    """The pending recommendation, made another cluster than the job's (the first plan may keep it)."""
    rec = store.recommendations.pending(loop.pid)
    live = config_from_spec(loop.live(), cloud="aws")
    if rec is not None and (rec.config.node_type_id, rec.config.num_workers) != (live.node_type_id, live.num_workers):
        return rec
    return store.recommendations.add(Recommendation(
        project_id=loop.pid, reason="test", predicted_runtime_s=600.0, predicted_cost=0.5,
        config=ClusterConfig(node_type_id=live.node_type_id, num_workers=live.num_workers + 2,
                             availability=live.availability, first_on_demand=live.first_on_demand,
                             spark_version=live.spark_version)))


def _edit_to(loop: _Loop, store: Store, rec: Recommendation) -> None:
    """The owner sets the cluster to ``rec`` by hand: what an apply writes, without Trimtab's tag."""
    project = store.projects.get(loop.pid)
    loop.edit(recommended_spec(loop.live(), rec.config, cloud=project_cloud(store, project)))


@pytest.mark.parametrize("auto_apply", [False, True])
def test_a_run_on_an_edit_to_exactly_the_pending_recommendation_confirms_it(
        store: Store, secrets: SecretBox, connected: Workspace, job_ids: list[int],
        emulator: RunningWorkspace, gateway: DatabricksGateway, auto_apply: bool) -> None:
    loop = _Loop(store, secrets, job_ids[0], emulator, gateway, auto_apply=False)
    loop.cycle()
    rec = _pending_other_than_live(loop, store)
    assert rec.id is not None
    if auto_apply:
        # Turned on after the plan, so that nothing but the owner's edit puts it on the job.
        update_settings(store, str(loop.pid), {"auto_apply": True})
        assert store.recommendations.get(rec.id).state == "pending"
    _edit_to(loop, store, rec)

    run, _ = loop.cycle()
    assert "user_edit" not in run.anomalies
    assert run.recommendation_id == rec.id  # its prediction is checked against this run
    applied = store.recommendations.get(rec.id)
    assert applied.state == "applied" and applied.applied_by == OUTSIDE_EDIT
    project = store.projects.get(loop.pid)
    assert "user_edit_paths" not in project.state and "user_edit_after_run_id" not in project.state
    assert edit_hold(project, store.runs.history(loop.pid)) == ""
    record = project.pending_apply or {}
    if not auto_apply:
        assert record["recommendation_id"] == rec.id and record["confirmed"] is True
        assert RECOMMENDATION_TAG not in (loop.live().get("custom_tags") or {})
    elif record.get("recommendation_id") != rec.id:
        # Not paused: the plan after the run went on the job as any auto-apply does.
        assert store.recommendations.get(int(record["recommendation_id"])).applied_by == AUTO
        assert loop.live()["custom_tags"][RECOMMENDATION_TAG] == str(record["recommendation_id"])


def _run_then_edit_to_pending(loop: _Loop, store: Store) -> Recommendation:
    """One run, then the job edited outside Trimtab to exactly the pending recommendation it made."""
    loop.cycle()
    rec = _pending_other_than_live(loop, store)
    assert rec.id is not None
    _edit_to(loop, store, rec)
    return rec

def test_an_edit_beside_the_recommendation_is_still_the_users(
        store: Store, secrets: SecretBox, connected: Workspace, job_ids: list[int],
        emulator: RunningWorkspace, gateway: DatabricksGateway) -> None:
    loop = _Loop(store, secrets, job_ids[0], emulator, gateway, auto_apply=False)
    loop.cycle()
    rec = _pending_other_than_live(loop, store)
    assert rec.id is not None
    project = store.projects.get(loop.pid)
    edited = recommended_spec(loop.live(), rec.config, cloud=project_cloud(store, project))
    edited["spark_conf"] = {**(edited.get("spark_conf") or {}), "spark.sql.shuffle.partitions": "64"}
    loop.edit(edited)

    run, _ = loop.cycle()
    assert "user_edit" in run.anomalies and run.recommendation_id != rec.id
    assert store.recommendations.get(rec.id).state == "superseded"


def test_an_apply_after_the_edit_records_it_and_writes_nothing(
        store: Store, secrets: SecretBox, connected: Workspace, job_ids: list[int],
        emulator: RunningWorkspace, gateway: DatabricksGateway) -> None:
    loop = _Loop(store, secrets, job_ids[0], emulator, gateway, auto_apply=False)
    rec = _run_then_edit_to_pending(loop, store)
    edited = loop.live()

    with pytest.raises(FailedPrecondition, match=f"recommendation {rec.id} is already on the job "
                                                 r"\(the job was edited to it outside Trimtab\)"):
        apply_recommendation(store, gateway, loop.pid)
    assert loop.live() == edited
    assert store.recommendations.get(rec.id).state == "applied"
    run, _ = loop.cycle()
    assert "user_edit" not in run.anomalies and run.recommendation_id == rec.id
    assert (store.projects.get(loop.pid).pending_apply or {})["confirmed"] is True


def test_an_edit_that_keeps_an_earlier_applys_tag_is_attributed_to_the_recommendation_it_runs(
        store: Store, secrets: SecretBox, connected: Workspace, job_ids: list[int],
        emulator: RunningWorkspace, gateway: DatabricksGateway) -> None:
    # The cluster keeps the tag of the recommendation Trimtab applied before; the owner's edit to the
    # next one leaves it there. The run is the new recommendation's, not a return to the old one.
    loop = _Loop(store, secrets, job_ids[0], emulator, gateway, auto_apply=False)
    loop.cycle()
    first = apply_recommendation(store, gateway, loop.pid).recommendation
    loop.cycle()  # confirms it
    assert loop.live()["custom_tags"][RECOMMENDATION_TAG] == str(first.id)
    rec = _pending_other_than_live(loop, store)
    assert rec.id is not None and rec.id != first.id
    _edit_to(loop, store, rec)
    assert loop.live()["custom_tags"][RECOMMENDATION_TAG] == str(first.id)

    run, _ = loop.cycle()
    assert "user_edit" not in run.anomalies
    assert run.recommendation_id == rec.id
    assert store.recommendations.get(rec.id).applied_by == OUTSIDE_EDIT
    assert (store.projects.get(loop.pid).pending_apply or {})["confirmed"] is True


def test_a_dry_run_after_the_edit_says_it_is_on_the_job_and_records_nothing(
        store: Store, secrets: SecretBox, connected: Workspace, job_ids: list[int],
        emulator: RunningWorkspace, gateway: DatabricksGateway) -> None:
    loop = _Loop(store, secrets, job_ids[0], emulator, gateway, auto_apply=False)
    rec = _run_then_edit_to_pending(loop, store)
    edited = loop.live()

    with pytest.raises(FailedPrecondition, match=f"recommendation {rec.id} is already on the job .*the apply "
                                                 "records it as applied and writes nothing"):
        apply_recommendation(store, gateway, loop.pid, dry_run=True)
    assert loop.live() == edited
    assert store.recommendations.get(rec.id).state == "pending"
    assert store.projects.get(loop.pid).pending_apply is None
