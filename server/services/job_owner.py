"""Which project of this server a job cluster's ``trimtab:project-id`` tag names, when it is not ours.

The tag is written by onboarding (`server.onboard.onboard_spec`) and names one project of this
server. A job whose cluster names a project of *another* workspace that is still attached is that
workspace's job: the same Databricks workspace added a second time under a new name (e.g. after the
sandbox emulator came back on another port). Importing it there would rewrite the tag and take the
job from the project that manages it, so import skips the job, naming the owner
(`server.services.workspaces.import_jobs`, and auto-import through it).
"""

from __future__ import annotations

from server.domain import MAX_ROW_ID, Project, Workspace
from server.errors import NotFound
from server.onboard import PROJECT_TAG, ClusterTarget
from server.store import Store

# Why such a job is skipped: the owner, and the two ways out.
REASON_OWNED = ("cluster {cluster!r} carries {tag}={project_id}: it is managed by project {project} of workspace "
                "{owner} ({host}). If {workspace} and {owner} are the same Databricks workspace, re-point {owner} "
                "(`trimtab workspace set {owner} --host URL --token-env VAR`) and remove {workspace}; if the job really moved, "
                "`trimtab project detach {project}` first")


def tagged_project_id(target: ClusterTarget) -> int | None:
    """The project id the cluster's tag names, or None (no tag, or not an id this server writes: a
    hand-set or copied value above `MAX_ROW_ID` would make PostgreSQL refuse the lookup, and one such
    job would then fail every import of its workspace)."""
    tags = target.spec.get("custom_tags")
    value = tags.get(PROJECT_TAG) if isinstance(tags, dict) else None
    text = str(value).strip() if value is not None else ""
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        return None
    number = int(text)
    return number if 1 <= number <= MAX_ROW_ID else None


def owner_elsewhere(store: Store, ws: Workspace, targets: list[ClusterTarget]) -> tuple[ClusterTarget, Project] | None:
    """The first of ``targets`` whose tag names an attached project of another workspace, with it."""
    for target in targets:
        project_id = tagged_project_id(target)
        if project_id is None:
            continue
        try:
            project = store.projects.get(project_id)
        except NotFound:
            continue  # a tag of a project since removed, or of another server's store: nobody here owns it
        if project.workspace != ws.name and not (project.detached or project.orphaned):
            return target, project
    return None


def owned_reason(store: Store, ws: Workspace, target: ClusterTarget, owner: Project) -> str:
    try:
        host = store.workspaces.get(owner.workspace).host
    except NotFound:
        host = "no longer connected"
    return REASON_OWNED.format(cluster=target.cluster_key, tag=PROJECT_TAG, project_id=owner.id,
                               project=owner.name, owner=owner.workspace, host=host, workspace=ws.name)
