"""A project that never had a recommendation: `recommendation show` and `apply`/`reject` answer in
one wording, and it says when one will come. Before, `show` said only "has no recommendation yet"
and `apply` promised "one is planned after its next run" also to a project whose planning had
failed (it stays failing until something changes) or that Trimtab no longer steers."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from server import apply
from server.domain import PROBLEM_KEY, PlanProblem, Project, Workspace
from server.errors import FailedPrecondition, NotFound
from server.job_write import _active
from server.orphan_cause import REASON_KEY, UNKNOWN, recorded_cause
from server.services.recommendations import get_recommendation, reject_recommendation
from server.store import Store, open_store
from server.take_over import TAKEN_OVER


@pytest.fixture
def store(migrated_sqlite_url: str) -> Iterator[Store]:
    s = open_store(migrated_sqlite_url)
    s.workspaces.add(Workspace(name="ws", host="http://x", cloud="aws", plan="premium"), "enc")
    yield s
    s.close()


def _project(store: Store, **fields: object) -> Project:
    return store.projects.add(Project(workspace="ws", job_id=7, cluster_key="main", **fields))  # type: ignore[arg-type]


def _both(store: Store, project: Project) -> tuple[str, str]:
    with pytest.raises(NotFound) as shown:
        get_recommendation(store, project.name)
    with pytest.raises(NotFound) as rejected:
        reject_recommendation(store, project.name)
    return shown.value.message, rejected.value.message


def test_a_new_project_is_told_when_its_first_recommendation_comes(store: Store) -> None:
    project = _project(store)
    shown, rejected = _both(store, project)
    assert shown == rejected == "project ws/7/main has no recommendation yet (one is planned after its next run)"


def test_a_failed_plan_is_named_instead_of_a_promise(store: Store) -> None:
    problem = PlanProblem(step="plan", run_id=12, at_ms=1, message="UnknownNodeType: unknown node type 'm5.mega'")
    project = _project(store, state={PROBLEM_KEY: problem.to_json()})
    shown, rejected = _both(store, project)
    assert shown == rejected == ("project ws/7/main has no recommendation yet (planning failed after run 12: "
                                 "UnknownNodeType: unknown node type 'm5.mega')")


def test_a_detached_project_is_not_promised_a_plan(store: Store) -> None:
    project = _project(store)
    detached = dataclasses.replace(project, detached=True)
    assert "it is detached: Trimtab plans nothing for it" in apply.no_recommendation_yet(detached).message
    gone = dataclasses.replace(project, orphaned=True)
    assert "its job or cluster is gone" in apply.no_recommendation_yet(gone).message


TAKEN = (f"{TAKEN_OVER} at http://other:50051 (the cluster's TRIMTAB_SERVER was http://here:50051, which this "
         "server wrote); `trimtab workspace import ws --job 7 --take-over` takes it back")


def test_a_project_taken_over_is_told_so_not_that_its_job_is_gone(store: Store) -> None:
    # Its job and cluster are still in the workspace, another server's now: "gone" sent people looking for them.
    project = _project(store, orphaned=True, state={REASON_KEY: TAKEN})
    shown, rejected = _both(store, project)
    assert shown == rejected == f"project ws/7/main has no recommendation yet ({TAKEN})"


def test_an_apply_names_the_cause_of_an_orphan_as_project_show_does(store: Store) -> None:
    taken = _project(store, orphaned=True, state={REASON_KEY: TAKEN})
    unknown = store.projects.add(Project(workspace="ws", job_id=8, cluster_key="main", orphaned=True))
    for project in (taken, unknown):
        with pytest.raises(FailedPrecondition) as refused:
            _active(store, int(project.id or 0))
        assert refused.value.message == f"project {project.name} is orphaned ({recorded_cause(project)})"
    assert recorded_cause(unknown) == UNKNOWN
