"""An apply Trimtab wrote to Databricks but never recorded (the server stopped between `jobs/update`
and its store write) is recognised as Trimtab's, not taken for a user's edit (emulator, real SDK,
SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from sandbox.workspace import RunningWorkspace
from server.apply import apply_recommendation, project_cloud
from server.databricks import DatabricksGateway
from server.domain import Workspace
from server.errors import FailedPrecondition
from server.onboard import RECOMMENDATION_TAG
from server.services.secrets import SecretBox
from server.spec import cluster_entry_update, recommended_spec
from server.store import Store
from tests.integration.test_dbx_user_edit_hold import _Loop


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
