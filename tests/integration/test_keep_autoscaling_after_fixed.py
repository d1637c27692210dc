"""`--keep-autoscaling on` after Trimtab made an autoscaling job fixed brings the ranges back; on a job
with no autoscaling to keep it says so.

The review loop's job B (r5d.2xlarge on 4-16): the first recommendation made it a fixed 2 workers, the
reason saying `--keep-autoscaling on` keeps it; with the setting on, 18 more recommendations were all
fixed sizes and nothing said why. The grid was of ranges (the shape is read off the cluster as
imported), but the fixed sizes the job had run on stayed recommendable, and the model's best was one
of them. Real parts: the sandbox workspace emulator over HTTP through the real databricks-sdk gateway,
import, apply, the collector, the settings service and the planner; both store engines."""

from __future__ import annotations

from typing import Any

from sandbox.workspace import RunningWorkspace
from sandbox.workspace.seed import aws_cluster
from server.apply import apply_recommendation
from server.costing.catalog import load_catalog
from server.databricks import DatabricksGateway
from server.domain import ClusterConfig, Project, Recommendation, Workspace
from server.plan.candidates import project_candidates
from server.plan.planner import plan_project
from server.services.projects import update_settings
from server.services.secrets import SecretBox
from server.spec import cluster_entry_update, find_cluster_spec
from server.store import Store
from tests.integration.conftest import import_etl_job, run_and_collect

FIXED = ClusterConfig(node_type_id="m5d.2xlarge", driver_node_type_id="m5d.2xlarge", num_workers=2,
                      availability="SPOT_WITH_FALLBACK", first_on_demand=1)


def _ran_fixed(store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
               spec: dict[str, Any]) -> Project:
    """A job on ``spec`` imported, then written a fixed m5d.2xlarge x 2 (what a project that does not
    keep autoscaling is recommended) and run on it twice."""
    project = import_etl_job(store, secrets, gateway, spec)
    pid = int(project.id or 0)
    update_settings(store, str(pid), {"sla_seconds": None})
    store.recommendations.add(Recommendation(project_id=pid, config=FIXED))
    assert apply_recommendation(store, gateway, pid).applied
    for _ in range(2):
        run_and_collect(store, secrets, emulator, gateway, project.job_id)
    return store.projects.get(pid)


def _plan(store: Store, project: Project) -> tuple[Recommendation, dict[str, bool], dict[str, ClusterConfig]]:
    """The next recommendation, and the candidates (allowed or observed only, and their configurations)."""
    project = store.projects.get(int(project.id or 0))
    workspace = store.workspaces.get(project.workspace)
    runs = store.runs.history(int(project.id or 0))
    pairs = project_candidates(project, workspace, load_catalog(), runs)
    rec = plan_project(store, int(project.id or 0), load_catalog())
    assert rec is not None
    return rec, {c.config_id: c.allowed for c, _ in pairs}, {c.config_id: cfg for c, cfg in pairs}


def test_keep_autoscaling_on_after_a_fixed_write_recommends_ranges_again(
        store: Store, secrets: SecretBox, connected: Workspace, emulator: RunningWorkspace,
        gateway: DatabricksGateway) -> None:
    project = _ran_fixed(store, secrets, emulator, gateway, aws_cluster("r5d.2xlarge", autoscale=(4, 16)))
    update_settings(store, str(project.id), {"keep_autoscaling": True})
    rec, allowed, configs = _plan(store, project)
    assert rec.config.autoscale_max > rec.config.autoscale_min > 0, rec.config
    # The fixed size it ran on still teaches the model, and no fixed size is recommendable.
    assert allowed["m5d.2xlargex2-spot"] is False
    assert not [i for i, ok in allowed.items() if ok and configs[i].autoscale_max == 0]


def test_keep_autoscaling_on_a_job_imported_fixed_says_there_is_none_to_keep(
        store: Store, secrets: SecretBox, connected: Workspace, emulator: RunningWorkspace,
        gateway: DatabricksGateway) -> None:
    project = _ran_fixed(store, secrets, emulator, gateway, aws_cluster("m5d.2xlarge", 8))
    update_settings(store, str(project.id), {"keep_autoscaling": True})
    rec, allowed, _ = _plan(store, project)
    assert rec.config.autoscale_max == 0
    assert "keep_autoscaling is on, but the cluster has no autoscaling to keep" in rec.reason
    assert allowed["m5d.2xlargex2-spot"] is True  # fixed sizes stay what the project is planned on
    # The owner gives the cluster a range in Databricks: that is autoscaling to keep.
    live = find_cluster_spec(gateway.get_job(project.job_id)["settings"], project.cluster_key)
    assert live is not None
    live.pop("num_workers")
    live["autoscale"] = {"min_workers": 2, "max_workers": 6}
    gateway.update_job(project.job_id, cluster_entry_update(gateway.get_job(project.job_id)["settings"],
                                                            project.cluster_key, live))
    run_and_collect(store, secrets, emulator, gateway, project.job_id)
    rec, allowed, _ = _plan(store, project)
    assert rec.config.autoscale_max > rec.config.autoscale_min > 0, rec.config
    assert "no autoscaling to keep" not in rec.reason
    assert allowed["m5d.2xlargex2-spot"] is False
