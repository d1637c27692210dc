"""Recommendations — store-only version.

The Databricks-integration part replaces this module (keeping these
signatures) with apply and revert through the Jobs API. Until then showing
and rejecting work from the store; applying and reverting say what they need.
"""

from __future__ import annotations

from server.domain import ApplyOutcome, Recommendation
from server.errors import FailedPrecondition, NotFound
from server.services.secrets import SecretBox
from server.store import Store


def get_recommendation(store: Store, project_ref: str) -> Recommendation:
    """The pending recommendation of a project, else its newest one."""
    project = store.projects.find(project_ref)
    assert project.id is not None
    rec = store.recommendations.pending(project.id) or store.recommendations.latest(project.id)
    if rec is None:
        raise NotFound(f"project {project.name} has no recommendation yet")
    return rec


def reject_recommendation(store: Store, project_ref: str) -> Recommendation:
    project = store.projects.find(project_ref)
    assert project.id is not None
    rec = store.recommendations.pending(project.id)
    if rec is None:
        raise FailedPrecondition(f"project {project.name} has no pending recommendation")
    assert rec.id is not None
    return store.recommendations.set_state(rec.id, "rejected")


def apply_recommendation(store: Store, secrets: SecretBox, project_ref: str,
                         dry_run: bool = False) -> ApplyOutcome:
    store.projects.find(project_ref)
    raise FailedPrecondition("applying a recommendation needs the Databricks integration, which this build lacks")


def revert_recommendation(store: Store, secrets: SecretBox, project_ref: str,
                          dry_run: bool = False) -> ApplyOutcome:
    store.projects.find(project_ref)
    raise FailedPrecondition("reverting needs the Databricks integration, which this build lacks")
