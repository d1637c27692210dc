"""A recommendation planned before the project's bounds changed is never applied outside them:
`trimtab project set` supersedes the pending one when workers, families or spot change, and an apply
refuses one outside the current settings (one kept from before, or no replan followed). Before, `project
set P --max-workers 2 --spot off` then `recommendation apply P` wrote 8 workers on spot."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from server.apply import apply_recommendation
from server.databricks import DatabricksGateway
from server.domain import ClusterConfig, Project, Recommendation
from server.errors import FailedPrecondition
from server.services.projects import update_settings
from server.spec import find_cluster_spec
from server.store import Store

EIGHT_ON_SPOT = ClusterConfig(node_type_id="m5d.xlarge", num_workers=8, availability="SPOT_WITH_FALLBACK",
                              first_on_demand=1)


def _recommend(store: Store, project: Project, config: ClusterConfig = EIGHT_ON_SPOT) -> Recommendation:
    return store.recommendations.add(Recommendation(project_id=int(project.id or 0), config=config, reason="test"))


def _live(gateway: DatabricksGateway, project: Project) -> dict[str, Any]:
    spec = find_cluster_spec(gateway.get_job(project.job_id)["settings"], project.cluster_key)
    assert spec is not None
    return spec


def _set_without_superseding(store: Store, project: Project, **changes: Any) -> None:
    """The settings changed as an older server did (the recommendation left pending)."""
    current = store.projects.get(int(project.id or 0)).settings
    store.projects.update_settings(int(project.id or 0), dataclasses.replace(current, **changes))


@pytest.mark.parametrize(("changes", "why"), [
    ({"max_workers": 2}, "8 workers is above max_workers 2"),
    ({"min_workers": 10}, "8 workers is below min_workers 10"),
    ({"spot_allowed": False}, "spot is not allowed"),
    ({"allowed_families": ("r5d",)}, "m5d is not among allowed_families r5d"),
])
def test_an_apply_refuses_a_recommendation_outside_the_current_settings(
        store: Store, gateway: DatabricksGateway, daily: Project, changes: dict[str, Any], why: str) -> None:
    pid = int(daily.id or 0)
    rec = _recommend(store, daily)
    before = _live(gateway, daily)
    _set_without_superseding(store, daily, **changes)
    for dry_run in (True, False):
        with pytest.raises(FailedPrecondition, match="planned under older settings") as err:
            apply_recommendation(store, gateway, pid, dry_run=dry_run)
        assert why in str(err.value) and f"trimtab recommendation reject {daily.name}" in str(err.value)
    assert _live(gateway, daily) == before  # nothing written
    assert store.recommendations.get(int(rec.id or 0)).state == "pending"


def test_a_recommendation_inside_the_current_settings_is_applied(
        store: Store, gateway: DatabricksGateway, daily: Project) -> None:
    _recommend(store, daily)
    _set_without_superseding(store, daily, max_workers=8, allowed_families=("m5d", "r5d"))
    assert apply_recommendation(store, gateway, int(daily.id or 0)).applied
    assert _live(gateway, daily)["num_workers"] == 8


@pytest.mark.parametrize("changes", [{"max_workers": 2}, {"min_workers": 3}, {"spot_allowed": False},
                                     {"allowed_families": ("m5d",)}])
def test_changing_a_bound_supersedes_the_pending_recommendation(
        store: Store, daily: Project, changes: dict[str, Any]) -> None:
    rec = _recommend(store, daily)
    update_settings(store, daily.name, changes)
    assert store.recommendations.get(int(rec.id or 0)).state == "superseded"


def test_other_settings_leave_the_pending_recommendation(store: Store, daily: Project) -> None:
    rec = _recommend(store, daily)
    update_settings(store, daily.name, {"sla_seconds": 900, "auto_apply": True, "learning_budget": 2})
    update_settings(store, daily.name, {"spot_allowed": True})  # already so: no bound moves
    assert store.recommendations.get(int(rec.id or 0)).state == "pending"


def test_cli_set_then_apply_does_not_write_the_stale_recommendation(
        store: Store, trimtab: Callable[..., tuple[int, str, str]], cli_workspace: str,
        gateway: DatabricksGateway, job_ids: list[int]) -> None:
    # The server runs with collection off (TRIMTAB_COLLECT=0): nothing plans again after the change.
    code, _, err = trimtab("workspace", "import", cli_workspace, "--job", str(job_ids[0]))
    assert code == 0, err
    (project,) = store.projects.list(cli_workspace)
    before = _live(gateway, project)
    rec = _recommend(store, project)
    code, _, err = trimtab("project", "set", project.name, "--max-workers", "2", "--spot", "off")
    assert code == 0, err
    code, out, err = trimtab("recommendation", "apply", project.name)
    assert code != 0
    assert f"recommendation {rec.id} was superseded" in err, err
    live = _live(gateway, project)
    assert (live["num_workers"], live["aws_attributes"]) == (before["num_workers"], before["aws_attributes"])
