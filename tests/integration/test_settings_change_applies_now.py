"""With auto-apply on, a settings change puts the recommendation planned under it on the job at once,
over an apply no run has used yet. Before, `Planner.replan` applied nothing: the next run ran on the
cluster applied under the old settings (the loop review: `--spot off --allowed-families r5d` given,
and the next run still ran c6id.xlarge x 5 on spot). SQLite and PostgreSQL, the real databricks-sdk
against the workspace emulator."""

from __future__ import annotations

from typing import Any

from sandbox.workspace import RunningWorkspace
from server.clock import SystemClock
from server.collect import Collector
from server.costing.catalog import load_catalog
from server.databricks import DatabricksGateway
from server.domain import Project, Run
from server.plan.planner import Planner
from server.services import workspaces
from server.services.projects import update_settings
from server.services.secrets import SecretBox
from server.spec import find_cluster_spec
from server.store import Store


def _live(gateway: DatabricksGateway, project: Project) -> dict[str, Any]:
    spec = find_cluster_spec(gateway.get_job(project.job_id)["settings"], project.cluster_key)
    assert spec is not None
    return spec


def _run(store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
         project: Project) -> Run:
    gateway.run_now(project.job_id)
    assert emulator.wait_idle(120)
    collector = Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws), clock=SystemClock(),
                          catalog=load_catalog())
    (run,) = collector.poll_once()
    return run


def _planner(store: Store, secrets: SecretBox, project: Project, *, auto_apply: bool) -> Planner:
    """The server's planner on the emulator, the project's auto-apply set as given."""
    if auto_apply:
        update_settings(store, project.name, {"auto_apply": True})
    return Planner(store, load_catalog(), lambda ws: workspaces.gateway_for(store, secrets, ws))


def test_a_ban_reaches_the_next_run_over_an_apply_no_run_used(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        daily: Project) -> None:
    pid = int(daily.id or 0)
    planner = _planner(store, secrets, daily, auto_apply=True)
    first = _run(store, secrets, emulator, gateway, daily)
    planner.after_run(first)
    project = store.projects.get(pid)
    assert project.pending_apply and not project.pending_apply["confirmed"], "auto-apply applied a learning run"
    old = store.recommendations.get(int(project.pending_apply["recommendation_id"]))
    family = old.config.node_type_id.split(".")[0]
    others = sorted({t.split(".")[0] for t in load_catalog().node_types("aws")} - {family})
    allowed = next(f for f in ("r5d", "m5d", "c5d") if f in others)

    # The owner bans spot and every family but one before the next run.
    update_settings(store, daily.name, {"spot_allowed": False, "allowed_families": (allowed,), "max_workers": 3})
    new = planner.replan(pid)
    assert new is not None and new.state == "applied" and new.id != old.id
    assert store.recommendations.get(int(old.id or 0)).state == "superseded"  # no run ever used it
    live = _live(gateway, daily)
    assert live["node_type_id"].startswith(f"{allowed}.") and live.get("num_workers", 0) <= 3
    assert (live.get("aws_attributes") or {}).get("availability") == "ON_DEMAND"
    applied = store.projects.get(pid).pending_apply
    assert applied["recommendation_id"] == new.id
    # The runs before still ran what was there before the superseded apply.
    assert applied["previous_recommendation_id"] == project.pending_apply["previous_recommendation_id"]
    assert applied["applied_after_run_id"] == first.databricks_run_id

    second = _run(store, secrets, emulator, gateway, daily)
    assert second.recommendation_id == new.id and second.config is not None
    assert second.config.node_type_id.startswith(f"{allowed}.") and second.config.availability == "ON_DEMAND"


def test_with_auto_apply_off_a_settings_change_applies_nothing(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        daily: Project) -> None:
    pid = int(daily.id or 0)
    planner = _planner(store, secrets, daily, auto_apply=False)
    planner.after_run(_run(store, secrets, emulator, gateway, daily))
    before = _live(gateway, daily)
    update_settings(store, daily.name, {"spot_allowed": False})
    rec = planner.replan(pid)
    assert rec is not None and rec.state == "pending"
    assert _live(gateway, daily) == before


def test_a_settings_change_after_a_revert_keeps_the_rejected_recommendation_out_of_reach(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        daily: Project) -> None:
    # Review of 29fdf08: the revert's record (unconfirmed, naming the rejected recommendation as its
    # "previous") was taken for an apply no run had used, so the new apply inherited it: the next revert
    # wrote the rejected cluster back, and the recommendation reverted to (which ran) read superseded.
    from server import apply

    pid = int(daily.id or 0)
    planner = _planner(store, secrets, daily, auto_apply=True)
    planner.after_run(_run(store, secrets, emulator, gateway, daily))
    first = int(store.projects.get(pid).pending_apply["recommendation_id"])
    planner.after_run(_run(store, secrets, emulator, gateway, daily))  # a run on the first confirms it
    rejected = int(store.projects.get(pid).pending_apply["recommendation_id"])
    assert rejected != first
    apply.revert(store, gateway, pid)  # the owner turns it down: back to the first
    update_settings(store, daily.name, {"max_workers": 6})  # and tightens a bound before the next run
    new = planner.replan(pid)
    assert new is not None and new.state == "applied"
    record = store.projects.get(pid).pending_apply
    assert record["previous_recommendation_id"] == first
    assert store.recommendations.get(first).state == "applied"  # it held runs: not superseded
    apply.revert(store, gateway, pid)  # the new one is turned down too
    tag = (_live(gateway, daily).get("custom_tags") or {}).get("trimtab:recommendation-id")
    assert tag != str(rejected), "the second revert put the rejected recommendation back on the job"
