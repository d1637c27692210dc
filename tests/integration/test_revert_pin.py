"""`recommendation revert --id` (RevertRecommendationRequest.recommendation_id): a script that
reviewed the revert of one apply reverts only that one. Apply and reject could be pinned; revert
could not, so an auto-apply of a newer recommendation between the script's dry run and its revert
was undone instead. Through the real CLI, gRPC server and the workspace emulator, on SQLite and
PostgreSQL."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from server.databricks import DatabricksGateway
from server.domain import ClusterConfig, Project, Recommendation
from server.spec import find_cluster_spec
from server.store import Store

Cli = Callable[..., tuple[int, str, str]]


def _live(gateway: DatabricksGateway, project: Project) -> dict[str, Any]:
    spec = find_cluster_spec(gateway.get_job(project.job_id)["settings"], project.cluster_key)
    assert spec is not None
    return spec


def _recommend(store: Store, project: Project, workers: int) -> Recommendation:
    config = ClusterConfig(node_type_id="m5d.2xlarge", num_workers=workers, availability="ON_DEMAND",
                           first_on_demand=1)
    return store.recommendations.add(Recommendation(project_id=int(project.id or 0), config=config, reason="test"))


def test_a_revert_pinned_to_an_earlier_apply_is_refused_and_the_newer_one_stays(
        trimtab: Cli, store: Store, gateway: DatabricksGateway, cli_workspace: str, job_ids: list[int]) -> None:
    code, out, err = trimtab("workspace", "import", "sbx", "--job", str(job_ids[0]))
    assert code == 0 and "created" in out, err
    (project,) = [p for p in store.projects.list("sbx") if p.job_id == job_ids[0]]
    first = _recommend(store, project, 2)
    code, out, err = trimtab("recommendation", "apply", project.name)
    assert code == 0 and f"applied recommendation {first.id}" in out, err
    # A run used it (as the collector records), and the planner and auto-apply move on after it.
    stored = store.projects.get(int(project.id or 0))
    store.projects.update(dataclasses.replace(stored, pending_apply={**(stored.pending_apply or {}), "confirmed": True}))
    second = _recommend(store, project, 3)
    code, out, err = trimtab("recommendation", "apply", project.name)
    assert code == 0 and f"applied recommendation {second.id}" in out, err
    assert _live(gateway, project)["num_workers"] == 3

    for extra in ((), ("--dry-run",)):
        code, out, err = trimtab("recommendation", "revert", project.name, "--id", str(first.id), *extra)
        assert code == 1 and out == "" and "FAILED_PRECONDITION" in err
        assert f"recommendation {first.id} is not the last applied (recommendation {second.id} is" in err
    assert _live(gateway, project)["num_workers"] == 3  # nothing reverted

    code, _, err = trimtab("recommendation", "revert", project.name, "--id", "x1")
    assert code == 2 and "'x1' is not a recommendation id" in err  # bad input: usage status

    code, out, err = trimtab("recommendation", "revert", project.name, "--id", f"0{second.id}")
    assert code == 0 and "reverted" in out, err
    assert _live(gateway, project)["num_workers"] == 2
    # Nothing left to revert: the revert says so itself, pinned or not.
    code, _, err = trimtab("recommendation", "revert", project.name, "--id", str(second.id))
    assert code == 1 and "nothing to revert: the last apply was already reverted" in err
