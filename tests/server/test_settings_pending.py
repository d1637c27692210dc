"""A settings change answers with the pending recommendation and whether the job already runs it, as
`get_project` does (`server.services.projects.with_pending`), on SQLite and PostgreSQL: what `project set`
says it by."""

from __future__ import annotations

from server.domain import ClusterConfig, Project, Recommendation, Workspace
from server.services.projects import change_settings, get_project
from server.store import Store

SPEC = {"node_type_id": "m5.xlarge", "num_workers": 4, "spark_version": "15.4.x-scala2.12",
        "aws_attributes": {"availability": "SPOT_WITH_FALLBACK", "first_on_demand": 1}}


def _project(store: Store) -> Project:
    store.workspaces.add(Workspace(name="prod", host="http://127.0.0.1:9", cloud="aws", plan="premium"), "x")
    return store.projects.add(Project(workspace="prod", job_id=42, cluster_key="main", job_name="nightly",
                                      current_spec=SPEC, original_spec=SPEC))


def _pending(store: Store, project: Project, availability: str) -> Recommendation:
    return store.recommendations.add(Recommendation(project_id=int(project.id or 0), reason="test", config=ClusterConfig(
        node_type_id="m5.xlarge", num_workers=4, availability=availability, first_on_demand=1,
        spark_version="15.4.x-scala2.12")))


def test_a_settings_change_says_whether_the_job_runs_the_pending_recommendation(any_store: Store) -> None:
    project = _project(any_store)
    same = _pending(any_store, project, "SPOT_WITH_FALLBACK")
    for auto_apply in (True, True, False):  # a change, the same settings again, a change back
        summary, _ = change_settings(any_store, str(project.id), {"auto_apply": auto_apply})
        assert summary.pending is not None and summary.pending.recommendation.id == same.id
        assert summary.pending.already_on_job
    spot = _pending(any_store, project, "SPOT")  # supersedes it; spot without fallback is another cluster
    summary, changed = change_settings(any_store, str(project.id), {"auto_apply": False})
    assert not changed and summary.pending is not None and summary.pending.recommendation.id == spot.id
    assert not summary.pending.already_on_job
    assert get_project(any_store, str(project.id)).pending == summary.pending
