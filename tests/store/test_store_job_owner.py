"""`server.services.job_owner` on both engines: whose job a cluster's `trimtab:project-id` tag names."""

from __future__ import annotations

import pytest

from server.domain import Project, ProjectSettings, Workspace
from server.onboard import PROJECT_TAG, ClusterTarget
from server.services.job_owner import owner_elsewhere, tagged_project_id
from server.store import Store

SPEC = {"node_type_id": "m5.xlarge", "num_workers": 4, "spark_version": "15.4.x-scala2.12"}


def _target(tag: object) -> ClusterTarget:
    return ClusterTarget(job_id=7, job_name="nightly", cluster_key="main",
                         spec={**SPEC, "custom_tags": {PROJECT_TAG: tag}})


@pytest.mark.parametrize("tag", ["3000000000", "2147483648", "0", "-1", "１２", "12a", "", None, "9" * 19])
def test_a_tag_no_row_can_have_names_nobody(tag: object) -> None:
    assert tagged_project_id(_target(tag)) is None


def test_import_is_not_stopped_by_a_tag_beyond_the_id_range(store: Store) -> None:
    # PostgreSQL refuses to look up an id above 2**31-1 (integer out of range): one hand-set tag would
    # fail every import and auto-import poll of the workspace, as the lookup's error escaped.
    for name in ("prod", "prod2"):
        store.workspaces.add(Workspace(name=name, host=f"https://{name}", cloud="aws"), "tok")
    owner = store.projects.add(Project(workspace="prod", job_id=7, cluster_key="main", job_name="nightly",
                                       original_spec=SPEC, current_spec=SPEC, settings=ProjectSettings()))
    ws = store.workspaces.get("prod2")
    assert owner_elsewhere(store, ws, [_target("3000000000")]) is None
    found = owner_elsewhere(store, ws, [_target("3000000000"), _target(str(owner.id))])
    assert found is not None and found[1].id == owner.id
