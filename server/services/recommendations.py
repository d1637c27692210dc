"""Recommendations: show, reject, apply and revert through the Jobs API; detach a project.

Thin wrappers over `server.apply` that find the project and its workspace's
gateway, and record a refused token on the workspace.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from server import apply
from server.databricks import DatabricksGateway
from server.domain import ApplyOutcome, Project, Recommendation
from server.errors import NotFound
from server.services.projects import required
from server.services.secrets import SecretBox
from server.services.workspaces import check_answers, gateway_for, recording_status
from server.store import Store


def get_recommendation(store: Store, project_ref: str) -> Recommendation:
    """The pending recommendation of a project, else its newest one."""
    project = store.projects.find(required(project_ref, "project"))
    assert project.id is not None
    rec = store.recommendations.pending(project.id) or store.recommendations.latest(project.id)
    if rec is None:
        raise NotFound(f"project {project.name} has no recommendation yet")
    return rec


def reject_recommendation(store: Store, project_ref: str) -> Recommendation:
    """Reject the pending recommendation; its configuration is not recommended again (`apply.reject`)."""
    project = store.projects.find(required(project_ref, "project"))
    assert project.id is not None
    return apply.reject(store, project.id)


def apply_recommendation(store: Store, secrets: SecretBox, project_ref: str,
                         dry_run: bool = False) -> ApplyOutcome:
    project = store.projects.find(required(project_ref, "project"))
    with _gateway(store, secrets, project, dry_run) as gateway:
        result = apply.apply_recommendation(store, gateway, int(project.id or 0), dry_run=dry_run)
    return ApplyOutcome(result.recommendation, result.diff, result.applied)


def revert_recommendation(store: Store, secrets: SecretBox, project_ref: str,
                          dry_run: bool = False) -> ApplyOutcome:
    project = store.projects.find(required(project_ref, "project"))
    with _gateway(store, secrets, project, dry_run) as gateway:
        result = apply.revert(store, gateway, int(project.id or 0), dry_run=dry_run)
    return ApplyOutcome(result.recommendation, result.diff, result.applied)


def detach_project(store: Store, secrets: SecretBox, project_ref: str, dry_run: bool = False) -> ApplyOutcome:
    """Put the job's original cluster spec back and stop managing the project."""
    project = store.projects.find(required(project_ref, "project"))
    with _gateway(store, secrets, project, dry_run) as gateway:
        result = apply.restore_original(store, gateway, int(project.id or 0), dry_run=dry_run)
    return ApplyOutcome(result.recommendation, result.diff, result.applied)


# A dry run only reads the job, and `server.apply` holds the project's lock while it does: a person
# is waiting, and the collector and other calls on the project wait too, so it retries for at most
# this long rather than a collector call's budget (`GatewayConfig.retry_timeout_s`).
DRY_RUN_RETRY_S = 10


@contextmanager
def _gateway(store: Store, secrets: SecretBox, project: Project, dry_run: bool) -> Iterator[DatabricksGateway]:
    """The project's workspace gateway, recording a refused token on the workspace; a workspace
    known to be unreachable is probed once before the project is locked (`check_answers`)."""
    workspace = store.workspaces.get(project.workspace)
    with recording_status(store, workspace):
        gateway = gateway_for(store, secrets, workspace, DRY_RUN_RETRY_S if dry_run else None)
        check_answers(workspace, gateway)
        yield gateway
