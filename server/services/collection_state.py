"""Whether an attached project's runs are being collected now, as `trimtab project show` says it:
the collector records its trouble on the workspace (its status, or the jobs failing on their own:
`server.collect.health`, `server.collect.job_trouble`), where only `workspace show` said it, so the
person looking at a project read its stale figures as current."""

from __future__ import annotations

from dataclasses import dataclass

from server.domain import Project
from server.errors import NotFound
from server.store import Store

WORKSPACE = "workspace"
JOB = "job"
FAILING = "failing"  # a job's status while its own calls fail


@dataclass(frozen=True)
class CollectionProblem:
    """Why a project's runs are not collected: its workspace's (``scope`` `WORKSPACE`, ``status`` the
    workspace's) or its job's own (`JOB`, `FAILING`). ``since_ms``: the job's first failed try, or the
    workspace's last poll that worked (0: not known); ``failures``: the job's tries in a row."""

    scope: str
    status: str
    message: str
    since_ms: int = 0
    failures: int = 0


def collection_problem(store: Store, project: Project) -> CollectionProblem | None:
    """Why ``project``'s runs are not being collected now, None when they are. A detached or orphaned
    project is never collected: that is said by its own mark, not here."""
    if project.detached or project.orphaned:
        return None
    try:
        workspace = store.workspaces.get(project.workspace)
    except NotFound:
        return None
    if workspace.status != "ok":
        return CollectionProblem(WORKSPACE, workspace.status, workspace.last_error,
                                 store.workspaces.polled_ok_at(workspace.name) or 0)
    failing = store.workspaces.failing_jobs(workspace.name).get(project.job_id)
    if failing is None:
        return None
    return CollectionProblem(JOB, FAILING, failing.error, failing.since_ms, failing.failures)
