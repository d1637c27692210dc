"""Why a project is orphaned (pure): the one place its cause is decided and worded, for the
collector that finds it, an apply that finds it first, and `trimtab project show`.

A project's job cluster leaves its job when the owner deletes the job, moves its tasks to an
all-purpose cluster or to serverless compute, splits them over other job clusters, or deletes the
task; or another Trimtab server takes the job over (`server.take_over`). What the job runs on now is
said in import's words (`server.onboard`'s classification of a job's tasks), so `project show` and
`workspace import` never describe one job two ways.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from server.domain import Project
from server.spec import find_cluster_spec

JOB_DELETED = "the job was deleted"
# Stored under this key of the project's state (`Project.state`), read by every command that names it.
REASON_KEY = "orphaned_reason"
# What is said of an orphan whose cause was never recorded (orphaned by a server before causes were).
UNKNOWN = "its job or cluster is gone from the workspace"


def orphan_cause(project: Project, settings: Mapping[str, Any] | None) -> str | None:
    """Why ``project`` is orphaned by its job as it is now (``settings``, None when the job was
    deleted), or None when its cluster is still in the job and still this server's."""
    if settings is None:
        return JOB_DELETED
    # Imported here: `server.take_over` and `server.onboard` load the store (SQLAlchemy), and the CLI
    # (`server.render.project_status`) reads this module's words without it.
    from server.take_over import taken_over

    live = find_cluster_spec(settings, project.cluster_key)
    if live is None:
        return cluster_gone(project, settings)
    return taken_over(project, live)


def cluster_gone(project: Project, settings: Mapping[str, Any], projects: Mapping[str, str] | None = None) -> str:
    """Why ``project``'s cluster is not in the job's ``settings``, with what the job runs on now.
    ``projects``: the job's other projects by cluster key (their names), named as what it runs on."""
    gone = f"cluster {project.cluster_key!r} is no longer in the job"
    now = _runs_on(project, settings, projects or {})
    return f"{gone}: the job now {now}" if now else gone


def recorded_cause(project: Project) -> str:
    """The cause stored when ``project`` was orphaned ("" when it is not orphaned)."""
    if not project.orphaned:
        return ""
    return str(project.state.get(REASON_KEY) or "") or UNKNOWN


def _runs_on(project: Project, settings: Mapping[str, Any], projects: Mapping[str, str]) -> str:
    """What the job's tasks run on now, as import sorts them: other job clusters (the projects they are
    already, ``projects`` by key; the others an import makes projects of) and the compute of the tasks
    on none (all-purpose, serverless, a SQL warehouse...)."""
    # The classification import skips a job by (private there): shared, not copied. Imported here for
    # the CLI's sake, as `taken_over` is.
    from server.onboard import REASON_SERVERLESS, _task_clusters

    clusters, notes = _task_clusters(settings, project.job_id, "")
    others = [key for key in clusters if key != project.cluster_key]
    parts: list[str] = []
    # One a project already: importing it again, as the words for a new one said, changes nothing.
    if known := [key for key in others if key in projects]:
        many = len(known) > 1
        parts.append(f"runs on job cluster{'s' if many else ''} {', '.join(repr(key) for key in known)}, which "
                     f"{'are projects' if many else 'is project'} {', '.join(projects[key] for key in known)}")
    if new := [key for key in others if key not in projects]:
        many = len(new) > 1
        named = ", ".join(repr(key) for key in new)
        parts.append(f"runs on job cluster{'s' if many else ''} {named}, which `trimtab workspace import "
                     f"{project.workspace} --job {project.job_id}` imports as {'projects' if many else 'a project'}")
    # REASON_SERVERLESS alone is import's reason to skip a job ("job 3: serverless compute (...)").
    parts += [f"runs on {note}" if note == REASON_SERVERLESS else note for note in dict.fromkeys(notes)]
    return "; ".join(parts)
