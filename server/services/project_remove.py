"""`trimtab project remove`: delete a detached or orphaned project, with its whole history when asked.

Detach keeps a project's runs and recommendations, and `ProjectRepository.remove_unused` removes only
a project without any: until now a project with history stayed for good. Removing one Trimtab still
manages is refused: its job's cluster still carries Trimtab's init script and sizing, which detach
puts back first.
"""

from __future__ import annotations

from dataclasses import dataclass

from server.apply_lock import project_lock
from server.domain import Project
from server.errors import FailedPrecondition
from server.render.fmt import counted
from server.services.projects import required
from server.store import Store
from server.store.repos.retention import PurgeReport


@dataclass(frozen=True)
class ProjectHistory:
    """A project and how much history a removal would delete with it."""

    project: Project
    name: str
    runs: int
    recommendations: int


def project_history(store: Store, ref: str) -> ProjectHistory:
    """The project ``ref`` names (id or name) and its history's size; `FailedPrecondition` when it is
    attached (neither detached nor orphaned)."""
    project = store.projects.find(required(ref, "project"))
    name = f"{project.workspace}/{project.job_id}/{project.cluster_key}"
    if not (project.detached or project.orphaned):
        raise FailedPrecondition(f"project {name} is attached: Trimtab still manages job {project.job_id}'s cluster; "
                                 f"`trimtab project detach {name}` first, then remove it")
    runs, recommendations = store.retention.history_counts(int(project.id or 0))
    return ProjectHistory(project, name, runs, recommendations)


def remove_project(store: Store, found: ProjectHistory, *, purge: bool) -> PurgeReport:
    """Delete the project ``found`` describes; one with history only with ``purge`` (all of it goes)."""
    if (found.runs or found.recommendations) and not purge:
        raise FailedPrecondition(f"project {found.name} has {counted(found.runs, 'run')} and "
                                 f"{counted(found.recommendations, 'recommendation')}: --purge deletes them (and "
                                 "their Spark data) with it")
    project_id = int(found.project.id or 0)
    # Under the project's lock: a server collecting or applying for it (on PostgreSQL, any server)
    # finishes first; the repository checks again, in its transaction, that it is not attached.
    with project_lock(project_id, store):
        return store.retention.purge_project(project_id, found.name)
