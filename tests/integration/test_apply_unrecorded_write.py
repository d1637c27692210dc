"""An apply Trimtab wrote to Databricks but never recorded (the server stopped between `jobs/update`
and its store write) is recognised as Trimtab's, not taken for a user's edit; and a record is
written whole or not at all (emulator, real SDK, SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa

from sandbox.workspace import RunningWorkspace
from server.apply import apply_recommendation, project_cloud, restore_original, revert
from server.databricks import DatabricksGateway
from server.domain import Workspace
from server.errors import FailedPrecondition, TrimtabError
from server.onboard import RECOMMENDATION_TAG
from server.services.projects import update_settings
from server.services.secrets import SecretBox
from server.spec import cluster_entry_update, recommended_spec
from server.store import Store
from tests.integration.loop import _Loop


def _write_as_apply_would(loop: _Loop, store: Store, gateway: DatabricksGateway) -> int:
    """What apply_recommendation sends before it records anything; the recommendation's id."""
    project = store.projects.get(loop.pid)
    rec = store.recommendations.pending(loop.pid)
    assert rec is not None and rec.id is not None
    new_spec = recommended_spec(loop.live(), rec.config, cloud=project_cloud(store, project))
    new_spec["custom_tags"] = {**(new_spec.get("custom_tags") or {}), RECOMMENDATION_TAG: str(rec.id)}
    gateway.update_job(project.job_id, cluster_entry_update(gateway.get_job(project.job_id)["settings"],
                                                            project.cluster_key, new_spec))
    return rec.id


def test_an_unrecorded_apply_is_recorded_at_the_next_apply_not_rebased_as_a_user_edit(
        store: Store, secrets: SecretBox, connected: Workspace, job_ids: list[int],
        emulator: RunningWorkspace, gateway: DatabricksGateway) -> None:
    # Review: SIGTERM while the re-read after jobs/update retried; the grace ended, the process exited
    # with the recommendation on the job and nothing in the store. The next run was flagged
    # user_edit, the recommendation superseded, and auto-apply held for the "edit".
    loop = _Loop(store, secrets, job_ids[0], emulator, gateway, auto_apply=False)
    loop.cycle()
    rec_id = _write_as_apply_would(loop, store, gateway)

    with pytest.raises(FailedPrecondition, match=f"recommendation {rec_id} is already on the job"):
        apply_recommendation(store, gateway, loop.pid)
    assert store.recommendations.get(rec_id).state == "applied"
    project = store.projects.get(loop.pid)
    assert project.pending_apply["recommendation_id"] == rec_id
    assert "user_edit_paths" not in project.state

    run, _ = loop.cycle()  # the run on it confirms the apply like any other
    assert "user_edit" not in run.anomalies
    assert store.projects.get(loop.pid).pending_apply["confirmed"] is True


def test_a_users_edit_that_keeps_the_tag_is_still_the_users(
        store: Store, secrets: SecretBox, connected: Workspace, job_ids: list[int],
        emulator: RunningWorkspace, gateway: DatabricksGateway) -> None:
    loop = _Loop(store, secrets, job_ids[0], emulator, gateway, auto_apply=False)
    loop.cycle()
    rec_id = _write_as_apply_would(loop, store, gateway)
    project = store.projects.get(loop.pid)
    edited = {**loop.live(), "num_workers": 13}  # the tag is kept, the size is the user's
    gateway.update_job(project.job_id, cluster_entry_update(gateway.get_job(project.job_id)["settings"],
                                                            project.cluster_key, edited))
    with pytest.raises(FailedPrecondition, match="edited outside Trimtab"):
        apply_recommendation(store, gateway, loop.pid)
    assert store.recommendations.get(rec_id).state == "superseded"
    assert "num_workers" in store.projects.get(loop.pid).state["user_edit_paths"]


def test_the_collector_recognises_an_unrecorded_apply_from_the_run_that_used_it(
        store: Store, secrets: SecretBox, connected: Workspace, job_ids: list[int],
        emulator: RunningWorkspace, gateway: DatabricksGateway) -> None:
    # Nobody applies again (auto-apply writes only after a run): the next run is the first to see it.
    loop = _Loop(store, secrets, job_ids[0], emulator, gateway, auto_apply=False)
    loop.cycle()
    rec_id = _write_as_apply_would(loop, store, gateway)
    run, _ = loop.cycle()
    assert "user_edit" not in run.anomalies
    assert run.recommendation_id == rec_id
    assert store.recommendations.get(rec_id).state == "applied"
    project = store.projects.get(loop.pid)
    assert project.pending_apply["recommendation_id"] == rec_id and project.pending_apply["confirmed"] is True
    assert "user_edit_paths" not in project.state


