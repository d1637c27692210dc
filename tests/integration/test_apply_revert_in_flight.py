"""A run that started before an apply and ended after its revert ran the spec the revert put back:
it is attributed to that spec, not taken for a user's edit (emulator, real SDK, collector and
planner; SQLite and PostgreSQL).

An apply's record keeps one spec for the runs that had started before it. Before, a revert made
while the apply's first run was still in flight recorded the applied spec as theirs: the run, on the
very spec the revert put back, was flagged ``user_edit``, its recommendation superseded, and with
auto-apply on, auto-apply paused for the "edit" (review rev15b)."""

from __future__ import annotations

from sandbox.workspace import RunningWorkspace
from server.apply import apply_recommendation, revert
from server.databricks import DatabricksGateway
from server.domain import Recommendation, Run, Workspace
from server.plan.planner import edit_hold
from server.services.projects import update_settings
from server.services.secrets import SecretBox
from server.store import Store
from tests.integration.loop import _Loop

SIZING = ("node_type_id", "driver_node_type_id", "num_workers")


def _collect(loop: _Loop, emulator: RunningWorkspace) -> tuple[Run, Recommendation | None]:
    """The run in flight, once it ends, collected and planned after as the server does."""
    assert emulator.wait_idle(120)
    (run,) = loop._collector.poll_once()
    return run, loop._planner.after_run(run)


def test_a_run_in_flight_through_an_apply_and_its_revert_ran_the_spec_put_back(
        store: Store, secrets: SecretBox, connected: Workspace, job_ids: list[int],
        emulator: RunningWorkspace, gateway: DatabricksGateway) -> None:
    loop = _Loop(store, secrets, job_ids[0], emulator, gateway, auto_apply=False)
    loop.cycle()
    before = loop.live()
    gateway.run_now(loop.project.job_id)  # the nightly run starts on the imported spec
    applied = apply_recommendation(store, gateway, loop.pid).recommendation
    revert(store, gateway, loop.pid)
    assert {k: loop.live().get(k) for k in SIZING} == {k: before.get(k) for k in SIZING}

    run, rec = _collect(loop, emulator)
    assert "user_edit" not in run.anomalies
    assert run.recommendation_id is None  # the imported spec, not the reverted recommendation's
    project = store.projects.get(loop.pid)
    assert "user_edit_paths" not in project.state
    assert applied is not None and store.recommendations.get(int(applied.id or 0)).state == "reverted"
    assert rec is not None and rec.state == "pending"


def test_a_settings_change_applied_during_a_run_then_reverted_does_not_pause_auto_apply(
        store: Store, secrets: SecretBox, connected: Workspace, job_ids: list[int],
        emulator: RunningWorkspace, gateway: DatabricksGateway) -> None:
    loop = _Loop(store, secrets, job_ids[0], emulator, gateway, auto_apply=True)
    loop.cycle()  # auto-applies recommendation A
    first = store.projects.get(loop.pid).pending_apply or {}
    gateway.run_now(loop.project.job_id)  # run 2 starts on A
    update_settings(store, str(loop.pid), {"max_workers": 3})  # `trimtab project set P --max-workers 3`
    replanned = loop._planner.replan(loop.pid)  # the server re-plans and applies at once
    assert replanned is not None and replanned.state == "applied"
    revert(store, gateway, loop.pid)  # the owner goes back to A

    run, rec = _collect(loop, emulator)
    assert "user_edit" not in run.anomalies
    assert run.recommendation_id == first["recommendation_id"]
    project = store.projects.get(loop.pid)
    assert edit_hold(project, store.runs.history(loop.pid)) == ""
    assert rec is not None and not rec.reason.startswith("you edited")


def test_an_apply_over_a_revert_during_a_run_keeps_the_run_on_what_it_ran_and_the_revert_target(
        store: Store, secrets: SecretBox, connected: Workspace, job_ids: list[int],
        emulator: RunningWorkspace, gateway: DatabricksGateway) -> None:
    # Revert and apply share the run boundary (run 2 in flight, started on A): the apply's "before"
    # is the spec the revert went back to (what reverting it writes), while run 2 ran A.
    loop = _Loop(store, secrets, job_ids[0], emulator, gateway, auto_apply=True)
    loop.cycle()  # auto-applies recommendation A over the imported spec
    imported = store.projects.get(loop.pid).pending_apply or {}
    a_id = imported["recommendation_id"]
    gateway.run_now(loop.project.job_id)  # run 2 starts on A
    revert(store, gateway, loop.pid)  # back to the imported spec; A is rejected
    update_settings(store, str(loop.pid), {"max_workers": 3})
    b = loop._planner.replan(loop.pid)  # applied at once, over the revert no run has used
    assert b is not None and b.state == "applied"

    run, _ = _collect(loop, emulator)
    assert "user_edit" not in run.anomalies
    assert run.recommendation_id == a_id
    # Reverting B goes back to the imported sizing, never to the rejected A.
    revert(store, gateway, loop.pid)
    assert {k: loop.live().get(k) for k in SIZING} == {k: imported["previous_spec"].get(k) for k in SIZING}
