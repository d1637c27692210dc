"""A hand edit of the job cluster outside Trimtab pauses auto-apply, over real HTTP (emulator,
collector, planner, apply; SQLite and PostgreSQL).

The user sets the cluster in the Databricks UI; the next run is collected with the anomaly
``user_edit`` and the project rebases on the edit. The planner still recommends, but does not write
over the edit: the reason says what was edited, before which run, and how to resume
(`trimtab recommendation apply`). A manual apply resumes auto-apply."""

from __future__ import annotations

import pytest

from sandbox.workspace import RunningWorkspace
from server.apply import apply_recommendation
from server.databricks import DatabricksGateway
from server.domain import Workspace
from server.errors import FailedPrecondition
from server.plan.candidates import same_hardware
from server.services.projects import update_settings
from server.services.secrets import SecretBox
from server.spec import cluster_entry_update, config_from_spec
from server.store import Store
from tests.integration.loop import _Loop


def test_a_user_edit_pauses_auto_apply_until_a_manual_apply(
        store: Store, secrets: SecretBox, connected: Workspace, job_ids: list[int],
        emulator: RunningWorkspace, gateway: DatabricksGateway) -> None:
    loop = _Loop(store, secrets, job_ids[0], emulator, gateway, auto_apply=True)
    project, pid, live, cycle = loop.project, loop.pid, loop.live, loop.cycle

    for _ in range(2):
        run, rec = cycle()
        assert rec is not None and not rec.reason.startswith("you edited")
    edited = {**live(), "num_workers": 7, "node_type_id": "r5d.xlarge", "driver_node_type_id": "r5d.xlarge"}
    gateway.update_job(project.job_id, cluster_entry_update(gateway.get_job(project.job_id)["settings"],
                                                            project.cluster_key, edited))

    run, rec = cycle()
    assert "user_edit" in run.anomalies
    assert rec is not None
    # Still planned and shown, with what was edited, before which run, and how to resume.
    assert rec.reason.startswith("you edited the cluster (")
    assert "node_type_id" in rec.reason and "num_workers" in rec.reason
    assert f"before run {run.id} of " in rec.reason
    assert f"auto-apply is paused so the edit stays; `trimtab recommendation apply {project.name}`" in rec.reason
    assert rec.state == "pending"
    assert (live()["node_type_id"], live()["num_workers"]) == ("r5d.xlarge", 7)

    # The next run is on the user's cluster too, and is not flagged again: still paused.
    run, rec = cycle()
    assert "user_edit" not in run.anomalies
    assert rec is not None and rec.reason.startswith("you edited the cluster (")
    assert (live()["node_type_id"], live()["num_workers"]) == ("r5d.xlarge", 7)

    # The owner applies by hand: auto-apply resumes from the next run on.
    applied = apply_recommendation(store, gateway, pid)
    assert applied.applied
    run, rec = cycle()
    assert rec is not None and "you edited" not in rec.reason
    # Either the job already runs the recommendation, or auto-apply wrote it.
    assert same_hardware(rec.config, config_from_spec(live()))


def test_an_edit_an_apply_finds_first_pauses_auto_apply_too(
        store: Store, secrets: SecretBox, connected: Workspace, job_ids: list[int],
        emulator: RunningWorkspace, gateway: DatabricksGateway) -> None:
    # The edit is made between runs and an apply finds it before any run shows it: the project
    # rebases on it there, and the runs after match the adopted spec, so none is flagged user_edit.
    # Auto-apply must hold all the same (it wrote over the edit at the next run).
    loop = _Loop(store, secrets, job_ids[0], emulator, gateway, auto_apply=False)
    project, pid, live, cycle = loop.project, loop.pid, loop.live, loop.cycle

    run, rec = cycle()
    assert rec is not None
    edited = {**live(), "num_workers": 7, "node_type_id": "r5d.xlarge", "driver_node_type_id": "r5d.xlarge"}
    gateway.update_job(project.job_id, cluster_entry_update(gateway.get_job(project.job_id)["settings"],
                                                            project.cluster_key, edited))
    with pytest.raises(FailedPrecondition, match="edited outside Trimtab"):
        apply_recommendation(store, gateway, pid)
    update_settings(store, str(pid), {"auto_apply": True})

    run, rec = cycle()
    assert "user_edit" not in run.anomalies  # the run matches the spec the project adopted
    assert rec is not None and rec.reason.startswith("you edited the cluster ("), rec.reason
    assert "found by an apply or an import before any run used it" in rec.reason
    assert (live()["node_type_id"], live()["num_workers"]) == ("r5d.xlarge", 7)

    # A manual apply resumes it.
    assert apply_recommendation(store, gateway, pid).applied
    run, rec = cycle()
    assert rec is not None and "you edited" not in rec.reason
