"""Which project of this server a job cluster's ``trimtab:project-id`` tag names, when it is not ours.

The tag is written by onboarding (`server.onboard.onboard_spec`) and names one project of this
server. A job whose cluster names a project of *another* workspace that is still attached is that
workspace's job: the same Databricks workspace added a second time under a new name (e.g. after the
sandbox emulator came back on another port). Importing it there would rewrite the tag and take the
job from the project that manages it, so import skips the job, naming the owner
(`server.services.workspaces.import_jobs`, and auto-import through it).

A cluster whose tag names another project of the *same* workspace is a copy of that project's cluster
(Databricks' "Clone job" copies the cluster entry whole, Trimtab's init script, TRIMTAB_* variables and
both tags included): `cloned_from` names that project, and `as_found` is the cluster without what Trimtab
put there, the spec the new project records as found. A tag of a project of the *same job* whose own
key is gone from the job is no copy: the owner renamed the cluster, and `renamed_from` names the
project that follows it (`server.cluster_rename`).
"""

from __future__ import annotations

from typing import Any

from server.apply import ONBOARDED_KEY, detached_spec
from server.cluster_rename import rename_target, tagged_id
from server.domain import Project, Workspace
from server.errors import NotFound
from server.onboard import PROJECT_TAG, SERVER_ENV, TRIMTAB_TAGS, ClusterTarget, wired_server
from server.store import Store

# Why such a job is skipped: the owner, and the two ways out.
REASON_OWNED = ("cluster {cluster!r} carries {tag}={project_id}: it is managed by project {project} of workspace "
                "{owner} ({host}). If {workspace} and {owner} are the same Databricks workspace, re-point {owner} "
                "(`trimtab workspace set {owner} --host URL --token-env VAR`) and remove {workspace}; if the job really moved, "
                "`trimtab project detach {project}` first")


# Why a job wired to another Trimtab server is skipped (`other_server`), and the way out.
REASON_OTHER_SERVER = ("cluster {cluster!r} is wired to another Trimtab server ({env}={address}; this server is "
                       "{ours}) and no project of this database manages it: importing it would take the job from "
                       "that server, whose agents on this workspace would then be refused. If {address} was this "
                       "server's own address before, or the other server is gone, import again with --take-over")


def other_server(store: Store, ws: Workspace, targets: list[ClusterTarget],
                 address: str) -> tuple[ClusterTarget, str] | None:
    """The first of ``targets`` wired to a Trimtab server other than ``address`` (this one's, as its
    agents reach it) that no project of this database manages, with that server's address.

    Another server (a staging one beside production, both importing the same workspace) would
    otherwise be taken over in silence: the import rewrote the job's wiring and its token secret,
    both servers then recorded the job's runs, and the first one's agents were refused. A project
    here for the cluster (this server moved to another address) is ours to re-wire. Checked before the
    ``trimtab:project-id`` tag is read: another database's project ids mean nothing here."""
    for target in targets:
        wired = wired_server(target.spec)
        if wired is None or wired == address:
            continue
        mine = store.projects.get_by_key(ws.name, target.job_id, target.cluster_key)
        # Detached or orphaned (taken over by that server: `taken_over`), it is not managed here.
        if mine is None or mine.detached or mine.orphaned:
            return target, wired
    return None


def other_server_reason(target: ClusterTarget, wired: str, address: str) -> str:
    return REASON_OTHER_SERVER.format(cluster=target.cluster_key, env=SERVER_ENV, address=wired, ours=address)


def tagged_project_id(target: ClusterTarget) -> int | None:
    """The project id the cluster's tag names, or None (`server.cluster_rename.tagged_id`: an id no row
    can have is none, or one such job would fail every import of its workspace on PostgreSQL)."""
    return tagged_id(target.spec)


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


# What import says of a cloned cluster (before its diff, as the CLI prints it).
NOTE_CLONED = ("note: cluster {cluster!r} came with Trimtab's agent wiring and tags of project {owner} (a copy of "
               "its job, e.g. Databricks' \"Clone job\"): they are taken off, and the cluster without them is "
               "recorded as found (what detach leaves); its runs count as found until one of this project's own "
               "recommendations is applied")


def cloned_from(store: Store, ws: Workspace, target: ClusterTarget, *, own: int | None = None) -> Project | None:
    """The project of ``ws`` whose cluster ``target`` is a copy of (its tag names that project, and the
    project is another cluster), else None. Detached or orphaned, the project still says what Trimtab
    had put on the cluster the copy was made of. ``own``: the id of the project ``target`` is imported
    as, whose own tag is no copy's (a renamed cluster, judged before its project is moved: a dry run)."""
    project_id = tagged_project_id(target)
    if project_id is None or project_id == own:
        return None
    try:
        project = store.projects.get(project_id)
    except NotFound:
        return None  # a removed project's tag: nothing here says what was Trimtab's
    if project.workspace != ws.name or (project.job_id, project.cluster_key) == (target.job_id, target.cluster_key):
        return None
    return project


def as_found(store: Store, owner: Project, spec: dict[str, Any]) -> dict[str, Any]:
    """``spec`` (a copy of ``owner``'s cluster) without Trimtab's init script, TRIMTAB_* variables, log
    delivery and tags: what detaching ``owner`` would take off (`server.apply.detached_spec`, with what
    ``owner``'s import recorded it added), and nothing more. The sizing stays as the copy has it (the
    job was cloned with it): ``owner`` is passed without its id and pending apply so detach's putting
    back of the sizing Trimtab applied does not happen."""
    wired = Project(workspace=owner.workspace, job_id=owner.job_id, cluster_key=owner.cluster_key,
                    original_spec=owner.original_spec,
                    current_spec=(owner.pending_apply or {}).get("applied_spec") or owner.current_spec,
                    state={k: v for k, v in owner.state.items() if k == ONBOARDED_KEY})
    out = detached_spec(store, wired, spec)
    tags = out.get("custom_tags")
    if isinstance(tags, dict) and any(t in tags for t in TRIMTAB_TAGS):
        # ``owner`` itself recorded a copy's tags as found (imported before clones were recognised).
        out["custom_tags"] = {k: v for k, v in tags.items() if k not in TRIMTAB_TAGS}
    return out


# What import says of a project it moved to its cluster's new key (before its diff, as the CLI prints it).
NOTE_RENAMED = ("renamed: {old} -> {new} (cluster {old_key!r} is {new_key!r} in the job now, the same cluster: "
                "it carries the project's tag; its settings, runs and spec as found go with it)")


def renamed_from(store: Store, ws: Workspace, target: ClusterTarget, settings: dict[str, Any]) -> Project | None:
    """The project of ``ws`` whose cluster ``target`` is under a new key (`server.cluster_rename`): its
    tag names a project of the same job whose own key is gone from the job's ``settings``. Else None,
    and a tag of another job's project is a copy's (`cloned_from`)."""
    project_id = tagged_project_id(target)
    if project_id is None:
        return None
    try:
        project = store.projects.get(project_id)
    except NotFound:
        return None
    if (project.workspace, project.job_id) != (ws.name, target.job_id):
        return None
    return project if rename_target(store, project, settings) == target.cluster_key else None
