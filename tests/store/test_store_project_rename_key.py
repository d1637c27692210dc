"""`ProjectRepository.rename_key` on both engines: a project follows its cluster's new key
(`server.cluster_rename`), keeping its id, settings and runs; a key another project of the job holds
is refused, and nothing is changed."""

from __future__ import annotations

import pytest

from server.domain import Project, ProjectSettings, Run, Workspace
from server.errors import AlreadyExists, InvalidArgument, NotFound
from server.store import Store

SPEC = {"node_type_id": "m5.xlarge", "num_workers": 4, "spark_version": "15.4.x-scala2.12"}


def _project(store: Store, key: str) -> Project:
    return store.projects.add(Project(workspace="prod", job_id=7, cluster_key=key, job_name="nightly",
                                      original_spec=SPEC, current_spec=SPEC,
                                      settings=ProjectSettings(sla_seconds=1200, auto_apply=True)))


def test_a_project_follows_its_clusters_new_key(store: Store) -> None:
    store.workspaces.add(Workspace(name="prod", host="https://prod", cloud="aws"), "tok")
    main = _project(store, "main")
    other = _project(store, "other")
    run = store.runs.add(Run(project_id=int(main.id or 0), databricks_run_id=11, cluster_id="c-1"))

    renamed = store.projects.rename_key(int(main.id or 0), "etl_main")
    assert (renamed.id, renamed.name, renamed.settings) == (main.id, "prod/7/etl_main", main.settings)
    assert store.projects.get_by_key("prod", 7, "main") is None
    assert store.projects.find("prod/7/etl_main").id == main.id
    assert store.runs.get(int(run.id or 0)).project_id == main.id

    with pytest.raises(AlreadyExists):
        store.projects.rename_key(int(main.id or 0), "other")
    assert store.projects.get(int(main.id or 0)).cluster_key == "etl_main"
    assert store.projects.get(int(other.id or 0)).cluster_key == "other"
    assert store.projects.rename_key(int(main.id or 0), "etl_main").cluster_key == "etl_main"  # its own key
    with pytest.raises(InvalidArgument):
        store.projects.rename_key(int(main.id or 0), "a\x00b")
    with pytest.raises(NotFound):
        store.projects.rename_key(999, "x")