def test_an_unrecorded_auto_apply_after_a_settings_change_is_recognised_by_the_run_that_used_it(
        store: Store, secrets: SecretBox, connected: Workspace, job_ids: list[int],
        emulator: RunningWorkspace, gateway: DatabricksGateway) -> None:
    # Review rev15b: `trimtab project set` re-plans and auto-applies over the apply no run has used
    # yet (`over_unconfirmed`); the server died between that jobs/update and its record. The run on
    # it was taken for a user's edit: an unconfirmed apply was never looked at.
    loop = _Loop(store, secrets, job_ids[0], emulator, gateway, auto_apply=True)
    loop.cycle()
    first = store.projects.get(loop.pid).pending_apply or {}
    assert first and first["confirmed"] is False
    # The state the kill leaves: the apply over the unconfirmed one on the job, and only there.
    update_settings(store, str(loop.pid), {"auto_apply": False, "max_workers": 3})
    replanned = loop._planner.replan(loop.pid)
    assert replanned is not None and replanned.state == "pending"
    rec_id = _write_as_apply_would(loop, store, gateway)
    assert rec_id == replanned.id

    run, _ = loop.cycle()
    assert "user_edit" not in run.anomalies
    assert run.recommendation_id == rec_id
    assert store.recommendations.get(rec_id).state == "applied"
    assert store.recommendations.get(int(first["recommendation_id"])).state == "superseded"  # no run held it
    record = store.projects.get(loop.pid).pending_apply or {}
    assert record["recommendation_id"] == rec_id and record["confirmed"] is True
    assert record["previous_spec"] == first["previous_spec"]  # a revert goes back to what held runs
    assert "user_edit_paths" not in store.projects.get(loop.pid).state


@contextmanager
def _project_writes_fail(store: Store) -> Iterator[None]:
    """Every write of a project row after the next ``jobs/update`` fails inside the database (a
    connection lost mid-transaction, between the write to the job and its record: the write's
    announcement before it, `server.write_intent`, is stored)."""
    if store.is_sqlite:
        create = ["CREATE TRIGGER rev15b_blip BEFORE UPDATE ON projects "
                  "BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END"]
        drop = ["DROP TRIGGER rev15b_blip"]
    else:
        create = ["CREATE FUNCTION rev15b_blip() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION "
                  "'terminating connection due to administrator command' USING ERRCODE = '57P01'; END $$",
                  "CREATE TRIGGER rev15b_blip BEFORE UPDATE ON projects FOR EACH ROW EXECUTE FUNCTION rev15b_blip()"]
        drop = ["DROP TRIGGER rev15b_blip ON projects", "DROP FUNCTION rev15b_blip()"]
    update_job = DatabricksGateway.update_job
    armed: list[bool] = []

    def update_then_fail(self: DatabricksGateway, *args: Any, **kwargs: Any) -> Any:
        result = update_job(self, *args, **kwargs)
        if not armed:
            armed.append(True)
            with store.engine.begin() as conn:
                for statement in create:
                    conn.execute(sa.text(statement))
        return result

    DatabricksGateway.update_job = update_then_fail  # type: ignore[method-assign]
    try:
        yield
    finally:
        DatabricksGateway.update_job = update_job  # type: ignore[method-assign]
        if armed:
            with store.engine.begin() as conn:
                for statement in drop:
                    conn.execute(sa.text(statement))


def test_a_database_failure_while_recording_an_apply_records_none_of_it(
        store: Store, secrets: SecretBox, connected: Workspace, job_ids: list[int],
        emulator: RunningWorkspace, gateway: DatabricksGateway) -> None:
    # Review rev15b: the recommendation's state and the project's record were two transactions; a
    # failure between them left the recommendation applied with no record. The retry was refused
    # ("recommendation 1 was applied, and the cluster has changed since") and the next run, on
    # Trimtab's own write, was taken for a user's edit.
    loop = _Loop(store, secrets, job_ids[0], emulator, gateway, auto_apply=False)
    _, rec = loop.cycle()
    assert rec is not None and rec.id is not None
    with _project_writes_fail(store), pytest.raises(TrimtabError):
        apply_recommendation(store, gateway, loop.pid)
    assert store.recommendations.get(rec.id).state == "pending"
    assert store.projects.get(loop.pid).pending_apply is None

    # The job holds the write: the retry recognises it as Trimtab's and records it.
    with pytest.raises(FailedPrecondition, match=f"recommendation {rec.id} is already on the job"):
        apply_recommendation(store, gateway, loop.pid)
    assert store.recommendations.get(rec.id).state == "applied"
    run, _ = loop.cycle()
    assert "user_edit" not in run.anomalies
    assert run.recommendation_id == rec.id
    assert store.projects.get(loop.pid).pending_apply["confirmed"] is True


