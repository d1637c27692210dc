"""Revert puts back only what Trimtab owns (sizing, node types, availability and disks), over the
live spec as an apply merges: a field the drift check leaves to the user (aws_attributes.zone_id,
which Databricks also fills in) keeps the user's value. Before, revert wrote the spec from before the
apply whole, undoing the user's zone change."""

from __future__ import annotations

from typing import Any

from sandbox.workspace.seed import aws_cluster
from server.apply import apply_recommendation, revert
from server.databricks import DatabricksGateway
from server.domain import ClusterConfig, Project, Recommendation
from server.onboard import PROJECT_TAG, RECOMMENDATION_TAG
from server.services import workspaces
from server.services.secrets import SecretBox
from server.spec import cluster_entry_update, find_cluster_spec
from server.store import Store
from tests.integration.conftest import WIRING


def _import(store: Store, secrets: SecretBox, gateway: DatabricksGateway, spec: dict[str, Any]) -> Project:
    job_id = gateway.create_job({"name": "etl", "job_clusters": [{"job_cluster_key": "main", "new_cluster": spec}],
                                 "tasks": [{"task_key": "main", "job_cluster_key": "main",
                                            "spark_python_task": {"python_file": "dbfs:/jobs/etl.py"}}]})
    (imported,) = workspaces.import_jobs(store, secrets, "sbx", [job_id], wiring=WIRING).projects
    return imported.project


def _recommend(store: Store, project: Project) -> Recommendation:
    config = ClusterConfig(node_type_id="m5d.2xlarge", num_workers=2, availability="ON_DEMAND", first_on_demand=1)
    return store.recommendations.add(Recommendation(project_id=int(project.id or 0), config=config, reason="test"))


def _live(gateway: DatabricksGateway, project: Project) -> dict[str, Any]:
    spec = find_cluster_spec(gateway.get_job(project.job_id)["settings"], project.cluster_key)
    assert spec is not None
    return spec


def _edit(gateway: DatabricksGateway, project: Project, edited: dict[str, Any]) -> None:
    settings = gateway.get_job(project.job_id)["settings"]
    gateway.update_job(project.job_id, cluster_entry_update(settings, project.cluster_key, edited))


def test_revert_keeps_the_users_zone_and_puts_back_what_the_apply_changed(
        store: Store, secrets: SecretBox, gateway: DatabricksGateway, connected: object) -> None:
    project = _import(store, secrets, gateway, aws_cluster("m5d.xlarge", 4))
    before = _live(gateway, project)
    _recommend(store, project)
    apply_recommendation(store, gateway, int(project.id or 0))
    zoned = _live(gateway, project)
    zoned["aws_attributes"]["zone_id"] = "us-east-1b"  # no drift (Databricks fills it in): the user's to set
    _edit(gateway, project, zoned)

    result = revert(store, gateway, int(project.id or 0))
    assert result.applied
    live = _live(gateway, project)
    assert live["aws_attributes"]["zone_id"] == "us-east-1b"
    assert {**live, "aws_attributes": {**live["aws_attributes"], "zone_id": "auto"}} == before
    assert RECOMMENDATION_TAG not in live["custom_tags"] and PROJECT_TAG in live["custom_tags"]
    assert store.projects.get(int(project.id or 0)).current_spec == live


def test_revert_puts_autoscaling_and_spot_back(
        store: Store, secrets: SecretBox, gateway: DatabricksGateway, connected: object) -> None:
    project = _import(store, secrets, gateway, aws_cluster("m5d.xlarge", autoscale=(2, 8)))
    before = _live(gateway, project)
    _recommend(store, project)  # a fixed size, on demand
    apply_recommendation(store, gateway, int(project.id or 0))
    assert "autoscale" not in _live(gateway, project)
    revert(store, gateway, int(project.id or 0))
    live = _live(gateway, project)
    assert live == before
    assert "num_workers" not in live and live["aws_attributes"]["availability"] == "SPOT_WITH_FALLBACK"


def test_reverting_an_apply_of_the_running_cluster_does_not_ban_it(
        store: Store, secrets: SecretBox, gateway: DatabricksGateway, connected: object) -> None:
    """An apply that changed only the tag, reverted: the cluster the job goes back to is the one
    the recommendation named, so it is not turned down (fresh-clone review, ninth session: the next
    plan moved the job to a dearer cluster, 'c6id.xlargex5 was turned down')."""
    from server.apply import REJECTED_KEY
    from server.plan.candidates import config_id_of
    from server.spec import config_from_spec

    project = _import(store, secrets, gateway, aws_cluster("m5d.xlarge", 4))
    same = config_from_spec(_live(gateway, project))
    rec = store.recommendations.add(Recommendation(project_id=int(project.id or 0), config=same, reason="test"))
    apply_recommendation(store, gateway, int(project.id or 0))
    revert(store, gateway, int(project.id or 0))
    after = store.projects.get(int(project.id or 0))
    assert config_id_of(same) not in (after.state.get(REJECTED_KEY) or [])
    assert store.recommendations.get(int(rec.id or 0)).state == "reverted"  # the recommendation itself is
    # A recommendation of another cluster, reverted, is still turned down.
    second = _import(store, secrets, gateway, aws_cluster("m5d.xlarge", 4))
    other = _recommend(store, second)
    apply_recommendation(store, gateway, int(second.id or 0))
    revert(store, gateway, int(second.id or 0))
    assert config_id_of(other.config) in (store.projects.get(int(second.id or 0)).state.get(REJECTED_KEY) or [])
