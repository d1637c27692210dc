"""A re-import (`workspace import` again, to pick up new jobs) that finds a cluster edited outside
Trimtab treats the edit as an apply or the collector does: the project rebases on it, the
recommendation planned before it is superseded and auto-apply holds. Before, the import recorded the
edited spec as the one Trimtab expects, and the next apply wrote the stale recommendation over it."""

from __future__ import annotations

from typing import Any

import pytest

from server.apply import apply_recommendation
from server.databricks import DatabricksGateway
from server.domain import ClusterConfig, Project, Recommendation
from server.errors import FailedPrecondition
from server.onboard import RECOMMENDATION_TAG
from server.plan.planner import edit_hold
from server.services import workspaces
from server.services.projects import update_settings
from server.services.secrets import SecretBox
from server.spec import cluster_entry_update, find_cluster_spec, recommended_spec
from server.store import Store
from tests.integration.conftest import WIRING


def _recommend(store: Store, project: Project) -> Recommendation:
    config = ClusterConfig(node_type_id="m5d.xlarge", num_workers=2, availability="ON_DEMAND", first_on_demand=1)
    return store.recommendations.add(Recommendation(project_id=int(project.id or 0), config=config, reason="test"))


def _live(gateway: DatabricksGateway, project: Project) -> dict[str, Any]:
    spec = find_cluster_spec(gateway.get_job(project.job_id)["settings"], project.cluster_key)
    assert spec is not None
    return spec


def _edit(gateway: DatabricksGateway, project: Project, **fields: Any) -> dict[str, Any]:
    """The user's edit in the Databricks UI or API: the cluster entry sent whole, as the Jobs API needs."""
    edited = {**_live(gateway, project), **fields}
    settings = gateway.get_job(project.job_id)["settings"]
    gateway.update_job(project.job_id, cluster_entry_update(settings, project.cluster_key, edited))
    return edited


def _reimport(store: Store, secrets: SecretBox) -> None:
    workspaces.import_jobs(store, secrets, "sbx", [], wiring=WIRING)  # every job, as `workspace import sbx`


def test_a_reimport_that_finds_an_edit_rebases_and_the_stale_recommendation_is_not_applied(
        store: Store, secrets: SecretBox, gateway: DatabricksGateway, daily: Project) -> None:
    pid = int(daily.id or 0)
    rec = _recommend(store, daily)
    _edit(gateway, daily, num_workers=12)  # the job needed more workers
    _reimport(store, secrets)

    project = store.projects.get(pid)
    assert store.recommendations.get(int(rec.id or 0)).state == "superseded"
    assert project.current_spec["num_workers"] == 12 and project.pending_apply is None
    assert project.state["user_edit_paths"] == ["num_workers"]
    with pytest.raises(FailedPrecondition, match="superseded"):
        apply_recommendation(store, gateway, pid)
    assert _live(gateway, daily)["num_workers"] == 12  # the edit stays
    # Auto-apply holds for the edit, as after an edit an apply or a run found.
    update_settings(store, str(pid), {"auto_apply": True})
    assert "you edited the cluster (num_workers) (found by an apply or an import before any run used it)" \
        in edit_hold(store.projects.get(pid), [])


def test_a_reimport_with_no_edit_leaves_the_recommendation_pending(
        store: Store, secrets: SecretBox, gateway: DatabricksGateway, daily: Project) -> None:
    rec = _recommend(store, daily)
    _reimport(store, secrets)
    assert store.recommendations.get(int(rec.id or 0)).state == "pending"
    assert "user_edit_paths" not in store.projects.get(int(daily.id or 0)).state
    assert apply_recommendation(store, gateway, int(daily.id or 0)).applied
    # An apply no run has used yet is what the job holds: a re-import is no edit either.
    _reimport(store, secrets)
    project = store.projects.get(int(daily.id or 0))
    assert project.pending_apply is not None and project.pending_apply["recommendation_id"] == rec.id
    assert _live(gateway, daily)["num_workers"] == 2


def test_a_reimport_records_an_apply_trimtab_wrote_but_never_recorded(
        store: Store, secrets: SecretBox, gateway: DatabricksGateway, daily: Project) -> None:
    # The server stopped between jobs/update and the store write: the job holds the recommendation.
    rec = _recommend(store, daily)
    written = recommended_spec(_live(gateway, daily), rec.config, cloud="aws")
    written["custom_tags"] = {**written["custom_tags"], RECOMMENDATION_TAG: str(rec.id)}
    _edit(gateway, daily, **written)
    _reimport(store, secrets)
    project = store.projects.get(int(daily.id or 0))
    assert store.recommendations.get(int(rec.id or 0)).state == "applied"
    assert "user_edit_paths" not in project.state
    assert project.pending_apply is not None and project.pending_apply["recommendation_id"] == rec.id
