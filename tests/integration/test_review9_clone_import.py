"""Importing a copy of a managed job (Databricks' "Clone job" copies the cluster entry whole: Trimtab's
init script, TRIMTAB_* variables, log delivery and both tags). Before, import recorded that wiring as
the copy's spec "as found" with no word, the copy's runs were credited to the other project's
recommendation (so it never had a run as found), and detach left the other project's agent on it
(review 9). Now import takes the wiring off (what detaching the other project takes off), records the
rest as found and says so; the copy's runs count as found; detach leaves no Trimtab wiring.

Real parts: the sandbox emulator through the real databricks-sdk, the real collector, SQLite and
PostgreSQL.
"""

from __future__ import annotations

from typing import Any

from sandbox.workspace import RunningWorkspace
from server.apply import restore_original
from server.databricks import DatabricksGateway
from server.domain import Project
from server.onboard import PROJECT_TAG, RECOMMENDATION_TAG, TRIMTAB_TAGS
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store
from tests.integration.clone_jobs import applied as _applied
from tests.integration.clone_jobs import clone as _clone
from tests.integration.clone_jobs import collector as _collector
from tests.integration.clone_jobs import live as _live
from tests.integration.clone_jobs import run_collected as _run_collected
from tests.integration.conftest import WIRING


def _no_wiring(spec: dict[str, Any]) -> None:
    assert not any(t in (spec.get("custom_tags") or {}) for t in TRIMTAB_TAGS), spec.get("custom_tags")
    assert not any(k.startswith("TRIMTAB_") for k in spec.get("spark_env_vars") or {}), spec.get("spark_env_vars")
    assert WIRING.init_script not in (spec.get("init_scripts") or [])


def test_a_cloned_job_is_imported_without_the_other_projects_wiring_and_detaches_clean(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        daily: Project) -> None:
    rec = _applied(store, gateway, daily)
    clone_id = _clone(emulator, daily.job_id)
    assert _live(gateway, clone_id)["custom_tags"][RECOMMENDATION_TAG] == str(rec.id)  # as Databricks copies it

    (imported,) = workspaces.import_jobs(store, secrets, "sbx", [clone_id], wiring=WIRING).projects
    clone = imported.project
    assert imported.created and clone.id != daily.id
    assert imported.diff.startswith(f"note: cluster 'main' came with Trimtab's agent wiring and tags of project "
                                    f"{daily.name}"), imported.diff
    # The spec as found: the copy without Trimtab's wiring; its sizing (the recommendation it was cloned
    # with) and the user's own settings stay.
    found = store.projects.get(int(clone.id or 0)).original_spec
    _no_wiring(found)
    assert (found["node_type_id"], found["num_workers"], found["custom_tags"]) == ("m5d.2xlarge", 2,
                                                                                   {"team": "data-eng"})
    assert found["cluster_log_conf"] == daily.original_spec["cluster_log_conf"]
    live = _live(gateway, clone_id)
    assert live["custom_tags"][PROJECT_TAG] == str(clone.id) and RECOMMENDATION_TAG not in live["custom_tags"]
    assert live["init_scripts"].count(WIRING.init_script) == 1

    # The copy's run is this project's as found, not the other project's recommendation.
    run = _run_collected(emulator, gateway, _collector(store, secrets), clone)
    assert run.recommendation_id is None and "user_edit" not in run.anomalies

    assert restore_original(store, gateway, int(clone.id or 0)).applied
    after = _live(gateway, clone_id)
    _no_wiring(after)
    assert after == found
    # The project it was cloned from keeps its wiring and its recommendation.
    assert _live(gateway, daily.job_id)["custom_tags"] == {"team": "data-eng", PROJECT_TAG: str(daily.id),
                                                           RECOMMENDATION_TAG: str(rec.id)}


def test_a_dry_run_import_of_a_clone_says_so_and_changes_nothing(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        daily: Project) -> None:
    _applied(store, gateway, daily)
    clone_id = _clone(emulator, daily.job_id)
    before = _live(gateway, clone_id)
    (imported,) = workspaces.import_jobs(store, secrets, "sbx", [clone_id], dry_run=True, wiring=WIRING).projects
    assert imported.diff.startswith("note: cluster 'main' came with") and f'-    "{RECOMMENDATION_TAG}"' in imported.diff
    assert _live(gateway, clone_id) == before and store.projects.get_by_key("sbx", clone_id, "main") is None


def test_a_clone_of_a_detached_project_is_still_recognised(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        daily: Project) -> None:
    """Cloned while managed, the owner detached since: its record still says what was Trimtab's."""
    _applied(store, gateway, daily)
    clone_id = _clone(emulator, daily.job_id)
    restore_original(store, gateway, int(daily.id or 0))
    (imported,) = workspaces.import_jobs(store, secrets, "sbx", [clone_id], wiring=WIRING).projects
    assert "note: cluster 'main' came with" in imported.diff
    _no_wiring(store.projects.get(int(imported.project.id or 0)).original_spec)