def test_a_database_failure_while_recording_a_detach_changes_no_recommendation(
        store: Store, secrets: SecretBox, connected: Workspace, job_ids: list[int],
        emulator: RunningWorkspace, gateway: DatabricksGateway) -> None:
    loop = _Loop(store, secrets, job_ids[0], emulator, gateway, auto_apply=False)
    _, rec = loop.cycle()
    assert rec is not None and rec.id is not None
    with _project_writes_fail(store), pytest.raises(TrimtabError):
        restore_original(store, gateway, loop.pid)
    assert store.recommendations.get(rec.id).state == "pending"  # was superseded, the project not detached
    assert not store.projects.get(loop.pid).detached

    restore_original(store, gateway, loop.pid)  # the retry finds Trimtab off the job, and records it
    assert store.projects.get(loop.pid).detached
    assert store.recommendations.get(rec.id).state == "superseded"


def test_a_database_failure_while_recording_a_revert_changes_no_recommendation(
        store: Store, secrets: SecretBox, connected: Workspace, job_ids: list[int],
        emulator: RunningWorkspace, gateway: DatabricksGateway) -> None:
    loop = _Loop(store, secrets, job_ids[0], emulator, gateway, auto_apply=False)
    _, rec = loop.cycle()
    assert rec is not None and rec.id is not None
    apply_recommendation(store, gateway, loop.pid)
    recorded = store.projects.get(loop.pid).pending_apply
    with _project_writes_fail(store), pytest.raises(TrimtabError):
        revert(store, gateway, loop.pid)
    assert store.recommendations.get(rec.id).state == "applied"  # was rejected, the record left as applied
    assert store.projects.get(loop.pid).pending_apply == recorded

    # The job holds the revert Trimtab wrote: the retry records it (it was refused as "edited
    # outside Trimtab" and the next run taken for a user's edit) and leaves the job as it is.
    held = loop.live()
    result = revert(store, gateway, loop.pid)
    assert result.applied and store.recommendations.get(rec.id).state == "reverted"
    assert store.projects.get(loop.pid).pending_apply["reverted"] is True
    assert loop.live() == held
    run, _ = loop.cycle()
    assert "user_edit" not in run.anomalies, run.anomalies


# Review rev15f: the retried revert recorded what the runs in flight ran as the reverted spec (the
# job's live spec by then), so a run on the recommendation, started before the lost revert write,
# read as a user's edit, rebased the project onto the rejected recommendation and paused auto-apply.
@pytest.mark.parametrize("record_fails", [False, True])
def test_a_run_in_flight_through_a_revert_whose_record_failed_is_not_a_users_edit(
        store: Store, secrets: SecretBox, connected: Workspace, job_ids: list[int], emulator: RunningWorkspace,
        gateway: DatabricksGateway, record_fails: bool) -> None:
    loop = _Loop(store, secrets, job_ids[0], emulator, gateway, auto_apply=False)
    _, rec = loop.cycle()
    apply_recommendation(store, gateway, loop.pid)
    run, _ = loop.cycle()  # a run on the recommendation: the apply is confirmed
    assert run.recommendation_id == rec.id
    # Another run starts on the recommendation's cluster; it is not collected yet when the owner reverts.
    gateway.run_now(loop.project.job_id)
    assert emulator.wait_idle(120)
    if record_fails:
        with _project_writes_fail(store), pytest.raises(TrimtabError):
            revert(store, gateway, loop.pid)
    assert revert(store, gateway, loop.pid).applied
    (inflight,) = loop._collector.poll_once()
    assert "user_edit" not in inflight.anomalies, inflight.anomalies
    after = store.projects.get(loop.pid)
    # Not rebased onto the rejected recommendation: the record of the revert stays.
    assert after.pending_apply and after.pending_apply["reverted"] is True
    assert after.current_spec.get("num_workers") == loop.live().get("num_workers")
    assert "user_edit_paths" not in after.state
