"""A project's cluster whose key the job's owner renamed: the project follows it.

Renaming a job cluster (``main`` -> ``etl_main``, its tasks moved with it) or a task with a cluster of
its own (``task:t1`` -> ``task:t2``) in the job's settings leaves the cluster entry as it was, the
``trimtab:project-id`` tag Trimtab wrote (`server.onboard.onboard_spec`) included. So a cluster of the
same job carrying a project's tag while the project's own key is gone from the job is that project's
cluster under a new key: its identity (workspace, job id, cluster key) is updated, and its id, settings,
runs, as-found spec and apply record stay. Taken for a gone cluster, the project was orphaned, the
runs after the rename were in no project, and an import made a second project of the new key that
recorded Trimtab's own sizing as found.

A tag on a cluster of *another* job, or beside the project's own cluster still in the job, is a copy
(`server.services.job_owner.cloned_from`), never a rename. The collector follows a rename on its next
poll (`server.collect.job_collect`), and an import that finds it does too
(`server.services.job_import_one`).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from typing import Any

from server.apply_lock import project_lock
from server.domain import Project
from server.errors import AlreadyExists
from server.ids import parse_id
from server.onboard import PROJECT_TAG, _task_clusters
from server.spec import find_cluster_spec
from server.store import Store
from server.take_over import taken_over, was_taken_over

log = logging.getLogger("server.cluster_rename")


def tagged_id(spec: Mapping[str, Any]) -> int | None:
    """The project id a cluster spec's ``trimtab:project-id`` tag names, or None (no tag, or not an id
    this server writes: a hand-set or copied value above `MAX_ROW_ID` would make PostgreSQL refuse
    the lookup)."""
    tags = spec.get("custom_tags")
    value = tags.get(PROJECT_TAG) if isinstance(tags, dict) else None
    text = str(value).strip() if value is not None else ""
    return parse_id(text, minimum=1)


def renamed_key(project: Project, settings: Mapping[str, Any], taken: Collection[str]) -> str | None:
    """The key ``project``'s cluster has in the job's ``settings`` now, when the owner renamed it; else
    None. Renamed: its own key is gone from the job, and exactly one cluster the job's tasks run on
    carries its tag, under a key no other project of the job holds (``taken``). Two carrying it is
    the cluster copied, not renamed: which of them is the project's, nothing says."""
    if project.id is None or find_cluster_spec(settings, project.cluster_key) is not None:
        return None
    clusters, _ = _task_clusters(settings, project.job_id, "")
    tagged = [key for key, target in clusters.items() if tagged_id(target.spec) == project.id]
    if len(tagged) != 1 or tagged[0] in taken:
        return None
    return tagged[0]


def job_projects(store: Store, project: Project) -> dict[str, str]:
    """The other projects of ``project``'s job, by cluster key: how each is named to a person."""
    return {p.cluster_key: p.name + (" (detached)" if p.detached else "")
            for p in store.projects.list(project.workspace) if p.job_id == project.job_id and p.id != project.id}


def rename_target(store: Store, project: Project, settings: Mapping[str, Any]) -> str | None:
    """The key ``project`` would follow (`renamed_key`), judged against the store: None for a detached
    project (detach took its tag off: one left is a copy made before), one orphaned because another
    server took the job over, and a new key wired to another server."""
    if project.detached or was_taken_over(project):
        return None
    new = renamed_key(project, settings, job_projects(store, project))
    if new is None:
        return None
    live = find_cluster_spec(settings, new) or {}
    return None if taken_over(project, live) is not None else new


def follow_rename(store: Store, project: Project, settings: Mapping[str, Any]) -> Project | None:
    """``project`` moved to the key its cluster has in the job's ``settings`` now (`rename_target`),
    as stored; None when it was not renamed. Under the project's lock, judged on the row read there."""
    with project_lock(int(project.id or 0), store):
        fresh = store.projects.get(int(project.id or 0))
        if fresh.cluster_key != project.cluster_key:
            return None  # moved since the caller read it: judged again from the fresh row by the next caller
        new = rename_target(store, fresh, settings)
        if new is None:
            return None
        try:
            renamed = store.projects.rename_key(int(fresh.id or 0), new)
        except AlreadyExists:  # an import made a project of the new key meanwhile: it keeps it
            return None
    log.warning("project %s renamed %s: the job's cluster %r is %r now (the same cluster: it carries the "
                "project's %s tag)", fresh.name, renamed.name, fresh.cluster_key, new, PROJECT_TAG)
    return renamed
